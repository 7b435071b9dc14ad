"""points-csv, parsed once: the one parser that both the reader and ``cytoconv validate`` use.

A points CSV holds one row per cell centre, for many images. Which columns hold the image's file name, the x
and y pixel indices and the class is the *layout*:

- ``cric``: CRIC Cervix's header (``image_id,image_filename,image_doi,cell_id,bethesda_system,nucleus_x,
  nucleus_y``), recognised by its ``nucleus_x`` / ``nucleus_y`` / ``bethesda_system`` columns: file =
  ``image_filename``, class = ``bethesda_system`` (the Bethesda text), x y = ``nucleus_x`` ``nucleus_y``,
  **1-based** pixel indices (CRIC's README: "integer between 1 and ...");
- ``cytoconv``: the header the points-csv writer writes, ``file,x,y,class,class_id``: 0-based unless
  ``--index-base 1``;
- ``columns``: any other CSV, whose columns ``--columns file=...,x=...,y=...,class=...`` names; 0-based unless
  ``--index-base 1``.

Every other column (``image_id``, ``cell_id``, ``image_doi`` in CRIC) is kept per row, a ``split`` column
gives the image's split, and a ``class_id`` column (outside CRIC) the class's 0-based place in the class order,
which the writer writes so that class numbers survive the CSV. ``scan`` reports every problem it finds to a sink, by the codes of
``cytoconv.problems``: the validator's sink turns them into findings, the reader's sink raises (strict) or skips
the row and counts it (lenient). Rows are grouped by *file name*, never by ``image_id``: the two are not one to
one in CRIC (the disagreement is reported, CC409).

The standard library only: this module runs on every pre-commit call.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cytoconv.engine.files import is_image_name, walk_files
from cytoconv.problems import Fix, ProblemSink

ROLES = ("file", "x", "y", "class")
CRIC_ROLES = {"file": "image_filename", "x": "nucleus_x", "y": "nucleus_y", "class": "bethesda_system"}
OWN_ROLES = {"file": "file", "x": "x", "y": "y", "class": "class"}
CRIC_MARKS = frozenset({"nucleus_x", "nucleus_y", "bethesda_system"})
# CRIC's six classes, in the Bethesda system's order (normal, then the squamous lesions by severity): the
# category order whenever the CRIC header is read, so that ids are the same for every subset of CRIC.
BETHESDA = ("Negative for intraepithelial lesion", "ASC-US", "ASC-H", "LSIL", "HSIL", "SCC")
SPLIT_COLUMN = "split"
CLASS_ID_COLUMN = "class_id"
ID_COLUMN = "image_id"
PEEK = 1 << 13  # bytes read to recognise a header (detection, validate's claims)
LISTED = 3  # ids or file names named in one id-filename-mismatch message

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_INTEGER = re.compile(r"[+-]?\d+")


def _key(name: str) -> str:
    """A column name as headers are compared: stripped, lower case (``Nucleus_X`` is ``nucleus_x``)."""
    return name.strip().lower()


def header_kind(header: list[str]) -> str | None:
    """``cric`` for CRIC's header (any of its ``nucleus_x``, ``nucleus_y``, ``bethesda_system`` columns: a CRIC
    file that lost one of the others is still CRIC, and then refused for the missing column), ``cytoconv`` for
    the writer's ``file,x,y[,class]``, else ``None`` (a CSV that needs ``--columns``)."""
    names = {_key(h) for h in header}
    if names & CRIC_MARKS:
        return "cric"
    if {"file", "x", "y"} <= names:
        return "cytoconv"
    return None


def peek_header(path: str | Path) -> list[str] | None:
    """The header of a CSV from its first few KiB (cheap: detection and ``validate`` ask this of every CSV);
    ``None`` when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(PEEK)
    except OSError:
        return None
    text = head.decode("utf-8", "replace").removeprefix("\ufeff").lstrip("\r\n")
    try:
        return next(csv.reader([text.split("\n", 1)[0].rstrip("\r")]), None)
    except csv.Error:
        return None


def points_csvs(folder: Path) -> list[Path]:
    """The CSV files directly in ``folder`` whose header is CRIC's or the writer's (a dataset folder of this
    format: CRIC's download holds its CSV beside the images)."""
    return [
        p
        for p in sorted(folder.glob("*.csv"))
        if p.is_file() and not p.name.startswith(".") and header_kind(peek_header(p) or [])
    ]


@dataclass(frozen=True)
class Layout:
    """Which columns mean what: ``roles`` maps file, x, y and class to their column index; ``base`` is the
    number of the first pixel (1 in CRIC); ``extras`` are the other columns, kept per row as attributes
    (name, index); ``split``, ``image_id`` and ``class_id`` the columns of those names, if any."""

    kind: str  # "cric", "cytoconv" or "columns"
    roles: dict[str, int]
    names: dict[str, str]  # role -> the column's name as the header writes it, for messages
    base: int
    extras: tuple[tuple[str, int], ...]
    split: int | None
    image_id: int | None
    class_id: int | None = None  # the class's 0-based place in the class order (not in CRIC's header)


def layout_of(
    header: list[str], columns: tuple[tuple[str, str], ...] | None, index_base: int
) -> Layout | str:
    """The layout of a header, or why there is none (a ``missing-column`` message): ``columns`` (from
    ``--columns``) win; else the CRIC header or the writer's header; anything else needs ``--columns``.
    The CRIC header is 1-based whatever ``index_base`` says (its coordinates are CRIC's by definition)."""
    keys = [_key(h) for h in header]
    present = ", ".join(h.strip() for h in header)
    kind = header_kind(header)
    if columns is not None:
        wanted, layout_kind = dict(columns), "columns"
    elif kind == "cric":
        wanted, layout_kind = CRIC_ROLES, "cric"
    elif kind == "cytoconv":
        wanted, layout_kind = OWN_ROLES, "cytoconv"
    else:
        return (
            f"no point columns: neither CRIC's header (image_filename, bethesda_system, nucleus_x, nucleus_y) "
            f"nor file,x,y,class (the header has: {present}); convert reads other CSVs with --columns "
            "file=...,x=...,y=...,class=..."
        )
    roles: dict[str, int] = {}
    missing = []
    for role in ROLES:
        column = wanted[role]
        if _key(column) in keys:
            roles[role] = keys.index(_key(column))
        else:
            missing.append(column if column == role else f"{column} ({role})")
    if missing:
        return f"no column {', '.join(missing)} (the header has: {present})"
    used = set(roles.values())
    split = (
        keys.index(SPLIT_COLUMN) if SPLIT_COLUMN in keys and keys.index(SPLIT_COLUMN) not in used else None
    )
    image_id = keys.index(ID_COLUMN) if ID_COLUMN in keys else None
    class_id = (
        keys.index(CLASS_ID_COLUMN)
        if layout_kind != "cric" and CLASS_ID_COLUMN in keys and keys.index(CLASS_ID_COLUMN) not in used
        else None
    )
    extras = tuple(
        (header[k].strip(), k)
        for k in range(len(header))
        if k not in used and k != split and k != class_id and header[k].strip()
    )
    return Layout(
        kind=layout_kind,
        roles=roles,
        names={role: header[k].strip() for role, k in roles.items()},
        base=1 if kind == "cric" else index_base,
        extras=extras,
        split=split,
        image_id=image_id,
        class_id=class_id,
    )


@dataclass
class Table:
    """The rows a scan keeps (every row without a problem that makes it unreadable), column by column: the CSV
    line each row starts on, its file name, x and y as written (pixel indices from ``layout.base``), class
    text, split and the values of the extra columns. ``class_ids`` are the classes as integers when every
    class in the file is an integer (class ids, as in Chula's files) and there is no ``class_id`` column, else
    ``None`` (class names); ``class_numbers`` the ``class_id`` column's values, ``None`` without one."""

    layout: Layout
    header: list[str]
    lines: list[int]
    files: list[str]
    xs: list[float]
    ys: list[float]
    classes: list[str]
    splits: list[str | None]
    extras: list[tuple[str, ...]]
    class_ids: list[int] | None
    class_numbers: list[int] | None = None

    def groups(self) -> dict[str, list[int]]:
        """Row indices per file name, files in the order they first appear (rows grouped by file name, never
        by ``image_id``)."""
        out: dict[str, list[int]] = {}
        for k, name in enumerate(self.files):
            out.setdefault(name, []).append(k)
        return out

    def where(self, k: int) -> str:
        """Row ``k``'s point as a message shows it: the columns' names and the values as written."""
        return point_text(self.layout, self.xs[k], self.ys[k])


def point_text(layout: Layout, x: float, y: float) -> str:
    """A point as a message shows it: ``nucleus_x 1400, nucleus_y 20`` (the columns' names, the values as
    written)."""
    return f"{layout.names['x']} {_text(x)}, {layout.names['y']} {_text(y)}"


def _text(value: float) -> str:
    """A number as it was most likely written: whole numbers without a decimal point."""
    return str(int(value)) if value.is_integer() else repr(value)


def model(value: float, base: int) -> float:
    """A pixel index numbered from ``base`` as a corner-model coordinate: the centre of pixel i (0-based) is
    i + 0.5 (``cytoconv.ir.Point.at_pixel``, without the model import this module must not pay for)."""
    return value - base + 0.5


def outside(x: float, y: float, base: int, width: int, height: int) -> bool:
    """Whether a point (pixel indices from ``base``) lies outside a ``width`` x ``height`` image: its model
    coordinate outside [0, width] x [0, height] (0-based pixels 0..W-1 are inside, -1 and W are not)."""
    mx, my = model(x, base), model(y, base)
    return not (0.0 <= mx <= width and 0.0 <= my <= height)


def outside_message(layout: Layout, file_name: str, x: float, y: float, width: int, height: int) -> str:
    """The message of a point outside its image: the point as written and the pixels the image has."""
    base = layout.base
    return (
        f"{file_name}: point ({point_text(layout, x, y)}) outside the {width}x{height} image "
        f"(pixel indices {base}..{width - 1 + base}, {base}..{height - 1 + base})"
    )


def scan(
    data: bytes,
    path: str,
    sink: ProblemSink,
    columns: tuple[tuple[str, str], ...] | None = None,
    index_base: int = 0,
    names: tuple[str, ...] | list[str] | None = None,
    names_source: str = "--names",
) -> Table | None:
    """Every row of a points CSV, in one pass with the csv module (BOM, CRLF, quoted fields with commas and
    blank lines handled), then checked column by column; problems go to ``sink``. ``None`` when the file cannot
    be read as a points CSV at all (not UTF-8, empty, no layout: CC001, CC004, CC805).

    Per row: the right number of fields, a file name, x and y numbers (CC101) and finite (CC102), a class
    (CC101) that is known (CC201 a negative id, CC202 outside ``names``, or outside the Bethesda classes for
    CRIC), a point not before the first pixel (CC306; the far edge needs the image's size: ``outside``). Over
    the file: the same point twice in one image (CC401, with a fix when the whole row is repeated on one line)
    and image ids that disagree with file names (CC409)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        sink("CC001", path, f"not UTF-8 text (byte 0x{data[exc.start]:02x})", line=line)
        return None
    if not text.strip():
        if sink.wants("CC004"):
            sink("CC004", path, "an empty CSV: no header, no rows", line=1)
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] = []
    header_line = 1
    try:
        while not any(cell.strip() for cell in header):  # blank lines before the header
            header = next(reader)
            header_line = reader.line_num
    except StopIteration:  # nothing but separators: no header
        if sink.wants("CC004"):
            sink("CC004", path, "an empty CSV: no header, no rows", line=1)
        return None
    except csv.Error as exc:
        sink("CC101", path, f"not CSV: {exc}", line=reader.line_num)
        return None
    layout = layout_of(header, columns, index_base)
    if isinstance(layout, str):
        sink("CC805", path, layout, line=header_line)
        return None
    width = len(header)
    fi, xi, yi, ci = (layout.roles[r] for r in ROLES)
    cname = layout.names
    lines: list[int] = []
    ends: list[int] = []
    raws: list[tuple[str, ...]] = []
    files: list[str] = []
    xs: list[float] = []
    ys: list[float] = []
    classes: list[str] = []
    numbers: list[int] = []
    ni = layout.class_id
    previous = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            sink("CC101", path, f"not CSV: {exc}", line=previous + 1)
            break
        start, previous = previous + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # a blank line (trailing blank lines, a spreadsheet's empty rows)
        if len(row) != width:
            sink("CC101", path, f"{len(row)} fields, the header has {width}", line=start)
            continue
        file_name = row[fi].strip()
        if not file_name:
            sink("CC101", path, f"no file name (column {cname['file']})", line=start)
            continue
        point = []
        for index, role in ((xi, "x"), (yi, "y")):
            cell = row[index].strip()
            value = float(cell) if _NUMBER.fullmatch(cell) else None
            if value is None and not _NON_FINITE.fullmatch(cell):
                sink("CC101", path, f"{cname[role]} {cell!r} is not a number", line=start)
                break
            if value is None or not math.isfinite(value):
                sink("CC102", path, f"{cname[role]} {cell!r} is not a finite number", line=start)
                break
            point.append(value)
        if len(point) < 2:
            continue
        label = row[ci].strip()
        if not label:
            sink("CC101", path, f"no class (column {cname['class']})", line=start)
            continue
        if ni is not None:
            cell = row[ni].strip()
            if not cell:
                sink("CC101", path, f"no class id (column {header[ni].strip()})", line=start)
                continue
            if not cell.isdigit():
                if sink.wants("CC201"):
                    column = header[ni].strip()
                    sink("CC201", path, f"{column} {cell!r} is not a non-negative integer", line=start)
                continue
            numbers.append(int(cell))
        lines.append(start)
        ends.append(previous)
        raws.append(tuple(row))
        files.append(file_name)
        xs.append(point[0])
        ys.append(point[1])
        classes.append(label)
    bad = _check_classes(layout, classes, lines, path, sink, names, names_source)
    if ni is not None and sink.wants("CC203"):
        bad |= _check_class_ids(classes, numbers, lines, header[ni].strip(), path, sink)
    if sink.wants("CC306"):
        for k in range(len(lines)):
            if model(xs[k], layout.base) < 0 or model(ys[k], layout.base) < 0:
                sink(
                    "CC306",
                    path,
                    f"{files[k]}: point ({point_text(layout, xs[k], ys[k])}) outside the image (pixel "
                    f"indices start at {layout.base})",
                    line=lines[k],
                )
                bad.add(k)
    keep = [k for k in range(len(lines)) if k not in bad]
    if sink.wants("CC401"):
        _duplicates(keep, files, xs, ys, classes, raws, lines, ends, path, sink)
    if layout.image_id is not None and sink.wants("CC409"):
        _id_mismatch(
            keep, [raws[k][layout.image_id].strip() for k in range(len(raws))], files, lines, path, sink
        )
    integer = layout.kind != "cric" and ni is None and all(_INTEGER.fullmatch(c) for c in classes)
    return Table(
        layout=layout,
        header=header,
        lines=[lines[k] for k in keep],
        files=[files[k] for k in keep],
        xs=[xs[k] for k in keep],
        ys=[ys[k] for k in keep],
        classes=[classes[k] for k in keep],
        splits=[(raws[k][layout.split].strip() or None) if layout.split is not None else None for k in keep],
        extras=[tuple(raws[k][i].strip() for _, i in layout.extras) for k in keep],
        class_ids=[int(classes[k]) for k in keep] if integer and classes else None,
        class_numbers=[numbers[k] for k in keep] if ni is not None else None,
    )


def _check_classes(
    layout: Layout,
    classes: list[str],
    lines: list[int],
    path: str,
    sink: ProblemSink,
    names: tuple[str, ...] | list[str] | None,
    source: str,
) -> set[int]:
    """The rows whose class is not known (reported): with integer classes (every class an integer, outside
    CRIC, no ``class_id`` column), a negative id (CC201) or one past ``names`` (CC202); with class names, a name outside ``names`` or,
    for CRIC without ``names``, outside the six Bethesda classes (CC202)."""
    bad: set[int] = set()
    integer = layout.kind != "cric" and layout.class_id is None
    if integer and classes and all(_INTEGER.fullmatch(c) for c in classes):
        for k, text in enumerate(classes):
            value = int(text)
            if value < 0 and sink.wants("CC201"):
                sink("CC201", path, f"class id {text} is negative", line=lines[k])
                bad.add(k)
            elif names is not None and value >= len(names) and sink.wants("CC202"):
                sink(
                    "CC202",
                    path,
                    f"class id {value} is not among the {len(names)} class names of {source}",
                    line=lines[k],
                )
                bad.add(k)
        return bad
    known = set(names) if names is not None else set(BETHESDA) if layout.kind == "cric" else None
    if known is not None and sink.wants("CC202"):
        what = f"the class names of {source}" if names is not None else "CRIC's Bethesda classes"
        for k, text in enumerate(classes):
            if text not in known:
                sink("CC202", path, f"class {text!r} is not among {what}", line=lines[k])
                bad.add(k)
    return bad


def _check_class_ids(
    classes: list[str], numbers: list[int], lines: list[int], column: str, path: str, sink: ProblemSink
) -> set[int]:
    """The rows whose class and ``class_id`` disagree with an earlier row's (CC203): a class id is one class
    name and a name one class id, or the ids give no one class order."""
    bad: set[int] = set()
    name_of: dict[int, tuple[str, int]] = {}
    number_of: dict[str, tuple[int, int]] = {}
    for k, (name, number) in enumerate(zip(classes, numbers, strict=True)):
        named, first = name_of.setdefault(number, (name, lines[k]))
        if named != name:
            message = f"{column} {number} is class {name!r} here but {named!r} on line {first}"
        else:
            other, first = number_of.setdefault(name, (number, lines[k]))
            if other == number:
                continue
            message = f"class {name!r} has {column} {number} here but {other} on line {first}"
        sink("CC203", path, message, line=lines[k])
        bad.add(k)
    return bad


def _duplicates(
    keep: list[int],
    files: list[str],
    xs: list[float],
    ys: list[float],
    classes: list[str],
    raws: list[tuple[str, ...]],
    lines: list[int],
    ends: list[int],
    path: str,
    sink: ProblemSink,
) -> None:
    """The same point (image, x, y, class) twice: CC401 on the later row; ``--fix`` drops it only when the
    whole row repeats the first on one line (a row that differs elsewhere, a cell id, is not a copy)."""
    first: dict[tuple[str, float, float, str], int] = {}
    for k in keep:
        key = (files[k], xs[k], ys[k], classes[k])
        seen = first.setdefault(key, k)
        if seen == k:
            continue
        same = raws[k] == raws[seen] and lines[k] == ends[k]
        sink(
            "CC401",
            path,
            f"{files[k]}: the same point and class as line {lines[seen]}",
            line=lines[k],
            fix=Fix("drop-line", line=lines[k]) if same else None,
        )


def _id_mismatch(
    keep: list[int], ids: list[str], files: list[str], lines: list[int], path: str, sink: ProblemSink
) -> None:
    """CC409 for every image id found with several file names, and every file name with several ids, at the
    row where the disagreement first shows; the rows are read by file name."""
    files_of: dict[str, dict[str, int]] = {}
    ids_of: dict[str, dict[str, int]] = {}
    for k in keep:
        if ids[k]:
            files_of.setdefault(ids[k], {}).setdefault(files[k], lines[k])
            ids_of.setdefault(files[k], {}).setdefault(ids[k], lines[k])
    for groups, what, other in ((files_of, "image_id {}", "file names"), (ids_of, "{}", "image ids")):
        for key, found in groups.items():
            if len(found) > 1:
                sink(
                    "CC409",
                    path,
                    f"{what.format(key)} has {len(found)} {other}: {_listed(found)}; rows are read by file name",
                    line=sorted(found.values())[1],
                )


def _listed(found: dict[str, int]) -> str:
    """``a.png (line 2), b.png (line 3)``: the first few values and the line each first appears on."""
    items = sorted(found.items(), key=lambda item: item[1])
    text = ", ".join(f"{value} (line {line})" for value, line in items[:LISTED])
    return text + (f", ... ({len(items) - LISTED} more)" if len(items) > LISTED else "")


class ImageIndex:
    """The images below a folder (junk pruned), found by the file name a CSV row gives: the path below the
    folder first (``images/x.png``), else the bare name anywhere below it (CRIC's ``x.png`` in a folder beside
    the CSV). A bare name two images share finds neither (``ambiguous``)."""

    def __init__(self, root: str | Path, junk: list[str] | None = None) -> None:
        self.root = str(root)
        self.by_path: dict[str, str] = {}
        self.by_name: dict[str, list[str]] = {}
        base = self.root.rstrip(os.sep) + os.sep
        for found in walk_files(Path(self.root), junk):
            if is_image_name(found):
                below = found[len(base) :] if found.startswith(base) else os.path.relpath(found, self.root)
                self.by_path[below.replace(os.sep, "/")] = found
                self.by_name.setdefault(os.path.basename(found), []).append(found)

    def find(self, name: str) -> tuple[str | None, list[str]]:
        """The image a row's file name means, and the candidates when its bare name is ambiguous."""
        key = name.replace("\\", "/").strip().removeprefix("./")
        if key in self.by_path:
            return self.by_path[key], []
        found = self.by_name.get(key.rsplit("/", 1)[-1], [])
        return (found[0], []) if len(found) == 1 else (None, found)

    def all(self) -> list[str]:
        """Every image found, in sorted path order."""
        return sorted(self.by_path.values())
