"""The mutation feed: what changed between consecutive snapshots of an employer, as insurers want it.

Derived inside the load transaction (``load()`` calls :func:`post_load_step`), set-based, from the versions the
load just recorded (``recorded_at`` = the batch's time) compared with what we believed just before
(current versions, or the ones this run superseded). See docs/warehouse.md, "Mutation feed".

Types (domain.md §2.1):

* ``IN_DIENST``: an employment we had never seen; ingangsdatum = its start date.
* ``UIT_DIENST``: an end date appears on an employment; ingangsdatum = the end date. Disappearing
  from the snapshot is *not* an exit (that is a data-quality alert, UPA completeness).
* ``PARTTIME``: hours per week or part-time factor changed; ingangsdatum = the version's valid_from.
* ``SALARIS``: a wage line of the employment (per component) changed amount; ingangsdatum = its valid_from.
* ``ADRES`` / ``BURGERLIJKE_STAAT``: address / civil status of the employee changed; ``OVERLIJDEN``:
  a date of death appears. Employees are snapshots, so ingangsdatum = the first day of the pay period
  in which the change appeared (the valid_from the loader assigned), the date of death for OVERLIJDEN.
* ``CORRECTIE``: the change corrects what was already reported: a value type whose ingangsdatum lies
  in a past pay period that an earlier load already covered, or for which a mutation with the same
  key and ingangsdatum was already emitted; an event (in/out of service, death) whose date changes.
  ``corrected_type`` names what it corrects; the ingangsdatum is the original effective date.

The first successful load of an employer is the baseline ("stand"): it emits nothing.
``mutation_id`` = md5(connector, employer, key, base type, ingangsdatum, new values), so a re-run, or a
retry after a killed load, never duplicates a mutation. Values are JSON text (strings or null) and
never contain the BSN or IBAN: persons are identified by ``person_key`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from payroll_etl.periods import period_from_id
from payroll_etl.warehouse.batch import LoadBatch
from payroll_etl.warehouse.db import Db
from payroll_etl.warehouse.schema import mutation  # noqa: F401 - re-exported

MUTATION_TYPES = ("IN_DIENST", "UIT_DIENST", "SALARIS", "PARTTIME", "ADRES", "BURGERLIJKE_STAAT", "OVERLIJDEN",
                  "CORRECTIE")
EVENT_TYPES = ("IN_DIENST", "UIT_DIENST", "OVERLIJDEN")
ADDRESS_COLUMNS = ("street", "house_number", "postcode", "city", "country")
SALARY_TOLERANCE = "0.005"  # below half a cent a wage "change" is rounding
# bound parameters of every feed statement (``_params``)
NOW, RUN = "CAST(:now AS TIMESTAMPTZ)", "CAST(:run AS VARCHAR)"
CONNECTOR, EMPLOYER = "CAST(:connector AS VARCHAR)", "CAST(:employer AS VARCHAR)"


def _params(batch: LoadBatch, reported: object = None) -> dict[str, object]:
    """The feed statements' bound parameters: scope, transaction time, run, pay period."""
    return {"connector": batch.connector, "employer": batch.employer, "now": batch.recorded_at,
            "run": batch.load_run_id, "period_start": batch.period.start, "period_id": batch.period.id,
            "reported": reported}


def _scope(alias: str) -> str:
    return f"{alias}.connector = {CONNECTOR} AND {alias}.employer = {EMPLOYER}"

# The table itself is declared with the rest of the schema (payroll_etl.warehouse.schema.mutation).


def json_sql(pairs: list[tuple[str, str]]) -> str:
    """A JSON object built with string concatenation: the same text on DuckDB and PostgreSQL."""
    def value(expr: str) -> str:
        text = f"CAST({expr} AS VARCHAR)"
        return (f"CASE WHEN {expr} IS NULL THEN 'null' ELSE '\"' || "
                f"replace(replace({text}, '\\', '\\\\'), '\"', '\\\"') || '\"' END")
    body = " || ',' || ".join(f"'\"{name}\":' || {value(expr)}" for name, expr in pairs)
    return f"'{{' || {body} || '}}'"


def _reported_through(db: Db, batch: LoadBatch) -> Any:
    """Last day of the pay periods earlier successful current-view loads covered (None: baseline).

    Past views (backfills) do not count: the first *current* view of an employer is its baseline.
    Loads of any connector of the employer count: the first load of a new connector after a switch
    is no baseline, it is compared with the old connector's facts (cutover.py).
    """
    rows = db.query(
        "SELECT DISTINCT period_id FROM load_run WHERE employer = :employer "
        "AND status IN ('success', 'partial') AND view = 'current' "
        "AND load_run_id <> :run AND period_id IS NOT NULL", {"employer": batch.employer, "run": batch.load_run_id})
    ends = []
    for (period_id,) in rows:
        tail = getattr(batch.period, "tail", "period13")
        try:
            ends.append(period_from_id(period_id, batch.period.frequency, tail).end)  # type: ignore[arg-type]
        except ValueError:
            try:  # loaded under another calendar: the 1-January one with a period 14 tail
                ends.append(period_from_id(period_id, batch.period.frequency, "period14").end)
            except ValueError:
                continue
    return max(ends) if ends else None


def prior(db: Db, entity: str) -> str:
    """Where "what we believed before this load" is read from: the entity's table, or during a cutover
    load the table plus the old connector's facts translated to the new connector's ids (cutover.py)."""
    return (getattr(db, "prior", None) or {}).get(entity, entity)


def _pairs(db: Db, entity: str, group: str, batch: LoadBatch, prev_filter: str) -> None:
    """Temp table ``mp_<entity>``: each version recorded by this load with the version it follows.

    ``p_*`` columns are the prior version: what we believed before this load, in effect on (or
    closest before) the new version's valid_from, for the same group key. ``known`` says whether the
    group existed at all before this load.
    """
    now, run, scope = NOW, RUN, _scope("t")
    snapshot = entity == "employee"
    closed_copy = (f" AND NOT EXISTS (SELECT 1 FROM {entity} o WHERE o.connector = t.connector "
                   f"AND o.employer = t.employer AND o.source_id = t.source_id AND o.valid_from = t.valid_from "
                   f"AND o.row_hash = t.row_hash AND o.superseded_at = {now})") if snapshot else ""
    g = group.replace("{a}", "t")
    touched = db.touched.get(entity)
    if touched is None:
        import pyarrow as pa

        touched = pa.table({"source_id": pa.array([], pa.string())})
    db.drop_temp(f"mt_{entity}")
    db.stage(f"mt_{entity}", touched.group_by("source_id").aggregate([]), {"source_id": "TEXT"})
    db.execute(f"DROP TABLE IF EXISTS mp_{entity}")
    db.execute(
        f"CREATE TEMP TABLE mp_{entity} AS "
        f"WITH n AS (SELECT t.*, {g} AS grp FROM {entity} t WHERE {scope} "
        f"  AND t.source_id IN (SELECT source_id FROM mt_{entity}) AND t.load_run_id = {run} "
        f"  AND t.recorded_at = {now}{closed_copy}), "
        f"prev AS (SELECT t.*, {g} AS grp FROM {prior(db, entity)} t WHERE {scope} AND {prev_filter} "
        f"  AND t.recorded_at < {now} AND (t.superseded_at IS NULL OR t.superseded_at = {now})), "
        f"cand AS (SELECT n.*, p.source_id AS p_source_id, p.valid_from AS p_valid_from, p.row_hash AS p_row_hash, "
        f"  ROW_NUMBER() OVER (PARTITION BY n.source_id, n.valid_from, n.row_hash "
        f"    ORDER BY n.valid_from - p.valid_from, p.recorded_at DESC) AS rk "
        f"  FROM n LEFT JOIN prev p ON p.grp = n.grp AND p.valid_from <= n.valid_from) "
        f"SELECT c.*, CASE WHEN EXISTS (SELECT 1 FROM prev k WHERE k.grp = c.grp) THEN 1 ELSE 0 END AS known, "
        f"  ROW_NUMBER() OVER (PARTITION BY c.grp ORDER BY c.valid_from) AS grp_rank "
        f"FROM cand c WHERE c.rk = 1", _params(batch))


def _employment_selects(db: Db, batch: LoadBatch) -> list[str]:
    """IN_DIENST, UIT_DIENST and PARTTIME candidates of the employments this load recorded."""
    now, differs = NOW, _differs(db)
    _pairs(db, "employment", "{a}.source_id", batch, "t.source_id IN (SELECT source_id FROM mt_employment)")
    emp_vals = [("start_date", "n.start_date"), ("end_date", "n.end_date"), ("end_reason", "n.end_reason"),
                ("hours_per_week", "n.hours_per_week"), ("part_time_factor", "n.part_time_factor")]
    src = (f"(SELECT m.*, p.start_date AS p_start_date, p.end_date AS p_end_date, p.end_reason AS p_end_reason, "
           f"p.hours_per_week AS p_hours, p.part_time_factor AS p_ptf FROM mp_employment m LEFT JOIN "
           f"{prior(db, 'employment')} p ON p.connector = m.connector AND p.employer = m.employer "
           f"AND p.source_id = m.p_source_id AND p.valid_from = m.p_valid_from AND p.row_hash = m.p_row_hash "
           f"AND p.recorded_at < {now})")
    new_json = json_sql(emp_vals)
    old_json = json_sql([(k, v) for k, v in zip([k for k, _ in emp_vals],
                                                 ["n.p_start_date", "n.p_end_date", "n.p_end_reason",
                                                  "n.p_hours", "n.p_ptf"])])
    base = ("n.source_id AS mutation_key, n.employee_source_id AS employee_source_id, "
            "n.source_id AS employment_source_id")
    return [
        # IN_DIENST: never seen before; one per employment (its earliest new version)
        f"SELECT 'IN_DIENST' AS base_type, {base}, n.start_date AS ingangsdatum, NULL AS old_values, "
        f"{new_json} AS new_values, 0 AS prior_is_set FROM {src} n WHERE n.known = 0 AND n.grp_rank = 1",
        # start date of a known employment changed: correction of IN_DIENST
        f"SELECT 'IN_DIENST', {base}, n.start_date, {old_json}, {new_json}, 1 FROM {src} n "
        f"WHERE n.known = 1 AND n.p_source_id IS NOT NULL AND n.p_start_date <> n.start_date",
        # UIT_DIENST: an end date appears, changes or is withdrawn
        f"SELECT 'UIT_DIENST', {base}, coalesce(n.end_date, n.p_end_date), {old_json}, {new_json}, "
        f"CASE WHEN n.p_end_date IS NULL THEN 0 ELSE 1 END FROM {src} n "
        f"WHERE n.known = 1 AND n.p_source_id IS NOT NULL AND ((n.end_date IS NULL AND n.p_end_date IS NOT NULL) "
        f"OR (n.end_date IS NOT NULL AND n.p_end_date IS NULL) OR n.end_date <> n.p_end_date)",
        # PARTTIME: hours or part-time factor
        f"SELECT 'PARTTIME', {base}, n.valid_from, {old_json}, {new_json}, 0 FROM {src} n "
        f"WHERE n.known = 1 AND n.p_source_id IS NOT NULL AND ({differs('n.hours_per_week', 'n.p_hours')} "
        f"OR {differs('n.part_time_factor', 'n.p_ptf')})",
    ]


def _salary_selects(db: Db, batch: LoadBatch) -> list[str]:
    """SALARIS candidates: wage lines (per employment and component) whose amount or frequency changed."""
    now = NOW
    _pairs(db, "salary", "{a}.employment_source_id || '|' || coalesce({a}.component, 'BASIS')", batch,
           "t.employment_source_id IN (SELECT employment_source_id FROM n)")
    src = (f"(SELECT m.*, p.gross_amount AS p_amount, p.frequency AS p_frequency FROM mp_salary m LEFT JOIN "
           f"{prior(db, 'salary')} p ON p.connector = m.connector AND p.employer = m.employer "
           f"AND p.source_id = m.p_source_id "
           f"AND p.valid_from = m.p_valid_from AND p.row_hash = m.p_row_hash AND p.recorded_at < {now})")
    keys = ["component", "gross_amount", "frequency"]
    new_json = json_sql(list(zip(keys, ["coalesce(n.component, 'BASIS')", "n.gross_amount", "n.frequency"])))
    old_json = json_sql(list(zip(keys, ["coalesce(n.component, 'BASIS')", "n.p_amount", "n.p_frequency"])))
    return [
        f"SELECT 'SALARIS', n.grp, CAST(NULL AS VARCHAR), n.employment_source_id, n.valid_from, {old_json}, "
        f"{new_json}, 0 FROM {src} n WHERE n.p_source_id IS NOT NULL AND (abs(n.gross_amount - n.p_amount) "
        f">= {SALARY_TOLERANCE} OR n.frequency <> n.p_frequency)"]


def _employee_selects(db: Db, batch: LoadBatch) -> list[str]:
    """ADRES, BURGERLIJKE_STAAT and OVERLIJDEN candidates of the employees this load recorded."""
    now, differs = NOW, _differs(db)
    _pairs(db, "employee", "{a}.source_id", batch, "t.source_id IN (SELECT source_id FROM mt_employee)")
    extra = ", ".join(f"p.{c} AS p_{c}" for c in (*ADDRESS_COLUMNS, "civil_status", "date_of_death"))
    src = (f"(SELECT m.*, {extra} FROM mp_employee m LEFT JOIN {prior(db, 'employee')} p "
           f"ON p.connector = m.connector "
           f"AND p.employer = m.employer AND p.source_id = m.p_source_id AND p.valid_from = m.p_valid_from "
           f"AND p.row_hash = m.p_row_hash AND p.recorded_at < {now})")
    base = "n.source_id, n.source_id, CAST(NULL AS VARCHAR)"
    addr_new = json_sql([(c, f"n.{c}") for c in ADDRESS_COLUMNS])
    addr_old = json_sql([(c, f"n.p_{c}") for c in ADDRESS_COLUMNS])
    addr_changed = " OR ".join(differs(f"n.{c}", f"n.p_{c}") for c in ADDRESS_COLUMNS)
    cs_new = json_sql([("civil_status", "n.civil_status")])
    cs_old = json_sql([("civil_status", "n.p_civil_status")])
    dd_new = json_sql([("date_of_death", "n.date_of_death")])
    dd_old = json_sql([("date_of_death", "n.p_date_of_death")])
    known = "n.known = 1 AND n.p_source_id IS NOT NULL"
    return [
        f"SELECT 'ADRES', {base}, n.valid_from, {addr_old}, {addr_new}, 0 FROM {src} n "
        f"WHERE {known} AND ({addr_changed})",
        f"SELECT 'BURGERLIJKE_STAAT', {base}, n.valid_from, {cs_old}, {cs_new}, 0 FROM {src} n "
        f"WHERE {known} AND {differs('n.civil_status', 'n.p_civil_status')}",
        f"SELECT 'OVERLIJDEN', {base}, coalesce(n.date_of_death, n.p_date_of_death), {dd_old}, {dd_new}, "
        f"CASE WHEN n.p_date_of_death IS NULL THEN 0 ELSE 1 END FROM {src} n "
        f"WHERE {known} AND n.date_of_death IS DISTINCT FROM n.p_date_of_death",
    ]


def _insert_mutations(db: Db, batch: LoadBatch, selects: list[str], reported: object) -> None:
    """Insert the candidates ``selects`` (a UNION) into ``mutation``: CORRECTIE where they correct what
    was already reported (through ``reported``, the last day earlier loads covered), person keys and
    IKV-nummers joined, only ids not already present (a re-run inserts nothing)."""
    params = _params(batch, reported)
    retro = "(x.ingangsdatum < CAST(:period_start AS DATE) AND x.ingangsdatum <= CAST(:reported AS DATE))"
    scope = _scope

    union = " UNION ALL ".join(f"({s})" for s in selects)
    db.execute("DROP TABLE IF EXISTS mut_new")
    db.execute(
        f"CREATE TEMP TABLE mut_new AS SELECT x.*, md5({CONNECTOR} || '|' || {EMPLOYER} || '|' "
        f"|| x.mutation_key || '|' || x.base_type || '|' || CAST(x.ingangsdatum AS VARCHAR) || '|' || x.new_values) "
        f"AS mutation_id FROM ({union}) AS x(base_type, mutation_key, employee_source_id, employment_source_id, "
        f"ingangsdatum, old_values, new_values, prior_is_set)", params)
    # correction: an event whose date changes, a change in an already reported past period, or a
    # second different value for a key and ingangsdatum that was already sent
    is_correction = (
        f"(x.prior_is_set = 1 OR (x.base_type IN ('IN_DIENST', 'UIT_DIENST', 'OVERLIJDEN') AND EXISTS "
        f"(SELECT 1 FROM mutation m WHERE {scope('m')} "
        f"AND m.mutation_key = x.mutation_key AND coalesce(m.corrected_type, m.mutation_type) = x.base_type)) "
        f"OR (x.base_type NOT IN ('IN_DIENST', 'UIT_DIENST', 'OVERLIJDEN') AND ({retro} OR EXISTS "
        f"(SELECT 1 FROM mutation m WHERE {scope('m')} AND m.mutation_key = x.mutation_key "
        f"AND m.ingangsdatum = x.ingangsdatum AND coalesce(m.corrected_type, m.mutation_type) = x.base_type))))")
    person = (f"(SELECT e.source_id AS employment_source_id, max(e.employee_source_id) AS employee_source_id, "
              f"max(e.employment_number) AS employment_number FROM employment e WHERE {scope('e')} "
              f"AND e.superseded_at IS NULL AND e.source_id IN (SELECT employment_source_id FROM mut_new) "
              f"GROUP BY e.source_id)")
    person_keys = (f"(SELECT p.source_id, max(p.person_key) AS person_key FROM employee p WHERE {scope('p')} "
            f"AND p.superseded_at IS NULL AND (p.source_id IN (SELECT employee_source_id FROM mut_new) "
            f"OR p.source_id IN (SELECT e.employee_source_id FROM employment e WHERE {scope('e')} "
            f"AND e.source_id IN (SELECT employment_source_id FROM mut_new))) GROUP BY p.source_id)")
    db.execute(
        "INSERT INTO mutation (mutation_id, connector, employer, mutation_type, corrected_type, mutation_key, "
        "person_key, employee_source_id, employment_source_id, employment_number, ingangsdatum, period_id, "
        "old_values, new_values, load_run_id, detected_at) "
        f"SELECT x.mutation_id, {CONNECTOR}, {EMPLOYER}, "
        f"CASE WHEN {is_correction} THEN 'CORRECTIE' ELSE x.base_type END, "
        f"CASE WHEN {is_correction} THEN x.base_type END, x.mutation_key, k.person_key, "
        f"coalesce(x.employee_source_id, ep.employee_source_id), x.employment_source_id, ep.employment_number, "
        f"x.ingangsdatum, CAST(:period_id AS VARCHAR), x.old_values, x.new_values, {RUN}, {NOW} "
        f"FROM (SELECT DISTINCT * FROM mut_new) x "
        f"LEFT JOIN {person} ep ON ep.employment_source_id = x.employment_source_id "
        f"LEFT JOIN {person_keys} k ON k.source_id = coalesce(x.employee_source_id, ep.employee_source_id) "
        f"WHERE NOT EXISTS (SELECT 1 FROM mutation m WHERE m.mutation_id = x.mutation_id)", params)


def _differs(db: Db) -> Callable[[str, str], str]:
    """SQL "value changed" test. At a cutover the prior values are the old connector's: a value one of
    the two connectors does not state (Loket REST gives no hours for an ended employment) is what its
    API delivers, not a change."""
    if getattr(db, "prior", None):
        return lambda new, old: f"({new} IS NOT NULL AND {old} IS NOT NULL AND {new} <> {old})"
    return lambda new, old: f"{new} IS DISTINCT FROM {old}"


def _count(db: Db, batch: LoadBatch) -> int:
    return int(db.query("SELECT count(*) FROM mutation WHERE connector = :connector AND employer = :employer",
                        {"connector": batch.connector, "employer": batch.employer})[0][0])


def derive_mutations(db: Db, batch: LoadBatch, changes: dict[str, dict[str, int]]) -> int:
    """Insert this load's mutations (idempotent). Returns how many rows the mutation table gained.

    Each candidate select yields: base_type, mutation_key, employee_source_id, employment_source_id,
    ingangsdatum, old_values, new_values, prior_is_set (a known earlier value is being changed).
    """
    def inserted(entity: str) -> bool:
        return bool((changes.get(entity) or {}).get("inserted"))

    if not any(inserted(e) for e in ("employee", "employment", "salary")):
        return 0
    reported = _reported_through(db, batch)
    if reported is None:
        return 0  # baseline load: the first stand of this employer is not a change
    before = _count(db, batch)
    selects: list[str] = []
    for entity, build in (("employment", _employment_selects), ("salary", _salary_selects),
                          ("employee", _employee_selects)):
        if inserted(entity):
            selects += build(db, batch)
    if not selects:
        return 0
    _insert_mutations(db, batch, selects, reported)
    for temp in ("mut_new", "mp_employment", "mp_salary", "mp_employee", "mt_employment", "mt_salary",
                 "mt_employee"):
        db.execute(f"DROP TABLE IF EXISTS {temp}")
    return _count(db, batch) - before


def post_load_step(db: Db, batch: LoadBatch, changes: dict[str, dict[str, int]]) -> None:
    """Loader hook: derive the mutation feed inside the load transaction."""
    derived = derive_mutations(db, batch, changes)
    changes.setdefault("mutation", {})["inserted"] = derived

