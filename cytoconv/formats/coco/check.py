"""COCO JSON checks of ``cytoconv validate``: the syntax scan (shared with the reader), then what only the
validator looks at: ``area`` and a bbox beside a segmentation, bbox and area against the segmentation, polygon
validity, duplicate objects, keypoints beside a segmentation and ``num_keypoints``, and the image files.

Findings name the annotation (``annotation_id``) or image (``image_id``); JSON syntax errors name the line.
The reference for ``area`` is the pycocotools raster of the segmentation (what COCOeval uses), for ``bbox`` the
bounds of the polygon vertices (or of the RLE's pixels). pycocotools and shapely are imported only when a file
has segmentations to measure. The scan reports first and these checks after it, so the first error of a file
is where ``cytoconv convert`` stops on it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cytoconv.formats.coco.layout import image_dir, not_read
from cytoconv.formats.coco.stream import Entries, JsonError, Source, sections
from cytoconv.formats.coco.syntax import (
    BOM,
    NO_ID,
    POINT,
    POLYGON,
    RLE,
    Coco,
    bbox_problem,
    keypoints_problem,
    looks_like_coco,
    scan,
    visible_keypoints,
)
from cytoconv.problems.findings import CheckTask, Finding
from cytoconv.problems.settings import FindingSink, Settings

__all__ = [
    "BOM",
    "check_bytes",
    "check_file",
    "discover",
    "image_dir_of",
    "looks_like_coco",
    "referenced_images",
]


MEASURE_BATCH = 50_000  # annotations whose geometry is measured together (validity, raster areas)


def image_dir_of(json_path: str, file_names: Sequence[str | None] | None = None) -> str:
    """Where a COCO file's ``file_name`` values are relative to: the reader's answer (``layout.image_dir``:
    the JSON's folder, the dataset root, ``<split>/``, ``images/<split>/`` or ``images/``, whichever holds
    the images). ``file_names`` None: read from the file."""
    if file_names is None:
        file_names = _file_names(json_path)
    return image_dir(json_path, file_names)


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
    """``check_bytes`` of a file on disk, streamed (CC001 when it cannot be read)."""
    try:
        return check_bytes(Source(path), path, settings, pairing)
    except OSError as exc:
        found = (
            [settings.finding("CC001", path, f"cannot read: {exc.strerror or exc}")]
            if settings.on("CC001")
            else []
        )
        return found


def check_bytes(data: bytes | Source, path: str, settings: Settings, pairing: bool = False) -> list[Finding]:
    """Every finding of one COCO file (its bytes, or a ``Source`` to stream it from): the scan's (the same the
    reader stops on), then the validator's own. ``pairing``: also report image entries whose file is missing."""
    sink = settings.sink()
    coco = scan(data, path, sink)
    if coco is None:
        return sink.findings
    _annotations(coco, path, settings, sink)
    _image_files(coco, path, settings, sink, pairing)
    return sink.findings


def _annotations(coco: Coco, path: str, settings: Settings, sink: FindingSink) -> None:
    """What the reader does not read: ``area``, a bbox beside a segmentation, and their agreement with the
    geometry; objects that repeat one another; polygons measured in bulk, a batch of ``MEASURE_BATCH``
    annotations at a time (a file of millions is never held whole), after the batch's other findings."""
    on = settings.on
    cols = coco.annotations
    seen_objects: dict[tuple[Any, ...], Any] = {}  # (image, category, digest of the geometry) -> first ref
    import hashlib

    import orjson

    geometry = _Geometry()
    annotations = coco.read_back()  # every annotation that is an object, decoded again, in file order
    while True:
        try:
            k, ann = next(annotations)
        except StopIteration:
            break
        except JsonError as error:  # not JSON after all (1e999 where the scan kept the text raw)
            if on("CC002"):
                line, column = coco.source.line_column(error.offset)
                sink("CC002", path, f"not valid JSON: {error.reason} (column {column})", line=line)
            return
        if len(geometry.rings) + len(geometry.raster) >= MEASURE_BATCH:
            _measure(geometry, path, settings, sink)
            geometry = _Geometry()
        kind = cols.kind[k]
        aid, image_id = cols.id_of(k), cols.image_ids[k]
        ref: int | str = aid if aid is not None else f"#{k}"
        size = coco.sizes.get(image_id) if image_id != NO_ID else None
        seg: Any = ann.get("segmentation")
        raw_bbox: Any = ann.get("bbox")
        area: Any = ann.get("area")
        keypoints = ann.get("keypoints")
        box_only = seg is None or seg == []
        bbox: list[float] | None = None
        if keypoints is not None:
            _keypoints(keypoints, ann.get("num_keypoints"), box_only, ref, path, settings, sink)
        if raw_bbox is not None:
            problem = bbox_problem(raw_bbox)
            said = box_only and kind != POINT  # a box-only one: the scan said it (a point's bbox it leaves)
            if problem is not None and not said and on(problem[0]):
                sink(problem[0], path, problem[1], annotation_id=ref)
            if problem is None or problem[0] == "CC303":
                bbox = [float(v) for v in raw_bbox]
        if area is not None and not _is_number(area) and on("CC003"):
            sink("CC003", path, f"'area' must be a finite number, got {area!r}", annotation_id=ref)
        if box_only:
            if bbox is not None:
                _box(bbox, area, size, ref, path, settings, sink)
        elif kind == POLYGON:
            _polygon(seg, bbox, area, size, ref, path, settings, sink, geometry)
        elif kind == RLE and (on("CC606") or on("CC607")):
            geometry.raster.append(
                _Raster(
                    ref, seg, seg["size"][0], seg["size"][1], float(area) if _is_number(area) else None, bbox
                )
            )
        if on("CC401") and image_id != NO_ID:
            same = hashlib.blake2b(orjson.dumps(seg), digest_size=16)
            same.update(b"\0" + orjson.dumps(raw_bbox) + b"\0")
            if kind == POINT:
                same.update(orjson.dumps(keypoints))
            key = (image_id, cols.category_ids[k], same.digest())
            first = seen_objects.setdefault(key, ref)
            if first != ref:
                sink(
                    "CC401",
                    path,
                    f"the same object as annotation {first} (image {image_id})",
                    annotation_id=ref,
                )
    _measure(geometry, path, settings, sink)


def _keypoints(
    keypoints: Any,
    num_keypoints: Any,
    box_only: bool,
    ref: int | str,
    path: str,
    settings: Settings,
    sink: FindingSink,
) -> None:
    """An annotation's ``keypoints`` (the scan checked those it reads, without a segmentation) and its
    ``num_keypoints``: COCOeval's keypoint evaluation needs it on every object, and ignores those that say 0."""
    problem = keypoints_problem(keypoints)
    if problem is not None:
        if not box_only and settings.on("CC003"):
            sink("CC003", path, problem, annotation_id=ref)
        return
    if not keypoints or not settings.on("CC609"):
        return
    labelled = len(visible_keypoints(keypoints))
    if num_keypoints is None:
        sink(
            "CC609",
            path,
            f"keypoints without 'num_keypoints' ({labelled} labelled): COCOeval's keypoint evaluation needs it",
            annotation_id=ref,
        )
    elif num_keypoints != labelled:
        sink(
            "CC609",
            path,
            f"num_keypoints {num_keypoints!r} but {labelled} keypoint(s) labelled (v > 0)"
            + (": COCOeval ignores this object" if num_keypoints == 0 else ""),
            annotation_id=ref,
        )


def _box(
    bbox: list[float],
    area: Any,
    size: tuple[int, int] | None,
    ref: int | str,
    path: str,
    settings: Settings,
    sink: FindingSink,
) -> None:
    """A box-only annotation: inside its image, and ``area`` its w x h."""
    x, y, w, h = bbox
    tol = settings.pixel_tolerance
    if (
        size is not None
        and settings.on("CC305")
        and (x < -tol or y < -tol or x + w > size[0] + tol or y + h > size[1] + tol)
    ):
        sink(
            "CC305",
            path,
            f"bbox [{x:g}, {y:g}, {w:g}, {h:g}] reaches outside the {size[0]}x{size[1]} image "
            f"(tolerance {tol:g} px)",
            annotation_id=ref,
        )
    if _is_number(area) and settings.on("CC607"):
        _compare_area(float(area), w * h, "the bbox's w x h", ref, path, settings, sink)


def _polygon(
    seg: list[list[float]],
    bbox: list[float] | None,
    area: Any,
    size: tuple[int, int] | None,
    ref: int | str,
    path: str,
    settings: Settings,
    sink: FindingSink,
    geometry: _Geometry,
) -> None:
    """A readable polygon annotation: inside its image, bbox its vertices' bounds, rings kept for validity
    (shapely) and for its raster area (pycocotools)."""
    on = settings.on
    rings = [np.asarray(part, dtype=np.float64).reshape(-1, 2) for part in seg]
    allpoints = np.concatenate(rings)
    lo, hi = allpoints.min(axis=0), allpoints.max(axis=0)
    tol = settings.pixel_tolerance
    if (
        size is not None
        and on("CC305")
        and (lo.min() < -tol or hi[0] > size[0] + tol or hi[1] > size[1] + tol)
    ):
        sink(
            "CC305",
            path,
            f"polygon reaches outside the {size[0]}x{size[1]} image: x {lo[0]:g}..{hi[0]:g}, "
            f"y {lo[1]:g}..{hi[1]:g} (tolerance {tol:g} px)",
            annotation_id=ref,
        )
    if bbox is not None and on("CC606"):
        _compare_bbox(
            bbox,
            [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])],
            "the polygon's vertices",
            ref,
            path,
            settings,
            sink,
        )
    if on("CC106"):
        geometry.rings.extend(rings)
        geometry.ring_owner.extend([ref] * len(rings))
    if size is not None and _is_number(area) and on("CC607"):
        geometry.raster.append(_Raster(ref, seg, size[1], size[0], float(area), None))


def _compare_bbox(
    bbox: list[float],
    bounds: list[float],
    what: str,
    ref: int | str,
    path: str,
    settings: Settings,
    sink: FindingSink,
) -> None:
    diff = max(abs(a - b) for a, b in zip(bbox, bounds))
    if diff > settings.pixel_tolerance:
        shown = ", ".join(f"{v:.6g}" for v in bounds)
        sink(
            "CC606",
            path,
            f"bbox [{', '.join(f'{v:g}' for v in bbox)}] disagrees with {what} [{shown}] by up to "
            f"{diff:.3g} px (tolerance {settings.pixel_tolerance:g})",
            annotation_id=ref,
        )


def _compare_area(
    area: float, reference: float, what: str, ref: int | str, path: str, settings: Settings, sink: FindingSink
) -> None:
    diff = abs(area - reference)
    if diff > 1 and diff > settings.area_tolerance * max(reference, 1.0):
        sink(
            "CC607",
            path,
            f"area {area:g} disagrees with {what} {reference:g} ({diff / max(reference, 1.0):.1%}; "
            f"tolerance {settings.area_tolerance:.0%})",
            annotation_id=ref,
        )


def _measure(geometry: _Geometry, path: str, settings: Settings, sink: FindingSink) -> None:
    """Polygon validity (shapely) and raster areas and bounds (pycocotools), each in bulk."""
    if geometry.rings:
        from cytoconv.geometry.validity import invalid_reasons

        for owner, reason in zip(geometry.ring_owner, invalid_reasons(geometry.rings)):
            if reason is not None:
                sink("CC106", path, f"invalid polygon: {reason}", annotation_id=owner)
    if not geometry.raster:
        return
    from cytoconv.geometry.raster import segmentation_measure

    for item in geometry.raster:
        ref, seg, height, width, area, bbox = (
            item.ref,
            item.segmentation,
            item.height,
            item.width,
            item.area,
            item.bbox,
        )
        try:
            pixels, bounds = segmentation_measure(seg, height, width)
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            if settings.on("CC003"):
                sink("CC003", path, f"pycocotools cannot decode the segmentation ({exc})", annotation_id=ref)
            continue
        if area is not None and settings.on("CC607"):
            _compare_area(area, pixels, "the pixel area of the segmentation", ref, path, settings, sink)
        if bbox is not None and not isinstance(seg, list) and settings.on("CC606"):
            _compare_bbox(bbox, bounds, "the RLE's pixels", ref, path, settings, sink)


def _image_files(coco: Coco, path: str, settings: Settings, sink: FindingSink, pairing: bool) -> None:
    """Image entries against the files: size from the header (CC405) and, in folders, missing files (CC402)."""
    from cytoconv.engine.files import image_size
    from cytoconv.errors import FormatError

    base = image_dir_of(path, coco.images.file_names)
    check_size = settings.on("CC405")
    images = coco.images
    for image_id, file_name in zip(images.ids, images.file_names):
        if image_id is None or file_name is None:
            continue
        file = os.path.normpath(os.path.join(base, file_name))
        if not os.path.isfile(file):
            if pairing and settings.on("CC402"):
                sink("CC402", path, f"image file {file_name} is not in {base}", image_id=image_id)
            continue
        size = coco.sizes.get(image_id)
        if check_size and size is not None:
            try:
                actual = image_size(file)
            except FormatError as error:
                if settings.on("CC404"):
                    sink("CC404", file, error.message)
                continue
            if actual != size:
                sink(
                    "CC405",
                    path,
                    f"says {size[0]}x{size[1]} but {file_name} is {actual[0]}x{actual[1]}",
                    image_id=image_id,
                )


def _file_names(path: str) -> list[str | None]:
    """The ``file_name`` of every image entry of a COCO file; nothing when it cannot be read."""
    import orjson

    names: list[str | None] = []
    try:
        for event in sections(Source(path), skip=frozenset(("annotations", "categories"))):
            if isinstance(event, Entries):
                for raw in event.raws:
                    image = orjson.loads(bytes(raw))
                    if isinstance(image, dict) and isinstance(image.get("file_name"), str):
                        names.append(image["file_name"])
    except (OSError, JsonError):
        return []
    return names


def referenced_images(path: str) -> tuple[str, set[str]]:
    """Where a COCO file's images are (``image_dir_of``) and the image files it names there (absolute,
    normalised); nothing when it cannot be read."""
    names = _file_names(path)
    base = image_dir_of(path, names)
    return base, {os.path.normpath(os.path.join(base, name)) for name in names if name}


def _discover_files(root: Path, settings: Settings) -> tuple[list[str], list[Finding]]:
    """The COCO files below ``root``, and the images beside them that no COCO file lists (CC403)."""
    from cytoconv.engine.files import is_image_name, walk_files

    files = [f for f in walk_files(root) if f.endswith(".json") and looks_like_coco(f)]
    skip = not_read(files)  # captions, and keypoints/panoptic beside instances_*: as the reader has it
    files = [f for f in files if f not in skip]
    findings: list[Finding] = []
    if settings.on("CC403"):
        referenced: set[str] = set()
        folders: set[str] = set()
        for f in files:
            base, named = referenced_images(f)
            folders.add(base)
            referenced |= named
        for folder in sorted(folders):
            for image in walk_files(Path(folder)):
                if is_image_name(image) and os.path.normpath(os.path.abspath(image)) not in referenced:
                    findings.append(settings.finding("CC403", image, "no COCO file lists this image"))
    return files, findings


# ---------------------------------------------------------------------------------------------
# The checker API: what ``cytoconv.validate`` calls through the registry (``FormatInfo.checker``)

TEXT = True
STREAMS = (
    True  # a COCO file can be gigabytes: checked from the file (bounded memory) unless --fix needs bytes
)
CLASS_LIST = None


def claims(path: Path) -> bool:
    """A ``.json`` file given alone is checked as COCO only when it looks like COCO (not ``package.json``)."""
    return path.suffix.lower() == ".json" and looks_like_coco(str(path))


def single(path: Path, fmt: str, settings: Settings) -> CheckTask | None:
    """A COCO file given alone: no image pairing (its images may live anywhere)."""
    return CheckTask("coco", str(path), False)


def discover(root: Path, fmt: str, settings: Settings) -> tuple[list[CheckTask], list[Finding]]:
    """The COCO files of a dataset folder, checked with their images."""
    files, findings = _discover_files(root, settings)
    return [CheckTask("coco", f, True) for f in files], findings


def check(task: CheckTask, data: bytes | None, settings: Settings) -> list[Finding]:
    """One COCO file's findings; ``task.context`` says whether its images are paired. ``data`` None: read from
    the file as it is scanned."""
    if data is None:
        return check_file(task.path, settings, bool(task.context))
    return check_bytes(data, task.path, settings, pairing=bool(task.context))
