"""The warehouse URL is honoured option by option, by the loader's own connection too.

* ``sslmode=require`` against the TLS-less shared server refuses (it used to connect in clear).
* ``verify-full`` against a TLS server of our own: the right root certificate connects over TLS,
  a wrong one is refused as a configuration error naming ``sslrootcert``.
* Passwords with space, ``@``, ``%`` (percent-encoded in the URL) log in, through the loader, the
  SQLAlchemy engine and alembic alike; a wrong password is refused, and never appears in the error.
* DuckDB: a path with spaces, and ``?access_mode=read_only``.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from payroll_etl.errors import ConfigurationError, WarehouseError
from payroll_etl.warehouse import migrate
from payroll_etl.warehouse.load import connect

NO_RETRY_ERRORS = {"ConfigurationError", "AuthenticationError", "AuthorizationError"}


def _url(user: str, password: str, port: int, db: str, **options: str) -> str:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in options.items())
    return f"postgresql+psycopg://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{port}/{db}?{query}"


@pytest.mark.postgres
def test_sslmode_require_against_a_server_without_tls_is_refused(postgres_url):
    url = postgres_url + "?sslmode=require"
    with pytest.raises(ConfigurationError) as err:
        connect(url)
    assert "'sslmode'" in str(err.value) and "offers no TLS" in str(err.value)
    assert not err.value.retryable
    # the migration (SQLAlchemy/alembic) step reports the same non-retryable error first
    with pytest.raises(ConfigurationError, match="sslmode"):
        migrate.upgrade(url)


@pytest.mark.postgres
def test_every_url_option_reaches_the_loader_connection(postgres_url):
    url = (postgres_url + "?sslmode=disable&application_name=payroll%20loader&connect_timeout=7"
           "&options=" + quote("-c statement_timeout=4321 -c search_path=public", safe=""))
    db = connect(url)
    try:
        assert db.query("SHOW application_name") == [("payroll loader",)]
        assert db.query("SHOW statement_timeout") == [("4321ms",)]
        params = db.conn.info.get_parameters()
        assert params["connect_timeout"] == "7" and params["sslmode"] == "disable"
    finally:
        db.close()


@pytest.mark.postgres
def test_an_unknown_url_option_is_a_configuration_error(postgres_url):
    with pytest.raises(ConfigurationError, match="sslmodus"):
        connect(postgres_url + "?sslmodus=require")


def test_an_unreachable_server_stays_retryable():
    from tls_pg_support import _free_port

    with pytest.raises(WarehouseError) as err:
        connect(f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/x?connect_timeout=3")
    assert err.value.retryable and type(err.value) is WarehouseError


ODD_PASSWORDS = {"etl_space": "two words here", "etl_at": "p@ss@host", "etl_pct": "100%sure%40",
                 "etl_all": "a b@c%d:e/f?g#h'i\"j\\k"}


@pytest.fixture(scope="module")
def tls_roles(tls_postgres):
    for role, password in ODD_PASSWORDS.items():
        tls_postgres.create_role(role, password, database=f"db_{role}")
    return tls_postgres


@pytest.mark.parametrize("role", sorted(ODD_PASSWORDS))
def test_odd_passwords_log_in_over_verified_tls(tls_roles, role):
    url = _url(role, ODD_PASSWORDS[role], tls_roles.port, f"db_{role}", sslmode="verify-full",
               sslrootcert=str(tls_roles.root_cert), application_name="payroll-tls-test")
    db = connect(url)
    try:
        assert db.query("SELECT current_user, ssl FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) "
                        "WHERE pid = pg_backend_pid()") == [(role, True)]
    finally:
        db.close()
    # alembic (ConfigParser interpolation) and SQLAlchemy get the very same URL
    migrate.upgrade(url)
    assert migrate.is_current(url)


def test_verify_full_with_a_wrong_root_certificate_is_refused(tls_roles):
    password = ODD_PASSWORDS["etl_all"]
    url = _url("etl_all", password, tls_roles.port, "db_etl_all", sslmode="verify-full",
               sslrootcert=str(tls_roles.wrong_root_cert))
    with pytest.raises(ConfigurationError) as err:
        connect(url)
    assert "'sslrootcert'" in str(err.value)
    assert password not in str(err.value) and quote(password, safe="") not in str(err.value)
    assert type(err.value).__name__ in NO_RETRY_ERRORS
    with pytest.raises(ConfigurationError, match="sslrootcert"):
        migrate.upgrade(url)


def test_a_wrong_password_is_refused_without_echoing_it(tls_roles):
    url = _url("etl_at", "wrong p@ss 100%", tls_roles.port, "db_etl_at", sslmode="verify-full",
               sslrootcert=str(tls_roles.root_cert))
    with pytest.raises(ConfigurationError) as err:
        connect(url)
    assert "'password'" in str(err.value) and "wrong p@ss" not in str(err.value)


def test_clear_text_to_a_tls_only_server_is_refused(tls_roles):
    url = _url("etl_at", ODD_PASSWORDS["etl_at"], tls_roles.port, "db_etl_at", sslmode="disable")
    with pytest.raises(ConfigurationError, match="pg_hba.conf"):
        connect(url)


def test_no_retry_list_holds_the_connection_error():
    """The Airflow retry policy fails ConfigurationError at once (no quarter hour of backoff)."""
    from payroll_etl.airflow.dag_factory import NO_RETRY

    assert "payroll_etl.errors.ConfigurationError" in NO_RETRY


# ------------------------------------------------------------------------------- DuckDB

@pytest.mark.parametrize("encode", [False, True], ids=["raw-spaces", "percent-encoded"])
def test_duckdb_path_with_spaces(tmp_path, encode):
    folder = tmp_path / "payroll data" / "ware house"
    path = str(folder / "my warehouse.duckdb")
    url = "duckdb:///" + (quote(path) if encode else path)
    migrate.upgrade(url)
    assert (folder / "my warehouse.duckdb").exists()
    assert not (tmp_path / "payroll%20data").exists()
    assert migrate.is_current(url)
    db = connect(url)
    try:
        assert db.query("SELECT count(*) FROM load_run") == [(0,)]
    finally:
        db.close()


def test_duckdb_read_only_mode(tmp_path):
    url = f"duckdb:///{tmp_path / 'w h.duckdb'}"
    migrate.upgrade(url)
    reader = connect(url + "?access_mode=read_only")
    try:
        assert reader.query("SELECT count(*) FROM employee") == [(0,)]
        with pytest.raises(Exception, match="read-only"):
            reader.execute("DELETE FROM employee")
    finally:
        reader.close()
    assert migrate.is_current(url + "?access_mode=read_only")


def test_duckdb_unknown_option_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="bogus"):
        connect(f"duckdb:///{tmp_path / 'w.duckdb'}?bogus=1")
