"""Constants of the Loket webservice connector: endpoint, the entity tree, landing entities, tuning defaults."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict

from payroll_etl.connectors.options import ConnectorOptions, Count, Seconds, Tuning, knob

DEFAULT_PATH = "/Loket.asmx"
TREE = ("Persoon", "Dienstverband", "Verloning")  # the children of Werkgever we need

# landing entity per (operation, EntityName)
LANDING = {
    ("List", "Werkgever"): "werkgever_list", ("Select", "Werkgever"): "werkgever",
    ("List", "Persoon"): "persoon_list", ("Select", "Persoon"): "persoon",
    ("List", "Dienstverband"): "dienstverband_list", ("Select", "Dienstverband"): "dienstverband",
}
# The canonical entities each webservice entity feeds.
CANONICAL = {"Werkgever": ("employer",), "Persoon": ("employee",), "Dienstverband": ("employment", "salary")}



class Options(ConnectorOptions):
    """Loket SOAP has no per-employer ``options:``; its tuning is in the Connection extra (:class:`ExtraTuning`)."""

    model_config = ConfigDict(title="LoketSoapOptions")


class ExtraTuning(Tuning):
    """The tuning knobs of a Loket SOAP Connection's extra (:class:`~payroll_etl.connectors.options.Tuning`):
    60 s per call (WSDL and every operation), 4 attempts, 1 s backoff doubling up to 30 s. Other keys the
    extra may hold (any further key is refused, naming it): ``connector`` (``airflow/hooks.connector_of``),
    ``omgevingscode`` and ``path`` (docs/connectors/loket_soap.md)."""

    connection_keys: ClassVar[frozenset[str] | None] = frozenset({"connector", "omgevingscode", "path"})

    max_attempts: Count = knob("max_attempts", 4)
    max_backoff_seconds: Seconds | None = knob("max_backoff_seconds", 30.0)

# The Airflow Connections form of this connector's Connection type (read by payroll_etl.airflow.provider):
# the hook's name, field labels and placeholders.
CONNECTION_FORM = {"hook-name": "Loket.nl SOAP webservice (payroll)",
                   "relabeling": {"host": "Webservice base URL", "login": "Webservice user",
                                  "password": "Webservice password"},
                   "placeholders": {"host": "the Loket webservice host", "extra": '{"omgevingscode": "…"}'}}
