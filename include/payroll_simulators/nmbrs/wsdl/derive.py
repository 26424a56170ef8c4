"""Regenerate the simulator's WSDL fixtures from the captured real Nmbrs v2.1 WSDLs.

    python -m payroll_simulators.nmbrs.wsdl.derive /work/shared/research/nmbrs/wsdl/dariusz_v2.1_2020

Keeps the real v2.1 shapes (element order, types, nillability) of the operations the
customer's template user enables (seed guide §1.2.2) and applies only the v3 changes that
at least two independent v3 clients agree on:

* V1 namespace, SOAPAction and address ``/soap/v2.1/`` -> ``/soap/v3/``;
* V2 every operation declares the ``AuthHeaderWithDomain`` header (v3 auth);
* V3 ``List_GetByCompany(CompanyId, EmployeeType)`` instead of ``(CompanyId, active)``;
* V4 ``Contract_GetCurrentPeriodResponse`` holds ``EmployeeContractItem`` directly;
* V5 ``SVWSettings`` in its v3 shape (the 2020 v3 change was made for the SVW calls): the v3 field
  names (research/nmbrs-soap.md §3.2, from the S1 client's SVW data class, which reads every group)
  with the nested groups ``CAO``, ``RiskGroup``, ``Sector`` and ``WageCostBenefit`` always present
  (``minOccurs=1``) and their children ``nillable``, so "no value" is ``xsi:nil``, never a
  missing element. Types follow the research's derived v3 file; they are not evidenced by Nmbrs.

Everything not referenced by the kept operations is pruned, so zeep loads the WSDL fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lxml import etree

WSDL = "http://schemas.xmlsoap.org/wsdl/"
XS = "http://www.w3.org/2001/XMLSchema"
NS = {"wsdl": WSDL, "s": XS, "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
      "soap12": "http://schemas.xmlsoap.org/wsdl/soap12/"}

COMPANY_OPS = ("Company_GetCurrentPeriod", "List_GetAll", "Reports_GetWageCodesByRunCompany_FilterByWageCode",
               "Reports_GetWageCodesByRunCompany_v2", "Run_GetList")
EMPLOYEE_OPS = ("Address_GetListCurrent", "BankAccount_GetListCurrent", "Children_Get", "Contract_GetCurrentPeriod",
                "List_GetByCompany", "Partner_Get", "PersonalInfo_GetCurrent", "Salary_GetAll_AllEmployeesByCompany",
                "Schedule_GetCurrent", "Schedule_GetList", "SVW_GetCurrent", "WageComponentFixed_GetCurrent",
                "WageComponentVar_GetCurrent", "Employment_GetAll_AllEmployeesByCompany")
AUTH_HEADER_WITH_DOMAIN = f"""<s:schema xmlns:s="{XS}" xmlns:tns="x">
  <s:element name="AuthHeaderWithDomain" type="tns:AuthHeaderWithDomain"/>
  <s:complexType name="AuthHeaderWithDomain"><s:complexContent mixed="false"><s:extension base="tns:AuthHeader">
    <s:sequence><s:element minOccurs="0" maxOccurs="1" name="Domain" type="s:string"/></s:sequence>
  </s:extension></s:complexContent></s:complexType></s:schema>"""
_REQ = 'minOccurs="1" maxOccurs="1"'
_NIL = f'{_REQ} nillable="true"'
SVW_V3 = f"""<s:schema xmlns:s="{XS}" xmlns:tns="x">
  <s:complexType name="SVWSettings"><s:sequence>
    <s:element {_REQ} name="Id" type="s:int"/>
    <s:element {_REQ} name="CreateDate" type="s:dateTime"/>
    <s:element {_REQ} name="StartYear" type="s:int"/>
    <s:element {_REQ} name="StartPeriod" type="s:int"/>
    <s:element minOccurs="0" maxOccurs="1" name="InfluenceObligedInsuranced" type="s:string"/>
    <s:element {_REQ} name="Wao_Wia" type="s:boolean"/>
    <s:element {_REQ} name="Ww" type="s:boolean"/>
    <s:element {_REQ} name="Zw" type="s:boolean"/>
    <s:element minOccurs="0" maxOccurs="1" name="IncomeRelatedContributionZvw" type="s:string"/>
    <s:element minOccurs="0" maxOccurs="1" name="CodeZvw" type="s:string"/>
    <s:element {_NIL} name="EmploymentType" type="s:int"/>
    <s:element {_NIL} name="PhaseClassification" type="s:int"/>
    <s:element {_NIL} name="EmploymentSequenceTaxId" type="s:int"/>
    <s:element {_REQ} name="CAO" type="tns:SVW_CAO"/>
    <s:element {_REQ} name="RiskGroup" type="tns:RiskGroup"/>
    <s:element {_REQ} name="Sector" type="tns:Sector"/>
    <s:element {_REQ} name="WageCostBenefit" type="tns:SVW_WageCostBenefit"/>
  </s:sequence></s:complexType>
  <s:complexType name="SVW_CAO"><s:sequence>
    <s:element {_NIL} name="CAOId" type="s:int"/><s:element {_NIL} name="CAOCode" type="s:int"/>
    <s:element {_NIL} name="CAODescription" type="s:string"/>
  </s:sequence></s:complexType>
  <s:complexType name="RiskGroup"><s:sequence>
    <s:element {_NIL} name="RiskGroupId" type="s:int"/><s:element {_NIL} name="RiskGroupCode" type="s:int"/>
    <s:element {_NIL} name="RiskGroupDescription" type="s:string"/>
  </s:sequence></s:complexType>
  <s:complexType name="Sector"><s:sequence>
    <s:element {_NIL} name="SectorId" type="s:int"/><s:element {_NIL} name="SectorCode" type="s:int"/>
    <s:element {_NIL} name="SectorDescription" type="s:string"/>
  </s:sequence></s:complexType>
  <s:complexType name="SVW_WageCostBenefit"><s:sequence>
    <s:element {_NIL} name="WageCostBenefitCode" type="s:int"/><s:element {_NIL} name="EndPeriod" type="s:int"/>
    <s:element {_NIL} name="EndYear" type="s:int"/>
  </s:sequence></s:complexType></s:schema>"""
SOURCES = {"CompanyService": ("CompanyService-wsdl.xml", COMPANY_OPS),
           "EmployeeService": ("EmployeeService-wsdl.xml", EMPLOYEE_OPS)}


def _local(qname: str) -> str:
    return qname.split(":", 1)[-1]


def derive(source: Path, service: str, ops: tuple[str, ...]) -> bytes:
    text = source.read_text(encoding="utf-8").replace("/soap/v2.1/", "/soap/v3/")
    root = etree.fromstring(text.encode("utf-8"), etree.XMLParser(remove_blank_text=True))
    keep = set(ops)
    for container in root.xpath("wsdl:portType | wsdl:binding", namespaces=NS):
        for op in container.xpath("wsdl:operation", namespaces=NS):
            if op.get("name") not in keep:
                container.remove(op)
    # V2: AuthHeaderWithDomain on every operation.
    for header in root.xpath("//soap:header | //soap12:header", namespaces=NS):
        header.set("part", "AuthHeaderWithDomain")
    used_messages = {_local(m) for m in root.xpath("//wsdl:operation/*/@message", namespaces=NS)}
    for op in root.xpath("wsdl:binding/wsdl:operation", namespaces=NS):
        used_messages.update(_local(m) for m in op.xpath(".//@message"))
    for message in root.xpath("wsdl:message", namespaces=NS):
        if message.get("name") not in used_messages:
            root.remove(message)
            continue
        for part in message.xpath("wsdl:part[@name='AuthHeader']", namespaces=NS):
            part.set("name", "AuthHeaderWithDomain")
            part.set("element", "tns:AuthHeaderWithDomain")
    schema = root.find("wsdl:types/s:schema", NS)
    if schema.find("s:element[@name='AuthHeaderWithDomain']", NS) is None:
        # The 2020 CompanyService predates v3; copy the EmployeeService definition (an AuthHeader extension).
        for node in etree.fromstring(AUTH_HEADER_WITH_DOMAIN):
            schema.append(node)
    elements = {e.get("name"): e for e in schema.findall("s:element", NS)}
    types = {t.get("name"): t for t in schema if t.tag in (f"{{{XS}}}complexType", f"{{{XS}}}simpleType")}
    # V3 and V4, on the real v2.1 definitions.
    if service == "EmployeeService":
        seq = elements["List_GetByCompany"].find("s:complexType/s:sequence", NS)
        active = seq.find("s:element[@name='active']", NS)
        active.set("name", "EmployeeType")
        active.set("type", "s:int")
        result = elements["Contract_GetCurrentPeriodResponse"].find(".//s:element", NS)
        result.set("name", "EmployeeContractItem")
        # V5: SVWSettings in the v3 shape (replaces the v2.1 definition, adds its group types).
        for node in etree.fromstring(SVW_V3):
            name = node.get("name")
            if name in types:
                types[name].getparent().replace(types[name], node)
            else:
                schema.append(node)
            types[name] = node
    wanted_elements = {_local(e) for e in root.xpath("wsdl:message/wsdl:part/@element", namespaces=NS)}
    wanted_types: set[str] = set()
    todo = [elements[name] for name in wanted_elements]
    while todo:
        node = todo.pop()
        for ref in node.xpath(".//@type | .//@base | @type"):
            name = _local(ref)
            if ref.startswith("tns:") and name not in wanted_types and name in types:
                wanted_types.add(name)
                todo.append(types[name])
    for child in list(schema):
        name = child.get("name")
        if child.tag == f"{{{XS}}}element" and name not in wanted_elements:
            schema.remove(child)
        elif child.tag != f"{{{XS}}}element" and name is not None and name not in wanted_types:
            schema.remove(child)
    banner = etree.Comment(
        f" Nmbrs SOAP v3 {service}: real v2.1 shapes (captured Feb 2020) trimmed to the seed's call set,"
        " with the v3 changes V1-V5 of payroll_simulators/nmbrs/wsdl/derive.py. Test fixture, not from api.nmbrs.nl. ")
    root.insert(0, banner)
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def main(source_dir: str) -> None:
    out = Path(__file__).parent
    for service, (filename, ops) in SOURCES.items():
        (out / f"{service}.wsdl").write_bytes(derive(Path(source_dir) / filename, service, ops))


if __name__ == "__main__":
    main(sys.argv[1])
