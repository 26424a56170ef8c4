"""The parsed-config cache: validated employer entries per file content, in-process and on disk.

Keyed by the SHA-256 of the file's bytes, the config code's version (file mtimes of this package,
the options models and the registry) and a selection (all entries, or one shard of the DAG files).
On disk: ``<settings.cache_dir()>/employers-<path hash>-<selection>.pickle``, written atomically;
unreadable, stale or foreign entries are ignored (validated again). Only this process writes what
it then reads, under the data directory: pickle is safe here as the data directory is ours.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from payroll_etl import settings

CACHE_VERSION = 3
_memo: dict[tuple[str, str, str], Any] = {}


def digest(data: bytes) -> str:
    """SHA-256 hex of a file's bytes."""
    return hashlib.sha256(data).hexdigest()


def _code_version() -> str:
    from payroll_etl.connectors import options, registry

    models = [importlib.util.find_spec(spec.options.partition(":")[0]) for spec in registry.CONNECTORS.values()]
    files = [*Path(__file__).parent.glob("*.py"), Path(options.__file__), Path(registry.__file__),
             *(Path(str(found.origin)) for found in models if found is not None)]
    return f"{CACHE_VERSION}:" + ",".join(str(p.stat().st_mtime_ns) for p in sorted(files))


def cached(path: Path, content: str, selection: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` for (``path``, its content digest, ``selection``), from the memo or disk when there."""
    key = (str(path), content, selection)
    if key in _memo:
        return _memo[key]
    stamp = (_code_version(), content)
    name = f"employers-{hashlib.sha256(str(path).encode()).hexdigest()[:16]}-{selection}.pickle"
    cache_file = settings.cache_dir() / name
    result = _read(cache_file, stamp)
    if result is None:
        result = compute()
        _write(cache_file, stamp, result)
    for old in [k for k in _memo if k[:1] == key[:1] and k[2] == selection]:
        del _memo[old]
    _memo[key] = result
    return result


def clear_memo() -> None:
    """Forget the in-process results (tests: behave as a fresh DAG-file process)."""
    _memo.clear()


def _read(cache_file: Path, stamp: tuple[str, str]) -> Any:
    try:
        with cache_file.open("rb") as f:
            stored, result = pickle.load(f)  # noqa: S301 - our own file under the data directory
    except Exception:  # noqa: BLE001 - missing, truncated or from another version: validate again
        return None
    return result if stored == stamp else None


def _write(cache_file: Path, stamp: tuple[str, str], result: Any) -> None:
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(pickle.dumps((stamp, result), protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, cache_file)
    except (OSError, pickle.PicklingError):
        pass  # a read-only data directory: no cache, every parse validates
