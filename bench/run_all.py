"""`make bench`: run every bench/bench_*.py (each has a main() that prints its figures), then the
figures of issue 18 again, together, each next to its goal, and the total time of `make bench`.

Every line a benchmark prints that names a goal (``goal``, ``[met]``, ``[MISSED]``) is a figure;
the summary repeats them in the order they were measured, so the benchmarks stay free to add
figures without this file knowing them. Goal of `make bench` itself (issue 18): under 10 minutes at the default sizes.

``python bench/run_all.py scale warehouse`` runs only the benchmarks whose name contains one of
the words. Sizes and skips: see each benchmark's docstring (``PAYROLL_BENCH_*``); the large runs
(100,000 employees) are opt-in with ``PAYROLL_BENCH_LARGE=1``.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import time
from pathlib import Path
from typing import TextIO

TOTAL_GOAL_S = 600.0
FIGURE_WORDS = ("goal", "[met]", "[MISSED]")


class Tee(io.TextIOBase):
    """Writes to ``out`` and keeps every complete line that names a goal."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.figures, self._partial = out, [], ""

    def write(self, text: str) -> int:
        self.out.write(text)
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        self.figures += [line for line in lines if any(w in line for w in FIGURE_WORDS) and not line.startswith("=== ")]
        return len(text)

    def flush(self) -> None:
        self.out.flush()


def run(path: Path) -> bool:
    """Import ``path`` as a module named after its stem and call its ``main()``; False when it raised."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # picklable by name (spawned simulator processes)
    try:
        spec.loader.exec_module(module)
        module.main()
    except Exception as exc:  # noqa: BLE001 - report and continue with the other benchmarks
        print(f"FAILED: {type(exc).__name__}: {exc}", flush=True)
        return False
    return True


def main() -> int:
    only = sys.argv[1:]
    sys.path.insert(0, str(Path(__file__).parent))
    tee = Tee(sys.stdout)
    sys.stdout = tee
    started, failures = time.perf_counter(), []
    try:
        for path in sorted(Path(__file__).parent.glob("bench_*.py")):
            if only and not any(o in path.stem for o in only):
                continue
            print(f"\n=== {path.stem} ===", flush=True)
            began = time.perf_counter()
            if not run(path):
                failures.append(path.stem)
            print(f"({path.stem} took {time.perf_counter() - began:.1f} s)", flush=True)
    finally:
        sys.stdout = tee.out
    total = time.perf_counter() - started
    print("\n=== issue 18: every figure next to its goal (this run) ===")
    for line in tee.figures:
        print(f"- {line.strip()}")
    verdict = "met" if total <= TOTAL_GOAL_S else "MISSED"
    print(f"- make bench total {total:.0f} s / goal {TOTAL_GOAL_S:.0f} s = {total / TOTAL_GOAL_S:.2f} [{verdict}]"
          + (f" (only {', '.join(only)})" if only else ""))
    if failures:
        print(f"- FAILED: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
