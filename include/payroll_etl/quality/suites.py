"""Running the rules: flags in pandas, expectations in Great Expectations, quarantine, report pages.

Why flag columns and not GE metrics on the raw columns: the BSN, IBAN and birth date never
enter Great Expectations, so no unexpected-value list, Data Docs page or GE log line can show
one; cross-table rules (employment -> employee, birth date vs employment start) need all tables;
and the quarantine needs the exact failing keys. Each rule is still a GE expectation: a custom
subclass of ``ExpectColumnValuesToBeInSet`` (the GE 1.x way to define a custom expectation)
named after the rule, with the rule's description, validated on its flag column. Volume is a
built-in ``ExpectTableRowCountToBeBetween``.

GE's validation results (suite, expectation type, description, statistics) are kept in the run's
``dq_summary.json`` and rendered by ``quality.pages`` as self-contained HTML: GE's own Data Docs
are not built (they need CDN assets and copy ~4 MB per run; see docs/data-quality.md).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from payroll_etl.parsing import RecordIssue
from payroll_etl.privacy import mask_value
from payroll_etl.quality import ERROR, WARN, CheckResult, DQContext, DQOutcome
from payroll_etl.quality.rules import (
    ENTITY_ORDER,
    EXTRA_ROW_RULES,
    RowRule,
    RuleEnv,
    completeness,
    effective_settings,
    first_run_checks,
    reference_date,
    row_rules,
    volume_checks,
)
from payroll_etl.quality.scan import find_bsn_like

log = logging.getLogger(__name__)

SAMPLE_SIZE = 5
COMPLETENESS_CHECK = "expect_previous_records_to_be_present"
VOLUME_CHECK = "expect_table_row_count_to_be_between"
_IBAN_LIKE = re.compile(r"[A-Za-z]{2}\d{2}[A-Za-z0-9]{10,30}")


def safe_id(value: object) -> str:
    """A source id as it may be shown: masked if it could be a BSN or an IBAN (some sources key on them)."""
    text = str(value)
    if find_bsn_like(text) or _IBAN_LIKE.search(text):
        return mask_value(text)
    return text


def _sample(ids: list[object]) -> str | None:
    if not ids:
        return None
    shown = ", ".join(safe_id(i) for i in ids[:SAMPLE_SIZE])
    more = f" (+{len(ids) - SAMPLE_SIZE} more)" if len(ids) > SAMPLE_SIZE else ""
    return f"source_id: {shown}{more}"


def _iso(value: object) -> str:
    if value is None:
        return "None"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        import pandas as pd

        if pd.isna(value):  # type: ignore[arg-type]
            return "None"
    except (TypeError, ValueError):
        pass
    return str(value)


def _to_pandas(table: Any):
    # split_blocks: no consolidation copy of same-typed columns while converting
    return table.to_pandas(date_as_object=True, types_mapper=None, split_blocks=True)


def _flag_name(rule: RowRule) -> str:
    return "ok__" + re.sub(r"[^a-z0-9]+", "_", f"{rule.name}__{rule.column or ''}".lower()).strip("_")


def _parse_rules(entity: str, issues: list[RecordIssue]) -> list[tuple[RowRule, set[str]]]:
    """Values the connector could not parse (0000-00-00, "12,5", ...): the record is quarantined."""
    by_check: dict[tuple[str, str], set[str]] = {}
    for issue in issues:
        by_check.setdefault((issue.check, issue.field), set()).add(issue.source_id)
    out = []
    for (check, fld), ids in sorted(by_check.items()):
        rule = RowRule(entity, f"parse__{check}", fld, ERROR, lambda df, env: None,
                       f"The source value of `{fld}` could be read ({check}).")
        out.append((rule, ids))
    return out


def evaluate(tables: dict[str, Any], issues: list[RecordIssue], ctx: DQContext) -> DQOutcome:
    """Run every rule on the canonical tables of one employer run; see the module docstring."""
    import numpy as np

    settings = effective_settings(ctx)
    frames = {name: _to_pandas(table) for name, table in tables.items()}
    env = RuleEnv(ctx, frames, settings, reference_date(ctx))
    rules = row_rules(settings)
    issues_by_entity: dict[str, list[RecordIssue]] = {}
    for issue in issues:
        issues_by_entity.setdefault(issue.entity, []).append(issue)

    quarantined: dict[str, dict[tuple[str, str], list[str]]] = {}
    evaluated: dict[str, list[tuple[RowRule, Any]]] = {}
    keys_by_entity: dict[str, list[tuple[str, str]]] = {}
    order = [e for e in ENTITY_ORDER if e in frames] + sorted(e for e in frames if e not in ENTITY_ORDER)
    for name in order:
        df = frames[name]
        iso: dict[object, str] = {}  # valid_from repeats (one per period): one string per distinct date
        keys = [(str(s), iso[v] if v in iso else iso.setdefault(v, _iso(v)))
                for s, v in zip(df["source_id"], df["valid_from"])]
        keys_by_entity[name] = keys
        flags: list[tuple[RowRule, Any]] = []  # per rule a numpy bool array (True = passes): 1 byte a row
        for rule in (r for r in rules if r.entity == name):
            needed = rule.column.split(",") if rule.column else []
            if any(c not in df.columns for c in needed):
                continue
            passed = rule.check(df, env)
            flags.append((rule, np.fromiter((bool(v) if v is not None and v == v else False for v in passed.tolist()),
                                            dtype=bool, count=len(df))))
            del passed
        for rule, ids in _parse_rules(name, issues_by_entity.get(name, [])):
            flags.append((rule, np.fromiter((str(s) not in ids for s in df["source_id"]), dtype=bool, count=len(df))))
        for rule, passed in flags:
            if rule.severity != ERROR:
                continue
            for key, ok in zip(keys, passed):
                if not ok:
                    labels = quarantined.setdefault(name, {}).setdefault(key, [])
                    if rule.label not in labels:
                        labels.append(rule.label)
        bad = quarantined.get(name, {})
        env.loading_ids[name] = {k[0] for k in keys if k not in bad}
        evaluated[name] = flags
    # Issues on entities that produced no table at all still count as failed records.
    for entity, entity_issues in issues_by_entity.items():
        if entity not in tables:
            for issue in entity_issues:
                label = f"parse__{issue.check}:{issue.field}"
                labels = quarantined.setdefault(entity, {}).setdefault((issue.source_id, "None"), [])
                if label not in labels:
                    labels.append(label)

    counts = {name: len(df) for name, df in frames.items()}
    volumes = volume_checks(counts, ctx, settings)
    missing = completeness(frames, ctx)
    first_run = first_run_checks(frames, ctx, settings)
    frames.clear()  # Great Expectations only sees the flag frames: free the data (env.frames is this dict)
    del env
    results, suites = _run_great_expectations(ctx, evaluated, keys_by_entity, volumes, missing)
    blocking = [f"{v.entity}: {VOLUME_CHECK} failed: {v.reason()}" for v in volumes
                if not v.success and v.severity == ERROR]
    # First-run checks compare with no table of this run, so they are recorded directly (not in GE).
    for check in first_run:
        results.append(CheckResult(check.entity, check.check_name, None, check.severity, check.success,
                                   check.current, 0 if check.success else max(check.expected - check.current, 0),
                                   None if check.success else check.reason[:500]))
    blocking = [f"{c.entity}: {c.check_name} failed: {c.reason}" for c in first_run
                if not c.success and c.severity == ERROR] + blocking
    outcome = DQOutcome(results, {e: rows for e, rows in quarantined.items() if rows}, blocking)
    outcome.report_path = _write_run_summary(ctx, outcome, counts, suites, nothing_to_validate=(
        not results and not issues and not sum(counts.values())))
    log.info("data quality %s/%s %s: %s", ctx.employer.connector, ctx.employer.employer, ctx.run_label,
             _one_line(outcome))
    return outcome


def _one_line(outcome: DQOutcome) -> str:
    s = outcome.summary()
    if not s["checks"] and not s["quarantined"]:
        return "nothing changed, nothing to validate (no rows received)"
    blocked = f", BLOCKED: {s['blocking'][0]}" if s["blocking"] else ""
    return (f"{s['checks']} checks, {s['failed_error']} error and {s['failed_warn']} warn checks failed, "
            f"quarantined {s['quarantined'] or 'nothing'}{blocked}")


# ------------------------------------------------------------------------ Great Expectations

_GE_CLASSES: dict[str, type] = {}


def _expectation_class(check_name: str) -> type:
    """A custom GE expectation per rule: ExpectColumnValuesToBeInSet([True]) on the rule's flag."""
    import great_expectations as gx

    slug = re.sub(r"^expect_", "", check_name)
    class_name = "ExpectPayroll" + "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", slug) if part)
    if class_name not in _GE_CLASSES:
        _GE_CLASSES[class_name] = type(class_name, (gx.expectations.ExpectColumnValuesToBeInSet,), {
            "__annotations__": {"value_set": list},
            "value_set": [True],
            "__doc__": f"Payroll data-quality rule {check_name} (flag column: True = the row passes).",
        })
    return _GE_CLASSES[class_name]


def _run_great_expectations(ctx: DQContext, evaluated: dict[str, list[tuple[RowRule, Any]]],
                            keys_by_entity: dict[str, list[tuple[str, str]]], volumes: list,
                            missing: dict[str, tuple[list[str], list[str]]]
                            ) -> tuple[list[CheckResult], list[dict[str, Any]]]:
    """Validate every entity's check frame in GE; returns the check results and, per suite, what the
    run page shows (suite name, success, GE statistics, per expectation type/description/result)."""
    if not any(evaluated.values()) and not volumes and not missing:
        return [], []  # nothing received: no suite to run, and no 5 s GE import
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    import pandas as pd
    from great_expectations.core.run_identifier import RunIdentifier

    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # noqa: BLE001 - cosmetic only
        pass
    source = context.data_sources.add_pandas("payroll")
    run_id = RunIdentifier(run_name=ctx.run_label, run_time=datetime.now(UTC))
    result_format = {"result_format": "SUMMARY", "unexpected_index_column_names": ["source_id", "valid_from"],
                     "partial_unexpected_count": 20}
    results: list[CheckResult] = []
    suites: list[dict[str, Any]] = []
    failing_ids: dict[tuple[str, str, str | None], list[str]] = {}

    batches: list[tuple[str, Any, list[Any]]] = []  # (asset, check frame, expectations)
    volume_by_entity = {v.entity: v for v in volumes}
    for name in list(evaluated) + [v.entity for v in volumes if v.entity not in evaluated]:
        flags = evaluated.get(name, [])
        keys = keys_by_entity.get(name, [])
        frame = pd.DataFrame({"source_id": [safe_id(k[0]) for k in keys], "valid_from": [k[1] for k in keys]})
        expectations = []
        for rule, passed in flags:
            column = _flag_name(rule)
            frame[column] = pd.Series(passed, dtype="bool")
            meta = {"check": rule.name, "column": rule.column, "severity": rule.severity, "entity": name}
            expectations.append(_expectation_class(rule.name)(
                column=column, meta=meta, description=f"{rule.severity.upper()} · {rule.description}"))
            failing_ids[(name, rule.name, rule.column)] = [k[0] for k, ok in zip(keys, passed) if not ok]
        volume = volume_by_entity.get(name)
        if volume is not None:
            expectations.append(gx.expectations.ExpectTableRowCountToBeBetween(
                min_value=volume.minimum, meta={"check": VOLUME_CHECK, "column": None, "severity": volume.severity,
                                                "entity": name, "previous": volume.previous},
                description=f"{volume.severity.upper()} · At most {volume.max_drop_pct:g} % fewer rows than the "
                            f"previous run ({volume.previous})."))
        if expectations:
            batches.append((name, frame, expectations))
    for name, (previous, gone) in missing.items():
        gone_set = set(gone)
        frame = pd.DataFrame({"source_id": [safe_id(s) for s in previous], "valid_from": ["" for _ in previous],
                              "ok__present": pd.Series([s not in gone_set for s in previous], dtype="bool")})
        meta = {"check": COMPLETENESS_CHECK, "column": "source_id", "severity": WARN, "entity": name}
        batches.append((f"{name}__previous", frame, [_expectation_class(COMPLETENESS_CHECK)(
            column="ok__present", meta=meta,
            description=f"{WARN.upper()} · Every {name} present without an end date in the warehouse is still in the "
                        f"source (missing from source otherwise).")]))
        failing_ids[(name, COMPLETENESS_CHECK, "source_id")] = list(gone)

    for asset_name, frame, expectations in batches:
        batch_definition = source.add_dataframe_asset(asset_name).add_batch_definition_whole_dataframe("run")
        suite = context.suites.add(gx.ExpectationSuite(
            name=f"{ctx.employer.employer}.{asset_name}", expectations=expectations,
            meta={"notes": {"format": "markdown", "content": [
                f"Payroll data quality for `{ctx.employer.connector}/{ctx.employer.employer}`, "
                f"entity `{asset_name}`, run date {ctx.run_label}. Personal data never enters these "
                f"checks: each rule is evaluated by the pipeline and validated here as a flag column."]}}))
        definition = context.validation_definitions.add(gx.ValidationDefinition(
            name=f"{asset_name}_vd", data=batch_definition, suite=suite))
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=f"{asset_name}_checkpoint", validation_definitions=[definition], actions=[],
            result_format=result_format))
        run = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
        for validation in run.run_results.values():
            shown: list[dict[str, Any]] = []
            suites.append({"name": suite.name, "success": bool(validation.success),
                           "statistics": dict(validation.statistics), "results": shown,
                           "blocking": False})
            for res in validation.results:
                meta = res.expectation_config.meta or {}
                stats = res.result or {}
                entity = meta.get("entity", asset_name)
                check = meta.get("check", res.expectation_config.type)
                column = meta.get("column")
                if check == VOLUME_CHECK:
                    current = int(stats.get("observed_value", len(frame)) or 0)
                    previous = int(meta.get("previous", 0))
                    success = bool(res.success)
                    result = CheckResult(entity, check, None, meta.get("severity", ERROR), success, current,
                                         0 if success else max(previous - current, 0),
                                         None if success else f"previous run: {previous} rows")
                    suites[-1]["blocking"] |= not success and result.severity == ERROR
                else:
                    unexpected = int(stats.get("unexpected_count", 0) or 0)
                    result = CheckResult(
                        entity=entity, check_name=check, column=column, severity=meta.get("severity", ERROR),
                        success=bool(res.success), element_count=int(stats.get("element_count", len(frame)) or 0),
                        unexpected_count=unexpected,
                        unexpected_sample=_sample(failing_ids.get((entity, check, column), [])) if unexpected
                        else None)
                results.append(result)
                shown.append({**result.as_row(), "expectation_type": res.expectation_config.type,
                              "description": res.expectation_config.description or ""})
    return results, suites


# ------------------------------------------------------------------------------- summaries

def _write_run_summary(ctx: DQContext, outcome: DQOutcome, counts: dict[str, int], suites: list[dict[str, Any]],
                       nothing_to_validate: bool) -> Path:
    """The run's page and dq_summary.json (PII-free), then the day's run-level index. Returns the run page.

    A re-run of the same logical date overwrites both (same folder).
    """
    from payroll_etl.quality.index import write_daily_index, write_run_page

    summary = {
        "connector": ctx.employer.connector, "employer": ctx.employer.employer, "run_date": ctx.run_label,
        "period": ctx.period.id, "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": counts, "scope": ctx.scope, **outcome.summary(), "nothing_to_validate": nothing_to_validate,
        "failed": [r.as_row() for r in outcome.results if not r.success], "suites": suites,
    }
    summary.pop("report", None)
    page = write_run_page(ctx.report_dir, summary)
    write_daily_index(ctx.report_dir, ctx.run_label)
    return page


__all__ = ["COMPLETENESS_CHECK", "EXTRA_ROW_RULES", "VOLUME_CHECK", "WARN", "evaluate", "row_rules", "safe_id"]
