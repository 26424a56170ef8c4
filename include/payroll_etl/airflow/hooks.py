"""Airflow hooks for payroll sources: a hook owns a Connection and builds the connector client.

Connection layout (one per employer, id from ``include/employers.yaml``):

* ``conn_type``: the connector, a name of the connector registry (``loket_rest``, ``loket_soap``,
  ``nmbrs``, ``nmbrs_rest``; one hook class per type, generated from the registry at the end of
  this module: ``LoketRestHook``, ``LoketSoapHook``, ``NmbrsHook``, ``NmbrsRestHook``), registered as
  an Airflow provider by ``payroll_etl.airflow.provider`` so the UI's Connections page offers the
  types and its **Test** button calls :meth:`PayrollSourceHook.test_connection`).
  Older connections of type ``http``/``generic`` name the connector in ``extra.connector`` instead.
* ``host``/``port``/``schema``: the source's base URL (``https://api.loket.nl`` in production,
  ``http://127.0.0.1:8081`` for the simulator). A full URL in ``host`` is used as is.
* ``login`` / ``password``: username and secret (Loket SOAP password, Nmbrs API token).
* ``extra``: the rest (Loket REST ``client_id``, ``client_secret``, ``refresh_token`` …;
  Nmbrs ``domain``; Loket SOAP ``omgevingscode``).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from payroll_etl.airflow.provider import connection_form, hook_class_name
from payroll_etl.connectors.base import SourceCredentials
from payroll_etl.connectors.registry import CONNECTORS, ConnectorSpec

SECRET_EXTRAS = ("client_secret", "access_token", "refresh_token", "token", "password")


def base_url(host: str | None, schema: str | None, port: int | None) -> str:
    """The source's base URL from a Connection's host/schema/port (a full URL in ``host`` wins)."""
    host = (host or "").rstrip("/")
    if host.startswith(("http://", "https://")):
        return host
    scheme = schema if schema in ("http", "https") else "https"
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def connector_of(conn_type: str | None, extra: dict[str, Any], conn_id: str) -> str:
    """The connector a Connection is for: its ``conn_type`` or, for ``http``/``generic`` connections,
    ``extra.connector``. Raises ``ConfigurationError`` when neither names one or they disagree."""
    from payroll_etl.errors import ConfigurationError

    by_type = conn_type if conn_type in CONNECTORS else None
    # typed into the Connection's extra by hand: " Nmbrs" is still the nmbrs connector
    by_extra = str(extra.get("connector") or "").strip().lower() or None
    if by_type and by_extra and by_type != by_extra:
        raise ConfigurationError(f"connection {conn_id} is of type {by_type} but extra.connector says {by_extra}")
    connector = by_type or by_extra
    if connector not in CONNECTORS:
        raise ConfigurationError(f"connection {conn_id} names no payroll connector: set its type to one of "
                                 f"{', '.join(CONNECTORS)} (or extra.connector)")
    return str(connector)


def without_secrets(text: str, credentials: SourceCredentials | None) -> str:
    """``text`` with the connection's secrets (password, client secret, tokens) masked, then scrubbed
    of personal data (BSN-, IBAN- and date-like values) by ``payroll_etl.privacy.scrub``."""
    from payroll_etl.privacy import scrub

    if credentials is not None:
        extra = credentials.extra or {}
        secrets = [credentials.password, *(extra.get(k) for k in SECRET_EXTRAS)]
        for secret in sorted((str(s) for s in secrets if s), key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, "***")
    return scrub(text)


class PayrollSourceHook(BaseHook):
    """Credentials of one employer's payroll source, from its Airflow Connection."""

    conn_name_attr = "payroll_conn_id"
    default_conn_name = "payroll_default"
    conn_type = "generic"
    hook_name = "Payroll source"

    def __init__(self, payroll_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.payroll_conn_id = payroll_conn_id

    def get_credentials(self) -> SourceCredentials:
        """The Connection as plain :class:`SourceCredentials` (what the connectors take)."""
        conn = self.get_connection(self.payroll_conn_id)
        return SourceCredentials(host=base_url(conn.host, conn.schema, conn.port), login=conn.login,
                                 password=conn.password, extra=dict(conn.extra_dejson or {}),
                                 conn_id=self.payroll_conn_id)

    def connector_name(self) -> str:
        """The connector this Connection is for (see :func:`connector_of`)."""
        conn = self.get_connection(self.payroll_conn_id)
        return connector_of(conn.conn_type, dict(conn.extra_dejson or {}), self.payroll_conn_id)

    def get_conn(self) -> Any:
        """A connector client built from this Connection."""
        from payroll_etl.connectors import connector_class

        return connector_class(self.connector_name()).from_credentials(self.get_credentials())

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's connection test (UI "Test", ``POST /api/v2/connections/test``): one cheap
        authenticated call to the source (``payroll_etl.connectors.probe``). Returns ``(ok, message)``;
        the message names the host and what answered, never a secret."""
        from payroll_etl.connectors.probe import probe
        from payroll_etl.errors import PayrollError

        credentials = None
        try:
            credentials = self.get_credentials()
            return True, without_secrets(probe(self.connector_name(), credentials), credentials)
        except PayrollError as exc:
            return False, without_secrets(f"{type(exc).__name__}: {exc}", credentials)
        except Exception as exc:  # noqa: BLE001 - the UI shows the message; never a traceback with secrets
            return False, without_secrets(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                                          credentials)


def _hook_class(spec: ConnectorSpec) -> type[PayrollSourceHook]:
    """The hook class of one Connection type of the registry: named as the provider info says
    (:func:`~payroll_etl.airflow.provider.hook_class_name`, e.g. ``LoketRestHook``), with the hook name
    of the connector's Connections form."""
    name = hook_class_name(spec)
    return type(name, (PayrollSourceHook,), {
        "__module__": __name__, "__qualname__": name, "conn_type": spec.conn_type,
        "hook_name": connection_form(spec)["hook-name"],
        "__doc__": f"The {spec.label or spec.name} Connection type (generated from the connector registry)."})


# One hook class per connector of the registry, at the path the provider info names
# (payroll_etl.airflow.hooks.LoketRestHook, …): existing Connections and Airflow find them there.
HOOKS: dict[str, type[PayrollSourceHook]] = {spec.name: _hook_class(spec) for spec in CONNECTORS.values()}
globals().update({cls.__name__: cls for cls in HOOKS.values()})
