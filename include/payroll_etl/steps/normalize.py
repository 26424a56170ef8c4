"""The normalize step: landed pages -> canonical rows -> one staged Parquet file per entity."""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from payroll_etl import landing
from payroll_etl.config import EmployerConfig
from payroll_etl.connectors import connector_class
from payroll_etl.errors import RecordError
from payroll_etl.model import ENTITIES, arrow_schema
from payroll_etl.parsing import Parser
from payroll_etl.quality.flags import BATCH_ROWS
from payroll_etl.steps.context import RunContext, system_arrow_pool, write_private

if TYPE_CHECKING:
    import pyarrow as pa


def to_arrow(entity_name: str, rows: list[dict[str, Any]], employer: EmployerConfig) -> pa.Table:
    """Canonical Arrow table of one entity's rows (``model.ENTITIES`` schema, every column nullable).

    ``connector``/``employer`` come from ``employer``; a missing key is NULL. Raises ``RecordError``
    naming employer, entity, record and field when a value does not convert to its column type.
    """
    import pyarrow as pa

    entity = ENTITIES[entity_name]
    # Staging columns are all nullable: a missing required value is a data-quality finding
    # (the record is quarantined), not a crash that names no record.
    schema = pa.schema([f.with_nullable(True) for f in arrow_schema(entity)])
    arrays = []
    values: list[Any]
    for fld in schema:
        if fld.name == "connector":
            values = [employer.connector] * len(rows)
        elif fld.name == "employer":
            values = [employer.employer] * len(rows)
        else:
            values = [row.get(fld.name) for row in rows]
        try:
            arrays.append(pa.array(values, type=fld.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            for row, value in zip(rows, values):
                try:
                    pa.array([value], type=fld.type)
                except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
                    raise RecordError(employer.employer, entity_name, str(row.get("source_id")), fld.name,
                                      f"value is not a valid {fld.type}") from None
            raise RecordError(employer.employer, entity_name, "?", fld.name, "could not convert") from exc
    return pa.Table.from_arrays(arrays, schema=schema)


def normalize(ctx: RunContext) -> dict[str, Any]:
    """Parse the run's landed pages into canonical rows and stage them: ``entity=<name>.parquet`` per
    entity (row groups of ``BATCH_ROWS``, the batches validate reads), ``issues.json`` (values that
    could not be parsed). A connector that streams its bulk entity hands it over in chunks, written
    chunk by chunk. Returns rows per entity and the number of issues (for XCom).
    Raises ``RecordError`` naming employer, entity, record and field when a value has the wrong type.
    """
    import pyarrow.parquet as pq

    system_arrow_pool()
    parser = Parser(ctx.employer.employer)
    pages = landing.LandedPages(ctx.landing_root, ctx.employer.connector, ctx.employer.employer, ctx.logical_date)
    cls = connector_class(ctx.employer.connector)
    # Connectors that can stream their bulk entity (``stream=True``) hand it over in chunks: it is
    # written chunk by chunk, so its rows are never all in memory as Python objects.
    streams = "stream" in inspect.signature(cls.normalize).parameters
    normalized = cls.normalize(pages if streams else iter(pages), ctx.employer, ctx.period, parser,
                               **({"stream": True} if streams else {}))
    counts = {}
    landing.private_dir(ctx.staging)
    for old in ctx.staging.glob("entity=*.parquet"):
        old.unlink()
    for name, chunks in normalized.chunks():
        path = ctx.staging / f"entity={name}.parquet"
        writer = None
        try:
            for rows in chunks:
                table = to_arrow(name, rows, ctx.employer)
                del rows
                if writer is None:  # an entity without rows gets no file, as when rows were lists
                    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
                    os.close(fd)
                    writer = pq.ParquetWriter(path, table.schema)
                    counts[name] = 0
                writer.write_table(table, row_group_size=BATCH_ROWS)
                counts[name] += table.num_rows
                del table
        finally:
            if writer is not None:
                writer.close()
        normalized.rows.pop(name, None)  # written: free the rows
    # after the streams: they add the issues they find; a connector may also copy the parser's issues
    # into ``normalized.issues`` (Loket REST does): each issue once
    issues = list(dict.fromkeys(parser.issues + normalized.issues))
    write_private(ctx.staging / "issues.json",
                   json.dumps([issue.__dict__ for issue in issues], sort_keys=True))
    return {"rows": counts, "issues": len(issues)}


def staged_paths(ctx: RunContext) -> dict[str, Path]:
    """Entity name -> its staged Parquet file (``entity=<name>.parquet``; an entity without rows has none)."""
    return {p.stem.split("=", 1)[1]: p for p in sorted(ctx.staging.glob("entity=*.parquet"))}


def staged_rows(paths: dict[str, Path]) -> dict[str, int]:
    """Rows per staged entity, from the Parquet footers (nothing read)."""
    import pyarrow.parquet as pq

    return {name: pq.ParquetFile(path).metadata.num_rows for name, path in paths.items()}


def read_staged(ctx: RunContext) -> dict[str, pa.Table]:
    """Entity name -> its whole staged table (the load step; validate reads them in batches)."""
    import pyarrow.parquet as pq

    return {name: pq.read_table(path) for name, path in staged_paths(ctx).items()}
