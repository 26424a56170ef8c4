"""Loket's collection query language: ``filter``, ``orderBy``, ``pageNumber``/``pageSize``.

Filter grammar (Loket "Filtering"): ``field op value`` with ops eq ne lk gt ge lt le, combined
with ``and``/``or`` (``and`` binds tighter), case-insensitive names, dotted paths, ``null``,
quoted strings, numbers, and unquoted ISO dates.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

OPS = {"eq", "ne", "lk", "gt", "ge", "lt", "le"}
_TOKEN = re.compile(r"\s*(?:'((?:[^']|'')*)'|(\()|(\))|([^\s()']+))")


class FilterError(ValueError):
    """A filter expression Loket would refuse with a BrokenBusinessRule."""


def _tokens(expr: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise FilterError("invalid filter expression")
        pos = m.end()
        if m.group(1) is not None:
            out.append(("str", m.group(1).replace("''", "'")))
        elif m.group(2):
            out.append(("(", "("))
        elif m.group(3):
            out.append((")", ")"))
        else:
            out.append(("word", m.group(4)))
    return out


def _lookup(item: Any, path: str) -> Any:
    value = item
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        match = next((k for k in value if k.lower() == part.lower()), None)
        if match is None:
            return None
        value = value[match]
    return value


def _literal(kind: str, text: str) -> Any:
    if kind == "str":
        return text
    low = text.lower()
    if low == "null":
        return None
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text  # unquoted date or word


def _compare(left: Any, op: str, right: Any) -> bool:
    if op in ("eq", "ne"):
        if right is None or left is None:
            result = left is right
        elif isinstance(left, str) or isinstance(right, str):
            result = str(left).lower() == str(right).lower()
        else:
            result = left == right
        return result if op == "eq" else not result
    if op == "lk":
        return left is not None and str(right).lower().strip("%") in str(left).lower()
    if left is None or right is None:
        return False
    if isinstance(left, (int, float)) and not isinstance(left, bool) and isinstance(right, (int, float)):
        a, b = left, right
    else:
        a, b = str(left).lower(), str(right).lower()
    return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]


def compile_filter(expr: str | None) -> Callable[[dict], bool]:
    """Parse ``expr`` into a predicate; raises :class:`FilterError` on a bad expression."""
    if not expr or not expr.strip():
        return lambda item: True
    tokens = _tokens(expr)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise FilterError("incomplete filter expression")
        pos += 1
        return tokens[pos - 1]

    def parse_or() -> Callable[[dict], bool]:
        left = parse_and()
        while (t := peek()) and t[0] == "word" and t[1].lower() == "or":
            take()
            right = parse_and()
            left = (lambda a, b: lambda i: a(i) or b(i))(left, right)
        return left

    def parse_and() -> Callable[[dict], bool]:
        left = parse_atom()
        while (t := peek()) and t[0] == "word" and t[1].lower() == "and":
            take()
            right = parse_atom()
            left = (lambda a, b: lambda i: a(i) and b(i))(left, right)
        return left

    def parse_atom() -> Callable[[dict], bool]:
        t = take()
        if t[0] == "(":
            inner = parse_or()
            if take()[0] != ")":
                raise FilterError("unbalanced parentheses in filter")
            return inner
        if t[0] != "word":
            raise FilterError("filter must start with a field name")
        field = t[1]
        op = take()
        if op[0] != "word" or op[1].lower() not in OPS:
            raise FilterError(f"unknown filter operator {op[1]!r}")
        kind, text = take()
        if kind not in ("word", "str"):
            raise FilterError("filter value missing")
        value = _literal(kind, text)
        operator = op[1].lower()
        return lambda item: _compare(_lookup(item, field), operator, value)

    predicate = parse_or()
    if pos != len(tokens):
        raise FilterError("unexpected text after filter expression")
    return predicate


def order(items: list[dict], order_by: str | None) -> list[dict]:
    if not order_by:
        return items
    if not re.fullmatch(r"-?[\w.]+(,-?[\w.]+)*", order_by):
        raise FilterError("invalid orderBy expression")
    result = list(items)
    for part in reversed(order_by.split(",")):
        desc = part.startswith("-")
        field = part.lstrip("-")
        present = [i for i in result if _lookup(i, field) is not None]
        missing = [i for i in result if _lookup(i, field) is None]
        present.sort(key=lambda i: _lookup(i, field), reverse=desc)
        result = present + missing
    return result


def paginate(items: list[dict], page_number: int, page_size: int) -> dict[str, Any]:
    """Paging fields plus the slice. An empty collection has totalPages 0 (clients must not loop)."""
    total = len(items)
    pages = math.ceil(total / page_size) if total else 0
    start = (page_number - 1) * page_size
    return {"totalSize": total, "pageSize": page_size, "totalPages": pages, "currentPage": page_number,
            "_embedded": items[start:start + page_size]}


class PageWalks:
    """The items of collections being paged through, so pages 2.. of a walk are sliced from the list
    page 1 rendered instead of rendering the whole collection again for every page (O(n²) for a
    100,000-employee employer). A walk is keyed by path, query (without ``pageNumber``) and caller;
    a request for page 1 (or of an unknown walk) renders afresh, the last page ends the walk, and at
    most ``limit`` walks are kept (a client may stop half-way)."""

    def __init__(self, limit: int = 16):
        self.limit = limit
        self._walks: OrderedDict[tuple[str, ...], list[dict]] = OrderedDict()
        self._lock = threading.Lock()

    def items(self, key: tuple[str, ...], page_number: int, render: Callable[[], list[dict]]) -> list[dict]:
        with self._lock:
            cached = self._walks.get(key) if page_number > 1 else None
        if cached is not None:
            return cached
        items = render()
        with self._lock:
            self._walks[key] = items
            while len(self._walks) > self.limit:
                self._walks.popitem(last=False)
        return items

    def end(self, key: tuple[str, ...]) -> None:
        with self._lock:
            self._walks.pop(key, None)
