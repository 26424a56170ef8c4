"""The binary COPY encoder (warehouse/pgbinary.py) stores exactly what the CSV COPY stores."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

pytestmark = pytest.mark.postgres

TYPES = {"t": "TEXT", "v": "VARCHAR(64)", "d": "DATE", "ts": "TIMESTAMPTZ", "iso": "TIMESTAMPTZ",
         "n": "NUMERIC(18, 4)", "n2": "NUMERIC(18, 4)", "i": "BIGINT", "b": "BOOLEAN", "z": "TEXT"}


def _table():
    import pyarrow as pa

    plus2 = timezone(timedelta(hours=2))
    return pa.table({
        "t": pa.array(["a", "", None, "é,\"quoted\"\nline", "x" * 300, "~"]),
        "v": pa.array(["S1", "S10", "S2", None, "ü", "z"]),
        "d": pa.array([date(1900, 1, 1), date(2000, 1, 1), date(1999, 12, 31), None, date(2025, 2, 1),
                       date(9999, 12, 31)], pa.date32()),
        "ts": pa.array([datetime(2026, 11, 30, 19, 13, 16, 123456, UTC), None, datetime(1970, 1, 1, tzinfo=UTC),
                        datetime(1999, 12, 31, 23, 59, 59, 999999, UTC), datetime(2000, 1, 1, tzinfo=UTC),
                        datetime(1900, 1, 1, tzinfo=UTC)], pa.timestamp("us", "UTC")),
        "iso": pa.array([datetime(2026, 11, 30, 19, 13, 16, 123456, UTC).isoformat(),
                         datetime(2026, 11, 30, 21, 0, tzinfo=plus2).isoformat(), None, "2026-01-01T00:00:00Z",
                         "2026-01-01T00:00:00+00:00", "2026-06-01T12:00:00.5-03:00"]),
        "n": pa.array([Decimal("3000.0000"), Decimal("-0.0001"), None, Decimal("99999999999999.9999"),
                       Decimal("-99999999999999.9999"), Decimal("0")], pa.decimal128(18, 4)),
        "n2": pa.array([Decimal("1.5"), Decimal("-12.25"), Decimal("0.8"), None, Decimal("40"), Decimal("-7")],
                       pa.decimal128(10, 2)),
        "i": pa.array([0, -1, None, 2**62, -(2**62), 7], pa.int64()),
        "b": pa.array([True, False, None, True, False, None]),
        "z": pa.nulls(6, pa.string()),
    })


def test_binary_copy_matches_csv(pg_url):
    from payroll_etl.warehouse import pgbinary
    from payroll_etl.warehouse.engines import connect

    table = _table()
    assert pgbinary.encodable(table.schema, TYPES) and pgbinary.strings_parse(table, TYPES)
    db = connect(pg_url)
    try:
        cols = ", ".join(f'"{c}" {t}' for c, t in TYPES.items())
        order = ", ".join(f'"{c}"' for c in TYPES)
        results = []
        for name, types in (("via_csv", None), ("via_binary", TYPES)):
            db.execute(f"CREATE TABLE {name} (k SERIAL, {cols})")
            for chunk in (table.slice(0, 2), table.slice(2)):  # slices: offsets into the Arrow buffers
                db.copy_in(name, chunk, types)  # type: ignore[attr-defined]
            results.append(db.query(f"SELECT {order} FROM {name} ORDER BY k"))
        assert results[0] == results[1]
        assert len(results[0]) == 6
    finally:
        db.close()


def test_naive_timestamp_strings_and_wide_decimals_fall_back_to_csv():
    import pyarrow as pa

    from payroll_etl.warehouse import pgbinary

    naive = pa.table({"iso": pa.array(["2026-01-01T00:00:00"])})
    assert not pgbinary.strings_parse(naive, {"iso": "TIMESTAMPTZ"})
    wide = pa.table({"n": pa.array([Decimal("1.5")], pa.decimal128(38, 4))})
    assert not pgbinary.encodable(wide.schema, {"n": "NUMERIC(18, 4)"})
    assert not pgbinary.encodable(pa.schema([pa.field("x", pa.int32())]), {"x": "INTEGER"})
    assert not pgbinary.encodable(pa.schema([pa.field("x", pa.string())]), {"x": "VARCHAR(64)[]"})


@pytest.mark.parametrize("warehouse", ["duckdb_url", "pg_url"])
def test_fetch_arrow_keeps_nulls_empty_strings_and_separators(warehouse, request, monkeypatch):
    import pyarrow as pa

    from payroll_etl.warehouse import engines

    monkeypatch.setattr(engines, "FETCH_CHUNKS", 4)  # several chunks
    texts = ["a", "", None, 'x,"y"', "two\nlines", "é ü"]
    db = engines.connect(request.getfixturevalue(warehouse))
    try:
        db.execute("CREATE TABLE f (k BIGINT, s TEXT, d DATE)")
        for k, text in enumerate(texts):
            db.execute("INSERT INTO f VALUES (:k, :s, :d)",
                       {"k": k, "s": text, "d": None if k in (1, 5) else date(2024, 1, 1) + timedelta(days=k)})
        schema = pa.schema([("k", pa.int64()), ("s", pa.string()), ("d", pa.date32())])
        got = db.fetch_arrow("SELECT k, s, d FROM f WHERE k >= :low", schema, {"low": 0}).sort_by("k")
        empty = db.fetch_arrow("SELECT k, s, d FROM f WHERE k < 0", schema)
    finally:
        db.close()
    assert got.schema == schema and empty.num_rows == 0 and empty.schema == schema
    assert got.column("s").to_pylist() == texts
    assert got.column("d").to_pylist() == [None if k in (1, 5) else date(2024, 1, 1) + timedelta(days=k)
                                             for k in range(len(texts))]
