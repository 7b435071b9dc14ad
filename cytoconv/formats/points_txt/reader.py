"""points-txt: one ``x y class`` file per image, each line a cell's centre (Chula RBC-12).

``x y`` are pixel indices (0-based unless ``--index-base 1``), integers or floats; the corner model puts the
centre of pixel index ``i`` at the coordinate ``i + 0.5`` (``Point.at_pixel``). ``class`` is an integer id
counted from 0 as written; inside cytoconv a category's id is that class + 1, as the YOLO reader numbers its
indices, so that writing points-txt (or YOLO) again gives the same class numbers. Names come from ``--names``,
a ``classes.txt`` beside the labels or at the dataset's root, else ``class_<id>`` for every id up to the highest
seen. Layouts and pairing: ``formats.points_txt.layout``; the parser shared with ``validate``: ``syntax``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cytoconv.engine.contract import ReadOptions, ReadPlan, paired_plan
from cytoconv.engine.files import image_size
from cytoconv.errors import FormatError, Report
from cytoconv.formats import CONTENT, GUESS, LAYOUT, REFUSED, Evidence
from cytoconv.formats.points_txt.layout import (
    Layout,
    class_list,
    find_layout,
    image_files,
    label_dirs,
    label_files,
    pair,
    split_of,
)
from cytoconv.formats.points_txt.syntax import in_yolo_dataset, peek, peek_folder, scan
from cytoconv.ir import ImageRecord, Instance, Point
from cytoconv.problems.sinks import ReaderSink

# What makes a line unreadable for the reader (validate reports these as errors too); duplicates are kept and
# counted once per file; nothing else the scan can find is computed.
FATAL = ("CC001", "CC101", "CC102", "CC201", "CC202", "CC306")
KEPT = ("CC401",)


@dataclass(frozen=True)
class Unit:
    """One image to read: its label file (None: no points), its image (None: size from ``--image-size``), its
    name below the image folder, its split, and the class list's length and source for messages."""

    label: str | None
    image: str | None
    file_name: str
    split: str | None
    class_count: int | None
    class_source: str | None


# ---------------------------------------------------------------------------------------------
# Detection


def detect(path: Path) -> Evidence | None:
    """How strongly ``path`` reads as points-txt: ``Dataset/`` + ``Label/``, ``images/`` + ``labels/`` or
    Roboflow's ``<split>/images/`` + ``<split>/labels/`` whose label files hold ``x y class`` lines are layouts
    (``LAYOUT``); a folder of such files, or one such file,
    is ``CONTENT``; a ``Dataset/`` + ``Label/`` of empty label files, or of lines of another shape, only a
    ``GUESS`` (by the names); other label folders whose lines have another shape (YOLO's) are ``REFUSED``."""
    if path.is_file():
        if path.suffix.lower() == ".txt" and peek(str(path)) and not in_yolo_dataset(str(path.parent)):
            return Evidence(CONTENT, f"{path.name} holds x y class lines")
        return None
    if not path.is_dir():
        return None
    layout = find_layout(path)
    if in_yolo_dataset(layout.labels):
        return Evidence(REFUSED, "a data.yaml (or obj.data) beside the labels: a YOLO dataset")
    shape = _peek_all(label_dirs(layout))
    where = _rel_name(layout.labels, path)
    if layout.kind.startswith("Dataset/"):  # the names alone are Chula's: a bad line gets its error by line
        if shape is None:
            return Evidence(GUESS, f"{layout.kind}, no label line to look at")
        if shape:
            return Evidence(LAYOUT, f"{layout.kind} of x y class lines")
        return Evidence(GUESS, f"{layout.kind}, but {where}/ holds lines that are not x y class")
    if shape is None:
        return None
    if layout.splits:
        if not shape:
            return Evidence(REFUSED, f"{layout.kind}: label lines that are not x y class")
        return Evidence(LAYOUT, f"{layout.kind} of x y class lines")
    if not shape:
        return Evidence(REFUSED, f"{where}/ holds lines that are not x y class") if where else None
    if layout.images is not None and layout.images != layout.labels:
        return Evidence(LAYOUT, f"{layout.kind} of x y class lines")
    return Evidence(CONTENT, f"{where or path.name}/ holds label files of x y class lines")


def _peek_all(folders: list[str]) -> bool | None:
    """``peek_folder`` over several label folders (Roboflow's split folders): ``False`` if one holds lines of
    another shape, ``True`` if one holds points, ``None`` when none has a line to look at."""
    shapes = [peek_folder(folder) for folder in folders]
    if False in shapes:
        return False
    return True if True in shapes else None


def _rel_name(folder: str, path: Path) -> str:
    """The label folder as shown in a reason: below ``path`` (``Label``), or ``""`` when it is ``path``."""
    return "" if folder == str(path) else os.path.relpath(folder, path).replace(os.sep, "/")


# ---------------------------------------------------------------------------------------------
# Planning


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """Pair the label files with their images by path and stem and find the class names; nothing is parsed
    yet. A label file without an image is a ``label-without-image`` problem unless ``--image-size`` gives the
    size; an image without a label file is an image with no points (counted)."""
    if not path.exists():
        raise FormatError(path, "no such file or folder", code="missing")
    if path.is_file():
        raise FormatError(
            path, "give the dataset folder or its labels folder, not one label file", code="usage"
        )
    root = path.resolve()
    layout = find_layout(root, options.images)
    names, source = _names(layout, options)
    labels = label_files(layout)
    images = image_files(layout)
    for first, second in layout.duplicates:
        raise FormatError(second, f"two images with the same stem ({first})", code="duplicate-stem")
    for item in sorted(set(layout.junk)):
        report.notice("junk-skipped", item)
    count = len(names) if names is not None else None
    image_root = layout.images if images else None
    units: list[Unit] = []
    for key, label, image in pair(labels, images):
        if image is None:
            assert label is not None
            if options.image_size is None:
                report.problem(
                    FormatError(
                        label,
                        "label file without an image (give --images DIR or --image-size WxH)",
                        code="label-without-image",
                    )
                )
                continue
            file_name = key + ".jpg"
        else:
            assert layout.images is not None
            file_name = os.path.relpath(image, layout.images).replace(os.sep, "/")
        units.append(Unit(label, image, file_name, split_of(key), count, source))
    if not units:
        raise FormatError(path, f"no label files or images found in {layout.kind}", code="missing")
    return paired_plan(units, names, image_root, str(path), report, what="points", points=True)


def _names(layout: Layout, options: ReadOptions) -> tuple[list[str] | None, str | None]:
    """``--names``, else a ``classes.txt`` beside the labels or at the root (one that cannot be read is an
    error naming it), else ``None``."""
    if options.names is not None:
        if len(set(options.names)) != len(options.names):
            raise FormatError(None, "a class name is listed twice in --names", code="duplicate-class-name")
        return list(options.names), "--names"
    names, source, problem = class_list(layout)
    if problem is not None:
        raise FormatError(source, problem, code="bad-class-list")
    return names, source


# ---------------------------------------------------------------------------------------------
# Loading


def load(unit: Unit, options: ReadOptions, report: Report) -> ImageRecord:
    """One label file to an ``ImageRecord`` of points (the size from the image's header, or ``--image-size``)."""
    if unit.image is not None:
        width, height = image_size(unit.image, options.apply_exif_orientation)
    else:
        assert options.image_size is not None
        width, height = options.image_size
    instances: list[Instance] = []
    if unit.label is not None:
        instances = read_points(unit, (width, height), options, report)
    return ImageRecord.trusted(
        file_name=unit.file_name,
        width=width,
        height=height,
        split=unit.split,
        label=None,
        instances=instances,
        attributes={},
    )


def read_points(unit: Unit, size: tuple[int, int], options: ReadOptions, report: Report) -> list[Instance]:
    """The points of one label file, through the scan ``validate`` uses: a bad line raises (strict) or is
    skipped and counted (lenient); duplicate lines are kept and counted."""
    path = unit.label
    assert path is not None
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise FormatError(path, f"cannot read: {exc.strerror or exc}", code="unreadable") from None
    sink = ReaderSink(report, FATAL, tally=KEPT, earliest=True)
    rows = scan(data, path, sink, unit.class_count, unit.class_source, size, options.index_base)
    sink.finish()
    duplicates = sink.tallied["CC401"]
    if duplicates:
        report.notice("duplicate-line", f"{path}: {duplicates} duplicate line(s) kept", count=duplicates)
    values = rows.values
    if sink.rejected:
        keep = [k for k, number in enumerate(rows.numbers) if number not in sink.rejected]
        values = values[keep]
    shift = (
        0.5 - options.index_base
    )  # Point.at_pixel, in bulk: index i (base b) is the coordinate i - b + 0.5
    point, instance = Point.trusted, Instance.trusted
    return [
        instance(
            category_id=int(c) + 1,
            geometry=point(kind="point", x=x + shift, y=y + shift),
            iscrowd=False,
            score=None,
            attributes={},
        )
        for x, y, c in values.tolist()
    ]
