"""Identity rules across connectors (pure): person by person_key; employment by IKV, else start date; never guessed."""

from __future__ import annotations

from datetime import date

from payroll_etl.identity import Job, Person, mask_id, match_identities

OLD, NEW = "loket_soap", "loket_rest"


def old_person(sid: str, key: str | None) -> Person:
    return Person(OLD, sid, key)


def new_person(sid: str, key: str | None) -> Person:
    return Person(NEW, sid, key)


def test_persons_match_on_person_key_and_employments_on_ikv_then_start_date():
    old_persons = [old_person("p1", "k1"), old_person("p2", "k2")]
    old_jobs = [Job(OLD, "e1", "p1", "1", date(2020, 1, 1)), Job(OLD, "e2", "p1", "2", date(2022, 5, 1)),
                Job(OLD, "e3", "p2", None, date(2019, 3, 1))]
    new_persons = [new_person("N1", "k1"), new_person("N2", "k2"), new_person("N3", "k3")]
    new_jobs = [Job(NEW, "E2", "N1", "2", date(2022, 5, 1)), Job(NEW, "E1", "N1", "1", date(2020, 1, 1)),
                Job(NEW, "E3", "N2", "1", date(2019, 3, 1)),  # IKV only on the new side: start date decides
                Job(NEW, "E4", "N3", "1", date(2026, 11, 28))]  # a hire on the switch night
    m = match_identities(old_persons, old_jobs, new_persons, new_jobs)
    assert m.persons == {"N1": (OLD, "p1"), "N2": (OLD, "p2")}
    assert m.new_persons == ["N3"]
    assert m.employments == {"E1": (OLD, "e1"), "E2": (OLD, "e2"), "E3": (OLD, "e3")}
    assert m.employment_rules == {"E1": "ikv", "E2": "ikv", "E3": "start_date"}
    assert m.new_employments == ["E4"]
    assert not m.ambiguous_persons and not m.ambiguous_employments
    assert m.unmatched_old_persons == [] and m.unmatched_old_employments == []


def test_the_same_person_key_twice_is_ambiguous_not_guessed():
    m = match_identities([old_person("p1", "k1"), old_person("p2", "k1")], [], [new_person("N1", "k1")], [])
    assert m.ambiguous_persons == {"N1": "two candidates with the same person_key"}
    assert m.persons == {}
    m = match_identities([old_person("p1", "k1")], [], [new_person("N1", "k1"), new_person("N2", "k1")], [])
    assert set(m.ambiguous_persons) == {"N1", "N2"}


def test_a_missing_bsn_on_either_side_is_ambiguous_while_the_other_side_has_someone_unmatched():
    m = match_identities([old_person("p1", "k1"), old_person("p2", "k2")], [],
                         [new_person("N1", "k1"), new_person("N2", None)], [])
    assert m.ambiguous_persons == {"N2": "BSN missing on the new side"}
    assert m.unmatched_old_persons == [(OLD, "p2")]
    m = match_identities([old_person("p1", "k1"), old_person("p2", None)], [],
                         [new_person("N1", "k1"), new_person("N2", "k2")], [])
    assert m.ambiguous_persons == {"N2": "BSN missing on the old side"}
    # nobody left on the old side: a person without a BSN is simply new
    m = match_identities([old_person("p1", "k1")], [], [new_person("N1", "k1"), new_person("N2", None)], [])
    assert m.new_persons == ["N2"] and not m.ambiguous_persons


def test_two_employment_candidates_are_quarantined_with_their_reason():
    old_jobs = [Job(OLD, "e1", "p1", None, date(2020, 1, 1)), Job(OLD, "e2", "p1", None, date(2020, 1, 1)),
                Job(OLD, "e3", "p1", "7", date(2021, 1, 1)), Job(OLD, "e4", "p1", "7", date(2022, 1, 1))]
    new_jobs = [Job(NEW, "E1", "N1", None, date(2020, 1, 1)), Job(NEW, "E3", "N1", "7", date(2021, 1, 1)),
                Job(NEW, "E9", "GONE", "1", date(2021, 1, 1))]
    m = match_identities([old_person("p1", "k1")], old_jobs, [new_person("N1", "k1")], new_jobs)
    assert m.ambiguous_employments == {"E1": "two candidates with the same start date",
                                       "E3": "two candidates with the same IKV number",
                                       "E9": "its person is not in the load"}
    assert m.employments == {}
    assert m.counts()["employments"]["ambiguous"] == 3


def test_two_new_employments_continuing_one_old_one_are_both_ambiguous():
    old_jobs = [Job(OLD, "e1", "p1", "1", date(2020, 1, 1))]
    new_jobs = [Job(NEW, "E1", "N1", "1", date(2020, 1, 1)), Job(NEW, "E2", "N1", "1", date(2024, 1, 1))]
    m = match_identities([old_person("p1", "k1")], old_jobs, [new_person("N1", "k1")], new_jobs)
    assert set(m.ambiguous_employments) == {"E1", "E2"}
    assert m.unmatched_old_employments == []


def test_masked_ids_keep_no_more_than_six_characters():
    assert mask_id("2c7da6bf-9a91-5716-ac68-2a7de1e12560") == "2c7d…60"
    assert mask_id("M1") == "M1"
