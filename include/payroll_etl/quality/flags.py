"""Running the row rules over a run's tables in record batches: one bool flag array per rule.

An entity's rows are read ``BATCH_ROWS`` at a time (from its staged Parquet file, or from an Arrow
table), turned into a pandas frame, checked by every applicable rule and dropped, so a 100,000-employee
run never holds its payroll results as Python objects all at once. What survives a batch is small:
per rule a numpy bool array (1 byte a row), the failing keys, and for parent entities the keys that
decide which children may load. Rules that compare rows with each other get the whole entity:
the business-key uniqueness rule through the duplicate keys counted in Arrow (``duplicate_keys``),
a ``whole_entity`` rule once on the few columns it names. The result is the same, flag for flag,
as checking the whole entity in one frame.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from payroll_etl.parsing import RecordIssue
from payroll_etl.quality.base import ERROR, RowRule, RuleEnv
from payroll_etl.quality.checks import business_key

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

BATCH_ROWS = 65_536
SAMPLE_SIZE = 5
# Columns other entities' rules and the run-level checks consult, of the whole entity (RuleEnv.frames).
REFERENCE_COLUMNS = {"employee": ("source_id",),
                     "employment": ("source_id", "employee_source_id", "start_date", "end_date")}
# Entities whose loading source ids a child's "parent exists" rule consults (RuleEnv.loading_ids).
PARENT_ENTITIES = frozenset({"employer", "employee", "employment"})

Key = tuple[str, str]  # (source_id, valid_from ISO date or "None"): a quarantine key


class EntitySource:
    """One entity's canonical rows: an Arrow table in memory, or the path of its staged Parquet file."""

    def __init__(self, data: pa.Table | Path | str) -> None:
        import pyarrow.parquet as pq

        # pre_buffer off: with it, iterating batches buffers far more of the file than one row group
        self._file = pq.ParquetFile(data, pre_buffer=False) if isinstance(data, (Path, str)) else None
        # a file: its schema only, an empty table (the rows are read batch by batch)
        self._table: pa.Table = self._file.schema_arrow.empty_table() if self._file is not None else data

    @property
    def num_rows(self) -> int:
        """Rows of the entity."""
        return int(self._file.metadata.num_rows if self._file is not None else self._table.num_rows)

    @property
    def column_names(self) -> list[str]:
        """Column names of the entity's canonical schema."""
        return list(self._table.column_names)

    def batches(self, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        """The rows in order, at most ``BATCH_ROWS`` a batch (only ``columns`` when given)."""
        if self._file is not None:
            yield from self._file.iter_batches(batch_size=BATCH_ROWS, columns=columns)
        else:
            table = self._table if columns is None else self._table.select(columns)
            yield from table.to_batches(max_chunksize=BATCH_ROWS)

    def read(self, columns: list[str]) -> pa.Table:
        """Only ``columns``, of all rows (Arrow: compact)."""
        if self._file is not None:
            return self._file.read(columns=columns)
        return self._table.select(columns)


def to_pandas(data: pa.Table | pa.RecordBatch) -> pd.DataFrame:
    """Arrow -> pandas as the rules expect it: dates as ``datetime.date`` objects, missing as None."""
    # split_blocks: no consolidation copy of same-typed columns while converting
    return data.to_pandas(date_as_object=True, types_mapper=None, split_blocks=True)


def iso(value: object) -> str:
    """A valid_from as a quarantine key: ISO date, or "None" when missing."""
    if value is None:
        return "None"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        import pandas as pd

        if pd.isna(value):
            return "None"
    except (TypeError, ValueError):
        pass
    return str(value)


def flag_name(rule: RowRule) -> str:
    """The rule's flag column in the check frame Great Expectations validates."""
    return "ok__" + re.sub(r"[^a-z0-9]+", "_", f"{rule.name}__{rule.column or ''}".lower()).strip("_")


def parse_rules(entity: str, issues: list[RecordIssue]) -> list[tuple[RowRule, set[str]]]:
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


def _key_hashes(df: pd.DataFrame) -> np.ndarray:
    import pandas as pd

    return pd.util.hash_pandas_object(df[["source_id", "valid_from"]], index=False).to_numpy()


def duplicate_keys(source: EntitySource) -> set[tuple[Any, Any]]:
    """(source_id, valid_from) pairs occurring more than once in the entity.

    Two passes over the two key columns, batch by batch: a 64-bit hash per row (8 bytes a row) finds
    the few hashes seen twice; the second pass counts the real keys behind those hashes only (a hash
    collision is no duplicate). Same semantics as ``DataFrame.duplicated`` (missing values equal).
    """
    hashes = [_key_hashes(to_pandas(b)) for b in source.batches(["source_id", "valid_from"])]
    if not hashes:
        return set()
    unique, counts = np.unique(np.concatenate(hashes), return_counts=True)
    del hashes
    suspects = unique[counts > 1]
    if not len(suspects):
        return set()
    seen: dict[tuple[Any, Any], int] = {}
    for batch in source.batches(["source_id", "valid_from"]):
        df = to_pandas(batch)
        for i in np.flatnonzero(np.isin(_key_hashes(df), suspects)):
            key = business_key(df["source_id"].iloc[i], df["valid_from"].iloc[i])
            seen[key] = seen.get(key, 0) + 1
    return {key for key, n in seen.items() if n > 1}


@dataclass
class EntityFlags:
    """The rules' verdicts on one entity: per rule a bool array over all rows (True = passes)."""

    rows: int
    flags: list[tuple[RowRule, np.ndarray]]
    # per flag index: (first SAMPLE_SIZE failing source ids in row order, number of failing rows)
    failing: dict[int, tuple[list[str], int]] = field(default_factory=dict)
    # error rules' failing keys in (rule, row) order: what is quarantined
    quarantine: list[tuple[int, Key]] = field(default_factory=list)


def _passes(result: Any, rows: int) -> np.ndarray:
    """A check's Series -> bool array; a missing verdict fails."""
    return np.fromiter((bool(v) if v is not None and v == v else False for v in result.tolist()), dtype=bool,
                       count=rows)


def _keys(df: pd.DataFrame, memo: dict[object, str]) -> list[Key]:
    # valid_from repeats (one per period): one string per distinct date
    return [(str(s), memo[v] if v in memo else memo.setdefault(v, iso(v)))
            for s, v in zip(df["source_id"], df["valid_from"], strict=True)]


def _record(out: EntityFlags, start: int, passed: list[np.ndarray], df: pd.DataFrame, memo: dict[object, str],
            keys: list[Key] | None) -> None:
    """Failing samples and quarantine keys of one batch (rows ``start`` ...)."""
    sids = df["source_id"]
    for index, ok in enumerate(passed):
        out.flags[index][1][start:start + len(ok)] = ok
        bad = np.flatnonzero(~ok)
        if not len(bad):
            continue
        ids, count = out.failing.get(index, ([], 0))
        ids.extend(str(sids.iloc[i]) for i in bad[:max(SAMPLE_SIZE - len(ids), 0)])
        out.failing[index] = (ids, count + len(bad))
        if out.flags[index][0].severity == ERROR:
            keys = keys if keys is not None else _keys(df, memo)
            out.quarantine.extend((index, keys[i]) for i in bad)


def check_entity(name: str, source: EntitySource, rules: list[RowRule], issues: list[RecordIssue],
                 env: RuleEnv) -> tuple[EntityFlags, list[Key] | None]:
    """Every applicable rule (then the parse rules) over the entity's rows, batch by batch.

    Returns the flags and, for a parent entity (``PARENT_ENTITIES``), every row's key (to decide
    which of its source ids load). A rule whose columns the entity lacks is skipped, as before.
    """
    columns = set(source.column_names)
    applicable = [r for r in rules if r.entity == name and all(c in columns for c in
                                                                (r.column.split(",") if r.column else []))]
    parsed = parse_rules(name, issues)
    rows = source.num_rows
    out = EntityFlags(rows, [(r, np.ones(rows, dtype=bool)) for r in applicable]
                      + [(r, np.ones(rows, dtype=bool)) for r, _ in parsed])
    whole = {i: _passes(r.check(to_pandas(source.read(list(r.whole_entity))), env), rows)
             for i, r in enumerate(applicable) if r.whole_entity}
    if rows > BATCH_ROWS and {"source_id", "valid_from"} <= columns:
        env.duplicate_keys[name] = duplicate_keys(source)
    memo: dict[object, str] = {}
    all_keys: list[Key] | None = [] if name in PARENT_ENTITIES else None
    start = 0
    for batch in source.batches():
        df = to_pandas(batch)
        n = len(df)
        passed = [whole[i][start:start + n] if i in whole else _passes(r.check(df, env), n)
                  for i, r in enumerate(applicable)]
        passed += [np.fromiter((str(s) not in ids for s in df["source_id"]), dtype=bool, count=n)
                   for _, ids in parsed]
        keys = _keys(df, memo) if all_keys is not None else None
        _record(out, start, passed, df, memo, keys)
        if all_keys is not None and keys is not None:
            all_keys.extend(keys)
        start += n
        del df, passed
    return out, all_keys


def reference_frames(sources: Mapping[str, EntitySource]) -> dict[str, pd.DataFrame]:
    """The columns of ``REFERENCE_COLUMNS`` of the whole entity, as pandas frames (for ``RuleEnv.frames``)."""
    frames = {}
    for name, wanted in REFERENCE_COLUMNS.items():
        if name in sources:
            present = [c for c in wanted if c in sources[name].column_names]
            frames[name] = to_pandas(sources[name].read(present))
    return frames
