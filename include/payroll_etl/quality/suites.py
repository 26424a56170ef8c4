"""The rules per entity, and running them through Great Expectations."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from payroll_etl.model import ENTITIES
from payroll_etl.parsing import RecordIssue
from payroll_etl.quality import ERROR, WARN, CheckResult, DQContext, DQOutcome


@dataclass(frozen=True)
class RowRule:
    """A row-level rule: ``check(df) -> bool Series`` (True = row passes)."""

    entity: str
    name: str
    column: str | None
    severity: str
    check: Callable[[Any], Any]


@dataclass(frozen=True)
class RunRule:
    """A run-level rule: ``check(df, ctx) -> (success, unexpected_count, reason)``."""

    entity: str
    name: str
    column: str | None
    severity: str
    check: Callable[[Any, DQContext], tuple[bool, int, str]]


def _not_null(column: str) -> Callable[[Any], Any]:
    return lambda df: df[column].notna()


def _date_in_range(column: str, low: str = "1900-01-01", high: str = "2100-12-31") -> Callable[[Any], Any]:
    import pandas as pd

    def check(df):
        values = pd.to_datetime(df[column], errors="coerce")
        return values.isna() | ((values >= pd.Timestamp(low)) & (values <= pd.Timestamp(high)))

    return check


def _unique_keys(df, ctx: DQContext) -> tuple[bool, int, str]:
    dupes = int(df.duplicated(subset=["source_id", "valid_from"], keep=False).sum())
    return dupes == 0, dupes, f"{dupes} rows share a (source_id, valid_from) key"


def row_rules() -> list[RowRule]:
    rules: list[RowRule] = []
    for entity in ENTITIES.values():
        for col in entity.columns:
            if col.name in ("connector", "employer"):
                continue
            if not col.nullable:
                rules.append(RowRule(entity.name, "expect_column_values_to_not_be_null", col.name, ERROR,
                                     _not_null(col.name)))
            if col.type == "date" and not col.pii:
                rules.append(RowRule(entity.name, "expect_column_values_to_be_between", col.name, ERROR,
                                     _date_in_range(col.name)))
    return rules


def run_rules() -> list[RunRule]:
    return [RunRule(name, "expect_compound_columns_to_be_unique", "source_id,valid_from", ERROR, _unique_keys)
            for name in ENTITIES]


# Extension points: more rules are registered here (see payroll_etl.quality.rules).
EXTRA_ROW_RULES: list[Callable[[], list[RowRule]]] = []
EXTRA_RUN_RULES: list[Callable[[], list[RunRule]]] = []


def _flag_column(rule: RowRule) -> str:
    return "_ok__" + re.sub(r"[^a-z0-9]+", "_", f"{rule.name}__{rule.column or ''}".lower()).strip("_")


def evaluate(tables: dict[str, Any], issues: list[RecordIssue], ctx: DQContext) -> DQOutcome:
    all_row_rules = row_rules() + [r for extra in EXTRA_ROW_RULES for r in extra()]
    all_run_rules = run_rules() + [r for extra in EXTRA_RUN_RULES for r in extra()]
    results: list[CheckResult] = []
    quarantined: dict[str, dict[tuple[str, str], list[str]]] = {}
    blocking: list[str] = []
    frames: dict[str, Any] = {}
    issues_by_entity: dict[str, list[RecordIssue]] = {}
    for issue in issues:
        issues_by_entity.setdefault(issue.entity, []).append(issue)

    for name, table in tables.items():
        df = table.to_pandas()
        keys = list(zip(df["source_id"].astype(str), df["valid_from"].astype(str)))
        check_frame = _check_frame(df, name)
        flags: dict[str, Any] = {}
        for rule in (r for r in all_row_rules if r.entity == name):
            if rule.column is not None and rule.column not in df.columns:
                continue
            flag = _flag_column(rule)
            passed = rule.check(df).fillna(False).astype(bool)
            flags[flag] = (rule, passed)
            check_frame[flag] = passed.values
        # values the connector could not parse (dates like 0000-00-00, "12,5" as a number, ...)
        parse_failed = {}
        for issue in issues_by_entity.get(name, []):
            parse_failed.setdefault(f"{issue.check}:{issue.field}", set()).add(issue.source_id)
        for check, ids in sorted(parse_failed.items()):
            passed = ~df["source_id"].astype(str).isin(ids)
            rule = RowRule(name, f"parse__{check.split(':')[0]}", check.split(":")[1], ERROR, lambda d: None)
            flag = _flag_column(rule)
            flags[flag] = (rule, passed)
            check_frame[flag] = passed.values
        for flag, (rule, passed) in flags.items():
            failed_idx = [i for i, ok in enumerate(passed.tolist()) if not ok]
            if rule.severity == ERROR:
                for i in failed_idx:
                    quarantined.setdefault(name, {}).setdefault(keys[i], []).append(
                        f"{rule.name}:{rule.column}" if rule.column else rule.name)
        for rule in (r for r in all_run_rules if r.entity == name):
            ok, unexpected, reason = rule.check(df, ctx)
            results.append(CheckResult(name, rule.name, rule.column, rule.severity, ok, len(df), unexpected))
            if not ok and rule.severity == ERROR:
                blocking.append(f"{name}: {rule.name} failed: {reason}")
        frames[name] = (check_frame, flags)

    ge_results, report_path = _run_great_expectations(frames, ctx)
    results.extend(ge_results)
    # Issues on entities that produced no table at all still count as failed records.
    for entity, entity_issues in issues_by_entity.items():
        if entity not in tables:
            for issue in entity_issues:
                quarantined.setdefault(entity, {}).setdefault((issue.source_id, ""), []).append(
                    f"parse__{issue.check}:{issue.field}")
    return DQOutcome(results, quarantined, blocking, report_path)


def _check_frame(df, entity_name: str):
    """A copy without personal data: PII columns replaced by 'present' flags."""
    entity = ENTITIES[entity_name]
    frame = df.copy()
    for col in entity.columns:
        if col.pii and col.name in frame.columns:
            frame[col.name] = frame[col.name].notna()
    for column in frame.columns:  # GE/pandas dislike Decimal objects in object columns
        if str(frame[column].dtype) == "object":
            frame[column] = frame[column].astype(str)
    return frame


def _run_great_expectations(frames: dict[str, Any], ctx: DQContext) -> tuple[list[CheckResult], Any]:
    import logging

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx

    results: list[CheckResult] = []
    context = gx.get_context(mode="ephemeral")
    site_dir = ctx.report_dir / "datadocs" / ctx.employer.connector / ctx.employer.employer / ctx.run_label
    site_dir.mkdir(parents=True, exist_ok=True)
    site_name = "payroll_dq"
    context.add_data_docs_site(site_name=site_name, site_config={
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site_dir) + "/"},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })
    source = context.data_sources.add_pandas("payroll")
    validation_definitions = []
    for name, (frame, flags) in frames.items():
        if not flags:
            continue
        asset = source.add_dataframe_asset(name)
        batch_definition = asset.add_batch_definition_whole_dataframe(f"{name}_batch")
        expectations = []
        for flag, (rule, _passed) in flags.items():
            meta = {"check": rule.name, "column": rule.column, "severity": rule.severity, "entity": name}
            expectations.append(gx.expectations.ExpectColumnValuesToBeInSet(column=flag, value_set=[True], meta=meta))
        suite = context.suites.add(gx.ExpectationSuite(name=f"{ctx.employer.employer}.{name}", expectations=expectations))
        vd = context.validation_definitions.add(gx.ValidationDefinition(name=f"{name}_vd", data=batch_definition,
                                                                        suite=suite))
        validation_definitions.append((name, vd, frame))
    for name, vd, frame in validation_definitions:
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=f"{name}_checkpoint", validation_definitions=[vd],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=[site_name])],
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 0}))
        run = checkpoint.run(batch_parameters={"dataframe": frame})
        for validation in run.run_results.values():
            for res in validation.results:
                meta = res.expectation_config.meta or {}
                stats = res.result or {}
                results.append(CheckResult(
                    entity=name, check_name=meta.get("check", res.expectation_config.type),
                    column=meta.get("column"), severity=meta.get("severity", ERROR), success=bool(res.success),
                    element_count=int(stats.get("element_count", len(frame))),
                    unexpected_count=int(stats.get("unexpected_count", 0) or 0)))
    index = site_dir / "index.html"
    return results, index if index.exists() else None


__all__ = ["RowRule", "RunRule", "evaluate", "row_rules", "run_rules", "EXTRA_ROW_RULES", "EXTRA_RUN_RULES", "WARN"]
