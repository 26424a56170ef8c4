"""One set of simulators per module, serving the onboarding scenario file."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from onboarding_support import SCENARIO

from payroll_simulators.scenario import load_world


@pytest.fixture(scope="module")
def sims() -> Iterator[dict]:
    from payroll_simulators.__main__ import SIMULATORS, start_all

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    servers = start_all(load_world(SCENARIO), ports={name: 0 for name in SIMULATORS})
    try:
        yield {s.name: s for s in servers}
    finally:
        for s in servers:
            s.stop()
