"""The shared connector pieces: retry policy, tuning names, XML helpers, normalisers, typed rows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from payroll_etl.connectors import xml
from payroll_etl.connectors.normalizers import dutch_postcode, gender, part_time_factor, period_id, postcode
from payroll_etl.connectors.transport.retry import Retry, RetryPolicy, retry_after_seconds, tuning
from payroll_etl.errors import AuthenticationError, ConfigurationError, TransientSourceError
from payroll_etl.model import EMPLOYER, row


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Mon, 30 Nov 2026 12:00:30 GMT", now=lambda: now) == 30.0
    assert retry_after_seconds("Mon, 30 Nov 2026 11:00:00 GMT", now=lambda: now) == 0.0  # in the past
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_tuning_reads_canonical_names_and_deprecated_aliases():
    assert tuning({"timeout": "5", "backoff": 0.5, "retry_attempts": 2, "page_size": 9}, "x") == {
        "timeout_seconds": 5.0, "backoff_seconds": 0.5, "max_attempts": 2}
    assert tuning({"timeout": 5, "timeout_seconds": 7}, "x") == {"timeout_seconds": 7.0}  # canonical wins
    with pytest.raises(ConfigurationError, match="conn: timeout must be a number"):
        tuning({"timeout": "fast"}, "conn")


def test_policy_retries_what_the_taxonomy_calls_retryable():
    waits: list[float] = []
    attempts = iter([Retry("HTTP 503"), Retry("429", retry_after=0.5, throttled=True), "ok"])

    def attempt() -> str:
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    policy = RetryPolicy(max_attempts=2, backoff_seconds=1.0, max_backoff_seconds=4.0)
    assert policy.run(attempt, what="call", sleep=waits.append) == "ok"
    assert waits == [1.0, 0.5]  # throttled attempts have their own budget; Retry-After is honoured


def test_policy_gives_up_with_a_transient_error_and_never_retries_the_rest():
    calls = []

    def failing() -> None:
        calls.append(1)
        raise Retry("HTTP 500")

    with pytest.raises(TransientSourceError, match="call failed after 3 attempts: HTTP 500"):
        RetryPolicy(max_attempts=3, backoff_seconds=0).run(failing, what="call", sleep=lambda s: None)
    assert len(calls) == 3

    def refused() -> None:
        calls.append(1)
        raise AuthenticationError("no")

    with pytest.raises(AuthenticationError):
        RetryPolicy().run(refused, what="call", sleep=lambda s: None)
    assert len(calls) == 4


def test_xml_text_tells_absent_nil_and_empty_apart():
    root = xml.parse('<r xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:x">'
                     '<A>1</A><B/><C i:nil="true"/></r>', "test page")
    assert (xml.text(root, "A"), xml.text(root, "B"), xml.text(root, "C"), xml.text(root, "D")) == ("1", "", None, None)
    assert xml.text(None, "A") is None and xml.child(root, "Z", "Y") is None


def test_normalisers():
    assert postcode(" 1011ab ") == "1011 AB" and postcode("SW1A 1AA") == "SW1A 1AA" and postcode("  ") is None
    assert dutch_postcode("1011 ab") == "1011 AB" and dutch_postcode("B-1000") is None
    assert [gender(v) for v in ("Man", "vrouw", "female", "X", "onbekend", "?", None)] == ["M", "V", "V", "X", "U",
                                                                                        None, None]
    assert part_time_factor(Decimal("24"), Decimal("36")) == Decimal("0.6667")
    assert part_time_factor(Decimal("24"), Decimal("0")) is None and period_id(2026, 3) == "202603"


def test_typed_rows_refuse_missing_and_misspelled_columns():
    values = dict(source_id="1", valid_from=None, valid_to=None, name="X", loonheffingennummer=None,
                  payroll_frequency="month")
    assert EMPLOYER.row(**values) == values
    with pytest.raises(TypeError, match=r"missing columns \['payroll_frequency'\], unknown columns \['payroll_freq'\]"):
        row("employer", **{**{k: v for k, v in values.items() if k != "payroll_frequency"}, "payroll_freq": "month"})


def test_normalized_refuses_hand_built_rows_with_misspelled_columns():
    """A connector that skips ``ENTITIES[e].row(...)`` still cannot stage a misspelled column as NULL:
    ``Normalized.add``/``extend`` and streamed chunks raise TypeError naming entity and columns, no value."""
    from payroll_etl.connectors.base import Normalized

    good = dict(source_id="1", valid_from=None, valid_to=None, name="Secret BV", loonheffingennummer=None,
                payroll_frequency="month")
    bad = {**{k: v for k, v in good.items() if k != "payroll_frequency"}, "payroll_freq": "month"}
    out = Normalized()
    out.add("employer", dict(good))
    out.extend("employer", [dict(good)])
    assert len(out.rows["employer"]) == 2
    for put in (lambda: out.add("employer", dict(bad)), lambda: out.extend("employer", [dict(good), dict(bad)])):
        with pytest.raises(TypeError, match=r"employer row: missing columns \['payroll_frequency'\], "
                                            r"unknown columns \['payroll_freq'\]") as err:
            put()
        assert "Secret" not in str(err.value) and "month" not in str(err.value)
    assert len(out.rows["employer"]) == 2, "nothing of a refused row or batch was appended"
    with pytest.raises(TypeError, match="unknown entity 'employers'"):
        out.add("employers", dict(good))
    out.streams["employer"] = iter([[dict(good)], [dict(bad)]])
    streamed = dict(out.chunks())["employer"]
    assert next(streamed) == [good]
    with pytest.raises(TypeError, match=r"unknown columns \['payroll_freq'\]"):
        next(streamed)
