"""Namespace-agnostic lxml helpers for Nmbrs XML (temporary: replaced by :mod:`payroll_etl.connectors.xml`)."""

from __future__ import annotations

from typing import Any

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def _text(node: Any, name: str) -> str | None:
    """Text of the child ``name`` (any namespace); ``None`` when absent or ``xsi:nil``."""
    if node is None:
        return None
    for child in node:
        if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == name:
            if child.get(XSI_NIL) == "true":
                return None
            return child.text if child.text is not None else ""
    return None


def _children(node: Any, name: str) -> list[Any]:
    if node is None:
        return []
    return [c for c in node if isinstance(c.tag, str) and c.tag.rsplit("}", 1)[-1] == name]


def _child(node: Any, *path: str) -> Any | None:
    for name in path:
        found = _children(node, name) if node is not None else []
        node = found[0] if found else None
    return node
