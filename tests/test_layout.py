"""The package's shape, checked by reading its sources (no imports): the layers point down (no import
loops), no module uses another module's underscore names, and files and functions stay small."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "jaxglass"
#: Files allowed past MAX_FILE_LINES: catalogues of one kind (one potential form per file).
CATALOGUES: set[str] = set()
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        parts = ("jaxglass",) + f.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(modules: dict[str, Path]):
    """Per module: the jaxglass modules it imports (anywhere in the file, lazy imports included), the
    underscore names it takes from other modules, and the local aliases bound to jaxglass modules."""
    edges, private = {}, []
    for name, path in modules.items():
        deps, aliases = set(), {}
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(name, path, node)
                if not target.startswith("jaxglass"):
                    continue
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    if sub in modules:
                        deps.add(sub)
                        aliases[a.asname or a.name] = sub
                        continue
                    deps.add(target)
                    if a.name.startswith("_") and not a.name.startswith("__") and target != name:
                        private.append(f"{name}: from {target} import {a.name}")
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in modules:
                        deps.add(a.name)
                        if a.asname:
                            aliases[a.asname] = a.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                private.append(f"{name}: {node.value.id}.{node.attr} ({aliases[node.value.id]})")
        deps.discard(name)
        deps.discard("jaxglass")  # the root package only re-exports the ground floor
        edges[name] = deps
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
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

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_loops():
    modules = _modules()
    edges, _ = _imports(modules)
    assert _cycles(edges) == []


def test_no_underscore_names_from_other_modules():
    _, private = _imports(_modules())
    assert private == []


def test_small_files_and_functions():
    long_files, long_functions = [], []
    for path in _modules().values():
        text = path.read_text()
        rel = path.relative_to(PACKAGE).as_posix()
        if len(text.splitlines()) > MAX_FILE_LINES and rel not in CATALOGUES:
            long_files.append(f"{rel}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long_functions.append(f"{rel}:{node.lineno} {node.name}: {n} lines")
    assert long_files == [] and long_functions == [], (long_files, long_functions)


def test_no_backend_switch_or_outside_references_in_the_library():
    for name, path in _modules().items():
        text = path.read_text()
        if not name.startswith("jaxglass.cli"):
            assert "matplotlib.use(" not in text, name
        assert "DESIGN.md" not in text, name
