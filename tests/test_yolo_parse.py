"""YOLO lines: exact values, every quirk of real files, and errors that name file, line and code."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cytoconv.errors import FormatError, Report
from cytoconv.formats.yolo.reader import format_line, parse_line, parse_text, to_instance
from cytoconv.ir import Box, Polygon


def test_polygon_line_exact_values() -> None:
    line = parse_line("3 0.5 0.25 0.75 0.25 0.75 1")
    assert line is not None
    assert line.class_index == 3 and not line.is_box
    np.testing.assert_array_equal(line.values, [0.5, 0.25, 0.75, 0.25, 0.75, 1.0])


def test_box_line_becomes_corner_model_box() -> None:
    line = parse_line("0 0.5 0.5 0.2 0.4")
    assert line is not None and line.is_box
    inst = to_instance(line, 100, 50, 1)
    assert isinstance(inst.geometry, Box)
    assert (inst.geometry.x, inst.geometry.y, inst.geometry.w, inst.geometry.h) == (40.0, 15.0, 20.0, 20.0)


def test_polygon_denormalised_per_axis() -> None:
    line = parse_line("1 0 0 1 0 1 1")
    assert line is not None
    inst = to_instance(line, 853, 640, 2)
    assert isinstance(inst.geometry, Polygon) and inst.category_id == 2
    np.testing.assert_array_equal(inst.geometry.rings[0], [[0, 0], [853, 0], [853, 640]])


@pytest.mark.parametrize(
    "text",
    [
        "0 1.4130111222501992e-16 0.5 2.7328566760003855e-17 0.25 1.0 1.0",  # scientific notation, 17 digits
        "0\t1e-17  0.5 0 0.25 1 1",  # tabs and double spaces take the careful path
    ],
)
def test_scientific_notation_and_odd_spacing(text: str) -> None:
    lines = parse_text(text, "a.txt", Report())
    assert len(lines) == 1
    assert lines[0].values[2] == pytest.approx(0.0, abs=1e-15)
    assert lines[0].values[4] == 1.0


def test_no_final_newline_crlf_and_blank_lines() -> None:
    lines = parse_text("0 0.1 0.1 0.2 0.1 0.2 0.2\r\n\r\n1 0.5 0.5 0.1 0.1", "a.txt", Report())
    assert [(ln.number, ln.class_index) for ln in lines] == [(1, 0), (3, 1)]


@pytest.mark.parametrize(
    ("text", "line", "code"),
    [
        ("0 0.1 0.1 0.2 0.1 0.2 0.2\n0 0.1 x 0.2 0.1 0.2 0.2\n", 2, "malformed-line"),
        ("0 0.1 nan 0.2 0.1 0.2 0.2\n", 1, "non-finite"),
        ("0 0.1 inf 0.2 0.1 0.2 0.2\n", 1, "non-finite"),
        ("0 0.1 0.1 0.2 0.1 0.2\n", 1, "odd-coordinates"),
        ("\n\n0 0.1 0.2\n", 3, "too-few-points"),
        ("5\n", 1, "malformed-line"),
        ("-1 0.1 0.1 0.2 0.1 0.2 0.2\n", 1, "bad-class-id"),
        ("1.5 0.1 0.1 0.2 0.1 0.2 0.2\n", 1, "bad-class-id"),
    ],
)
def test_malformed_lines_name_line_and_code(text: str, line: int, code: str) -> None:
    with pytest.raises(FormatError) as info:
        parse_text(text, "lab.txt", Report(strict=True))
    assert (info.value.path, info.value.line, info.value.code) == ("lab.txt", line, code)
    assert str(info.value).startswith(f"lab.txt:{line}: ")


def test_lenient_skips_and_counts() -> None:
    report = Report(strict=False)
    lines = parse_text("0 0.1 0.1 0.2 0.1 0.2 0.2\n0 oops\n0 0.1 0.1 0.2 0.1 0.2\n", "a.txt", report)
    assert len(lines) == 1
    assert report.skipped == {"malformed-line": 1, "odd-coordinates": 1}


def test_format_line_round_trips_to_1e_7() -> None:
    values = np.array([0.123456789, 1.0, 2.73e-17, 0.5, 0.25, 0.75])
    text = format_line(2, values)
    back = parse_line(text)
    assert back is not None and back.class_index == 2
    np.testing.assert_allclose(back.values, values, atol=5e-8, rtol=0)
    assert text == "2 0.1234568 1.0 0.0 0.5 0.25 0.75"


@given(
    cls=st.integers(min_value=0, max_value=79),
    values=st.lists(st.floats(min_value=0.0, max_value=1.0, allow_nan=False), min_size=6, max_size=60).filter(
        lambda v: len(v) % 2 == 0
    ),
)
@settings(max_examples=200, deadline=None)
def test_format_then_parse_is_exact_to_precision(cls: int, values: list[float]) -> None:
    text = format_line(cls, np.array(values))
    line = parse_line(text)
    assert line is not None and line.class_index == cls
    np.testing.assert_allclose(line.values, values, atol=5.1e-8, rtol=0)
    fast = parse_text(text + "\n" + text, "p.txt", Report())
    assert len(fast) == 2
    np.testing.assert_array_equal(fast[0].values, line.values)
