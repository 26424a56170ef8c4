"""The comparison report's rules (pure): what blocks a switch and what is API capability."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from payroll_etl.compare import Side, compare_sides
from payroll_etl.identity import Person

DAY = date(2026, 11, 27)


def side(connector: str, versions: list[dict], wages: dict[date, str], end: date | None = None) -> Side:
    emp = [{"valid_from": v["valid_from"], "employee_source_id": "P", "employment_number": "1",
            "start_date": date(2019, 1, 1), "end_date": end, "hours_per_week": v.get("hours"),
            "fulltime_hours_per_week": Decimal("38"), "part_time_factor": v.get("ptf")} for v in versions]
    return Side(connector, [Person(connector, "P", "key")], {(connector, "E"): emp},
                {(connector, "E"): {"BASIS": {d: {"gross_amount": Decimal(a), "frequency": "month"}
                                              for d, a in wages.items()}}}, {"employee": 1})


def test_history_depth_and_unstated_values_do_not_block_but_other_values_do():
    old = side("loket_soap", [{"valid_from": date(2019, 1, 1), "hours": Decimal("32"), "ptf": Decimal("0.8421")},
                              {"valid_from": date(2025, 3, 1), "hours": Decimal("38"), "ptf": Decimal("1")}],
               {date(2019, 1, 1): "3000", date(2025, 7, 1): "3100"})
    new = side("loket_rest", [{"valid_from": date(2025, 3, 1), "hours": Decimal("38.0"), "ptf": Decimal("1.0000")}],
               {date(2025, 7, 1): "3100.00"})
    result = compare_sides("acme", DAY, old, new, ["loket_soap"])
    assert result.verdict == "GO", result.reasons
    assert len(result.capability["history depth"]) == 2  # the 2019 hours and wage versions: only SOAP has them

    ended = side("loket_rest", [{"valid_from": date(2025, 3, 1)}], {}, end=date(2026, 12, 31))
    result = compare_sides("acme", DAY, old, ended, ["loket_soap"])
    assert result.capability["not stated by the new connector"]  # no hours, no wage
    assert result.reasons == ["end_date: 1 field difference(s)"]
    assert result.differences["end_date"] == ["employment E: end_date only in the new connector"]

    raised = side("loket_rest", [{"valid_from": date(2025, 3, 1), "hours": Decimal("36"), "ptf": Decimal("0.9474")}],
                  {date(2025, 7, 1): "3150"})
    result = compare_sides("acme", DAY, old, raised, ["loket_soap"])
    assert result.differences["salary"] == ["employment E BASIS: gross_amount differs by +50"]
    assert result.differences["hours_per_week"] == ["employment E: hours_per_week differs by -2"]
    assert result.verdict == "NO-GO"


def test_nothing_published_is_no_go():
    new = side("loket_rest", [{"valid_from": date(2025, 3, 1), "hours": Decimal("38"), "ptf": Decimal("1")}], {})
    empty = Side("", [], {}, {}, {})
    result = compare_sides("acme", DAY, empty, new, [])
    assert result.verdict == "NO-GO"
    assert result.reasons[:2] == ["nothing published to compare with", "persons only in the new connector: 1"]
