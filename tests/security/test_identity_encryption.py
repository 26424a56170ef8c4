"""BSN and IBAN encrypted at rest, read through one audited function, keys rotated (DuckDB and PostgreSQL).

The loads go through the real loader with batches sealed as ``pipeline.load`` seals them; the keys
come from ``PAYROLL_IDENTITY_KEYS`` as in production. Nothing here reads a clear value any other way
than ``read_identities``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest
from e2e_support import environment
from sqlalchemy.engine import make_url
from warehouse_support import query

from payroll_etl.benefits.mart import session
from payroll_etl.errors import ConfigurationError
from payroll_etl.periods import period_for_logical_date
from payroll_etl.warehouse import identity
from payroll_etl.warehouse import load as loader
from payroll_etl.warehouse.migrate import upgrade

K1 = "k2025:first-identity-secret-0001"
K2 = "k2026:second-identity-secret-002"
PEOPLE = {"pk-a": ("111222333", "NL91ABNA0417164300"), "pk-b": ("222333444", None)}
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _identities(people: dict[str, tuple[str, str | None]]) -> pa.Table:
    return pa.table({"person_key": list(people), "bsn": [b for b, _ in people.values()],
                     "iban": [i for _, i in people.values()]})


def _load(url: str, people: dict[str, tuple[str, str | None]], day: date) -> None:
    identity.register()
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    batch = identity.SealedLoadBatch(f"run-{day}", "payroll_x", None, "loket_rest", "acme", day,
                                     period_for_logical_date(day, "month"), {},
                                     sealed_identities=identity.seal_table(_identities(people)),
                                     started_at=at, recorded_at=at)
    loader.load(url, batch)


def _all_text(url: str) -> str:
    return " ".join(str(v) for row in query(url, "SELECT * FROM person_identity") for v in row)


@pytest.fixture
def keys_k1():
    with environment(PAYROLL_IDENTITY_KEYS=K1):
        yield


def test_stored_encrypted_read_only_through_the_audited_function(warehouse, keys_k1):
    upgrade(warehouse)
    _load(warehouse, PEOPLE, date(2026, 11, 1))
    cols = [r[0] for r in query(warehouse, "SELECT column_name FROM information_schema.columns "
                                           "WHERE table_name = 'person_identity'")]
    assert "bsn" not in cols and "iban" not in cols
    stored = _all_text(warehouse)
    for bsn, iban in PEOPLE.values():
        assert bsn not in stored and (iban is None or iban not in stored)
    assert query(warehouse, "SELECT DISTINCT key_id FROM person_identity") == [("k2025",)]

    got = identity.read_identities(warehouse, ["pk-a", "pk-b", "pk-missing"], reader="alice@benefits",
                                   purpose="UWV verzuimmelding", now=NOW)
    assert {k: (v.bsn, v.iban) for k, v in got.items()} == PEOPLE
    assert "111222333" not in repr(got)
    audit = query(warehouse, "SELECT person_key, reader, purpose, read_at FROM person_identity_read ORDER BY 1")
    assert [(k, r, p) for k, r, p, _ in audit] == [
        ("pk-a", "alice@benefits", "UWV verzuimmelding"), ("pk-b", "alice@benefits", "UWV verzuimmelding"),
        ("pk-missing", "alice@benefits", "UWV verzuimmelding")]
    with pytest.raises(ConfigurationError, match="reader and a purpose"):
        identity.read_identities(warehouse, ["pk-a"], reader="alice", purpose=" ")
    assert query(warehouse, "SELECT count(*) FROM person_identity_read") == [(3,)]


def test_reloads_write_nothing_and_an_iban_change_is_detected(warehouse, keys_k1):
    upgrade(warehouse)
    _load(warehouse, PEOPLE, date(2026, 11, 1))
    before = query(warehouse, "SELECT person_key, bsn_enc, iban_enc, updated_at FROM person_identity ORDER BY 1")
    _load(warehouse, PEOPLE, date(2026, 11, 2))  # deterministic encryption: identical text, no update
    assert query(warehouse, "SELECT person_key, bsn_enc, iban_enc, updated_at FROM person_identity ORDER BY 1") \
        == before
    _load(warehouse, {**PEOPLE, "pk-b": ("222333444", "NL20INGB0001234567")}, date(2026, 11, 3))
    got = identity.read_identities(warehouse, ["pk-b"], reader="job", purpose="test")
    assert got["pk-b"].iban == "NL20INGB0001234567"
    assert query(warehouse, "SELECT count(*) FROM person_identity") == [(2,)]


def test_key_rotation(warehouse, keys_k1):
    upgrade(warehouse)
    _load(warehouse, PEOPLE, date(2026, 11, 1))
    old_text = _all_text(warehouse)
    with environment(PAYROLL_IDENTITY_KEYS=K2):  # the old key removed too early: refused, named, no value
        with pytest.raises(ConfigurationError, match="k2025") as err:
            identity.read_identities(warehouse, ["pk-a"], reader="job", purpose="test")
        assert "111222333" not in str(err.value)
    with environment(PAYROLL_IDENTITY_KEYS=f"{K2},{K1}"):  # step 1: new key first, old key kept
        assert identity.read_identities(warehouse, ["pk-a"], reader="job", purpose="test")["pk-a"].bsn == "111222333"
        assert identity.rotate(warehouse, batch_size=1) == 2  # step 2: re-encrypt (in batches)
        assert identity.rotate(warehouse) == 0  # idempotent
    assert query(warehouse, "SELECT DISTINCT key_id FROM person_identity") == [("k2026",)]
    assert _all_text(warehouse) != old_text
    with environment(PAYROLL_IDENTITY_KEYS=K2):  # step 3: the old key is gone, everything still reads
        got = identity.read_identities(warehouse, list(PEOPLE), reader="job", purpose="test")
        assert {k: (v.bsn, v.iban) for k, v in got.items()} == PEOPLE
        _load(warehouse, PEOPLE, date(2026, 11, 2))  # and loads keep the new key's text
        assert query(warehouse, "SELECT DISTINCT key_id FROM person_identity") == [("k2026",)]


def test_a_moved_ciphertext_does_not_decrypt(warehouse, keys_k1):
    """The person_key is bound into the ciphertext: copying pk-a's text onto pk-b is detected."""
    upgrade(warehouse)
    _load(warehouse, PEOPLE, date(2026, 11, 1))
    with session(warehouse) as db:
        db.execute("UPDATE person_identity SET bsn_enc = (SELECT bsn_enc FROM person_identity "
                   "WHERE person_key = 'pk-a') WHERE person_key = 'pk-b'")
    with pytest.raises(ConfigurationError, match="pk-b.bsn: does not decrypt"):
        identity.read_identities(warehouse, ["pk-b"], reader="job", purpose="test")


def test_migration_encrypts_existing_clear_rows(warehouse, keys_k1):
    upgrade(warehouse, "0004_access_roles")
    with session(warehouse) as db:
        db.execute("INSERT INTO person_identity (person_key, bsn, iban, first_load_run_id, updated_at) VALUES "
                   "('pk-a', '111222333', 'NL91ABNA0417164300', 'r1', CAST('2026-01-01' AS TIMESTAMPTZ))")
    upgrade(warehouse)
    assert "111222333" not in _all_text(warehouse)
    got = identity.read_identities(warehouse, ["pk-a"], reader="job", purpose="test")
    assert (got["pk-a"].bsn, got["pk-a"].iban) == PEOPLE["pk-a"]


@contextmanager
def _login_url(url: str, group: str) -> Iterator[str]:
    """The warehouse URL for a throw-away LOGIN role in ``group`` (the local server trusts it)."""
    role = f"payroll_test_reader_{uuid.uuid4().hex[:8]}"
    admin = loader.connect(url)
    admin.execute(f'CREATE ROLE "{role}" LOGIN IN ROLE {group}')
    try:
        yield make_url(url).set(username=role).render_as_string(hide_password=False)
    finally:
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()


@pytest.mark.postgres
def test_only_the_restricted_role_reads_and_the_audit_is_append_only(postgres_url, keys_k1):
    import psycopg

    from payroll_etl.warehouse.access import REPORTING_ROLE, RESTRICTED_ROLE

    upgrade(postgres_url)
    _load(postgres_url, PEOPLE, date(2026, 11, 1))
    def denied(url: str, *statements: str) -> None:
        for sql in statements:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                query(url, sql)

    with _login_url(postgres_url, REPORTING_ROLE) as url:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            identity.read_identities(url, ["pk-a"], reader="analyst", purpose="curiosity")
        denied(url, "SELECT bsn_enc FROM person_identity", "SELECT * FROM person_identity_read")
    with _login_url(postgres_url, RESTRICTED_ROLE) as url:
        got = identity.read_identities(url, ["pk-a"], reader="uwv-flow", purpose="UWV verzuimmelding")
        assert got["pk-a"].bsn == "111222333"
        denied(url, "DELETE FROM person_identity_read RETURNING 1",
               "UPDATE person_identity_read SET reader = 'z' RETURNING 1")
        role = make_url(url).username
    assert query(postgres_url, "SELECT reader, db_user FROM person_identity_read") == [("uwv-flow", role)]


@pytest.mark.airflow
def test_a_dag_run_takes_the_key_from_the_airflow_connection(airflow_db, tmp_path):
    """Under Airflow, without PAYROLL_IDENTITY_KEYS, the load task seals with the key of the
    Connection ``payroll_identity_keys`` (here as AIRFLOW_CONN_*; a secrets backend works the same)."""
    import json
    import os
    from datetime import datetime as dt

    from e2e_support import connection_env, run_dag, running_simulators, task_states

    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    conn = json.dumps({"conn_type": "generic", "password": "kconn:identity-secret-from-a-connection"})
    saved = os.environ.pop("PAYROLL_IDENTITY_KEYS", None)
    try:
        with running_simulators() as servers, environment(
                PAYROLL_WAREHOUSE_URL=url, PAYROLL_DATA_DIR=str(tmp_path / "data"),
                AIRFLOW_CONN_PAYROLL_IDENTITY_KEYS=conn, **connection_env(servers)):
            run = run_dag("payroll_loket_soap_schoonmaak_west", dt(2026, 11, 23, 2, 0))
            assert task_states(run)["load"] == "success"
            assert query(url, "SELECT DISTINCT key_id FROM person_identity") == [("kconn",)]
            with environment(PAYROLL_IDENTITY_KEYS="kconn:identity-secret-from-a-connection"):
                keys = [r[0] for r in query(url, "SELECT person_key FROM person_identity")]
                got = identity.read_identities(url, keys, reader="test", purpose="key from a Connection")
            assert len(got) == len(keys) > 10 and all(len(i.bsn) == 9 for i in got.values())
    finally:
        if saved is not None:
            os.environ["PAYROLL_IDENTITY_KEYS"] = saved
