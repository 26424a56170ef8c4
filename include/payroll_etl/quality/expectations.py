"""The rules in Great Expectations: one suite per entity, validated on a frame of flag columns only.

Each row rule is a custom subclass of ``ExpectColumnValuesToBeInSet([True])`` (the GE 1.x way to
define a custom expectation) named after the rule, validated on the rule's bool flag column; the
volume check is a built-in ``ExpectTableRowCountToBeBetween``. The check frame holds nothing but
those bool columns (1 byte a row each): no source id, no personal data, and GE's per-row cost
(hashing and copying the frame per batch) stays small for a 100,000-employee run. The failing
source ids shown as samples come from our own rules (``flags.EntityFlags.failing``), masked.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from payroll_etl.quality.base import ERROR, WARN, CheckResult, DQContext
from payroll_etl.quality.flags import EntityFlags, flag_name
from payroll_etl.quality.run_level import VolumeCheck

if TYPE_CHECKING:
    import pandas as pd

COMPLETENESS_CHECK = "expect_previous_records_to_be_present"
VOLUME_CHECK = "expect_table_row_count_to_be_between"
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
Failing = dict[tuple[str, str, str | None], tuple[list[str], int]]  # (entity, check, column) -> (ids, count)

_GE_CLASSES: dict[str, type] = {}


def expectation_class(check_name: str) -> type:
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


@dataclass
class Batch:
    """One suite to validate: the asset (entity) name, its flag frame and its expectations."""

    asset: str
    frame: pd.DataFrame
    expectations: list[Any]


def _volume_expectation(volume: VolumeCheck, name: str) -> Any:
    import great_expectations as gx

    return gx.expectations.ExpectTableRowCountToBeBetween(
        min_value=volume.minimum, meta={"check": VOLUME_CHECK, "column": None, "severity": volume.severity,
                                        "entity": name, "previous": volume.previous},
        description=f"{volume.severity.upper()} · At most {volume.max_drop_pct:g} % fewer rows than the "
                    f"previous run ({volume.previous}).")


def entity_batches(evaluated: dict[str, EntityFlags], volumes: list[VolumeCheck], failing: Failing) -> list[Batch]:
    """Per entity its flag frame and expectations (rules in order, then volume); fills ``failing``."""
    import pandas as pd

    out = []
    volume_by_entity = {v.entity: v for v in volumes}
    for name in list(evaluated) + [v.entity for v in volumes if v.entity not in evaluated]:
        entity = evaluated.get(name) or EntityFlags(0, [])
        columns: dict[str, Any] = {}
        expectations = []
        for index, (rule, passed) in enumerate(entity.flags):
            column = flag_name(rule)
            columns[column] = passed
            meta = {"check": rule.name, "column": rule.column, "severity": rule.severity, "entity": name}
            expectations.append(expectation_class(rule.name)(
                column=column, meta=meta, description=f"{rule.severity.upper()} · {rule.description}"))
            failing[(name, rule.name, rule.column)] = entity.failing.get(index, ([], 0))
        volume = volume_by_entity.get(name)
        if volume is not None:
            expectations.append(_volume_expectation(volume, name))
        if expectations:
            out.append(Batch(name, pd.DataFrame(columns, index=pd.RangeIndex(entity.rows)), expectations))
    return out


def completeness_batches(missing: dict[str, tuple[list[str], list[str]]], failing: Failing) -> list[Batch]:
    """Per entity with previously open records: one flag per record, True while it is still in the source."""
    import pandas as pd

    out = []
    for name, (previous, gone) in missing.items():
        gone_set = set(gone)
        frame = pd.DataFrame({"ok__present": pd.Series([s not in gone_set for s in previous], dtype="bool")})
        meta = {"check": COMPLETENESS_CHECK, "column": "source_id", "severity": WARN, "entity": name}
        out.append(Batch(f"{name}__previous", frame, [expectation_class(COMPLETENESS_CHECK)(
            column="ok__present", meta=meta,
            description=f"{WARN.upper()} · Every {name} present without an end date in the warehouse is still in the "
                        f"source (missing from source otherwise).")]))
        failing[(name, COMPLETENESS_CHECK, "source_id")] = (list(gone[:5]), len(gone))
    return out


def _context() -> Any:
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # noqa: BLE001 - cosmetic only
        pass
    return context


def validate_batches(ctx: DQContext, batches: list[Batch]) -> Iterator[tuple[str, Batch, Any]]:
    """Validate each batch in an ephemeral GE context; yields (suite name, batch, GE validation result)."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    context = _context()
    source = context.data_sources.add_pandas("payroll")
    run_id = RunIdentifier(run_name=ctx.run_label, run_time=datetime.now(UTC))
    for batch in batches:
        definition = source.add_dataframe_asset(batch.asset).add_batch_definition_whole_dataframe("run")
        suite = context.suites.add(gx.ExpectationSuite(
            name=f"{ctx.employer.employer}.{batch.asset}", expectations=batch.expectations,
            meta={"notes": {"format": "markdown", "content": [
                f"Payroll data quality for `{ctx.employer.connector}/{ctx.employer.employer}`, "
                f"entity `{batch.asset}`, run date {ctx.run_label}. Personal data never enters these "
                f"checks: each rule is evaluated by the pipeline and validated here as a flag column."]}}))
        validation = context.validation_definitions.add(gx.ValidationDefinition(
            name=f"{batch.asset}_vd", data=definition, suite=suite))
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=f"{batch.asset}_checkpoint", validation_definitions=[validation], actions=[],
            result_format=RESULT_FORMAT))
        run = checkpoint.run(batch_parameters={"dataframe": batch.frame}, run_id=run_id)
        for result in run.run_results.values():
            yield suite.name, batch, result


def check_result(res: Any, asset: str, rows: int, failing: Failing, sample: Any) -> CheckResult:
    """One GE expectation result as our ``CheckResult`` (``sample``: ``(ids, count) -> masked text``)."""
    meta = res.expectation_config.meta or {}
    stats = res.result or {}
    entity = meta.get("entity", asset)
    check = meta.get("check", res.expectation_config.type)
    column = meta.get("column")
    if check == VOLUME_CHECK:
        current = int(stats.get("observed_value", rows) or 0)
        previous = int(meta.get("previous", 0))
        success = bool(res.success)
        return CheckResult(entity, check, None, meta.get("severity", ERROR), success, current,
                           0 if success else max(previous - current, 0),
                           None if success else f"previous run: {previous} rows")
    unexpected = int(stats.get("unexpected_count", 0) or 0)
    return CheckResult(
        entity=entity, check_name=check, column=column, severity=meta.get("severity", ERROR),
        success=bool(res.success), element_count=int(stats.get("element_count", rows) or 0),
        unexpected_count=unexpected,
        unexpected_sample=sample(*failing.get((entity, check, column), ([], 0))) if unexpected else None)
