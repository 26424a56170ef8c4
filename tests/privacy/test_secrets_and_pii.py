"""After a full demo (every demo employer through dag.test): no secret and no BSN where it does not belong.

Scanned: task logs (files under AIRFLOW_HOME/logs, log records and the console output of the
runs), XComs (metadata DB), Airflow Variables, reports, landing and staging files, and every
warehouse table. Secrets = the connections' passwords, client secrets and API tokens plus every
token the simulators issued during the runs. BSN = any 9-digit number passing the 11-proef
(``quality.scan``). Landing and staging hold personal data by design: they must be 0600/0700.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from e2e_support import connection_env, environment, run_dag, running_simulators, task_states
from privacy_support import (
    DEMO_DAGS,
    configured_secrets,
    issued_tokens,
    modes,
    parquet_text,
    text_files,
    variables,
    warehouse_rows,
    xcom_values,
)

pytestmark = [pytest.mark.airflow, pytest.mark.slow]
LOGICAL = datetime(2026, 11, 23, 2, 0)
# Warehouse columns that hold identifiers which are not persons' numbers (a 9-digit Nmbrs salary id
# or the loonheffingennummer's 11-modulus digits may pass the 11-proef by construction or chance).
NON_PERSON_ID_COLUMNS = {"source_id", "employee_source_id", "employment_source_id", "employer_source_id",
                         "loonheffingennummer", "run_id", "payroll_administration_id", "mutation_key",
                         "row_hash", "person_key", "mutation_id", "load_run_id", "superseded_by_run",
                         "first_load_run_id", "basis_hash", "employee_number", "employment_number"}


@pytest.fixture(scope="module")
def demo(airflow_db, tmp_path_factory) -> Any:
    """Every demo employer once, capturing logs, console output, XComs and issued tokens."""
    root = tmp_path_factory.mktemp("privacy-demo")
    data_dir = root / "data"
    url = f"duckdb:///{data_dir / 'warehouse.duckdb'}"
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    logging.getLogger().addHandler(handler)
    console = root / "console.txt"
    runs = []
    try:
        with _fd_capture(console), running_simulators() as servers, \
                environment(PAYROLL_WAREHOUSE_URL=url, PAYROLL_DATA_DIR=str(data_dir), **connection_env(servers)):
            for dag_id in DEMO_DAGS:
                run = run_dag(dag_id, LOGICAL)
                assert set(task_states(run).values()) == {"success"}, (dag_id, task_states(run))
                runs.append((dag_id, run.run_id))
            tokens = issued_tokens(servers)
    finally:
        logging.getLogger().removeHandler(handler)
    logs = "\n".join(_format(r) for r in records)
    return {"data_dir": data_dir, "url": url, "logs": logs, "runs": runs, "tokens": tokens,
            "console": console.read_text(errors="replace")}


@contextmanager
def _fd_capture(path: Path) -> Iterator[None]:
    """Console output of the runs (fd 1/2 and sys.stdout/err) into ``path``, scanned like the logs."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    old_streams = sys.stdout, sys.stderr
    with open(path, "w+", buffering=1, errors="replace") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        sys.stdout = sys.stderr = sink
        try:
            yield
        finally:
            sys.stdout, sys.stderr = old_streams
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _format(record: logging.LogRecord) -> str:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001
        message = str(record.msg)
    return f"{record.name} {message} {record.exc_text or ''} {getattr(record, 'event', '')}"


def _log_texts(demo: dict[str, Any]) -> list[tuple[str, str]]:
    home = Path(os.environ["AIRFLOW_HOME"])
    files = [(str(p), t) for p, t in text_files(home / "logs")]
    assert "extract bakkerij_de_vries period" in demo["logs"], "the runs' log records must have been captured"
    return [("log records", demo["logs"]), ("console", demo["console"]), *files]


def test_secrets_are_nowhere_but_in_the_connections(demo):
    secrets = configured_secrets() | demo["tokens"]
    assert "demo-secret" in secrets and "0123456789abcdef0123456789abcdef" in secrets
    assert len(demo["tokens"]) >= 5, "the runs must have used issued tokens (else this test proves nothing)"
    xcoms = xcom_values(demo["runs"])
    assert len(xcoms) >= 4 * len(demo["runs"]), "every task's summary XCom is scanned"
    places: list[tuple[str, str]] = list(_log_texts(demo))
    places += [(f"xcom {i}", v) for i, v in enumerate(xcoms)]
    places += [(f"variable {i}", v) for i, v in enumerate(variables())]
    places += [(str(p), t) for p, t in text_files(demo["data_dir"] / "reports")]
    places += [(str(p), t) for p, t in text_files(demo["data_dir"] / "staging") if p.suffix != ".parquet"]
    places += parquet_text(demo["data_dir"] / "landing") + parquet_text(demo["data_dir"] / "staging")
    places += [(f"warehouse {t}", repr(rows)) for t, (_, rows) in warehouse_rows(demo["url"]).items()]
    assert len(places) > 20
    leaks = [(where, s[:4] + "…") for where, text in places for s in secrets if s in text]
    assert not leaks, f"secrets found: {leaks[:10]}"


def test_no_bsn_in_logs_xcoms_or_reports(demo):
    from payroll_etl.quality.scan import scan_text

    places = list(_log_texts(demo))
    places += [(f"xcom {i}", v) for i, v in enumerate(xcom_values(demo["runs"]))]
    places += [(str(p), t) for p, t in text_files(demo["data_dir"] / "reports")]
    assert any("reports" in w for w, _ in places), "the runs must have written reports"
    findings = [(where, text, f) for where, text in places for f in scan_text(text, where)]

    def shape(text: str, lineno: int) -> str:  # the offending line with every digit masked: where it came from
        import re

        return re.sub(r"[0-9]", "#", text.splitlines()[lineno - 1])[:240]

    assert not findings, [f"{f} in: {shape(text, f.line)}" for _, text, f in findings[:10]]


def test_no_clear_bsn_in_the_warehouse_person_identity_encrypted(demo):
    from payroll_etl.quality.scan import find_bsn_like
    from payroll_etl.warehouse.identity import read_identities

    tables = warehouse_rows(demo["url"])
    cols, rows = tables["person_identity"]
    assert "bsn" not in cols and "iban" not in cols
    keys = [row[cols.index("person_key")] for row in rows]
    bsns = {i.bsn for i in read_identities(demo["url"], keys, reader="tests/privacy",
                                           purpose="privacy scan").values()}
    assert len(bsns) > 100, "every demo employee has an (encrypted) BSN in person_identity"
    for table, (cols, rows) in tables.items():  # person_identity included: encrypted at rest
        for row in rows:
            text = " ".join(str(v) for v in row)
            assert not bsns & set(find_bsn_like(text)) and not any(b in text for b in bsns), \
                f"a clear BSN in warehouse table {table}"
            checked = " ".join(str(v) for c, v in zip(cols, row) if c not in NON_PERSON_ID_COLUMNS)
            assert not find_bsn_like(checked), f"an 11-proef-valid number in {table}"


def test_landing_and_staging_hold_personal_data_privately(demo):
    landing, staging = demo["data_dir"] / "landing", demo["data_dir"] / "staging"
    landed = parquet_text(landing)
    from payroll_etl.quality.scan import find_bsn_like

    assert any(find_bsn_like(t) for _, t in landed), "BSNs are landed (by design): so the landing must be private"
    import stat

    assert stat.S_IMODE(demo["data_dir"].stat().st_mode) == 0o700, "the data dir (and DuckDB file) is private"
    for root in (landing, staging):
        entries = modes(root)
        assert entries
        for path, mode in entries:
            assert mode == (0o700 if path.is_dir() else 0o600), f"{path} has mode {oct(mode)}"
