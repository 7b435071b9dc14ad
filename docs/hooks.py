"""mkdocs hook: the tables and schemas of the docs are rendered from the code at build time, so they cannot drift.

A page holds a placeholder (an HTML comment, invisible if the hook does not run) that is replaced by what the
code says today:

    <!-- formats-table -->       cytoconv.formats.FORMATS: name, aliases, reads, writes, description
    <!-- rules-table -->         cytoconv.problems.RULES: code, name, default severity, fixable, description
    <!-- checks: FMT -->         the rules whose codes the checker cytoconv/formats/FMT/check.py reports
    <!-- problems-table -->      problems found while reading or writing (cytoconv.problems.PROBLEMS, if any)
    <!-- notices-table -->       what a run keeps but reports (cytoconv.problems.NOTICES, if any)
    <!-- stats-schema -->        cytoconv.ops.stats.JSON_SCHEMA as a JSON block
    <!-- validate-schema -->     cytoconv.validate.schema.JSON_SCHEMA as a JSON block
    <!-- diff-schema -->         cytoconv.ops.diff.JSON_SCHEMA as a JSON block
    <!-- modules-table -->       every module of cytoconv/ with the first sentence of its docstring
    <!-- import-graph -->        which part of cytoconv imports which (tools/import_graph.py), against the rule

tests/test_docs.py calls the same functions. An unknown placeholder of this form is an error.
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the docs build from a checkout whether or not cytoconv is installed
    sys.path.insert(0, str(ROOT))

PLACEHOLDER = re.compile(r"<!--\s*([a-z-]+-(?:table|schema|graph)|checks:\s*[a-z-]+)\s*-->")


def _cell(text: object) -> str:
    """Table cell text: HTML-escaped outside code spans (descriptions hold ``<size>``, ``<class>/<image>``),
    pipes escaped, on one line."""
    pieces = str(text).replace("\n", " ").split("`")
    # odd pieces are inside `...`, where Python-Markdown's tables neither split at | nor unescape entities
    pieces = [p if i % 2 else html.escape(p, quote=False).replace("|", "\\|") for i, p in enumerate(pieces)]
    return "`".join(pieces)


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def formats_table() -> str:
    from cytoconv.formats import FORMATS

    rows: list[list[object]] = []
    for info in FORMATS.values():
        aliases = ", ".join(info.aliases) or "-"
        rows.append(
            [
                f"`{info.name}`",
                aliases,
                "yes" if info.reads else "no",
                "yes" if info.writes else "no",
                info.description,
            ]
        )
    return _table(["format", "aliases", "reads", "writes", "what"], rows)


def _rule_rows(codes: list[str] | None = None) -> list[list[object]]:
    from cytoconv.problems import RULES

    chosen = [RULES[c] for c in (codes if codes is not None else list(RULES))]
    return [
        [f"`{r.code}`", f"`{r.name}`", r.severity, "yes" if r.fixable else "", r.description] for r in chosen
    ]


RULE_HEADER = ["code", "name", "default", "fix", "what"]


def rules_table() -> str:
    return _table(RULE_HEADER, _rule_rows())


def checker_codes(fmt: str) -> list[str]:
    """The rule codes (or rule names) that appear as string literals in ``cytoconv/formats/<fmt>/check.py``
    and in the ``syntax.py`` beside it (the parser the checker shares with the reader reports most of them).
    ``fmt`` is a format's name or its package's: ``points-csv`` is ``formats/points_csv/``."""
    from cytoconv.problems import RULES

    package = ROOT / "cytoconv" / "formats" / fmt.replace("-", "_")
    source = "\n".join(
        p.read_text(encoding="utf-8") for p in (package / "check.py", package / "syntax.py") if p.is_file()
    )
    if not (package / "check.py").is_file():
        raise ValueError(f"no checker {package / 'check.py'} for <!-- checks: {fmt} -->")
    literals = set(re.findall(r"""["']([A-Za-z0-9-]+)["']""", source))
    return [code for code, rule in RULES.items() if code in literals or rule.name in literals]


def checks_table(fmt: str) -> str:
    codes = checker_codes(fmt)
    if not codes:
        raise ValueError(f"no rule codes found in cytoconv/formats/{fmt.replace('-', '_')}/check.py")
    return _table(RULE_HEADER, _rule_rows(codes))


def problems_table() -> str:
    """What readers and writers stop on (strict) or count (lenient) beyond the validator's rules."""
    import cytoconv.problems as problems

    table: dict[str, Any] = getattr(problems, "PROBLEMS", {})
    rows = [
        [f"`{p.code}`", f"`{p.name}`", getattr(p, "stage", "check"), p.description]
        for p in table.values()
        if getattr(p, "stage", "check") != "check"
    ]
    if not rows:
        return "Readers and writers use the codes of the rule table above.\n"
    return _table(["code", "name", "found while", "what"], rows)


def notices_table() -> str:
    import cytoconv.problems as problems

    notices: dict[str, str] = getattr(problems, "NOTICES", {})
    if not notices:
        return ""
    return _table(["noticed", "what"], [[f"`{name}`", what] for name, what in sorted(notices.items())])


def _json_block(schema: dict[str, Any]) -> str:
    return "```json\n" + json.dumps(schema, indent=2, ensure_ascii=False) + "\n```\n"


def stats_schema() -> str:
    from cytoconv.ops.stats import JSON_SCHEMA

    return _json_block(JSON_SCHEMA)


def diff_schema() -> str:
    from cytoconv.ops.diff import JSON_SCHEMA

    return _json_block(JSON_SCHEMA)


def validate_schema() -> str:
    from cytoconv.validate.schema import JSON_SCHEMA

    return _json_block(JSON_SCHEMA)


def _import_graph_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_cytoconv_import_graph", ROOT / "tools" / "import_graph.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def part_imports() -> dict[str, set[str]]:
    """Part -> the other parts it imports (anywhere in its modules, lazy imports included)."""
    tool = _import_graph_tool()
    graph: dict[str, set[str]] = tool.build(ROOT)
    parts: dict[str, set[str]] = defaultdict(set)
    for name, targets in graph.items():
        parts[tool.part_of(name)]
        for target in targets:
            if tool.part_of(target) != tool.part_of(name):
                parts[tool.part_of(name)].add(tool.part_of(target))
    return dict(parts)


def import_graph() -> str:
    """The parts and what they import, beside the layering rule (the one tests/test_layers.py enforces)."""
    rules: dict[str, set[str]] = _import_graph_tool().ALLOWED
    rows: list[list[object]] = []
    for part, targets in sorted(part_imports().items()):
        allowed = rules.get(part, set())  # the rule tests/test_layers.py enforces (tools/import_graph.py)
        outside = sorted(t for t in targets if t not in allowed)
        shown = ", ".join(f"`{t.removeprefix('cytoconv.')}`" for t in sorted(targets)) or "nothing"
        rows.append(
            [
                "`cytoconv` (`__init__`)" if part == "cytoconv" else f"`{part.removeprefix('cytoconv.')}`",
                shown,
                ", ".join(f"`{t.removeprefix('cytoconv.')}`" for t in outside) or "-",
            ]
        )
    return _table(["part", "imports today", "against the rule"], rows)


def modules_table() -> str:
    import ast

    rows: list[list[object]] = []
    for path in sorted((ROOT / "cytoconv").rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        first = " ".join(doc.split("\n\n")[0].split())
        sentence = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0]
        rows.append([f"`{path.relative_to(ROOT).as_posix()}`", sentence.replace("``", "`")])
    return _table(["module", "what"], rows)


def render(name: str) -> str:
    name = " ".join(name.split())
    if name.startswith("checks:"):
        return checks_table(name.split(":", 1)[1].strip())
    renderers = {
        "formats-table": formats_table,
        "rules-table": rules_table,
        "problems-table": problems_table,
        "notices-table": notices_table,
        "stats-schema": stats_schema,
        "validate-schema": validate_schema,
        "diff-schema": diff_schema,
        "import-graph": import_graph,
        "modules-table": modules_table,
    }
    if name not in renderers:
        raise ValueError(
            f"unknown docs placeholder <!-- {name} --> (known: {', '.join(renderers)}, checks: FMT)"
        )
    return renderers[name]()


def substitute(markdown: str) -> str:
    return PLACEHOLDER.sub(lambda m: render(m.group(1)), markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:  # the mkdocs hook
    return substitute(markdown)
