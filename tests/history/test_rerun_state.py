"""Which source watermarks a run starts from (source_state), on DuckDB and PostgreSQL.

A re-run of the same logical date (same load_run_id) starts from the watermarks its run started
from, however often it is repeated; the next new run starts from what the latest run left.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from payroll_etl.warehouse import load as loader


def _loaded(url: str, run: str, state: dict) -> None:
    """What a committed load of ``run`` does to source_state (the load writes it in its transaction)."""
    db = loader.connect(url)
    try:
        db.begin()
        loader._write_state(db, SimpleNamespace(connector="nmbrs", employer="acme", state=state, load_run_id=run,
                                                recorded_at=datetime(2026, 11, 30, tzinfo=UTC)))
        db.commit()
    finally:
        db.close()


def test_rerun_of_a_night_starts_from_the_watermarks_that_night_started_from(url: str) -> None:
    def start(run: str) -> dict:
        return loader.previous_state(url, "nmbrs", "acme", run)

    assert start("night-1") == {}  # first run ever: full
    _loaded(url, "night-1", {"employees": 10})
    assert start("night-1") == {}  # its re-run: full again, not "changes since 10"
    _loaded(url, "night-1", {"employees": 11})  # the re-run saw one more change
    assert start("night-1") == {}  # ... and a second re-run still replays the whole night
    assert start("night-2") == {"employees": 11}  # the next night continues from the latest watermarks
    _loaded(url, "night-2", {"employees": 15})
    assert start("night-2") == {"employees": 11}
    _loaded(url, "night-2", {"employees": 15})
    assert start("night-2") == {"employees": 11}
    assert start("night-3") == {"employees": 15}
    assert loader.previous_state(url, "nmbrs", "acme") == {"employees": 15}  # no run id: the latest
    assert loader.previous_state(url, "nmbrs", "other") == {}
