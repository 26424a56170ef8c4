"""Calls per employee in a nightly Nmbrs run (the simulator counts them): see nmbrs_calls.py."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    import nmbrs_calls

    nmbrs_calls.main()


if __name__ == "__main__":
    main()
