"""YOLO label files, scanned once: the one parser that both the reader and ``cytoconv validate`` use.

A label file holds ``class cx cy w h`` box lines and ``class x1 y1 ... xn yn`` polygon lines, normalised to
[0, 1]. ``scan`` turns the bytes of one file into columns (line numbers, where each line's numbers start, how
many there are, all numbers in one array) and reports every problem it finds to a sink, by the codes of
``cytoconv.problems``. The validator's sink turns them into findings; the reader's sink raises (strict) or skips
the line and counts it (lenient). A check that the sink does not want is not computed, so the reader does not
pay for polygon validity and ``--select`` is honoured.

No pydantic and no dataset model here: this module runs on every pre-commit call. Speed: a regular file (single
spaces, nothing but numbers) is parsed in one C call and checked with a few numpy operations; only files with a
problem are looked at line by line; shapely is imported only when polygon validity is wanted.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cytoconv.problems import Fix, ProblemSink

BOM = b"\xef\xbb\xbf"
_NUMBER_TEXT = re.compile(r"[0-9.eE+\- \n]*")
_NEGATIVE_INT_ZERO = re.compile(r"-0(?![0-9.])")


@dataclass
class Columns:
    """The lines of one file whose shape is right (5 tokens, or an odd number >= 7): their 1-based line
    numbers, where each line's numbers start in ``values`` (the class id first), and how many there are.
    ``lines`` is the decoded text, split, for messages that quote a token."""

    numbers: list[int]
    starts: npt.NDArray[np.intp]
    counts: npt.NDArray[np.intp]
    values: npt.NDArray[np.float64]
    lines: list[str]

    def select(self, keep: npt.NDArray[np.bool_]) -> Columns:
        """Only the lines where ``keep`` is true (the reader drops the lines its sink rejected)."""
        index = np.flatnonzero(keep)
        return Columns(
            [self.numbers[k] for k in index.tolist()],
            self.starts[index],
            self.counts[index],
            self.values,
            self.lines,
        )


def shape_problem(n: int) -> tuple[str, str] | None:
    """(code, message) for a line of ``n`` tokens that is neither a box nor a polygon, else ``None``."""
    if n == 5 or (n >= 7 and n % 2 == 1):
        return None
    if n == 1:
        return "CC101", "a class id with no coordinates"
    if n % 2 == 0:
        return "CC103", f"odd number of coordinates ({n - 1}): x and y must come in pairs"
    return "CC104", f"{(n - 1) // 2} point(s): a polygon needs at least 3 (a box line has 4 numbers)"


def numbers(text: str) -> npt.NDArray[np.float64] | None:
    """Every number of a whitespace-separated text, or ``None`` when something is not a number.

    orjson's float parser is about twice as fast as ``np.fromstring`` and gives the same doubles (checked bit
    for bit on 46 million YOLO coordinates, 17-digit and exponent forms included). It is used only on text made
    of digits, signs, dots, exponents, spaces and newlines, so that nothing but numbers can come out of it, and
    not on ``-0`` (an integer to JSON, so its sign would go)."""
    if _NUMBER_TEXT.fullmatch(text) and not ("-0" in text and _NEGATIVE_INT_ZERO.search(text)):
        import orjson

        try:
            parsed = orjson.loads("[" + text.strip("\n").replace("\n", ",").replace(" ", ",") + "]")
            values = np.array(parsed, dtype=np.float64)
            if values.ndim == 1:
                return values
        except (ValueError, TypeError, OverflowError):
            pass  # not JSON-shaped (a blank line, ".5", "1."): numpy parses it or says no
    try:
        return np.fromstring(text, sep=" ")  # type: ignore[call-overload,no-any-return,unused-ignore]
    except ValueError:
        return None


def split_regular(text: str) -> tuple[list[str], npt.NDArray[np.float64], list[int]] | None:
    """Whole-file parse in C for regular files (single spaces, no tabs, finite numbers only): the lines, all
    numbers, and how many tokens each line has; ``None`` sends the file line by line."""
    if "\t" in text or "  " in text or " \n" in text or "\n " in text or text[:1] == " " or text[-1:] == " ":
        return None
    lines = text.split("\n")
    values = numbers(text)
    if values is None:
        return None
    counts = [line.count(" ") + 1 if line else 0 for line in lines]
    if sum(counts) != values.size or not np.isfinite(values).all():
        return None
    return lines, values, counts


def decode(data: bytes, path: str, sink: ProblemSink) -> str | None:
    """The text of a label file with LF line endings (BOM, CRLF and CR reported), or ``None`` when it is not
    UTF-8 (reported with its line)."""
    if data.startswith(BOM):
        if sink.wants("CC006"):
            sink("CC006", path, "starts with a UTF-8 byte-order mark", line=1, fix=Fix("bom"))
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        sink("CC001", path, f"not UTF-8 text (byte 0x{data[exc.start]:02x})", line=line)
        return None
    if "\r" in text:
        if sink.wants("CC005"):
            first = text.count("\n", 0, text.index("\r")) + 1
            kind = "CRLF" if "\r\n" in text else "CR"
            sink("CC005", path, f"{kind} line endings", line=first, fix=Fix("line-endings"))
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def scan(
    data: bytes,
    path: str,
    sink: ProblemSink,
    class_count: int | None = None,
    class_source: str | None = None,
    tolerance: float = 0.01,
) -> Columns:
    """Every line of one label file, checked: shapes, numbers, class ids (against ``class_count`` classes, named
    after ``class_source``, when known), ranges, boxes, polygon validity and duplicates, each problem sent to
    ``sink``. The columns hold every well-shaped line, flagged or not: the caller drops what its sink rejected."""
    text = decode(data, path, sink)
    if text is None or not text.strip():
        if text is not None and sink.wants("CC004"):
            sink("CC004", path, "empty label file: an image with no objects")
        return Columns([], np.empty(0, np.intp), np.empty(0, np.intp), np.empty(0, np.float64), [])
    lines = text.split("\n")
    columns = _scan_regular(text, path, sink) or _scan_lines(lines, path, sink)
    columns.lines = lines
    if columns.numbers:
        _check_values(columns, path, sink, class_count, class_source, tolerance)
    return columns


# ---------------------------------------------------------------------------------------------
# Which .txt files are labels (the reader's plan and the validator's discovery alike)


# Text files a download carries beside its data that are never label files.
DOC_STEMS = ("readme", "license", "licence", "copying", "notice", "changelog", "citation", "requirements")


def is_doc_name(name: str) -> bool:
    """``README.txt``, ``LICENSE.repo-MIT.txt``, ``license.txt``: a document, not a label file."""
    return name.lower().startswith(DOC_STEMS)


def is_image_list(path: str) -> bool:
    """A Darknet / CVAT image list (``train.txt``: one image path a line), by its name and first line."""
    if os.path.basename(path).lower() not in ("train.txt", "valid.txt", "val.txt", "test.txt"):
        return False
    try:
        with open(path, "rb") as fh:
            first = fh.read(512).split(b"\n", 1)[0].strip().decode("utf-8", "replace")
    except OSError:
        return False
    from cytoconv.engine.files import is_image_name

    return is_image_name(first)


# ---------------------------------------------------------------------------------------------
# Tokens and shapes


def _scan_regular(text: str, path: str, sink: ProblemSink) -> Columns | None:
    """The fast path for files with single spaces and plain numbers; ``None`` sends the file line by line."""
    regular = split_regular(text)
    if regular is None:
        return None
    lines, values, counts_list = regular
    counts_all = np.array(counts_list, dtype=np.intp)
    starts_all = np.concatenate(([0], np.cumsum(counts_all)[:-1])).astype(np.intp)
    good = (counts_all == 5) | ((counts_all >= 7) & (counts_all % 2 == 1))
    for k in np.flatnonzero(~good & (counts_all > 0)).tolist():
        problem = shape_problem(int(counts_all[k]))
        if problem is not None:
            sink(problem[0], path, problem[1], line=k + 1)
    index = np.flatnonzero(good)
    return Columns([int(k) + 1 for k in index], starts_all[index], counts_all[index], values, lines)


def _scan_lines(lines: list[str], path: str, sink: ProblemSink) -> Columns:
    """Line by line, naming the first bad token of each bad line."""
    found: list[int] = []
    chunks: list[npt.NDArray[np.float64]] = []
    for k, raw in enumerate(lines):
        tokens = raw.split()
        if not tokens:
            continue
        problem: tuple[str, str] | None = None
        row = np.empty(len(tokens), dtype=np.float64)
        for j, tok in enumerate(tokens):
            try:
                row[j] = float(tok)
            except ValueError:
                problem = "CC101", f"not a number: {tok!r} (token {j + 1})"
                break
            if not np.isfinite(row[j]):
                problem = "CC102", f"{tok!r} is not a finite number (token {j + 1})"
                break
        problem = problem or shape_problem(len(tokens))
        if problem is not None:
            sink(problem[0], path, problem[1], line=k + 1)
            continue
        found.append(k + 1)
        chunks.append(row)
    counts = np.array([c.size for c in chunks], dtype=np.intp)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.intp) if chunks else counts
    values = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.float64)
    return Columns(found, starts, counts, values, lines)


# ---------------------------------------------------------------------------------------------
# Values


def _token(lines: list[str], number: int, index: int) -> str:
    return lines[number - 1].split()[index]


def _check_values(
    c: Columns,
    path: str,
    sink: ProblemSink,
    class_count: int | None,
    class_source: str | None,
    tolerance: float,
) -> None:
    """Class ids, ranges, boxes, polygons and duplicates of the well-shaped lines, in bulk first."""
    v, starts, counts = c.values, c.starts, c.counts
    cls = v[starts]
    bad_class = (cls != np.floor(cls)) | (cls < 0)
    for k in np.flatnonzero(bad_class).tolist():
        token = _token(c.lines, c.numbers[k], 0)
        sink("CC201", path, f"class id {token!r} is not a non-negative integer", line=c.numbers[k])
    if class_count is not None and sink.wants("CC202"):
        span = f"0..{class_count - 1}" if class_count else "none"
        for k in np.flatnonzero(~bad_class & (cls >= class_count)).tolist():
            sink(
                "CC202",
                path,
                f"class id {int(cls[k])} is outside the {class_count} classes of {class_source} ({span})",
                line=c.numbers[k],
            )
    ranged = _check_range(c, path, sink, tolerance)
    is_box = counts == 5
    if is_box.any():
        _check_boxes(c, np.flatnonzero(is_box), ranged, path, sink, tolerance)
    polygons = np.flatnonzero(~is_box)
    if polygons.size and sink.wants("CC106"):
        from cytoconv.geometry.validity import invalid_reasons

        rings = [v[starts[k] + 1 : starts[k] + counts[k]].reshape(-1, 2) for k in polygons]
        for k, reason in zip(polygons.tolist(), invalid_reasons(rings)):
            if reason is not None:
                sink("CC106", path, f"invalid polygon: {reason}", line=c.numbers[k])
    if sink.wants("CC401"):
        seen: dict[bytes, int] = {}
        for number, start, n in zip(c.numbers, starts.tolist(), counts.tolist()):
            first = seen.setdefault(v[start : start + n].tobytes(), number)
            if first != number:
                sink(
                    "CC401",
                    path,
                    f"duplicate of line {first}",
                    line=number,
                    fix=Fix("drop-line", line=number),
                )


def _check_range(c: Columns, path: str, sink: ProblemSink, tolerance: float) -> set[int]:
    """Coordinates outside [0, 1]: beyond the tolerance an error, within it a warning that --fix clips.
    Returns the indices (into ``c``) of the lines reported."""
    flat = c.values.copy()
    flat[c.starts] = 0.5  # class ids are not coordinates
    outside = np.flatnonzero((flat < 0) | (flat > 1))
    if outside.size == 0:
        return set()
    reported: set[int] = set()
    for k in np.unique(np.searchsorted(c.starts, outside, side="right") - 1).tolist():
        start, n = int(c.starts[k]), int(c.counts[k])
        values = c.values[start + 1 : start + n]
        distance = np.maximum(-values, values - 1)
        if n == 5:  # a negative box size is CC304's to report, not a coordinate out of range
            distance[2:][values[2:] < 0] = 0
        if distance.max() <= 0:
            continue
        worst = int(np.argmax(distance))
        number = c.numbers[k]
        reported.add(int(k))
        if distance[worst] > tolerance:
            sink(
                "CC301",
                path,
                f"coordinate {_token(c.lines, number, worst + 1)} (token {worst + 2}) is outside "
                f"[0, 1] by more than the tolerance {tolerance:g}: normalised against the wrong image size?",
                line=number,
            )
        elif sink.wants("CC302"):
            edits = tuple(
                (j + 1, "0" if values[j] < 0 else "1") for j in np.flatnonzero(distance > 0).tolist()
            )
            shown = ", ".join(_token(c.lines, number, j) for j, _ in edits)
            # a box line's numbers are a centre and a size: clipping one would move the box, not cut it
            fix = None if n == 5 else Fix("replace-tokens", line=number, tokens=edits)
            sink(
                "CC302",
                path,
                f"coordinate(s) {shown} outside [0, 1] within the tolerance {tolerance:g}",
                line=number,
                fix=fix,
            )
    return reported


def _check_boxes(
    c: Columns, boxes: npt.NDArray[np.intp], ranged: set[int], path: str, sink: ProblemSink, tolerance: float
) -> None:
    at = c.starts[boxes]
    cx, cy, w, h = (c.values[at + j] for j in (1, 2, 3, 4))
    negative = (w < 0) | (h < 0)
    zero = ~negative & ((w == 0) | (h == 0))
    for k in np.flatnonzero(negative | zero).tolist():
        code = "CC304" if negative[k] else "CC303"
        what = "negative" if negative[k] else "zero"
        sink(code, path, f"box of {what} size ({w[k]:g} x {h[k]:g})", line=c.numbers[boxes[k]])
    if not sink.wants("CC305"):
        return
    beyond = ~(negative | zero) & (
        (cx - w / 2 < -tolerance)
        | (cy - h / 2 < -tolerance)
        | (cx + w / 2 > 1 + tolerance)
        | (cy + h / 2 > 1 + tolerance)
    )
    for k in np.flatnonzero(beyond).tolist():
        if int(boxes[k]) in ranged:
            continue
        x0, y0, x1, y1 = cx[k] - w[k] / 2, cy[k] - h[k] / 2, cx[k] + w[k] / 2, cy[k] + h[k] / 2
        sink(
            "CC305",
            path,
            f"box reaches outside the image: corners ({x0:.6g}, {y0:.6g}) to ({x1:.6g}, {y1:.6g}) "
            f"beyond the tolerance {tolerance:g}",
            line=c.numbers[boxes[k]],
        )
