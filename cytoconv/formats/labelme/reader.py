"""LabelMe JSON: one file per image, read into the model (written from the format's description; labelme is
GPL-3 and none of it is used).

Coordinates are continuous pixels with the origin at the top-left corner of the image, as COCO's: they are
read as they are (the corner model, no shift), points included. Shapes:

- ``polygon`` (and a shape without ``shape_type``, as files before labelme 3 have): a polygon;
- ``rectangle``: two opposite corners, in either order: a box;
- ``circle``: the centre and a point on the rim: the exact pixel outline of the disc (the pixels whose centres
  are inside or on the circle, traced along pixel edges), counted (``shape-as-outline``);
- ``point``: a point, as written;
- ``mask``: a base64 PNG of the crop ``[ymin:ymax+1, xmin:xmax+1]``, where the points are
  ``[[xmin, ymin], [xmax, ymax]]`` (the first and last pixel of the mask's box, inclusive, as labelme 5.x
  writes SAM masks): placed into the whole image, an RLE;
- ``line``, ``linestrip``: no area, not read, counted (``line-skipped``).

Shapes of one image with the same ``group_id`` and label are the parts of one object (polygons, rectangles and
circles: one polygon of several parts; with a mask among them: the RLE of their union); a point in a group
stays a point of its own (``ungrouped``). A ``group_id`` on a shape alone is kept as the attribute ``group_id``;
non-empty ``flags`` and ``description`` are kept as attributes of the object (of the first shape of a group),
the file's own ``flags`` as an attribute of the image.

Images: ``imagePath`` relative to the JSON file's folder (``\\`` read as ``/``, as labelme on Windows writes
it), else an image beside the JSON file with its stem; with ``--images DIR``: ``imagePath`` below DIR, its
file name, or the JSON file's stem anywhere below DIR. The image root is the folder common to all images, and
each record's ``file_name`` is relative to it. The size is ``imageWidth`` x ``imageHeight``, checked against
the image's header when the image is found (``size-mismatch``, CC405, as VOC); ``imageData`` is never decoded
then. When the image file is missing, the size is checked against ``imageData``'s header instead (when there
is one; its pixels are still not decoded) and the image is named by ``imagePath`` (``size-from-xml``).

Categories: ``--names`` in order, else a ``labels.txt`` beside the files (the label list labelme itself takes,
one label a line; cytoconv writes one; ``__ignore__`` and ``_background_``, the first lines of labelme's
examples, are not classes), else the labels in order of first appearance over the files in sorted path order
(the labels of skipped lines do not make a category). A label outside ``--names`` or ``labels.txt`` is
``unknown-class``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cytoconv.engine.classlists import read_names
from cytoconv.engine.contract import ReadOptions, ReadPlan
from cytoconv.engine.files import image_size, is_image_name, walk_files
from cytoconv.errors import FormatError, Report, SkipUnit
from cytoconv.formats import CONTENT, Evidence
from cytoconv.formats.labelme.syntax import (
    IGNORED_LABELS,
    LABELS_FILE,
    LINE_TYPES,
    LabelmeDocument,
    Shape,
    looks_like_labelme,
    scan,
    scan_labels,
)
from cytoconv.formats.labelme.writer import writer
from cytoconv.ir import Box, Category, Geometry, ImageRecord, Instance, Point, Polygon, Rle
from cytoconv.problems.sinks import ReaderSink

__all__ = ["detect", "load", "plan", "writer"]

FATAL = ("CC002", "CC003", "CC104", "CC202")
PEEK_FILES = 5  # a folder is LabelMe when one of its first few JSON files is
TOP_FOLDERS = 8  # detection looks into this many sub-folders of a folder without JSON files


def _json_files(folder: str) -> tuple[list[str], list[str]]:
    """A folder's ``.json`` files and its sub-folders, sorted (one listing)."""
    try:
        with os.scandir(folder) as entries:
            listed = sorted((e.name, e.is_dir()) for e in entries if not e.name.startswith("."))
    except OSError:
        return [], []
    files = [os.path.join(folder, n) for n, is_dir in listed if not is_dir and n.lower().endswith(".json")]
    return files, [os.path.join(folder, n) for n, is_dir in listed if is_dir]


def detect(path: Path) -> Evidence | None:
    """``CONTENT`` for one LabelMe JSON file, or a folder one of whose first JSON files is LabelMe (the folder's
    own, else those of its first ``TOP_FOLDERS`` sub-folders: ``ann/`` beside ``img/``), judged from a peek at
    each file's first and last bytes (``looks_like_labelme``): a COCO file is not. Cheap: a few listings and
    at most ``PEEK_FILES`` peeks."""
    if path.is_file():
        if path.suffix.lower() == ".json" and looks_like_labelme(path):
            return Evidence(CONTENT, f"{path.name}: a LabelMe JSON file")
        return None
    if not path.is_dir():
        return None
    files, folders = _json_files(str(path))
    if not files:
        for sub in folders[:TOP_FOLDERS]:
            files.extend(_json_files(sub)[0][:PEEK_FILES])
    for f in files[:PEEK_FILES]:
        if looks_like_labelme(f):
            return Evidence(CONTENT, f"{os.path.relpath(f, path)}: LabelMe JSON, one file per image")
    return None


@dataclass
class _Context:
    """What every unit of one read shares."""

    ids: dict[str, int]
    names_source: str


@dataclass(frozen=True)
class LabelmeUnit:
    """One JSON file, with its image (None: missing) and the record's file name."""

    json: str
    image: str | None
    file_name: str
    context: _Context = field(compare=False, repr=False)


def _index(folder: Path) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """The images below ``folder`` by relative path, by file name and by stem (the first in sorted order)."""
    by_rel: dict[str, str] = {}
    by_name: dict[str, str] = {}
    by_stem: dict[str, str] = {}
    for f in walk_files(folder):
        if is_image_name(f):
            rel = os.path.relpath(f, folder).replace(os.sep, "/")
            by_rel[rel] = f
            name = os.path.basename(f)
            by_name.setdefault(name, f)
            by_stem.setdefault(os.path.splitext(name)[0], f)
    return by_rel, by_name, by_stem


def _beside(json_path: str, listings: dict[str, dict[str, str]]) -> str | None:
    """An image beside the JSON file with its stem (its folder listed once)."""
    folder = os.path.dirname(json_path)
    if folder not in listings:
        found: dict[str, str] = {}
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            names = []
        for n in names:
            if is_image_name(n):
                found.setdefault(os.path.splitext(n)[0], os.path.join(folder, n))
        listings[folder] = found
    return listings[folder].get(os.path.splitext(os.path.basename(json_path))[0])


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """The JSON files (parsed for their labels and ``imagePath``), their images, the image root and the
    categories."""
    if not path.exists():
        raise FormatError(path, "no such file or folder", code="missing")
    path = path.resolve()
    junk: list[str] = []
    if path.is_file():
        files = [str(path)]
    else:
        files = [f for f in walk_files(path, junk) if f.lower().endswith(".json")]
    for item in sorted(set(junk)):
        report.notice("junk-skipped", item)
    images_dir = options.images.resolve() if options.images is not None else None
    index = _index(images_dir) if images_dir is not None else None
    listings: dict[str, dict[str, str]] = {}
    labels_seen: dict[str, None] = {}
    points = False
    found: list[tuple[str, str | None, str]] = []  # json, image, where the image is (or would be)
    for f in files:
        try:
            data = Path(f).read_bytes()
        except OSError as exc:
            report.problem(FormatError(f, f"cannot read: {exc.strerror or exc}", code="unreadable"))
            continue
        scanned = scan_labels(data)
        if scanned is None:  # a JSON object that is not LabelMe (a class list, a config) beside the files
            report.notice("file-not-read", f"{f}: not a LabelMe file (no shapes, no imagePath)")
            continue
        labels_seen.update(dict.fromkeys(scanned.labels))
        image_path = scanned.image_path
        points = points or scanned.points
        rel = image_path.replace("\\", "/") if image_path else None
        image: str | None = None
        if index is not None and images_dir is not None:
            by_rel, by_name, by_stem = index
            stem = os.path.splitext(os.path.basename(f))[0]
            image = (
                (by_rel.get(os.path.normpath(rel).replace(os.sep, "/")) if rel else None)
                or (by_name.get(os.path.basename(rel)) if rel else None)
                or by_stem.get(stem)
            )
            target = image or os.path.join(str(images_dir), os.path.basename(rel or stem + ".jpg"))
        else:
            target = os.path.normpath(os.path.join(os.path.dirname(f), rel)) if rel else ""
            if target and os.path.isfile(target):
                image = target
            else:
                image = _beside(f, listings)
                if image is not None:
                    target = image
                elif not target:
                    target = os.path.splitext(f)[0] + ".jpg"
                    report.notice("filename-guessed", f"{f}: no imagePath and no image: named {target}")
        found.append((f, image, target))
    if not found and not files:
        raise FormatError(path, "no LabelMe JSON file found", code="missing")
    labels_file = (path.parent if path.is_file() else path) / LABELS_FILE
    if options.names is not None:
        names, source = list(options.names), "--names"
    elif labels_file.is_file():
        listed, problem = read_names(labels_file)
        if listed is None:
            raise FormatError(labels_file, problem or "no class names in this file", code="bad-class-list")
        names, source = [n for n in listed if n not in IGNORED_LABELS], str(labels_file)
    else:
        names, source = list(labels_seen), "the LabelMe files"
    if len(set(names)) != len(names):
        raise FormatError(
            path, "a class name is listed twice in the class names", code="duplicate-class-name"
        )
    if options.images is not None:
        image_root = str(options.images.resolve())
    elif found:
        image_root = os.path.commonpath([os.path.dirname(t) for _, _, t in found])
    else:
        image_root = str(path.parent if path.is_file() else path)
    context = _Context(ids={n: i + 1 for i, n in enumerate(names)}, names_source=source)
    units = [
        LabelmeUnit(f, image, os.path.relpath(target, image_root).replace(os.sep, "/"), context)
        for f, image, target in found
    ]
    return ReadPlan(
        categories=[Category.trusted(id=i + 1, name=n, supercategory=None) for i, n in enumerate(names)],
        units=units,
        image_root=image_root,
        info={"source": str(path), "names_given": options.names is not None},
        points=points,
    )


# ---------------------------------------------------------------------------------------------
# Reading one file


def circle_outline(cx: float, cy: float, px: float, py: float) -> Polygon | None:
    """The exact pixel outline of a circle given by its centre and a point on its rim: the pixels whose centres
    are inside or on the circle, traced along pixel edges; None when no pixel centre is inside."""
    from cytoconv.geometry.outline import trace

    r = float(np.hypot(px - cx, py - cy))
    x0, y0 = int(np.floor(cx - r - 0.5)), int(np.floor(cy - r - 0.5))
    x1, y1 = int(np.ceil(cx + r + 0.5)), int(np.ceil(cy + r + 0.5))
    xs = np.arange(x0, x1 + 1, dtype=np.float64) + 0.5
    ys = np.arange(y0, y1 + 1, dtype=np.float64) + 0.5
    inside = (xs[None, :] - cx) ** 2 + (ys[:, None] - cy) ** 2 <= r * r
    if not inside.any():
        return None
    return trace(inside, x0, y0)


def _geometry(shape: Shape, size: tuple[int, int], path: str, report: Report) -> Geometry | None:
    """One shape's geometry (``size``: the image's width and height, which a mask is placed into)."""
    pts = shape.points
    kind = shape.shape_type
    if kind == "polygon":
        return Polygon.trusted(kind="polygon", rings=[pts.copy()], holes=[False])
    if kind == "rectangle":
        (xa, ya), (xb, yb) = pts
        return Box.trusted(
            kind="box",
            x=float(min(xa, xb)),
            y=float(min(ya, yb)),
            w=float(abs(xb - xa)),
            h=float(abs(yb - ya)),
        )
    if kind == "point":
        return Point.trusted(kind="point", x=float(pts[0, 0]), y=float(pts[0, 1]))
    if kind == "circle":
        outline = circle_outline(*pts[0], *pts[1])
        if outline is None:
            report.notice(
                "empty-mask", f"{path}: shapes[{shape.index}]: a circle round no pixel centre, not read"
            )
            return None
        report.notice("shape-as-outline", f"{path}: shapes[{shape.index}]: circle read as its pixel outline")
        return outline
    assert kind == "mask" and shape.mask is not None
    from cytoconv.geometry.raster import encode

    width, height = size
    full = np.zeros((height, width), dtype=bool)
    x0, y0 = int(pts[0, 0]), int(pts[0, 1])
    crop = shape.mask[: max(0, height - y0), : max(0, width - x0)]  # an image smaller than declared (lenient)
    full[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    if not shape.mask.any():
        report.notice("empty-mask", f"{path}: shapes[{shape.index}]: an empty mask, not read")
        return None
    return encode(full)


def _join(parts: list[Geometry], height: int, width: int) -> Geometry:
    """The parts of one group as one geometry: rings of polygons and boxes as one polygon, or with a mask
    among them the RLE of the union."""
    if len(parts) == 1:
        return parts[0]
    if any(isinstance(g, Rle) for g in parts):
        from cytoconv.geometry.raster import encode, union

        areas = [g for g in parts if not isinstance(g, Point)]  # points are never grouped
        return encode(union(areas, height, width))
    from cytoconv.geometry.raster import box_ring

    rings, holes = [], []
    for g in parts:
        if isinstance(g, Box):
            rings.append(box_ring(g))
            holes.append(False)
        else:
            assert isinstance(g, Polygon)
            rings.extend(g.rings)
            holes.extend(g.holes)
    return Polygon.trusted(kind="polygon", rings=rings, holes=holes)


def _attributes(shape: Shape, lone_group: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if shape.flags:
        attributes["flags"] = dict(shape.flags)
    if shape.description:
        attributes["description"] = shape.description
    if lone_group and shape.group_id is not None:
        attributes["group_id"] = shape.group_id
    return attributes


def _check_image(
    unit: LabelmeUnit, doc: LabelmeDocument, options: ReadOptions, report: Report
) -> tuple[int, int]:
    """The image's size: the declared one, checked against the image's header (or ``imageData``'s when the file
    is missing); a disagreement is CC405 (strict: stop; lenient: the image's size, counted)."""
    declared = (doc.width, doc.height)
    path = unit.json
    actual: tuple[int, int] | None = None
    what = ""
    if unit.image is not None:
        try:
            actual = image_size(unit.image, options.apply_exif_orientation)
        except FormatError as error:
            report.problem(error)
            raise SkipUnit(path) from None
        what = unit.image
    else:
        from cytoconv.formats.labelme.syntax import image_data_size

        if doc.image_data is not None:
            actual = image_data_size(doc.image_data)
            if actual is None:
                report.problem(FormatError(path, "imageData is not a base64 image", code="bad-structure"))
                raise SkipUnit(path)
            what = "imageData"
        report.notice("size-from-xml", f"{path}: no image file found; the size is imageWidth x imageHeight")
    if actual is not None and actual != declared:
        message = (
            f"imageWidth x imageHeight is {declared[0]}x{declared[1]}, {what} is {actual[0]}x{actual[1]}"
        )
        if report.strict:
            raise FormatError(path, message, code="size-mismatch")
        report.notice("size-mismatch", f"{path}: {message}; the image's size is used")
        return actual
    return declared


def load(unit: LabelmeUnit, options: ReadOptions, report: Report) -> ImageRecord:
    """One JSON file to an ``ImageRecord`` through the syntax layer ``validate`` uses: a problem of the file
    skips the image (lenient) or stops the run (strict), one of a shape skips the shape."""
    path = unit.json
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        report.problem(FormatError(path, f"cannot read: {exc.strerror or exc}", code="unreadable"))
        raise SkipUnit(path) from None
    sink = ReaderSink(report, FATAL)
    doc = scan(data, path, sink, unit.context.ids, unit.context.names_source)
    if doc is None:
        raise SkipUnit(path)
    width, height = _check_image(unit, doc, options, report)
    ids = unit.context.ids
    groups: dict[tuple[int, str], list[Shape]] = {}
    order: list[list[Shape]] = []
    lines = 0
    for shape in doc.shapes:
        if not shape.ok:
            continue
        if shape.shape_type in LINE_TYPES:
            lines += 1
            continue
        if shape.group_id is None or shape.shape_type == "point":
            if shape.group_id is not None:
                key = (shape.group_id, shape.label)
                if key in groups:
                    report.notice(
                        "ungrouped", f"{path}: shapes[{shape.index}]: a point in a group, kept apart"
                    )
            order.append([shape])
            continue
        key = (shape.group_id, shape.label)
        if key in groups:
            groups[key].append(shape)
        else:
            groups[key] = [shape]
            order.append(groups[key])
    if lines:
        report.notice(
            "line-skipped", f"{path}: {lines} line/linestrip shape(s), which have no area", count=lines
        )
    instances = []
    for members in order:
        parts = [g for g in (_geometry(s, (width, height), path, report) for s in members) if g is not None]
        if not parts:
            continue
        first = members[0]
        instances.append(
            Instance.trusted(
                category_id=ids[first.label],
                geometry=_join(parts, height, width),
                iscrowd=False,
                score=None,
                attributes=_attributes(first, len(members) == 1),
            )
        )
    return ImageRecord.trusted(
        file_name=unit.file_name,
        width=width,
        height=height,
        split=None,
        label=None,
        instances=instances,
        attributes={"flags": dict(doc.flags)} if doc.flags else {},
    )
