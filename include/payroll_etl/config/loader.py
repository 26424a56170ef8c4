"""Reading ``employers.yaml``: validate each entry, expand connector histories, cache the result.

* Each employer entry is validated on its own (``models.plain_entry`` / ``models.HistoryEntry``),
  and so is its ``data_quality.employers.<key>`` override, so a bad entry or override becomes an
  :class:`~payroll_etl.config.employer.EntryProblem` naming the entry (key and position) and the
  field, and the other employers keep their DAGs (:func:`read_config`); :func:`load_config` raises
  the first problem instead (scripts, tests). A bad ``retention:`` section is one problem too
  (``payroll__retention__config_error``; the purge refuses to run, the employers keep their DAGs).
  A broken file (YAML syntax, ``pools``, ``defaults``, the global ``data_quality`` settings) is one
  ConfigurationError for all (docs/decisions.md, "Configuration errors and their blast radius").
* The validated entries are cached per file content (:mod:`.cache`), also per DAG-file shard, so
  each of N shard files unpickles only its own employers instead of re-validating 10,000 (issue 18;
  docs/operations.md). What depends on the day (which DAG of a connector history is scheduled)
  is decided after the cache, on every read.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from payroll_etl import settings
from payroll_etl.config import cache
from payroll_etl.config.employer import EmployerConfig, EntryProblem, PipelineConfig, build_employer, in_shard
from payroll_etl.config.history import dag_ids, expand_connectors, expand_raw
from payroll_etl.errors import ConfigurationError

if TYPE_CHECKING:
    from pydantic import ValidationError

    from payroll_etl.config.models import DataQualitySettings

__all__ = ["config_path", "describe", "expand_connectors", "load_config", "read_config"]
# One validated entry: an EmployerConfig, a history (where, its valid raw mapping; expanded per day), or a problem.
Entry = EmployerConfig | tuple[str, dict[str, Any]] | EntryProblem


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


def read_config(path: Path | None = None, today: date | None = None, shard: int | None = None,
                shards: int = 1) -> PipelineConfig:
    """The employer config with every valid entry, and one ``problems`` item per invalid one.

    ``shard``/``shards``: only the entries with a DAG in that shard (``employer.in_shard``), for a
    DAG file that builds one shard; read from a cache of that shard alone. Raises ConfigurationError
    when the file is missing or broken as a whole.
    """
    path = Path(path or config_path())
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigurationError(f"employer config {path} not found") from exc
    content = cache.digest(data)
    if shard is None:
        pools, dq, retention, entries = cache.cached(path, content, "all", lambda: _validate_file(path, data))
    else:
        pools, dq, retention, entries = cache.cached(path, content, f"{shard}of{shards}", lambda: _select(
            cache.cached(path, content, "all", lambda: _validate_file(path, data)), shard, shards))
    employers: list[EmployerConfig] = []
    problems: list[EntryProblem] = []
    for entry in entries:
        if isinstance(entry, EntryProblem):
            problems.append(entry)
        else:
            configs = [entry] if isinstance(entry, EmployerConfig) else expand_raw(entry[0], entry[1], today)
            employers.extend(c for c in configs if in_shard(c.dag_id, shard, shards))
    return PipelineConfig(tuple(employers), pools, dq, retention=retention, today=today, problems=tuple(problems))


def _entry_dag_ids(entry: Entry) -> list[str]:
    if isinstance(entry, EmployerConfig):
        return [entry.dag_id]
    return [entry.dag_id] if isinstance(entry, EntryProblem) else dag_ids(entry[1])


def _select(validated: tuple[Any, ...], shard: int, shards: int) -> tuple[Any, ...]:
    pools, dq, retention, entries = validated
    return pools, dq, retention, [e for e in entries if any(in_shard(d, shard, shards) for d in _entry_dag_ids(e))]


def _where(path: Path, i: int, key: object) -> str:
    """How a message names an entry: ``<file>: employer 'acme', employers[3]``."""
    return f"{path}: employer {key!r}, employers[{i}]" if isinstance(key, str) and key else f"{path}: employers[{i}]"


def _validate_file(path: Path, data: bytes) -> tuple[Any, ...]:
    """(pools, data-quality settings, retention, entries) of the file: the cached part of a read."""
    from pydantic import ValidationError

    from payroll_etl.config.models import EmployerFields

    try:
        # libyaml's C loader: ~10x faster, it matters when 1,000s of employers are parsed every 30 s
        raw = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{path}: expected a mapping with defaults, pools, data_quality, employers")
    dq, refused = _data_quality(path, raw.get("data_quality") or {})
    pools = raw.get("pools") or {}
    if not isinstance(pools, dict) or not all(isinstance(v, int) and v >= 1 for v in pools.values()):
        raise ConfigurationError(f"{path}: pools: each pool needs a whole number of slots >= 1")
    defaults = raw.get("defaults") or {}
    try:  # a typo here would refuse every entry: say it once, for the file
        EmployerFields.model_validate(defaults)
    except ValidationError as exc:
        raise ConfigurationError(f"{path}: defaults: {'; '.join(describe(exc))}") from None
    retention = raw.get("retention") or {}
    if not isinstance(retention, dict):
        raise ConfigurationError(f"{path}: retention: expected a mapping of data class -> days or years")
    entries = [_entry(path, i, {**defaults, **item} if isinstance(item, dict) else item)
               for i, item in enumerate(raw.get("employers") or [])]
    problems = _refused_overrides(path, _unique(path, entries), refused) + _retention_problems(path, retention)
    return dict(pools), dq, dict(retention), problems


def _data_quality(path: Path, section: Any) -> tuple[DataQualitySettings, dict[str, str]]:
    """(DataQualitySettings, {employer key: problem}) of the ``data_quality:`` section.

    Each ``employers.<key>`` override is validated on its own: a bad one is left out and returned
    as that employer's problem (only its DAG is refused). A bad global setting is one
    ConfigurationError for the file: no employer's thresholds are known then (docs/decisions.md).
    """
    from pydantic import ValidationError

    from payroll_etl.config.models import DataQualityOverride, DataQualitySettings

    overrides = section.get("employers") if isinstance(section, dict) else None
    refused: dict[str, str] = {}
    if isinstance(overrides, dict):
        for key, override in overrides.items():
            try:
                if not isinstance(key, str):
                    raise ConfigurationError("an employer key must be a string")
                DataQualityOverride.model_validate(override)
            except (ValidationError, ConfigurationError) as exc:
                said = describe(exc) if isinstance(exc, ValidationError) else [str(exc)]
                refused[str(key)] = f"data_quality: employers.{key}: {'; '.join(said)}"
        section = {**section, "employers": {k: v for k, v in overrides.items() if str(k) not in refused}}
    try:
        return DataQualitySettings.model_validate(section), refused
    except ValidationError as exc:
        raise ConfigurationError(f"{path}: data_quality: {'; '.join(describe(exc))}") from None


def _refused_overrides(path: Path, entries: list[Entry], refused: dict[str, str]) -> list[Entry]:
    """``entries`` with the employers whose data-quality override was refused turned into problems
    (all DAGs of that employer); an override of a key no entry has is a problem of its own."""
    out: list[Entry] = []
    left = dict(refused)
    for i, entry in enumerate(entries):
        key = entry.key if isinstance(entry, EntryProblem) else (
            entry.employer if isinstance(entry, EmployerConfig) else entry[1]["employer"])
        said = left.pop(key, None) if isinstance(key, str) else None
        if isinstance(entry, EntryProblem) and said is not None:
            entry = EntryProblem(entry.index, key, f"{entry.message}; {said}")
        elif said is not None:
            entry = EntryProblem(i, key, f"{_where(path, i, key)}: {said}")
        out.append(entry)
    return out + [EntryProblem(len(entries) + j, key, f"{path}: {said}") for j, (key, said) in enumerate(left.items())]


def _retention_problems(path: Path, retention: dict[str, Any]) -> list[Entry]:
    """The ``retention:`` section refused as one problem (its stand-in DAG ``payroll__retention__config_error``):
    the employers keep their DAGs, the purge refuses to run until it is fixed."""
    from payroll_etl.config.retention import RetentionPolicy

    try:
        RetentionPolicy.from_config(retention, f"{path}: retention")
    except ConfigurationError as exc:
        return [EntryProblem(-1, "retention", str(exc))]
    return []


def _unique(path: Path, entries: list[Entry]) -> list[Entry]:
    """Entries with a second entry of one employer key (or DAG) turned into problems."""
    seen: set[str] = set()
    keys: set[str] = set()
    out: list[Entry] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, EntryProblem):
            out.append(entry)
            continue
        key = entry.employer if isinstance(entry, EmployerConfig) else entry[1]["employer"]
        where, ids = _where(path, i, key), _entry_dag_ids(entry)
        if key in keys:
            entry = EntryProblem(i, key, f"{where}: employer {key!r} appears twice; one entry per employer, a "
                                         "change of connector goes into its connectors: history")
        elif seen.intersection(ids):
            entry = EntryProblem(i, key, f"{where}: duplicate employer/connector {sorted(seen.intersection(ids))[0]}")
        else:
            keys.add(key)
            seen.update(ids)
        out.append(entry)
    return out


def _entry(path: Path, i: int, item: Any) -> Entry:
    """One entry validated: an EmployerConfig, ("where", raw history mapping), or an EntryProblem."""
    from pydantic import ValidationError

    from payroll_etl.config.models import HistoryEntry, plain_entry

    key = item.get("employer") if isinstance(item, dict) else None
    where = _where(path, i, key)
    problem_key = key if isinstance(key, str) else None
    try:
        if not isinstance(item, dict):
            raise ConfigurationError(f"{where}: an entry must be a mapping (employer: ..., connector: ...)")
        if "connectors" in item:
            expand_connectors(HistoryEntry.model_validate(item), where, date.today())  # the rules of any day
            return where, item
        model = plain_entry().validate_python(item)
        return build_employer(model.model_dump(exclude={"options"}), model.options, where)
    except ValidationError as exc:
        return EntryProblem(i, problem_key, f"{where}: {'; '.join(describe(exc))}")
    except ConfigurationError as exc:
        return EntryProblem(i, problem_key, str(exc))


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
