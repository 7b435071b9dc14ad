"""The ImageJ ROI layer shared by the reader and ``validate``: which files are ROI sets, their entries, and each
ROI (parsed by ``roifile``, BSD-3) turned into the model's geometry.

ImageJ's conventions (ij/gui/Roi.java, as roifile documents the binary layout):

- polygon, freehand and traced ROIs: integer vertices relative to the ROI's ``left``/``top`` (pixel corners:
  the corner model's own, no shift), or absolute float32 sub-pixel vertices when the ROI has them (read
  instead of the integer ones, which are their rounding);
- rectangles: ``left, top, right, bottom`` (or the sub-pixel ``xd, yd, widthd, heightd``): a box;
- ovals: the ellipse inscribed in the same bounds; read as the exact pixel outline of the pixels whose centres
  lie inside it (what ImageJ's own ``OvalRoi`` mask holds), counted ``shape-as-outline``;
- points and multipoints: ImageJ draws a point at integer ``x`` on pixel ``x``, centred at ``x + 0.5``: point
  coordinates are pixel indices, so the model's point is ``(x + 0.5, y + 0.5)`` (the writer subtracts 0.5);
- straight, segmented and freehand lines and angles have no area: skipped and counted (``line-skipped``);
  composite (shape) ROIs and ROI types without a shape are skipped and counted (``annotation-not-read``).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cytoconv.errors import FormatError
from cytoconv.ir import Box, Geometry, Point, Polygon

__all__ = [
    "CLASSES_FILE",
    "MAX_ENTRY",
    "RoiShape",
    "entries",
    "image_stem",
    "is_roi_bytes",
    "is_roiset",
    "parse",
    "shapes",
]

MAGIC = b"Iout"
CLASSES_FILE = "classes.txt"  # the class names in group order, one a line (cytoconv writes one)
MAX_ENTRY = 64 * 1024 * 1024  # bytes read of one .roi entry (a zip bomb stops here)
STEM_SUFFIXES = ("_rois", "_roiset", "-roiset")  # Cellpose's <stem>_rois.zip; <stem>_RoiSet.zip
POLYGONS = (0, 7, 8)  # polygon, freehand, traced
LINES = (3, 4, 5, 9)  # line, freeline, polyline, angle
RECT, OVAL, POINT = 1, 2, 10


def is_roi_bytes(data: bytes) -> bool:
    """Whether bytes start like an ImageJ ROI (the ``Iout`` magic)."""
    return data[:4] == MAGIC


def is_roiset(path: str) -> bool:
    """Whether a ``.zip`` file holds ImageJ ROIs: a zip whose entries are ``.roi`` files (its first entry's
    magic is checked). An empty zip is not evidence (detection), but is read as an image with no ROIs."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            if not names or not all(n.lower().endswith(".roi") for n in names):
                return False
            with zf.open(names[0]) as fh:
                return is_roi_bytes(fh.read(4))
    except (OSError, zipfile.BadZipFile, ValueError, NotImplementedError, RuntimeError, EOFError):
        return False


def image_stem(path: str) -> str:
    """The stem of the image a ROI set belongs to: ``<stem>.zip``, ``<stem>_rois.zip`` (Cellpose) and
    ``<stem>_RoiSet.zip`` give ``<stem>``; ``RoiSet.zip`` its folder's name; a folder of ``.roi`` files its
    name; a ``.roi`` file given alone its own stem."""
    base = os.path.basename(path.rstrip("/"))
    if base.lower().endswith(".roi"):
        return base[:-4]
    if not base.lower().endswith(".zip"):
        return base
    stem = base[:-4]
    if stem.lower() == "roiset":
        return os.path.basename(os.path.dirname(os.path.abspath(path)))
    for suffix in STEM_SUFFIXES:
        if stem.lower().endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def entries(path: str) -> list[tuple[str, bytes]]:
    """The ``.roi`` entries of a ROI set (a zip file, or a folder of ``.roi`` files), in stored order (ImageJ's
    ROI Manager order), as (entry name, bytes). A zip that cannot be opened is ``not-well-formed``; an entry
    that is not ``.roi`` is not read (returned with empty bytes so the caller counts it)."""
    if path.lower().endswith(".roi") and os.path.isfile(path):
        try:
            with open(path, "rb") as fh:
                return [(os.path.basename(path), fh.read(MAX_ENTRY))]
        except OSError as exc:
            raise FormatError(path, f"cannot read: {exc.strerror or exc}", code="unreadable") from None
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n.lower().endswith(".roi") and not n.startswith("."))
        found = []
        for n in names:
            try:
                with open(os.path.join(path, n), "rb") as fh:
                    found.append((n, fh.read(MAX_ENTRY)))
            except OSError as exc:
                raise FormatError(
                    os.path.join(path, n), f"cannot read: {exc.strerror or exc}", code="unreadable"
                ) from None
        return found
    try:
        with zipfile.ZipFile(path) as zf:
            found = []
            for info in zf.infolist():
                if info.is_dir():
                    continue
                if not info.filename.lower().endswith(".roi"):
                    found.append((info.filename, b""))
                    continue
                with zf.open(info) as fh:
                    found.append((info.filename, fh.read(MAX_ENTRY)))
            return found
    except OSError as exc:
        raise FormatError(path, f"cannot read: {exc.strerror or exc}", code="unreadable") from None
    except (zipfile.BadZipFile, ValueError, NotImplementedError, RuntimeError, EOFError, KeyError) as exc:
        raise FormatError(path, f"not a readable zip file ({exc})", code="not-well-formed") from None
    except Exception as exc:  # zlib.error and other damage inside a member
        raise FormatError(path, f"a damaged zip file ({exc})", code="not-well-formed") from None


def parse(data: bytes, path: str, entry: str) -> Any:
    """One ``.roi`` entry through roifile; anything it cannot parse is ``bad-structure`` naming the entry."""
    import roifile

    if not is_roi_bytes(data):
        raise FormatError(path, f"ROI {entry!r}: not an ImageJ ROI (no 'Iout' magic)", code="bad-structure")
    try:
        return roifile.ImagejRoi.frombytes(data)
    except Exception as exc:  # roifile raises ValueError, struct.error, IndexError ... on damaged data
        raise FormatError(
            path, f"ROI {entry!r}: roifile cannot parse it ({exc})", code="bad-structure"
        ) from None


@dataclass
class RoiShape:
    """One ROI's reading: its geometry (None: skipped, ``skipped`` says why: a notice slug) and its group."""

    entry: str
    name: str
    group: int
    geometries: list[Geometry]
    skipped: str | None = None
    detail: str = ""


def _vertices(roi: Any) -> np.ndarray[Any, Any]:
    """A polygon or point ROI's vertices: the sub-pixel ones when present, else the integer ones made
    absolute (``left``/``top`` added)."""
    if roi.subpixel_coordinates is not None:
        return np.asarray(roi.subpixel_coordinates, dtype=np.float64).reshape(-1, 2)
    if roi.integer_coordinates is not None:
        coords = np.asarray(roi.integer_coordinates, dtype=np.float64).reshape(-1, 2)
        shifted: np.ndarray[Any, Any] = coords + np.array([float(roi.left), float(roi.top)])
        return shifted
    return np.empty((0, 2), dtype=np.float64)


def _bounds(roi: Any) -> tuple[float, float, float, float]:
    """A rectangle's or oval's x, y, width, height (sub-pixel when the ROI has them)."""
    if roi.subpixelrect:
        return float(roi.xd), float(roi.yd), float(roi.widthd), float(roi.heightd)
    return float(roi.left), float(roi.top), float(roi.right - roi.left), float(roi.bottom - roi.top)


def oval_outline(x: float, y: float, w: float, h: float) -> Polygon | None:
    """The exact pixel outline of the ellipse inscribed in a box: the pixels whose centres lie inside or on
    it, traced along pixel edges; None when no pixel centre is inside."""
    from cytoconv.geometry.outline import trace

    if w <= 0 or h <= 0:
        return None
    cx, cy, rx, ry = x + w / 2, y + h / 2, w / 2, h / 2
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    x1, y1 = int(np.ceil(x + w)), int(np.ceil(y + h))
    xs = np.arange(x0, x1, dtype=np.float64) + 0.5
    ys = np.arange(y0, y1, dtype=np.float64) + 0.5
    inside = ((xs[None, :] - cx) / rx) ** 2 + ((ys[:, None] - cy) / ry) ** 2 <= 1.0
    if not inside.any():
        return None
    return trace(inside, x0, y0)


def shape_of(roi: Any, entry: str) -> RoiShape:
    """One parsed ROI in the model (see the module docstring for each type)."""
    kind = int(roi.roitype)
    name = str(roi.name or os.path.splitext(os.path.basename(entry))[0])
    group = int(roi.group or 0)
    shape = RoiShape(entry, name, group, [])
    if getattr(roi, "composite", False):
        shape.skipped, shape.detail = "annotation-not-read", "a composite (shape) ROI"
    elif kind in POLYGONS:
        pts = _vertices(roi)
        if not np.isfinite(pts).all():
            shape.skipped, shape.detail = "bad-structure", "a vertex that is not a finite number"
        elif len(pts) < 3:
            shape.skipped, shape.detail = "too-few-points", f"a polygon of {len(pts)} vertices"
        else:
            shape.geometries.append(Polygon.trusted(kind="polygon", rings=[pts], holes=[False]))
    elif kind == RECT:
        x, y, w, h = _bounds(roi)
        if not (w > 0 and h > 0) or not np.isfinite([x, y, w, h]).all():
            shape.skipped, shape.detail = "bad-structure", f"a rectangle of {w:g}x{h:g} px"
        else:
            shape.geometries.append(Box.trusted(kind="box", x=x, y=y, w=w, h=h))
    elif kind == OVAL:
        x, y, w, h = _bounds(roi)
        outline = oval_outline(x, y, w, h) if np.isfinite([x, y, w, h]).all() and w * h < 1e9 else None
        if outline is None:
            shape.skipped, shape.detail = "empty-mask", f"an oval of {w:g}x{h:g} px round no pixel centre"
        else:
            shape.geometries.append(outline)
            shape.detail = "oval"
    elif kind == POINT:
        pts = _vertices(roi)
        if not np.isfinite(pts).all():
            shape.skipped, shape.detail = "bad-structure", "a point that is not a finite number"
        shape.geometries.extend(
            Point.trusted(kind="point", x=float(px) + 0.5, y=float(py) + 0.5) for px, py in pts
        )
    elif kind in LINES:
        shape.skipped, shape.detail = "line-skipped", "a line ROI (no area)"
    else:
        shape.skipped, shape.detail = "annotation-not-read", f"a ROI of type {kind} (no shape)"
    if shape.skipped in ("bad-structure",):
        shape.geometries = []
    return shape


def shapes(path: str, on_error: Callable[[FormatError], None]) -> list[RoiShape]:
    """The shapes of a ROI set; an entry that cannot be parsed goes to ``on_error`` (which raises in strict
    runs) and is left out. The set itself not readable raises."""
    found = []
    for entry, data in entries(path):
        if not entry.lower().endswith(".roi"):
            found.append(
                RoiShape(entry, entry, 0, [], "file-not-read", "a zip entry that is not a .roi file")
            )
            continue
        try:
            roi = parse(data, path, entry)
        except FormatError as error:
            on_error(error)
            continue
        found.append(shape_of(roi, entry))
    return found


def foreign_zip(path: str) -> bool:
    """A zip that opens and holds files, none of them ``.roi``: some other archive beside the sets, not read
    (a damaged zip is not foreign: reading it reports the damage)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
    except Exception:
        return False
    return bool(names) and not any(n.lower().endswith(".roi") for n in names)


def roi_sets(root: Path) -> list[str]:
    """The ROI sets below ``root``: every ``.zip`` file (at any depth; ``foreign_zip`` ones are the caller's
    to leave out) and every folder holding ``.roi`` files, sorted by path."""
    from cytoconv.engine.files import walk_files

    found: set[str] = set()
    for f in walk_files(root):
        low = f.lower()
        if low.endswith(".zip"):
            found.add(f)
        elif low.endswith(".roi"):
            found.add(os.path.dirname(f))
    return sorted(found)
