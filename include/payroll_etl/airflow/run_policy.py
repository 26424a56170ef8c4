"""How payroll runs are asked for, created, alerted on and shown: run options, deadline, backfills.

* **Run options** (``full_refresh``, ``backfill``) are Airflow Params with a JSON schema: the UI's
  trigger form shows them, and the API server validates a run's conf against them before the run
  exists (``POST /api/v2/dags/{dag_id}/dagRuns`` answers 400 on ``{"full_refresh": "yes"}``).
  Airflow accepts conf keys no Param declares; :class:`RunConfGuard` (an API-server middleware,
  registered by ``plugins/payroll_plugin.py``) refuses them for payroll DAGs, for triggers and
  backfills alike. The task re-checks both at run time (:func:`run_options`) for runs created
  without the API server (``dag.test``).
* **Parse time.** Declared per DAG the usual way, Airflow JSON-schema-validates each DAG's Params at
  construction and deep-copies them into each of its operators, which doubled the parse time at
  1,000 employers. :func:`attach_run_params` validates the shared definitions once per process and
  gives each DAG shallow copies after its tasks exist; see docs/operations.md for the figures.
* **Deadline.** :class:`ScheduledLogicalDate` is the nightly-window reference: the logical date of
  *scheduled* runs only. For manual, backfill and asset-triggered runs it evaluates to ``None``, and
  Airflow then creates no deadline for the run (``SerializedDAG._process_dagrun_deadline_alerts``).
* **Backfills** run one pay period at a time per employer: :func:`install_backfill_guard` sets
  ``max_active_runs`` of every payroll backfill to 1 when Airflow stores it (UI, REST API and CLI
  all end in ``airflow.models.backfill._create_backfill``; the CLI and API default to 10).
* **Skipped runs.** A run whose pay period another run already loaded ends with every task
  ``skipped`` (Airflow marks such a run ``success``: it has no skipped run state);
  :class:`SkippedRunNotes` adds a run note saying so, which the UI shows on the run.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from airflow.listeners import hookimpl
from airflow.sdk import Param
from airflow.sdk.definitions.deadline import BaseDeadlineReference

log = logging.getLogger(__name__)

DAG_PREFIX = "payroll_"  # every DAG the factory builds: payroll_<connector>_<employer>
BACKFILL_CHOICES = {"auto": None, "true": True, "false": False}
# The run options as Airflow Params: name -> (default, JSON schema, help text for the trigger form).
RUN_OPTIONS: dict[str, tuple[Any, dict[str, Any], str]] = {
    "full_refresh": (False, {"type": "boolean", "title": "Full refresh"},
                     "Ignore the stored watermarks and fetch everything the source has for the pay period."),
    "backfill": ("auto", {"type": "string", "enum": list(BACKFILL_CHOICES), "title": "Backfill"},
                 "Fetch the pay period's payroll results as a backfill: auto = when the period is in the past."),
}
BACKFILL_MAX_ACTIVE_RUNS = 1


def is_payroll_dag(dag_id: str | None) -> bool:
    """Whether ``dag_id`` is one the DAG factory builds (``payroll_<connector>_<employer>``)."""
    return bool(dag_id) and str(dag_id).startswith(DAG_PREFIX)


def _shared_params() -> dict[str, Param]:
    """One Param per run option, validated once per process (the DAG factory copies them per DAG)."""
    global _SHARED
    if _SHARED is None:
        params = {name: Param(default, description=text, schema=dict(schema))
                  for name, (default, schema, text) in RUN_OPTIONS.items()}
        for param in params.values():
            param.resolve()  # the defaults satisfy their schemas: checked here once, not per DAG
        _SHARED = params
    return _SHARED


_SHARED: dict[str, Param] | None = None


def attach_run_params(dag: Any) -> None:
    """Declare the run options on ``dag``, *after* its tasks were created.

    Airflow deep-copies a DAG's Params into every operator as it is created (``_get_parent_defaults``),
    ~0.3 ms per task here, and validates them per DAG at construction. Neither is needed: a task's
    Params are merged from ``dag.params`` at run time anyway (``process_params(dag, task, conf)``),
    and the trigger form and the API server's validation read the DAG's. Shallow copies
    (``Param.__copy__``) keep each DAG's Param objects its own while sharing the schema dicts.
    """
    dag.params.update({name: param.__copy__() for name, param in _shared_params().items()})


def unknown_options(conf: Mapping[str, Any] | None) -> list[str]:
    """Conf keys that are not run options, sorted."""
    return sorted(set(conf or {}) - set(RUN_OPTIONS))


def run_options(conf: Mapping[str, Any] | None) -> tuple[bool, bool | None]:
    """``(full_refresh, backfill)`` from a run's conf merged over the Param defaults.

    Raises ``ConfigurationError`` naming the option for an unknown key or a value outside its schema
    (the API server refuses these before the run exists; this guards runs created without it).
    ``backfill`` is ``None`` for "auto".
    """
    from payroll_etl.errors import ConfigurationError

    conf = dict(conf or {})
    if unknown := unknown_options(conf):
        raise ConfigurationError(f"unknown run option(s) {', '.join(unknown)}; allowed: {', '.join(RUN_OPTIONS)}")
    full_refresh = conf.get("full_refresh", RUN_OPTIONS["full_refresh"][0])
    if not isinstance(full_refresh, bool):
        raise ConfigurationError(f"run option full_refresh must be true or false, got {type(full_refresh).__name__}")
    backfill = conf.get("backfill", RUN_OPTIONS["backfill"][0])
    if not isinstance(backfill, str) or backfill not in BACKFILL_CHOICES:
        raise ConfigurationError(f"run option backfill must be one of {', '.join(BACKFILL_CHOICES)}")
    return full_refresh, BACKFILL_CHOICES[backfill]


# ----------------------------------------------------------------------------- API server guard

_TRIGGER = re.compile(r"/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/?$")
_BACKFILL = re.compile(r"/api/v2/backfills(?:/dry_run)?/?$")


def conf_problem(path: str, body: bytes) -> str | None:
    """Why a trigger or backfill request for a payroll DAG must be refused, or None.

    ``path`` is the request path, ``body`` its JSON body. Only unknown conf keys are judged here:
    the API server validates the declared options' values itself.
    """
    if match := _TRIGGER.search(path):
        dag_id, key = unquote(match["dag_id"]), "conf"
    elif _BACKFILL.search(path):
        dag_id, key = None, "dag_run_conf"
    else:
        return None
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return None  # FastAPI answers malformed JSON itself
    if not isinstance(data, dict):
        return None
    dag_id = dag_id or data.get("dag_id")
    conf = data.get(key)
    if not is_payroll_dag(dag_id) or not isinstance(conf, dict):
        return None
    if unknown := unknown_options(conf):
        return (f"{dag_id}: unknown run option(s) {', '.join(repr(k) for k in unknown)}; payroll DAGs accept "
                f"{', '.join(RUN_OPTIONS)} (see the DAG's docs)")
    return None


class RunConfGuard:
    """ASGI middleware for the Airflow API server: refuses (HTTP 400) payroll DAG runs and backfills
    whose conf has keys that are not run options, before Airflow creates anything."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        path = scope.get("path", "")
        if scope.get("type") != "http" or scope.get("method") != "POST" or not (
                _TRIGGER.search(path) or _BACKFILL.search(path)):
            await self.app(scope, receive, send)
            return
        messages, body, more = [], b"", True
        while more:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            more = message.get("more_body", False) and message.get("type") == "http.request"
        problem = conf_problem(path, body)
        if problem:
            payload = json.dumps({"detail": problem}).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(payload)).encode())]})
            await send({"type": "http.response.body", "body": payload})
            return

        async def replay() -> dict[str, Any]:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


# ----------------------------------------------------------------------------- deadline

class ScheduledLogicalDate(BaseDeadlineReference):
    """Deadline reference: a run's logical date if the scheduler created it (the nightly), else None.

    Registered through ``plugins/payroll_plugin.py`` (``AirflowPlugin.deadline_references``) so the
    scheduler can deserialize it. Evaluated once, when Airflow creates the run.
    """

    required_kwargs = {"dag_id", "run_id"}

    def _evaluate_with(self, *, session: Any, **kwargs: Any) -> datetime | None:
        from airflow.models import DagRun
        from airflow.utils.types import DagRunType
        from sqlalchemy import select

        row = session.execute(select(DagRun.run_type, DagRun.logical_date).where(
            DagRun.dag_id == kwargs["dag_id"], DagRun.run_id == kwargs["run_id"])).one_or_none()
        if row is None or row[0] != DagRunType.SCHEDULED:
            return None  # manual, backfill or asset-triggered: no nightly window to miss
        return row[1]


# ----------------------------------------------------------------------------- backfills

_GUARD_INSTALLED = False


def install_backfill_guard() -> None:
    """Make every payroll backfill run one pay period at a time (``max_active_runs`` = 1).

    An SQLAlchemy ``before_insert`` hook on Airflow's ``Backfill`` model: the one place the UI, the
    REST API and ``airflow backfill create`` all go through. Idempotent.
    """
    global _GUARD_INSTALLED
    if _GUARD_INSTALLED:
        return
    try:
        from airflow.models.backfill import Backfill
        from sqlalchemy import event
    except ImportError:  # a Task-SDK-only worker: it never creates backfills
        return

    def one_at_a_time(_mapper: Any, _connection: Any, backfill: Any) -> None:
        if is_payroll_dag(backfill.dag_id) and backfill.max_active_runs != BACKFILL_MAX_ACTIVE_RUNS:
            log.warning("payroll backfill of %s: max_active_runs %s -> %s (one pay period at a time per employer)",
                        backfill.dag_id, backfill.max_active_runs, BACKFILL_MAX_ACTIVE_RUNS)
            backfill.max_active_runs = BACKFILL_MAX_ACTIVE_RUNS

    event.listen(Backfill, "before_insert", one_at_a_time)
    _GUARD_INSTALLED = True


# ----------------------------------------------------------------------------- skipped runs

SKIPPED_NOTE = ("Skipped: pay period {period} was already loaded by another run, so nothing was fetched or "
                "loaded (every task skipped; the extract log names the run). Trigger with full_refresh to fetch "
                "the period again.")


def skipped_note(dag_id: str, logical_date: datetime | None) -> str:
    """The note of a run that loaded nothing because its pay period was loaded already."""
    period = "?"
    if logical_date is not None:
        try:
            from payroll_etl.config import read_config
            from payroll_etl.periods import period_for_logical_date

            cfg = read_config().by_dag_id(dag_id)
            period = period_for_logical_date(logical_date, cfg.payroll_frequency, cfg.four_week_tail).id
        except Exception:  # noqa: BLE001 - the note stays useful without the period id
            log.debug("no pay period for %s at %s", dag_id, logical_date, exc_info=True)
    return SKIPPED_NOTE.format(period=period)


class SkippedRunNotes:
    """Airflow listener (scheduler, ``dag.test``): a payroll run that ends with every task skipped gets
    a run note saying why, appended to a note the run already had."""

    @hookimpl
    def on_dag_run_success(self, dag_run: Any, msg: str) -> None:
        """Add :func:`skipped_note` to a payroll run whose task instances are all skipped (other runs: nothing);
        in the scheduler's session when the run has one, else in a new metadata-DB session."""
        if not is_payroll_dag(getattr(dag_run, "dag_id", None)):
            return
        from sqlalchemy.orm import object_session

        session = object_session(dag_run)
        tis = dag_run.get_task_instances(session=session) if session is not None else dag_run.get_task_instances()
        if {str(ti.state) for ti in tis} != {"skipped"}:
            return
        note = skipped_note(dag_run.dag_id, dag_run.logical_date)
        if session is not None:  # the scheduler: its own transaction carries the note
            _add_note(dag_run, note)
            return
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:  # dag.test() hands over a detached run
            stored = session.scalar(select(DagRun).where(DagRun.id == dag_run.id))
            if stored is not None:
                _add_note(stored, note)


def _add_note(dag_run: Any, note: str) -> None:
    """Append ``note`` to the run's note (the UI shows it on the run), once."""
    existing = dag_run.note
    if existing and note in existing:
        return
    dag_run.note = f"{existing}\n{note}" if existing else note
