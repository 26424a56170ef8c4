"""The landing writer's background thread: every page lands once, in order, whatever hands it over
(full row groups, big pages, idle entities, commit), and a failing write surfaces to the caller."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from payroll_etl import landing

DAY = date(2026, 11, 23)


def _write(writer: landing.LandingWriter, entity: str, i: int, size: int = 10) -> None:
    writer.write(entity, f'{{"i": {i}, "x": "{"a" * size}"}}', url=f"https://x/{entity}/{i}", source_id="w1",
                 meta={"page": i})


def test_pages_land_in_order_through_full_big_and_idle_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(landing, "ROW_GROUP_PAGES", 3)
    monkeypatch.setattr(landing, "ROW_GROUP_CHARS", 1000)
    monkeypatch.setattr(landing, "IDLE_FLUSH_SECONDS", 0.01)
    writer = landing.LandingWriter(tmp_path, "loket_rest", "acme", DAY)
    _write(writer, "employer", 0)
    for i in range(1, 8):  # full row groups of 3 pages
        _write(writer, "employee", i)
    for i in range(8, 11):  # big pages: each one row group, written before the next is accepted
        _write(writer, "payroll_result", i, size=5000)
    pages = writer.commit()
    assert pages == {"employer": 1, "employee": 7, "payroll_result": 3}
    landed = list(landing.read_pages(tmp_path, "loket_rest", "acme", DAY))
    assert sorted(int(p.url.rsplit("/", 1)[1]) for p in landed) == list(range(11))
    part = landing.committed_parts(tmp_path, "loket_rest", "acme", DAY)["employee"]
    table = pq.read_table(part)
    assert table.column("seq").to_pylist() == sorted(table.column("seq").to_pylist())
    assert table.schema.equals(landing.landing_schema())
    assert not list(tmp_path.rglob(".inprogress-*"))


def test_a_big_page_after_an_idle_flush_does_not_wait_forever(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The writer thread sleeps without a timeout once nothing is buffered: handing it a big page
    must wake it, or ``write`` waits for it forever."""
    import threading
    import time

    monkeypatch.setattr(landing, "ROW_GROUP_CHARS", 1000)
    monkeypatch.setattr(landing, "IDLE_FLUSH_SECONDS", 0.01)
    writer = landing.LandingWriter(tmp_path, "loket_rest", "acme", DAY)
    _write(writer, "employer", 0)
    time.sleep(0.3)  # the employer page is flushed as idle; the thread then sleeps with nothing buffered
    done = threading.Thread(target=lambda: (_write(writer, "payroll_result", 1, size=5000),
                                            _write(writer, "payroll_result", 2, size=5000)), daemon=True)
    done.start()
    done.join(timeout=30)
    assert not done.is_alive(), "write() never returned"
    assert writer.commit() == {"employer": 1, "payroll_result": 2}


def test_a_failed_background_write_is_raised_and_abort_keeps_what_arrived(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch):
    writer = landing.LandingWriter(tmp_path, "loket_rest", "acme", DAY)

    def broken(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writer, "_write_group", broken)
    _write(writer, "employer", 0)
    with pytest.raises(OSError, match="disk full"):
        writer.commit()
    with pytest.raises(OSError, match="disk full"):
        _write(writer, "employer", 1)
    with pytest.raises(OSError, match="disk full"):
        writer.abort()
    assert landing.committed_parts(tmp_path, "loket_rest", "acme", DAY) == {}


def test_commit_without_pages_lands_nothing(tmp_path: Path):
    assert landing.LandingWriter(tmp_path, "loket_rest", "acme", DAY).commit() == {}
    assert landing.committed_parts(tmp_path, "loket_rest", "acme", DAY) == {}
