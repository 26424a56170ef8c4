"""Calls per employee in a nightly Nmbrs run (the simulator counts them): see payroll_simulators.nmbrs.bench."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))


def main() -> None:
    from payroll_simulators.nmbrs import bench

    bench.main()


if __name__ == "__main__":
    main()
