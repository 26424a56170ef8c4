"""Every per-source test table follows the connector registry (issue 14).

A source added to ``payroll_etl.connectors.registry.CONNECTORS`` must show up in each table of the
fault-injection and bad-input suites, or be named in that suite's ``EXCLUDED`` (or the test module's
own ``EXCLUDED``) with the reason; a
table naming a connector that is not registered is an error too. The simulators (which may not import
``payroll_etl``) must serve exactly the registered sources on the registry's ports.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from payroll_etl.connectors.registry import CONNECTORS
from payroll_simulators.__main__ import SIMULATORS

TESTS = Path(__file__).resolve().parent

# suite folder -> (module, table names) of every per-connector table in it
TABLES = {
    "fuzz": [("fuzz_support", ("EMPLOYERS", "TARGETS", "MUTATE"))],
    "faults": [("fault_support", ("DAGS",)),
               ("test_fatal_faults", ("FATAL",)),
               ("test_transient_faults", ("TRANSIENT",)),
               ("test_half_source", ("HALF", "FULL_REFRESH")),
               ("test_unreachable_source", ("DEMO", "EXTRA"))],
}
CASES = [(suite, module, table) for suite, modules in TABLES.items() for module, names in modules for table in names]


def _module(suite: str, name: str):
    folder = str(TESTS / suite)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


def _excluded(suite: str, module: str | None = None) -> dict[str, str]:
    """A module's own ``EXCLUDED`` if it has one, else its suite's (``fuzz_support`` / ``fault_support``)."""
    support = _module(suite, "fuzz_support" if suite == "fuzz" else "fault_support").EXCLUDED
    return getattr(_module(suite, module), "EXCLUDED", support) if module else support


@pytest.mark.parametrize(("suite", "module", "table"), CASES, ids=[f"{m}.{t}" for _, m, t in CASES])
def test_every_registered_connector_has_an_entry_or_a_reasoned_exclusion(suite, module, table):
    keys = set(getattr(_module(suite, module), table))
    excluded = _excluded(suite, module)
    assert keys.isdisjoint(excluded), f"{module}.{table} has entries for excluded {sorted(keys & set(excluded))}"
    assert keys | set(excluded) == set(CONNECTORS), (
        f"{module}.{table}: missing {sorted(set(CONNECTORS) - keys - set(excluded))}, "
        f"unregistered {sorted((keys | set(excluded)) - set(CONNECTORS))}")


@pytest.mark.parametrize("suite", sorted(TABLES))
def test_every_exclusion_says_why(suite):
    for name, reason in _excluded(suite).items():
        assert len(reason.split()) >= 5, f"{suite}: exclusion of {name} gives no reason"


def test_the_simulators_serve_exactly_the_registered_sources_on_their_ports():
    assert {name: port for name, (_, port) in SIMULATORS.items()} == {
        name: spec.simulator_port for name, spec in CONNECTORS.items()}
