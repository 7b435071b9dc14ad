"""The one problem vocabulary: every code the source uses is listed, once, with one slug; and on malformed YOLO
files nobody wrote by hand, ``convert`` stops where ``validate`` reports its first error, with the same code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cytoconv
from cytoconv.engine.contract import ReadOptions
from cytoconv.errors import FormatError
from cytoconv.problems import BY_NAME, NOTICES, PROBLEMS, RULES
from cytoconv.validate import Settings, validate

PACKAGE = Path(cytoconv.__file__).parent


def _calls(name: str) -> list[tuple[str, ast.Call]]:
    """Every call of ``name`` (a function or a method) in the package, with its file."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called == name:
                    found.append((str(path.relative_to(PACKAGE)), node))
    return found


def test_codes_and_slugs_are_unique_and_well_formed() -> None:
    assert len(BY_NAME) == len(PROBLEMS)
    for code, problem in PROBLEMS.items():
        assert re.fullmatch(r"CC\d{3}", code) and problem.code == code
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", problem.name)
    assert set(RULES) == {c for c, p in PROBLEMS.items() if p.stage == "check"}
    assert not set(NOTICES) & {"error", "warning"}


def test_every_format_error_names_a_slug_of_the_vocabulary() -> None:
    unknown = []
    for where, call in _calls("FormatError"):
        keywords = {k.arg: k.value for k in call.keywords}
        code = keywords.get("code")
        if isinstance(code, ast.Constant):
            if code.value not in BY_NAME:
                unknown.append(f"{where}:{call.lineno}: {code.value}")
        elif code is None and where != "errors.py":
            unknown.append(f"{where}:{call.lineno}: no code")
    assert unknown == []


def test_every_notice_is_listed() -> None:
    unknown = [
        f"{where}:{call.lineno}: {call.args[0].value}"
        for where, call in _calls("notice")
        if call.args and isinstance(call.args[0], ast.Constant) and call.args[0].value not in NOTICES
    ]
    assert unknown == []


def test_every_code_a_sink_or_finding_gets_is_listed() -> None:
    unknown = []
    for name in ("sink", "finding", "on", "wants"):
        for where, call in _calls(name):
            first = call.args[0] if call.args else None
            if (
                isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and first.value.startswith("CC")
                and first.value not in PROBLEMS
            ):
                unknown.append(f"{where}:{call.lineno}: {first.value}")
    assert unknown == []


# ---------------------------------------------------------------------------------------------
# One parser, one verdict: YOLO files made up by hypothesis

GOOD = [
    "0 0.5 0.5 0.2 0.2",
    "1 0.25 0.25 0.1 0.3",
    "0 0.1 0.1 0.4 0.1 0.25 0.4",
    "1 0.6 0.6 0.9 0.6 0.75 0.9",
]
BAD = [
    "0 abc 0.5 0.2 0.2",  # not a number
    "0",  # a class id alone
    "0 0.5 nan 0.2 0.2",  # not finite
    "0 0.5 0.5 0.2",  # odd coordinates
    "0 0.1 0.2",  # too few points
    "1.5 0.5 0.5 0.2 0.2",  # class id not an integer
    "-1 0.5 0.5 0.2 0.2",  # negative class id
    "7 0.5 0.5 0.2 0.2",  # outside the class list
    "0 1.7 0.5 0.2 0.2",  # far out of range
    "0 0.5 0.5 0 0.2",  # zero-size box
    "0 0.5 0.5 -0.2 0.2",  # negative box
    "0 0.5 0.5 0.2 0.2 0.3",  # even token count
    "1 0.1 0.1 0.4 0.1 0.25 1e3",  # polygon out of range
]


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(st.sampled_from(GOOD + BAD), min_size=1, max_size=8, unique=True),
    crlf=st.booleans(),
    tabs=st.booleans(),
)
def test_convert_stops_where_validate_reports_the_first_error(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], crlf: bool, tabs: bool
) -> None:
    root = tmp_path_factory.mktemp("ds")
    (root / "labels").mkdir()
    (root / "data.yaml").write_text("names: [a, b]\n")
    text = "\n".join(line.replace(" ", "\t") if tabs else line for line in lines) + "\n"
    label = root / "labels" / "x.txt"
    label.write_bytes(text.replace("\n", "\r\n").encode() if crlf else text.encode())
    report = validate([root / "labels" / "x.txt"], Settings(), jobs=1)
    errors = sorted((f.line or 0, f.code) for f in report.findings if f.severity == "error")
    try:
        cytoconv.convert(
            root, tmp_path_factory.mktemp("out") / "c.json", to="coco", read_options=_sized(), jobs=1
        )
        stopped = None
    except FormatError as error:
        assert error.path is not None and Path(error.path).resolve() == label.resolve()
        stopped = (error.line, BY_NAME[error.code].code)
    if not any(line in BAD for line in lines):
        assert errors == [] and stopped is None
    else:
        assert stopped == errors[0]


def _sized() -> ReadOptions:
    """Read without images: every image 100x100."""
    return ReadOptions(image_size=(100, 100))
