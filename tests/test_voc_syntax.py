"""One parser, one verdict: on malformed VOC files, ``convert`` stops where ``validate`` finds its first error.

Each case is a small dataset (a good file, then a bad one, both with images) that is not in the validate corpus.
Strict ``cytoconv.convert`` must stop at the same file and line (or object number) as the first error-severity
finding of ``cytoconv.validate.validate``, and its ``FormatError.code`` must be the slug of that finding's code.
A lenient read must leave out exactly the bad objects, each counted once by slug.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import cytoconv
from cytoconv.errors import FormatError, Report
from cytoconv.formats.voc.syntax import VocDocument, scan
from cytoconv.problems import BY_NAME, PROBLEMS
from cytoconv.validate import Finding, validate
from tests.conftest import make_image, write

GOOD = "<object><name>RBC</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>10</ymax></bndbox></object>"


def obj(name: str | None = "RBC", box: tuple[object, ...] | None = (1, 1, 10, 10), extra: str = "") -> str:
    """One ``<object>`` on one line; ``box`` None leaves ``<bndbox>`` out."""
    parts = [f"<name>{name}</name>" if name is not None else "", extra]
    if box is not None:
        parts.append(
            "<bndbox>"
            + "".join(f"<{k}>{v}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box))
            + "</bndbox>"
        )
    return "<object>" + "".join(parts) + "</object>"


def annotation(
    *objects: str,
    size: str | None = "<size><width>100</width><height>80</height><depth>3</depth></size>",
    root: str = "annotation",
    head: str = "",
) -> str:
    """A VOC file, one element a line: line 1 ``<annotation>``, 2 filename, 3 size, objects from line 4."""
    lines = [
        f"{head}<{root}>",
        "<filename>b.png</filename>",
        size or "<folder>x</folder>",
        *objects,
        f"</{root}>",
    ]
    return "\n".join(lines) + "\n"


# name -> (text of Annotations/b.xml, slug, line of the stop (None: none), object number (None: file-level))
CASES: dict[str, tuple[str, str, int | None, int | None]] = {
    "missing-bndbox": (annotation(GOOD, obj(box=None)), "bad-voc-object", 5, 2),
    "no-name": (annotation(obj(name=None)), "bad-voc-object", 4, 1),
    "non-numeric-xmin": (
        annotation(GOOD, GOOD.replace("<xmin>1</xmin>", "<xmin>1O</xmin>")),
        "bad-voc-object",
        5,
        2,
    ),
    "nan-corner": (annotation(obj(box=(1, 1, "nan", 10))), "bad-voc-object", 4, 1),
    "inverted": (
        annotation(GOOD, obj(box=(1, 1, 10, 10)).replace("<xmax>10", "<xmax>0")),
        "negative-box",
        5,
        2,
    ),
    # xmin == xmax is a 1-px box (inclusive corners): no error, so the stop is at the inverted box after it
    "one-pixel-then-inverted": (
        annotation(obj(box=(5, 5, 5, 9)), obj(box=(9, 5, 4, 9))),
        "negative-box",
        5,
        2,
    ),
    "duplicate": (annotation(GOOD, obj(box=(2, 2, 9, 9)), GOOD), "duplicate-object", 6, 3),
    "broken-mid-file": (
        annotation(GOOD, "<object><name>RBC</nam></object>", GOOD),
        "not-well-formed",
        5,
        None,
    ),
    "undefined-entity": (annotation(GOOD, obj(name="&rbc;")), "not-well-formed", 5, None),
    "dtd": (
        annotation(GOOD, head='<?xml version="1.0"?>\n<!DOCTYPE annotation [<!ENTITY x "y">]>\n'),
        "not-well-formed",
        None,
        None,
    ),
    "wrong-root": (annotation(GOOD, root="annotations"), "bad-structure", None, None),
    "size-mismatch": (
        annotation(GOOD, size="<size><width>120</width><height>80</height></size>"),
        "size-mismatch",
        None,
        None,
    ),
    "unknown-class": (annotation(GOOD, obj(name="Platelet")), "unknown-class", 5, 2),
    "no-box-before-class": (annotation(obj(name="Platelet", box=None)), "bad-voc-object", 4, 1),
    "class-before-box": (annotation(obj(name="Platelet", box=(3, 3, 3, 3))), "unknown-class", 4, 1),
    "crlf-and-comment": (
        annotation(GOOD, "<!-- <object> in a comment -->", obj(box=(8, 4, 4, 8))).replace("\n", "\r\n"),
        "negative-box",
        6,
        2,
    ),
    "one-line": (annotation(GOOD, obj(box=(9, 9, 2, 2))).replace("\n", ""), "negative-box", 1, 2),
}


def dataset(root: Path, text: str, image: bool = True) -> Path:
    """``Annotations/a.xml`` (good) and ``Annotations/b.xml`` (``text``), their images, and a class list."""
    write(root / "Annotations" / "a.xml", annotation(GOOD).replace("b.png", "a.png"))
    write(root / "Annotations" / "b.xml", text)
    write(root / "classes.txt", "RBC\nWBC\n")
    make_image(root / "JPEGImages" / "a.png", 100, 80)
    if image:
        make_image(root / "JPEGImages" / "b.png", 100, 80)
    return root.resolve()


def convert_stop(root: Path, tmp: Path) -> FormatError:
    with pytest.raises(FormatError) as info:
        cytoconv.convert(root, tmp / "out.json", to="coco", jobs=1)
    return info.value


def first_error(root: Path) -> Finding:
    errors = [f for f in validate([root], jobs=1).findings if f.severity == "error"]
    assert errors, "validate found no error"
    return errors[0]


def assert_same_place(error: FormatError, finding: Finding) -> None:
    assert (error.path, error.line) == (str(Path(finding.path).resolve()), finding.line)
    assert BY_NAME[error.code].code == finding.code and PROBLEMS[finding.code].name == error.code
    if finding.object_index is not None:
        assert error.message.startswith(f"object {finding.object_index}: ")
    else:
        assert not error.message.startswith("object ")


@pytest.mark.parametrize("case", list(CASES))
def test_convert_stops_where_validate_finds_its_first_error(tmp_path: Path, case: str) -> None:
    text, slug, line, index = CASES[case]
    root = dataset(tmp_path / "ds", text)
    error, finding = convert_stop(root, tmp_path), first_error(root)
    assert_same_place(error, finding)
    assert error.path == str(root / "Annotations" / "b.xml") and error.code == slug
    assert (finding.line, finding.object_index) == (line, index)  # the place is right, not only the same
    assert not (tmp_path / "out.json").exists()


def test_a_box_outside_its_image_stops_neither(tmp_path: Path) -> None:
    """Outside the image is kept by both: a notice for convert (any overlap), a warning for validate (1 px)."""
    root = dataset(tmp_path / "ds", annotation(GOOD, obj(box=(90, 70, 103, 85))))
    report = Report()
    cytoconv.convert(root, tmp_path / "out.json", to="coco", report=report, jobs=1)
    assert report.notices["box-outside-image"] == 1
    findings = validate([root], jobs=1).findings
    assert [(f.code, f.severity, f.line, f.object_index) for f in findings] == [("CC305", "warning", 5, 2)]


def test_no_size_and_no_image_is_no_image_size_in_both(tmp_path: Path) -> None:
    """Both name the file with no-image-size (CC704), an error: without a size nothing can be converted."""
    root = dataset(tmp_path / "ds", annotation(GOOD, size=None), image=False)
    error = convert_stop(root, tmp_path)
    assert (error.path, error.line, error.code) == (
        str(root / "Annotations" / "b.xml"),
        None,
        "no-image-size",
    )
    found = [f for f in validate([root], jobs=1).findings if f.path.endswith("b.xml")]
    assert sorted(f.code for f in found) == ["CC402", "CC701", "CC704"]
    assert {f.code: f.line for f in found}["CC704"] is None


def test_no_size_and_no_image_is_an_error_in_validate(tmp_path: Path) -> None:
    root = dataset(tmp_path / "ds", annotation(GOOD, size=None), image=False)
    assert_same_place(convert_stop(root, tmp_path), first_error(root))


def test_no_size_with_the_image_stops_neither(tmp_path: Path) -> None:
    root = dataset(tmp_path / "ds", annotation(GOOD, size=None))
    cytoconv.convert(root, tmp_path / "out.json", to="coco", jobs=1)
    assert [(f.code, f.severity) for f in validate([root], jobs=1).findings] == [("CC701", "warning")]


# --- lenient: exactly the bad objects left out, each counted once -----------------------------------------

BAD_OBJECTS = [
    GOOD,  # 1 kept
    obj(box=(5, 5, 5, 9)),  # 2 kept: 1 px wide (a one-pixel-box warning in validate)
    obj(name="WBC", box=(2, 2, 20, 20)),  # 3 kept
    obj(box=(9, 1, 2, 10)),  # 4 negative-box
    obj(name="Platelet", box=(3, 3, 3, 3)),  # 5 unknown-class (and 1x1 px)
    GOOD,  # 6 duplicate-object (of 1)
    obj(box=None),  # 7 bad-voc-object
    obj(box=(1, 1, 10, "x")),  # 8 bad-voc-object
    obj(name="WBC", box=(50, 50, 60, 60), extra="<difficult>1</difficult><pose>Left</pose>"),  # 9 kept
]
SKIPPED = {
    "negative-box": 1,
    "unknown-class": 1,
    "duplicate-object": 1,
    "bad-voc-object": 2,
}


@pytest.mark.parametrize("one_line", [False, True], ids=["a-line-each", "all-on-one-line"])
def test_lenient_read_leaves_out_exactly_the_bad_objects(tmp_path: Path, one_line: bool) -> None:
    text = annotation(*BAD_OBJECTS)
    root = dataset(tmp_path / "ds", text.replace("\n", "") if one_line else text)
    report = Report(strict=False)
    ds = cytoconv.read(root, report=report)
    record = next(r for r in ds.images if r.file_name == "b.png")
    names = {c.id: c.name for c in ds.categories}
    kept = [(names[i.category_id], i.geometry.x, i.geometry.y, i.attributes) for i in record.instances]
    assert kept == [
        ("RBC", 0, 0, {}),
        ("RBC", 4, 4, {}),
        ("WBC", 1, 1, {}),
        ("WBC", 49, 49, {"difficult": 1, "pose": "Left"}),
    ]
    assert (record.instances[1].geometry.w, record.instances[1].geometry.h) == (1, 5)
    assert dict(report.skipped) == SKIPPED
    # the validator's errors name the same objects; the 1-px boxes are warnings
    findings = validate([root], jobs=1).findings
    assert {f.object_index for f in findings if f.severity == "error"} == {4, 5, 6, 7, 8}
    assert [(f.code, f.object_index) for f in findings if f.severity == "warning"] == [
        ("CC703", 2),
        ("CC703", 5),
    ]


def test_lenient_skips_a_broken_file_whole_and_counts_it(tmp_path: Path) -> None:
    root = dataset(tmp_path / "ds", CASES["broken-mid-file"][0])
    report = Report(strict=False)
    ds = cytoconv.read(root, report=report)
    assert [r.file_name for r in ds.images] == ["a.png"] and dict(report.skipped) == {"not-well-formed": 1}


# --- the parser: the fast path (C parser, lines from the bytes) and the slow one agree ------------------------


class Collect:
    """A problem sink that keeps (code, line, object) of everything."""

    def __init__(self) -> None:
        self.got: list[tuple[str, int | None, int | None]] = []

    def wants(self, code: str) -> bool:
        return True

    def __call__(
        self,
        code: str,
        path: str,
        message: str,
        *,
        line: int | None = None,
        object_index: int | None = None,
        **where: object,
    ) -> None:
        self.got.append((code, line, object_index))


def _scan(text: str | bytes) -> VocDocument:
    document = scan(text.encode() if isinstance(text, str) else text, "x.xml", Collect())
    assert document is not None
    return document


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_fast_and_slow_parses_give_the_same_document_and_lines(newline: str) -> None:
    text = annotation(
        GOOD,
        obj(name="WBC", box=(2, 3, 4, 5), extra="<truncated>1</truncated><part><name>x</name></part>"),
        GOOD,
    ).replace("\n", newline)
    fast = _scan(text)  # no "<!": the C parser, object lines counted in the bytes
    slow = _scan(text.replace("<annotation>", "<annotation><!-- slow -->", 1))  # a comment: defusedxml
    assert fast == slow
    assert [(o.index, o.line) for o in fast.objects] == [(1, 4), (2, 5), (3, 6)]
    second = fast.objects[1]
    assert (second.name, second.box, second.fields, second.nested) == (
        "WBC",
        (2, 3, 4, 5),
        {"truncated": "1"},
        ["part"],
    )
    assert (fast.filename, fast.size, fast.depth) == ("b.png", (100, 80), 3)


def test_odd_encodings_take_the_safe_parser_and_dtds_are_refused_in_any() -> None:
    text = annotation(GOOD, head='<?xml version="1.0" encoding="UTF-16"?>\n')
    assert _scan(text.encode("utf-16")).objects[0].line == 5
    evil = annotation(GOOD, head='<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE a [<!ENTITY x "y">]>\n')
    sink = Collect()
    assert scan(evil.encode("utf-16"), "x.xml", sink) is None and [c for c, _, _ in sink.got] == ["CC002"]


@pytest.mark.parametrize("module", ["voc", "cvat", "slidexml"])
def test_an_encoding_python_does_not_know_is_cc002_in_every_xml_format(module: str) -> None:
    """VOC, CVAT and the slide XMLs share one XML parser: an unknown encoding is a finding, not a crash (VOC's
    own copy of the parser raised it as an internal error)."""
    import importlib

    syntax = importlib.import_module(f"cytoconv.formats.{module}.syntax")
    said: list[tuple[str, str, str]] = []

    class Sink:
        def wants(self, code: str) -> bool:
            return True

        def __call__(self, code: str, path: str, message: str, **where: object) -> None:
            said.append((code, path, message))

    data = b'<?xml version="1.0" encoding="klingon"?>\n<annotation/>\n'
    assert syntax.parse_xml(data, "a.xml", Sink()) is None
    assert said == [("CC002", "a.xml", "not readable XML (unknown encoding: klingon)")]
