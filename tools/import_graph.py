"""Draw cytoconv's import graph: which part imports which, and the cycles between modules.

    python tools/import_graph.py            # parts (folders and top-level modules), arrows, cycles
    python tools/import_graph.py --modules  # every module-to-module arrow

Imports inside functions count as much as those at the top, and so do ``__import__`` and
``importlib.import_module`` calls with a literal name: a lazy import is still a dependency. A part is a
sub-package of ``cytoconv`` (``cytoconv.formats``) or a top-level module (``cytoconv.api``).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = "cytoconv"

# part -> the parts it may import (besides itself). Lazy imports inside functions count too.
# The bottom: the model, errors, and the engine (which knows no format); the problem vocabulary above them.
BASE = {"cytoconv._version", "cytoconv.ir", "cytoconv.errors"}
BOTTOM = BASE | {"cytoconv.problems"}
ALLOWED: dict[str, set[str]] = {
    "cytoconv": {"cytoconv._version", "cytoconv.api"},  # the package: version, and the API on first use
    "cytoconv._version": set(),
    "cytoconv.ir": set(),
    "cytoconv.errors": set(),
    "cytoconv.engine": BASE,
    "cytoconv.problems": BASE | {"cytoconv.engine"},
    "cytoconv.geometry": BOTTOM,
    "cytoconv.formats": BOTTOM | {"cytoconv.engine", "cytoconv.geometry"},
    "cytoconv.ops": BOTTOM | {"cytoconv.engine", "cytoconv.geometry"},
    "cytoconv.validate": BOTTOM | {"cytoconv.engine", "cytoconv.formats", "cytoconv.geometry"},
    "cytoconv.api": BOTTOM
    | {"cytoconv.engine", "cytoconv.geometry", "cytoconv.formats", "cytoconv.ops", "cytoconv.validate"},
    "cytoconv.cli": BOTTOM
    | {"cytoconv.api", "cytoconv.engine", "cytoconv.formats", "cytoconv.validate", "cytoconv.ops"},
    "cytoconv.__main__": {"cytoconv.cli"},
}
# outside library -> the parts that alone may import it
OUTSIDE: dict[str, set[str]] = {
    "typer": {"cytoconv.cli"},
    "rich": {"cytoconv.cli"},
    "click": {"cytoconv.cli"},
    "pycocotools": {"cytoconv.geometry"},
    "shapely": {"cytoconv.geometry"},
    "cv2": {"cytoconv.geometry"},
}


def module_name(path: Path, root: Path) -> str:
    """``cytoconv/formats/yolo/reader.py`` -> ``cytoconv.formats.yolo.reader`` (``__init__`` dropped)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The cytoconv modules that ``path`` imports anywhere in its body, resolved to known module names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("__import__", "import_module") and isinstance(node.args[0].value, str):
                targets = [node.args[0].value]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith(PACKAGE + "."):
                found.add(target)
            if target == PACKAGE and name != PACKAGE:
                found.add(PACKAGE)
    return found


def part_of(module: str) -> str:
    """The architectural part a module belongs to: its sub-package, or itself when at the top."""
    pieces = module.split(".")
    return ".".join(pieces[:2]) if len(pieces) >= 2 else module


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
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
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(out)


def build(root: Path) -> dict[str, set[str]]:
    """Module -> the cytoconv modules it imports."""
    files = sorted((root / PACKAGE).rglob("*.py"))
    names = {module_name(f, root): f for f in files}
    known = set(names)
    return {name: imports_of(path, name, path.name == "__init__.py", known) for name, path in names.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--modules", action="store_true", help="module-level arrows instead of parts")
    args = parser.parse_args()
    graph = build(args.root)
    lines = sum(
        len((args.root / PACKAGE).joinpath(*m.split(".")[1:]).with_suffix(".py").read_text().splitlines())
        if (args.root / PACKAGE).joinpath(*m.split(".")[1:]).with_suffix(".py").exists()
        else 0
        for m in graph
    )
    print(f"{len(graph)} modules, about {lines} lines (packages' __init__ not counted)")
    if args.modules:
        for name in sorted(graph):
            for target in sorted(graph[name]):
                print(f"{name} -> {target}")
    else:
        parts: dict[str, set[str]] = defaultdict(set)
        for name, targets in graph.items():
            for target in targets:
                if part_of(target) != part_of(name):
                    parts[part_of(name)].add(part_of(target))
        for name in sorted({part_of(m) for m in graph}):
            print(f"{name} -> {', '.join(sorted(parts.get(name, ()))) or '(nothing)'}")
        part_cycles = cycles(dict(parts))
        print(f"cycles between parts: {len(part_cycles)}")
        for cycle in part_cycles:
            print("  " + " <-> ".join(cycle))
    module_cycles = cycles(graph)
    print(f"cycles between modules: {len(module_cycles)}")
    for cycle in module_cycles:
        print("  " + " <-> ".join(cycle))


if __name__ == "__main__":
    main()
