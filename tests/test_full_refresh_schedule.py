"""``full_refresh_every``: parsing in the employer config and the decision per run (fixed dates)."""

from __future__ import annotations

from datetime import date

import pytest

from payroll_etl.config import load_config
from payroll_etl.errors import ConfigurationError
from payroll_etl.refresh import decide, full_refresh_due, parse_every

SUNDAY = date(2026, 11, 29)


@pytest.mark.parametrize(("every", "last", "on", "due"), [
    (7, date(2026, 11, 20), date(2026, 11, 26), False),   # 6 days
    (7, date(2026, 11, 20), date(2026, 11, 27), True),    # 7 days
    (7, date(2026, 11, 20), date(2026, 12, 30), True),    # long overdue
    (7, None, date(2026, 11, 27), True),                  # never recorded (older warehouse): at once
    (7, date(2026, 11, 27), date(2026, 11, 20), False),   # a re-run of an older date
    (1, date(2026, 11, 27), date(2026, 11, 27), False),   # the same day again
    ("sunday", date(2026, 11, 23), SUNDAY, True),
    ("zondag", date(2026, 11, 23), SUNDAY, True),
    ("sunday", date(2026, 11, 23), date(2026, 11, 28), False),  # Saturday
    ("sunday", date(2026, 11, 22), date(2026, 11, 30), True),   # Sunday 29th missed: catch up on Monday
    ("sunday", SUNDAY, SUNDAY, False),                           # already done today
    (None, None, SUNDAY, False),
])
def test_due(every, last, on, due):
    assert full_refresh_due(every, last, on) is due


def test_decide_forced_first_backfill():
    state = {"werkgevers": {}, "last_full_refresh": "2026-11-01"}
    assert decide(7, state, SUNDAY, forced=True, backfill=False) == (True, "forced")
    assert decide(7, {}, SUNDAY, forced=False, backfill=False) == (False, "first")
    assert decide(7, state, SUNDAY, forced=False, backfill=True) == (False, None)
    assert decide(7, state, SUNDAY, forced=False, backfill=False) == (True, "scheduled")
    assert decide(None, state, SUNDAY, forced=False, backfill=False) == (False, None)


@pytest.mark.parametrize("value", [-1, "fortnightly", True, 1.5, [7]])
def test_bad_values_are_refused_naming_the_key(value):
    with pytest.raises(ConfigurationError, match="full_refresh_every"):
        parse_every(value, "employers[0]")


def test_employer_config_types_the_setting(tmp_path):
    path = tmp_path / "employers.yaml"
    path.write_text(
        "defaults: {full_refresh_every: 7}\n"
        "employers:\n"
        "  - {employer: acme, connector: loket_soap, source_ids: [2c7da6bf-9a91-5716-ac68-2a7de1e12560], conn_id: c}\n"
        "  - {employer: beta, connector: nmbrs, source_ids: [y], conn_id: d, full_refresh_every: Sunday}\n"
        "  - {employer: gamma, connector: nmbrs, source_ids: [z], conn_id: e, full_refresh_every: 0}\n")
    cfg = load_config(path)
    assert [e.full_refresh_every for e in cfg.employers] == [7, "sunday", None]
    path.write_text("employers:\n  - {employer: acme, connector: loket_soap, "
                    "source_ids: [2c7da6bf-9a91-5716-ac68-2a7de1e12560], conn_id: c, full_refresh_every: weekly}\n")
    with pytest.raises(ConfigurationError, match=r"employers\[0\].*full_refresh_every"):
        load_config(path)


def test_the_shipped_config_refreshes_weekly():
    assert {e.full_refresh_every for e in load_config().employers} == {7}
