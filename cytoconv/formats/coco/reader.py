"""COCO JSON reading: polygons, RLE (compressed or not), box-only annotations and points (keypoints).

Read: one JSON file, or a folder holding one per split (``annotations/instances_<split>.json`` or
Roboflow's ``<split>/_annotations.coco.json``). Ids may start at 0, categories may be sparse or unused;
all of that is kept. Each file's images are found where the layouts put them (``layout.image_dir``), and
``file_name`` is made relative to the plan's image root, so that ``draw``, ``crop`` and ``resample`` find
them. In a folder of the COCO download, ``captions_*`` (no objects) and, beside ``instances_*``, the
``person_keypoints_*``, ``stuff_*`` and ``panoptic_*`` files are not read (a ``file-not-read`` notice), unless a
keypoints file holds points (``layout.holds_points``). An annotation without a segmentation whose ``keypoints``
hold exactly one visible keypoint is a point, at the keypoint's x y + 0.5 (COCO keypoints are pixel indices, as
detectron2 and pycocotools' OKS take them); several visible keypoints (a skeleton) have no form in the model:
the annotation is read as its segmentation, else its bbox, as before. The object fields the model does not keep
(keypoints beside a segmentation, ``skeleton``) are named in a ``field-dropped`` notice. ``plan`` scans each file with the syntax layer that ``cytoconv validate`` uses
(``syntax.scan``) and stops (strict) or skips and counts (lenient) on exactly the problems the validator calls
errors there; ``load`` only builds the records, in the workers. The writer is in ``writer.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cytoconv.engine.contract import ReadOptions, ReadPlan
from cytoconv.engine.files import is_junk
from cytoconv.errors import FormatError, Report, SkipUnit
from cytoconv.formats import CONTENT, LAYOUT, Evidence
from cytoconv.formats.coco.layout import SPLIT_PREFIXES, image_dir, not_read
from cytoconv.formats.coco.stream import Source, read_back
from cytoconv.formats.coco.syntax import (
    BOX,
    CODES,
    NO_ID,
    POINT,
    POLYGON,
    VISIBILITY,
    Coco,
    looks_like_coco,
    parse_json,
    point_visibility,
    scan,
    visible_keypoints,
)
from cytoconv.formats.coco.writer import CocoWriter, writer
from cytoconv.ir import Box, Category, Geometry, ImageRecord, Instance, Point, Polygon, Rle
from cytoconv.problems import PROBLEMS
from cytoconv.problems.sinks import ReaderSink

__all__ = ["CocoUnit", "CocoWriter", "detect", "load", "load_json", "plan", "writer"]

# one verdict: the reader stops on (or skips) what the shared scan reports at error level
FATAL = frozenset(code for code in CODES if PROBLEMS[code].severity == "error")


def load_json(path: Path) -> Any:
    """A JSON file's document (BOM allowed), or FormatError ``unreadable`` / ``not-well-formed`` with the line
    and column: the one JSON load of COCO, also used by the JSON manifest reader."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FormatError(path, f"cannot read: {exc.strerror or exc}", code="unreadable") from None
    _, doc = parse_json(data, str(path), ReaderSink(Report(strict=True), {"CC002"}))
    return doc


def _coco_files(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d != "__MACOSX" and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".json") and not is_junk(name) and looks_like_coco(os.path.join(dirpath, name)):
                found.append(Path(dirpath, name))
    return found


def _is_layout_file(json_path: Path) -> bool:
    """A file named and placed as the tools write it: ``annotations/instances_val2017.json`` (and the
    other prefixes the COCO download and CVAT use), or Roboflow's ``_annotations.coco.json``."""
    if json_path.name == "_annotations.coco.json":
        return True
    return json_path.parent.name == "annotations" and json_path.stem.startswith(SPLIT_PREFIXES)


def detect(path: Path) -> Evidence | None:
    """A COCO file (by the sniffer ``cytoconv validate`` uses too), or a folder holding one and no ``labels/``;
    the layout of the COCO download or of a Roboflow export is ``LAYOUT`` evidence, any other COCO file
    ``CONTENT``."""
    if path.is_file():
        if path.suffix != ".json" or not looks_like_coco(str(path)):
            return None
        if _is_layout_file(path):
            return Evidence(LAYOUT, f"{path.parent.name}/{path.name}: the COCO layout")
        return Evidence(CONTENT, f"{path.name}: a COCO JSON file")
    if not path.is_dir():
        return None
    files = _coco_files(path)
    if not files:
        return None
    layout = [f for f in files if _is_layout_file(f)]
    if layout:
        shown = layout[0].relative_to(path).as_posix()
        return Evidence(LAYOUT, f"{shown}: the COCO layout")
    if (path / "labels").is_dir():
        return None
    return Evidence(CONTENT, f"{files[0].relative_to(path).as_posix()}: a COCO JSON file")


def _files_to_read(files: list[Path], report: Report) -> list[Path]:
    """The files of a folder that hold its objects: captions files never, and beside an ``instances_*``
    file the other views of the same images; each one left out is a ``file-not-read`` notice."""
    skip = not_read([str(f) for f in files])
    for f in files:
        if str(f) in skip:
            report.notice("file-not-read", f"{f}: not read (captions, or another view of instances_*.json)")
    return [f for f in files if str(f) not in skip]


def _dropped_fields(coco: Coco, path: str, report: Report) -> None:
    """One ``field-dropped`` notice per file naming every field left behind, with how many entries held it."""
    if not coco.extra_fields:
        return
    shown = ", ".join(f"{where}.{key} ({n:,})" for (where, key), n in sorted(coco.extra_fields.items()))
    report.notice("field-dropped", f"{path}: fields not kept: {shown}", count=sum(coco.extra_fields.values()))


def _split_name(json_path: Path, several: bool) -> str | None:
    stem = json_path.stem
    for prefix in SPLIT_PREFIXES:
        if stem.startswith(prefix) and stem[len(prefix) :].strip("._"):
            return stem[len(prefix) :].strip("._")
    if several:
        return json_path.parent.name if json_path.parent.name != "annotations" else stem
    return None


@dataclass(frozen=True)
class CocoObjects:
    """The readable annotations of one COCO file, grouped by image (file order within an image): where each
    one's JSON is in the file, its category and what it is read as. One object per file, shared by its units:
    a few numbers per annotation, whatever the file's size; the workers read the geometry back themselves."""

    path: str
    offsets: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    category_ids: npt.NDArray[np.int64]
    kinds: npt.NDArray[np.int8]


@dataclass(frozen=True)
class CocoUnit:
    """One image and its readable annotations, already checked by the scan: ``objects[start:stop]``."""

    path: str
    file_name: str
    width: int
    height: int
    objects: CocoObjects
    start: int
    stop: int
    prefix: str
    split: str | None


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """Scan every COCO file (in the parent): categories merged across files, one unit per usable image, its
    ``file_name`` made relative to the image root common to every file's image folder."""
    if not path.exists():
        raise FormatError(path, "no such file or folder", code="missing")
    files = [path] if path.is_file() else _files_to_read(_coco_files(path), report)
    if not files:
        raise FormatError(path, "no COCO JSON file found", code="missing")
    several = len(files) > 1
    images_root = str(options.images) if options.images else None
    categories: dict[int, Category] = {}
    per_file: list[tuple[Path, list[CocoUnit]]] = []  # each file's image folder and its units
    info: dict[str, Any] = {}
    points = False
    for json_path in files:
        where = str(json_path)
        try:
            coco = scan(Source(where), where, ReaderSink(report, FATAL), every_problem=False)
        except OSError as exc:
            raise FormatError(json_path, f"cannot read: {exc.strerror or exc}", code="unreadable") from None
        if coco is None:  # lenient: the file is counted, and left out
            continue
        _dropped_fields(coco, where, report)
        if coco.info and not info:
            info = coco.info
        cats = coco.categories
        here: set[int] = set()
        for k, (cid, name, sup) in enumerate(zip(cats.ids, cats.names, cats.supercategories)):
            if k in coco.rejected_categories or cid is None or name is None:
                continue
            here.add(cid)
            new = Category.trusted(id=cid, name=name, supercategory=sup)
            old = categories.setdefault(cid, new)
            if old.name != new.name:
                raise FormatError(
                    json_path,
                    f"category {cid} is {new.name!r} here but {old.name!r} in an earlier file",
                    code="category-mismatch",
                )
        objects, spans = _objects_by_image(coco, here, where, report)
        points = points or POINT in coco.annotations.kind
        split = _split_name(json_path, several)
        images = coco.images
        none = (0, 0)
        units = [
            CocoUnit(where, file_name, width, height, objects, *spans.get(image_id, none), "", split)
            for k, (image_id, file_name, width, height) in enumerate(
                zip(images.ids, images.file_names, images.widths, images.heights)
            )
            if not (
                k in coco.rejected_images
                or image_id is None
                or file_name is None
                or width is None
                or height is None
            )
        ]
        folder = Path(image_dir(where, images.file_names, images_root)).resolve()
        per_file.append((folder, units))
        del coco, objects
    if not per_file:
        raise FormatError(path, "no readable COCO file (see the problems skipped)", code="bad-structure")
    common = Path(os.path.commonpath([str(folder) for folder, _ in per_file]))
    all_units: list[CocoUnit] = []
    for folder, units in per_file:
        prefix = folder.relative_to(common).as_posix() if folder != common else ""
        all_units.extend([replace(u, prefix=prefix) for u in units] if prefix else units)
    return ReadPlan(
        categories=sorted(categories.values(), key=lambda c: c.id),
        units=all_units,
        image_root=str(common),
        info=info,
        points=points,
    )


def _objects_by_image(
    coco: Coco, categories: set[int], path: str, report: Report
) -> tuple[CocoObjects, dict[int, tuple[int, int]]]:
    """The readable annotations, grouped by image id, in file order within each image: those the scan found no
    problem with, whose category was read (lenient: one with a rejected category entry is skipped and counted);
    and each image id's ``[start, stop)`` among them."""
    cols = coco.annotations
    kinds = np.frombuffer(cols.kind, dtype=np.int8)
    image_ids = np.frombuffer(cols.image_ids, dtype=np.int64)
    category_ids = np.frombuffer(cols.category_ids, dtype=np.int64)
    readable = (kinds >= 0) & (image_ids != NO_ID) & (category_ids != NO_ID)
    if coco.rejected_annotations:
        readable[np.fromiter(coco.rejected_annotations, dtype=np.int64)] = False
    known = np.fromiter(categories, dtype=np.int64, count=len(categories))
    unread = readable & ~np.isin(category_ids, known)
    for k in np.flatnonzero(unread).tolist():
        report.problem(
            FormatError(
                path,
                f"annotation {cols.id_of(k)}: category {cols.category_ids[k]} could not be read",
                code="bad-structure",
            )
        )
    kept = np.flatnonzero(readable & ~unread)
    kept = kept[np.argsort(image_ids[kept], kind="stable")]
    ids, firsts, counts = np.unique(image_ids[kept], return_index=True, return_counts=True)
    spans = {
        image_id: (first, first + count)
        for image_id, first, count in zip(ids.tolist(), firsts.tolist(), counts.tolist())
    }
    objects = CocoObjects(
        path,
        np.frombuffer(cols.offsets, dtype=np.int64)[kept],
        np.frombuffer(cols.lengths, dtype=np.int64)[kept],
        category_ids[kept],
        kinds[kept],
    )
    return objects, spans


def load(unit: CocoUnit, options: ReadOptions, report: Report) -> ImageRecord:
    """One image's record from its unit (in a worker): its annotations read back from the file and made into
    arrays, nothing left to check."""
    import orjson

    height, width = unit.height, unit.width
    instances = []
    objects, start, stop = unit.objects, unit.start, unit.stop
    raws = read_back(
        Source(objects.path), objects.offsets[start:stop].tolist(), objects.lengths[start:stop].tolist()
    )
    offsets = objects.offsets[start:stop].tolist()
    for offset, category_id, kind, raw in zip(
        offsets, objects.category_ids[start:stop].tolist(), objects.kinds[start:stop].tolist(), raws
    ):
        try:
            ann = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:  # what the scan did not decode: 1e999 beyond a double, "\ud800"
            line, column = Source(objects.path).line_column(offset + exc.pos)
            report.problem(
                FormatError(
                    Path(objects.path),
                    f"not valid JSON: {exc.msg} (column {column}; image {unit.file_name})",
                    line=line,
                    code="not-well-formed",
                )
            )
            raise SkipUnit(unit.file_name) from None
        attributes = ann.get("attributes")
        geometry: Geometry
        if kind == POLYGON:
            rings = [np.asarray(part, dtype=np.float64).reshape(-1, 2) for part in ann["segmentation"]]
            geometry = Polygon.trusted(rings=rings, holes=[False] * len(rings), kind="polygon")
        elif kind == BOX:
            box = ann["bbox"]
            geometry = Box.trusted(
                kind="box", x=float(box[0]), y=float(box[1]), w=float(box[2]), h=float(box[3])
            )
        elif kind == POINT:  # a keypoint is a pixel index: the pixel's centre is index + 0.5
            keypoints = ann["keypoints"]
            x, y = visible_keypoints(keypoints)[0]
            geometry = Point.trusted(kind="point", x=float(x) + 0.5, y=float(y) + 0.5)
            if point_visibility(keypoints) != 2:  # labelled but not visible: kept for the writers
                attributes = {**(attributes if isinstance(attributes, dict) else {}), VISIBILITY: 1}
        else:
            geometry = Rle(height=height, width=width, counts=ann["segmentation"]["counts"])
        score = ann.get("score")
        instances.append(
            Instance.trusted(
                category_id=category_id,
                geometry=geometry,
                iscrowd=bool(ann.get("iscrowd", 0)),
                score=float(score) if isinstance(score, (int, float)) else None,
                attributes=attributes if isinstance(attributes, dict) else {},
            )
        )
    name = f"{unit.prefix}/{unit.file_name}" if unit.prefix else unit.file_name
    return ImageRecord.trusted(
        file_name=name,
        width=width,
        height=height,
        split=unit.split,
        label=None,
        instances=instances,
        attributes={},
    )
