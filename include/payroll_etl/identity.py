"""One identity per employer across connectors: matching one connector's persons and employments to another's.

Rules (issue 17, docs/warehouse.md "Connector switches"):

* a **person** is the same person whatever connector reports them when the ``person_key`` (keyed
  HMAC of the BSN) is equal;
* an **employment** is the same employment when employer, person and IKV number
  (``employment_number``) agree; failing that (IKV missing on a side, or no IKV match), when person
  and start date agree;
* a match that is **ambiguous** is never guessed: two candidates for one record, two records for
  one candidate, or a BSN missing on one side while the other side still has unmatched persons.
  The new side's record is then quarantined and reported.

Pure Python over small tuples (one employer at a time): the load's cutover step and the shadow
comparison report (``payroll_etl.compare``) share it. Nothing here sees a BSN: persons are
``person_key`` only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

OldKey = tuple[str, str]  # (connector, source_id)


@dataclass(frozen=True)
class Person:
    """A person as one connector reports it: its source id and person_key (None: no BSN)."""

    connector: str
    source_id: str
    person_key: str | None


@dataclass(frozen=True)
class Job:
    """An employment as one connector reports it (its latest version's identifying fields)."""

    connector: str
    source_id: str
    employee_source_id: str | None
    employment_number: str | None
    start_date: date | None


@dataclass
class Match:
    """The outcome of :func:`match_identities`.

    ``persons``/``employments`` map a new source id to the old (connector, source id) it continues,
    ``employment_rules`` says by which rule (``ikv`` | ``start_date``); ``ambiguous_*`` map a new
    source id to the reason it was not matched; ``new_*`` are records the old side never had (a hire
    on the switch night); ``unmatched_old_*`` are old records the new side does not state.
    """

    persons: dict[str, OldKey] = field(default_factory=dict)
    employments: dict[str, OldKey] = field(default_factory=dict)
    employment_rules: dict[str, str] = field(default_factory=dict)
    ambiguous_persons: dict[str, str] = field(default_factory=dict)
    ambiguous_employments: dict[str, str] = field(default_factory=dict)
    new_persons: list[str] = field(default_factory=list)
    new_employments: list[str] = field(default_factory=list)
    unmatched_old_persons: list[OldKey] = field(default_factory=list)
    unmatched_old_employments: list[OldKey] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """Counts only (for ``load_run.rows`` and reports): never an id."""
        return {
            "persons": {"matched": len(self.persons), "new": len(self.new_persons),
                        "ambiguous": len(self.ambiguous_persons), "unmatched_old": len(self.unmatched_old_persons)},
            "employments": {"matched": len(self.employments), "new": len(self.new_employments),
                            "ambiguous": len(self.ambiguous_employments),
                            "unmatched_old": len(self.unmatched_old_employments),
                            **{f"by_{r}": sum(1 for v in self.employment_rules.values() if v == r)
                               for r in ("ikv", "start_date")}},
        }


def match_identities(old_persons: list[Person], old_jobs: list[Job], new_persons: list[Person],
                     new_jobs: list[Job]) -> Match:
    """Match the new connector's persons and employments to the old connector's (see module doc).

    Persons by person_key (the keyed BSN); employments of matched persons by IKV number, else start
    date. Anything that could be two things is ambiguous, never guessed. Pure: no I/O, no errors.
    """
    m = Match()
    _match_persons(m, old_persons, new_persons)
    _match_employments(m, old_jobs, new_persons, new_jobs)
    return m


def _match_persons(m: Match, old_persons: list[Person], new_persons: list[Person]) -> None:
    """Fill ``m``'s person matches, new persons, ambiguous persons and unmatched old persons."""
    old_by_key: dict[str, list[Person]] = defaultdict(list)
    for p in old_persons:
        if p.person_key:
            old_by_key[p.person_key].append(p)
    new_by_key: dict[str, list[Person]] = defaultdict(list)
    for p in new_persons:
        if p.person_key:
            new_by_key[p.person_key].append(p)
    pending: list[Person] = []
    for p in new_persons:
        if not p.person_key:
            continue
        candidates = old_by_key.get(p.person_key, [])
        if len(candidates) > 1 or (candidates and len(new_by_key[p.person_key]) > 1):
            m.ambiguous_persons[p.source_id] = "two candidates with the same person_key"
        elif candidates:
            m.persons[p.source_id] = (candidates[0].connector, candidates[0].source_id)
        else:
            pending.append(p)
    taken = set(m.persons.values()) | {(o.connector, o.source_id) for p in new_persons
                                       if p.source_id in m.ambiguous_persons
                                       for o in old_by_key.get(p.person_key or "", [])}
    old_left = [p for p in old_persons if (p.connector, p.source_id) not in taken]
    old_left_without_bsn = any(not p.person_key for p in old_left)
    for p in pending:  # no old person with this key: new, unless an old person without a BSN could be them
        if old_left_without_bsn:
            m.ambiguous_persons[p.source_id] = "BSN missing on the old side"
        else:
            m.new_persons.append(p.source_id)
    for p in new_persons:
        if not p.person_key:
            if old_left:
                m.ambiguous_persons[p.source_id] = "BSN missing on the new side"
            else:
                m.new_persons.append(p.source_id)
    m.unmatched_old_persons = sorted((p.connector, p.source_id) for p in old_left)


def _choose_employments(m: Match, old_jobs_of: dict[OldKey, list[Job]], new_persons: list[Person],
                        new_jobs: list[Job]) -> dict[str, tuple[Job, str]]:
    """Per new employment of a matched person the old one it continues (by IKV number, else start
    date) and the rule used; new and ambiguous employments go into ``m``."""
    chosen: dict[str, tuple[Job, str]] = {}
    waiting: list[tuple[Job, list[Job]]] = []
    stated = {p.source_id for p in new_persons}
    for j in new_jobs:
        person = j.employee_source_id or ""
        if person in m.ambiguous_persons:
            m.ambiguous_employments[j.source_id] = "its person is ambiguous"
            continue
        if person not in stated:  # e.g. its employee was quarantined: cannot tell whose it is
            m.ambiguous_employments[j.source_id] = "its person is not in the load"
            continue
        if person not in m.persons:
            m.new_employments.append(j.source_id)
            continue
        jobs = old_jobs_of.get(m.persons[person], [])
        by_ikv = [o for o in jobs if j.employment_number and o.employment_number == j.employment_number]
        if len(by_ikv) > 1:
            m.ambiguous_employments[j.source_id] = "two candidates with the same IKV number"
        elif by_ikv:
            chosen[j.source_id] = (by_ikv[0], "ikv")
        else:
            waiting.append((j, jobs))
    ikv_taken = {(o.connector, o.source_id) for o, _ in chosen.values()}
    for j, jobs in waiting:  # else: person and start date
        by_start = [o for o in jobs if (o.connector, o.source_id) not in ikv_taken
                    and o.start_date is not None and o.start_date == j.start_date]
        if len(by_start) > 1:
            m.ambiguous_employments[j.source_id] = "two candidates with the same start date"
        elif by_start:
            chosen[j.source_id] = (by_start[0], "start_date")
        else:
            m.new_employments.append(j.source_id)
    return chosen


def _match_employments(m: Match, old_jobs: list[Job], new_persons: list[Person], new_jobs: list[Job]) -> None:
    """Fill ``m``'s employment matches; two new employments claiming one old one are both ambiguous."""
    old_jobs_of: dict[OldKey, list[Job]] = defaultdict(list)
    for j in old_jobs:
        old_jobs_of[(j.connector, j.employee_source_id or "")].append(j)
    chosen = _choose_employments(m, old_jobs_of, new_persons, new_jobs)
    claims: dict[OldKey, list[str]] = defaultdict(list)
    for sid, (o, _) in chosen.items():
        claims[(o.connector, o.source_id)].append(sid)
    for old_key, sids in claims.items():
        if len(sids) > 1:  # two new employments continue the same old one: do not guess which
            for sid in sids:
                m.ambiguous_employments[sid] = "two records for one candidate"
        else:
            m.employments[sids[0]] = old_key
            m.employment_rules[sids[0]] = chosen[sids[0]][1]
    used = set(m.employments.values()) | {k for k, sids in claims.items() if len(sids) > 1}
    m.unmatched_old_employments = sorted((j.connector, j.source_id) for j in old_jobs
                                         if (j.connector, j.source_id) not in used)


def mask_id(source_id: str | None) -> str:
    """A source id as reports show it: enough to find it again in the source, not a personal value."""
    text = source_id or "-"
    return text if len(text) <= 6 else f"{text[:4]}…{text[-2:]}"
