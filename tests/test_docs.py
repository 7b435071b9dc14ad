"""The docs: generated tables and schemas match the code, the README stays a one-screen overview, the site builds."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cytoconv.problems import RULES
from cytoconv.validate import Settings, render, validate
from cytoconv.validate.schema import JSON_SCHEMA

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
CORPUS = Path(__file__).parent / "data" / "validate"
QUICK_START = (
    "pip install -e . && cytoconv yolo2coco fixtures/balf_sample balf_sample.json",
    'pip install -e ".[test]" && pytest',
)


def hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cytoconv_docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def validate_document(paths: list[Path], **settings: Any) -> dict[str, Any]:
    report = validate(paths, Settings(**settings), jobs=1)
    doc: dict[str, Any] = json.loads(render.as_json(report))
    return doc


def test_validate_json_of_a_real_run_matches_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(JSON_SCHEMA)
    labels = sorted((CORPUS / "yolo" / "labels").iterdir())
    doc = validate_document([*labels, CORPUS / "coco" / "not_coco.json"])
    assert doc["findings"] and doc["skipped"], "the corpus run should give findings and a skipped file"
    jsonschema.validate(doc, JSON_SCHEMA)
    # The schema names every key the renderer writes, and no other: a key added to render without a schema
    # entry (or the reverse) fails here, although the published schema lets later 1.x keys through.
    props = JSON_SCHEMA["properties"]
    assert set(doc) == set(props)
    assert set(doc["summary"]) == set(props["summary"]["properties"])
    finding_keys = set(props["findings"]["items"]["properties"])
    assert all(set(f) == finding_keys for f in doc["findings"])


def test_validate_json_after_fix_matches_the_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    target = tmp_path / "labels" / "crlf.txt"
    target.parent.mkdir()
    shutil.copy(CORPUS / "yolo" / "labels" / "crlf.txt", target)
    report = validate([target], Settings(), mode="fix", jobs=1)
    doc = json.loads(render.as_json(report))
    assert doc["fixed"]
    jsonschema.validate(doc, JSON_SCHEMA)


def test_generated_rules_table_lists_every_rule() -> None:
    table = hooks().rules_table()
    for code, rule in RULES.items():
        assert f"`{code}`" in table and f"`{rule.name}`" in table
    assert len([line for line in table.splitlines() if line.startswith("| `CC")]) == len(RULES)


def test_every_placeholder_in_the_docs_renders() -> None:
    module = hooks()
    pages = sorted(DOCS.rglob("*.md"))
    found = [
        m.group(1) for page in pages for m in module.PLACEHOLDER.finditer(page.read_text(encoding="utf-8"))
    ]
    assert "rules-table" in found and "formats-table" in found
    for name in found:
        assert module.render(name).strip() or name == "notices-table"


def test_generated_format_table_lists_every_format() -> None:
    from cytoconv.formats import FORMATS

    table = hooks().formats_table()
    for name in FORMATS:
        assert f"| `{name}` |" in table


def test_docs_import_only_what_exists() -> None:
    """Every ``from cytoconv... import ...`` in the docs' code blocks names a real module and attribute."""
    pattern = re.compile(r"^from (cytoconv[\w.]*) import ([\w, ]+)$", re.MULTILINE)
    pages = [*sorted(DOCS.rglob("*.md")), README]
    seen = 0
    for page in pages:
        for module_name, names in pattern.findall(page.read_text(encoding="utf-8")):
            module = importlib.import_module(module_name)
            for name in (n.strip() for n in names.split(",")):
                assert hasattr(module, name) or _is_module(f"{module_name}.{name}"), (
                    f"{page.relative_to(ROOT)}: {module_name} has no {name}"
                )
            seen += 1
    assert seen


# Backticked hyphenated words in the docs that are neither problem slugs nor notices: names of other things.
NOT_SLUGS = {"cytoconv-validate", "mask-classes", "per-class", "wbc-cell", "yolo-seg", "yolo-det"}


def test_problem_slugs_in_the_docs_exist() -> None:
    """A slug the docs name (`empty-box`, `holes-bridged`) is in the problem vocabulary or the notices, or is a
    code the source raises or counts: a renamed slug fails here, naming the page."""
    import cytoconv.problems as problems
    from cytoconv.formats import FORMATS

    known = {p.name for p in getattr(problems, "PROBLEMS", problems.RULES).values()}
    known |= set(getattr(problems, "NOTICES", {})) | set(FORMATS) | NOT_SLUGS
    for path in (ROOT / "cytoconv").rglob("*.py"):
        known |= set(re.findall(r"""code=["']([a-z-]+)["']""", path.read_text(encoding="utf-8")))
        known |= set(
            re.findall(r"""(?:notice|code_of)\(\s*["']([a-z-]+)["']""", path.read_text(encoding="utf-8"))
        )
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        slugs = re.findall(r"`([a-z]+(?:-[a-z]+)+)`", text) + re.findall(
            r"\b\d+ x ([a-z]+(?:-[a-z]+)+)", text
        )
        for slug in slugs:
            assert slug in known, f"{page.relative_to(ROOT)}: `{slug}` is no problem, notice or format name"


def _is_module(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def test_readme_is_a_one_screen_overview() -> None:
    data = README.read_bytes()
    assert len(data) < 12_288, f"README.md is {len(data)} bytes"
    lines = data.decode("utf-8").splitlines()
    for line in QUICK_START:
        assert line in lines
    assert 'pip install -e ".[docs]" && mkdocs serve' in data.decode("utf-8")


def test_readme_format_table_names_every_format() -> None:
    from cytoconv.formats import FORMATS

    rows = [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    assert sorted(row.split("`")[1] for row in rows) == sorted(FORMATS)


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    site = tmp_path / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(ROOT / "mkdocs.yml"),
            "-d",
            str(site),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rules = (site / "reference" / "rules" / "index.html").read_text(encoding="utf-8")
    assert all(code in rules for code in RULES)
    assert "<!-- rules-table -->" not in rules


def test_options_in_the_docs_exist() -> None:
    """Every ``--option`` the user-facing pages name is an option of some cytoconv command."""
    import typer

    from cytoconv.cli.app import app

    root = typer.main.get_command(app)
    # typer's own click (vendored by recent typer, which no longer depends on click)
    ctx = root.make_context("cytoconv", ["formats"], resilient_parsing=True)
    known = {"--help", "--version"}
    for name in root.list_commands(ctx):  # every command, those added later included
        command = root.get_command(ctx, name)
        assert command is not None, name
        known |= {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    pages = [DOCS / "index.md", DOCS / "getting-started.md", DOCS / "coordinates.md"]
    pages += sorted((DOCS / "formats").glob("*.md")) + sorted((DOCS / "commands").glob("*.md"))
    for page in pages:
        for option in set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", page.read_text(encoding="utf-8"))):
            assert option in known, f"{page.relative_to(ROOT)}: {option} is no option of cytoconv"
