"""``cytoconv validate``: the corpus of bad files, rule semantics, settings, output forms, exit codes, fixes."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from cytoconv.errors import FormatError, Report, UsageError
from cytoconv.formats.yolo.check import check_bytes
from cytoconv.problems import BY_NAME
from cytoconv.problems.findings import Fix
from cytoconv.validate import RULES, Finding, Settings, load_settings, render, validate
from cytoconv.validate.fix import apply
from tests.conftest import run_cli as run
from tests.conftest import write, yolo_dataset

CORPUS = Path(__file__).parent / "data" / "validate"
EXPECTED = CORPUS / "expected.tsv"

# How each part of the corpus is validated: paths (below CORPUS), --from, and settings.
UNITS: list[tuple[list[str], str | None, Settings]] = [
    (sorted(f"yolo/labels/{p.name}" for p in (CORPUS / "yolo" / "labels").iterdir()), None, Settings()),
    (["badlist/labels/a.txt", "nolist/labels/a.txt"], None, Settings()),
    (sorted(f"coco/{p.name}" for p in (CORPUS / "coco").glob("*.json")), None, Settings()),
    (["yolo_pairs"], None, Settings()),
    (["voc"], None, Settings()),
    (["masks"], "masks", Settings()),
    (["folders"], "folders", Settings(names=("cells",), names_source="--names")),
    (["points_csv/cric.csv", "points_csv/no_columns.csv"], "points-csv", Settings()),
]


def where(f: Finding) -> str:
    parts = [
        f"{k} {v}"
        for k, v in (
            ("line", f.line),
            ("object", f.object_index),
            ("image", f.image_id),
            ("annotation", f.annotation_id),
            ("value", f.pixel_value),
        )
        if v is not None
    ]
    return " ".join(parts) or "-"


def found(findings: list[Finding], root: Path = CORPUS) -> Counter[tuple[str, str, str]]:
    return Counter((Path(os.path.relpath(f.path, root)).as_posix(), f.code, where(f)) for f in findings)


def expected_rows() -> Counter[tuple[str, str, str]]:
    rows = [
        line.split("\t")
        for line in EXPECTED.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    return Counter((path, code, loc) for path, code, loc in rows)


def run_corpus() -> list[Finding]:
    findings: list[Finding] = []
    for paths, fmt, settings in UNITS:
        findings += validate([CORPUS / p for p in paths], settings, fmt=fmt, jobs=1).findings
    return findings


# ---------------------------------------------------------------------------------------------
# The corpus


def test_corpus_gives_exactly_the_expected_findings() -> None:
    got, want = found(run_corpus()), expected_rows()
    assert got - want == Counter(), "found but not expected"
    assert want - got == Counter(), "expected but not found"


def test_every_rule_has_a_case_in_the_corpus() -> None:
    assert {code for _, code, _ in expected_rows()} == set(RULES)


def test_corpus_severities_are_the_rule_defaults() -> None:
    for f in run_corpus():
        assert f.severity == RULES[f.code].severity


def test_clean_files_and_non_label_files() -> None:
    report = validate(
        [
            CORPUS / "yolo/labels/clean.txt",
            CORPUS / "coco/not_coco.json",
            CORPUS / "yolo/data.yaml",
            CORPUS / "voc/classes.txt",
        ],
        jobs=1,
    )
    assert report.findings == [] and report.checked == 1
    assert [Path(p).name for p in report.skipped] == ["not_coco.json", "data.yaml", "classes.txt"]
    assert report.exit_code == 0


def test_forced_format_makes_a_wrong_file_a_finding() -> None:
    report = validate([CORPUS / "coco/not_coco.json"], fmt="coco", jobs=1)
    assert [(f.code, f.severity) for f in report.findings] == [("CC003", "error")]


def test_parallel_and_serial_runs_agree(tmp_path: Path) -> None:
    labels = {
        f"im{k:03d}": ("0 0.5 0.5 0.2 0.2\n" * (1 + k % 2)) + ("9 0.1 0.1 0.1 0.1\n" if k % 7 == 0 else "")
        for k in range(260)
    }
    root = yolo_dataset(tmp_path / "ds", labels, names=["a", "b"])
    serial = validate([root], Settings(), jobs=1)
    parallel = validate([root], Settings(), jobs=2)
    assert serial.checked == parallel.checked == 260
    assert render.ordered(serial.findings) == render.ordered(parallel.findings)
    assert Counter(f.code for f in serial.findings) == Counter({"CC401": 130, "CC202": 38})


# ---------------------------------------------------------------------------------------------
# YOLO lines: the same semantics as the reader


LINES = {
    "0 0.5 0.5 0.2 0.2": None,
    "0 0.1 0.1 0.9 0.1 0.5 0.9": None,
    "0 abc 0.5 0.2 0.2": "CC101",
    "0": "CC101",
    "0 0.5 nan 0.2 0.2": "CC102",
    "0 -inf 0.5 0.2 0.2": "CC102",
    "0 0.5 0.5 0.2": "CC103",
    "0 0.5 0.5 0.2 0.2 0.3": "CC103",
    "0 0.5 0.5": "CC104",
    "0.5 0.5 0.5 0.2 0.2": "CC201",
    "-2 0.5 0.5 0.2 0.2": "CC201",
    "0 2e-1 0.5 0.2 0.2": None,
    "0\t.5 0.5 0.2 0.2": None,
}


@pytest.mark.parametrize("line", list(LINES))
def test_line_verdicts_agree_with_the_yolo_reader(line: str) -> None:
    from cytoconv.formats.yolo.reader import parse_line

    codes = [f.code for f in check_bytes((line + "\n").encode(), "x.txt", None, Settings())]
    assert codes == ([LINES[line]] if LINES[line] else [])
    try:
        parse_line(line, 1, "x.txt")
        reader = None
    except FormatError as error:
        assert error.line == 1
        reader = error.code
    if reader is None:
        assert codes == []
    else:  # one vocabulary: the reader's slug is the validator's code
        assert codes[0] == BY_NAME[reader].code


def test_range_and_box_checks_agree_with_the_yolo_reader() -> None:
    from cytoconv.formats.yolo.reader import parse_text

    text = "0 1.5 0.5 0.1 0.1\n0 0.5 0.5 0 0.1\n3 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1 0.1\n"
    report = Report(strict=False)
    lines = parse_text(text, "x.txt", report, class_count=3)
    assert [line.number for line in lines] == [4]
    assert dict(report.skipped) == {"out-of-range": 1, "zero-area-box": 1, "unknown-class": 1}
    from cytoconv.engine.classlists import ClassList

    codes = [
        (f.line, f.code)
        for f in check_bytes(text.encode(), "x.txt", ClassList(("a", "b", "c"), "t"), Settings())
    ]
    assert codes == [(1, "CC301"), (2, "CC303"), (3, "CC202")]


def test_fast_and_line_by_line_paths_find_the_same() -> None:
    regular = b"0 0.5 0.5 0.2 0.2\n0 1.5 0.5 0.1 0.1\n0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.9 0.9 0.9 0.1 0.1 0.9\n"
    irregular = regular.replace(b" ", b"  ")  # double spaces send the file line by line
    a = [(f.line, f.code) for f in check_bytes(regular, "x.txt", None, Settings())]
    b = [(f.line, f.code) for f in check_bytes(irregular, "x.txt", None, Settings())]
    assert a == b == [(2, "CC301"), (3, "CC401"), (4, "CC106")]


def test_class_list_is_the_nearest_one_upward(tmp_path: Path) -> None:
    write(tmp_path / "data.yaml", "names: {0: a, 1: b}\n")
    write(tmp_path / "labels" / "classes.txt", "a\nb\nc\nd\n")
    write(tmp_path / "labels" / "x.txt", "3 0.5 0.5 0.1 0.1\n")
    write(tmp_path / "other" / "y.txt", "3 0.5 0.5 0.1 0.1\n")
    report = validate([tmp_path / "labels" / "x.txt", tmp_path / "other" / "y.txt"], jobs=1)
    assert [(Path(f.path).name, f.code) for f in report.findings] == [("y.txt", "CC202")]
    assert "data.yaml" in report.findings[0].message


def test_names_setting_overrides_the_files(tmp_path: Path) -> None:
    write(tmp_path / "data.yaml", "names: [a, b, c, d]\n")
    path = write(tmp_path / "labels" / "x.txt", "3 0.5 0.5 0.1 0.1\n")
    report = validate([path], Settings(names=("a",), names_source="--names"), jobs=1)
    assert [(f.code, f.message) for f in report.findings] == [
        ("CC202", "class id 3 is outside the 1 classes of --names (0..0)")
    ]


# ---------------------------------------------------------------------------------------------
# Settings


def test_pyproject_settings_found_upward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "lab"\n\n[tool.cytoconv.validate]\nignore = ["CC4"]\n'
        'severity = {CC303 = "warning", CC1 = "info"}\ntolerance = 0.1\npixel-tolerance = 2\n'
        'names = ["a", "b"]\n',
    )
    (tmp_path / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "deep" / "er")
    settings = load_settings()
    assert settings.source == str(tmp_path / "pyproject.toml")
    assert not settings.on("CC401") and not settings.on("CC403") and settings.on("CC301")
    assert settings.severities["CC303"] == "warning" and settings.severities["CC106"] == "info"
    assert settings.tolerance == 0.1 and settings.pixel_tolerance == 2.0 and settings.names == ("a", "b")
    path = write(tmp_path / "x.txt", "0 0.5 0.5 0 0.1\n0 0.5 0.5 0 0.1\n0 1.05 0.5 0.1 0.1\n")
    report = validate([path], settings, jobs=1)
    assert [(f.line, f.code, f.severity) for f in report.findings] == [
        (1, "CC303", "warning"),
        (2, "CC303", "warning"),
        (3, "CC302", "warning"),
    ]
    assert report.exit_code == 0


def test_command_line_overrides_and_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "pyproject.toml", '[tool.cytoconv.validate]\nselect = ["CC3"]\nignore = ["CC305"]\n')
    monkeypatch.chdir(tmp_path)
    settings = load_settings(select="CC1,CC401", ignore="CC106")
    assert sorted(settings.enabled) == ["CC101", "CC102", "CC103", "CC104", "CC105", "CC401"]
    other = write(tmp_path / "lint.toml", 'select = ["CC401"]\nnames = "classes.txt"\n')
    write(tmp_path / "classes.txt", "red\nwhite\n")
    settings = load_settings(other)
    assert settings.enabled == frozenset({"CC401"}) and settings.names == ("red", "white")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[tool.cytoconv.validate]\nselct = ["CC1"]\n', "unknown key"),
        ('[tool.cytoconv.validate]\nselect = ["CC9"]\n', "names no rule"),
        ('[tool.cytoconv.validate]\nseverity = {CC101 = "fatal"}\n', "must be error, warning or info"),
        ("[tool.cytoconv.validate]\ntolerance = -1\n", "non-negative number"),
        ("[tool.cytoconv.validate\n", "not valid TOML"),
    ],
)
def test_bad_settings_are_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, message: str
) -> None:
    write(tmp_path / "pyproject.toml", toml)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=message):
        load_settings()


# ---------------------------------------------------------------------------------------------
# Output and exit codes


def _duplicate(line: int) -> Finding:
    return Settings().finding(
        "CC401", "labels/a.txt", "duplicate of line 1", line=line, fix=Fix("drop-line", line=line)
    )


def test_text_json_and_github_forms() -> None:
    from cytoconv.problems.findings import ValidationReport

    report = ValidationReport(
        findings=[_duplicate(2), Settings().finding("CC604", "a.json", "id 0, say", annotation_id=0)],
        checked=3,
    )
    assert render.text(report) == (
        "a.json: CC604 [warning] annotation 0: id 0, say\n"
        "labels/a.txt:2: CC401 [error] duplicate of line 1 [*]\n"
    )
    assert (
        render.summary(report)
        == "1 error, 1 warning, 0 info in 2 paths (3 files checked; 1 fixable with --fix)"
    )
    assert render.summary(ValidationReport(checked=1, skipped=["x.json"])) == (
        "no findings (1 file checked; 1 skipped: not label files)"
    )
    assert render.github(report) == (
        "::warning file=a.json,title=CC604 annotation-id-zero::CC604 annotation 0: id 0, say\n"
        "::error file=labels/a.txt,line=2,title=CC401 duplicate-object::CC401 duplicate of line 1\n"
    )
    doc = json.loads(render.as_json(report))
    assert set(doc) == {"schema", "summary", "findings", "fixed", "skipped"}
    assert doc["schema"] == "cytoconv-validate/1"
    assert doc["summary"] == {
        "files_checked": 3,
        "files_skipped": 0,
        "errors": 1,
        "warnings": 1,
        "info": 0,
        "fixable": 1,
        "fixed": 0,
        "exit_code": 1,
    }
    assert doc["findings"][1] == {
        "path": "labels/a.txt",
        "line": 2,
        "code": "CC401",
        "rule": "duplicate-object",
        "severity": "error",
        "message": "duplicate of line 1",
        "image_id": None,
        "annotation_id": None,
        "object": None,
        "pixel_value": None,
        "fixable": True,
    }


def test_github_escapes_properties_and_data() -> None:
    from cytoconv.problems.findings import ValidationReport

    finding = Settings().finding("CC002", "a,b:c.json", "100% broken\nreally", line=3)
    assert render.github(ValidationReport(findings=[finding])) == (
        "::error file=a%2Cb%3Ac.json,line=3,title=CC002 not-well-formed::CC002 100%25 broken%0Areally\n"
    )


def test_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "data.yaml", "names: [a]\n")
    good = write(tmp_path / "labels" / "good.txt", "0 0.5 0.5 0.2 0.2\n")
    warn = write(tmp_path / "labels" / "warn.txt", "")
    bad = write(tmp_path / "labels" / "bad.txt", "0 0.5 0.5 0.2\n")
    assert run(["validate", str(good), str(warn)], capsys)[0] == 0
    code, out, err = run(["validate", str(good), str(bad)], capsys)
    assert code == 1
    assert out == f"{bad}:1: CC103 [error] odd number of coordinates (3): x and y must come in pairs\n"
    assert err == "1 error, 0 warnings, 0 info in 1 path (2 files checked)\n"
    assert run(["validate", str(bad), "--ignore", "CC103"], capsys)[0] == 0
    assert run(["validate", str(tmp_path / "missing.txt")], capsys)[0] == 2
    assert run(["validate", str(good), "--format", "xml"], capsys)[0] == 2
    assert run(["validate", str(good), "--select", "CC999"], capsys)[0] == 2
    assert run(["validate", str(good), "--no-such-option"], capsys)[0] == 2
    assert run(["validate"], capsys)[0] == 2


def test_json_output_on_stdout_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path / "labels" / "bad.txt", "0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n")
    code, out, err = run(["validate", str(bad), "--format", "json", "--names", "a"], capsys)
    doc = json.loads(out)
    assert code == 1 and err == ""
    assert [(f["code"], f["line"], f["fixable"]) for f in doc["findings"]] == [("CC401", 2, True)]


def test_rules_listing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["validate", "--rules"], capsys)
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == list(RULES)
    assert "CC401  error    duplicate-object" in out


def test_main_cli_lists_validate(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "validate" in out


# ---------------------------------------------------------------------------------------------
# --fix and --diff


def test_fix_then_validate_leaves_nothing_fixable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "yolo"
    shutil.copytree(CORPUS / "yolo", work)
    before = {p.name: p.read_bytes() for p in (work / "labels").iterdir()}
    code, out, _ = run(["validate", "--fix", *map(str, sorted((work / "labels").iterdir()))], capsys)
    assert code == 1  # the unfixable errors remain
    fixed = [line for line in out.splitlines() if "[fixed]" in line]
    assert sorted(line.split(": ", 1)[1].split(" [")[0] for line in fixed) == sorted(
        ["CC302", "CC401", "CC401", "CC005", "CC006"]
    )  # the box line's CC302 (line 2) is not clipped
    after = validate(sorted((work / "labels").iterdir()), jobs=1)
    assert after.fixable == 0
    changed = {name for name, data in before.items() if (work / "labels" / name).read_bytes() != data}
    assert changed == {"ranges.txt", "crlf.txt", "bom.txt"}
    old = before["ranges.txt"].decode().split("\n")
    new = (work / "labels" / "ranges.txt").read_text().split("\n")
    assert new == [*old[:7], "2 0 0.5 0.5 0.5 0.5 0.9", old[8], ""]
    assert (work / "labels" / "crlf.txt").read_bytes() == b"0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n"
    assert (work / "labels" / "bom.txt").read_bytes() == b"0 0.5 0.5 0.2 0.2\n"
    assert not [p for p in (work / "labels").iterdir() if ".cytoconv-tmp-" in p.name]


def test_fix_touches_only_what_is_selected(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.txt",
        b"0 0.5 0.5 0.2 0.2\r\n0 0.5 0.5 0.2 0.2\r\n0 1.002 0.5 0.9 0.5 0.9 0.6\r\n0 1.002 0.5 0.1 0.1\r\n",
    )
    validate([path], Settings(enabled=frozenset(RULES) - {"CC401"}), mode="fix", jobs=1)
    assert path.read_bytes() == (
        b"0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n0 1 0.5 0.9 0.5 0.9 0.6\n0 1.002 0.5 0.1 0.1\n"
    )  # a box's centre is not moved
    path.write_bytes(b"0 0.5 0.5 0.2 0.2\r\n0 0.5 0.5 0.2 0.2\r\n")
    report = validate([path], Settings(enabled=frozenset({"CC005"})), mode="fix", jobs=1)
    assert path.read_bytes() == b"0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n"
    assert [f.code for f in report.fixed] == ["CC005"] and report.findings == []


def test_fix_repeats_until_clipping_made_a_duplicate_and_keeps_the_file_end(tmp_path: Path) -> None:
    write(tmp_path / "classes.txt", "a\nb\n")
    path = write(
        tmp_path / "a.txt", "0 1 0.5 0.9 0.5 0.9 0.6\n1 0.2 0.2 0.1 0.1\n0 1.003 0.5 0.9 0.5 0.9 0.6"
    )
    os.chmod(path, 0o640)
    report = validate([path], mode="fix", jobs=1)
    assert path.read_text() == "0 1 0.5 0.9 0.5 0.9 0.6\n1 0.2 0.2 0.1 0.1"  # still no final newline
    assert [(f.code, f.line) for f in report.fixed] == [("CC302", 3), ("CC401", 3)]
    assert report.findings == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_fix_never_clips_beyond_the_tolerance_nor_repairs_shapes(tmp_path: Path) -> None:
    text = "0 1.5 0.5 0.1 0.1\n0 0.1 0.1 0.9 0.9 0.9 0.1 0.1 0.9\n0 0.5 0.5 0 0.1\n"
    write(tmp_path / "classes.txt", "a\n")
    path = write(tmp_path / "a.txt", text)
    report = validate([path], mode="fix", jobs=1)
    assert path.read_text() == text and report.fixed == []
    assert [f.code for f in report.findings] == ["CC301", "CC106", "CC303"]


def test_diff_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "classes.txt", "a\n")
    path = write(tmp_path / "a.txt", "0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n")
    code, out, err = run(["validate", "--diff", str(path)], capsys)
    assert code == 1
    assert out.splitlines() == [
        f"--- a/{path}",
        f"+++ b/{path}",
        "@@ -1,2 +1 @@",
        " 0 0.5 0.5 0.2 0.2",
        "-0 0.5 0.5 0.2 0.2",
    ]
    assert "would fix 1 in 1 file" in err
    assert path.read_text() == "0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n"
    assert run(["validate", "--diff", "--fix", str(path)], capsys)[0] == 2


def test_json_and_xml_get_only_byte_level_fixes(tmp_path: Path) -> None:
    coco = tmp_path / "a.json"
    shutil.copy(CORPUS / "coco" / "bom_crlf.json", coco)
    original = coco.read_bytes()
    validate([coco], mode="fix", jobs=1)
    assert coco.read_bytes() == original[3:].replace(b"\r\n", b"\n")
    assert validate([coco], jobs=1).findings == []


def test_apply_keeps_untouched_bytes() -> None:
    data = b"0  0.5\t0.5 1.001 0.2\r\nkeep me\r\n"
    assert (
        apply(data, [Fix("replace-tokens", line=1, tokens=((3, "1"),))])
        == b"0  0.5\t0.5 1 0.2\r\nkeep me\r\n"
    )
    assert apply(data, [Fix("drop-line", line=2)]) == b"0  0.5\t0.5 1.001 0.2\r\n"
    assert apply(b"\xef\xbb\xbfa\r\nb", [Fix("bom"), Fix("line-endings")]) == b"a\nb"


# ---------------------------------------------------------------------------------------------
# Start-up: what a pre-commit run imports, and how long it takes

HEAVY = (
    "shapely",
    "pycocotools",
    "rich",
    "cv2",
    "PIL",
    "cytoconv.ir",
    "cytoconv.cli.app",
    "cytoconv.api",
    "cytoconv.engine.contract",
    "cytoconv.formats.yolo.reader",
    "cytoconv.formats.coco.reader",
    "cytoconv.formats.voc.reader",
)


def _modules_after(code: str, cwd: Path) -> set[str]:
    script = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd)
    return set(done.stdout.split())


def test_validating_box_labels_imports_nothing_heavy(tmp_path: Path) -> None:
    for k in range(3):
        write(tmp_path / "labels" / f"{k}.txt", "0 0.5 0.5 0.2 0.2\n")
    write(tmp_path / "data.yaml", "names: [a]\n")
    files = [f"labels/{k}.txt" for k in range(3)]
    library = _modules_after(f"from cytoconv.validate import validate\nvalidate({files!r})", tmp_path)
    assert "cytoconv.formats.yolo.check" in library
    assert not {m for m in library for h in (*HEAVY, "pydantic") if m == h or m.startswith(h + ".")}
    command = _modules_after(
        f"from cytoconv.cli.entry import main\ntry:\n    main(['validate', *{files!r}])\nexcept SystemExit:\n    pass",
        tmp_path,
    )
    assert "cytoconv.cli.validate" in command
    assert not {m for m in command for h in HEAVY if m == h or m.startswith(h + ".")}


def test_three_files_start_and_end_within_half_a_second(tmp_path: Path) -> None:
    for k in range(3):
        write(tmp_path / "labels" / f"{k}.txt", "0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.4 0.1 0.4 0.4 0.1 0.4\n")
    write(tmp_path / "data.yaml", "names: [a, b]\n")
    command = [
        sys.executable,
        "-c",
        "from cytoconv.cli.entry import main; main()",
        "validate",
        *(f"labels/{k}.txt" for k in range(3)),
    ]
    times = []
    for _ in range(3):  # the best of three: the machine is shared
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
        times.append(time.perf_counter() - start)
        assert done.returncode == 0, done.stderr
    assert min(times) < 0.5, times
