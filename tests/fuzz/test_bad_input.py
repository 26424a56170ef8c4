"""A generated corpus of bad input through normalize -> to_arrow -> the DQ rules, per connector.

Hypothesis damages one value of a real landed page at a time (0000-00-00 and impossible dates,
10- and 8-digit BSNs, "12,5" and "1.234,56" amounts, numbers as strings, booleans, structures,
names that arrived as non-UTF-8 bytes) or one whole page (truncated, garbage, wrong encoding).
Properties:

* never a crash without a clear message: the only errors allowed are MalformedPayloadError
  naming the page URL and RecordError naming employer, entity, record and field, and neither
  may contain the damaged value;
* never a silently wrong value: the damaged record is either loaded with exactly the value a
  strict reading gives ("12,5" is never 125 nor 12.5) or kept out of the warehouse (quarantine).

Great Expectations is stubbed out (it only renders the same flags into reports; 4 s per run).
"""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from fuzz_support import EMPLOYERS, INVALID, LOGICAL, MUTATE, TARGETS, strict_date, strict_decimal, strict_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# ------------------------------------------------------------------------- the corpus

def latin1_name() -> st.SearchStrategy[str]:
    """A name sent as Latin-1 bytes, read as UTF-8 by the landing (invalid bytes become U+FFFD)."""
    return st.text(st.characters(min_codepoint=0xC0, max_codepoint=0xFF), min_size=1, max_size=6).map(
        lambda s: ("M" + s + "ller").encode("latin-1").decode("utf-8", errors="replace"))


BAD_DECIMALS = st.one_of(
    st.sampled_from(["12,5", "1.234,56", "1,234.56", "3500.00", "3500", " 42 ", "-0", "1e3", "€ 3.500", "NaN",
                     "Infinity", "", "0x10", "١٢", "12.5.1", "3500.123456"]),
    st.integers(-10**6, 10**6).map(str), st.integers(-10**6, 10**6),
    st.decimals(min_value=-10**6, max_value=10**6, places=2, allow_nan=False).map(str),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.just([1]), st.just({"v": 1}))
BAD_DATES = st.one_of(
    st.sampled_from(["0000-00-00", "2025-02-30", "2025-13-01", "31-12-1980", "1980/12/31", "19801231", "",
                     "1980-12-31T00:00:00+01:00", "9999-12-31", "0001-01-01", "not a date", "1980-1-1"]),
    st.dates().map(lambda d: d.isoformat()), st.integers(0, 10**9), st.booleans(), st.just({"d": 1}))
BAD_BSNS = st.one_of(
    st.sampled_from(["1234567890", "12345678", "123456782", "111222333", "000000000", "12345678X", "",
                     "123 456 782", "0123456789"]),
    st.integers(10**8, 10**10 - 1).map(str), st.integers(1, 10**10), st.just(123456782), st.booleans())
BAD_TEXT = st.one_of(latin1_name(), st.text(max_size=12), st.just([]), st.just({"a": 1}), st.integers())
BY_KIND = {"decimal": BAD_DECIMALS, "date": BAD_DATES, "bsn": BAD_BSNS, "text": BAD_TEXT}
XML_UNSAFE = {"bsn", "decimal", "date", "text"}


# ------------------------------------------------------------------------ the pipeline

@contextmanager
def _no_great_expectations():
    from payroll_etl.quality import suites

    with mock.patch.object(suites, "_run_great_expectations", return_value=([], None)), \
            mock.patch.object(suites, "_write_run_summary"):
        yield


def run_steps(connector: str, pages: list[Any], report_dir: Path) -> tuple[dict[str, list[dict]], dict, Any]:
    """normalize + to_arrow + DQ rules, exactly as the pipeline chains them (no files, no GE)."""
    from payroll_etl.config import load_config
    from payroll_etl.connectors import connector_class
    from payroll_etl.parsing import Parser
    from payroll_etl.periods import period_for_logical_date
    from payroll_etl.pipeline import to_arrow
    from payroll_etl.quality import DQContext, run_quality

    cfg = load_config().employer(EMPLOYERS[connector], connector)
    period = period_for_logical_date(LOGICAL, cfg.payroll_frequency, cfg.four_week_tail)
    parser = Parser(cfg.employer)
    normalized = connector_class(connector).normalize(iter(pages), cfg, period, parser)
    tables = {name: to_arrow(name, rows, cfg) for name, rows in normalized.rows.items()}
    with _no_great_expectations():
        outcome = run_quality(tables, parser.issues + normalized.issues,
                              DQContext(cfg, period, LOGICAL.isoformat(), report_dir))
    return normalized.rows, outcome.quarantined, tables


def _expected(kind: str, connector: str, value: Any) -> Any:
    if kind == "decimal":
        return strict_decimal(value)
    if kind == "date":
        return strict_date(value)
    text = strict_text(value)
    if kind == "bsn" and text is not INVALID and text is not None:
        from payroll_etl.quality.identifiers import bsn_valid

        if connector == "loket_rest" and text.isdigit() and len(text) < 9:
            text = text.zfill(9)  # Loket's old resource versions send the BSN as a number
        return text if bsn_valid(text) else INVALID
    return text


def _clear_message(exc: Exception, value: Any) -> None:
    from payroll_etl.errors import MalformedPayloadError, RecordError

    assert isinstance(exc, (MalformedPayloadError, RecordError)), f"unclear crash: {type(exc).__name__}: {exc}"
    message = str(exc)
    if isinstance(exc, RecordError):
        assert exc.employer and exc.entity and exc.record and exc.field, message
    else:
        assert "http" in message, f"a malformed page must be named by its URL: {message}"
    text = str(value)
    if len(text) >= 4 and text not in ("True", "False", "None"):
        assert text not in message, "error messages never repeat the bad value"


# The named cases of issue 9, always run (hypothesis adds breadth around them).
KNOWN: dict[str, list[Any]] = {
    "decimal": ["12,5", "1.234,56", "3500", 3500, "3500.00", True, "", None],
    "date": ["0000-00-00", "2025-02-30", "31-12-1980", 19801231, "1980-12-31T00:00:00+01:00"],
    "bsn": ["1234567890", "12345678", "123456782", 123456782, "111222334", "000000000"],
    "text": ["M\ufffdller", "Müller", "  ", 42],
}
CORPUS = [(c, t, v) for c in sorted(TARGETS) for t in TARGETS[c] for v in KNOWN[t.kind]]


@pytest.mark.parametrize(("connector", "target", "value"), CORPUS,
                         ids=[f"{c}-{t.name}-{v!r}" for c, t, v in CORPUS])
def test_named_bad_values(connector, target, value, templates, tmp_path):
    check_value(connector, target, value, templates, tmp_path)


@pytest.mark.parametrize("connector", sorted(TARGETS))
@SETTINGS
@given(data=st.data())
def test_a_bad_value_is_loaded_exactly_or_kept_out(connector, templates, tmp_path, data):
    target = data.draw(st.sampled_from(TARGETS[connector]), label="target")
    check_value(connector, target, data.draw(BY_KIND[target.kind], label="value"), templates, tmp_path)


def check_value(connector: str, target: Any, value: Any, templates: dict[str, list[Any]], tmp_path: Path) -> None:
    if connector not in ("loket_rest", "nmbrs_rest") and isinstance(value, (list, dict)):
        value = str(value)  # XML carries text only
    pages, source_id = MUTATE[connector](templates[connector], target, value)
    try:
        rows, quarantined, _ = run_steps(connector, pages, tmp_path)
    except Exception as exc:  # noqa: BLE001 - the property is about which exceptions
        _clear_message(exc, value)
        return
    mine = [r for r in rows.get(target.entity, []) if str(r["source_id"]) == source_id]
    assert mine, f"the damaged {target.entity} record vanished without a trace"
    held = quarantined.get(target.entity, {})
    loaded = [r for r in mine if (str(r["source_id"]), _iso(r["valid_from"])) not in held]
    expected = _expected(target.kind, connector, value)
    if expected is INVALID:
        assert not loaded, f"{target.name}={value!r} has no correct reading but was loaded: " \
                           f"{[r[target.column] for r in loaded]}"
    elif expected is not None or target.kind != "decimal":
        for row in loaded:
            got = row[target.column]
            assert got == expected, f"{target.name}={value!r} loaded as {got!r}, expected {expected!r}"
            if isinstance(got, Decimal):
                assert str(expected) in (str(got), str(got.normalize()), format(got, "f")) or got == expected


def _iso(value: Any) -> str:
    from payroll_etl.quality.suites import _iso as iso

    return iso(value)


PAGE_DAMAGE = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0.0, 0.99)),
    st.tuples(st.just("garbage"), st.sampled_from(["<<not what you expected>>", "{", "<", "\x00\x01", "null", "[]",
                                                    "<?xml version='1.0'?><a/>", "{\"_embedded\": 5}"])),
    st.tuples(st.just("latin1"), st.just(None)),
)


@pytest.mark.parametrize("connector", sorted(TARGETS))
@SETTINGS
@given(data=st.data())
def test_a_damaged_page_fails_with_its_url_or_is_read_strictly(connector, templates, tmp_path, data):
    pages = list(templates[connector])
    index = data.draw(st.integers(0, len(pages) - 1), label="page")
    kind, arg = data.draw(PAGE_DAMAGE, label="damage")
    page = pages[index]
    if kind == "truncate":
        payload = page.payload[: int(len(page.payload) * arg)]
    elif kind == "garbage":
        payload = arg
    else:  # the page's bytes re-encoded as Latin-1 and read back as UTF-8, as the landing does
        payload = page.payload.encode("latin-1", errors="replace").decode("utf-8", errors="replace")
    from dataclasses import replace

    pages[index] = replace(page, payload=payload)
    try:
        rows, quarantined, _ = run_steps(connector, pages, tmp_path)
    except Exception as exc:  # noqa: BLE001
        _clear_message(exc, "")
        if kind == "truncate" and arg > 0:
            from payroll_etl.errors import MalformedPayloadError

            assert isinstance(exc, MalformedPayloadError)
            assert page.url in str(exc)
        return
    # Read without error: then nothing may have been invented. Every loaded text is free of U+FFFD.
    for entity, entity_rows in rows.items():
        held = quarantined.get(entity, {})
        for row in entity_rows:
            if (str(row["source_id"]), _iso(row["valid_from"])) in held:
                continue
            for col, value in row.items():
                assert not (isinstance(value, str) and "\ufffd" in value), f"{entity}.{col} loaded a mangled text"
