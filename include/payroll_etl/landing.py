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

import hashlib
import json
import os
import re
import shutil
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from payroll_etl.connectors.base import RawPage

ROW_GROUP_PAGES = 32
# A row group also closes once its pages hold this many characters: some endpoints answer a whole
# pay period's results for every employee in one page, and 32 of those would all sit in memory.
ROW_GROUP_CHARS = 8 * 1024 * 1024
READ_BATCH_PAGES = 4  # pages per decoded batch when reading back
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


def landing_schema():
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


def partition_dir(root: Path, connector: str, employer: str, entity: str, run_date: date) -> Path:
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


class LandingWriter:
    """A :class:`~payroll_etl.connectors.base.LandingSink` writing one run's partitions."""

    def __init__(self, root: Path, connector: str, employer: str, run_date: date, attempt: str | None = None):
        self.root, self.connector, self.employer, self.run_date = Path(root), connector, employer, run_date
        self.attempt = attempt or datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        self._writers: dict[str, Any] = {}
        self._buffers: dict[str, list[dict[str, Any]]] = {}
        self._buffered_chars: dict[str, int] = {}
        self._paths: dict[str, Path] = {}
        self.pages: dict[str, int] = {}
        self.bytes = 0
        self._seq = 0
        self._lock = threading.Lock()  # connectors write from worker threads (bounded concurrency)

    def write(self, entity: str, payload: str, *, url: str, source_id: str, status: int = 200,
              content_type: str = "application/json", meta: dict[str, Any] | None = None) -> None:
        if isinstance(payload, bytes):
            payload = payload.decode("utf-8", errors="replace")
        with self._lock:
            self._write_locked(entity, payload, url, source_id, status, content_type, meta)

    def _write_locked(self, entity: str, payload: str, url: str, source_id: str, status: int, content_type: str,
                      meta: dict[str, Any] | None) -> None:
        self._seq += 1
        self.pages[entity] = self.pages.get(entity, 0) + 1
        self.bytes += len(payload)
        self._buffers.setdefault(entity, []).append({
            "seq": self._seq, "entity": entity, "source_id": source_id, "url": url, "status": status,
            "content_type": content_type, "received_at": datetime.now(UTC),
            "sha256": hashlib.sha256(payload.encode("utf-8", errors="replace")).hexdigest(),
            "meta": json.dumps(meta or {}, sort_keys=True), "payload": payload,
        })
        self._buffered_chars[entity] = self._buffered_chars.get(entity, 0) + len(payload)
        if len(self._buffers[entity]) >= ROW_GROUP_PAGES or self._buffered_chars[entity] >= ROW_GROUP_CHARS:
            self._flush(entity)

    def _flush(self, entity: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = self._buffers.get(entity)
        if not rows:
            return
        if entity not in self._writers:
            directory = partition_dir(self.root, self.connector, self.employer, entity, self.run_date)
            _private_dir(directory)
            path = directory / f".inprogress-{self.attempt}.parquet"
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            os.close(fd)
            self._paths[entity] = path
            self._writers[entity] = pq.ParquetWriter(path, landing_schema(), compression="zstd")
        self._writers[entity].write_table(pa.Table.from_pylist(rows, schema=landing_schema()))
        self._buffers[entity] = []
        self._buffered_chars[entity] = 0

    def _close_all(self) -> None:
        for entity in list(self._buffers):
            self._flush(entity)
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def commit(self) -> dict[str, int]:
        """Make this attempt the run's landing; replaces earlier committed attempts."""
        with self._lock:
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
            with self._lock:
                self._close_all()
        finally:
            for path in self._paths.values():
                if path.exists():
                    os.replace(path, path.parent / f"failed-{self.attempt}.parquet")


def committed_parts(root: Path, connector: str, employer: str, run_date: date) -> dict[str, Path]:
    base = Path(root) / f"connector={connector}" / f"employer={employer}"
    parts = {}
    for part in sorted(base.glob(f"entity=*/run_date={run_date.isoformat()}/part-0.parquet")):
        parts[part.parent.parent.name.split("=", 1)[1]] = part
    return parts


def _read_part(part: Path) -> Iterator[RawPage]:
    import pyarrow.parquet as pq

    reader = pq.ParquetFile(part)
    for batch in reader.iter_batches(batch_size=READ_BATCH_PAGES,
                                     columns=["seq", "entity", "source_id", "url", "content_type", "payload"]):
        for row in batch.to_pylist():
            yield RawPage(row["entity"], row["payload"], row["url"], row["source_id"], row["content_type"])


class LandedPages:
    """The committed raw pages of one run, re-readable: iterating streams every entity (as
    :func:`read_pages`); ``entity(name)`` streams one entity's pages only. Lets a connector leave
    a bulk entity on disk during its first pass and read it page by page afterwards."""

    def __init__(self, root: Path, connector: str, employer: str, run_date: date):
        self.parts = committed_parts(root, connector, employer, run_date)

    @property
    def entities(self) -> list[str]:
        return list(self.parts)

    def entity(self, name: str) -> Iterator[RawPage]:
        if name in self.parts:
            yield from _read_part(self.parts[name])

    def __iter__(self) -> Iterator[RawPage]:
        for part in self.parts.values():
            yield from _read_part(part)


def read_pages(root: Path, connector: str, employer: str, run_date: date) -> Iterator[RawPage]:
    """Committed raw pages of one run, in the order they were received (streamed per batch of pages)."""
    return iter(LandedPages(root, connector, employer, run_date))


def remove_run(root: Path, connector: str, employer: str, run_date: date) -> None:
    base = Path(root) / f"connector={connector}" / f"employer={employer}"
    for directory in base.glob(f"entity=*/run_date={run_date.isoformat()}"):
        shutil.rmtree(directory)
