"""A connector switch in the employer config: history, publisher per date, which DAGs are scheduled."""

from __future__ import annotations

from datetime import date

import pytest
import yaml
from cutover_support import EMPLOYER, SHADOW, SWITCH, SWITCH_NIGHT, history_config

from payroll_etl.config import load_config
from payroll_etl.errors import ConfigurationError

SOAP, REST = "payroll_loket_soap_schoonmaak_west", "payroll_loket_rest_schoonmaak_west"


def test_switch_publisher_per_date_and_only_the_new_dag_scheduled(tmp_path):
    before = history_config(tmp_path, SWITCH, today=date(2026, 11, 27))
    after = history_config(tmp_path, SWITCH, today=SWITCH_NIGHT)
    for cfgs in (before, after):
        soap, rest = cfgs["loket_soap"], cfgs["loket_rest"]
        assert soap.publisher_on(date(2026, 11, 27)) == "loket_soap"
        assert rest.publisher_on(SWITCH_NIGHT) == "loket_rest"
        assert soap.publishes_on(date(2025, 1, 1)) and not soap.publishes_on(SWITCH_NIGHT)
        assert soap.other_connectors == ("loket_rest",) and rest.other_connectors == ("loket_soap",)
        assert (soap.dag_id, rest.dag_id) == (SOAP, REST)
    # the day before the cutover the old DAG runs; from the cutover on only the new one
    assert before["loket_soap"].schedule == "0 2 * * *" and before["loket_rest"].schedule is None
    assert after["loket_soap"].schedule is None and after["loket_rest"].schedule == "0 2 * * *"


def test_rolling_back_is_one_more_entry(tmp_path):
    back = [*SWITCH, {"connector": "loket_soap", "conn_id": SOAP, "from": date(2026, 12, 4)}]
    cfgs = history_config(tmp_path, back, today=date(2026, 12, 4))
    soap, rest = cfgs["loket_soap"], cfgs["loket_rest"]
    assert [soap.publisher_on(d) for d in (date(2026, 11, 27), SWITCH_NIGHT, date(2026, 12, 3), date(2026, 12, 4))] \
        == ["loket_soap", "loket_rest", "loket_rest", "loket_soap"]
    assert soap.schedule == "0 2 * * *" and rest.schedule is None


def test_a_shadow_runs_beside_the_publisher_and_publishes_nothing(tmp_path):
    cfgs = history_config(tmp_path, SHADOW, today=date(2026, 11, 27))
    soap, rest = cfgs["loket_soap"], cfgs["loket_rest"]
    assert soap.schedule == rest.schedule == "0 2 * * *"
    assert rest.shadow and not rest.publishes_on(date(2026, 11, 27)) and soap.publishes_on(date(2030, 1, 1))
    planned = [SHADOW[0], {**SHADOW[1], "from": date(2026, 12, 1)}]  # a planned cutover keeps shadowing until then
    cfgs = history_config(tmp_path, planned, today=date(2026, 11, 27))
    assert cfgs["loket_rest"].schedule == "0 2 * * *" and not cfgs["loket_rest"].publishes_on(date(2026, 11, 30))
    assert cfgs["loket_rest"].publishes_on(date(2026, 12, 1))


def test_the_factory_builds_the_retired_connector_unscheduled(tmp_path):
    from payroll_etl.airflow.dag_factory import build_all

    cfgs = history_config(tmp_path, SWITCH, today=SWITCH_NIGHT)
    pipeline = load_config(tmp_path / "employers.yaml", today=SWITCH_NIGHT)
    dags = build_all(pipeline)
    assert cfgs["loket_soap"].dag_id in dags and cfgs["loket_rest"].dag_id in dags
    assert type(dags[SOAP].timetable).__name__ == "NullTimetable"  # manual runs only, history kept in the UI
    assert dags[SOAP].deadline is None
    assert type(dags[REST].timetable).__name__ == "PayPeriodTimetable"  # the nightly, backfills per pay period
    assert pipeline.employer(EMPLOYER).connector == "loket_rest"


@pytest.mark.parametrize("connectors, message", [
    ([{"connector": "loket_soap", "conn_id": SOAP}, {"connector": "loket_rest", "conn_id": REST}],
     "'from' (the cutover date) is required"),
    ([{"connector": "loket_soap", "conn_id": SOAP}, {"connector": "loket_soap", "conn_id": SOAP, "from": "2026-11-28"}],
     "the same connector twice in a row"),
    ([{"connector": "loket_soap", "conn_id": SOAP, "from": "2026-11-28"},
      {"connector": "loket_rest", "conn_id": REST, "from": "2026-11-01"}], "'from' dates must increase"),
    ([{"connector": "loket_soap", "conn_id": SOAP, "shadow": True}, {"connector": "loket_rest", "conn_id": REST,
                                                                     "from": "2026-11-28"}], "only the last"),
    ([{"connector": "loket_xml", "conn_id": SOAP}], "connector must be one of"),
    ([{"connector": "loket_soap"}], "needs connector and conn_id"),
    ([{"connector": "loket_soap", "conn_id": SOAP, "from": "28-11-2026"}], "must be a date"),
    ([{"connector": "loket_soap", "conn_id": SOAP, "until": "2026-11-27"}], "unknown keys ['until']"),
])
def test_invalid_histories_are_refused_with_the_reason(tmp_path, connectors, message):
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        history_config(tmp_path, connectors)


def test_an_employer_twice_is_refused(tmp_path):
    from e2e_support import ROOT

    raw = yaml.safe_load((ROOT / "include" / "employers.yaml").read_text())
    entry = next(e for e in raw["employers"] if e["employer"] == EMPLOYER)
    raw["employers"].append({**entry, "connector": "loket_rest", "conn_id": REST})
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigurationError, match="appears twice"):
        load_config(tmp_path / "e.yaml")
