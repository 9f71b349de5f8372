"""The package's layout holds: imports point one way (down the layers of docs/architecture.md)
and no module reaches itself through its imports, function-local ones included.

The imports are read from the source (``ast``), not executed, so an import hidden in a function
body or under ``TYPE_CHECKING`` counts like any other.
"""

import ast
from pathlib import Path

import pytest

import napari_ssdgl

PACKAGE = Path(napari_ssdgl.__file__).parent

# Each top-level part of the package and its layer: a module may import from lower layers and
# from its own part, never from a higher layer or from another part of the same layer.
LAYERS = {
    "napari_ssdgl": 0,  # the package face: __version__ only
    "io": 1,
    "datasets": 2, "transforms": 2, "device": 2, "models": 2, "analysis": 2,
    "lazy": 2,  # deprecated alias of io.lazy, one release
    "prediction": 3,
    "training": 4,
    "workflows": 5,
    "_napari": 6, "cli": 6,
    "__main__": 7,
}
TOP_LEVEL_MODULES = {"__init__", "__main__", "device", "lazy"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                up = base[: len(base) - node.level + 1]
                target = ".".join(up + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target not in known:
                continue
            subs = {f"{target}.{a.name}" for a in node.names} & known
            names = {a.name for a in node.names if f"{target}.{a.name}" not in known}
            out |= subs
            if names or not subs:
                out.add(target)
    out.discard(name)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imported(name, path, set(mods)) for name, path in mods.items()}


def part(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle():
    assert cycles(graph()) == []


def test_imports_point_down_the_layers():
    bad = []
    for name, targets in graph().items():
        for t in targets:
            a, b = part(name), part(t)
            if a != b and not LAYERS[b] < LAYERS[a]:
                bad.append(f"{name} -> {t}")
    assert bad == []


def test_every_part_has_a_layer():
    assert {part(n) for n in modules()} <= set(LAYERS)


def test_top_level_holds_only_the_agreed_modules():
    assert {p.stem for p in PACKAGE.glob("*.py")} == TOP_LEVEL_MODULES


def test_engine_imports_neither_qt_nor_napari():
    for name, path in modules().items():
        if part(name) == "_napari":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""])
                for n in names:
                    assert n.split(".")[0] not in {"napari", "qtpy", "PyQt5", "PyQt6",
                                                   "PySide2", "PySide6", "magicgui"}, name


@pytest.mark.parametrize("source, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set()}, []),
])
def test_cycle_finder_finds_circles(source, expected):
    """The check itself can fail."""
    assert cycles(source) == expected


def test_lazy_alias_warns_and_forwards():
    import importlib
    import sys

    from napari_ssdgl.io import lazy

    sys.modules.pop("napari_ssdgl.lazy", None)
    with pytest.warns(DeprecationWarning, match="napari_ssdgl.io.lazy"):
        alias = importlib.import_module("napari_ssdgl.lazy")
    assert alias.open_lazy is lazy.open_lazy
