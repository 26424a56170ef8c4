"""The cutover load: an employer's new connector takes over from the old one inside one load transaction.

A *cutover load* is a current-view load of the connector that publishes an employer's facts
(``EmployerConfig.publishes_on``) while another connector of the employer's history still has open
facts. Inside the load transaction (``load.load``):

1. :func:`prepare` (before the merge) matches the new connector's persons and employments to the
   old connector's open ones (``payroll_etl.identity``); ambiguous records of the new side are taken
   out of the batch into ``quarantine`` (``identity_ambiguous: <reason>``), never guessed;
2. the entities merge as usual (the new connector's rows are all new to the warehouse);
3. :func:`apply` records both sides' ids in ``identity_crosswalk``, closes the old connector's open
   facts **in transaction time** (``superseded_at``/``superseded_by_run`` = this load; nothing is
   deleted, so as-of queries before the cutover still answer what we believed), including its
   pay-period facts for the periods the new connector now states, and exposes the old facts,
   translated to the new connector's ids, as the mutation feed's "what we believed before"
   (``db.prior``): the switch itself emits nothing, a genuine change on the switch night emits
   its mutation once;
4. the benefit bases of the old connector are superseded by the mart step (``batch.closed_connectors``).

See docs/warehouse.md, "Connector switches", and docs/migration.md (the runbook).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from payroll_etl.identity import Job, Match, Person, match_identities
from payroll_etl.model import ENTITIES
from payroll_etl.warehouse.batch import BEGINNING_OF_TIME, LoadBatch
from payroll_etl.warehouse.db import Db, in_list
from payroll_etl.warehouse.merge import NOW, RUN, batch_params
from payroll_etl.warehouse.schema import HISTORY_COLUMNS, warehouse_columns

STATE_ENTITIES = ("employer", "employee", "employment", "salary")
AMBIGUOUS_CHECK = "identity_ambiguous"


@dataclass
class Plan:
    """What :func:`prepare` decided: the connectors taken over and the identity match."""

    old_connectors: list[str]
    match: Match
    new_person_keys: dict[str, str | None]
    old_person_keys: dict[tuple[str, str], str | None]


def _scope(employer: str, connectors: tuple[str, ...] | list[str], alias: str = "t") -> tuple[str, dict[str, object]]:
    """(``<alias>.employer = :employer AND <alias>.connector IN (...)``, its bound parameters)."""
    within, params = in_list("connector", list(connectors))
    return f"{alias}.employer = :employer AND {alias}.connector IN {within}", {**params, "employer": employer}


def connectors_with_open_facts(db: Db, employer: str, connectors: tuple[str, ...] | list[str]) -> list[str]:
    """Which of ``connectors`` still have open (current) state facts for ``employer``."""
    if not connectors:
        return []
    scope, params = _scope(employer, connectors)
    found = set()
    for entity in STATE_ENTITIES:
        found |= {r[0] for r in db.query(
            f"SELECT DISTINCT connector FROM {entity} t WHERE {scope} AND superseded_at IS NULL", params)}
    return [c for c in connectors if c in found]


def read_open_identities(db: Db, employer: str, connectors: list[str]) -> tuple[list[Person], list[Job]]:
    """The open persons and employments (latest version) of ``connectors`` for ``employer``."""
    scope, params = _scope(employer, connectors)
    persons = [Person(c, s, k) for c, s, k in db.query(
        f"SELECT connector, source_id, max(person_key) FROM employee t WHERE {scope} AND superseded_at IS NULL "
        "GROUP BY connector, source_id ORDER BY connector, source_id", params)]
    jobs = [Job(*row) for row in db.query(
        "SELECT connector, source_id, employee_source_id, employment_number, start_date FROM ("
        "SELECT t.*, ROW_NUMBER() OVER (PARTITION BY connector, source_id ORDER BY valid_from DESC) AS rk "
        f"FROM employment t WHERE {scope} AND superseded_at IS NULL) x WHERE rk = 1 "
        "ORDER BY connector, source_id", params)]
    return persons, jobs


def staged_identities(connector: str, tables: dict[str, Any]) -> tuple[list[Person], list[Job]]:
    """Persons and employments (latest version per employment) of one run's canonical tables."""
    persons: dict[str, Person] = {}
    if "employee" in tables:
        t = tables["employee"]
        for sid, key in zip(t.column("source_id").to_pylist(), t.column("person_key").to_pylist()):
            persons.setdefault(sid, Person(connector, sid, key))
    jobs: dict[str, tuple[Any, Job]] = {}
    if "employment" in tables:
        t = tables["employment"]
        cols = [t.column(c).to_pylist() for c in
                ("source_id", "employee_source_id", "employment_number", "start_date", "valid_from")]
        for sid, person, number, start, valid_from in zip(*cols):
            if sid not in jobs or (valid_from or BEGINNING_OF_TIME) >= (jobs[sid][0] or BEGINNING_OF_TIME):
                jobs[sid] = (valid_from, Job(connector, sid, person, number, start))
    return list(persons.values()), [j for _, j in jobs.values()]


def prepare(db: Db, batch: LoadBatch) -> Plan | None:
    """Before the merge: is this a cutover load? If so, match identities and quarantine ambiguous records.

    Returns None for an ordinary load (no other connector of the employer has open facts).
    Mutates ``batch``: ambiguous employees, employments, their wage lines and payroll results leave
    ``batch.tables`` and are added to ``batch.quarantine`` (the run's status becomes ``partial``).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if batch.past_view or not batch.other_connectors:
        return None
    old = connectors_with_open_facts(db, batch.employer, batch.other_connectors)
    if not old:
        return None
    old_persons, old_jobs = read_open_identities(db, batch.employer, old)
    new_persons, new_jobs = staged_identities(batch.connector, batch.tables)
    match = match_identities(old_persons, old_jobs, new_persons, new_jobs)
    drop = {"employee": ("source_id", match.ambiguous_persons),
            "employment": ("source_id", match.ambiguous_employments),
            "salary": ("employment_source_id", match.ambiguous_employments),
            "payroll_result": ("employment_source_id", match.ambiguous_employments)}
    for entity, (column, reasons) in drop.items():
        table = batch.tables.get(entity)
        if table is None or not reasons:
            continue
        hit = pc.is_in(table.column(column), value_set=pa.array(sorted(reasons), pa.string()))
        hit = pc.fill_null(hit, False)
        for row in table.filter(hit).select(["source_id", "valid_from", column]).to_pylist():
            batch.quarantine.append({
                "load_run_id": batch.load_run_id, "connector": batch.connector, "employer": batch.employer,
                "entity": entity, "source_id": row["source_id"], "valid_from": row["valid_from"],
                "failing_checks": f"{AMBIGUOUS_CHECK}: {reasons[row[column]]}",
                "landing_ref": batch.landing_ref or "", "quarantined_at": batch.recorded_at})
        batch.tables[entity] = table.filter(pc.invert(hit))
    if match.ambiguous_persons or match.ambiguous_employments:
        batch.status = "partial"
    return Plan(old, match, {p.source_id: p.person_key for p in new_persons},
                {(p.connector, p.source_id): p.person_key for p in old_persons})


def _crosswalk_rows(batch: LoadBatch, plan: Plan, existing: dict[tuple[str, str, str], str]) -> list[dict[str, Any]]:
    m = plan.match
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}

    def add(entity: str, connector: str, source_id: str, identity: str, rule: str) -> None:
        key = (entity, connector, source_id)
        if key not in existing and key not in rows:
            rows[key] = {"employer": batch.employer, "entity": entity, "connector": connector,
                         "source_id": source_id, "identity_id": identity, "match_rule": rule,
                         "load_run_id": batch.load_run_id, "recorded_at": batch.recorded_at}

    def person_identity(connector: str, source_id: str, key: str | None) -> str:
        return existing.get(("employee", connector, source_id)) or key or f"{connector}:{source_id}"

    def job_identity(connector: str, source_id: str) -> str:
        return existing.get(("employment", connector, source_id)) or f"{connector}:{source_id}"

    for (connector, sid), key in plan.old_person_keys.items():
        add("employee", connector, sid, person_identity(connector, sid, key), "own")
    for sid, (connector, old_sid) in m.persons.items():
        add("employee", batch.connector, sid,
            person_identity(connector, old_sid, plan.old_person_keys.get((connector, old_sid))), "person_key")
    for sid in m.new_persons:
        add("employee", batch.connector, sid, person_identity(batch.connector, sid, plan.new_person_keys.get(sid)),
            "own")
    for connector, sid in m.unmatched_old_employments + sorted(set(m.employments.values())):
        add("employment", connector, sid, job_identity(connector, sid), "own")
    for sid, (connector, old_sid) in m.employments.items():
        add("employment", batch.connector, sid, job_identity(connector, old_sid), m.employment_rules[sid])
    for sid in m.new_employments:
        add("employment", batch.connector, sid, job_identity(batch.connector, sid), "own")
    return list(rows.values())


def _translated(entity: str, batch: LoadBatch, replace: dict[str, str], joins: str, where: str) -> str:
    cols = [*warehouse_columns(ENTITIES[entity]), *HISTORY_COLUMNS]
    select = ", ".join(f'{replace[c]} AS "{c}"' if c in replace else f't."{c}"' for c in cols)
    return f"SELECT {select} FROM {entity} t {joins} WHERE t.employer = CAST(:employer AS VARCHAR) AND {where}"


def prior_relation(entity: str) -> str:
    """The relation the mutation feed reads "what we believed before" from during a cutover load."""
    cols = ", ".join(f'"{c}"' for c in (*warehouse_columns(ENTITIES[entity]), *HISTORY_COLUMNS))
    return f"(SELECT {cols} FROM {entity} UNION ALL SELECT {cols} FROM xp_{entity})"


def _write_crosswalk(db: Db, batch: LoadBatch, plan: Plan) -> None:
    """Add the identity_crosswalk rows of this cutover (identities already recorded keep their id)."""
    from payroll_etl.warehouse.records import insert_rows

    existing = {(e, c, s): i for e, c, s, i in db.query(
        "SELECT entity, connector, source_id, identity_id FROM identity_crosswalk WHERE employer = :employer",
        {"employer": batch.employer})}
    insert_rows(db, "identity_crosswalk", _crosswalk_rows(batch, plan, existing))


def _close(db: Db, batch: LoadBatch, entity: str, where: str, params: dict[str, object]) -> int:
    """Supersede the rows of ``entity t`` matching ``where`` with this run; returns how many."""
    params = {**params, "now": batch.recorded_at, "run": batch.load_run_id}
    count = int(db.query(f"SELECT count(*) FROM {entity} t WHERE {where}", params)[0][0])
    db.execute(f"UPDATE {entity} t SET superseded_at = CAST(:now AS TIMESTAMPTZ), "
               f"superseded_by_run = CAST(:run AS VARCHAR) WHERE {where}", params)
    return count


def _close_old_facts(db: Db, batch: LoadBatch, old: list[str]) -> dict[str, int]:
    """Close the old connectors' open state facts, and their pay-period facts for the periods the new
    connector states (no period counted twice). Returns closed row counts per entity."""
    scope, params = _scope(batch.employer, old)
    open_rows = f"{scope} AND t.superseded_at IS NULL"
    closed = {entity: _close(db, batch, entity, open_rows, params) for entity in STATE_ENTITIES}
    results = batch.tables.get("payroll_result")
    if results is not None and results.num_rows:
        within, ids = in_list("period", sorted(set(results.column("period_id").to_pylist()) - {None}))
        closed["payroll_result"] = _close(db, batch, "payroll_result", f"{open_rows} AND t.period_id IN {within}",
                                          {**params, **ids})
    periods = batch.tables.get("payroll_period")
    if periods is not None and periods.num_rows:
        pairs = sorted(set(zip(periods.column("year").to_pylist(), periods.column("period_number").to_pylist())))
        match = " OR ".join(f"(t.year = :y_{i} AND t.period_number = :n_{i})" for i in range(len(pairs)))
        bound = {**params, **{f"y_{i}": y for i, (y, _) in enumerate(pairs)},
                 **{f"n_{i}": n for i, (_, n) in enumerate(pairs)}}
        closed["payroll_period"] = _close(db, batch, "payroll_period", f"{open_rows} AND ({match})", bound)
    return closed


def _translate_priors(db: Db, batch: LoadBatch, plan: Plan) -> None:
    """Temp tables ``xp_<entity>``: the old connector's facts closed by this run, under the new
    connector's ids (via the match), and ``db.prior`` pointing the mutation feed at them."""
    import pyarrow as pa

    m = plan.match
    mapping = [("employee", c, s, new) for new, (c, s) in m.persons.items()]
    mapping += [("employment", c, s, new) for new, (c, s) in m.employments.items()]
    db.stage("xw_map", pa.table({
        "entity": pa.array([r[0] for r in mapping], pa.string()),
        "old_connector": pa.array([r[1] for r in mapping], pa.string()),
        "old_source_id": pa.array([r[2] for r in mapping], pa.string()),
        "new_source_id": pa.array([r[3] for r in mapping], pa.string())}),
        {"entity": "TEXT", "old_connector": "TEXT", "old_source_id": "TEXT", "new_source_id": "TEXT"})
    now, run = NOW, RUN
    closed_here = f"t.superseded_by_run = {run} AND t.superseded_at = {now}"
    new_conn = "CAST(:connector AS VARCHAR)"

    def on(entity: str, alias: str, column: str) -> str:
        return (f"JOIN xw_map {alias} ON {alias}.entity = '{entity}' AND {alias}.old_connector = t.connector "
                f"AND {alias}.old_source_id = t.{column}")

    relations = {
        # a snapshot: the open version, aligned with the new connector's first version (1900-01-01)
        "employee": _translated("employee", batch, {"connector": new_conn, "source_id": "m.new_source_id",
                                                    "valid_from": "CAST(:beginning AS DATE)"},
                                on("employee", "m", "source_id"), f"{closed_here} AND t.valid_to IS NULL"),
        "employment": _translated("employment", batch, {
            "connector": new_conn, "source_id": "m.new_source_id",
            "employee_source_id": "coalesce(pm.new_source_id, t.employee_source_id)"},
            on("employment", "m", "source_id") + " LEFT " + on("employee", "pm", "employee_source_id"), closed_here),
        "salary": _translated("salary", batch, {"connector": new_conn, "employment_source_id": "m.new_source_id"},
                              on("employment", "m", "employment_source_id"), closed_here),
    }
    for entity, select in relations.items():
        db.execute(f"DROP TABLE IF EXISTS xp_{entity}")
        db.execute(f"CREATE TEMP TABLE xp_{entity} AS {select}",
                   {**batch_params(batch), "beginning": BEGINNING_OF_TIME})
    db.prior = {entity: prior_relation(entity) for entity in relations}


def apply(db: Db, batch: LoadBatch, plan: Plan) -> dict[str, Any]:
    """After the merge: crosswalk, close the old connector's open facts, translated priors for the feed.

    Returns the counts recorded in ``load_run.rows["cutover"]`` (no ids, no personal data).
    """
    old = list(plan.old_connectors)
    _write_crosswalk(db, batch, plan)
    closed = _close_old_facts(db, batch, old)
    _translate_priors(db, batch, plan)
    wage_line = "t.employment_source_id || '|' || coalesce(t.component, '')"
    carried = {entity: _carry_history(db, batch, entity, group)
               for entity, group in (("employment", "t.source_id"), ("salary", wage_line))}
    batch.closed_connectors = list(plan.old_connectors)
    return {"from": plan.old_connectors, **plan.match.counts(), "closed": closed, "carried": carried}


def _carry_history(db: Db, batch: LoadBatch, entity: str, group: str) -> int:
    """Keep the old connector's history that the new connector cannot state (its API's history depth).

    For a matched employment, the old connector's versions older than the new connector's earliest
    version of the same record (employment; wage line per component) are recorded again under the
    new connector's ids, closed the day before that earliest version (as a past view adds history,
    docs/warehouse.md): nothing newer contradicts them, so the switch loses no knowledge and the
    benefit bases of past reference dates stay what they were. A wage component the new connector
    does not state at all for the employment (e.g. no wage for an ended employment) is carried whole.
    Lineage: the copy has the old row's valid_from and values (wage lines keep the old line's id); the
    old row is superseded by the same run. Returns the number of rows carried.
    """
    from payroll_etl.warehouse.diff import hash_sql

    cols = warehouse_columns(ENTITIES[entity])
    first = (f"SELECT {group} AS grp, min(t.valid_from) AS first_from FROM {entity} t "
             f"WHERE t.employer = :employer AND t.connector = :connector "
             "AND t.superseded_at IS NULL GROUP BY 1")
    clipped = ", ".join(
        "CASE WHEN f.first_from IS NOT NULL AND (t.valid_to IS NULL OR t.valid_to >= f.first_from) "
        "THEN CAST(f.first_from - INTERVAL '1 day' AS DATE) ELSE t.valid_to END AS valid_to" if c == "valid_to"
        else f't."{c}"' for c in cols)
    col_list = ", ".join(f'"{c}"' for c in cols)
    count = f"SELECT count(*) FROM {entity} WHERE employer = :employer AND load_run_id = :run"
    params = {"employer": batch.employer, "run": batch.load_run_id}
    before = int(db.query(count, params)[0][0])
    db.execute(
        f"INSERT INTO {entity} ({col_list}, row_hash, recorded_at, load_run_id) "
        f"SELECT {', '.join('x.' + chr(34) + c + chr(34) for c in cols)}, {hash_sql(ENTITIES[entity], 'x')}, "
        f"{NOW}, {RUN} FROM (SELECT {clipped} FROM xp_{entity} t "
        f"LEFT JOIN ({first}) f ON f.grp = {group} "
        f"WHERE f.first_from IS NULL OR t.valid_from < f.first_from) x", batch_params(batch))
    after = int(db.query(count, params)[0][0])
    return after - before


def cleanup(db: Db) -> None:
    """Drop the cutover's temporary tables (end of the load)."""
    if getattr(db, "prior", None):
        for entity in list(db.prior):
            db.execute(f"DROP TABLE IF EXISTS xp_{entity}")
        db.drop_temp("xw_map")
        db.prior = {}
