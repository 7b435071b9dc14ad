"""COCO JSON checks: structure, ids, references, and every annotation's geometry against its image.

Findings name the annotation (``annotation_id``) or image (``image_id``); JSON syntax errors name the line.
The reference for ``area`` is the pycocotools raster of the segmentation (what COCOeval uses), for ``bbox`` the
bounds of the polygon vertices (or of the RLE's pixels). pycocotools and shapely are imported only when a file
has segmentations to measure.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import numpy.typing as npt

from cytoconv.problems import Fix
from cytoconv.validate.config import Settings
from cytoconv.validate.findings import Finding

BOM = b"\xef\xbb\xbf"
COCO_KEYS = (b'"images"', b'"annotations"', b'"categories"')


def looks_like_coco(path: str) -> bool:
    """A JSON object that names ``images``, ``annotations`` or ``categories`` in its first 64 KB."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return False
    head = head[3:] if head.startswith(BOM) else head
    return head.lstrip()[:1] == b"{" and any(k in head for k in COCO_KEYS)


def image_dir_of(json_path: str) -> str:
    """Where a COCO file's ``file_name`` values are relative to (as the reader has it): the folder above
    ``annotations/``, else the JSON's own folder (Roboflow)."""
    parent = os.path.dirname(os.path.abspath(json_path))
    return os.path.dirname(parent) if os.path.basename(parent) == "annotations" else parent


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class _Geometry:
    """What the annotations' segmentations need measured in bulk at the end of the file."""

    rings: list[npt.NDArray[np.float64]] = field(default_factory=list)
    ring_owner: list[int | str] = field(default_factory=list)  # annotation id of each ring
    raster: list[_Raster] = field(default_factory=list)


@dataclass(frozen=True)
class _Raster:
    """A segmentation to rasterise: its area and (RLE only) bbox are compared with what the file says."""

    ref: int | str
    segmentation: Any
    height: int
    width: int
    area: float | None
    bbox: list[float] | None


def check_file(path: str, settings: Settings, pairing: bool = False) -> list[Finding]:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        found = [settings.finding("CC001", path, f"cannot read: {exc.strerror or exc}")] if settings.on("CC001") else []
        return found
    return check_bytes(data, path, settings, pairing)


def check_bytes(data: bytes, path: str, settings: Settings, pairing: bool = False) -> list[Finding]:
    """Every finding of one COCO file. ``pairing``: also report image entries whose file is missing."""
    out: list[Finding] = []
    on, finding = settings.on, settings.finding
    if data.startswith(BOM):
        if on("CC006"):
            out.append(finding("CC006", path, "starts with a UTF-8 byte-order mark", line=1, fix=Fix("bom")))
        data = data[3:]
    if b"\r" in data and on("CC005"):
        first = data.count(b"\n", 0, data.index(b"\r")) + 1
        out.append(finding("CC005", path, ("CRLF" if b"\r\n" in data else "CR") + " line endings", line=first,
                           fix=Fix("line-endings")))
    import orjson

    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if on("CC002"):
            reason = exc.msg.split(":")[0] if exc.msg else "invalid JSON"
            if exc.pos >= len(data.rstrip()):
                reason = "truncated JSON (the file ends too early)"
            out.append(finding("CC002", path, f"not valid JSON: {reason} (column {exc.colno})", line=exc.lineno))
        return out
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list) \
            or not isinstance(doc.get("categories"), list) or not isinstance(doc.get("annotations", []), list):
        if on("CC003"):
            out.append(finding("CC003", path, "not a COCO file: needs 'images' and 'categories' lists (and "
                               "'annotations', a list, if present)"))
        return out
    sizes = _images(doc["images"], path, settings, out)
    categories = _categories(doc["categories"], path, settings, out)
    annotations = doc.get("annotations", [])
    if not annotations and on("CC004"):
        out.append(finding("CC004", path, "no annotations: every image has no objects"))
    geometry = _Geometry()
    _annotations(annotations, sizes, categories, path, settings, out, geometry)
    _measure(geometry, path, settings, out)
    _image_files(doc["images"], path, sizes, settings, out, pairing)
    return out


def _images(images: list[Any], path: str, settings: Settings, out: list[Finding]) -> dict[int, tuple[int, int] | None]:
    """Image id -> (width, height), ``None`` when the size is unusable."""
    sizes: dict[int, tuple[int, int] | None] = {}
    for k, image in enumerate(images):
        image_id: Any = image.get("id") if isinstance(image, dict) else None
        if not _is_int(image_id):
            if settings.on("CC003"):
                out.append(settings.finding("CC003", path, f"images[{k}] has no integer 'id'"))
            continue
        if image_id in sizes:
            if settings.on("CC601"):
                out.append(settings.finding("CC601", path, f"image id {image_id} appears twice (images[{k}])",
                                            image_id=image_id))
            continue
        width: Any = image.get("width")
        height: Any = image.get("height")
        ok = _is_int(width) and _is_int(height) and width > 0 and height > 0
        sizes[image_id] = (width, height) if ok else None
        if not ok and settings.on("CC003"):
            out.append(settings.finding("CC003", path, f"'width' and 'height' must be positive integers, got "
                                        f"{width!r} x {height!r}", image_id=image_id))
        if not isinstance(image.get("file_name"), str) and settings.on("CC003"):
            out.append(settings.finding("CC003", path, "no 'file_name' string", image_id=image_id))
    return sizes


def _categories(categories: list[Any], path: str, settings: Settings, out: list[Finding]) -> set[int]:
    ids: set[int] = set()
    for k, category in enumerate(categories):
        cid: Any = category.get("id") if isinstance(category, dict) else None
        if not _is_int(cid):
            if settings.on("CC003"):
                out.append(settings.finding("CC003", path, f"categories[{k}] has no integer 'id'"))
            continue
        if cid in ids and settings.on("CC603"):
            out.append(settings.finding("CC603", path, f"category id {cid} appears twice (categories[{k}])"))
        ids.add(cid)
    return ids


def _annotations(annotations: list[Any], sizes: dict[int, tuple[int, int] | None], categories: set[int], path: str,
                 settings: Settings, out: list[Finding], geometry: _Geometry) -> None:
    on, finding = settings.on, settings.finding
    seen_ids: set[int] = set()
    seen_objects: dict[tuple[Any, ...], Any] = {}
    import orjson

    for k, ann in enumerate(annotations):
        if not isinstance(ann, dict):
            if on("CC003"):
                out.append(finding("CC003", path, f"annotations[{k}] is not an object"))
            continue
        aid: Any = ann.get("id")
        ref: int | str = aid if _is_int(aid) else f"#{k}"
        if not _is_int(aid):
            if on("CC003"):
                out.append(finding("CC003", path, f"annotations[{k}] has no integer 'id'", annotation_id=ref))
        elif aid in seen_ids:
            if on("CC602"):
                out.append(finding("CC602", path, f"annotation id {aid} appears twice (annotations[{k}])",
                                   annotation_id=aid))
        else:
            seen_ids.add(aid)
            if aid == 0 and on("CC604"):
                out.append(finding("CC604", path, "annotation id 0: COCOeval takes id 0 for 'no match', so this "
                                   "object can never count as found", annotation_id=0))
        image_id: Any = ann.get("image_id")
        category_id: Any = ann.get("category_id")
        size: tuple[int, int] | None = None
        if not _is_int(image_id):
            if on("CC003"):
                out.append(finding("CC003", path, "no integer 'image_id'", annotation_id=ref))
        elif image_id not in sizes:
            if on("CC605"):
                out.append(finding("CC605", path, f"image id {image_id} is not in 'images'", annotation_id=ref))
        else:
            size = sizes[image_id]
        if not _is_int(category_id):
            if on("CC003"):
                out.append(finding("CC003", path, "no integer 'category_id'", annotation_id=ref))
        elif category_id not in categories and on("CC202"):
            out.append(finding("CC202", path, f"category id {category_id} is not in 'categories'", annotation_id=ref))
        if ann.get("iscrowd") and on("CC608"):
            out.append(finding("CC608", path, "a crowd object (iscrowd 1): COCOeval ignores it, and a cell is "
                               "rarely a crowd", annotation_id=ref))
        bbox = _bbox(ann, ref, size, path, settings, out)
        _segmentation(ann, ref, size, bbox, path, settings, out, geometry)
        if on("CC401") and _is_int(image_id):
            key = (image_id, category_id, orjson.dumps(ann.get("segmentation")), orjson.dumps(ann.get("bbox")))
            first = seen_objects.setdefault(key, ref)
            if first != ref:
                out.append(finding("CC401", path, f"the same object as annotation {first} (image {image_id})",
                                   annotation_id=ref))


def _bbox(ann: dict[str, Any], ref: int | str, size: tuple[int, int] | None, path: str, settings: Settings,
          out: list[Finding]) -> list[float] | None:
    """The annotation's bbox when it is usable; its own problems reported."""
    on, finding = settings.on, settings.finding
    bbox: Any = ann.get("bbox")
    if bbox is None:
        return None
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        if on("CC003"):
            out.append(finding("CC003", path, f"'bbox' must be 4 finite numbers [x, y, w, h], got {bbox!r}",
                               annotation_id=ref))
        return None
    x, y, w, h = (float(v) for v in bbox)
    if w < 0 or h < 0:
        if on("CC304"):
            out.append(finding("CC304", path, f"bbox of negative size ({w:g} x {h:g})", annotation_id=ref))
        return None
    if (w == 0 or h == 0) and on("CC303"):
        out.append(finding("CC303", path, f"bbox of zero size ({w:g} x {h:g})", annotation_id=ref))
    tol = settings.pixel_tolerance
    segmentation = ann.get("segmentation")
    if segmentation in (None, []) and size is not None and on("CC305") and (  # else the shape itself is checked
            x < -tol or y < -tol or x + w > size[0] + tol or y + h > size[1] + tol):
        out.append(finding("CC305", path, f"bbox [{x:g}, {y:g}, {w:g}, {h:g}] reaches outside the {size[0]}x{size[1]} "
                           f"image (tolerance {tol:g} px)", annotation_id=ref))
    area: Any = ann.get("area")
    if segmentation in (None, []) and _is_number(area) and on("CC607"):
        _compare_area(float(area), w * h, "the bbox's w x h", ref, path, settings, out)
    return [x, y, w, h]


def _segmentation(ann: dict[str, Any], ref: int | str, size: tuple[int, int] | None, bbox: list[float] | None,
                  path: str, settings: Settings, out: list[Finding], geometry: _Geometry) -> None:
    on, finding = settings.on, settings.finding
    seg: Any = ann.get("segmentation")
    area: Any = ann.get("area")
    if area is not None and not _is_number(area) and on("CC003"):
        out.append(finding("CC003", path, f"'area' must be a finite number, got {area!r}", annotation_id=ref))
    if seg is None or seg == []:
        if ann.get("bbox") is None and on("CC003"):
            out.append(finding("CC003", path, "no segmentation and no bbox", annotation_id=ref))
        return
    if isinstance(seg, dict):
        _rle(seg, ref, size, bbox, area, path, settings, out, geometry)
        return
    if not isinstance(seg, list):
        if on("CC003"):
            out.append(finding("CC003", path, "'segmentation' must be polygons, an RLE or []", annotation_id=ref))
        return
    rings = []
    for j, part in enumerate(seg):
        where = f"polygon {j + 1} of {len(seg)}" if len(seg) > 1 else "the polygon"
        if not isinstance(part, list) or not all(_is_number(v) for v in part):
            if on("CC101"):
                out.append(finding("CC101", path, f"{where} is not a list of numbers", annotation_id=ref))
            continue
        n = len(part)
        problem = ("CC103", f"{where} has an odd number of coordinates ({n})") if n % 2 else \
            ("CC105", f"{where} has 4 numbers: pycocotools takes it for a box [x, y, w, h]") if n == 4 else \
            ("CC104", f"{where} has {n // 2} point(s): a polygon needs at least 3") if n < 6 else None
        if problem is not None:
            if on(problem[0]):
                out.append(finding(problem[0], path, problem[1], annotation_id=ref))
            continue
        rings.append(np.asarray(part, dtype=np.float64).reshape(-1, 2))
    if len(rings) != len(seg) or not rings:
        return
    allpoints = np.concatenate(rings)
    lo, hi = allpoints.min(axis=0), allpoints.max(axis=0)
    tol = settings.pixel_tolerance
    if size is not None and on("CC305") and (lo.min() < -tol or hi[0] > size[0] + tol or hi[1] > size[1] + tol):
        out.append(finding("CC305", path, f"polygon reaches outside the {size[0]}x{size[1]} image: x {lo[0]:g}..{hi[0]:g}"
                           f", y {lo[1]:g}..{hi[1]:g} (tolerance {tol:g} px)", annotation_id=ref))
    if bbox is not None and on("CC606"):
        _compare_bbox(bbox, [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])],
                      "the polygon's vertices", ref, path, settings, out)
    if on("CC106"):
        geometry.rings.extend(rings)
        geometry.ring_owner.extend([ref] * len(rings))
    if size is not None and _is_number(area) and on("CC607"):
        geometry.raster.append(_Raster(ref, seg, size[1], size[0], float(area), None))


def _rle(seg: dict[str, Any], ref: int | str, size: tuple[int, int] | None, bbox: list[float] | None, area: Any,
         path: str, settings: Settings, out: list[Finding], geometry: _Geometry) -> None:
    counts: Any = seg.get("counts")
    rle_size: Any = seg.get("size")
    ok = isinstance(rle_size, list) and len(rle_size) == 2 and all(_is_int(v) for v in rle_size) and (
        isinstance(counts, str) or (isinstance(counts, list) and all(_is_int(c) and c >= 0 for c in counts)))
    if not ok:
        if settings.on("CC003"):
            out.append(settings.finding("CC003", path, "an RLE needs 'size' [h, w] and 'counts' (a string or a list "
                                        "of non-negative integers)", annotation_id=ref))
        return
    if size is not None and list(rle_size) != [size[1], size[0]]:
        if settings.on("CC003"):
            out.append(settings.finding("CC003", path, f"RLE size {rle_size} is not the image's [{size[1]}, {size[0]}]",
                                        annotation_id=ref))
        return
    if settings.on("CC606") or settings.on("CC607"):
        geometry.raster.append(_Raster(ref, seg, rle_size[0], rle_size[1], float(area) if _is_number(area) else None,
                                       bbox))


def _compare_bbox(bbox: list[float], bounds: list[float], what: str, ref: int | str, path: str, settings: Settings,
                  out: list[Finding]) -> None:
    diff = max(abs(a - b) for a, b in zip(bbox, bounds))
    if diff > settings.pixel_tolerance:
        shown = ", ".join(f"{v:.6g}" for v in bounds)
        out.append(settings.finding("CC606", path, f"bbox [{', '.join(f'{v:g}' for v in bbox)}] disagrees with "
                                    f"{what} [{shown}] by up to {diff:.3g} px (tolerance {settings.pixel_tolerance:g})",
                                    annotation_id=ref))


def _compare_area(area: float, reference: float, what: str, ref: int | str, path: str, settings: Settings,
                  out: list[Finding]) -> None:
    diff = abs(area - reference)
    if diff > 1 and diff > settings.area_tolerance * max(reference, 1.0):
        out.append(settings.finding("CC607", path, f"area {area:g} disagrees with {what} {reference:g} "
                                    f"({diff / max(reference, 1.0):.1%}; tolerance {settings.area_tolerance:.0%})",
                                    annotation_id=ref))


def _measure(geometry: _Geometry, path: str, settings: Settings, out: list[Finding]) -> None:
    """Polygon validity (shapely) and raster areas and bounds (pycocotools), each in bulk."""
    if geometry.rings:
        from cytoconv.geometry.validity import invalid_reasons

        for owner, reason in zip(geometry.ring_owner, invalid_reasons(geometry.rings)):
            if reason is not None:
                out.append(settings.finding("CC106", path, f"invalid polygon: {reason}", annotation_id=owner))
    if not geometry.raster:
        return
    from pycocotools import mask as mask_api

    for item in geometry.raster:
        ref, seg, height, width, area, bbox = item.ref, item.segmentation, item.height, item.width, item.area, item.bbox
        try:
            if isinstance(seg, list):
                rle = mask_api.merge(mask_api.frPyObjects(seg, height, width))
            elif isinstance(seg["counts"], list):
                rle = mask_api.frPyObjects(seg, height, width)
            else:
                rle = {"size": seg["size"], "counts": seg["counts"].encode("ascii")}
            pixels = float(mask_api.area(rle))
            bounds = [float(v) for v in mask_api.toBbox(rle)]
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            if settings.on("CC003"):
                out.append(settings.finding("CC003", path, f"pycocotools cannot decode the segmentation ({exc})",
                                            annotation_id=ref))
            continue
        if area is not None and settings.on("CC607"):
            _compare_area(area, pixels, "the pixel area of the segmentation", ref, path, settings, out)
        if bbox is not None and not isinstance(seg, list) and settings.on("CC606"):
            _compare_bbox(bbox, bounds, "the RLE's pixels", ref, path, settings, out)


def _image_files(images: list[Any], path: str, sizes: dict[int, tuple[int, int] | None], settings: Settings,
                 out: list[Finding], pairing: bool) -> None:
    """Image entries against the files: size from the header (CC405) and, in folders, missing files (CC402)."""
    from cytoconv.engine.files import image_size
    from cytoconv.errors import FormatError

    base = image_dir_of(path)
    check_size = settings.on("CC405")
    for image in images:
        if not isinstance(image, dict) or not isinstance(image.get("file_name"), str) or not _is_int(image.get("id")):
            continue
        file = os.path.normpath(os.path.join(base, image["file_name"]))
        exists = os.path.isfile(file)
        if not exists:
            if pairing and settings.on("CC402"):
                out.append(settings.finding("CC402", path, f"image file {image['file_name']} is not in {base}",
                                            image_id=image["id"]))
            continue
        size = sizes.get(image["id"])
        if check_size and size is not None:
            try:
                actual = image_size(file)
            except FormatError as error:
                if settings.on("CC404"):
                    out.append(settings.finding("CC404", file, error.message))
                continue
            if actual != size:
                out.append(settings.finding("CC405", path, f"says {size[0]}x{size[1]} but {image['file_name']} is "
                                            f"{actual[0]}x{actual[1]}", image_id=image["id"]))


def referenced_images(path: str) -> set[str]:
    """The image files a COCO file names (absolute, normalised); nothing when it cannot be read."""
    import orjson

    try:
        with open(path, "rb") as fh:
            data = fh.read()
        doc = orjson.loads(data[3:] if data.startswith(BOM) else data)
    except (OSError, orjson.JSONDecodeError):
        return set()
    images = doc.get("images") if isinstance(doc, dict) else None
    base = image_dir_of(path)
    return {os.path.normpath(os.path.join(base, image["file_name"])) for image in images or []
            if isinstance(image, dict) and isinstance(image.get("file_name"), str)} if isinstance(images, list) else set()


def discover(root: Path, settings: Settings) -> tuple[list[str], list[Finding]]:
    """The COCO files below ``root``, and the images beside them that no COCO file lists (CC403)."""
    from cytoconv.engine.files import is_image_name, walk_files

    files = [f for f in walk_files(root) if f.endswith(".json") and looks_like_coco(f)]
    findings: list[Finding] = []
    if settings.on("CC403"):
        referenced: set[str] = set()
        for f in files:
            referenced |= referenced_images(f)
        for folder in sorted({image_dir_of(f) for f in files}):
            for image in walk_files(Path(folder)):
                if is_image_name(image) and os.path.normpath(os.path.abspath(image)) not in referenced:
                    findings.append(settings.finding("CC403", image, "no COCO file lists this image"))
    return files, findings
