"""Scenario files: the simulators' world as a YAML or JSON document (``make simulators WORLD=path``).

A scenario holds werkgevers (Loket werkgevers / Nmbrs companies) with their pay frequency,
persons, employments with working hours and wages, approved payroll runs with their result
lines, the simulators' "today", and per-simulator settings (users, domains, rights). The schema
is documented in docs/simulators.md; ``tests/scenarios/`` has small examples and
``include/payroll_simulators/scenarios/demo.yaml`` is the demo world (``build_world()`` dumped
once; a test proves the file and the generator agree).

Conversion is generic over the world's dataclasses (field names and type hints), so a field
added to ``Werkgever``, ``Employment``, ``WageVersion``, … is read and written without changes
here. What a hand-written scenario may leave out is filled in (:func:`world_from_dict`):

* ids: werkgever ``stable_id("werkgever", key)``, person ``stable_id("person", werkgever id,
  employee_number)``, employment ``stable_id("employment", person id, number)``, hours/wage
  versions ``stable_id("hours"|"wage", employment id, index)``, run ``stable_id("run", werkgever
  id, year, period, sequence)``;
* a werkgever's ``number`` (Nmbrs Company ID) and ``loonheffingennummer``; a person's personal
  data (synthetic, 11-proef-valid BSN, from a seed per werkgever and employee number);
* an employment's ``person`` may be given as the person's ``employee_number``; first hours and
  wage versions start with the employment;
* a run without ``results`` gets the lines the demo generator computes from wages and hours
  (``add_period_results``); ``results: []`` means a run without lines.

Errors name the file and the path inside it (``werkgevers[1].employments[0].wages[2].start``).
This package never imports ``payroll_etl``.
"""

from __future__ import annotations

import dataclasses
import json
import random
import types
import typing
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from payroll_simulators import world as w

SCHEMA_VERSION = 1
DEMO_SCENARIO = Path(__file__).parent / "scenarios" / "demo.yaml"


class ScenarioError(ValueError):
    """A scenario file that cannot be read; the message names the file and the path inside it."""


# ------------------------------------------------------------------------------ generic conversion

def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(w))


def _optional(tp: Any) -> tuple[Any, bool]:
    """(inner type, accepts None) of ``X | None``."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else Any), True
    return tp, False


def _convert(tp: Any, value: Any, where: str) -> Any:
    """``value`` from YAML/JSON as type ``tp`` (date, Decimal, int, str, bool, list/dict/tuple, dataclass)."""
    inner, nullable = _optional(tp)
    if value is None:
        if nullable or inner is Any:
            return None
        raise ScenarioError(f"{where}: a value is required")
    origin = typing.get_origin(inner)
    try:
        if inner is Any:
            return value
        if dataclasses.is_dataclass(inner):
            return _build(inner, value, where)
        if origin in (list, tuple, set, frozenset):
            if not isinstance(value, list):
                raise ScenarioError(f"{where}: expected a list")
            (arg, *_rest) = typing.get_args(inner) or (Any,)
            items = [_convert(arg, v, f"{where}[{i}]") for i, v in enumerate(value)]
            return origin(items)
        if origin is dict:
            if not isinstance(value, dict):
                raise ScenarioError(f"{where}: expected a mapping")
            _k, arg = typing.get_args(inner) or (Any, Any)
            return {str(k): _convert(arg, v, f"{where}.{k}") for k, v in value.items()}
        if inner is date:
            return value if isinstance(value, date) else date.fromisoformat(str(value))
        if inner is Decimal:
            if isinstance(value, float):
                value = repr(value)
            return Decimal(str(value))
        if inner is bool:
            if not isinstance(value, bool):
                raise ScenarioError(f"{where}: expected true or false")
            return value
        if inner is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ScenarioError(f"{where}: expected a whole number")
            return int(value)
        if inner is str:
            return str(value)
    except (ValueError, InvalidOperation) as exc:
        if isinstance(exc, ScenarioError):
            raise
        raise ScenarioError(f"{where}: {value!r} is not a valid {getattr(inner, '__name__', inner)}") from None
    return value


def _build(cls: type, data: Any, where: str) -> Any:
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a mapping with the fields of {cls.__name__}")
    hints = _hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {unknown}; {cls.__name__} has {sorted(known)}")
    values = {}
    for name, f in known.items():
        if name in data:
            values[name] = _convert(hints[name], data[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ScenarioError(f"{where}: missing field {name!r} ({cls.__name__})")
    return cls(**values)


def _plain(value: Any) -> Any:
    """A dataclass tree as plain mappings and lists; fields at their default are left out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if f.default is not dataclasses.MISSING and v == f.default:
                continue  # omitted fields take their default when read back
            if f.default_factory is not dataclasses.MISSING and v == f.default_factory():
                continue
            out[f.name] = _plain(v)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value  # dates and Decimals stay typed: YAML writes them plainly, JSON through _json_default


def _json_default(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"cannot write {type(value).__name__} to a scenario")


# ------------------------------------------------------------------------------ defaults

def _synthetic_person(werkgever_id: str, number: int) -> dict[str, Any]:
    """Personal data for a person the scenario only names by employee number (synthetic, valid BSN)."""
    rng = random.Random(f"scenario:{werkgever_id}:{number}")
    gender = rng.choice("MV")
    first = rng.choice(w.FIRST_NAMES_M if gender == "M" else w.FIRST_NAMES_V)
    prefix_code, city = rng.choice(w.CITIES)
    return {
        "bsn": w.make_bsn(rng), "initials": first[0] + ".", "first_name": first, "prefix": rng.choice(w.PREFIXES),
        "last_name": rng.choice(w.LAST_NAMES),
        "birth_date": date(rng.randint(1962, 2004), rng.randint(1, 12), rng.randint(1, 28)), "gender": gender,
        "street": rng.choice(w.STREETS), "house_number": rng.randint(1, 250),
        "postcode": w._postcode(rng, prefix_code), "city": city, "civil_status": "ongehuwd", "iban": w._iban(rng),
    }


def _fill_werkgever(raw: dict[str, Any], index: int, where: str) -> dict[str, Any]:
    data = dict(raw)
    key = data.pop("key", None)
    if "id" not in data:
        if not key:
            raise ScenarioError(f"{where}: give the werkgever an 'id' or a 'key'")
        data["id"] = w.stable_id("werkgever", key)
    data.setdefault("number", 100_000 + index * 17 + 3)
    data.setdefault("frequency", "month")
    data.setdefault("loonheffingennummer", f"{w.make_rsin(random.Random(data['id']))}L01")
    wid = data["id"]
    persons = []
    for i, person in enumerate(data.get("persons") or []):
        if not isinstance(person, dict) or "employee_number" not in person:
            raise ScenarioError(f"{where}.persons[{i}]: a person needs at least an employee_number")
        filled = {**_synthetic_person(wid, int(person["employee_number"])), **person}
        filled.setdefault("id", w.stable_id("person", wid, person["employee_number"]))
        persons.append(filled)
    data["persons"] = persons
    by_number = {int(p["employee_number"]): p["id"] for p in persons}
    employments = []
    for i, emp in enumerate(data.get("employments") or []):
        here = f"{where}.employments[{i}]"
        if not isinstance(emp, dict):
            raise ScenarioError(f"{here}: expected a mapping")
        emp = dict(emp)
        if "person" in emp:
            ref = emp.pop("person")
            if ref not in by_number and str(ref) not in by_number.values():
                raise ScenarioError(f"{here}.person: no person with employee_number or id {ref!r} in this werkgever")
            emp["person_id"] = by_number.get(ref, str(ref))
        if "person_id" not in emp:
            raise ScenarioError(f"{here}: give 'person' (employee_number) or 'person_id'")
        emp.setdefault("werkgever_id", wid)
        emp.setdefault("number", 1)
        emp.setdefault("end", None)
        emp.setdefault("end_reason", None)
        emp.setdefault("fulltime_hours", "40")
        emp.setdefault("holiday_allowance_pct", "8.00")
        emp.setdefault("id", w.stable_id("employment", emp["person_id"], emp["number"]))
        for kind in ("hours", "wages"):
            versions = []
            for j, version in enumerate(emp.get(kind) or []):
                if not isinstance(version, dict):
                    raise ScenarioError(f"{here}.{kind}[{j}]: expected a mapping")
                version = dict(version)
                version.setdefault("start", emp.get("start") if j == 0 else None)
                version.setdefault("id", w.stable_id("hours" if kind == "hours" else "wage", emp["id"], j))
                versions.append(version)
            emp[kind] = versions
        employments.append(emp)
    data["employments"] = employments
    return data


# ------------------------------------------------------------------------------ public API

def world_from_dict(data: dict[str, Any], source: str = "scenario") -> w.World:
    """A :class:`~payroll_simulators.world.World` from a parsed scenario document (see module doc).

    Raises :class:`ScenarioError` naming ``source`` and the path of the offending value.
    """
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping with 'werkgevers', 'runs', …")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ScenarioError(f"{source}: schema_version {version!r} is not supported (expected {SCHEMA_VERSION})")
    unknown = sorted(set(data) - {"schema_version", "description", "today", "werkgevers", "runs", "simulators"})
    if unknown:
        raise ScenarioError(f"{source}: unknown top-level key(s) {unknown}")
    today = _convert(date, data.get("today", w.REFERENCE_TODAY.isoformat()), f"{source}: today")
    werkgevers: dict[str, w.Werkgever] = {}
    keys: dict[str, str] = {}
    for i, raw in enumerate(data.get("werkgevers") or []):
        where = f"{source}: werkgevers[{i}]"
        if not isinstance(raw, dict):
            raise ScenarioError(f"{where}: expected a mapping")
        wg = _build(w.Werkgever, _fill_werkgever(raw, i, where), where)
        if wg.id in werkgevers:
            raise ScenarioError(f"{where}: duplicate werkgever id {wg.id}")
        werkgevers[wg.id] = wg
        if raw.get("key"):
            keys[str(raw["key"])] = wg.id
    world = w.World(werkgevers=werkgevers, runs=[], results=[], today=today,
                    simulators=_convert(dict[str, Any], data.get("simulators") or {}, f"{source}: simulators"))
    for wg in werkgevers.values():
        for emp in wg.employments:
            world.record_versions[emp.id] = world.bump(emp.id)
    for i, raw in enumerate(data.get("runs") or []):
        _add_run(world, keys, raw, f"{source}: runs[{i}]")
    return world


def _add_run(world: w.World, keys: dict[str, str], raw: Any, where: str) -> None:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a mapping")
    run = dict(raw)
    results = run.pop("results", None)
    ref = run.pop("werkgever", None)
    if ref is not None:
        run["werkgever_id"] = keys.get(str(ref), str(ref))
    wg = world.werkgevers.get(run.get("werkgever_id", ""))
    if wg is None:
        raise ScenarioError(f"{where}: 'werkgever' must name a werkgever of this scenario (key or id)")
    for name in ("year", "period"):
        if name not in run:
            raise ScenarioError(f"{where}: missing field {name!r} (PayrollRun)")
    run.setdefault("sequence", 1)
    run.setdefault("id", w.stable_id("run", wg.id, run["year"], run["period"], run["sequence"]))
    if "approved_on" not in run:
        run["approved_on"] = w.period_bounds(wg.frequency, int(run["year"]), int(run["period"]))[1] - timedelta(days=3)
    built = _build(w.PayrollRun, run, where)
    world.runs.append(built)
    if results is None:
        w.add_period_results(world, wg, built, built.year, built.period)
        return
    if not isinstance(results, list):
        raise ScenarioError(f"{where}.results: expected a list of result lines")
    employments = {e.id: e for e in wg.employments}
    by_number = {p.employee_number: p.id for p in wg.persons}
    for j, line in enumerate(results):
        here = f"{where}.results[{j}]"
        if not isinstance(line, dict):
            raise ScenarioError(f"{here}: expected a mapping")
        line = dict(line)
        if "employee_number" in line:
            person = by_number.get(line.pop("employee_number"))
            match = [e.id for e in wg.employments if e.person_id == person]
            if not match:
                raise ScenarioError(f"{here}.employee_number: no employment of such a person in this werkgever")
            line.setdefault("employment_id", match[0])
        if line.get("employment_id") not in employments:
            raise ScenarioError(f"{here}.employment_id: not an employment of this run's werkgever")
        line.setdefault("run_id", built.id)
        line.setdefault("year", built.year)
        line.setdefault("period", built.period)
        world.results.append(_build(w.PayrollResultLine, line, here))


def world_to_dict(world: w.World, description: str | None = None) -> dict[str, Any]:
    """The scenario document of ``world``; :func:`world_from_dict` reads it back into an equal world.

    Every id is written out; a run's ``results`` are left out when they are exactly what
    ``add_period_results`` computes (the demo's runs), so the file stays readable.
    """
    doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    if description:
        doc["description"] = description
    doc["today"] = world.today
    doc["werkgevers"] = [_plain(wg) for wg in world.werkgevers.values()]
    lines_by_run: dict[str, list[w.PayrollResultLine]] = {}
    for line in world.results:
        lines_by_run.setdefault(line.run_id, []).append(line)
    runs = []
    for run in world.runs:
        item = _plain(run)
        wg = world.werkgevers[run.werkgever_id]
        probe = w.World(werkgevers={wg.id: wg}, runs=[], results=[])
        w.add_period_results(probe, wg, run, run.year, run.period)
        actual = lines_by_run.get(run.id, [])
        if actual != probe.results:
            item["results"] = [{k: v for k, v in _plain(line).items() if k != "run_id"} for line in actual]
        runs.append(item)
    doc["runs"] = runs
    if world.simulators:
        doc["simulators"] = _plain(world.simulators)
    return doc


def _yaml():
    import yaml

    return yaml


class _Flow(dict):
    """A mapping written on one line (versions, runs, result lines)."""


def _to_yaml(doc: dict[str, Any]) -> str:
    """YAML with werkgevers, persons and employments as blocks and their small records on one line each."""
    yaml = _yaml()

    class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
        def ignore_aliases(self, data: Any) -> bool:  # shared date objects: no &id001 anchors
            return True

    def decimal(dumper: Any, data: Decimal) -> Any:
        text = format(data, "f")
        return dumper.represent_scalar("tag:yaml.org,2002:" + ("float" if "." in text else "int"), text)

    Dumper.add_representer(Decimal, decimal)
    Dumper.add_representer(_Flow, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data.items(),
                                                                         flow_style=True))
    for wg in doc.get("werkgevers", []):
        wg["persons"] = [_Flow(p) for p in wg.get("persons", [])]
        for emp in wg.get("employments", []):
            for kind in ("hours", "wages"):
                if kind in emp:
                    emp[kind] = [_Flow(v) for v in emp[kind]]
    for run in doc.get("runs", []):
        if "results" in run:
            run["results"] = [_Flow(line) for line in run["results"]]
    doc["runs"] = [_Flow(r) if "results" not in r else r for r in doc.get("runs", [])]
    return yaml.dump(doc, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=1000, default_flow_style=False)


def load_world(path: str | Path) -> w.World:
    """Read a scenario file (``.yaml``/``.yml`` or ``.json``) into a World; see docs/simulators.md."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file ({exc.strerror})") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            yaml = _yaml()
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (ValueError, Exception) as exc:  # JSONDecodeError, yaml.YAMLError
        if isinstance(exc, ScenarioError):
            raise
        raise ScenarioError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: "
                            f"{str(exc).splitlines()[0][:200]}") from None
    return world_from_dict(data, str(path))


def dump_world(world: w.World, path: str | Path | None = None, description: str | None = None) -> str:
    """The scenario text of ``world`` (YAML, or JSON when ``path`` ends in ``.json``); written to ``path`` if given."""
    doc = world_to_dict(world, description)
    if path is not None and Path(path).suffix.lower() == ".json":
        text = json.dumps(doc, indent=1, ensure_ascii=False, default=_json_default) + "\n"
    else:
        text = _to_yaml(doc)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    """``python -m payroll_simulators.scenario dump PATH [--seed N]`` writes the generated world as a scenario;
    ``python -m payroll_simulators.scenario check PATH`` reads one and prints what it holds."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    dump = sub.add_parser("dump")
    dump.add_argument("path")
    dump.add_argument("--seed", type=int, default=42)
    check = sub.add_parser("check")
    check.add_argument("path")
    args = parser.parse_args(argv)
    if args.command == "dump":
        dump_world(w.build_world(seed=args.seed), args.path,
                   description=f"The demo world: payroll_simulators.world.build_world(seed={args.seed}).")
        print(f"wrote {args.path}")
        return 0
    try:
        world = load_world(args.path)
    except ScenarioError as exc:
        print(f"error: {exc}")
        return 2
    for wg in world.werkgevers.values():
        print(f"{wg.id}  {wg.number}  {wg.name}  {wg.frequency}: {len(wg.persons)} persons, "
              f"{len(wg.employments)} employments, {sum(r.werkgever_id == wg.id for r in world.runs)} runs")
    print(f"today {world.today}, {len(world.results)} result lines, simulators: {sorted(world.simulators) or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
