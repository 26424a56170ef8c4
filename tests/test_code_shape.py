"""The code's shape, enforced: module and function sizes, no import cycles, package contracts.

Issue 14 ("a fourth source should be a folder, not surgery"): no module of ``payroll_etl`` over
about 350 lines, no function over about 60 (migrations aside), zero import cycles, ``payroll_etl``
imports ``airflow`` only from its Airflow glue (``payroll_etl.airflow``), never the simulators, and
the simulators import nothing from ``payroll_etl``. Imports inside functions count (a deferred import
is still a dependency); imports under ``if TYPE_CHECKING:`` do not.

Lazy re-exports count too: a connector package whose ``__init__`` sets
``__getattr__ = exports(__name__, {"NmbrsConnector": "connector", ...})`` (``connectors/lazy.py``,
PEP 562) imports ``.connector`` when the name is first used, so ``from payroll_etl.connectors.nmbrs
import NmbrsConnector`` is an edge to ``payroll_etl.connectors.nmbrs.connector`` (``_lazy_exports``).
Still invisible: imports by string at run time, e.g. the connector registry's ``"module:attr"``
entries (``connectors/registry.py``) and other ``importlib.import_module`` calls.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = ROOT / "include"
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 60


def _modules(package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``package`` under include/."""
    out: dict[str, Path] = {}
    for path in sorted((INCLUDE / package).rglob("*.py")):
        parts = list(path.relative_to(INCLUDE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_migration(path: Path) -> bool:
    return "migrations" in path.parts and "versions" in path.parts


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _lazy_exports(tree: ast.Module, package: str) -> dict[str, str]:
    """Name -> absolute submodule of a package ``__init__``'s ``exports(__name__, {...})`` map.

    The mapping is the call's second argument: a dict literal, or a module-level name bound to one.
    """
    assigned = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and len(node.args) == 2):
            continue
        func = node.func
        if not ((isinstance(func, ast.Name) and func.id == "exports")
                or (isinstance(func, ast.Attribute) and func.attr == "exports")):
            continue
        mapping = node.args[1]
        if isinstance(mapping, ast.Name):
            mapping = assigned.get(mapping.id, mapping)
        names = ast.literal_eval(mapping)  # not a literal: ValueError, so the test says so
        out.update({name: f"{package}.{sub}" for name, sub in names.items()})
    return out


def _imports(tree: ast.AST, module: str, is_package: bool, known: frozenset[str] = frozenset(),
             lazy: Mapping[str, Mapping[str, str]] | None = None) -> Iterator[str]:
    """Every module name ``tree`` imports, absolute.

    ``from x import y`` yields ``x.y`` when that is one of the ``known`` modules, else ``x`` (and
    ``x.y`` too, for names outside the package being checked); when ``y`` is a lazy re-export of
    package ``x`` (``lazy[x][y]``, see ``_lazy_exports``) it yields the submodule defining it too.
    """
    lazy = lazy or {}
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = module.split(".") if is_package else module.split(".")[:-1]
                base_parts = base_parts[: len(base_parts) - node.level + 1]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names = [f"{base}.{alias.name}" for alias in node.names]
            if not known or not all(n in known for n in names):
                yield base
            yield from names
            exported = lazy.get(base, {})
            yield from (exported[alias.name] for alias in node.names if alias.name in exported)
        stack.extend(ast.iter_child_nodes(node))


def _graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (lazy re-exports followed)."""
    modules = _modules(package)
    trees = {name: ast.parse(path.read_text(), str(path)) for name, path in modules.items()}
    lazy = {name: _lazy_exports(tree, name) for name, tree in trees.items() if modules[name].name == "__init__.py"}
    graph: dict[str, set[str]] = {}
    known = frozenset(modules)
    for name, path in modules.items():
        found = _imports(trees[name], name, path.name == "__init__.py", known, lazy)
        targets = {t for t in found if t in modules}
        targets.discard(name)
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle_and_accepts_a_tree():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_relative_imports_resolve_to_absolute_modules():
    tree = ast.parse("from . import rules\nfrom ..errors import X\nimport payroll_etl.model\n")
    found = set(_imports(tree, "payroll_etl.quality.suites", is_package=False))
    assert {"payroll_etl.quality.rules", "payroll_etl.errors", "payroll_etl.model"} <= found


def test_lazy_re_exports_are_followed_to_their_submodule():
    init = ast.parse('from x.lazy import exports\n'
                     '__getattr__ = exports(__name__, {"Conn": "connector", "API": "settings"})\n')
    lazy = {"x.pkg": _lazy_exports(init, "x.pkg")}
    assert lazy["x.pkg"] == {"Conn": "x.pkg.connector", "API": "x.pkg.settings"}
    found = set(_imports(ast.parse("from x.pkg import Conn\n"), "x.pipeline", False, lazy=lazy))
    assert "x.pkg.connector" in found and "x.pkg.settings" not in found
    # every lazily exporting package of the core has its map read (a parse failure raises)
    exporting = [m for m, tree in ((m, ast.parse(p.read_text())) for m, p in _modules("payroll_etl").items()
                                   if p.name == "__init__.py") if _lazy_exports(tree, m)]
    assert "payroll_etl.connectors.nmbrs" in exporting


@pytest.mark.parametrize("package", ["payroll_etl", "payroll_simulators"])
def test_no_import_cycles(package):
    cycles = _cycles(_graph(package))
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def _external_imports(package: str) -> Iterator[tuple[str, str]]:
    for name, path in _modules(package).items():
        tree = ast.parse(path.read_text(), str(path))
        for target in _imports(tree, name, path.name == "__init__.py"):
            yield name, target


def test_core_imports_airflow_only_from_its_airflow_glue():
    offenders = sorted(
        {
            f"{module} imports {target}"
            for module, target in _external_imports("payroll_etl")
            if target.split(".")[0] == "airflow" and not module.startswith("payroll_etl.airflow")
        }
    )
    assert not offenders, "\n".join(offenders)


def test_core_never_imports_the_simulators():
    offenders = sorted(
        {f"{m} imports {t}" for m, t in _external_imports("payroll_etl") if t.split(".")[0] == "payroll_simulators"}
    )
    assert not offenders, "\n".join(offenders)


def test_simulators_import_nothing_from_the_core():
    offenders = sorted(
        {f"{m} imports {t}" for m, t in _external_imports("payroll_simulators") if t.split(".")[0] == "payroll_etl"}
    )
    assert not offenders, "\n".join(offenders)


def test_no_module_over_350_lines():
    long = sorted(
        f"{path.relative_to(ROOT)}: {n} lines"
        for path in _modules("payroll_etl").values()
        if not _is_migration(path) and (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    )
    assert not long, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(long)


def test_no_function_over_60_lines():
    long = []
    for path in _modules("payroll_etl").values():
        if _is_migration(path):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                size = (node.end_lineno or node.lineno) - first + 1
                if size > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {size} lines")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(sorted(long))
