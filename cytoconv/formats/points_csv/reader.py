"""points-csv reader: one CSV of cell centres for many images, one row per point (see ``syntax`` for the
layouts: CRIC's header, 1-based; the writer's ``file,x,y,class``; any other CSV by ``--columns``).

The CSV is parsed once, in the parent (``plan``): CRIC's 11,534 rows take about 0.1 s, and the rows are grouped
by file name into one unit per image, so the workers never re-read the CSV. A worker's ``load`` reads the
image's size from its header (or takes ``--image-size``), checks that every point lies inside and builds the
points. Images are found by file name below the CSV's folder (recursively) or ``--images``; images that no row
names, in the folders of the images rows do name, are images with no objects (counted); images elsewhere below
the folder are not the dataset's (a CSV left in a Downloads folder does not read every picture there).

Classes: CRIC's six Bethesda classes in the Bethesda order (always all six, so that every subset of CRIC has
the same class ids); otherwise ``--names`` gives the classes and their order, else a ``class_id`` column (the
writer's) gives each class name its place (category id = class_id + 1, so class numbers survive the CSV), else
class names are sorted in natural order (``class_2`` before ``class_10``; Bethesda names alone keep the Bethesda
order) and integer classes are ids, named ``class_<id>``. Every other
column (CRIC's ``image_id``, ``image_doi``, ``cell_id``) is kept on each point as an attribute, so that a round
trip to points-csv writes it back; integers are read as integers.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, NamedTuple

from cytoconv.engine.contract import ReadOptions, ReadPlan
from cytoconv.engine.files import image_size
from cytoconv.errors import FormatError, Report, SkipUnit
from cytoconv.formats.points_csv import syntax
from cytoconv.ir import Category, ImageRecord, Instance, Point
from cytoconv.problems import PROBLEMS, Fix
from cytoconv.problems.sinks import ReaderSink

# Problems that make a row unreadable (raise in strict mode, skip the row in lenient mode) ...
FATAL = ("CC101", "CC102", "CC201", "CC202", "CC203", "CC306")
# ... and those that make the whole file unreadable: raised in either mode, there is nothing left to read.
WHOLE_FILE = ("CC001", "CC004", "CC805")
NOTICED = {"CC409": "id-filename-mismatch"}  # kept (rows are grouped by file name) and reported
TALLIED = ("CC401",)  # the same point twice: kept, counted once for the file


class PointsUnit(NamedTuple):
    """One image's rows, carried to the worker: the record's file name, the image file (``None``: not found,
    ``size`` from --image-size), its split, and per point the CSV line, x and y as written, category id and
    attributes (the extra columns)."""

    file_name: str
    image: str | None
    size: tuple[int, int] | None
    split: str | None
    csv: str
    layout: syntax.Layout
    lines: tuple[int, ...]
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    category_ids: tuple[int, ...]
    attributes: tuple[dict[str, Any], ...]


class _Sink(ReaderSink):
    """The reader's sink, except that a file that cannot be read at all (not UTF-8, empty, no layout) raises
    in lenient mode too: skipping it would leave nothing."""

    def __call__(
        self,
        code: str,
        path: str,
        message: str,
        *,
        line: int | None = None,
        image_id: int | str | None = None,
        annotation_id: int | str | None = None,
        object_index: int | None = None,
        fix: Fix | None = None,
    ) -> None:
        if code in WHOLE_FILE:
            raise FormatError(path, message, line=line, code=PROBLEMS[code].name)
        super().__call__(
            code,
            path,
            message,
            line=line,
            image_id=image_id,
            annotation_id=annotation_id,
            object_index=object_index,
            fix=fix,
        )


# ---------------------------------------------------------------------------------------------
# Detection


def _evidence_of_header(path: Path) -> Any:
    """The evidence a CSV's header gives (a peek at its first line)."""
    from cytoconv.formats import LAYOUT, REFUSED, Evidence

    kind = syntax.header_kind(syntax.peek_header(path) or [])
    if kind == "cric":
        return Evidence(
            LAYOUT, f"{path.name}: the CRIC header (image_filename, bethesda_system, nucleus_x/y)"
        )
    if kind == "cytoconv":
        return Evidence(LAYOUT, f"{path.name}: a file,x,y,class header (a points CSV)")
    return Evidence(
        REFUSED,
        f"{path.name}: a CSV without point columns (a points CSV other than CRIC's: --from points-csv "
        "--columns file=...,x=...,y=...,class=...)",
    )


def detect(path: Path) -> Any:
    """A ``.csv`` whose header is CRIC's or ``file,x,y,class`` is this format's layout (a peek at the first
    line); any other CSV is refused, saying that ``--columns`` reads it. A folder that holds one such CSV is
    a dataset of this format (CRIC's download: the CSV beside its images)."""
    if path.is_file():
        return _evidence_of_header(path) if path.suffix.lower() == ".csv" else None
    if path.is_dir():
        found = syntax.points_csvs(path)
        return _evidence_of_header(found[0]) if len(found) == 1 else None
    return None


# ---------------------------------------------------------------------------------------------
# Planning: the CSV parsed once, rows grouped per image


def _the_csv(path: Path) -> Path:
    """The CSV a path means: itself, or the one points CSV in a folder."""
    if path.is_file():
        return path.resolve()
    found = syntax.points_csvs(path)
    if len(found) != 1:
        what = "no CSV with CRIC's header or file,x,y,class" if not found else f"{len(found)} points CSVs"
        raise FormatError(path, f"{what} in this folder: give the CSV itself", code="usage")
    return found[0].resolve()


def _attribute(value: str) -> Any:
    """An extra column's value as kept on the point: an integer written as one (``cell_id`` 17) becomes an int,
    anything else stays text (and is written back as it was)."""
    if value.isdigit() and (value == "0" or not value.startswith("0")):
        return int(value)
    return value


def natural(name: str) -> tuple[list[str | int], str]:
    """A class name's sort key in natural order: its runs of digits compared as numbers, so ``class_2`` comes
    before ``class_10`` (the names a points-txt or YOLO dataset without a class list gets keep their ids)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)], name


def _numbered(table: syntax.Table, keep: list[int]) -> list[str]:
    """The class names in the order a ``class_id`` column gives (already checked one to one): name k is the
    class of class_id k; an id no row uses is ``class_<id>``, so the later ids keep their place. Bethesda names
    at their Bethesda places are all six Bethesda classes, as CRIC is read."""
    assert table.class_numbers is not None
    by_number = {table.class_numbers[k]: table.classes[k] for k in keep}
    if by_number and all(
        name in syntax.BETHESDA and syntax.BETHESDA.index(name) == n for n, name in by_number.items()
    ):
        return list(syntax.BETHESDA)
    listed = []
    taken = set(by_number.values())
    for n in range(max(by_number, default=-1) + 1):
        name = by_number.get(n, f"class_{n}")
        while n not in by_number and name in taken:  # a placeholder another class's name already is
            name += "_"
        listed.append(name)
    return listed


def _categories(
    table: syntax.Table, keep: list[int], options: ReadOptions, csv_path: Path
) -> tuple[list[Category], list[int | None]]:
    """The categories, and the category id of each row (``None``: not among them, already reported)."""
    names = list(options.names) if options.names is not None else None
    if names is not None and len(set(names)) != len(names):
        raise FormatError(csv_path, "--names lists a class name twice", code="duplicate-class-name")
    if table.class_ids is not None:
        top = max((table.class_ids[k] for k in keep), default=-1)
        listed = names if names is not None else [f"class_{i}" for i in range(top + 1)]
        ids: list[int | None] = [i + 1 for i in table.class_ids]
    elif table.class_numbers is not None and names is None:
        listed = _numbered(table, keep)
        ids = [n + 1 for n in table.class_numbers]
    else:
        if names is not None:
            listed = names
        elif table.layout.kind == "cric" or (table.classes and set(table.classes) <= set(syntax.BETHESDA)):
            listed = list(syntax.BETHESDA)
        else:
            listed = sorted(set(table.classes[k] for k in keep), key=natural)
        by_name = {name: i + 1 for i, name in enumerate(listed)}
        ids = [by_name.get(name) for name in table.classes]
    categories = [Category.trusted(id=i + 1, name=name, supercategory=None) for i, name in enumerate(listed)]
    return categories, ids


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """The CSV parsed once (problems reported by line), its rows grouped by file name into one unit per image,
    the images found below the CSV's folder or ``--images``, and the images no row names added as images with
    no objects."""
    if not path.exists():
        raise FormatError(path, "no such file or folder", code="missing")
    csv_path = _the_csv(path)
    where = str(csv_path)
    try:
        data = csv_path.read_bytes()
    except OSError as exc:
        raise FormatError(csv_path, f"cannot read: {exc.strerror or exc}", code="unreadable") from None
    sink = _Sink(report, (*FATAL, *WHOLE_FILE), notices=NOTICED, tally=TALLIED, earliest=True)
    table = syntax.scan(data, where, sink, options.columns, options.index_base, options.names)
    sink.finish()
    if table is None:  # lenient, and the header itself was not CSV (counted): no row can be read by it
        raise FormatError(csv_path, "no header to read the rows by", line=1, code="malformed-line")
    duplicates = sink.tallied["CC401"]
    if duplicates:
        report.notice(
            "duplicate-line", f"{where}: {duplicates} point(s) repeated in one image, kept", duplicates
        )
    keep = [k for k, line in enumerate(table.lines) if line not in sink.rejected]
    categories, category_of = _categories(table, keep, options, csv_path)

    root = options.images.resolve() if options.images is not None else csv_path.parent
    if not root.is_dir():
        raise FormatError(root, "no such image folder (--images)", code="missing")
    junk: list[str] = []
    index = syntax.ImageIndex(root, junk)
    groups = _groups(table, keep, category_of, index, root, options, report, where)
    found = [image for image, _ in groups.values() if image is not None]
    # Images no row names count only in the folders of images rows do name (junk too): CRIC's image folder is
    # the dataset, the rest of a Downloads folder the CSV happens to sit in is not.
    folders = {os.path.dirname(image) for image in found}
    unnamed = sorted(f for f in set(index.all()) - set(found) if os.path.dirname(f) in folders)
    for item in sorted(set(junk)):
        if os.path.dirname(item.rstrip("/")) in folders | {str(root)}:
            report.notice("junk-skipped", item)
    everything = found + unnamed
    image_root = os.path.commonpath([os.path.dirname(p) for p in everything]) if everything else str(root)
    units = [
        _unit(table, rows, category_of, image, key, image_root, options, where)
        for key, (image, rows) in groups.items()
    ]
    if unnamed:
        report.notice(
            "image-without-label",
            f"{len(unnamed)} image(s) below {root} that no row of {csv_path.name} names ({unnamed[0]}, ...): "
            "read as images with no objects",
            count=len(unnamed),
        )
        empty = (), (), (), (), ()
        units += [
            PointsUnit(_below(f, image_root), f, None, None, where, table.layout, *empty) for f in unnamed
        ]
    return ReadPlan(
        categories=categories,
        units=units,
        image_root=image_root,
        info={"source": where, "layout": table.layout.kind},
        points=True,
    )


def _groups(
    table: syntax.Table,
    keep: list[int],
    category_of: list[int | None],
    index: syntax.ImageIndex,
    root: Path,
    options: ReadOptions,
    report: Report,
    where: str,
) -> dict[str, tuple[str | None, list[int]]]:
    """The kept rows per image, images in the order the CSV first names them: key = the image found (two
    spellings of one image's name are one image), or the name as written when it is not found and
    ``--image-size`` gives the size. A name no image has without ``--image-size``, or one two images share,
    is a problem at the first row that names it."""
    groups: dict[str, tuple[str | None, list[int]]] = {}
    kept = set(keep)
    for name, named in table.groups().items():
        rows = [k for k in named if k in kept]
        if not rows:
            continue
        image, candidates = index.find(name)
        if candidates:
            report.problem(
                FormatError(
                    where,
                    f"{name}: {len(candidates)} images of this name below {root} ({candidates[0]}, "
                    f"{candidates[1]}): name the image by its path below the folder",
                    line=table.lines[rows[0]],
                    code="duplicate-stem",
                )
            )
            continue
        if image is None and options.image_size is None:
            report.problem(
                FormatError(
                    where,
                    f"{name}: no such image below {root} (give --images DIR, or --image-size WxH when the images "
                    "are absent)",
                    line=table.lines[rows[0]],
                    code="label-without-image",
                )
            )
            continue
        rows = _one_split(table, rows, name, report, where)
        key = image if image is not None else name
        groups.setdefault(key, (image, []))[1].extend(k for k in rows if category_of[k] is not None)
    for _, rows in groups.values():
        rows.sort()  # two spellings of one image's name: its rows in CSV order
    return groups


def _one_split(table: syntax.Table, rows: list[int], name: str, report: Report, where: str) -> list[int]:
    """The rows of one image agree on its split (a ``split`` column); a row that disagrees is a problem."""
    split = table.splits[rows[0]]
    out = []
    for k in rows:
        if table.splits[k] != split:
            report.problem(
                FormatError(
                    where,
                    f"{name}: split {table.splits[k]!r}, but line {table.lines[rows[0]]} puts this image in "
                    f"{split!r}",
                    line=table.lines[k],
                    code="malformed-line",
                )
            )
            continue
        out.append(k)
    return out


def _below(path: str, root: str) -> str:
    """``path`` below ``root`` with forward slashes (the record's file name)."""
    base = root.rstrip(os.sep) + os.sep
    below = path[len(base) :] if path.startswith(base) else os.path.relpath(path, root)
    return below.replace(os.sep, "/")


def _unit(
    table: syntax.Table,
    rows: list[int],
    category_of: list[int | None],
    image: str | None,
    name: str,
    image_root: str,
    options: ReadOptions,
    where: str,
) -> PointsUnit:
    """One image's unit: the rows' points, classes and attributes as plain tuples (cheap to pickle)."""
    extras = [column for column, _ in table.layout.extras]
    return PointsUnit(
        file_name=_below(image, image_root) if image is not None else name,
        image=image,
        size=None if image is not None else options.image_size,
        split=table.splits[rows[0]] if rows else None,
        csv=where,
        layout=table.layout,
        lines=tuple(table.lines[k] for k in rows),
        xs=tuple(table.xs[k] for k in rows),
        ys=tuple(table.ys[k] for k in rows),
        category_ids=tuple(category_of[k] or 0 for k in rows),
        attributes=tuple(_attributes(extras, table.extras[k]) for k in rows),
    )


def _attributes(columns: list[str], values: tuple[str, ...]) -> dict[str, Any]:
    """A row's extra columns as a point's attributes (empty cells left out)."""
    return {column: _attribute(value) for column, value in zip(columns, values) if value}


# ---------------------------------------------------------------------------------------------
# Loading, in a worker


def load(unit: PointsUnit, options: ReadOptions, report: Report) -> ImageRecord:
    """One image's record: its size from the image header (or --image-size), every point inside it (a point
    outside is a problem at its CSV line), in the order of the rows."""
    if unit.image is not None:
        try:
            width, height = image_size(unit.image, options.apply_exif_orientation)
        except FormatError as error:
            report.problem(error)
            raise SkipUnit(str(error)) from None
    else:
        assert unit.size is not None
        width, height = unit.size
    base = unit.layout.base
    point, instance = Point.at_pixel, Instance.trusted
    instances = []
    for line, x, y, category_id, attributes in zip(
        unit.lines, unit.xs, unit.ys, unit.category_ids, unit.attributes
    ):
        if syntax.outside(x, y, base, width, height):
            message = syntax.outside_message(unit.layout, unit.file_name, x, y, width, height)
            report.problem(FormatError(unit.csv, message, line=line, code="point-outside-image"))
            continue
        instances.append(
            instance(
                category_id=category_id,
                geometry=point(x, y, base),
                iscrowd=False,
                score=None,
                attributes=dict(attributes),
            )
        )
    return ImageRecord.trusted(
        file_name=unit.file_name,
        width=width,
        height=height,
        split=unit.split,
        label=None,
        instances=instances,
        attributes={},
    )
