"""Serialise Python values into response XML in the exact order the WSDL's XSD prescribes.

The simulator never hand-writes element order: it walks the fixture WSDL's schema, so a
response has the real sequence order (zeep silently drops out-of-order elements), omits null
``minOccurs=0`` strings, writes ``xsi:nil`` for null nillable value types and always writes
required value types, the way ASP.NET ASMX serialises .NET objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
WSDL_DIR = Path(__file__).parent / "wsdl"


@dataclass(frozen=True)
class Field:
    name: str
    type: str | None  # "s:int", "tns:Foo" or None for an inline anonymous type
    min_occurs: int
    unbounded: bool
    nillable: bool
    inline: etree._Element | None = None


def _local(qname: str) -> str:
    return qname.split(":", 1)[-1]


class Schema:
    """The element and type definitions of one service WSDL."""

    def __init__(self, service: str):
        self.service = service
        self.namespace = f"https://api.nmbrs.nl/soap/v3/{service}"
        root = etree.parse(str(WSDL_DIR / f"{service}.wsdl")).getroot()
        schema = root.find(f"{{http://schemas.xmlsoap.org/wsdl/}}types/{{{XS}}}schema")
        self.elements = {e.get("name"): e for e in schema.findall(f"{{{XS}}}element")}
        self.complex = {t.get("name"): t for t in schema.findall(f"{{{XS}}}complexType")}
        self.operations = sorted({op.get("name") for op in root.iter("{http://schemas.xmlsoap.org/wsdl/}operation")})

    def fields(self, type_node: etree._Element) -> list[Field]:
        """Sequence of a complexType, base type's fields first (complexContent/extension)."""
        out: list[Field] = []
        extension = type_node.find(f"{{{XS}}}complexContent/{{{XS}}}extension")
        if extension is not None:
            out.extend(self.fields(self.complex[_local(extension.get("base"))]))
            sequence = extension.find(f"{{{XS}}}sequence")
        else:
            sequence = type_node.find(f"{{{XS}}}sequence")
        if sequence is None:
            return out
        for el in sequence.findall(f"{{{XS}}}element"):
            out.append(Field(el.get("name"), el.get("type"), int(el.get("minOccurs", "1")),
                             el.get("maxOccurs") == "unbounded", el.get("nillable") == "true",
                             el.find(f"{{{XS}}}complexType")))
        return out

    def response(self, operation: str, values: dict[str, Any]) -> etree._Element:
        """``<{op}Response xmlns=ns>`` with ``values`` keyed by the response's child names."""
        node = etree.Element(f"{{{self.namespace}}}{operation}Response", nsmap={None: self.namespace})
        element = self.elements[f"{operation}Response"]
        self._fill(node, self.fields(element.find(f"{{{XS}}}complexType")), values)
        return node

    def _fill(self, parent: etree._Element, fields: list[Field], values: dict[str, Any]) -> None:
        for f in fields:
            value = values.get(f.name)
            items = value if f.unbounded else [value]
            if f.unbounded and value is None:
                items = []
            for item in items:
                self._emit(parent, f, item)

    def _emit(self, parent: etree._Element, f: Field, value: Any) -> None:
        tag = f"{{{self.namespace}}}{f.name}"
        if value is None:
            if f.nillable:
                etree.SubElement(parent, tag).set(f"{{{XSI}}}nil", "true")
            elif f.min_occurs:
                raise ValueError(f"{self.service}: required element {f.name} has no value")
            return
        child = etree.SubElement(parent, tag)
        if f.inline is not None:
            self._fill(child, self.fields(f.inline), value)
        elif f.type and f.type.startswith("tns:") and _local(f.type) in self.complex:
            self._fill(child, self.fields(self.complex[_local(f.type)]), value)
        else:
            child.text = format_value(value)


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)
