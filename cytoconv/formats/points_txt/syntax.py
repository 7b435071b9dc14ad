"""points-txt label files, scanned once: the one parser that both the reader and ``cytoconv validate`` use.

A label file holds one ``x y class`` line per cell: the pixel indices of the cell's centre (0-based, or 1-based
with ``--index-base 1``; integers or floats) and an integer class id. ``scan`` turns the bytes of one file into
rows and reports every problem it finds to a sink, by the codes of ``cytoconv.problems`` (the reader's sink
raises or skips, the validator's makes findings), exactly as ``formats.yolo.syntax`` does for YOLO.

Speed: a regular file (single spaces, LF, numbers only: every Chula RBC-12 file) is parsed in one C call by
YOLO's ``split_regular`` and checked with a few numpy operations; only irregular files go line by line.
No pydantic and no dataset model here: the checker imports this on every pre-commit call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cytoconv.formats.yolo.syntax import BOM, decode, is_doc_name, split_regular
from cytoconv.problems import Fix, ProblemSink

TOKENS = 3  # x y class


@dataclass
class Rows:
    """The well-shaped lines of one file: their 1-based line numbers and their values, one row
    ``(x, y, class)`` each, as written (pixel indices, not yet model coordinates)."""

    numbers: list[int]
    values: npt.NDArray[np.float64]  # shape (n, 3)


def empty_rows() -> Rows:
    """No rows (an empty file, or one that cannot be decoded)."""
    return Rows([], np.empty((0, TOKENS), dtype=np.float64))


def scan(
    data: bytes,
    path: str,
    sink: ProblemSink,
    class_count: int | None = None,
    class_source: str | None = None,
    size: tuple[int, int] | None = None,
    base: int = 0,
) -> Rows:
    """Every line of one label file, checked: shapes and numbers, class ids (against ``class_count`` classes
    named after ``class_source``, when known), points inside an image of ``size`` (width, height; when known:
    the model coordinate ``index - base + 0.5`` must lie in [0, W] x [0, H]) and exact duplicates. The rows hold
    every well-shaped line, flagged or not: the caller drops what its sink rejected."""
    text = decode(data, path, sink)
    if text is None or not text.strip():
        if text is not None and sink.wants("CC004"):
            sink("CC004", path, "empty label file: an image with no points")
        return empty_rows()
    rows = _scan_regular(text, path, sink) or _scan_lines(text.split("\n"), path, sink)
    if rows.numbers:
        _check_values(rows, text, path, sink, class_count, class_source, size, base)
    return rows


def _scan_regular(text: str, path: str, sink: ProblemSink) -> Rows | None:
    """The fast path for files with single spaces and plain numbers; ``None`` sends the file line by line."""
    regular = split_regular(text)
    if regular is None:
        return None
    _, values, counts_list = regular
    counts = np.array(counts_list, dtype=np.intp)
    if counts.size and (counts[(counts != 0)] == TOKENS).all():  # the usual file: one bulk reshape
        numbers = (np.flatnonzero(counts) + 1).tolist()
        return Rows(numbers, values.reshape(-1, TOKENS))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.intp)
    for k in np.flatnonzero((counts != TOKENS) & (counts > 0)).tolist():
        sink("CC101", path, _shape_message(int(counts[k])), line=k + 1)
    good = np.flatnonzero(counts == TOKENS)
    picked = (starts[good][:, None] + np.arange(TOKENS)).reshape(-1)
    return Rows((good + 1).tolist(), values[picked].reshape(-1, TOKENS))


def _shape_message(n: int) -> str:
    return f"{n} number(s) where a points line has 3 (x y class)"


def _scan_lines(lines: list[str], path: str, sink: ProblemSink) -> Rows:
    """Line by line (tabs, runs of spaces, a bad token), naming the first bad token of each bad line."""
    numbers: list[int] = []
    rows: list[list[float]] = []
    for k, raw in enumerate(lines):
        tokens = raw.split()
        if not tokens:
            continue
        row: list[float] = []
        problem: tuple[str, str] | None = None
        for j, token in enumerate(tokens):
            try:
                value = float(token)
            except ValueError:
                problem = "CC101", f"not a number: {token!r} (token {j + 1})"
                break
            if not np.isfinite(value):
                problem = "CC102", f"{token!r} is not a finite number (token {j + 1})"
                break
            row.append(value)
        if problem is None and len(tokens) != TOKENS:
            problem = "CC101", _shape_message(len(tokens))
        if problem is not None:
            sink(problem[0], path, problem[1], line=k + 1)
            continue
        numbers.append(k + 1)
        rows.append(row)
    if not rows:
        return empty_rows()
    return Rows(numbers, np.array(rows, dtype=np.float64))


def _token(text: str, number: int, index: int) -> str:
    """Token ``index`` of line ``number`` (1-based) as written, for messages."""
    return text.split("\n")[number - 1].split()[index]


def _check_values(
    rows: Rows,
    text: str,
    path: str,
    sink: ProblemSink,
    class_count: int | None,
    class_source: str | None,
    size: tuple[int, int] | None,
    base: int,
) -> None:
    """Class ids, the image's bounds and duplicates, in bulk first; only flagged rows are looked at one by one."""
    v = rows.values
    cls = v[:, 2]
    bad_class = (cls != np.floor(cls)) | (cls < 0)
    for k in np.flatnonzero(bad_class).tolist():
        token = _token(text, rows.numbers[k], 2)
        sink("CC201", path, f"class id {token!r} is not a non-negative integer", line=rows.numbers[k])
    if class_count is not None and sink.wants("CC202"):
        span = f"0..{class_count - 1}" if class_count else "none"
        for k in np.flatnonzero(~bad_class & (cls >= class_count)).tolist():
            sink(
                "CC202",
                path,
                f"class id {int(cls[k])} is outside the {class_count} classes of {class_source} ({span})",
                line=rows.numbers[k],
            )
    if size is not None and sink.wants("CC306"):
        width, height = size
        x, y = v[:, 0] - base + 0.5, v[:, 1] - base + 0.5
        for k in np.flatnonzero((x < 0) | (x > width) | (y < 0) | (y > height)).tolist():
            number = rows.numbers[k]
            shown = f"({_token(text, number, 0)}, {_token(text, number, 1)})"
            sink(
                "CC306",
                path,
                f"point {shown} is outside the {width}x{height} image "
                f"(pixel indices {base}..{width - 1 + base}, {base}..{height - 1 + base})",
                line=number,
            )
    if sink.wants("CC401"):
        keyed = list(map(tuple, v.tolist()))
        if len(set(keyed)) != len(keyed):
            seen: dict[tuple[float, ...], int] = {}
            for number, key in zip(rows.numbers, keyed):
                first = seen.setdefault(key, number)
                if first != number:
                    sink(
                        "CC401",
                        path,
                        f"duplicate of line {first}",
                        line=number,
                        fix=Fix("drop-line", line=number),
                    )


# ---------------------------------------------------------------------------------------------
# Recognising points files by a peek (detection, and the validator's claim on a file given alone)

PEEK_BYTES = 4096
PEEK_LINES = 5
PEEK_FILES = 5
PEEK_LISTED = (
    200  # files looked at by name before a folder is said to hold no label file (detection is cheap)
)


def peek(path: str) -> bool | None:
    """Whether a label file looks like points from its first lines (up to 5): ``True`` when at least half of them
    have three tokens and one of those is two numbers and an integer (so a file with a bad line still reads as points, and gets
    its error by line), ``False`` when most have another shape (YOLO's five or more, words), ``None`` when it
    is empty or cannot be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(PEEK_BYTES)
    except OSError:
        return None
    lines = head.removeprefix(BOM).split(b"\n")
    if len(head) == PEEK_BYTES:
        lines = lines[:-1]  # the last line may be cut short
    shaped = [tokens for tokens in (line.split() for line in lines) if tokens][:PEEK_LINES]
    if not shaped:
        return None if not head.strip() else False
    three = [tokens for tokens in shaped if len(tokens) == TOKENS]
    return 2 * len(three) >= len(shaped) and any(_is_point_line(tokens) for tokens in three)


def _is_point_line(tokens: list[bytes]) -> bool:
    """Two numbers and a class id written as an integer: ``594 95 0`` (YOLO's broken ``0 0.1 0.2`` is not)."""
    return _is_number(tokens[0]) and _is_number(tokens[1]) and tokens[2].isdigit()


def _is_number(token: bytes) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def in_yolo_dataset(path: str) -> bool:
    """Whether a label file or folder belongs to a YOLO dataset: a ``data.yaml`` (or ``dataset.yaml``, a
    Darknet ``obj.data``) in its folder or the two above it. Such files are YOLO's even when a line is broken
    into three tokens."""
    from cytoconv.engine.classlists import YAML_NAMES

    folder = os.path.abspath(path)
    for _ in range(3):
        if any(os.path.isfile(os.path.join(folder, name)) for name in (*YAML_NAMES, "obj.data")):
            return True
        folder = os.path.dirname(folder)
    return False


def is_label_name(name: str) -> bool:
    """A visible ``.txt`` that is neither a class list (``classes.txt``) nor a document (README, LICENSE)."""
    from cytoconv.engine.classlists import NAME_FILES

    return (
        name.endswith(".txt")
        and not name.startswith(".")
        and name not in NAME_FILES
        and not is_doc_name(name)
    )


def peek_folder(folder: str) -> bool | None:
    """Whether the label files of a folder (and its sub-folders, as split folders hold them) look like points:
    the first few that are not empty decide (``True``: all points; ``False``: one is not), ``None`` when there
    is none, or only empty files."""
    from cytoconv.engine.files import walk_files

    seen = 0
    if not os.path.isdir(folder):
        return None
    for listed, f in enumerate(walk_files(Path(folder))):  # sorted, junk pruned; stops at the first that tell
        if listed >= PEEK_LISTED:
            break
        if not is_label_name(os.path.basename(f)):
            continue
        shape = peek(f)
        if shape is False:
            return False
        if shape:
            seen += 1
            if seen >= PEEK_FILES:
                break
    return True if seen else None
