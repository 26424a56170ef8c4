"""The simulator itself, through a plain zeep client (what any SOAP client would see)."""

from __future__ import annotations

import pytest
import requests
import zeep
from loket_soap_support import WG, Sim


@pytest.fixture
def service(sim: Sim):
    client = zeep.Client(f"{sim.url}/Loket.asmx?WSDL")
    token = client.service.GetUserToken(Username="Webservice#01", Password="demo", Omgevingscode="DEMO")
    return client.service, token


def test_export_werknemer_lists_employees_with_their_employments(sim: Sim, service):
    svc, token = service
    wg = sim.world.werkgevers[WG]
    exported = svc.ExportWerknemer(UserToken=token, Administratienummer=str(wg.number))
    assert len(exported) == len(wg.persons)
    assert all(e.EntityName == "Persoon" and e.Children.Entity[0].EntityName == "Dienstverband" for e in exported)
    assert not svc.ExportWerknemer(UserToken=token, Administratienummer="1")  # not linked: nothing


def test_a_changed_record_changes_its_version_and_its_entity_version(sim: Sim, service):
    svc, token = service
    person = sim.world.werkgevers[WG].persons[0]
    before = (svc.SelectVersion(UserToken=token, EntityName="Persoon", DataIdentity=person.id),
              svc.ListVersion(UserToken=token, EntityName="Persoon", ParentDataIdentity=WG))
    answer = requests.post(f"{sim.url}/_sim/loket/mutate", json={"id": person.id, "changes": {"city": "Delft"}},
                           timeout=5).json()
    after = (svc.SelectVersion(UserToken=token, EntityName="Persoon", DataIdentity=person.id),
             svc.ListVersion(UserToken=token, EntityName="Persoon", ParentDataIdentity=WG))
    assert after == (answer["version"], answer["version"]) and after[0] > before[0] and after[1] > before[1]
    selected = svc.Select(UserToken=token, EntityName="Persoon", DataIdentity=person.id)
    assert {f.Name: f.Value for f in selected.Fields.Field}["Woonplaats"] == "Delft"


def test_half_fault_and_unknown_entity(sim: Sim, service):
    svc, token = service
    sim.fault("^List$", "half")
    assert len(svc.List(UserToken=token, EntityName="Persoon", ParentDataIdentity=WG)) == 35 // 2
    with pytest.raises(zeep.exceptions.Fault, match="Onbekende entiteit"):
        svc.List(UserToken=token, EntityName="Loonstrook", ParentDataIdentity=WG)
    with pytest.raises(zeep.exceptions.Fault, match="UserToken is ongeldig"):
        svc.List(UserToken="not-a-token", EntityName="Werkgever")
