"""Raw landing: every payload exactly as received, as Parquet, one partition per run.

Layout: ``<data>/landing/connector=C/employer=E/entity=N/run_date=YYYY-MM-DD/part-0.parquet``.

* Pages stream into a Parquet writer (a row group every few pages), so a 20,000-employee
  employer never holds all raw payloads in memory.
* An attempt writes ``.inprogress-<attempt>.parquet`` files; ``commit()`` makes them the run's
  partition, replacing what an earlier attempt of the same run date committed (re-runs never
  append duplicates). ``abort()`` keeps what was received as ``failed-<attempt>.parquet`` next
  to it, and a re-run keeps the part it replaces as ``superseded-by-<attempt>-part-0.parquet``:
  nothing the source sent is ever thrown away, and readers only see the latest committed part.
* Files are created 0600 and directories 0700: payloads hold personal data.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from payroll_etl.connectors.base import RawPage

if TYPE_CHECKING:
    import pyarrow as pa

ROW_GROUP_PAGES = 32
# A row group also closes once its pages hold this many characters: some endpoints answer a whole
# pay period's results for every employee in one page, and 32 of those would all sit in memory.
ROW_GROUP_CHARS = 8 * 1024 * 1024
# Once per entity, its buffered pages are written when nothing arrived for it this long (the
# connector moved on), so the files of small entities are written during the next calls' wait.
IDLE_FLUSH_SECONDS = 0.2
READ_BATCH_PAGES = 4  # pages per decoded batch when reading back; one when they average BIG_PAGE_BYTES
BIG_PAGE_BYTES = 1024 * 1024
# Non-2xx responses land under this entity (evidence of a failed night); normalize skips it.
ERRORS_ENTITY = "errors"
REDACTED = "[redacted]"
_CREDENTIAL_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9\-._~+/]+=*"),
    re.compile(r"(?i)(\"?(?:access_token|refresh_token|id_token|client_secret|password|api_?token|token)\"?"
               r"\s*[:=]\s*\"?)([^\s\"&,;<>}]+)"),
)


def redact_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without credentials: every value in ``secrets`` (the tokens, passwords and client
    secrets the caller sent) and anything shaped like one (``Bearer …``, ``"access_token": "…"``,
    ``password=…``) replaced by ``[redacted]``. For error bodies and URLs before they are landed:
    a gateway may echo the request's ``Authorization`` header."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _CREDENTIAL_PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return _CREDENTIAL_PATTERNS[1].sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def landing_schema() -> pa.Schema:
    """The landing files' Arrow schema: one row per page as received (``payload`` verbatim)."""
    import pyarrow as pa

    return pa.schema([
        ("seq", pa.int64()),
        ("entity", pa.string()),
        ("source_id", pa.string()),
        ("url", pa.string()),
        ("status", pa.int32()),
        ("content_type", pa.string()),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("sha256", pa.string()),
        ("meta", pa.string()),
        ("payload", pa.large_string()),
    ])


_SCHEMA = functools.cache(landing_schema)


def partition_dir(root: Path, connector: str, employer: str, entity: str, run_date: date) -> Path:
    """``root/connector=C/employer=E/entity=N/run_date=YYYY-MM-DD`` (the path only; nothing is created)."""
    return (Path(root) / f"connector={connector}" / f"employer={employer}" / f"entity={entity}"
            / f"run_date={run_date.isoformat()}")


def private_dir(path: Path) -> None:
    """Create ``path`` 0700, and every missing parent 0700 too.

    ``mkdir(parents=True, mode=0o700)`` gives only the leaf that mode; the parents it creates
    (``connector=…/employer=…``) would get the umask's 0755. Existing parents are left alone.
    """
    path = Path(path)
    for missing in reversed([p for p in (path, *path.parents) if not p.exists()]):
        missing.mkdir(mode=0o700, exist_ok=True)
        os.chmod(missing, 0o700)
    os.chmod(path, 0o700)


_private_dir = private_dir


class _Entity:
    """One entity's open part: rows not yet handed to the flusher, and its Parquet writer."""

    __slots__ = ("rows", "chars", "last_write", "idle_flushed", "writer", "path")

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.chars = 0
        self.last_write = 0.0
        self.idle_flushed = False
        self.writer: Any = None
        self.path: Path | None = None


class LandingWriter:
    """A :class:`~payroll_etl.connectors.base.LandingSink` writing one run's partitions.

    ``write`` only buffers the page (the caller's request thread goes straight back to the
    network); a background thread per writer hashes the payloads, builds the Arrow row groups and
    writes the Parquet files while the connector waits on its next call. A row group is handed to
    it once an entity has ``ROW_GROUP_PAGES`` pages or ``ROW_GROUP_CHARS`` characters buffered,
    and once per entity when nothing was written to it for ``IDLE_FLUSH_SECONDS`` (the connector
    moved on: a one-page entity is then on disk before ``commit``). While the row groups not yet
    written hold ``ROW_GROUP_CHARS`` or more, ``write`` waits for the thread: a big page (one
    payroll-results page of a 20,000-employee employer) is written before the next is fetched,
    as without the thread, so peak memory does not grow. An error of the thread (disk full) is
    raised by the next ``write``, ``commit`` or ``abort``."""

    def __init__(self, root: Path, connector: str, employer: str, run_date: date, attempt: str | None = None):
        self.root, self.connector, self.employer, self.run_date = Path(root), connector, employer, run_date
        self.attempt = attempt or datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        self._entities: dict[str, _Entity] = {}
        self._paths: dict[str, Path] = {}
        self.pages: dict[str, int] = {}
        self.bytes = 0
        self._seq = 0
        # connectors write from worker threads (bounded concurrency); the flusher waits on it too
        self._lock = threading.Condition()
        self._pending: deque[tuple[_Entity, str, list[tuple[Any, ...]], int]] = deque()
        self._unwritten_chars = 0  # queued or being written
        self._closing = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def write(self, entity: str, payload: str, *, url: str, source_id: str, status: int = 200,
              content_type: str = "application/json", meta: dict[str, Any] | None = None) -> None:
        """Buffer one page as received (``payload``: text, or bytes decoded as UTF-8 with replacement)."""
        if isinstance(payload, bytes):
            payload = payload.decode("utf-8", errors="replace")
        with self._lock:
            self._raise_error()
            self._seq += 1
            self.pages[entity] = self.pages.get(entity, 0) + 1
            self.bytes += len(payload)
            if self._thread is None:
                self._thread = threading.Thread(target=self._flusher, name=f"landing-{self.employer}", daemon=True)
                self._thread.start()
            part = self._entities.get(entity) or self._entities.setdefault(entity, _Entity())
            part.rows.append((self._seq, entity, source_id, url, status, content_type, datetime.now(UTC),
                              json.dumps(meta or {}, sort_keys=True), payload))
            part.chars += len(payload)
            part.last_write = time.monotonic()
            if len(part.rows) >= ROW_GROUP_PAGES or part.chars >= ROW_GROUP_CHARS:
                self._hand_over(entity, part)
                while self._unwritten_chars >= ROW_GROUP_CHARS and self._error is None:
                    self._lock.wait()  # back-pressure: big pages are written one at a time
            self._lock.notify_all()

    def _hand_over(self, entity: str, part: _Entity) -> None:
        """Queue ``part``'s buffered rows as one row group (caller holds the lock)."""
        if part.rows:
            self._pending.append((part, entity, part.rows, part.chars))
            self._unwritten_chars += part.chars
            part.rows, part.chars = [], 0
            self._lock.notify_all()  # the flusher may be waiting without a timeout

    def _idle_parts(self) -> float | None:
        """Hand over entities idle for ``IDLE_FLUSH_SECONDS`` (once each); seconds until the next one
        may be due, None when nothing is buffered (caller holds the lock)."""
        now, wait = time.monotonic(), None
        for entity, part in self._entities.items():
            if not part.rows or part.idle_flushed:
                continue
            due = part.last_write + IDLE_FLUSH_SECONDS - now
            if due <= 0:
                part.idle_flushed = True
                self._hand_over(entity, part)
            else:
                wait = due if wait is None else min(wait, due)
        return wait

    def _flusher(self) -> None:
        """Background thread: write queued row groups until ``commit``/``abort`` drained the queue."""
        while True:
            with self._lock:
                while not self._pending and not self._closing:
                    timeout = self._idle_parts()
                    if not self._pending:
                        self._lock.wait(timeout)
                if not self._pending:
                    return
                part, entity, rows, chars = self._pending.popleft()
            try:
                self._write_group(part, entity, rows)
                del rows  # a big page must not stay referenced while the thread waits for the next
                with self._lock:
                    self._unwritten_chars -= chars
                    self._lock.notify_all()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's next write/commit/abort
                with self._lock:
                    self._error, self._closing = exc, True
                    self._pending.clear()
                    self._lock.notify_all()
                return

    def _write_group(self, part: _Entity, entity: str, rows: list[tuple[Any, ...]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if part.writer is None:
            directory = partition_dir(self.root, self.connector, self.employer, entity, self.run_date)
            _private_dir(directory)
            path = directory / f".inprogress-{self.attempt}.parquet"
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            os.close(fd)
            part.path = path
            part.writer = pq.ParquetWriter(path, _SCHEMA(), compression="zstd")
        columns = list(zip(*rows))
        digests = [hashlib.sha256(p.encode("utf-8", errors="replace")).hexdigest() for p in columns[8]]
        arrays = [*columns[:7], digests, *columns[7:]]
        part.writer.write_table(pa.Table.from_arrays(
            [pa.array(values, type=field.type) for values, field in zip(arrays, _SCHEMA())], schema=_SCHEMA()))

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _close_all(self) -> None:
        """Hand over every buffered row, wait for the flusher, close the files (their paths in ``_paths``)."""
        with self._lock:
            for entity, part in self._entities.items():
                self._hand_over(entity, part)
            self._closing = True
            self._lock.notify_all()
            thread = self._thread
        if thread is None and self._pending:
            thread = threading.Thread(target=self._flusher, daemon=True)
            thread.start()
        if thread is not None:
            thread.join()
        self._thread = None
        for entity, part in self._entities.items():
            if part.writer is not None:
                part.writer.close()
                part.writer = None
            if part.path is not None:
                self._paths[entity] = part.path
        self._raise_error()

    def commit(self) -> dict[str, int]:
        """Make this attempt the run's landing; replaces earlier committed attempts."""
        self._close_all()
        employer_dir = self.root / f"connector={self.connector}" / f"employer={self.employer}"
        if employer_dir.exists():  # entities an earlier attempt landed but this one did not fetch
            for entity_dir in employer_dir.glob("entity=*"):
                entity = entity_dir.name.split("=", 1)[1]
                old = entity_dir / f"run_date={self.run_date.isoformat()}"
                if entity not in self._paths and old.exists():
                    self._retire(old)
        for path in self._paths.values():
            self._retire(path.parent)
            os.replace(path, path.parent / "part-0.parquet")
        return dict(self.pages)

    def _retire(self, directory: Path) -> None:
        """Hide an earlier attempt's committed part from readers, keeping its payloads on disk."""
        for part in directory.glob("part-*.parquet"):
            os.replace(part, directory / f"superseded-by-{self.attempt}-{part.name}")

    def abort(self) -> None:
        """Keep what was received as ``failed-<attempt>.parquet``; never visible to readers."""
        try:
            self._close_all()
        finally:
            for part in self._entities.values():
                if part.path is not None and part.path.exists():
                    os.replace(part.path, part.path.parent / f"failed-{self.attempt}.parquet")


def committed_parts(root: Path, connector: str, employer: str, run_date: date) -> dict[str, Path]:
    """Entity name -> its committed ``part-0.parquet`` of ``run_date``, sorted by path; ``{}`` when none."""
    base = Path(root) / f"connector={connector}" / f"employer={employer}"
    parts = {}
    for part in sorted(base.glob(f"entity=*/run_date={run_date.isoformat()}/part-0.parquet")):
        parts[part.parent.parent.name.split("=", 1)[1]] = part
    return parts


def _read_part(part: Path) -> Iterator[RawPage]:
    import pyarrow.parquet as pq

    reader = pq.ParquetFile(part)
    meta = reader.metadata  # big pages (a whole period's payroll results) are decoded one at a time
    size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)) // max(meta.num_rows, 1)
    for batch in reader.iter_batches(batch_size=1 if size >= BIG_PAGE_BYTES else READ_BATCH_PAGES,
                                     columns=["seq", "entity", "source_id", "url", "content_type", "payload"]):
        for row in batch.to_pylist():
            yield RawPage(row["entity"], row["payload"], row["url"], row["source_id"], row["content_type"])


class LandedPages:
    """The committed raw pages of one run, re-readable: iterating streams every entity (as :func:`read_pages`);
    ``entity(name)`` streams one entity's pages only (a connector reads one entity at a time, page by page)."""

    def __init__(self, root: Path, connector: str, employer: str, run_date: date):
        self.parts = committed_parts(root, connector, employer, run_date)

    @property
    def entities(self) -> list[str]:
        """Names of the entities with a committed part, sorted."""
        return list(self.parts)

    def entity(self, name: str) -> Iterator[RawPage]:
        """The pages of entity ``name`` in written order (batches of ``READ_BATCH_PAGES``); none if not landed."""
        if name in self.parts:
            yield from _read_part(self.parts[name])

    def __iter__(self) -> Iterator[RawPage]:
        for part in self.parts.values():
            yield from _read_part(part)


def read_pages(root: Path, connector: str, employer: str, run_date: date) -> Iterator[RawPage]:
    """Committed raw pages of one run, in the order they were received (streamed per batch of pages)."""
    return iter(LandedPages(root, connector, employer, run_date))


def remove_run(root: Path, connector: str, employer: str, run_date: date) -> None:
    """Delete every entity's ``run_date`` directory of the employer (committed, failed and superseded parts)."""
    base = Path(root) / f"connector={connector}" / f"employer={employer}"
    for directory in base.glob(f"entity=*/run_date={run_date.isoformat()}"):
        shutil.rmtree(directory)
