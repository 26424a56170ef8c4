"""The run context every step gets: employer, logical date, paths, and what the warehouse says of the run.

Steps hand over through files under ``data/``, never through XCom (``payroll_etl.pipeline``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from payroll_etl import landing, settings
from payroll_etl.config import EmployerConfig
from payroll_etl.periods import PayPeriod, period_for, period_for_logical_date


@dataclass
class RunContext:
    """One employer run: the employer's config, the logical date, and where its files and warehouse are.

    Every step gets one; the steps of one run agree on paths and the ``load_run_id`` through it.
    """
    employer: EmployerConfig
    logical_date: date
    airflow_run_id: str | None = None
    full_refresh: bool = False
    backfill: bool | None = None  # None: decided from the period (a past period is a backfill)
    data_dir: Path = field(default_factory=settings.data_dir)
    warehouse_url: str = field(default_factory=settings.warehouse_url)
    today: date = field(default_factory=date.today)

    _stated: PayPeriod | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def period(self) -> PayPeriod:
        """The pay period this run processes: the one the source stated during extract (its calendar and
        dates win, docs/benefits.md "Pay calendars"), else the configured calendar's period of the
        logical date."""
        stated = self.stated_period()
        if stated is not None:
            return stated
        return period_for_logical_date(self.logical_date, self.employer.payroll_frequency,
                                       self.employer.four_week_tail)

    def stated_period(self) -> PayPeriod | None:
        """The source's period recorded by this run's extract step (``extract.json``), if any."""
        if self._stated is None:
            path = self.staging / "extract.json"
            info = read_json(path).get("source_period") if path.exists() else None
            if info:
                self._stated = PayPeriod(info["frequency"], int(info["year"]), int(info["number"]),
                                         date.fromisoformat(info["start"]), date.fromisoformat(info["end"]),
                                         info.get("tail") or self.employer.four_week_tail)
        return self._stated

    @property
    def is_backfill(self) -> bool:
        """True when told so, else when the run's pay period ended before the current one (``today``)."""
        if self.backfill is not None:
            return self.backfill
        current = period_for(self.today, self.employer.payroll_frequency,
                             self.employer.four_week_tail)
        return self.period.end < current.start

    @property
    def publishes(self) -> bool:
        """True when this connector publishes the employer's facts for this logical date (config history).

        A run that does not publish is a **shadow run**: it extracts, normalizes and validates as usual
        into its own landing and staging (the shadow area), writes nothing to the warehouse, and its
        load step writes the connector comparison report instead (``payroll_etl.compare``,
        docs/migration.md). A retired connector's DAG triggered after its cutover is a shadow run too.
        """
        return self.employer.publishes_on(self.logical_date)

    def cutover_pending(self) -> bool:
        """True when another connector of the employer still has open facts: this load takes over."""
        from payroll_etl.warehouse.cutover import connectors_with_open_facts
        from payroll_etl.warehouse.engines import connect

        if not self.employer.other_connectors or not self.publishes:
            return False
        db = connect(self.warehouse_url)
        try:
            return bool(connectors_with_open_facts(db, self.employer.employer, self.employer.other_connectors))
        finally:
            db.close()

    def is_past_view(self) -> bool:
        """True when this run sees the source as of a past date: a backfill of a past pay period, or any
        run whose logical date is older than a current-view load already in the warehouse (a replay).

        A past view adds period-scoped facts and never supersedes newer knowledge (docs/warehouse.md).
        Queries the warehouse's ``load_run``.
        """
        from payroll_etl.warehouse.load import newer_current_view

        if not self.publishes:  # a shadow run loads nothing at all
            return False
        if self.is_backfill:
            return True
        return newer_current_view(self.warehouse_url, self.employer.connector, self.employer.employer,
                                  self.logical_date, self.load_run_id) is not None

    @property
    def load_run_id(self) -> str:
        """Deterministic per (connector, employer, logical date): a re-run replaces its own run."""
        key = f"{self.employer.connector}/{self.employer.employer}/{self.logical_date.isoformat()}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    @property
    def landing_root(self) -> Path:
        """Root of the raw landing (``data/landing``)."""
        return self.data_dir / "landing"

    @property
    def staging(self) -> Path:
        """This run's staging folder (one per connector, employer and run date)."""
        return (self.data_dir / "staging" / f"connector={self.employer.connector}"
                / f"employer={self.employer.employer}" / f"run_date={self.logical_date.isoformat()}")

    @property
    def report_dir(self) -> Path:
        """Root of the data-quality reports (``data/reports``)."""
        return self.data_dir / "reports"

    def landing_ref(self) -> str:
        """The landing of this run as a glob (for ``quarantine.landing_ref``: where the raw record is)."""
        return str(self.landing_root / f"connector={self.employer.connector}" / f"employer={self.employer.employer}"
                   / f"entity=*/run_date={self.logical_date.isoformat()}")


def system_arrow_pool() -> None:
    """Arrow allocations from the system allocator: the default (mimalloc) pool keeps freed Arrow
    buffers as resident memory, which for a 20,000-employee run is hundreds of MB of peak RSS. The
    steps run one per (Airflow task) process, so setting it process-wide here is fine."""
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())


def write_private(path: Path, text: str) -> None:
    """Write ``text`` atomically to a file only the owner can read (0600, private parent folders)."""
    landing.private_dir(path.parent)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object written by an earlier step (``extract.json``, ``dq.json``)."""
    return json.loads(path.read_text())
