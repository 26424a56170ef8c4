"""Everything a registered connector needs outside its folder exists: the checks behind
docs/architecture.md "How to add a source" (a forgotten step fails here, not at 2 a.m.)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from payroll_etl.config import load_config, normalize_source_ids
from payroll_etl.connectors.registry import CONNECTORS, default_pools
from payroll_etl.errors import ConfigurationError
from payroll_etl.quality.run_level import EMPTY_CAUSES
from payroll_simulators.__main__ import SIMULATORS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(CONNECTORS))
def test_every_connector_has_a_simulator_on_the_registry_port(name):
    assert name in SIMULATORS, f"{name}: add it to payroll_simulators/__main__.SIMULATORS"
    assert SIMULATORS[name][1] == CONNECTORS[name].simulator_port


def test_every_simulator_is_a_registered_connector():
    assert set(SIMULATORS) <= set(CONNECTORS)


def test_simulator_ports_are_distinct():
    ports = [spec.simulator_port for spec in CONNECTORS.values()]
    assert len(ports) == len(set(ports))


@pytest.mark.parametrize("name", sorted(CONNECTORS))
def test_every_connector_has_a_demo_connection_on_its_simulator(name):
    conns = yaml.safe_load((ROOT / "include" / "demo_connections.yaml").read_text())
    hosts = {c["host"] for c in conns.values() if c["conn_type"] == name}
    assert hosts == {f"http://127.0.0.1:{CONNECTORS[name].simulator_port}"}, name


@pytest.mark.parametrize("name", sorted(CONNECTORS))
def test_every_connector_has_empty_causes_and_a_source_id_rule(name):
    assert EMPTY_CAUSES.get(name), f"{name}: add quality/run_level.EMPTY_CAUSES[{name!r}]"
    assert callable(CONNECTORS[name].source_id_normaliser())


def test_every_connector_has_a_pool_even_when_pools_names_none(tmp_path, monkeypatch):
    monkeypatch.setenv("PAYROLL_DATA_DIR", str(tmp_path))  # the parsed-config cache
    raw = yaml.safe_load((ROOT / "include" / "employers.yaml").read_text())
    raw["pools"] = {"payroll_loket_rest": 2, "payroll_extra": 1}  # no entry for the other connectors
    path = tmp_path / "employers.yaml"
    path.write_text(yaml.safe_dump(raw))
    pools = load_config(path).pools
    # pools: overrides the registry's default slots and may add pools; every connector has its pool
    assert pools == {**default_pools(), "payroll_loket_rest": 2, "payroll_extra": 1}
    assert pools["payroll_nmbrs_rest"] == CONNECTORS["nmbrs_rest"].pool_slots
    assert {e.pool for e in load_config(path).employers} <= set(pools)


def test_source_ids_follow_the_registry_rule():
    guid = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
    assert normalize_source_ids("loket_soap", [f"{{{guid}}}"]) == (guid.lower(),)
    assert normalize_source_ids("nmbrs_rest", [" 4711 ", "Transport Oost B.V."]) == ("4711", "Transport Oost B.V.")
    with pytest.raises(ConfigurationError, match="Nmbrs company"):  # not the Loket GUID message
        normalize_source_ids("nmbrs_rest", ["  "])
    with pytest.raises(ConfigurationError, match="not registered"):
        normalize_source_ids("exact_online", ["x"])
    assert normalize_source_ids("exact_online", ["x", "x"], strict=False) == ("x",)
