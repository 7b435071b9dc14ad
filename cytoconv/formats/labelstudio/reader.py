"""Label Studio JSON export reading: percent polygons, rectangles, keypoints and brush RLE masks.

One JSON file, a list of tasks (``syntax.py`` says which results are read, and checks them the way
``cytoconv validate`` does). Coordinates are percent of each result's ``original_width`` / ``original_height``:
``x_px = x% * W / 100`` in the corner model, snapped to 9 decimals within 4 ulps (``syntax.pixels``: whole and
half pixels come back exactly; the writer picks percents that give its pixels back). A rectangle with a ``rotation`` is read as the polygon of its rotated corners (Label Studio
turns it clockwise about its top-left corner, in pixels), counted (``rotated-box``); a brush is its alpha
channel's mask (at least 128), as an RLE.

Images: a task's ``data.image`` (an upload ``/data/upload/1/3f2a9c1b-cells.png``, a URL, a local-storage path)
is looked for by its base name under ``--images`` or the JSON's folder (and its ``images/``); one not found as
it is but whose name starts with Label Studio's upload hash (8 hex digits and a dash) is taken without it,
counted (``upload-prefix-stripped``). Sizes come from the results' ``original_width`` / ``original_height``; a
task without results from its image file's header, else ``--image-size``; none of them is an error naming the
task. Categories: ``--names`` (ids from 1), else a task's ``meta.categories`` (what cytoconv writes, so that
ids, order and unused classes survive a round trip) followed by the labels not in it, in order of first
appearance (ids after the highest).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cytoconv.engine.contract import ReadOptions, ReadPlan
from cytoconv.errors import FormatError, Report
from cytoconv.formats import CONTENT, Evidence
from cytoconv.formats.labelstudio.syntax import (
    CODES,
    Region,
    image_name,
    looks_like_labelstudio,
    pixels,
    scan,
    strip_upload_prefix,
)
from cytoconv.formats.labelstudio.writer import LabelStudioWriter, writer
from cytoconv.ir import Box, Category, Geometry, ImageRecord, Instance, Point, Polygon
from cytoconv.problems.sinks import ReaderSink

__all__ = ["LabelStudioUnit", "LabelStudioWriter", "detect", "load", "plan", "writer"]

PEEK = 65536


def detect(path: Path) -> Evidence | None:
    """A ``.json`` file that is a list whose first task has ``data`` and ``annotations`` or ``predictions``
    (a peek at its first 64 KiB): ``CONTENT`` evidence."""
    if not path.is_file() or path.suffix.lower() != ".json":
        return None
    try:
        with path.open("rb") as fh:
            head = fh.read(PEEK)
    except OSError:
        return None
    if not looks_like_labelstudio(head):
        return None
    return Evidence(CONTENT, f"{path.name}: a Label Studio JSON export")


@dataclass(frozen=True)
class LabelStudioUnit:
    """One task's image and its regions (with their category ids), already checked by the scan."""

    path: str
    tid: str
    file_name: str
    width: int
    height: int
    regions: tuple[Region, ...]
    category_ids: tuple[int, ...]  # one per region


def _find(root: Path, name: str) -> str | None:
    """``name`` under ``root`` or ``root/images``, as the path relative to ``root``; None when absent."""
    for where in ("", "images/"):
        if (root / (where + name)).is_file():
            return where + name
    return None


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """Scan the export (stopping or skipping on what ``validate`` calls errors), find each task's image and
    size, and make one unit per readable task."""
    if not path.exists():
        raise FormatError(path, "no such file", code="missing")
    if path.is_dir():
        raise FormatError(path, "a Label Studio export is one JSON file, not a folder", code="usage")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FormatError(path, f"cannot read: {exc.strerror or exc}", code="unreadable") from None
    where = str(path)
    export = scan(
        data,
        where,
        ReaderSink(report, CODES),
        names=options.names,
        tolerance=100 * options.coordinate_tolerance,
        predictions=options.predictions,
    )
    del data
    if export is None:
        raise FormatError(
            path, "not a readable Label Studio export (see the problems skipped)", code="bad-structure"
        )
    for type_, n in sorted(export.ignored.items()):
        report.notice("element-ignored", f"{where}: {n} result(s) of type {type_!r} not read", count=n)
    if export.not_read:
        report.notice(
            "annotation-not-read",
            f"{where}: {export.not_read} annotation(s) not read (cancelled, another annotator's, or predictions"
            " without --predictions; the first annotation of each task is read)",
            count=export.not_read,
        )
    if export.extra_labels:
        report.notice(
            "attribute-dropped",
            f"{where}: {export.extra_labels} label(s) beyond a region's first not kept",
            count=export.extra_labels,
        )
    root = Path(options.images) if options.images else path.parent
    units: list[LabelStudioUnit] = []
    stripped = 0
    for task in export.tasks:
        name, relative = image_name(task.image)
        if not name:
            report.problem(
                FormatError(path, f"task {task.tid}: data.image names no file", code="bad-structure")
            )
            continue
        found = _find(root, name)
        if found is None and not relative:
            bare = strip_upload_prefix(name)
            if bare is not None:
                stripped += 1
                name = bare
                found = _find(root, name)
        file_name = found or name
        width, height = task.width, task.height
        if width is None or height is None:
            size = _image_size(root / file_name, options, path, task.tid) if found else None
            if size is None:
                size = (options.image_size[0], options.image_size[1]) if options.image_size else None
            if size is None:
                report.problem(
                    FormatError(
                        path,
                        f"task {task.tid}: no original_width/original_height and no image {name!r} found under "
                        f"{root} (give --images DIR or --image-size WxH)",
                        code="no-image-size",
                    )
                )
                continue
            width, height = size
        units.append(LabelStudioUnit(where, task.tid, file_name, width, height, task.regions, ()))
    if stripped:
        report.notice(
            "upload-prefix-stripped",
            f"{where}: {stripped} image name(s) read without Label Studio's upload hash prefix",
            count=stripped,
        )
    if options.names is not None:
        pairs = [(k + 1, n) for k, n in enumerate(options.names)]
    else:
        pairs = list(export.declared or [])
        known = {n for _, n in pairs}
        top = max((i for i, _ in pairs), default=0)
        pairs += [(top + k + 1, n) for k, n in enumerate(n for n in export.labels if n not in known)]
    categories = [Category.trusted(id=i, name=n, supercategory=None) for i, n in pairs]
    ids = {n: i for i, n in pairs}
    units = [replace(u, category_ids=tuple(ids[r.label] for r in u.regions)) for u in units]
    return ReadPlan(
        categories=categories,
        units=units,
        image_root=str(root),
        info={"source": where},
        points=any(r.kind == "point" for u in units for r in u.regions),
    )


def _image_size(image: Path, options: ReadOptions, path: Path, tid: str) -> tuple[int, int] | None:
    from cytoconv.engine.files import image_size

    try:
        return image_size(image, options.apply_exif_orientation)
    except FormatError as error:
        raise FormatError(path, f"task {tid}: image {image}: {error.message}", code="bad-image") from None


def _rotated(x: float, y: float, w: float, h: float, degrees: float) -> np.ndarray:
    """The corners of a box turned ``degrees`` clockwise (y down) about its top-left corner."""
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    local = np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])
    return np.column_stack((x + local[:, 0] * c - local[:, 1] * s, y + local[:, 0] * s + local[:, 1] * c))


def load(unit: LabelStudioUnit, options: ReadOptions, report: Report) -> ImageRecord:
    """One task's record (in a worker): percent to pixels, brushes decoded."""
    from cytoconv.formats.labelstudio import brush

    width, height = unit.width, unit.height
    instances = []
    for region, category_id in zip(unit.regions, unit.category_ids):
        geometry: Geometry
        if region.kind == "polygon":
            flat = np.asarray(region.numbers, dtype=np.float64)
            ring = np.column_stack((pixels(flat[0::2], width), pixels(flat[1::2], height)))
            geometry = Polygon.trusted(kind="polygon", rings=[ring], holes=[False])
        elif region.kind == "box":
            x, y, w, h = (
                float(pixels(region.numbers[0], width)),
                float(pixels(region.numbers[1], height)),
                float(pixels(region.numbers[2], width)),
                float(pixels(region.numbers[3], height)),
            )
            if region.rotation:
                report.notice(
                    "rotated-box",
                    f"{unit.path}: task {unit.tid}, result {region.rid}: a box turned {region.rotation:g} degrees, "
                    "read as the polygon of its corners",
                )
                ring = _rotated(x, y, w, h, region.rotation)
                geometry = Polygon.trusted(kind="polygon", rings=[ring], holes=[False])
            else:
                geometry = Box.trusted(kind="box", x=x, y=y, w=w, h=h)
        elif region.kind == "point":
            geometry = Point.trusted(
                kind="point",
                x=float(pixels(region.numbers[0], width)),
                y=float(pixels(region.numbers[1], height)),
            )
        else:
            from cytoconv.geometry.raster import encode

            mask = brush.decode_mask(region.rle or b"", height, width)
            if not mask.any():
                report.notice(
                    "empty-mask", f"{unit.path}: task {unit.tid}, result {region.rid}: an empty brush"
                )
                continue
            geometry = encode(mask)
        instances.append(
            Instance.trusted(
                category_id=category_id,
                geometry=geometry,
                iscrowd=False,
                score=region.score,
                attributes={},
            )
        )
    return ImageRecord.trusted(
        file_name=unit.file_name,
        width=width,
        height=height,
        split=None,
        label=None,
        instances=instances,
        attributes={},
    )
