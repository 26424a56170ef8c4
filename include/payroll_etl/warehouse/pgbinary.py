"""Arrow -> PostgreSQL binary ``COPY`` stream, vectorised (numpy/Arrow compute, no per-row Python).

The server parses a binary ``COPY`` at about half the CPU of the same rows as CSV (measured on the
bench's 240,000 salary rows: 0.29 s instead of 0.59 s into an unindexed table; no text -> date,
timestamptz, numeric conversions). ``encode_rows(batch, types)`` returns the rows of one record
batch in the binary tuple format (docs: PostgreSQL "COPY", "Binary Format"); the caller frames them
with ``HEADER`` and ``TRAILER``. ``encodable(schema, types)`` says whether every column has an
encoder; the caller falls back to CSV otherwise, so the result is the same either way.

Encoders (Arrow type -> SQL type of the target column):

* ``string``/``binary`` -> TEXT, VARCHAR(n): the UTF-8 bytes (the server still checks length/encoding);
* ``date32`` -> DATE: days since 2000-01-01;
* ``timestamp[unit, tz]`` -> TIMESTAMPTZ: microseconds since 2000-01-01 UTC; an ISO-8601 ``string``
  column with an explicit offset (``with_bookkeeping``'s ``recorded_at``) is parsed by Arrow first;
* ``decimal128(p, s)`` with ``p + (-s mod 4) <= 18`` -> NUMERIC: base-10000 digits (the server
  strips zero digits and applies the column's typmod as for text);
* ``int64`` -> BIGINT, ``bool`` -> BOOLEAN, ``null`` -> any type.
"""

from __future__ import annotations

from typing import Any

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # signature, flags, no extension
TRAILER = b"\xff\xff"
PG_EPOCH_DAYS = 10_957  # 2000-01-01 - 1970-01-01
PG_EPOCH_US = PG_EPOCH_DAYS * 86_400 * 1_000_000
_NULL = b"\xff\xff\xff\xff"
_ISO_WITH_OFFSET = r"(Z|[+-]\d\d(:?\d\d)?)$"


def _kind(sql_type: str) -> str:
    if "[" in sql_type:  # an array type: no encoder (CSV)
        return ""
    base = sql_type.upper().split("(")[0].strip()
    return {"TEXT": "text", "VARCHAR": "text", "CHARACTER VARYING": "text", "DATE": "date",
            "TIMESTAMPTZ": "timestamptz", "TIMESTAMP WITH TIME ZONE": "timestamptz", "NUMERIC": "numeric",
            "BIGINT": "bigint", "BOOLEAN": "boolean"}.get(base, "")


def _numeric_groups(arrow_type: Any) -> tuple[int, int, int] | None:
    """(total base-10000 digits, fractional digits, decimal shift) of a decimal128, or None if the
    unscaled value, shifted to a multiple of 4 decimals, may not fit in an int64."""
    pad = -arrow_type.scale % 4
    if arrow_type.scale < 0 or arrow_type.precision + pad > 18:
        return None
    frac = (arrow_type.scale + pad) // 4
    return max(-(-(arrow_type.precision + pad) // 4), frac, 1), frac, pad


def _column_ok(arrow_type: Any, kind: str) -> bool:
    import pyarrow as pa

    t = pa.types
    if t.is_null(arrow_type):
        return True
    return {
        "text": t.is_string(arrow_type) or t.is_binary(arrow_type),
        "date": t.is_date32(arrow_type),
        "timestamptz": (t.is_timestamp(arrow_type) and arrow_type.tz is not None) or t.is_string(arrow_type),
        "numeric": t.is_decimal128(arrow_type) and _numeric_groups(arrow_type) is not None,
        "bigint": t.is_int64(arrow_type),
        "boolean": t.is_boolean(arrow_type),
    }.get(kind, False)


def encodable(schema: Any, types: dict[str, str]) -> bool:
    """True if every column of the Arrow ``schema`` has a binary encoder for its SQL type in ``types``
    (column name -> SQL type as ``sql_types`` writes it); False (use CSV) otherwise."""
    return all(f.name in types and _column_ok(f.type, _kind(types[f.name])) for f in schema)


def _fields(payload: Any, valid: Any) -> Any:
    """A binary array of ``int32 length + payload`` per row, ``-1`` (no payload) where not ``valid``.
    ``payload``: uint8 array of shape (rows, width); ``valid``: bool array of shape (rows,)."""
    import numpy as np
    import pyarrow as pa

    n, width = payload.shape
    full = np.empty((n, 4 + width), dtype=np.uint8)
    full[:, :4] = np.frombuffer(np.array([width], dtype=">i4").tobytes(), dtype=np.uint8)
    full[:, 4:] = payload
    if valid.all():
        data = full.reshape(-1)
        sizes = np.full(n, 4 + width, dtype=np.int32)
    else:
        full[~valid, :4] = 255
        keep = np.ones((n, 4 + width), dtype=bool)
        keep[~valid, 4:] = False
        data = full[keep]
        sizes = np.where(valid, 4 + width, 4).astype(np.int32)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(sizes, out=offsets[1:])
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _big_endian(values: Any, dtype: str) -> Any:
    import numpy as np

    return np.ascontiguousarray(values.astype(dtype)).view(np.uint8).reshape(len(values), -1)


def _numeric(column: Any) -> Any:
    """NUMERIC payloads (ndigits, weight, sign, dscale, base-10000 digits; int16 each) of a decimal128."""
    import numpy as np
    import pyarrow as pa

    groups, frac, pad = _numeric_groups(column.type) or (0, 0, 0)
    filled = column.fill_null(pa.scalar(0, column.type)) if column.null_count else column
    words = np.frombuffer(filled.buffers()[1], dtype=np.int64)
    unscaled = words[2 * filled.offset: 2 * (filled.offset + len(filled)): 2]  # low 64 bits (little-endian)
    magnitude = np.abs(unscaled) * np.int64(10 ** pad)
    out = np.empty((len(column), 4 + groups), dtype=np.int16)
    out[:, 0], out[:, 1], out[:, 3] = groups, groups - frac - 1, column.type.scale
    out[:, 2] = np.where(unscaled < 0, 0x4000, 0)
    for g in range(groups):
        out[:, 4 + g] = (magnitude // np.int64(10_000 ** (groups - 1 - g))) % 10_000
    return _big_endian(out, ">i2")


def _fixed(column: Any, kind: str) -> Any:
    """The fixed-width payloads (uint8, rows x width) of a date, timestamptz, numeric, bigint or bool column."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if kind == "numeric":
        return _numeric(column)
    if kind == "boolean":
        return column.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint8).reshape(-1, 1)
    if kind == "date":
        days = column.cast(pa.int32()).fill_null(0).to_numpy(zero_copy_only=False)
        return _big_endian(days - np.int32(PG_EPOCH_DAYS), ">i4")
    if kind == "timestamptz":
        if pa.types.is_string(column.type):
            column = column.cast(pa.timestamp("us", "UTC"))
        micros = pc.cast(column, pa.timestamp("us", "UTC")).cast(pa.int64()).fill_null(0).to_numpy()
        return _big_endian(micros - np.int64(PG_EPOCH_US), ">i8")
    return _big_endian(column.fill_null(0).to_numpy(zero_copy_only=False), ">i8")  # bigint


def _text(column: Any) -> list[Any]:
    """(length prefixes, bytes) of a text column as two binary arrays; a null is length -1 and no bytes."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    raw = column.cast(pa.binary())
    lengths = pc.binary_length(raw).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    prefix = pa.Array.from_buffers(pa.binary(4), len(raw), [None, pa.py_buffer(_big_endian(lengths, ">i4"))])
    return [prefix.cast(pa.binary()), raw.fill_null(b"")]


def _column(column: Any, kind: str) -> list[Any]:
    import pyarrow as pa

    if pa.types.is_null(column.type):
        return [pa.repeat(pa.scalar(_NULL, pa.binary()), len(column))]
    if kind == "text":
        return _text(column)
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    return [_fields(_fixed(column, kind), valid)]


def strings_parse(table: Any, types: dict[str, str]) -> bool:
    """True if the strings of ``table``'s string columns bound for TIMESTAMPTZ all parse in Arrow and
    carry an offset (a naive one would be read in the session's time zone by the server: CSV path)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in table.column_names:
        column = table.column(name)
        if _kind(types[name]) == "timestamptz" and pa.types.is_string(column.type):
            column = pc.unique(column)  # recorded_at: one value
            has = pc.match_substring_regex(column, _ISO_WITH_OFFSET)
            if not pc.all(pc.fill_null(has, True)).as_py():
                return False
            try:
                column.cast(pa.timestamp("us", "UTC"))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return False
    return True


def encode_rows(batch: Any, types: dict[str, str]) -> memoryview:
    """The rows of the Arrow ``batch`` (RecordBatch or Table) in PostgreSQL's binary COPY tuple format.

    ``types``: column name -> SQL type (``encodable`` and ``strings_parse`` must hold). No header or
    trailer; at most 2 GiB per batch (int32 offsets: the loader encodes 65,536 rows at a time).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = batch.num_rows
    count = np.frombuffer(np.array([batch.num_columns], dtype=">i2").tobytes(), dtype=np.uint8)
    parts: list[Any] = [pa.repeat(pa.scalar(count.tobytes(), pa.binary()), n)]
    for name in batch.column_names:
        column = batch.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        parts.extend(_column(column, _kind(types[name])))
    rows = pc.binary_join_element_wise(*parts, pa.scalar(b"", pa.binary()))
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32)[rows.offset: rows.offset + n + 1]
    return memoryview(rows.buffers()[2])[int(offsets[0]): int(offsets[-1])]


__all__ = ["HEADER", "TRAILER", "strings_parse", "encodable", "encode_rows"]
