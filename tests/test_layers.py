"""The architecture, enforced: which part of cytoconv may import which, no cycle between parts or modules, and
which parts alone may import the heavy outside libraries. The picture in docs/architecture.md stays true
because this test fails when an import breaks it. ``python tools/import_graph.py`` draws the graph."""

from __future__ import annotations

import ast
from pathlib import Path

from tools.import_graph import ALLOWED, OUTSIDE, build, cycles, part_of

ROOT = Path(__file__).resolve().parent.parent


def test_every_part_imports_only_what_its_layer_allows() -> None:
    graph = build(ROOT)
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if part_of(target) != part_of(module) and part_of(target) not in ALLOWED[part_of(module)]
    )
    assert wrong == []


def test_every_part_is_known() -> None:
    assert {part_of(m) for m in build(ROOT)} <= set(ALLOWED)


def test_no_cycle_between_modules() -> None:
    assert cycles(build(ROOT)) == []


def test_heavy_outside_libraries_stay_in_their_part() -> None:
    wrong = []
    for path in sorted((ROOT / "cytoconv").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top in OUTSIDE and part_of(module) not in OUTSIDE[top]:
                    wrong.append(f"{module}:{node.lineno} imports {name}")
    assert wrong == []
