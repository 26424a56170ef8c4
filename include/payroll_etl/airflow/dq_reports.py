"""The data-quality reports inside the Airflow UI: an extra link on the validate task, served pages.

Registered by ``plugins/dq_reports_plugin.py`` (a thin file; the logic is here, importable and
testable without the plugins folder):

* ``DataQualityReportLink``: a global operator extra link, shown on the ``validate`` task of every
  payroll DAG as "Data quality report". It points to the run-level index of the run's date,
  ``/dq-reports/index-<YYYY-MM-DD>.html#<employer>``; the date is the run's logical date (or,
  for a manual run without one, its ``run_after``) as a local Europe/Amsterdam day, exactly as
  the pipeline names its reports (``dag_factory._run_context``). Other tasks get no link.
* ``reports_app()``: a FastAPI sub-application mounted by the API server at ``/dq-reports`` that
  serves the files under ``data/reports/`` (``PAYROLL_DATA_DIR``) to **logged-in** Airflow users
  (the API server's own ``get_user``: session cookie or bearer token). It serves only files inside
  that folder; the pages hold no personal data (docs/data-quality.md, "Privacy check").

The task log also names the pages (``pipeline.validate``), for setups whose API server cannot
see the workers' ``data/`` folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

URL_PREFIX = "/dq-reports"
LINK_NAME = "Data quality report"
VALIDATE_TASK = "validate"


def reports_dir() -> Path:
    """``data/reports`` of this process (``PAYROLL_DATA_DIR``), as the pipeline writes it."""
    from payroll_etl import settings

    return settings.data_dir() / "reports"


def _employer_of(dag_id: str) -> str | None:
    from payroll_etl.config import read_config

    for cfg in read_config().employers:
        if cfg.dag_id == dag_id:
            return cfg.employer
    return None


def report_url(dag_id: str, task_id: str, run_id: str, session: Any = None) -> str:
    """The link of one task instance: the run-level DQ index of its run's date, or "" (no link).

    "" for tasks other than ``validate``, DAGs that are not payroll DAGs and unknown runs.
    """
    if task_id != VALIDATE_TASK:
        return ""
    employer = _employer_of(dag_id)
    if employer is None:
        return ""
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    from payroll_etl.periods import local_day

    def lookup(s: Any) -> tuple[Any, Any] | None:
        row = s.execute(select(DagRun.logical_date, DagRun.run_after)
                        .where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).first()
        return (row[0], row[1]) if row else None

    if session is None:
        from airflow.utils.session import create_session

        with create_session() as own:
            found = lookup(own)
    else:
        found = lookup(session)
    if not found:
        return ""
    when = found[0] or found[1]
    return f"{URL_PREFIX}/index-{local_day(when).isoformat()}.html#{employer}"


def operator_link_class() -> type:
    """The ``BaseOperatorLink`` subclass (built lazily: ``airflow.sdk`` is imported only when asked)."""
    import attrs
    from airflow.sdk import BaseOperatorLink

    @attrs.define()
    class DataQualityReportLink(BaseOperatorLink):
        """'Data quality report' on the validate task of a payroll DAG: the run date's DQ index."""

        name = LINK_NAME

        def get_link(self, operator: Any, *, ti_key: Any) -> str:
            return report_url(ti_key.dag_id, ti_key.task_id, ti_key.run_id)

    DataQualityReportLink.__module__ = __name__
    return DataQualityReportLink


def resolve(base: Path, path: str) -> Path | None:
    """``base/path`` when it is an existing file inside ``base`` (``""`` or a folder: its index.html)."""
    root = base.resolve()
    target = (root / path).resolve()
    if target.is_dir():
        target = target / "index.html"
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target


class LazyReportsApp:
    """An ASGI app that builds ``reports_app()`` on its first request.

    The plugin module is imported by every Airflow process that loads plugins (scheduler,
    dag-processor, workers); building the FastAPI app imports the API server's security module
    (about 5 s). Only the API server ever calls this object, so only it pays.
    """

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            self._app = reports_app()
        await self._app(scope, receive, send)


def reports_app(base: Path | None = None) -> Any:
    """The FastAPI app serving ``data/reports`` to authenticated Airflow users (see module docstring)."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import FileResponse

    app = FastAPI(title="Payroll data-quality reports", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/{path:path}", dependencies=[Depends(get_user)])
    def serve(path: str = "") -> FileResponse:
        target = resolve(base or reports_dir(), path)
        if target is None:
            raise HTTPException(404, "no such report (see docs/data-quality.md, 'Reading the reports')")
        return FileResponse(target, headers={"Cache-Control": "no-cache"})

    return app
