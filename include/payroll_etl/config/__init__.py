"""Employer configuration: one YAML file, one entry per employer (and its connector history).

Parsed at DAG-parse time, so importing this package costs little: pydantic models
(:mod:`.models`) are built on first use, the validated file is cached (:mod:`.loader`).

An employer uses one connector, or a history of connectors (``connectors:``, oldest first, each
from its cutover date): exactly one connector *publishes* an employer's facts on a given logical
date. Every connector of the history becomes one :class:`EmployerConfig` (one DAG); a connector
that does not publish today is not scheduled (``schedule`` None), except a ``shadow`` entry, which
runs nightly beside the publisher before its cutover and publishes nothing (docs/migration.md).

The JSON schema of the file is docs/employers.schema.json (``make schema`` regenerates it).
"""

from __future__ import annotations

from typing import Any

from payroll_etl.config.employer import (
    KEY_RE,
    EmployerConfig,
    EntryProblem,
    PipelineConfig,
    in_shard,
    normalize_source_ids,
    typed_options,
)
from payroll_etl.config.loader import config_path, describe, expand_connectors, load_config, read_config
from payroll_etl.settings import PROJECT_ROOT

DEFAULT_CONFIG = PROJECT_ROOT / "include" / "employers.yaml"

__all__ = ["CONNECTORS", "DEFAULT_CONFIG", "KEY_RE", "PROJECT_ROOT", "EmployerConfig", "EntryProblem",
           "PipelineConfig", "config_path", "describe", "expand_connectors", "in_shard", "load_config",
           "normalize_source_ids",
           "read_config", "typed_options"]


def __getattr__(name: str) -> Any:
    """``CONNECTORS``: the connector names of the registry (imported on first use: the connectors
    package imports this one)."""
    if name == "CONNECTORS":
        from payroll_etl.connectors.registry import CONNECTORS

        return tuple(CONNECTORS)
    raise AttributeError(name)
