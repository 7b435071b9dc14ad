"""COCO JSON: polygons, RLE (compressed or not) and box-only annotations.

Read: one JSON file, or a folder holding one per split (``annotations/instances_<split>.json`` or
Roboflow's ``<split>/_annotations.coco.json``). Ids may start at 0, categories may be sparse or unused;
all of that is kept. Written: ids from 1 in a deterministic order, ``area`` from the pycocotools
raster of the segmentation, ``iscrowd`` 0 unless the data says otherwise. The file is streamed
(annotations first, then images, then categories: key order means nothing to COCO readers), so
memory stays flat however many images there are.
"""

from __future__ import annotations

import gc
import math
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from cytoconv.engine.atomic import atomic_file
from cytoconv.engine.contract import ReadOptions, ReadPlan, WriteOptions, label_as_box
from cytoconv.engine.files import is_junk
from cytoconv.errors import FormatError, Report
from cytoconv.ir import Box, Category, ImageRecord, Instance, Polygon, Rle

COCO_KEYS = ("images", "annotations", "categories")
COCO_LIST = re.compile(rb'"(images|annotations|categories)"\s*:\s*\[')


# ---------------------------------------------------------------------------------------------
# Reading


def load_json(path: Path) -> Any:
    import orjson

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FormatError(path, f"cannot read: {exc.strerror or exc}", code="unreadable") from None
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of new lists and floats would trigger cycle collections that find nothing
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        reason = exc.msg.split(":")[0] if exc.msg else "invalid JSON"
        if exc.pos >= len(data.rstrip()):
            reason = "truncated JSON (the file ends too early)"
        raise FormatError(path, f"{reason} (column {exc.colno})", line=exc.lineno, code="bad-json") from None
    finally:
        if gc_was_enabled:
            gc.enable()


def _is_coco_file(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return False
    # one of the COCO keys holding a list: a summary with an "images" count is not COCO
    return head.lstrip()[:1] == b"{" and COCO_LIST.search(head) is not None


def _coco_files(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d != "__MACOSX" and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".json") and not is_junk(name) and _is_coco_file(Path(dirpath, name)):
                found.append(Path(dirpath, name))
    return found


def detect(path: Path) -> bool:
    if path.is_file():
        return path.suffix == ".json" and _is_coco_file(path)
    return path.is_dir() and bool(_coco_files(path)) and not (path / "labels").is_dir()


def _split_name(json_path: Path, several: bool) -> str | None:
    stem = json_path.stem
    for prefix in ("instances_", "_annotations.coco", "annotations_"):
        if stem.startswith(prefix) and stem[len(prefix):].strip("._"):
            return stem[len(prefix):].strip("._")
    if several:
        return json_path.parent.name if json_path.parent.name != "annotations" else stem
    return None


def _image_dir(json_path: Path) -> Path:
    parent = json_path.parent
    return parent.parent if parent.name == "annotations" else parent


@dataclass(frozen=True)
class CocoUnit:
    path: str
    image: dict[str, Any]
    annotations: list[dict[str, Any]]
    prefix: str
    split: str | None
    category_ids: frozenset[int]


def _require(obj: Any, key: str, kind: type | tuple[type, ...], path: str | Path, what: str) -> Any:
    if not isinstance(obj, dict):
        raise FormatError(path, f"{what} is not an object", code="bad-coco")
    if key not in obj:
        raise FormatError(path, f"{what} has no {key!r}", code="bad-coco")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise FormatError(path, f"{what}: {key!r} has the wrong type ({type(value).__name__})", code="bad-coco")
    return value


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    if not path.exists():
        raise FormatError(path, "no such file or folder", code="missing")
    files = [path] if path.is_file() else _coco_files(path)
    if not files:
        raise FormatError(path, "no COCO JSON file found", code="missing")
    several = len(files) > 1
    image_dirs = [(options.images or _image_dir(f)).resolve() for f in files]
    common = Path(os.path.commonpath([str(d) for d in image_dirs]))
    categories: dict[int, Category] = {}
    units: list[CocoUnit] = []
    info: dict[str, Any] = {}
    for json_path, image_dir in zip(files, image_dirs):
        data = load_json(json_path)
        if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "categories")):
            raise FormatError(json_path, "not a COCO file: needs 'images' and 'categories' lists", code="bad-coco")
        if isinstance(data.get("info"), dict) and not info:
            info = dict(data["info"])
        for k, cat in enumerate(data["categories"]):
            cid = _require(cat, "id", int, json_path, f"category {k}")
            name = str(_require(cat, "name", (str, int), json_path, f"category {cid}"))
            sup = cat.get("supercategory")
            new = Category.trusted(id=cid, name=name, supercategory=str(sup) if sup is not None else None)
            old = categories.setdefault(cid, new)
            if old.name != new.name:
                raise FormatError(json_path, f"category {cid} is {new.name!r} here but {old.name!r} in an earlier file",
                                  code="category-mismatch")
        by_image: dict[int, list[dict[str, Any]]] = {}
        for k, ann in enumerate(data.get("annotations") or []):
            image_id = _require(ann, "image_id", int, json_path, f"annotation {k}")
            by_image.setdefault(image_id, []).append(ann)
        prefix = image_dir.relative_to(common).as_posix() if image_dir != common else ""
        split = _split_name(json_path, several)
        seen_ids: set[int] = set()
        for k, image in enumerate(data["images"]):
            image_id = _require(image, "id", int, json_path, f"image {k}")
            if image_id in seen_ids:
                report.problem(FormatError(json_path, f"image id {image_id} appears twice", code="duplicate-id"))
                continue
            seen_ids.add(image_id)
            units.append(CocoUnit(str(json_path), image, by_image.pop(image_id, []), prefix, split,
                                  frozenset(categories)))
        for image_id, anns in sorted(by_image.items()):
            report.problem(FormatError(json_path, f"{len(anns)} annotation(s) name image id {image_id}, which does "
                                       "not exist", code="unknown-image"))
    return ReadPlan(categories=sorted(categories.values(), key=lambda c: c.id), units=units,
                    image_root=str(common), info=info)


def _finite(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)


def _ring(part: Any) -> npt.NDArray[np.float64] | None:
    """A polygon part as an (n, 2) array, or None when it holds anything but finite numbers."""
    if not isinstance(part, list):
        return None
    try:
        arr = np.asarray(part, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if arr.ndim != 1 or not np.isfinite(arr).all():
        return None
    return arr


def _geometry(ann: dict[str, Any], where: str, height: int, width: int, path: str) -> Box | Polygon | Rle:
    seg = ann.get("segmentation")
    if isinstance(seg, dict):
        size, counts = seg.get("size"), seg.get("counts")
        if not (isinstance(size, list) and len(size) == 2 and isinstance(counts, (str, list))):
            raise FormatError(path, f"{where}: RLE needs 'size' [h, w] and 'counts'", code="bad-rle")
        if list(size) != [height, width]:
            raise FormatError(path, f"{where}: RLE size {size} is not the image's [{height}, {width}]", code="bad-rle")
        if isinstance(counts, list) and not all(isinstance(c, int) and c >= 0 for c in counts):
            raise FormatError(path, f"{where}: RLE counts must be non-negative integers", code="bad-rle")
        return Rle(height=height, width=width, counts=counts)
    if isinstance(seg, list) and seg:
        rings = []
        for part in seg:
            arr = _ring(part)
            if arr is None:
                raise FormatError(path, f"{where}: a polygon must be a list of finite numbers", code="bad-number")
            if len(part) % 2:
                raise FormatError(path, f"{where}: odd number of polygon coordinates ({len(part)})",
                                  code="odd-coordinates")
            if len(part) < 6:
                raise FormatError(path, f"{where}: a polygon of {len(part) // 2} points (needs 3)",
                                  code="too-few-points")
            rings.append(arr.reshape(-1, 2))
        return Polygon.trusted(rings=rings, holes=[False] * len(rings), kind="polygon")
    if seg not in (None, []):
        raise FormatError(path, f"{where}: 'segmentation' must be polygons, an RLE or []", code="bad-coco")
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and _finite(bbox)):
        raise FormatError(path, f"{where}: no segmentation and no valid 'bbox'", code="bad-bbox")
    if bbox[2] < 0 or bbox[3] < 0:
        raise FormatError(path, f"{where}: negative box size {bbox[2:]}", code="bad-bbox")
    return Box.trusted(kind="box", x=float(bbox[0]), y=float(bbox[1]), w=float(bbox[2]), h=float(bbox[3]))


def load(unit: CocoUnit, options: ReadOptions, report: Report) -> ImageRecord:
    path = unit.path
    image = unit.image
    what = f"image {image.get('id')}"
    file_name = _require(image, "file_name", str, path, what)
    width = _require(image, "width", int, path, what)
    height = _require(image, "height", int, path, what)
    if width <= 0 or height <= 0:
        raise FormatError(path, f"image {image.get('id')}: size {width}x{height}", code="bad-size")
    instances = []
    for ann in unit.annotations:
        where = f"annotation {ann.get('id')} (image {image.get('id')})"
        try:
            category_id = _require(ann, "category_id", int, path, where)
            if category_id not in unit.category_ids:
                raise FormatError(path, f"{where}: category id {category_id} is not in 'categories'",
                                  code="unknown-category")
            geometry = _geometry(ann, where, height, width, path)
        except FormatError as error:
            report.problem(error)
            continue
        attributes = ann["attributes"] if isinstance(ann.get("attributes"), dict) else {}
        score = ann.get("score")
        instances.append(Instance.trusted(
            category_id=category_id, geometry=geometry, iscrowd=bool(ann.get("iscrowd", 0)),
            score=float(score) if isinstance(score, (int, float)) else None, attributes=attributes))
    name = f"{unit.prefix}/{file_name}" if unit.prefix else file_name
    return ImageRecord.trusted(file_name=name, width=width, height=height, split=unit.split, label=None,
                                       instances=instances, attributes={})


# ---------------------------------------------------------------------------------------------
# Writing


class CocoWriter:
    def __init__(self, dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions,
                 report: Report) -> None:
        self.dest = dest
        self.categories = categories
        self.options = options

    def set_categories(self, categories: list[Category]) -> None:
        self.categories = categories

    def encode(self, record: ImageRecord, index: int, report: Report) -> tuple[bytes, list[bytes]]:
        """The image entry and the annotation entries of one image, as JSON bytes.

        Annotation entries lack their leading ``{"id":N,``: ids are given in order by the sink."""
        import orjson

        from cytoconv.geometry import shapes as geo

        opt = orjson.OPT_SERIALIZE_NUMPY
        image_id = index + 1
        image = orjson.dumps({"id": image_id, "file_name": record.file_name, "width": record.width,
                              "height": record.height})
        record = label_as_box(record, report)  # folders -> COCO: one whole-image box per image
        simple = [i for i, inst in enumerate(record.instances)
                  if isinstance(inst.geometry, Polygon) and len(inst.geometry.rings) == 1]
        rings = [record.instances[i].geometry.rings[0] for i in simple]  # type: ignore[union-attr]
        areas = dict(zip(simple, geo.single_ring_areas(rings, record.height, record.width))) if simple else {}
        boxes = dict(zip(simple, geo.bounds_of_rings(rings)))
        out = []
        for i, inst in enumerate(record.instances):
            g = inst.geometry
            segmentation: Any
            area: float
            if isinstance(g, Polygon) and (any(g.holes) or self.options.segmentation == "rle"):
                segmentation, area = self._polygon_with_holes(g, record, report)
                bbox = geo.bounds_of_rings([np.concatenate(g.parts)])[0]
            elif isinstance(g, Polygon):
                segmentation = [_compact(r) for r in g.rings]
                area = areas[i] if i in areas else geo.polygon_area(g, record.height, record.width)
                bbox = boxes[i] if i in boxes else geo.bounds_of_rings([np.concatenate(g.parts)])[0]
            elif isinstance(g, Rle):
                segmentation = {"size": [g.height, g.width], "counts": g.counts}
                area = geo.rle_area(g)
                b = geo.rle_bounds(g)
                bbox = [b.x, b.y, b.w, b.h]
            else:
                segmentation, area, bbox = [], g.w * g.h, [g.x, g.y, g.w, g.h]
            ann: dict[str, Any] = {"image_id": image_id, "category_id": inst.category_id,
                                   "segmentation": segmentation, "area": area,
                                   "bbox": bbox, "iscrowd": int(inst.iscrowd)}
            if inst.score is not None:
                ann["score"] = inst.score
            if inst.attributes:
                ann["attributes"] = inst.attributes
            out.append(orjson.dumps(ann, option=opt)[1:])
        return image, out

    def _polygon_with_holes(self, g: Polygon, record: ImageRecord, report: Report) -> tuple[Any, int]:
        """COCO polygons cannot hold a hole: bridge it (exact), write RLE, fill it, or refuse (``--holes``)."""
        from cytoconv.geometry import shapes as geo
        from cytoconv.geometry.outline import bridge_holes

        policy = "rle" if self.options.segmentation == "rle" else self.options.holes
        if policy == "error":
            raise FormatError(record.file_name, "an object with a hole (choose --holes bridge, rle or fill)",
                              code="hole")
        if policy == "fill":
            report.notice("holes-filled", f"{record.file_name}: holes filled", count=sum(g.holes))
            filled = Polygon.trusted(kind="polygon", rings=g.parts, holes=[False] * len(g.parts))
            return [_compact(r) for r in filled.rings], geo.polygon_area(filled, record.height, record.width)
        if policy == "bridge":
            rings = bridge_holes(g)
            report.notice("holes-bridged", f"{record.file_name}: holes joined to their outline by zero-width cuts",
                          count=sum(g.holes))
            areas = geo.single_ring_areas(rings, record.height, record.width)
            area = areas[0] if len(rings) == 1 else geo.polygon_area(
                Polygon.trusted(kind="polygon", rings=rings, holes=[False] * len(rings)), record.height, record.width)
            return [_compact(r) for r in rings], area
        rle = geo.polygon_rle(g, record.height, record.width)
        return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}, geo.rle_areas([rle])[0]

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:
        import orjson

        from cytoconv._version import __version__

        images: list[bytes] = []
        counter = [0]
        with atomic_file(self.dest, self.options.overwrite) as fh:
            fh.write(b'{"info":' + orjson.dumps({"description": f"written by cytoconv {__version__}"})
                     + b',"licenses":[],"annotations":[')

            def accept(fragment: tuple[bytes, list[bytes]]) -> None:
                image, anns = fragment
                images.append(image)
                _write_annotations(fh, anns, counter)

            yield accept
            fh.write(b'],"images":[' + b",".join(images) + b'],"categories":')
            fh.write(orjson.dumps([c.model_dump(exclude_none=True) for c in self.categories]) + b"}")


def _compact(ring: npt.NDArray[np.float64]) -> npt.NDArray[Any]:
    """A ring as the flat list COCO wants; whole-pixel outlines (traced masks) as integers, which
    are a quarter of the bytes (``12`` rather than ``12.0``) and exactly the same numbers."""
    flat = ring.reshape(-1)
    as_int = flat.astype(np.int64)
    return as_int if np.array_equal(as_int, flat) else flat


def _write_annotations(fh: BinaryIO, anns: list[bytes], counter: list[int]) -> None:
    parts = []
    for body in anns:
        counter[0] += 1
        parts.append(b'%s{"id":%d,%s' % (b"," if counter[0] > 1 else b"", counter[0], body))
    fh.write(b"".join(parts))


def writer(dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions,
           report: Report) -> CocoWriter:
    return CocoWriter(dest, categories, image_root, options, report)
