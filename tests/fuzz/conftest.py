"""Bad-input corpus fixtures: real landed pages of each connector's demo employer, captured once."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_support import running_simulators


@pytest.fixture(scope="session")
def templates() -> dict[str, list[Any]]:
    from fuzz_support import capture

    with running_simulators() as servers:
        return capture(servers)
