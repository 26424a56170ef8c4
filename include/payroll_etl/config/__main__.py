"""``python -m payroll_etl.config [PATH]``: check an employers file and warm the parsed-config cache.

Prints one line per refused entry (entry and field, never a value) and exits 1 when there is one;
otherwise prints the number of employers and DAGs. Run it after editing ``include/employers.yaml``
(or in a deploy step): the DAG files then start from the cache instead of validating
(payroll_etl/config/loader.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from payroll_etl.config.loader import read_config
from payroll_etl.errors import ConfigurationError


def main(argv: list[str]) -> int:
    """0 when every entry is valid, 1 when one is refused or the file is broken."""
    try:
        config = read_config(Path(argv[0]) if argv else None)
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 1
    for problem in config.problems:
        print(problem.message, file=sys.stderr)
    employers = {e.employer for e in config.employers}
    print(f"{len(employers)} employers, {len(config.employers)} DAGs, {len(config.problems)} refused entries")
    return 1 if config.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
