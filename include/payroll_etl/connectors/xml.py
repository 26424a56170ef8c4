"""Namespace-agnostic XML helpers for landed SOAP payloads (Loket webservice, Nmbrs SOAP).

Elements are matched by their local name only: the namespaces are a WSDL design assumption and
must not decide whether a landed page can be read. The elements are lxml's (lxml ships no type
stubs, hence :data:`Element` is ``Any``).

One rule for text, everywhere (:func:`text`): an absent child and an ``xsi:nil="true"`` child are
``None``; a present but empty child (``<Name/>``, ``<Name></Name>``) is ``""``. Callers that do not
care about the difference write ``text(node, "X") or None``; :class:`~payroll_etl.parsing.Parser`
already reads ``""`` as no value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from payroll_etl.errors import MalformedPayloadError

Element = Any  # an ``lxml.etree._Element``
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def local(element: Element) -> str:
    """The local name of ``element`` (``{ns}Name`` -> ``Name``); ``""`` for comments and processing instructions."""
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def is_nil(element: Element | None) -> bool:
    """True when ``element`` carries ``xsi:nil="true"``."""
    return element is not None and element.get(XSI_NIL) == "true"


def children(node: Element | None, name: str) -> list[Element]:
    """The direct children of ``node`` named ``name`` (any namespace); ``[]`` when ``node`` is None."""
    if node is None:
        return []
    return [c for c in node if local(c) == name]


def child(node: Element | None, *path: str) -> Element | None:
    """The first child along ``path`` (``child(n, "A", "B")`` = first B in first A), or None."""
    for name in path:
        found = children(node, name)
        node = found[0] if found else None
    return node


def descendants(node: Element, name: str) -> Iterator[Element]:
    """Every element below ``node`` (not ``node`` itself) named ``name``, in document order."""
    return (c for c in node.iter() if c is not node and local(c) == name)


def first(node: Element, name: str) -> Element | None:
    """The first element below ``node`` named ``name``, or None."""
    return next(descendants(node, name), None)


def text(node: Element | None, name: str) -> str | None:
    """Text of the direct child ``name``: None when absent or ``xsi:nil``, ``""`` when empty."""
    found = child(node, name)
    if found is None or is_nil(found):
        return None
    return found.text if found.text is not None else ""


def parse(payload: str | bytes, what: str) -> Element:
    """The root element of ``payload``, parsed without entity resolution or network access
    (``huge_tree`` for large exports). MalformedPayloadError names ``what`` (e.g. the page URL)."""
    from lxml import etree

    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    try:
        return etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True,
                                                             huge_tree=True))
    except etree.XMLSyntaxError:
        raise MalformedPayloadError(f"{what} is not valid XML") from None


def soap_response(payload: str | bytes, what: str) -> Element | None:
    """The operation response element in a SOAP envelope (the Body's first child), or None for a
    Fault. MalformedPayloadError when the payload is not XML or has no (empty) Body."""
    body = child(parse(payload, what), "Body")
    if body is None or len(body) == 0:
        raise MalformedPayloadError(f"{what} has no SOAP Body")
    response = body[0]
    return None if local(response) == "Fault" else response
