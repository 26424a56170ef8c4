"""The mutation feed: every type, its ingangsdatum, old/new values, CORRECTIE, no duplicates on re-run."""

from __future__ import annotations

import json
from datetime import date

from history_support import batch, employee, employment, pkey, query, salary, snapshot, ts

from payroll_etl.warehouse.load import load

ER = "acme"
BSN = {"E1": "111222333", "E2": "123456782", "E3": "249566758"}
P_JAN, P_FEB, P_MAR = date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)


def _baseline(url: str) -> None:
    load(url, batch(ER, date(2025, 1, 15), ts("2025-01-20"), {
        "employee": [employee(ER, "E1", P_JAN, BSN["E1"]), employee(ER, "E2", P_JAN, BSN["E2"])],
        "employment": [employment(ER, "M1", "E1", date(2020, 1, 1), "40", "1.0"),
                       employment(ER, "M2", "E2", date(2021, 6, 1), "32", "0.8", start=date(2021, 6, 1))],
        "salary": [salary(ER, "S1", "M1", P_JAN, "4000"), salary(ER, "S2", "M2", P_JAN, "3000")],
    }, {k: BSN[k] for k in ("E1", "E2")}))


def _february():
    return batch(ER, date(2025, 2, 15), ts("2025-02-20"), {
        "employee": [
            employee(ER, "E1", P_FEB, BSN["E1"], street="Kerkstraat", house_number="7", civil_status="gehuwd"),
            employee(ER, "E2", P_FEB, BSN["E2"], date_of_death=date(2025, 2, 10)),
            employee(ER, "E3", P_FEB, BSN["E3"])],
        "employment": [
            employment(ER, "M1", "E1", date(2020, 1, 1), "40", "1.0"),
            employment(ER, "M1", "E1", P_FEB, "32", "0.8"),
            employment(ER, "M2", "E2", date(2021, 6, 1), "32", "0.8", start=date(2021, 6, 1),
                       end_date=date(2025, 2, 10), end_reason="overlijden"),
            employment(ER, "M3", "E3", P_FEB, "24", "0.6", start=P_FEB)],
        "salary": [salary(ER, "S1", "M1", P_JAN, "4000"), salary(ER, "S1", "M1", P_FEB, "4200"),
                   salary(ER, "S2", "M2", P_JAN, "3000"), salary(ER, "S3", "M3", P_FEB, "2500")],
    }, BSN)


def _march():
    """The January wage of M1 turns out to have been 4050: a retroactive correction."""
    feb = _february()
    rows = {name: t.to_pylist() for name, t in feb.tables.items()}
    rows["salary"][0]["gross_amount"] = rows["salary"][0]["gross_amount"] + 50
    for r in rows["employee"]:
        r["valid_from"] = P_MAR
    return batch(ER, date(2025, 3, 15), ts("2025-03-20"), rows, BSN)


def _mutations(url: str) -> list[dict]:
    cols = ["mutation_id", "mutation_type", "corrected_type", "mutation_key", "person_key", "employee_source_id",
            "employment_source_id", "ingangsdatum", "period_id", "old_values", "new_values"]
    rows = query(url, f"SELECT {', '.join(cols)} FROM mutation ORDER BY mutation_type, mutation_key, ingangsdatum")
    return [dict(zip(cols, r)) for r in rows]


def test_baseline_load_emits_nothing(url):
    _baseline(url)
    assert _mutations(url) == []


def test_every_mutation_type_with_its_ingangsdatum(url):
    _baseline(url)
    load(url, _february())
    got = {(m["mutation_type"], m["mutation_key"]): m for m in _mutations(url)}
    assert {(t, k): got[(t, k)]["ingangsdatum"] for t, k in got} == {
        ("ADRES", "E1"): P_FEB,  # snapshot: first day of the period in which it appeared
        ("BURGERLIJKE_STAAT", "E1"): P_FEB,
        ("OVERLIJDEN", "E2"): date(2025, 2, 10),  # the source's date
        ("UIT_DIENST", "M2"): date(2025, 2, 10),
        ("IN_DIENST", "M3"): P_FEB,
        ("PARTTIME", "M1"): P_FEB,
        ("SALARIS", "M1|BASIS"): P_FEB,
    }
    parttime = got[("PARTTIME", "M1")]
    assert json.loads(parttime["old_values"])["part_time_factor"] == "1.0000"
    assert json.loads(parttime["new_values"])["part_time_factor"] == "0.8000"
    assert parttime["person_key"] == pkey(BSN["E1"]) and parttime["employee_source_id"] == "E1"
    sal = got[("SALARIS", "M1|BASIS")]
    assert (json.loads(sal["old_values"])["gross_amount"], json.loads(sal["new_values"])["gross_amount"]) == \
        ("4000.0000", "4200.0000")
    assert sal["person_key"] == pkey(BSN["E1"])
    adres = got[("ADRES", "E1")]
    assert json.loads(adres["old_values"])["street"] == "Dorpsstraat"
    assert json.loads(adres["new_values"])["street"] == "Kerkstraat"
    assert got[("IN_DIENST", "M3")]["person_key"] == pkey(BSN["E3"])
    assert got[("IN_DIENST", "M3")]["old_values"] is None
    assert all(m["period_id"] == "202502" for m in got.values())
    # never the BSN: persons are identified by person_key only
    text = json.dumps(_mutations(url), default=str)
    assert not any(b in text for b in BSN.values())


def test_retroactive_change_is_a_correctie_with_the_original_date(url):
    _baseline(url)
    load(url, _february())
    load(url, _march())
    new = [m for m in _mutations(url) if m["period_id"] == "202503"]
    assert [(m["mutation_type"], m["corrected_type"], m["mutation_key"], m["ingangsdatum"]) for m in new] == [
        ("CORRECTIE", "SALARIS", "M1|BASIS", P_JAN)]
    assert json.loads(new[0]["old_values"])["gross_amount"] == "4000.0000"
    assert json.loads(new[0]["new_values"])["gross_amount"] == "4050.0000"


def test_changed_exit_date_is_a_correctie_of_uit_dienst(url):
    _baseline(url)
    load(url, _february())
    rows = {name: t.to_pylist() for name, t in _february().tables.items()}
    rows["employment"][2]["end_date"] = date(2025, 2, 12)
    load(url, batch(ER, date(2025, 3, 15), ts("2025-03-20"), rows, BSN))
    new = [m for m in _mutations(url) if m["period_id"] == "202503"]
    assert [(m["mutation_type"], m["corrected_type"], m["ingangsdatum"]) for m in new] == [
        ("CORRECTIE", "UIT_DIENST", date(2025, 2, 12))]


def test_rerun_never_duplicates_mutations(url):
    _baseline(url)
    load(url, _february())
    first = snapshot(url)
    ids = [m["mutation_id"] for m in _mutations(url)]
    again = _february()
    again.recorded_at = again.started_at = ts("2025-02-21")  # the same logical date re-run a day later
    load(url, again)
    assert snapshot(url) == first
    assert [m["mutation_id"] for m in _mutations(url)] == ids
    assert len(set(ids)) == len(ids) == 7
