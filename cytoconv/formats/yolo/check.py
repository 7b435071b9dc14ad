"""YOLO txt checks: every line of a label file, with its line number.

The line semantics are those of ``cytoconv.formats.yolo.reader`` (``parse_line``, ``_check_tokens``,
``_line_shape_error``): a box line has 5 tokens, a polygon line an odd number >= 7, the class id is a
non-negative integer, every token a finite number. That module is not imported here: it pulls in the pydantic
models, and this one must start fast for pre-commit (tests/test_validate.py checks that both agree line by line).

Speed: a regular file (single spaces, nothing but numbers) is parsed in one call and checked with a few numpy
operations; only files with a problem are looked at line by line, and shapely is imported only when a file has
a polygon line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cytoconv.formats.classlists import NAME_FILES, YAML_NAMES, ClassList
from cytoconv.problems import Fix
from cytoconv.validate.config import Settings
from cytoconv.validate.findings import Finding

BOM = b"\xef\xbb\xbf"
_REGULAR = re.compile(r"[0-9.eE+\- \n]*")


@dataclass
class _Parsed:
    """The lines whose shape is right (5 tokens, or an odd number >= 7): line numbers, where each line's
    numbers start in ``values`` (the class id first), and how many there are."""

    numbers: list[int]
    starts: npt.NDArray[np.intp]
    counts: npt.NDArray[np.intp]
    values: npt.NDArray[np.float64]


def check_file(path: str, classes: ClassList | None, settings: Settings) -> list[Finding]:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return [settings.finding("CC001", path, f"cannot read: {exc.strerror or exc}")] if settings.on("CC001") else []
    return check_bytes(data, path, classes, settings)


def check_bytes(data: bytes, path: str, classes: ClassList | None, settings: Settings) -> list[Finding]:
    """Every finding of one label file's content (``classes``: its class list, ``None`` when unknown)."""
    out: list[Finding] = []
    on, finding = settings.on, settings.finding
    if data.startswith(BOM):
        if on("CC006"):
            out.append(finding("CC006", path, "starts with a UTF-8 byte-order mark", line=1, fix=Fix("bom")))
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if on("CC001"):
            line = data.count(b"\n", 0, exc.start) + 1
            out.append(finding("CC001", path, f"not UTF-8 text (byte 0x{data[exc.start]:02x})", line=line))
        return out
    if "\r" in text:
        if on("CC005"):
            first = text.count("\n", 0, text.index("\r")) + 1
            kind = "CRLF" if "\r\n" in text else "CR"
            out.append(finding("CC005", path, f"{kind} line endings", line=first, fix=Fix("line-endings")))
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        if on("CC004"):
            out.append(finding("CC004", path, "empty label file: an image with no objects"))
        return out
    lines = text.split("\n")
    parsed = _parse_regular(text, lines, path, settings, out)
    if parsed is None:
        parsed = _parse_lines(lines, path, settings, out)
    if parsed.numbers:
        _check_values(parsed, lines, path, classes, settings, out)
    out.sort(key=Finding.sort_key)
    return out


# ---------------------------------------------------------------------------------------------
# Parsing


def _shape_problem(n: int) -> tuple[str, str] | None:
    """(code, message) for a line of ``n`` tokens that is neither a box nor a polygon (as
    ``formats.yolo._line_shape_error``), else ``None``."""
    if n == 5 or (n >= 7 and n % 2 == 1):
        return None
    if n == 1:
        return "CC101", "a class id with no coordinates"
    if n % 2 == 0:
        return "CC103", f"odd number of coordinates ({n - 1}): x and y must come in pairs"
    return "CC104", f"{(n - 1) // 2} point(s): a polygon needs at least 3 (a box line has 4 numbers)"


def _numbers(text: str) -> npt.NDArray[np.float64] | None:
    """All numbers of a regular text in one call (orjson: digits, signs, dots and exponents only), or ``None``."""
    if not _REGULAR.fullmatch(text):
        return None
    import orjson

    try:
        parsed = orjson.loads("[" + text.strip("\n").replace("\n", ",").replace(" ", ",") + "]")
    except orjson.JSONDecodeError:
        return None  # ".5", "1.", "+1", a blank line inside: the line-by-line path reads (or names) them
    values = np.array(parsed, dtype=np.float64)
    return values if values.ndim == 1 else None


def _parse_regular(text: str, lines: list[str], path: str, settings: Settings, out: list[Finding]) -> _Parsed | None:
    """The fast path for files with single spaces and plain numbers; ``None`` sends the file line by line."""
    if "\t" in text or "  " in text or " \n" in text or "\n " in text or text[:1] == " " or text[-1:] == " ":
        return None
    values = _numbers(text)
    if values is None:
        return None
    counts_all = np.array([line.count(" ") + 1 if line else 0 for line in lines], dtype=np.intp)
    if int(counts_all.sum()) != values.size or not np.isfinite(values).all():
        return None
    starts_all = np.concatenate(([0], np.cumsum(counts_all)[:-1])).astype(np.intp)
    good = (counts_all == 5) | ((counts_all >= 7) & (counts_all % 2 == 1))
    for k in np.flatnonzero(~good & (counts_all > 0)):
        problem = _shape_problem(int(counts_all[k]))
        if problem is not None and settings.on(problem[0]):
            out.append(settings.finding(problem[0], path, problem[1], line=int(k) + 1))
    index = np.flatnonzero(good)
    return _Parsed([int(k) + 1 for k in index], starts_all[index], counts_all[index], values)


def _parse_lines(lines: list[str], path: str, settings: Settings, out: list[Finding]) -> _Parsed:
    """Line by line, naming the first bad token of each bad line (as ``formats.yolo._check_tokens``)."""
    numbers: list[int] = []
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
        problem = problem or _shape_problem(len(tokens))
        if problem is not None:
            if settings.on(problem[0]):
                out.append(settings.finding(problem[0], path, problem[1], line=k + 1))
            continue
        numbers.append(k + 1)
        chunks.append(row)
    counts = np.array([c.size for c in chunks], dtype=np.intp)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.intp) if chunks else counts
    values = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.float64)
    return _Parsed(numbers, starts, counts, values)


# ---------------------------------------------------------------------------------------------
# Checking


def _token(lines: list[str], number: int, index: int) -> str:
    return lines[number - 1].split()[index]


def _check_values(p: _Parsed, lines: list[str], path: str, classes: ClassList | None, settings: Settings,
                  out: list[Finding]) -> None:
    """Class ids, ranges, boxes, polygons and duplicates of the well-shaped lines, in bulk first."""
    on, finding = settings.on, settings.finding
    v, starts, counts = p.values, p.starts, p.counts
    cls = v[starts]
    bad_class = (cls != np.floor(cls)) | (cls < 0)
    if on("CC201"):
        for k in np.flatnonzero(bad_class):
            token = _token(lines, p.numbers[k], 0)
            out.append(finding("CC201", path, f"class id {token!r} is not a non-negative integer",
                               line=p.numbers[k]))
    if classes is not None and classes.names is not None and on("CC202"):
        nc = len(classes.names)
        for k in np.flatnonzero(~bad_class & (cls >= nc)):
            span = f"0..{nc - 1}" if nc else "none"
            out.append(finding("CC202", path, f"class id {int(cls[k])} is outside the {nc} classes of "
                               f"{classes.source} ({span})", line=p.numbers[k]))
    ranged = _check_range(p, lines, path, settings, out)
    is_box = counts == 5
    if is_box.any():
        _check_boxes(p, np.flatnonzero(is_box), ranged, path, settings, out)
    polygons = np.flatnonzero(~is_box)
    if polygons.size and on("CC106"):
        from cytoconv.geometry.validity import invalid_reasons

        rings = [v[starts[k] + 1 : starts[k] + counts[k]].reshape(-1, 2) for k in polygons]
        for k, reason in zip(polygons, invalid_reasons(rings)):
            if reason is not None:
                out.append(finding("CC106", path, f"invalid polygon: {reason}", line=p.numbers[k]))
    if on("CC401"):
        seen: dict[bytes, int] = {}
        for number, start, n in zip(p.numbers, starts.tolist(), counts.tolist()):
            first = seen.setdefault(v[start : start + n].tobytes(), number)
            if first != number:
                out.append(finding("CC401", path, f"duplicate of line {first}", line=number,
                                   fix=Fix("drop-line", line=number)))


def _check_range(p: _Parsed, lines: list[str], path: str, settings: Settings, out: list[Finding]) -> set[int]:
    """Coordinates outside [0, 1]: beyond the tolerance an error, within it a warning that --fix clips.
    Returns the indices (into ``p``) of the lines reported."""
    coords = p.values.copy()
    coords[p.starts] = 0.5  # class ids are not coordinates
    outside = np.flatnonzero((coords < 0) | (coords > 1))
    if outside.size == 0:
        return set()
    tol = settings.tolerance
    reported: set[int] = set()
    for k in np.unique(np.searchsorted(p.starts, outside, side="right") - 1).tolist():
        start, n = int(p.starts[k]), int(p.counts[k])
        values = p.values[start + 1 : start + n]
        distance = np.maximum(-values, values - 1)
        if n == 5:  # a negative box size is CC304's to report, not a coordinate out of range
            distance[2:][values[2:] < 0] = 0
        if distance.max() <= 0:
            continue
        worst = int(np.argmax(distance))
        number = p.numbers[k]
        reported.add(int(k))
        if distance[worst] > tol:
            if settings.on("CC301"):
                out.append(settings.finding(
                    "CC301", path, f"coordinate {_token(lines, number, worst + 1)} (token {worst + 2}) is outside "
                    f"[0, 1] by more than the tolerance {tol:g}: normalised against the wrong image size?",
                    line=number))
        elif settings.on("CC302"):
            edits = tuple((j + 1, "0" if values[j] < 0 else "1") for j in np.flatnonzero(distance > 0).tolist())
            shown = ", ".join(_token(lines, number, j) for j, _ in edits)
            # a box line's numbers are a centre and a size: clipping one would move the box, not cut it
            fix = None if n == 5 else Fix("replace-tokens", line=number, tokens=edits)
            out.append(settings.finding("CC302", path, f"coordinate(s) {shown} outside [0, 1] within the tolerance "
                                        f"{tol:g}", line=number, fix=fix))
    return reported


def _check_boxes(p: _Parsed, boxes: npt.NDArray[np.intp], ranged: set[int], path: str, settings: Settings,
                 out: list[Finding]) -> None:
    at = p.starts[boxes]
    cx, cy, w, h = (p.values[at + j] for j in (1, 2, 3, 4))
    negative = (w < 0) | (h < 0)
    zero = ~negative & ((w == 0) | (h == 0))
    for k in np.flatnonzero(negative | zero).tolist():
        code = "CC304" if negative[k] else "CC303"
        if settings.on(code):
            what = "negative" if negative[k] else "zero"
            out.append(settings.finding(code, path, f"box of {what} size ({w[k]:g} x {h[k]:g})",
                                        line=p.numbers[boxes[k]]))
    tol = settings.tolerance
    beyond = ~(negative | zero) & ((cx - w / 2 < -tol) | (cy - h / 2 < -tol) | (cx + w / 2 > 1 + tol)
                                   | (cy + h / 2 > 1 + tol))
    if settings.on("CC305"):
        for k in np.flatnonzero(beyond).tolist():
            if int(boxes[k]) in ranged:
                continue
            x0, y0, x1, y1 = cx[k] - w[k] / 2, cy[k] - h[k] / 2, cx[k] + w[k] / 2, cy[k] + h[k] / 2
            out.append(settings.finding("CC305", path, f"box reaches outside the image: corners ({x0:.6g}, {y0:.6g}) "
                                        f"to ({x1:.6g}, {y1:.6g}) beyond the tolerance {tol:g}",
                                        line=p.numbers[boxes[k]]))


# ---------------------------------------------------------------------------------------------
# Folders: which files are labels, and which images they go with


def is_label_name(name: str) -> bool:
    return name.endswith(".txt") and name not in NAME_FILES and not name.startswith(".")


def is_list_file(name: str) -> bool:
    """Class lists and dataset files that sit among labels but are not labels."""
    return name in NAME_FILES or name in YAML_NAMES


def label_dirs(root: Path) -> list[Path]:
    """Every ``labels`` folder below ``root`` (junk and hidden folders pruned); none: ``root`` itself."""
    from cytoconv.engine.files import JUNK_DIRS

    found = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in JUNK_DIRS and not d.startswith("."))
        if os.path.basename(dirpath) == "labels":
            found.append(Path(dirpath))
            dirnames[:] = []
    if root.name == "labels":
        return [root]
    return found or [root]


def _below(path: str, folder: Path) -> str:
    """``path`` relative to ``folder`` it was found in (string slicing: relpath costs 13 us a call)."""
    base = str(folder) + os.sep
    return path[len(base):] if path.startswith(base) else os.path.relpath(path, folder)


def pair(root: Path, settings: Settings) -> tuple[list[str], list[Finding]]:
    """The label files below ``root``, and the findings of pairing them with images by relative stem
    (``labels/x/y.txt`` with ``images/x/y.<ext>``). Pairing is checked only where an image folder exists:
    a repository that keeps labels without images is not flagged file by file."""
    from cytoconv.engine.files import is_image_name, walk_files

    labels: list[str] = []
    findings: list[Finding] = []
    for label_dir in label_dirs(root):
        image_dir = label_dir.with_name("images") if label_dir != root or root.name == "labels" else root
        stems: dict[str, str] = {}
        for f in walk_files(label_dir):
            name = os.path.basename(f)
            if is_label_name(name):
                labels.append(f)
                stems[_below(f, label_dir)[:-4]] = f
        if not image_dir.is_dir():
            continue
        images: dict[str, str] = {}
        for f in walk_files(image_dir):
            if is_image_name(f):
                images.setdefault(os.path.splitext(_below(f, image_dir))[0], f)
        if not images:
            continue
        if settings.on("CC402"):
            for stem in sorted(set(stems) - set(images)):
                findings.append(settings.finding("CC402", stems[stem], f"no image for this label file in {image_dir}"))
        if settings.on("CC403"):
            for stem in sorted(set(images) - set(stems)):
                findings.append(settings.finding("CC403", images[stem], f"no label file for this image in {label_dir}"))
    return labels, findings
