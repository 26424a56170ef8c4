"""Reading ``employers.yaml``: validate each entry, expand connector histories, cache the result.

* Each employer entry is validated on its own (``models.plain_entry`` / ``models.HistoryEntry``),
  so a bad entry becomes an :class:`~payroll_etl.config.employer.EntryProblem` naming the entry
  (key and position) and the field, and the other employers keep their DAGs (:func:`read_config`);
  :func:`load_config` raises the first problem instead (scripts, tests). A broken file (YAML
  syntax, ``pools``, ``data_quality``) is one ConfigurationError for all.
* The validated entries are cached per file content (SHA-256 of the bytes): in-process, and on disk
  under ``settings.cache_dir()`` (pickle, written atomically, ignored when unreadable or from
  another code version), so each of N shard DAG files does not re-validate 10,000 employers
  (issue 18; docs/operations.md). What depends on the day (which DAG of a connector history is
  scheduled) is decided after the cache, on every read.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from payroll_etl import settings
from payroll_etl.config.employer import EmployerConfig, EntryProblem, PipelineConfig, normalize_source_ids
from payroll_etl.errors import ConfigurationError

if TYPE_CHECKING:
    from pydantic import ValidationError

    from payroll_etl.config.models import DataQualitySettings, HistoryEntry

CACHE_VERSION = 1
# One validated entry: an EmployerConfig, a history (where, its valid raw mapping; expanded per day), or a problem.
Entry = EmployerConfig | tuple[str, dict[str, Any]] | EntryProblem
_memo: dict[tuple[str, str], tuple[Any, ...]] = {}


def config_path() -> Path:
    """``PAYROLL_EMPLOYERS_FILE``, default include/employers.yaml."""
    return settings.runtime().employers_file


def load_config(path: Path | None = None, today: date | None = None) -> PipelineConfig:
    """Read and validate the employer config; raises ConfigurationError for the first bad entry.

    ``today`` fixes the day the schedules of connector histories are decided for (tests).
    """
    config = read_config(path, today)
    if config.problems:
        raise ConfigurationError(config.problems[0].message)
    return config


def read_config(path: Path | None = None, today: date | None = None) -> PipelineConfig:
    """The employer config with every valid entry, and one ``problems`` item per invalid one."""
    path = Path(path or config_path())
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigurationError(f"employer config {path} not found") from exc
    pools, dq, retention, entries = _validated(path, data)
    employers: list[EmployerConfig] = []
    problems: list[EntryProblem] = []
    seen: set[str] = set()
    keys: set[str] = set()
    for i, entry in enumerate(entries):
        if isinstance(entry, EntryProblem):
            problems.append(entry)
            continue
        try:
            configs = [entry] if isinstance(entry, EmployerConfig) else _history(entry[0], entry[1], today)
            _check_unique(configs, _where(path, i, configs[0].employer), seen, keys)
        except ConfigurationError as exc:
            problems.append(EntryProblem(i, _key_of(entry), str(exc)))
            continue
        employers.extend(configs)
    return PipelineConfig(tuple(employers), pools, dq, retention=retention, today=today, problems=tuple(problems))


def _key_of(entry: Entry) -> str | None:
    if isinstance(entry, EmployerConfig):
        return entry.employer
    return entry[1]["employer"] if isinstance(entry, tuple) else entry.key


def _history(where: str, raw: dict[str, Any], today: date | None) -> list[EmployerConfig]:
    """A history entry (valid when cached; its models are built per process, not pickled) expanded for ``today``."""
    from payroll_etl.config.models import HistoryEntry

    return expand_connectors(HistoryEntry.model_validate(raw), where, today)


def _check_unique(configs: list[EmployerConfig], where: str, seen: set[str], keys: set[str]) -> None:
    if configs[0].employer in keys:
        raise ConfigurationError(f"{where}: employer {configs[0].employer!r} appears twice; one entry per "
                                 "employer, a change of connector goes into its connectors: history")
    for cfg in configs:
        if cfg.dag_id in seen:
            raise ConfigurationError(f"{where}: duplicate employer/connector {cfg.dag_id}")
    seen.update(cfg.dag_id for cfg in configs)
    keys.add(configs[0].employer)


def _where(path: Path, i: int, key: object) -> str:
    """How a message names an entry: ``<file>: employer 'acme', employers[3]``."""
    return f"{path}: employer {key!r}, employers[{i}]" if isinstance(key, str) and key else f"{path}: employers[{i}]"


def _code_version() -> str:
    """Changes whenever the config code or the options models change (cache entries from other code are ignored)."""
    from payroll_etl.connectors import options, registry

    files = [*Path(__file__).parent.glob("*.py"), Path(options.__file__), Path(registry.__file__)]
    return f"{CACHE_VERSION}:" + ",".join(str(p.stat().st_mtime_ns) for p in sorted(files))


def _validated(path: Path, data: bytes) -> tuple[Any, ...]:
    """(pools, data-quality settings, retention, entries) of the file with content ``data``, cached."""
    digest = hashlib.sha256(data).hexdigest()
    key = (str(path), digest)
    if key in _memo:
        return _memo[key]
    version = _code_version()
    cache_file = settings.cache_dir() / f"employers-{hashlib.sha256(str(path).encode()).hexdigest()[:16]}.pickle"
    result = _read_cache(cache_file, (version, digest))
    if result is None:
        result = _validate_file(path, data)
        _write_cache(cache_file, (version, digest), result)
    _memo.clear()
    _memo[key] = result
    return result


def _read_cache(cache_file: Path, key: tuple[str, str]) -> tuple[Any, ...] | None:
    try:
        with cache_file.open("rb") as f:
            stored_key, result = pickle.load(f)  # noqa: S301 - our own file under the data directory
    except Exception:  # noqa: BLE001 - missing, truncated or from another version: validate again
        return None
    return result if stored_key == key else None


def _write_cache(cache_file: Path, key: tuple[str, str], result: tuple[Any, ...]) -> None:
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(pickle.dumps((key, result), protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, cache_file)
    except (OSError, pickle.PicklingError):
        pass  # a read-only data directory: no cache, every parse validates


def _validate_file(path: Path, data: bytes) -> tuple[Any, ...]:
    from pydantic import ValidationError

    from payroll_etl.config.models import DataQualitySettings

    try:
        # libyaml's C loader: ~10x faster, it matters when 1,000s of employers are parsed every 30 s
        raw = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{path}: expected a mapping with defaults, pools, data_quality, employers")
    try:
        dq = DataQualitySettings.model_validate(raw.get("data_quality") or {})
    except ValidationError as exc:
        raise ConfigurationError(f"{path}: data_quality: {'; '.join(describe(exc))}") from None
    pools = raw.get("pools") or {}
    if not isinstance(pools, dict) or not all(isinstance(v, int) and v >= 1 for v in pools.values()):
        raise ConfigurationError(f"{path}: pools: each pool needs a whole number of slots >= 1")
    defaults = raw.get("defaults") or {}
    entries = [_entry(path, i, {**defaults, **item} if isinstance(item, dict) else item)
               for i, item in enumerate(raw.get("employers") or [])]
    return dict(pools), dq, dict(raw.get("retention") or {}), entries


def _entry(path: Path, i: int, item: Any) -> Entry:
    """One entry validated: an EmployerConfig, ("where", HistoryEntry), or an EntryProblem."""
    from pydantic import ValidationError

    from payroll_etl.config.models import HistoryEntry, plain_entry

    key = item.get("employer") if isinstance(item, dict) else None
    where = _where(path, i, key)
    try:
        if not isinstance(item, dict):
            raise ConfigurationError(f"{where}: an entry must be a mapping (employer: ..., connector: ...)")
        if "connectors" in item:
            HistoryEntry.model_validate(item)
            return where, item
        model = plain_entry().validate_python(item)
        fields = model.model_dump(exclude={"options"})
        return _employer_config(fields, model.options, where)
    except ValidationError as exc:
        return EntryProblem(i, key if isinstance(key, str) else None, f"{where}: {'; '.join(describe(exc))}")
    except ConfigurationError as exc:
        return EntryProblem(i, key if isinstance(key, str) else None, str(exc))


def _employer_config(fields: dict[str, Any], options: Any, where: str) -> EmployerConfig:
    fields["source_ids"] = normalize_source_ids(fields["connector"], list(fields["source_ids"]), where)
    fields["name"] = fields.get("name") or fields["employer"]
    return EmployerConfig(**fields, options=options)


def describe(exc: ValidationError) -> list[str]:
    """pydantic's errors as "<field path>: <problem>" lines, unknown keys grouped per place; never values."""
    from payroll_etl.connectors.registry import CONNECTORS

    unknown: dict[str, list[str]] = {}
    lines: list[str] = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p in CONNECTORS)]
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        if err["type"] == "extra_forbidden":
            parent = path.rpartition(".")[0] if loc and not isinstance(loc[-1], int) else path
            unknown.setdefault(parent, []).append(str(loc[-1]))
            continue
        msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        named = not path or msg.startswith((str(loc[-1]), f"'{loc[-1]}'"))
        lines.append(msg if named else f"{path}: {msg.lower() if msg[:1].isupper() else msg}")
    lines += [f"{parent + ': ' if parent else ''}unknown keys {sorted(keys)}" for parent, keys in unknown.items()]
    return lines


def _local_today(tz: str) -> date:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(tz)).date()


def expand_connectors(entry: HistoryEntry, where: str, today: date | None = None) -> list[EmployerConfig]:
    """An employer with a ``connectors:`` history -> one :class:`EmployerConfig` per connector.

    ``connectors:`` (oldest first) lists each connector with its ``conn_id`` (``source_ids`` and
    ``options`` default to the employer's) and ``from``: the first logical date it publishes (the
    cutover). The first entry may omit ``from`` (since always); the last may be ``shadow: true``
    (runs nightly beside the publisher before its ``from``, or indefinitely without one). A
    connector publishes from its ``from`` up to the day before the next entry's; switching back is
    one more entry. Rules: consecutive entries differ, ``from`` dates strictly increase.
    ``today`` (default: today in the employer's time zone) decides which DAGs are scheduled: the
    publisher of today and an active shadow; the others keep their DAG, unscheduled.
    Raises ConfigurationError naming ``<where>.connectors[i]`` and the rule.
    """
    spells = entry.connectors
    for i, spell in enumerate(spells):
        at = f"{where}.connectors[{i}]"
        if spell.shadow and i != len(spells) - 1:
            raise ConfigurationError(f"{at}: only the last connector can be a shadow")
        if i and spell.first is None and not spell.shadow:
            raise ConfigurationError(f"{at}: 'from' (the cutover date) is required after the first connector")
        if i and spell.connector == spells[i - 1].connector:
            raise ConfigurationError(f"{at}: the same connector twice in a row")
        if spell.first is not None and any(s.first is not None and s.first >= spell.first for s in spells[:i]):
            raise ConfigurationError(f"{at}: 'from' dates must increase")
    history = []
    for i, spell in enumerate(spells):
        if spell.first is None and i:  # a shadow without a cutover date never publishes
            continue
        nxt = next((s.first for s in spells[i + 1:] if s.first is not None), None)
        history.append((spell.connector, spell.first, nxt - timedelta(days=1) if nxt else None))
    today = today or _local_today(entry.timezone)
    publisher = next((c for c, f, u in history if (f is None or f <= today) and (u is None or today <= u)), None)
    out: dict[str, EmployerConfig] = {}
    base = entry.model_dump(exclude={"connectors", "options", "source_ids"})
    for spell in spells:
        live = spell.connector == publisher or (spell.shadow and (spell.first is None or today < spell.first))
        source_ids = spell.source_ids or entry.source_ids
        if not source_ids:
            raise ConfigurationError(f"{where}: missing 'source_ids'")
        options = {**entry.options, **(spell.options.model_dump(exclude_unset=True) if spell.options else {})}
        fields = {**base, "connector": spell.connector, "conn_id": spell.conn_id, "source_ids": source_ids,
                  "schedule": entry.schedule if live else None, "shadow": spell.shadow, "history": tuple(history)}
        out[spell.connector] = _employer_config(fields, _typed(spell.connector, options, where), where)
    return list(out.values())


def _typed(connector: str, options: dict[str, Any], where: str) -> Any:
    from payroll_etl.config.employer import typed_options

    try:
        return typed_options(connector, options, "")
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {connector}: {str(exc).removeprefix('employer : ')}") from None


def data_quality_defaults() -> DataQualitySettings:
    """The data-quality settings when the config sets none (every default)."""
    from payroll_etl.config.models import DataQualitySettings

    return DataQualitySettings()
