"""Architecture rules over ``src/genmodels``, checked by reading the source with `ast`.

- no import cycle between modules;
- no function longer than `MAX_FUNCTION_LINES` lines;
- no private name (``_x``) imported from another package;
- no temporary file made by hand: every write-then-rename goes through `genmodels.io`.

Import edges: every ``import``/``from ... import`` at any level (function bodies included)
except under ``if TYPE_CHECKING:``; ``from genmodels.a import b`` is an edge to the module
``genmodels.a.b`` if there is one, else to ``genmodels.a``. A package's ``__init__`` importing
its own submodules, and imports of the top-level ``genmodels/__init__.py``, are not edges.

Each check has a short ALLOWLIST; every entry says why it is there, and an entry whose
offence is gone fails `test_allowlists_name_only_current_offenders`, so the lists only
shrink. They are empty: keep them so.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "genmodels"
MAX_FUNCTION_LINES = 80

# (module, module) import edges allowed to close a cycle.
CYCLE_ALLOWLIST: dict[tuple[str, str], str] = {}

# "module:qualified.function" allowed to exceed MAX_FUNCTION_LINES.
LONG_FUNCTION_ALLOWLIST: dict[str, str] = {}

# ("importing module", "imported module", "name") private imports across packages.
PRIVATE_IMPORT_ALLOWLIST: dict[tuple[str, str, str], str] = {}

# Modules other than genmodels.io that still write a temporary file and rename it.
OWN_TEMP_FILE_ALLOWLIST: dict[str, str] = {}


# -- reading the source --------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    """Module name → file, for every module of the package."""
    return {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


MODULES = _sources()
TREES = {name: ast.parse(path.read_text(), filename=str(path)) for name, path in MODULES.items()}


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _package_of(module: str) -> str:
    """The package a module belongs to (a package's ``__init__`` belongs to itself)."""
    return module if _is_package(module) else module.rpartition(".")[0]


def _top_package(module: str) -> str:
    """``genmodels.X`` of ``genmodels.X.y.z``: the unit the private-import rule is about
    (``diffusion.samplers`` may use ``diffusion``'s private helpers; ``cli`` may not)."""
    return ".".join(module.split(".")[:2])


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under ``node`` (function bodies included), except those guarded
    by ``if TYPE_CHECKING:`` (their ``else`` branch still counts)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            yield from _imports(ast.Module(body=child.orelse, type_ignores=[]))
        else:
            yield from _imports(child)


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The absolute module name an ``ImportFrom`` reads from (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = _package_of(module).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str | None]]:
    """``(imported module, imported name or None)`` for each name in one import statement."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, None
        return
    source = _absolute(module, node)
    for alias in node.names:
        submodule = f"{source}.{alias.name}"
        if submodule in MODULES:
            yield submodule, None
        else:
            yield source, alias.name


def import_graph() -> dict[str, set[str]]:
    """Module → the package modules it imports (at any level except under TYPE_CHECKING).

    Left out: a package's ``__init__`` importing its own submodules (that is how a package
    exposes its surface), and edges to the top-level ``genmodels/__init__.py``.
    """
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for module, tree in TREES.items():
        for node in _imports(tree):
            for target, _ in _targets(module, node):
                if target not in MODULES or target in (module, PACKAGE):
                    continue
                if _is_package(module) and target.startswith(module + "."):
                    continue
                graph[module].add(target)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def _cycle_edges(graph: dict[str, set[str]], component: list[str]) -> list[tuple[str, str]]:
    members = set(component)
    return sorted((a, b) for a in component for b in graph[a] if b in members)


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.AST]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + node.name, node
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


# -- the rules, as finders ----------------------------------------------------------------------


def long_functions() -> dict[str, int]:
    """``module:qualified.name`` → length in lines, for every function over the limit."""
    return {
        f"{module}:{qualname}": node.end_lineno - node.lineno + 1
        for module, tree in TREES.items()
        for qualname, node in _functions(tree)
        if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    }


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports() -> set[tuple[str, str, str]]:
    """``(importing module, imported module, name)`` for each private name (``_x``, or a name
    from a private module ``pkg._mod``) imported from another top-level package of genmodels."""
    found = set()
    for module, tree in TREES.items():
        for node in _imports(tree):
            for target, name in _targets(module, node):
                if not target.startswith(PACKAGE + ".") or _top_package(target) == _top_package(
                    module
                ):
                    continue
                name = name or target.rpartition(".")[2]
                if _is_private(name) or any(map(_is_private, target.split("."))):
                    found.add((module, target, name))
    return found


_TEMP_CALLS = {("os", "replace"), ("os", "rename"), ("tempfile", "mkstemp"),
               ("tempfile", "NamedTemporaryFile")}  # fmt: skip


def own_temp_files() -> dict[str, list[int]]:
    """Module → lines that make a temporary file by hand (``os.replace``/``tempfile`` calls,
    or a string naming a ``.tmp`` file: the fixed names a planted symlink can hijack)."""
    found: dict[str, list[int]] = {}
    for module, tree in TREES.items():
        if module == f"{PACKAGE}.io":
            continue
        for node in ast.walk(tree):
            hit = False
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                hit = isinstance(owner, ast.Name) and (owner.id, node.func.attr) in _TEMP_CALLS
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                hit = ".tmp" in node.value and "\n" not in node.value  # a name, not prose
            if hit:
                found.setdefault(module, []).append(node.lineno)
    return found


# -- the checks ----------------------------------------------------------------------------------


def test_the_sources_are_found():
    assert f"{PACKAGE}.io" in MODULES and f"{PACKAGE}.targets" in MODULES
    assert _is_package(f"{PACKAGE}.targets") and not _is_package(f"{PACKAGE}.io")


def test_no_import_cycles():
    graph = import_graph()
    for edge in CYCLE_ALLOWLIST:
        graph[edge[0]].discard(edge[1])
    cycles = find_cycles(graph)
    report = "\n".join(" ; ".join(f"{a} -> {b}" for a, b in _cycle_edges(graph, c)) for c in cycles)
    print(report)
    assert not cycles, f"import cycles between modules:\n{report}"


def test_no_long_functions():
    long = [
        f"{name} ({lines} lines)"
        for name, lines in long_functions().items()
        if name not in LONG_FUNCTION_ALLOWLIST
    ]
    print("\n".join(long))
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def test_no_private_imports_across_packages():
    found = [
        f"{module}: from {target} import {name}"
        for module, target, name in sorted(private_imports() - PRIVATE_IMPORT_ALLOWLIST.keys())
    ]
    print("\n".join(found))
    assert not found, "private names imported across packages:\n" + "\n".join(found)


def test_every_temporary_file_comes_from_genmodels_io():
    found = [
        f"{module}:{line}"
        for module, lines in own_temp_files().items()
        if module not in OWN_TEMP_FILE_ALLOWLIST
        for line in sorted(set(lines))
    ]
    print("\n".join(found))
    assert not found, "write through genmodels.io.atomic_path instead:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "allowlist",
    [CYCLE_ALLOWLIST, LONG_FUNCTION_ALLOWLIST, PRIVATE_IMPORT_ALLOWLIST, OWN_TEMP_FILE_ALLOWLIST],
)
def test_every_allowlist_entry_has_a_reason(allowlist):
    assert all(isinstance(reason, str) and reason.strip() for reason in allowlist.values())


def test_allowlists_name_only_current_offenders():
    """An entry whose offence is gone must go too, so the allowlists only shrink."""
    graph = import_graph()
    stale = [f"cycle edge {a} -> {b}" for a, b in CYCLE_ALLOWLIST if b not in graph.get(a, ())]
    stale += [f"long function {n}" for n in LONG_FUNCTION_ALLOWLIST.keys() - long_functions()]
    stale += [f"private import {e}" for e in PRIVATE_IMPORT_ALLOWLIST.keys() - private_imports()]
    stale += [f"temp file in {m}" for m in OWN_TEMP_FILE_ALLOWLIST.keys() - own_temp_files()]
    assert not stale, "remove these allowlist entries (fixed):\n" + "\n".join(stale)


# -- the checker checks itself on a planted example ----------------------------------------------


def test_cycle_finder_on_a_planted_graph():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert find_cycles(graph) == [["a", "b", "c"]]


def test_type_checking_imports_are_not_edges():
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import genmodels.io\n"
        "def f():\n    import genmodels.budget\n"
    )
    names = [a.name for node in _imports(tree) for a in node.names]
    assert "genmodels.budget" in names and "genmodels.io" not in names


def _edges(module: str, source: str) -> list[tuple[str, str | None]]:
    (node,) = ast.parse(source).body
    return list(_targets(module, node))


def test_import_resolution_rules():
    plots, report = "genmodels.report.plots", "genmodels.report"
    # a submodule named in a from-import is an edge to that module, else to the module read
    assert _edges(plots, "from genmodels.report import figure") == [
        ("genmodels.report.figure", None)
    ]
    assert _edges(plots, "from genmodels.io import atomic_path") == [
        ("genmodels.io", "atomic_path")
    ]
    # relative imports resolve against the importing module's package
    assert _edges(plots, "from .figure import save_gif") == [
        ("genmodels.report.figure", "save_gif")
    ]
    assert _edges(report, "from . import figure") == [("genmodels.report.figure", None)]
    assert _edges(plots, "from .. import io") == [("genmodels.io", None)]
    # a package import is an edge to its __init__
    assert _edges(plots, "import genmodels.targets") == [("genmodels.targets", None)]
    assert _is_package("genmodels.targets")


def test_private_rule_is_per_top_level_package():
    assert _top_package("genmodels.diffusion.samplers.ode") == "genmodels.diffusion"
    assert _top_package("genmodels.io") == "genmodels.io"
    assert _is_private("_x") and not _is_private("__all__") and not _is_private("x")
