"""Warehouse load benchmark: our loader vs dlt (merge, scd2) vs a bare COPY, on the same generated rows.

Data: BENCH_EMPLOYEES employees (default 20 000, so that ``make bench`` stays under 10 minutes;
100 000 is the size of the issue-8/18 figures), one employment each and 12 monthly wage versions
per employment (240,000 salary rows at the default); then a nightly snapshot in which 1 % of the employees changed
(new address, an hours change and a new wage version), delivered as the full snapshot, as a snapshot
source sends it. Every contender gets the same Arrow tables:

* bare COPY: Arrow -> CSV -> ``COPY`` into unindexed tables, one transaction (the floor), of the
  full load's rows and of the nightly snapshot's rows (the delta merge's goal is <= 1.5x the latter);
* ours: ``payroll_etl.warehouse.load.load`` (full load, then the delta merge) on PostgreSQL and DuckDB;
* dlt 1.31: Arrow tables, ``loader_file_format="csv"`` (COPY; the parquet path needs ADBC, which is not
  installed), ``merge`` (delete-insert on the natural key) and ``merge``/``scd2``, full then delta.

Env: BENCH_EMPLOYEES, BENCH_PG (default host=127.0.0.1 port=5432 user=postgres), BENCH_SKIP_DLT=1.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from payroll_etl.model import ENTITIES, arrow_schema
from payroll_etl.periods import period_for
from payroll_etl.warehouse.schema import warehouse_columns

CONNECTOR, EMPLOYER = "loket_rest", "bench"
ENTITY_NAMES = ("employee", "employment", "salary")
PG = os.environ.get("BENCH_PG", "host=127.0.0.1 port=5432 user=postgres")


# ------------------------------------------------------------------------------------------- data

def _schema(entity: str) -> pa.Schema:
    base = arrow_schema(ENTITIES[entity])
    return pa.schema([pa.field(c, pa.string()) if c == "person_key" else base.field(c)
                      for c in warehouse_columns(ENTITIES[entity])])


def _table(entity: str, columns: dict[str, Any], n: int) -> pa.Table:
    schema = _schema(entity)
    arrays = []
    for f in schema:
        value = columns.get(f.name)
        if value is None:
            arrays.append(pa.nulls(n, f.type))
        elif isinstance(value, pa.Array | pa.ChunkedArray):
            arrays.append(value.cast(f.type))
        elif isinstance(value, np.ndarray):
            arrays.append(pa.array(value).cast(f.type))
        else:
            arrays.append(pa.repeat(pa.scalar(value, f.type), n))
    return pa.Table.from_arrays(arrays, schema=schema)


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(pa.scalar(prefix), pa.array(numbers).cast(pa.string()), "")


def months_from_2024(k: np.ndarray) -> np.ndarray:
    return (np.array("2024-01", dtype="datetime64[M]") + k.astype("timedelta64[M]")).astype("datetime64[D]")


def generate(n: int, changed_every: int | None = None) -> dict[str, pa.Table]:
    """Full snapshot of n employees; with ``changed_every`` every k-th employee changed (the nightly delta)."""
    from decimal import Decimal

    i = np.arange(n)
    changed = (i % changed_every == 0) if changed_every else np.zeros(n, dtype=bool)
    street = pc.if_else(pa.array(changed), pa.scalar("Nieuwe Weg"), pa.scalar("Dorpsstraat"))
    employee = _table("employee", {
        "connector": CONNECTOR, "employer": EMPLOYER, "source_id": _ids("E", i), "valid_from": date(2025, 1, 1),
        "employer_source_id": "W1", "employee_number": pa.array(i).cast(pa.string()),
        "person_key": _ids("pk", i), "initials": "J.", "first_name": "Jan", "last_name": _ids("Jansen-", i % 5000),
        "birth_date": pa.array(np.datetime64("1960-01-01") + (i % 15000).astype("timedelta64[D]")),
        "gender": "U", "street": street, "house_number": pa.array(i % 300 + 1).cast(pa.string()),
        "postcode": "1011 AB", "city": "Amsterdam", "country": "NL", "civil_status": "ongehuwd"}, n)
    emp_cols = {"connector": CONNECTOR, "employer": EMPLOYER, "employee_source_id": _ids("E", i),
                "employment_number": "1", "start_date": date(2015, 1, 1), "fulltime_hours_per_week": Decimal(40),
                "payroll_frequency": "month", "payroll_administration_id": "A1"}
    employment = _table("employment", {**emp_cols, "source_id": _ids("M", i), "valid_from": date(2015, 1, 1),
                                       "hours_per_week": Decimal(40), "part_time_factor": Decimal(1)}, n)
    months = 12
    j = np.repeat(i, months)
    k = np.tile(np.arange(months), n)
    amount = pa.array((3000 + (j % 2000) + 10 * k).astype(np.int32)).cast(pa.decimal128(18, 4))
    salary = _table("salary", {
        "connector": CONNECTOR, "employer": EMPLOYER, "source_id": _ids("S", j),
        "valid_from": pa.array(months_from_2024(k)).cast(pa.date32()), "employment_source_id": _ids("M", j),
        "gross_amount": amount, "frequency": "month",
        "holiday_allowance_pct": Decimal(8), "component": "BASIS", "is_correction": False}, n * months)
    if changed_every:
        c = i[changed]
        emp_new = _table("employment", {**{k2: (v.filter(pa.array(changed)) if isinstance(v, pa.Array) else v)
                                           for k2, v in emp_cols.items()},
                                        "source_id": _ids("M", c), "valid_from": date(2025, 2, 1),
                                        "hours_per_week": Decimal(32), "part_time_factor": Decimal("0.8")}, len(c))
        employment = pa.concat_tables([employment, emp_new])
        sal_new = _table("salary", {
            "connector": CONNECTOR, "employer": EMPLOYER, "source_id": _ids("S", c), "valid_from": date(2025, 2, 1),
            "employment_source_id": _ids("M", c), "gross_amount": Decimal(5000), "frequency": "month",
            "holiday_allowance_pct": Decimal(8), "component": "BASIS", "is_correction": False}, len(c))
        salary = pa.concat_tables([salary, sal_new])
    return {"employee": employee, "employment": employment, "salary": salary}


def rows_of(tables: dict[str, pa.Table]) -> int:
    return sum(t.num_rows for t in tables.values())


# ------------------------------------------------------------------------------------- postgres

def _admin():
    import psycopg

    return psycopg.connect(PG + " dbname=postgres", autocommit=True)


def fresh_db(prefix: str, owner: str | None = None) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with _admin() as conn:
        conn.execute(f"CREATE DATABASE {name}" + (f" OWNER {owner}" if owner else ""))
    return name


def drop_db(name: str) -> None:
    with _admin() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def ensure_bench_role() -> None:
    """dlt refuses password-less credentials: a login role with a password for it."""
    with _admin() as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'bench'").fetchone():
            conn.execute("CREATE ROLE bench LOGIN PASSWORD 'bench'")
        # dlt's scd2 retires rows with `_dlt_id NOT IN (SELECT _dlt_id FROM staging)`: with the default
        # 4 MB work_mem PostgreSQL cannot hash 1.2 M ids and the NOT IN goes quadratic (measured: still
        # running after 5 minutes). Give dlt the memory a data engineer would give it.
        conn.execute(f"ALTER ROLE bench SET work_mem = '{os.environ.get('BENCH_DLT_WORK_MEM', '256MB')}'")


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bare_copy(tables: dict[str, pa.Table]) -> float:
    """The floor: the same rows, Arrow -> CSV -> COPY into unindexed tables, one transaction."""
    import psycopg
    from sqlalchemy.dialects import postgresql

    from payroll_etl.warehouse.schema import ENTITY_TABLES

    name = fresh_db("bench_copy")
    try:
        with psycopg.connect(PG + f" dbname={name}", autocommit=True) as conn:
            for entity, t in tables.items():
                cols = ", ".join(f'"{c.name}" {c.type.compile(dialect=postgresql.dialect())}'
                                 for c in ENTITY_TABLES[entity].columns if c.name in t.column_names)
                conn.execute(f"CREATE TABLE {entity} ({cols})")

            def run() -> None:
                conn.execute("BEGIN")
                options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
                for entity, t in tables.items():
                    names = ", ".join(f'"{c}"' for c in t.column_names)
                    with conn.cursor().copy(f"COPY {entity} ({names}) FROM STDIN WITH (FORMAT csv)") as copy:
                        for b in t.to_batches(max_chunksize=65536):
                            buffer = io.BytesIO()
                            pacsv.write_csv(b, buffer, options)
                            copy.write(buffer.getbuffer())
                conn.execute("COMMIT")
            return timed(run)
    finally:
        drop_db(name)


def copy_into_warehouse(tables: dict[str, pa.Table]) -> float:
    """COPY of the same rows, bookkeeping columns precomputed, into the migrated (indexed) history tables.

    What the rows cost to write into the real tables, without any of the loader's work (hash, diff):
    the loader's own COPY (``PostgresDb.copy_in`` with the column types: binary, ``pgbinary``).
    """
    from payroll_etl.model import ENTITIES
    from payroll_etl.warehouse.load import PostgresDb, with_row_hash
    from payroll_etl.warehouse.merge import insert_types
    from payroll_etl.warehouse.migrate import upgrade

    name = fresh_db("bench_copywh")
    try:
        upgrade(f"postgresql://postgres@127.0.0.1:5432/{name}")
        ready = {}
        for entity, t in tables.items():
            t = with_row_hash(ENTITIES[entity], t).sort_by([("source_id", "ascending"), ("valid_from", "ascending")])
            t = t.append_column("recorded_at", pa.repeat(pa.scalar(datetime.now(UTC).isoformat()), t.num_rows))
            ready[entity] = t.append_column("load_run_id", pa.repeat(pa.scalar("bench-copy"), t.num_rows))
        db = PostgresDb(PG + f" dbname={name}")
        try:
            def run() -> None:
                db.begin()
                for entity, t in ready.items():
                    db.copy_in(entity, t, insert_types(entity))  # the loader's COPY (binary)
                db.commit()
            return timed(run)
        finally:
            db.close()
    finally:
        drop_db(name)


PROFILED = ("with_row_hash", "diff_entity", "fetch_arrow", "bulk_insert", "stage", "execute", "commit",
            "post_load_step", "_analyze_if_grown")


class Profile:
    """Seconds spent in the loader's phases (wraps module functions and Db methods while active)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._undo: list[tuple[Any, str, Any]] = []

    def _wrap(self, owner: Any, attr: str, label: str) -> None:
        real = getattr(owner, attr)

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started

        self._undo.append((owner, attr, real))
        setattr(owner, attr, timed_call)

    def __enter__(self) -> Profile:
        from payroll_etl.warehouse import db, diff, engines, merge, mutations
        from payroll_etl.warehouse import load as load_module

        for name in PROFILED:
            for owner in (load_module, merge, diff, db.Db, engines.PostgresDb, engines.DuckDb, mutations):
                if name in vars(owner):
                    self._wrap(owner, name, name)
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, attr, real in reversed(self._undo):
            setattr(owner, attr, real)

    def line(self, total: float) -> str:
        """Phases (nested phases overlap: execute includes the mutation SQL) as seconds and share."""
        parts = sorted(self.seconds.items(), key=lambda kv: -kv[1])
        return ", ".join(f"{k} {v:.2f} s ({v / total:.0%})" for k, v in parts if v >= 0.01)


def ours(url: str, full: dict[str, pa.Table], delta: dict[str, pa.Table]) -> tuple[float, float, dict]:
    from payroll_etl.warehouse.load import LoadBatch, load
    from payroll_etl.warehouse.migrate import upgrade

    upgrade(url)

    def batch(tables: dict[str, pa.Table], day: date) -> LoadBatch:
        now = datetime.now(UTC)
        return LoadBatch(f"bench-{day}", "payroll_bench", None, CONNECTOR, EMPLOYER, day, period_for(day, "month"),
                         dict(tables), started_at=now, recorded_at=now)

    with Profile() as profile:
        t_full = timed(lambda: load(url, batch(full, date(2025, 1, 15))))
    print(f"  {url.split(':')[0]} full load phases: {profile.line(t_full)}", flush=True)
    changes: dict = {}
    with Profile() as profile:
        t_delta = timed(lambda: changes.update(load(url, batch(delta, date(2025, 2, 15)))))
    print(f"  {url.split(':')[0]} delta merge phases: {profile.line(t_delta)}", flush=True)
    return t_full, t_delta, changes


def dlt_runs(db: str, strategy: str, full: dict[str, pa.Table], delta: dict[str, pa.Table]) -> tuple[float, float]:
    import dlt

    keys = {"employee": ("source_id",), "employment": ("source_id", "valid_from"),
            "salary": ("source_id", "valid_from")}
    if strategy == "scd2":
        disposition: Any = {"disposition": "merge", "strategy": "scd2"}
    else:
        disposition = {"disposition": "merge", "strategy": "delete-insert"}

    def source(tables: dict[str, pa.Table]):
        resources = []
        for name, t in tables.items():
            hints: dict[str, Any] = {"name": name, "write_disposition": disposition}
            if strategy != "scd2":
                hints["primary_key"] = keys[name]
            resources.append(dlt.resource([t], **hints))
        return resources

    with tempfile.TemporaryDirectory() as pipelines_dir:
        pipeline = dlt.pipeline(pipeline_name=f"bench_{strategy}", pipelines_dir=pipelines_dir,
                                destination=dlt.destinations.postgres(
                                    f"postgresql://bench:bench@127.0.0.1:5432/{db}"),
                                dataset_name="payroll")
        t_full = timed(lambda: pipeline.run(source(full), loader_file_format="csv"))
        t_delta = timed(lambda: pipeline.run(source(delta), loader_file_format="csv"))
    return t_full, t_delta


# ----------------------------------------------------------------------------------------- main

def main() -> None:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    # scd2 on Arrow tables needs dlt's row hash column (_dlt_id), which Arrow normalisation skips by default
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", "true")
    n = int(os.environ.get("BENCH_EMPLOYEES", "20000"))
    started = time.perf_counter()
    full = generate(n)
    delta = generate(n, changed_every=100)
    n_full, n_delta = rows_of(full), rows_of(delta)
    print(f"data: {n} employees; full load {n_full:,} rows (salary {full['salary'].num_rows:,}); nightly snapshot "
          f"{n_delta:,} rows with 1 % of employees changed; generated in {time.perf_counter() - started:.1f} s",
          flush=True)
    results: dict[str, tuple[float, int]] = {}

    results["bare COPY (PostgreSQL, full)"] = (bare_copy(full), n_full)
    results["bare COPY (PostgreSQL, snapshot)"] = (bare_copy(delta), n_delta)
    results["COPY into indexed history tables"] = (copy_into_warehouse(full), n_full)
    print("bare COPY done", flush=True)

    pg_name = fresh_db("bench_ours")
    try:
        t_full, t_delta, changes = ours(f"postgresql://postgres@127.0.0.1:5432/{pg_name}", full, delta)
    finally:
        drop_db(pg_name)
    results["ours PostgreSQL full load"] = (t_full, n_full)
    results["ours PostgreSQL delta merge"] = (t_delta, n_delta)
    print(f"ours PostgreSQL done; delta changes: "
          f"{ {k: v.get('inserted') for k, v in changes.items()} }", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        t_full, t_delta, _ = ours(f"duckdb:///{tmp}/bench.duckdb", full, delta)
    results["ours DuckDB full load"] = (t_full, n_full)
    results["ours DuckDB delta merge"] = (t_delta, n_delta)
    print("ours DuckDB done", flush=True)

    if os.environ.get("BENCH_SKIP_DLT") != "1":
        ensure_bench_role()
        for strategy in ("delete-insert", "scd2"):
            db = fresh_db("bench_dlt", owner="bench")
            try:
                t_full, t_delta = dlt_runs(db, strategy, full, delta)
            finally:
                drop_db(db)
            label = "merge" if strategy == "delete-insert" else "scd2"
            results[f"dlt {label} full load"] = (t_full, n_full)
            results[f"dlt {label} delta"] = (t_delta, n_delta)
            print(f"dlt {label} done", flush=True)

    print(f"\n{'contender':36} {'rows':>11} {'seconds':>8} {'rows/s':>11}")
    for label, (seconds, rows) in results.items():
        print(f"{label:36} {rows:>11,} {seconds:>8.2f} {rows / seconds:>11,.0f}")
    copy_s = results["bare COPY (PostgreSQL, full)"][0]
    snap_s = results["bare COPY (PostgreSQL, snapshot)"][0]
    full_s = results["ours PostgreSQL full load"][0]
    delta_s = results["ours PostgreSQL delta merge"][0]
    wh_s = results["COPY into indexed history tables"][0]
    print(f"\ngoal: full load <= 1.5x bare COPY: ours {full_s:.2f} s / bare COPY {copy_s:.2f} s = "
          f"{full_s / copy_s:.2f}x [{'met' if full_s / copy_s <= 1.5 else 'MISSED'}] "
          f"(COPY into the indexed history tables alone: {wh_s / copy_s:.2f}x)")
    print(f"goal: delta merge <= 1.5x bare COPY of the snapshot: ours {delta_s:.2f} s / bare COPY {snap_s:.2f} s = "
          f"{delta_s / snap_s:.2f}x [{'met' if delta_s / snap_s <= 1.5 else 'MISSED'}]")
    if "dlt scd2 delta" in results:
        print(f"delta merge: ours {results['dlt scd2 delta'][0] / delta_s:.1f}x faster than dlt scd2 (target >= 3x),"
              f" {results['dlt merge delta'][0] / delta_s:.1f}x faster than dlt merge")
        print(f"full load: ours {results['dlt scd2 full load'][0] / full_s:.1f}x faster than dlt scd2,"
              f" {results['dlt merge full load'][0] / full_s:.1f}x faster than dlt merge")
    print(f"(bench_warehouse total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
