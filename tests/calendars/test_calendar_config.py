"""employers.yaml: the pay-calendar settings (payroll_frequency / four_week_tail) are validated."""

from __future__ import annotations

import pytest

from payroll_etl.config import load_config
from payroll_etl.errors import ConfigurationError

BASE = "employers:\n  - {employer: acme, connector: nmbrs, source_ids: [Acme B.V.], conn_id: nmbrs_acme, %s}\n"


@pytest.mark.parametrize("settings", ["payroll_frequency: week", "payroll_frequency: four_weeks, "
                                      "four_week_tail: iso_weeks", "payroll_frequency: month"])
def test_known_calendars_are_accepted(tmp_path, settings):
    path = tmp_path / "employers.yaml"
    path.write_text(BASE % settings)
    cfg = load_config(path).employer("acme")
    assert cfg.payroll_frequency in ("week", "four_weeks", "month")


@pytest.mark.parametrize(("settings", "message"), [("payroll_frequency: quarter", "payroll_frequency must be one of"),
                                                   ("four_week_tail: period15", "four_week_tail must be one of")])
def test_unknown_calendars_are_refused(tmp_path, settings, message):
    path = tmp_path / "employers.yaml"
    path.write_text(BASE % settings)
    with pytest.raises(ConfigurationError, match=message):
        load_config(path)
