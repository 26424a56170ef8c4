"""Warehouse URLs -> driver connection arguments, every option carried through a library.

The warehouse URL (``PAYROLL_WAREHOUSE_URL``) is a SQLAlchemy URL. The SQLAlchemy/alembic steps
hand it to the driver as is; the loader's own connections (psycopg ``COPY``, the DuckDB
connection) are built here from the *same* parse, so both honour the same options:

* PostgreSQL: ``postgresql+psycopg://user:pass@host:port/db?sslmode=verify-full&sslrootcert=...``.
  SQLAlchemy's :func:`~sqlalchemy.engine.make_url` decodes the URL (percent-encoded passwords
  with space, ``@``, ``%``, ``/``), and psycopg's :func:`psycopg.conninfo.make_conninfo` quotes
  every value; every query option (``sslmode``, ``sslrootcert``, ``sslcert``, ``sslkey``,
  ``application_name``, ``connect_timeout``, ``options``, ``target_session_attrs``, ...) is passed
  to libpq unchanged, exactly as SQLAlchemy's psycopg dialect does.
* DuckDB: ``duckdb:///<path>?<config>``; the path may contain spaces (raw or ``%20``), query
  options are DuckDB configuration options, as in the ``duckdb_engine`` dialect:
  ``?access_mode=read_only`` opens the file read-only (reports, ad-hoc readers).

A refused TLS or authentication handshake is a :class:`~payroll_etl.errors.ConfigurationError`
(never retried: ``NO_RETRY`` in ``airflow/dag_factory.py``) whose message names the URL option to
fix and never contains the password; an unreachable server stays a retryable
:class:`~payroll_etl.errors.WarehouseError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from payroll_etl.errors import ConfigurationError, WarehouseError

PG_DEFAULTS = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}  # when the URL names none

# libpq refusal texts -> the URL option a human has to fix. Checked in order, first match wins.
_REFUSALS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("does not support ssl", "ssl was required"), "sslmode",
     "the server offers no TLS but the URL requires it"),
    (("root certificate file", "sslrootcert"), "sslrootcert", "the root certificate file cannot be used"),
    (("certificate verify failed", "self-signed certificate", "unable to get local issuer",
      "signature failure", "unknown ca", "certificate verify"), "sslrootcert",
     "the server certificate is not signed by the configured root certificate"),
    (("does not match host name", "server certificate for"), "sslmode",
     "the server certificate does not name this host (verify-full)"),
    (("certificate present, but not private key", "private key file", "sslkey"), "sslkey",
     "the client key cannot be used"),
    (("could not open certificate file", "sslcert", "certificate file"), "sslcert",
     "the client certificate cannot be used"),
    (("no pg_hba.conf entry", "pg_hba"), "sslmode",
     "the server's pg_hba.conf refuses this user/database/TLS combination"),
    (("password authentication failed", "authentication failed", "no password supplied",
      "password is required"), "password", "the server refused the user name or password"),
    (("ssl", "tls"), "sslmode", "the TLS handshake was refused"),
)


@dataclass(frozen=True)
class PostgresTarget:
    """Connection arguments of a PostgreSQL warehouse: ``kwargs`` for ``psycopg.connect``."""

    kwargs: dict[str, Any]

    @property
    def conninfo(self) -> str:
        """The libpq connection string, every value quoted by psycopg."""
        from psycopg.conninfo import make_conninfo

        try:
            return make_conninfo("", **self.kwargs)
        except Exception as exc:  # noqa: BLE001 - psycopg.ProgrammingError: unknown option
            raise ConfigurationError(f"warehouse URL: invalid connection option ({_option_named(exc)})") from None

    @property
    def where(self) -> str:
        """host:port/db for messages (no user, no password)."""
        return f"{self.kwargs.get('host')}:{self.kwargs.get('port')}/{self.kwargs.get('dbname')}"


@dataclass(frozen=True)
class DuckDbTarget:
    """A DuckDB warehouse file and its configuration (``duckdb.connect(path, config=...)``)."""

    path: str
    config: dict[str, str] = field(default_factory=dict)

    @property
    def read_only(self) -> bool:
        """True when the URL asks DuckDB for ``access_mode=read_only``."""
        return self.config.get("access_mode", "").lower() == "read_only"


def _query(url: Any) -> dict[str, str]:
    """URL query options; a repeated option (a tuple in SQLAlchemy) is refused, not guessed."""
    out = {}
    for key, value in url.query.items():
        if isinstance(value, tuple):
            raise ConfigurationError(f"warehouse URL: option {key!r} is given more than once")
        out[key] = value
    return out


def postgres_target(url: str) -> PostgresTarget:
    """Parse a ``postgresql[+driver]://`` URL into psycopg connection arguments.

    Host, port and user default to 127.0.0.1, 5432 and postgres (the local demo server) unless the
    URL or its query (``?host=/run/postgresql`` for a socket) names them. Raises
    ConfigurationError for an unparsable URL (the message never repeats the URL: it may hold the
    password).
    """
    from sqlalchemy.engine import make_url

    try:
        u = make_url(url)
    except Exception:  # noqa: BLE001 - sqlalchemy.exc.ArgumentError quotes the URL (password)
        raise ConfigurationError("warehouse URL cannot be parsed (check PAYROLL_WAREHOUSE_URL)") from None
    kwargs: dict[str, Any] = {"host": u.host or PG_DEFAULTS["host"], "port": u.port or PG_DEFAULTS["port"],
                              "dbname": u.database, "user": u.username or PG_DEFAULTS["user"]}
    if u.password is not None:
        kwargs["password"] = u.password
    kwargs.update(_query(u))
    return PostgresTarget(kwargs)


def duckdb_target(url: str) -> DuckDbTarget:
    """Parse ``duckdb:///<path>[?option=value...]``; the path may contain (encoded) spaces."""
    from sqlalchemy.engine import make_url

    try:
        u = make_url(url)
    except Exception:  # noqa: BLE001
        raise ConfigurationError("warehouse URL cannot be parsed (check PAYROLL_WAREHOUSE_URL)") from None
    if not u.database:
        raise ConfigurationError("DuckDB warehouse URL names no file (duckdb:///<path>)")
    return DuckDbTarget(u.database, _query(u))


def duckdb_path(url: str) -> str:
    """The file of a ``duckdb:///`` URL (decoded, without its query)."""
    return duckdb_target(url).path


def _option_named(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def classify_connect_error(exc: BaseException, where: str, password: str | None = None) -> Exception:
    """Map a failed connection to the error Airflow should see.

    A TLS or authentication refusal -> ConfigurationError naming the URL option (not retried);
    anything else (server down, network) -> WarehouseError (retryable). The message carries the
    libpq reason with the password (if it ever appeared) masked.
    """
    reason = " ".join(str(exc).split())
    if password:
        reason = reason.replace(password, "***")
    lowered = _libpq_reason(reason).lower()  # the server's words, not the host name
    for needles, option, meaning in _REFUSALS:
        if any(n in lowered for n in needles):
            return ConfigurationError(
                f"warehouse {where}: connection refused: {meaning}; check the URL option {option!r} "
                f"of PAYROLL_WAREHOUSE_URL (libpq: {_libpq_reason(reason)})")
    return WarehouseError(f"warehouse {where}: cannot connect ({_libpq_reason(reason)})")


def _libpq_reason(reason: str) -> str:
    """The part of a psycopg message after the last 'failed:' (the server's/libpq's own words)."""
    return reason.rsplit("failed:", 1)[-1].strip()[:300] or "no reason given"
