"""A fresh Loket REST simulator per test on 127.0.0.1 (port 0), and connector helpers."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from loket_rest_support import Sim, start_sim  # noqa: E402

logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture
def sim() -> Sim:
    running = start_sim()
    yield running
    running.server.stop()
