"""One DAG per employer and connector: extract -> normalize -> validate -> load.

Only the DAG structure is built at parse time. Connectors, pandas, pyarrow, Great
Expectations and the warehouse are imported inside the tasks, so parsing hundreds of
employers stays fast. Tasks exchange small summaries via XCom; the data itself flows
through the landing and staging files (see ``payroll_etl.pipeline``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, chain
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert

from payroll_etl.airflow.retries import NO_RETRY, retry_delay, retry_policy
from payroll_etl.airflow.run_policy import RUN_OPTIONS, ScheduledLogicalDate, attach_run_params, run_options
from payroll_etl.airflow.timetable import PayPeriodTimetable, frequency_label
from payroll_etl.config import EmployerConfig, EntryProblem, PipelineConfig, in_shard, read_config
from payroll_etl.errors import ConfigurationError

log = logging.getLogger(__name__)
__all__ = ["NO_RETRY", "build_all", "build_dag", "dag_file", "retry_delay", "retry_policy"]

START_DATE = datetime(2024, 1, 1)
# The nightly window: a scheduled run must be done this long after its logical time (02:00 -> 06:00),
# before the benefits systems read the warehouse. Missing it raises a deadline alert (see below);
# manual and backfill runs have no window (run_policy.ScheduledLogicalDate).
NIGHTLY_WINDOW = timedelta(hours=4)


def on_task_failure(context: dict[str, Any]) -> None:
    """One line, no personal data: which employer, which step, which kind of error."""
    from payroll_etl.privacy import scrub

    ti = context.get("task_instance")
    exc = context.get("exception")
    reason = scrub(str(exc).splitlines()[0] if exc else "unknown")[:300]
    log.error("payroll run failed: dag=%s task=%s error=%s: %s", getattr(ti, "dag_id", "?"),
              getattr(ti, "task_id", "?"), type(exc).__name__ if exc else "?", reason)


async def on_deadline_missed(context: dict[str, Any] | None = None, **_: Any) -> str:
    """Deadline-alert callback (runs in the triggerer): one line, no personal data.

    ``context`` is what the scheduler hands over: the DagRun as the REST API shows it and the
    deadline. Only ids, dates and the run state are logged, never conf or payloads.
    """
    dag_run = (context or {}).get("dag_run") or {}
    deadline = (context or {}).get("deadline") or {}
    line = (f"payroll nightly window missed: dag={dag_run.get('dag_id', '?')} run={dag_run.get('dag_run_id', '?')} "
            f"logical_date={dag_run.get('logical_date')} state={dag_run.get('state')} "
            f"deadline={deadline.get('deadline_time')}")
    log.error(line)
    return line


@lru_cache(maxsize=1)
def deadline_alert() -> DeadlineAlert:
    """The nightly window: scheduled runs only (the reference is None for manual and backfill runs)."""
    return DeadlineAlert(reference=ScheduledLogicalDate(), interval=NIGHTLY_WINDOW,
                         callback=AsyncCallback(on_deadline_missed), name="nightly window missed")


class PayrollDAG(DAG):
    """A DAG whose ``test()`` works with a deadline alert.

    Airflow 3.3.2's ``dag.test()`` deserializes the DAG in memory, so its deadline alerts are not
    stored rows, and a successful run then crashes looking one up by id
    (``DeadlineAlertModel.get_by_id({...})``). ``dag.test()`` never evaluates deadlines anyway
    (that is the scheduler's job), so it runs without them; scheduler and DAG processor see the
    alert as usual.
    """

    def test(self, *args: Any, **kwargs: Any) -> Any:
        """``DAG.test`` with ``deadline`` set to None for the call (restored after); returns what it returns."""
        saved, self.deadline = self.deadline, None
        try:
            return super().test(*args, **kwargs)
        finally:
            self.deadline = saved


def _run_context(cfg: EmployerConfig, params: dict[str, Any], context: dict[str, Any]):
    from payroll_etl.periods import local_day
    from payroll_etl.steps.context import RunContext

    dag_run = context["dag_run"]
    # Airflow resolved the Params (defaults + the run's conf, validated); conf keys no Param declares are
    # in the conf only, and run_options refuses them.
    conf = getattr(dag_run, "conf", None) or {}
    options = {**{k: v for k, v in (params or {}).items() if k in RUN_OPTIONS}, **conf}
    full_refresh, backfill = run_options(options)
    when = context.get("logical_date") or dag_run.run_after
    return RunContext(employer=cfg, logical_date=local_day(when), airflow_run_id=dag_run.run_id,
                      full_refresh=full_refresh, backfill=backfill)


DOC = """\
### Payroll: {name} ({connector})

Nightly extract of **{name}** from **{connector}** (source ids: {sources}) into the benefits warehouse.

1. **extract**: raw payloads land untouched as Parquet under
   `data/landing/connector={connector}/employer={employer}/entity=*/run_date=<logical date>/`.
2. **normalize**: canonical employer / employee / employment / salary / period / result rows.
3. **validate**: Great Expectations; error rows go to `quarantine`, run-level errors stop the load.
   Reports: `data/reports/`.
4. **load**: one transaction into the warehouse, history kept; `load_run` has the outcome.

**Schedule.** {schedule}

**Run options** (the trigger form's fields; a typo or an unknown option is refused when triggering):
`full_refresh` (true/false) ignores the stored watermarks; `backfill` ("auto", "true", "false") forces
or prevents fetching the pay period's payroll results (auto: when the period is in the past).

**Backfills** create **one run per {frequency} pay period** (logical date = the period's first day),
one at a time: from the UI (Trigger > Backfill) or
`airflow backfill create --dag-id {dag_id} --from-date YYYY-MM-DD --to-date YYYY-MM-DD`.
A run whose pay period was already loaded skips every task and gets a run note saying so.

Connection: `{conn_id}` (the Connections page can test it). Pool: `{pool}`.
"""


def _schedule_doc(cfg: EmployerConfig) -> str:
    if not cfg.schedule:
        return "None: runs only when triggered (and no backfills: Airflow backfills need a schedule)."
    return (f"Nightly at `{cfg.schedule}` ({cfg.timezone}). A scheduled run that is not done 4 h after its "
            "logical time raises the \"nightly window missed\" deadline alert; manual and backfill runs have "
            "no such window.")


@lru_cache(maxsize=64)
def _timetable(cron: str, tz: str, frequency: str, tail: str) -> PayPeriodTimetable:
    """One timetable per (cron, time zone, pay calendar), shared by all DAGs: parsing the cron and the
    zone each time cost ~1.5 ms per DAG, i.e. 1.5 s of the parse time with 1,000 employers."""
    return PayPeriodTimetable(cron, timezone=tz, frequency=frequency, tail=tail)


def build_dag(cfg: EmployerConfig, pipeline: PipelineConfig) -> DAG:
    """The DAG ``cfg.dag_id``: extract -> normalize -> validate -> load (timeouts 2 h / 1 h each, 3 retries),
    on the pay-period timetable when ``cfg.schedule`` is set (with the 4 h nightly-window deadline alert).
    Errors Airflow raises (e.g. a cron it refuses) propagate; :func:`build_all` turns them into a config-error DAG."""
    default_args = {
        "owner": "data-platform",
        "retries": 3,
        "retry_delay": retry_delay(),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
        "retry_policy": retry_policy(),
        "on_failure_callback": on_task_failure,
    }
    schedule = (_timetable(cfg.schedule, cfg.timezone, cfg.payroll_frequency, cfg.four_week_tail)
                if cfg.schedule else None)
    with PayrollDAG(
        dag_id=cfg.dag_id,
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=default_args,
        tags=["payroll", cfg.connector, f"employer:{cfg.employer}"],
        doc_md=DOC.format(name=cfg.name, connector=cfg.connector, employer=cfg.employer, dag_id=cfg.dag_id,
                          sources=", ".join(cfg.source_ids), conn_id=cfg.conn_id, pool=cfg.pool,
                          schedule=_schedule_doc(cfg), frequency=frequency_label(cfg.payroll_frequency)),
        dagrun_timeout=timedelta(hours=4),
        # Scheduled (nightly) DAGs only: an unscheduled DAG has no window to miss.
        deadline=deadline_alert() if schedule is not None else None,
    ) as dag:
        # Plain PythonOperators around module-level functions: the @task decorator inspects
        # signatures and type hints per task, ~40 % of the parse time at 1,000 employers.
        steps = [
            PythonOperator(task_id=name, python_callable=STEPS[name], op_args=[cfg.dag_id],
                           execution_timeout=timeout, pool=cfg.pool if name == "extract" else None)
            for name, timeout in (("extract", timedelta(hours=2)), ("normalize", timedelta(hours=1)),
                                  ("validate", timedelta(hours=1)), ("load", timedelta(hours=1)))
        ]
        chain(*steps)
        # The run options as Params, added once the tasks exist: Airflow would otherwise validate them per
        # DAG and deep-copy them into every task (parse time); see run_policy.attach_run_params.
        attach_run_params(dag)
    return dag


def _employer(dag_id: str) -> tuple[EmployerConfig, PipelineConfig]:
    """The entry of ``dag_id`` (a bad entry of another employer does not stop this one)."""
    pipeline = read_config()
    return pipeline.by_dag_id(dag_id), pipeline


def extract_step(dag_id: str, **context: Any) -> dict[str, Any]:
    """Task ``extract``: ``pipeline.extract`` with the Connection's credentials; returns its XCom summary
    (``period``, ``calls``, ``pages``, ...). ``PeriodAlreadyLoaded`` becomes ``AirflowSkipException``;
    ConfigurationError when ``dag_id`` has no entry; connector errors propagate (retried per retry_policy)."""
    # the extract step's own module, not payroll_etl.pipeline: that imports normalize, validate and
    # the loader too (numpy, the quality rules, the normalizers), which an extract task never runs
    from payroll_etl.airflow.hooks import PayrollSourceHook
    from payroll_etl.airflow.tokens import credentials_with_token_store
    from payroll_etl.errors import PeriodAlreadyLoaded
    from payroll_etl.steps.extract import extract

    cfg, _ = _employer(dag_id)
    ctx = _run_context(cfg, context.get("params") or {}, context)
    credentials = credentials_with_token_store(PayrollSourceHook(cfg.conn_id).get_credentials(), cfg)
    try:
        summary = extract(ctx, credentials)
    except PeriodAlreadyLoaded as skip:  # another run loaded this pay period: every task is skipped
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(str(skip)) from None
    log.info("extract %s period %s: %s calls, pages %s", cfg.employer, summary["period"],
             summary["calls"], summary["pages"])
    return summary


def normalize_step(dag_id: str, **context: Any) -> dict[str, Any]:
    """Task ``normalize``: ``pipeline.normalize``; returns rows per entity and the issue count (XCom).
    Raises RecordError on a wrongly typed value, ConfigurationError when ``dag_id`` has no entry."""
    from payroll_etl import pipeline as steps

    cfg, _ = _employer(dag_id)
    return steps.normalize(_run_context(cfg, context.get("params") or {}, context))


def validate_step(dag_id: str, **context: Any) -> dict[str, Any]:
    """Task ``validate``: ``pipeline.validate`` with the config's ``data_quality`` section; returns its summary.
    Raises DataQualityError when a blocking check fails (docs/data-quality.md)."""
    from payroll_etl import pipeline as steps

    cfg, pipeline = _employer(dag_id)
    return steps.validate(_run_context(cfg, context.get("params") or {}, context), pipeline.dq.model_dump())


def load_step(dag_id: str, **context: Any) -> dict[str, Any]:
    """Task ``load``: ``pipeline.load`` (one warehouse transaction); returns status, changes per table and the
    quarantined count (XCom). ConfigurationError when ``dag_id`` has no entry."""
    from payroll_etl import pipeline as steps

    cfg, _ = _employer(dag_id)
    return steps.load(_run_context(cfg, context.get("params") or {}, context))


STEPS = {"extract": extract_step, "normalize": normalize_step, "validate": validate_step, "load": load_step}


def config_error_step(message: str, **_: Any) -> None:
    """The task of a config-error DAG: fails with the entry's problem (ConfigurationError, not retried)."""
    raise ConfigurationError(message)


def build_config_error_dag(problem: EntryProblem) -> DAG:
    """A visible stand-in for an employer entry that failed validation (docs/decisions.md).

    Unscheduled, tagged ``config_error``; its description and docs carry the message (entry and
    field, no values); its one task fails with it when triggered. The parse logs it as an error.
    """
    log.error("employer config: %s (its DAG is replaced by %s)", problem.message, problem.dag_id)
    with PayrollDAG(dag_id=problem.dag_id, schedule=None, start_date=START_DATE, catchup=False,
                    description=f"employers.yaml entry refused: {problem.message}"[:1000],
                    tags=["payroll", "config_error"] + ([f"employer:{problem.key}"] if problem.key else []),
                    doc_md=f"### Employer entry refused\n\n`{problem.message}`\n\nFix the entry in "
                           "`include/employers.yaml` (schema: `docs/employers.schema.json`); the employer's "
                           "DAG comes back at the next parse.") as dag:
        PythonOperator(task_id="config_error", python_callable=config_error_step, op_args=[problem.message],
                       retries=0)
    return dag


def build_all(pipeline: PipelineConfig, only_dag_id: str | None = None, shard: int | None = None,
              shards: int = 1) -> dict[str, DAG]:
    """The DAGs of all enabled employers, or of one shard of them, plus one config-error DAG per
    refused entry (``pipeline.problems``, see :func:`build_config_error_dag`).

    ``shard``/``shards``: a DAG file may build only the employers whose ``crc32(dag_id) % shards``
    equals ``shard`` (``config.in_shard``: stable across parses and machines), so N small files
    replace one big one and the DAG processor parses them in parallel; see docs/operations.md.
    """
    def wanted(dag_id: str) -> bool:
        return (not only_dag_id or dag_id == only_dag_id) and in_shard(dag_id, shard, shards)

    dags = {p.dag_id: build_config_error_dag(p) for p in pipeline.problems if wanted(p.dag_id)}
    for cfg in pipeline.employers:
        if cfg.enabled and wanted(cfg.dag_id):
            try:
                dags[cfg.dag_id] = build_dag(cfg, pipeline)
            except Exception as exc:  # noqa: BLE001 - e.g. a cron Airflow refuses: this employer only
                problem = EntryProblem(-1, cfg.employer, f"employer {cfg.employer!r} ({cfg.connector}): its DAG "
                                       f"cannot be built: {type(exc).__name__}: {exc}")
                if not only_dag_id or problem.dag_id == only_dag_id:  # in the shard of the employer's DAG
                    dags[problem.dag_id] = build_config_error_dag(problem)
    return dags


def dag_file(shard: int | None = None, shards: int = 1) -> dict[str, DAG]:
    """What a DAG file puts in its globals: ``build_all`` of the config (of one shard: read from that
    shard's cache), only the running task's DAG when a worker parses the file for one task."""
    from airflow.sdk import get_parsing_context

    pipeline = read_config(shard=shard, shards=shards)
    return build_all(pipeline, only_dag_id=get_parsing_context().dag_id, shard=shard, shards=shards)
