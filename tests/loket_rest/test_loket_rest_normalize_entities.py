"""normalize reads the landing one entity at a time and gives the same rows as from a plain page list."""

from __future__ import annotations

import json
from collections.abc import Iterator

from loket_rest_support import LOGICAL_DATE, MemorySink, connector, employer, request_for

from payroll_etl.connectors.base import RawPage
from payroll_etl.connectors.loket_rest import LoketRestConnector
from payroll_etl.parsing import Parser


class _OneEntityAtATime:
    """A re-readable landing (as ``landing.LandedPages``) that records how many entities are open at once."""

    def __init__(self, pages: list[RawPage]):
        self.pages = pages
        self.open = self.most_open = 0

    @property
    def entities(self) -> list[str]:
        return sorted({p.entity for p in self.pages})

    def entity(self, name: str) -> Iterator[RawPage]:
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            yield from (p for p in self.pages if p.entity == name)
        finally:
            self.open -= 1


def _run(pages, emp):
    parser = Parser(emp.employer)
    out = LoketRestConnector.normalize(pages, emp, request_for(emp).period, parser)
    return out.rows, [i.__dict__ for i in out.issues]


def test_entity_at_a_time_gives_the_rows_of_a_page_list(sim):
    emp = employer("bakkerij_de_vries")
    sink = MemorySink()
    connector(sim, page_size=7).extract(request_for(emp, LOGICAL_DATE), sink)
    landed = _OneEntityAtATime(sink.pages)
    assert _run(landed, emp) == _run(list(sink.pages), emp)
    assert landed.most_open == 1 and landed.open == 0


def test_a_repeated_employment_keeps_its_first_place_and_its_last_item(sim):
    emp = employer("bakkerij_de_vries")
    sink = MemorySink()
    connector(sim).extract(request_for(emp, LOGICAL_DATE), sink)
    first = next(p for p in sink.pages if p.entity == "employment")
    body = json.loads(first.payload)
    changed = dict(body["_embedded"][0], incomeRelationshipNumber=999)
    again = RawPage("employment", json.dumps({**body, "_embedded": [changed]}), first.url, first.source_id,
                    first.content_type)
    pages = [*sink.pages, again]
    rows, _issues = _run(_OneEntityAtATime(pages), emp)
    assert (rows, _issues) == _run(pages, emp)
    ids = [r["source_id"] for r in rows["employment"]]
    assert len(ids) == len(set(ids)) and ids[0] == str(changed["id"])
    assert rows["employment"][0]["employment_number"] == "999"
