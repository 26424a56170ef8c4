"""What one Loket webservice extract fetches, werkgever by werkgever (the order of the calls is in
:mod:`payroll_etl.connectors.loket_soap`'s docstring).

Versions are assumed to be a monotonic counter (like SQL rowversion): an entity's ListVersion is the
highest version among its records, so a record whose SelectVersion is not above the entity version
stored by the last successful run is unchanged and is not selected again. The state is therefore
tiny: per werkgever the entity versions plus the ids of exported runs.
"""

from __future__ import annotations

from typing import Any, cast

from payroll_etl.connectors.base import ExtractRequest, ExtractResult, LandingSink
from payroll_etl.connectors.loket_soap.client import LoketSoapClient
from payroll_etl.connectors.loket_soap.settings import CANONICAL, LANDING, TREE
from payroll_etl.connectors.transport.soap import SoapCall
from payroll_etl.errors import AuthorizationError, ConfigurationError
from payroll_etl.periods import PayPeriod


def _merge_scope(scope: dict[str, str], entity: str, how: str) -> None:
    """Several werkgevers under one employer: "incremental" wins over "full"."""
    if scope.get(entity) != "incremental":
        scope[entity] = how


class Extraction:
    """The calls of one extract through ``client``."""

    def __init__(self, client: LoketSoapClient):
        self.client, self.call, self.user = client, client.authed, client.username

    def werkgever(self, wg: str, prev: dict[str, Any], request: ExtractRequest, sink: LandingSink,
                  result: ExtractResult) -> dict[str, Any]:
        """Extract werkgever ``wg``; ``prev`` is its state from the last successful run. Returns its new
        state ``{"versions": {entity: version}, "exported_runs": [run id, ...]}``; fills ``result.scope``."""
        prev_versions: dict[str, int] = dict(prev.get("versions", {}))
        first = not prev_versions  # first run for this werkgever, or a full refresh
        versions: dict[str, int] = {}
        base = {"werkgever": wg}

        if first:
            self._check_linked(wg, sink)
            self._check_tree(wg, sink)

        version = self.call(SoapCall("SelectVersion", "version", wg, {**base, "entity_name": "Werkgever"}), sink,
                               EntityName="Werkgever", DataIdentity=wg)
        if version is None:  # visible in List but not selectable, or unlinked since the last run
            raise ConfigurationError(f"Loket werkgever {wg} is not linked to webservice user {self.user!r}")
        versions["Werkgever"] = int(version)
        if first or int(version) != prev_versions.get("Werkgever"):
            self._select(wg, "Werkgever", wg, sink)
            self._metadata(wg, "Werkgever", sink)
            _merge_scope(result.scope, "employer", "full")

        for entity in ("Persoon", "Dienstverband"):
            versions[entity] = self._extract_entity(wg, entity, first, prev_versions.get(entity), sink, result)

        runs_version = self.call(SoapCall("ListVersion", "version", wg, {**base, "entity_name": "Verloning"}), sink,
                                    EntityName="Verloning", ParentDataIdentity=wg)
        exported = list(prev.get("exported_runs", []))
        runs_changed = first or runs_version is None or int(runs_version) != prev_versions.get("Verloning")
        if request.backfill:
            # A past period: all of its approved runs. Watermarks of the current periods stay as they were.
            self._export_runs(wg, [request.period], set(), sink)
            _merge_scope(result.scope, "payroll_period", "full")
            _merge_scope(result.scope, "payroll_result", "full")
            if "Verloning" in prev_versions:
                versions["Verloning"] = prev_versions["Verloning"]
        else:
            if runs_changed:
                periods = [request.period.previous(cast(Any, request.employer.four_week_tail)), request.period]
                exported = self._export_runs(wg, periods, set() if first else set(exported), sink)
                _merge_scope(result.scope, "payroll_period", "incremental")
                _merge_scope(result.scope, "payroll_result", "incremental")
            if runs_version is not None:
                versions["Verloning"] = int(runs_version)
        return {"versions": versions, "exported_runs": exported}

    def _check_linked(self, wg: str, sink: LandingSink) -> None:
        listed = self.call(SoapCall("List", "werkgever_list", wg, {"entity_name": "Werkgever"}), sink,
                              EntityName="Werkgever") or []
        ids = [str(r.DataIdentity) for r in listed]
        if not ids:
            raise ConfigurationError(f"Loket webservice user {self.user!r} is linked to no werkgever: link it "
                                     "to the employer's team in Loket (a linked user never sees 0 employers)")
        if wg not in ids:
            raise ConfigurationError(f"Loket werkgever {wg} is not linked to webservice user {self.user!r} "
                                     f"(it sees {len(ids)} other werkgever(s)); check source_ids or the team")

    def _check_tree(self, wg: str, sink: LandingSink) -> None:
        children = self.call(SoapCall("GetChildNodes", "tree", wg, {"entity_name": "Werkgever"}), sink,
                                EntityName="Werkgever") or []
        missing = [e for e in TREE if e not in set(children)]
        if missing:
            raise AuthorizationError(f"Loket webservice user {self.user!r} does not see entities "
                                     f"{', '.join(missing)} under Werkgever")
        for entity in TREE[:2]:
            functions = self.call(SoapCall("GetNodeFunction", "tree", wg, {"entity_name": entity}), sink,
                                     EntityName=entity) or []
            lacking = [f for f in ("List", "Select") if f not in set(functions)]
            if lacking:
                raise AuthorizationError(f"Loket webservice does not offer {', '.join(lacking)} on entity {entity} "
                                         f"to user {self.user!r}")

    def _extract_entity(self, wg: str, entity: str, first: bool, prev_version: int | None, sink: LandingSink,
                        result: ExtractResult) -> int:
        version = self.call(SoapCall("ListVersion", "version", wg, {"werkgever": wg, "entity_name": entity}), sink,
                               EntityName=entity, ParentDataIdentity=wg)
        if version is None:
            raise ConfigurationError(f"Loket werkgever {wg} is not linked to webservice user {self.user!r}")
        version = int(version)
        if not first and version == prev_version:
            return version  # nothing changed: no List, no Select
        listed = self.call(SoapCall("List", LANDING[("List", entity)], wg, {"werkgever": wg, "entity_name": entity}),
                              sink, EntityName=entity, ParentDataIdentity=wg) or []
        self._metadata(wg, entity, sink)
        for record in listed:
            identity = str(record.DataIdentity)
            if not first:
                record_version = self.call(
                    SoapCall("SelectVersion", "version", wg, {"werkgever": wg, "entity_name": entity,
                                                           "data_identity": identity}),
                    sink, EntityName=entity, DataIdentity=identity)
                if record_version is not None and prev_version is not None and int(record_version) <= prev_version:
                    continue
            self._select(wg, entity, identity, sink)
        for canonical in CANONICAL[entity]:
            _merge_scope(result.scope, canonical, "full" if first else "incremental")
        return version

    def _select(self, wg: str, entity: str, identity: str, sink: LandingSink) -> None:
        self.call(SoapCall("Select", LANDING[("Select", entity)], wg,
                           {"werkgever": wg, "entity_name": entity, "data_identity": identity}),
                     sink, EntityName=entity, DataIdentity=identity)

    def _metadata(self, wg: str, entity: str, sink: LandingSink) -> None:
        self.call(SoapCall("GetMetaData", "metadata", wg, {"werkgever": wg, "entity_name": entity}), sink,
                     EntityName=entity)

    def _export_runs(self, wg: str, periods: list[PayPeriod], skip: set[str], sink: LandingSink) -> list[str]:
        """Approved runs of ``periods``; exports those not in ``skip``. Returns the runs seen."""
        seen: list[str] = []
        for period in periods:
            runs = self.call(SoapCall("ListGoedgekeurdeLoonrunsPeriode", "verloningsrun", wg,
                                      {"werkgever": wg, "period": period.id}),
                                sink, WerkgeverDataIdentity=wg, Jaar=period.year, Periode=period.number) or []
            for run in runs:
                run_id = str(run.VerloningsRunDataIdentity)
                seen.append(run_id)
                if run_id in skip:
                    continue
                self.call(SoapCall("ExportLoonresultatenPerRun", "loonresultaat", wg,
                                   {"werkgever": wg, "period": period.id, "run": run_id}),
                             sink, VerloningsRunDataIdentity=run_id)
        return seen
