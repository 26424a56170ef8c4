"""Constants of the Loket webservice connector: endpoint, the entity tree, landing entities, tuning defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from payroll_etl.connectors.transport.retry import RetryPolicy, tuning

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

# Tuning defaults (Connection ``extra``; canonical knob names, see transport.retry.TUNING).
DEFAULTS: dict[str, int | float] = {"timeout_seconds": 60.0, "max_attempts": 4, "backoff_seconds": 1.0,
                                    "max_backoff_seconds": 30.0}


@dataclass(frozen=True)
class Tuning:
    """Timeout (seconds, WSDL and every operation) and retry policy from the Connection extra."""

    timeout_seconds: float
    policy: RetryPolicy

    @classmethod
    def of(cls, extra: Mapping[str, Any]) -> Tuning:
        """Read ``extra`` (deprecated knob names accepted); ConfigurationError when a value is not a number."""
        knobs = {**DEFAULTS, **tuning(extra, "Loket SOAP connection extra")}
        return cls(float(knobs["timeout_seconds"]), RetryPolicy.of(knobs))
