"""`make airflow-cli ARGS="..."`: any ``airflow`` command with the project's environment.

The Makefile exports the environment (Airflow home, DAGs folder, the PostgreSQL metadata DB, the
Fernet key command); this script adds what Airflow needs besides (the async metadata URL, the
venv's ``bin`` on ``PATH``), creates and migrates the metadata DB on first use, then replaces
itself with ``airflow <args>``. Example: ``make airflow-cli ARGS="dags list"``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import airflow_setup  # sets the Fernet key and the async metadata URL for this process and airflow


def main(argv: list[str]) -> int:
    """Exec ``airflow argv`` (never returns on success); prepares the metadata DB first if needed."""
    if not airflow_setup.metadata_migrated():
        airflow_setup.main()
    bin_dir = Path(sys.executable).parent
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    os.execv(bin_dir / "airflow", ["airflow", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
