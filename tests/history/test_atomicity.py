"""Atomicity and concurrency: a load SIGKILLed part-way leaves the warehouse as it was; employers don't block."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from history_support import batch, employee, employment, query, salary, snapshot, ts

from payroll_etl.warehouse import load as loader

HERE = Path(__file__).resolve().parent


def _rows(er: str, amount: str, period: date) -> dict:
    return {"employee": [employee(er, "E1", period, "111222333"), employee(er, "E2", period, "123456782")],
            "employment": [employment(er, "M1", "E1", date(2020, 1, 1), "40", "1.0"),
                           employment(er, "M2", "E2", date(2021, 1, 1), "20", "0.5")],
            "salary": [salary(er, "S1", "M1", date(2025, 1, 1), "4000"),
                       salary(er, "S1", "M1", period, amount)]}


KILLED_LOAD = textwrap.dedent("""
    import sys, time
    from datetime import date
    from pathlib import Path
    sys.path.insert(0, {here!r})
    from history_support import batch, ts
    from test_atomicity import _rows
    from payroll_etl.warehouse import load as loader

    def stall(db, b, changes):  # every entity is merged, the transaction is still open
        Path({marker!r}).write_text("merged")
        time.sleep(120)

    rows = _rows("acme", "4400", date(2025, 3, 1))
    rows["employment"][1]["end_date"] = date(2025, 3, 31)
    loader.load({url!r}, batch("acme", date(2025, 3, 15), ts("2025-03-20"), rows, {{"E1": "111222333"}}),
                post_load_steps=[stall])
""")


def test_load_killed_part_way_leaves_the_warehouse_as_it_was(url, tmp_path):
    loader.load(url, batch("acme", date(2025, 2, 15), ts("2025-02-20"), _rows("acme", "4200", date(2025, 2, 1)),
                           {"E1": "111222333"}))
    before = snapshot(url)
    marker = tmp_path / "merged"
    script = KILLED_LOAD.format(here=str(HERE), marker=str(marker), url=url)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=HERE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "loader exited"
            assert time.monotonic() < deadline, "the load never reached its post-load step"
            time.sleep(0.05)
        if url.startswith("postgresql"):  # the killed load really had written: its rows exist, uncommitted
            assert query(url, "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' "
                              "AND datname = current_database()")[0][0] == 1
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(url) == before
    # and the warehouse is usable: the retried load applies in full
    rows = _rows("acme", "4400", date(2025, 3, 1))
    counts = loader.load(url, batch("acme", date(2025, 3, 15), ts("2025-03-21"), rows, {"E1": "111222333"}))
    assert counts["salary"]["inserted"] == 1
    assert query(url, "SELECT gross_amount FROM salary_current WHERE source_id = 'S1'")[0][0] == 4400


@pytest.mark.postgres
def test_two_employers_load_concurrently_without_blocking(pg_url):
    inside, release = threading.Event(), threading.Event()

    def hold_acme(db, b, changes):
        if b.employer == "acme":
            inside.set()
            release.wait(60)

    errors: list[BaseException] = []

    def load_acme():
        try:
            loader.load(pg_url, batch("acme", date(2025, 2, 15), ts("2025-02-20"),
                                      _rows("acme", "4200", date(2025, 2, 1))), post_load_steps=[hold_acme])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    acme = threading.Thread(target=load_acme)
    try:
        acme.start()
        assert inside.wait(60), "acme's load never reached its post-load step"
        started = time.monotonic()
        loader.load(pg_url, batch("globex", date(2025, 2, 15), ts("2025-02-20"),
                                  _rows("globex", "3100", date(2025, 2, 1))))
        elapsed = time.monotonic() - started
        assert acme.is_alive() and not release.is_set()  # globex committed while acme held its transaction
        assert elapsed < 20
        assert query(pg_url, "SELECT DISTINCT employer FROM salary") == [("globex",)]  # acme not yet visible
    finally:
        release.set()
        acme.join(60)
    assert not errors
    assert sorted(query(pg_url, "SELECT DISTINCT employer FROM salary")) == [("acme",), ("globex",)]


@pytest.mark.postgres
def test_two_loads_of_the_same_employer_serialise(pg_url):
    """Overlapping backfill runs of one employer wait for each other instead of racing on 'current'."""
    inside, release = threading.Event(), threading.Event()

    def hold_first(db, b, changes):
        if b.logical_date == date(2025, 2, 15):
            inside.set()
            release.wait(60)

    first = threading.Thread(target=lambda: loader.load(pg_url, batch(
        "acme", date(2025, 2, 15), ts("2025-02-20"), _rows("acme", "4200", date(2025, 2, 1))),
        post_load_steps=[hold_first]))
    second_done = threading.Event()

    def second_load():
        loader.load(pg_url, batch("acme", date(2025, 3, 15), ts("2025-03-20"),
                                  _rows("acme", "4400", date(2025, 3, 1))))
        second_done.set()

    second = threading.Thread(target=second_load)
    try:
        first.start()
        assert inside.wait(60)
        second.start()
        assert not second_done.wait(2), "the second load did not wait for the first"
    finally:
        release.set()
        first.join(60)
        second.join(60)
    assert second_done.is_set()
    current = query(pg_url, "SELECT valid_from, gross_amount FROM salary WHERE superseded_at IS NULL "
                            "AND source_id = 'S1' ORDER BY valid_from")
    # the second load saw the first's result: February (no longer stated) superseded, nothing duplicated
    assert current == [(date(2025, 1, 1), 4000), (date(2025, 3, 1), 4400)]


def _terminate_when(url: str, backend_pid: int, state: str) -> threading.Thread:
    """A thread that waits until ``backend_pid`` is in ``state`` (pg_stat_activity), then terminates it."""
    import psycopg

    def run() -> None:
        with psycopg.connect(url, autocommit=True) as admin:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                row = admin.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", (backend_pid,)).fetchone()
                if row and row[0] == state:
                    admin.execute("SELECT pg_terminate_backend(%s)", (backend_pid,))
                    return
                time.sleep(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.postgres
@pytest.mark.parametrize("moment", ["during a statement", "between statements"])
def test_backend_terminated_mid_load_is_a_retryable_warehouse_error(pg_url, moment):
    """pg_terminate_backend (a server restart, an admin) mid-load: WarehouseError naming the operation,
    retryable for the task retry policy, and the transaction leaves nothing half-loaded."""
    from payroll_etl.errors import WarehouseError, is_retryable

    loader.load(pg_url, batch("acme", date(2025, 2, 15), ts("2025-02-20"), _rows("acme", "4200", date(2025, 2, 1)),
                              {"E1": "111222333"}))
    before = snapshot(pg_url)
    threads: list[threading.Thread] = []

    def kill(db, b, changes) -> None:  # noqa: ANN001 - the PostLoadStep signature; every entity is merged
        pid = db.conn.info.backend_pid
        if moment == "during a statement":
            threads.append(_terminate_when(pg_url, pid, "active"))
            db.execute("SELECT pg_sleep(20)")
        else:
            threads.append(_terminate_when(pg_url, pid, "idle in transaction"))
            threads[0].join(30)

    rows = _rows("acme", "4400", date(2025, 3, 1))
    with pytest.raises(WarehouseError) as err:
        loader.load(pg_url, batch("acme", date(2025, 3, 15), ts("2025-03-20"), rows, {"E1": "111222333"}),
                    post_load_steps=[kill])
    threads[0].join(30)
    assert is_retryable(err.value)
    message = str(err.value)
    assert "warehouse connection failed during " in message
    if moment == "during a statement":
        assert "during SELECT (AdminShutdown, SQLSTATE 57P01)" in message
    assert "111222333" not in message and "4400" not in message
    assert snapshot(pg_url) == before, "the terminated transaction left nothing behind"
    counts = loader.load(pg_url, batch("acme", date(2025, 3, 15), ts("2025-03-21"), rows, {"E1": "111222333"}))
    assert counts["salary"]["inserted"] == 1


def test_data_errors_are_not_turned_into_warehouse_errors(url):
    """A bad value (DataError, a conversion error) is a bug or bad data, not weather: never retried."""
    from payroll_etl.errors import WarehouseError, is_retryable

    db = loader.connect(url)
    try:
        with pytest.raises(Exception) as err:
            db.query("SELECT CAST(:v AS INTEGER)", {"v": "not a number"})
        assert not isinstance(err.value, WarehouseError) and not is_retryable(err.value)
    finally:
        db.close()


def test_duckdb_file_that_cannot_be_opened_says_why(tmp_path):
    """A DuckDB IOException at connect that is no lock names its cause (not 'locked by another process')."""
    from payroll_etl.errors import WarehouseError

    with pytest.raises(WarehouseError, match="cannot open the file .*No such file or directory") as err:
        loader.connect(f"duckdb:///{tmp_path / 'missing-dir' / 'warehouse.duckdb'}")
    assert "locked" not in str(err.value)


def test_duckdb_io_error_during_a_statement_is_a_retryable_warehouse_error(duckdb_url, tmp_path):
    """DuckDB's IOException mid-statement (the file system failing under the load) is weather too."""
    from payroll_etl.errors import WarehouseError, is_retryable

    db = loader.connect(duckdb_url)
    try:
        with pytest.raises(WarehouseError, match=r"during COPY \(IOException\)") as err:
            db.execute(f"COPY (SELECT 1) TO '{tmp_path / 'missing-dir' / 'out.csv'}'")
        assert is_retryable(err.value)
    finally:
        db.close()
