"""Running the rules: flags in pandas, expectations in Great Expectations, quarantine, report pages.

The rows are checked in record batches (``flags``), so memory follows the batch size, not the
employer's size. Why flag columns and not GE metrics on the raw columns: the BSN, IBAN and birth date never
enter Great Expectations, so no unexpected-value list, Data Docs page or GE log line can show
one; cross-table rules (employment -> employee, birth date vs employment start) need all tables;
and the quarantine needs the exact failing keys. Each rule is still a GE expectation: a custom
subclass of ``ExpectColumnValuesToBeInSet`` (the GE 1.x way to define a custom expectation)
named after the rule, with the rule's description, validated on its flag column. Volume is a
built-in ``ExpectTableRowCountToBeBetween`` (``expectations``).

GE's validation results (suite, expectation type, description, statistics) are kept in the run's
``dq_summary.json`` and rendered by ``quality.pages`` as self-contained HTML: GE's own Data Docs
are not built (they need CDN assets and copy ~4 MB per run; see docs/data-quality.md).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from payroll_etl.parsing import RecordIssue
from payroll_etl.privacy import mask_value
from payroll_etl.quality.base import ENTITY_ORDER, ERROR, WARN, CheckResult, DQContext, DQOutcome
from payroll_etl.quality.expectations import (
    COMPLETENESS_CHECK,
    VOLUME_CHECK,
    Failing,
    check_result,
    completeness_batches,
    entity_batches,
    validate_batches,
)
from payroll_etl.quality.flags import SAMPLE_SIZE, EntityFlags, EntitySource, check_entity, reference_frames
from payroll_etl.quality.flags import iso as _iso  # noqa: F401 - kept importable here (tests)
from payroll_etl.quality.rules import (
    EXTRA_ROW_RULES,
    RuleEnv,
    VolumeCheck,
    completeness,
    effective_settings,
    first_run_checks,
    reference_date,
    row_rules,
    volume_checks,
)
from payroll_etl.quality.scan import find_bsn_like

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

_IBAN_LIKE = re.compile(r"[A-Za-z]{2}\d{2}[A-Za-z0-9]{10,30}")
Quarantined = dict[str, dict[tuple[str, str], list[str]]]  # entity -> {(source_id, valid_from): failing checks}


def safe_id(value: object) -> str:
    """A source id as it may be shown: masked if it could be a BSN or an IBAN (some sources key on them)."""
    text = str(value)
    if find_bsn_like(text) or _IBAN_LIKE.search(text):
        return mask_value(text)
    return text


def _sample(ids: list[str], total: int) -> str | None:
    """The first failing source ids (masked where needed) and how many more fail."""
    if not total:
        return None
    shown = ", ".join(safe_id(i) for i in ids[:SAMPLE_SIZE])
    more = f" (+{total - SAMPLE_SIZE} more)" if total > SAMPLE_SIZE else ""
    return f"source_id: {shown}{more}"


def _quarantine(name: str, flags: EntityFlags, quarantined: Quarantined) -> None:
    """Add the keys failing an error rule, labels in rule order (as if the rules ran on the whole entity)."""
    for index, key in sorted(flags.quarantine, key=lambda item: item[0]):  # stable: rows stay in order
        labels = quarantined.setdefault(name, {}).setdefault(key, [])
        label = flags.flags[index][0].label
        if label not in labels:
            labels.append(label)


def _check_all(sources: Mapping[str, EntitySource], issues_by_entity: dict[str, list[RecordIssue]],
               env: RuleEnv) -> tuple[dict[str, EntityFlags], Quarantined]:
    """Every entity's row rules in ``ENTITY_ORDER`` (parents first: a quarantined parent is known to its
    children); returns the flags per entity and the quarantined keys."""
    rules = row_rules(env.settings)
    quarantined: Quarantined = {}
    evaluated: dict[str, EntityFlags] = {}
    order = [e for e in ENTITY_ORDER if e in sources] + sorted(e for e in sources if e not in ENTITY_ORDER)
    for name in order:
        flags, keys = check_entity(name, sources[name], rules, issues_by_entity.get(name, []), env)
        _quarantine(name, flags, quarantined)
        if keys is not None:
            bad = quarantined.get(name, {})
            env.loading_ids[name] = {k[0] for k in keys if k not in bad}
        evaluated[name] = flags
    # Issues on entities that produced no table at all still count as failed records.
    for entity, entity_issues in issues_by_entity.items():
        if entity not in sources:
            for issue in entity_issues:
                label = f"parse__{issue.check}:{issue.field}"
                labels = quarantined.setdefault(entity, {}).setdefault((issue.source_id, "None"), [])
                if label not in labels:
                    labels.append(label)
    return evaluated, quarantined


def evaluate(tables: Mapping[str, pa.Table | Path], issues: list[RecordIssue], ctx: DQContext) -> DQOutcome:
    """Run every rule on the canonical tables of one employer run; see the module docstring.

    ``tables``: entity -> Arrow table or staged Parquet path (read in batches of ``flags.BATCH_ROWS``).
    Returns the outcome (results, quarantined keys, blocking reasons) and writes the run's report page.
    """
    settings = effective_settings(ctx)
    sources = {name: EntitySource(data) for name, data in tables.items()}
    env = RuleEnv(ctx, reference_frames(sources), settings, reference_date(ctx))
    issues_by_entity: dict[str, list[RecordIssue]] = {}
    for issue in issues:
        issues_by_entity.setdefault(issue.entity, []).append(issue)
    evaluated, quarantined = _check_all(sources, issues_by_entity, env)
    counts = {name: source.num_rows for name, source in sources.items()}
    volumes = volume_checks(counts, ctx, settings)
    missing = completeness(env.frames, ctx)
    first_run = first_run_checks(env.frames, ctx, settings)
    env.frames.clear()  # Great Expectations only sees the flag frames: free the data
    del env
    results, suites = _run_great_expectations(ctx, evaluated, volumes, missing)
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


def _run_great_expectations(ctx: DQContext, evaluated: dict[str, EntityFlags], volumes: list[VolumeCheck],
                            missing: dict[str, tuple[list[str], list[str]]]
                            ) -> tuple[list[CheckResult], list[dict[str, Any]]]:
    """Validate every entity's flag frame in GE; returns the check results and, per suite, what the
    run page shows (suite name, success, GE statistics, per expectation type/description/result)."""
    if not any(f.flags for f in evaluated.values()) and not volumes and not missing:
        return [], []  # nothing received: no suite to run, and no 5 s GE import
    failing: Failing = {}
    batches = entity_batches(evaluated, volumes, failing) + completeness_batches(missing, failing)
    results: list[CheckResult] = []
    suites: list[dict[str, Any]] = []
    for suite_name, batch, validation in validate_batches(ctx, batches):
        shown: list[dict[str, Any]] = []
        suites.append({"name": suite_name, "success": bool(validation.success),
                       "statistics": dict(validation.statistics), "results": shown, "blocking": False})
        for res in validation.results:
            result = check_result(res, batch.asset, len(batch.frame), failing, _sample)
            if result.check_name == VOLUME_CHECK:
                suites[-1]["blocking"] |= not result.success and result.severity == ERROR
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
