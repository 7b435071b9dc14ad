"""The LabelMe JSON syntax layer: one file parsed and checked, shared by the reader and ``cytoconv validate``.

A LabelMe file (as labelme 5.x writes it) is one JSON object per image::

    {"version": "5.5.0", "flags": {}, "shapes": [{"label": "cell", "points": [[x, y], ...],
      "group_id": null, "description": "", "shape_type": "polygon", "flags": {}, "mask": null}, ...],
     "imagePath": "cell.jpg", "imageData": null, "imageHeight": 640, "imageWidth": 853}

Written from the format's description (labelme itself is GPL-3; none of it is imported or copied). Everything
a reader needs is checked here, so that ``convert`` and ``validate`` stop at the same place with the same code:
a file that is not JSON (CC002), not a LabelMe object or without a positive integer ``imageHeight`` /
``imageWidth`` (CC003), a shape that is not an object, has no string ``label``, points that are not pairs of
finite numbers, the wrong number of points for its type, an unknown ``shape_type``, a ``group_id`` that is not
an integer, a ``mask`` that is not a base64 PNG of exactly its box (CC003), a polygon of fewer than 3 points
(CC104). Shapes are named by their place in ``shapes`` (``shapes[3]``, from 0).

``imageData`` is never decoded here (it is megabytes of base64); ``image_data_size`` reads the size from its
header only when the reader or the checker needs it (the image file is missing).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

AREA_TYPES = ("polygon", "rectangle", "circle", "point", "mask")
LINE_TYPES = ("line", "linestrip")  # no area: skipped by the reader, counted
SHAPE_TYPES = (*AREA_TYPES, *LINE_TYPES)
POINTS_NEEDED = {"rectangle": 2, "circle": 2, "point": 1, "mask": 2, "line": 2}  # exactly this many
MIN_POINTS = {"polygon": 3, "linestrip": 2}  # at least this many
PEEK_BYTES = 1 << 16
LABELS_FILE = "labels.txt"  # labelme's label list, one label a line (cytoconv writes one)
IGNORED_LABELS = ("__ignore__", "_background_")  # the first lines of labelme's example labels.txt
_KEY_SHAPES = re.compile(rb'"shapes"\s*:\s*\[')
_KEY_IMAGE = re.compile(rb'"(imagePath|imageHeight|imageWidth)"\s*:')


class Sink(Protocol):
    """Where problems go (``cytoconv.problems.ProblemSink``: a reader's ``ReaderSink`` or validate's sink)."""

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
    ) -> None: ...


@dataclass
class Shape:
    """One entry of ``shapes``, checked: ``points`` an ``(n, 2)`` array, ``mask`` the decoded crop (boolean,
    ``mask`` shapes only), ``ok`` false when a problem was reported for it (the reader leaves it out)."""

    index: int
    label: str
    shape_type: str
    points: npt.NDArray[np.float64]
    group_id: int | None = None
    flags: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    mask: npt.NDArray[np.bool_] | None = None
    ok: bool = True


@dataclass
class LabelmeDocument:
    """One LabelMe file: its shapes in file order and the image it describes."""

    shapes: list[Shape]
    image_path: str | None
    image_data: str | None
    width: int
    height: int
    flags: dict[str, Any]
    version: str | None


def looks_like_labelme(path: str | Path) -> bool:
    """Whether a file is a LabelMe JSON object, from its first and last bytes (never parsed whole): an object
    with a ``shapes`` list and ``imagePath``, ``imageHeight`` or ``imageWidth``. A COCO file has none of them."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(PEEK_BYTES)
            if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
                return False
            if not _KEY_SHAPES.search(head):
                return False
            if _KEY_IMAGE.search(head):
                return True
            fh.seek(0, 2)
            size = fh.tell()
            if size <= PEEK_BYTES:
                return False
            fh.seek(max(PEEK_BYTES, size - PEEK_BYTES))
            return _KEY_IMAGE.search(fh.read()) is not None
    except OSError:
        return False


def _name(shape: Shape | int, label: str | None = None) -> str:
    index = shape.index if isinstance(shape, Shape) else shape
    label = shape.label if isinstance(shape, Shape) else label
    return f"shapes[{index}]" + (f" ({label})" if label else "")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _size_value(doc: dict[str, Any], key: str, path: str, sink: Sink) -> int | None:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        shown = "missing" if key not in doc else f"{value!r}, not a positive integer"
        sink("CC003", path, f"{key} is {shown}")
        return None
    return value


def decode_mask(text: Any) -> npt.NDArray[np.bool_] | None:
    """A shape's ``mask``: base64 of a PNG (labelme writes the 0/1 crop as an 8-bit grey PNG) as a boolean
    array (non-zero: inside); None when it is not a base64 PNG of one channel."""
    if not isinstance(text, str):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(raw)) as im:
            arr = np.asarray(im)
    except Exception:
        return None
    if arr.ndim != 2:
        return None
    inside: npt.NDArray[np.bool_] = arr != 0
    return inside


def image_data_size(text: str) -> tuple[int, int] | None:
    """The (width, height) of an embedded ``imageData`` from its header (no pixel is decoded); None when it is
    not a base64 image."""
    from PIL import Image

    try:
        raw = base64.b64decode(text, validate=False)
        with Image.open(io.BytesIO(raw)) as im:
            width, height = im.size
            return int(width), int(height)
    except Exception:
        return None


def _points(value: Any) -> npt.NDArray[np.float64] | None:
    if not isinstance(value, list):
        return None
    for p in value:
        if not isinstance(p, list) or len(p) != 2 or not _number(p[0]) or not _number(p[1]):
            return None
    return np.asarray(value, dtype=np.float64).reshape(-1, 2)


def _shape(raw: Any, k: int, path: str, sink: Sink, size: tuple[int, int] | None) -> Shape | None:
    """One entry of ``shapes`` checked; None when it cannot even be named (not an object, no label)."""
    if not isinstance(raw, dict):
        sink("CC003", path, f"{_name(k)}: not a JSON object")
        return None
    label = raw.get("label")
    if not isinstance(label, str):
        sink("CC003", path, f"{_name(k)}: label is {'missing' if 'label' not in raw else repr(label)}")
        return None
    shape_type = raw.get("shape_type")
    if shape_type is None:
        shape_type = "polygon"  # files of labelme before 3.x have no shape_type: polygons
    where = _name(k, label)
    shape = Shape(k, label, str(shape_type), np.zeros((0, 2)))
    if shape_type not in SHAPE_TYPES:
        sink("CC003", path, f"{where}: unknown shape_type {shape_type!r} (known: {', '.join(SHAPE_TYPES)})")
        shape.ok = False
        return shape
    points = _points(raw.get("points"))
    if points is None:
        sink("CC003", path, f"{where}: points must be a list of [x, y] pairs of finite numbers")
        shape.ok = False
        return shape
    shape.points = points
    n = len(points)
    if shape_type in POINTS_NEEDED and n != POINTS_NEEDED[shape_type]:
        sink("CC003", path, f"{where}: a {shape_type} needs {POINTS_NEEDED[shape_type]} point(s), has {n}")
        shape.ok = False
    elif shape_type in MIN_POINTS and n < MIN_POINTS[shape_type]:
        code = "CC104" if shape_type == "polygon" else "CC003"
        sink(code, path, f"{where}: a {shape_type} needs at least {MIN_POINTS[shape_type]} points, has {n}")
        shape.ok = False
    group_id = raw.get("group_id")
    if group_id is not None and (isinstance(group_id, bool) or not isinstance(group_id, int)):
        sink("CC003", path, f"{where}: group_id is {group_id!r}, not an integer or null")
        shape.ok = False
    else:
        shape.group_id = group_id
    flags = raw.get("flags")
    if flags is not None and not isinstance(flags, dict):
        sink("CC003", path, f"{where}: flags is {flags!r}, not an object")
        shape.ok = False
    else:
        shape.flags = flags or {}
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        sink("CC003", path, f"{where}: description is {description!r}, not a string")
        shape.ok = False
    else:
        shape.description = description or ""
    if shape_type == "mask" and shape.ok:
        _check_mask(shape, raw.get("mask"), path, sink, size)
    return shape


def _check_label(shape: Shape, path: str, sink: Sink, names: Collection[str], source: str) -> None:
    """A label outside the known classes (CC202); only for a shape otherwise sound and read (not a line), so
    that each shape counts once."""
    if shape.ok and shape.shape_type not in LINE_TYPES and shape.label not in names:
        sink("CC202", path, f"{_name(shape)}: label {shape.label!r} is not in {source}")
        shape.ok = False


def _check_mask(shape: Shape, text: Any, path: str, sink: Sink, size: tuple[int, int] | None) -> None:
    """A ``mask`` shape: the PNG crop ``[ymin:ymax+1, xmin:xmax+1]`` of the box its two points give (the
    inclusive pixel indices of the mask's first and last pixel), which it must fill exactly."""
    where = _name(shape)
    mask = decode_mask(text)
    if mask is None:
        sink("CC003", path, f"{where}: mask is not a base64 PNG of one channel")
        shape.ok = False
        return
    (x0, y0), (x1, y1) = shape.points
    if not all(float(v).is_integer() for v in (x0, y0, x1, y1)) or x1 < x0 or y1 < y0:
        sink("CC003", path, f"{where}: a mask's points must be whole pixels [[xmin, ymin], [xmax, ymax]]")
        shape.ok = False
        return
    want = (int(y1) - int(y0) + 1, int(x1) - int(x0) + 1)
    if mask.shape != want:
        sink(
            "CC003",
            path,
            f"{where}: the mask PNG is {mask.shape[1]}x{mask.shape[0]} px, its box "
            f"[[{x0:g}, {y0:g}], [{x1:g}, {y1:g}]] is {want[1]}x{want[0]}",
        )
        shape.ok = False
        return
    if size is not None and (x0 < 0 or y0 < 0 or x1 >= size[0] or y1 >= size[1]):
        sink("CC003", path, f"{where}: the mask's box reaches outside the {size[0]}x{size[1]} image")
        shape.ok = False
        return
    shape.mask = mask


def scan(
    data: bytes, path: str, sink: Sink, names: Collection[str] | None = None, names_source: str = ""
) -> LabelmeDocument | None:
    """Parse and check one LabelMe file; None when the file as a whole is unusable (reported). Shapes with a
    problem are kept with ``ok`` false, except those without a usable label (not kept at all). ``names``: the
    known classes, each shape's label checked against them in file order (where ``names_source`` says they
    come from)."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        sink("CC002", path, f"not well-formed JSON: {exc}")
        return None
    if not isinstance(doc, dict):
        sink("CC003", path, "not a LabelMe file: the top level is not a JSON object")
        return None
    shapes = doc.get("shapes")
    if not isinstance(shapes, list):
        sink("CC003", path, "not a LabelMe file: no shapes list")
        return None
    width = _size_value(doc, "imageWidth", path, sink)
    height = _size_value(doc, "imageHeight", path, sink)
    if width is None or height is None:
        return None
    image_path = doc.get("imagePath")
    if image_path is not None and not isinstance(image_path, str):
        sink("CC003", path, f"imagePath is {image_path!r}, not a string")
        return None
    image_data = doc.get("imageData")
    if image_data is not None and not isinstance(image_data, str):
        sink("CC003", path, "imageData is not a base64 string or null")
        return None
    flags = doc.get("flags")
    if flags is not None and not isinstance(flags, dict):
        sink("CC003", path, f"flags is {flags!r}, not an object")
        return None
    version = doc.get("version")
    parsed = []
    for k, raw in enumerate(shapes):
        shape = _shape(raw, k, path, sink, (width, height))
        if shape is not None and names is not None:
            _check_label(shape, path, sink, names, names_source)
        parsed.append(shape)
    return LabelmeDocument(
        shapes=[s for s in parsed if s is not None],
        image_path=image_path or None,
        image_data=image_data or None,
        width=width,
        height=height,
        flags=flags or {},
        version=version if isinstance(version, str) else None,
    )


@dataclass
class Planned:
    """What planning needs of a file: the labels of its area shapes in order, its ``imagePath``, and whether it
    has points."""

    labels: list[str] = field(default_factory=list)
    image_path: str | None = None
    points: bool = False


def scan_labels(data: bytes) -> Planned | None:
    """A file's ``Planned`` (no checks: ``scan`` reports the problems when the file is loaded); None when it
    is a JSON object that is not LabelMe (no ``shapes``, no ``imagePath``)."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return Planned()
    if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
        return None if isinstance(doc, dict) and "imagePath" not in doc else Planned()
    shapes = [s for s in doc["shapes"] if isinstance(s, dict) and isinstance(s.get("label"), str)]
    kinds = [s.get("shape_type", "polygon") for s in shapes]
    image_path = doc.get("imagePath")
    return Planned(
        labels=[s["label"] for s, kind in zip(shapes, kinds) if kind not in LINE_TYPES],
        image_path=image_path if isinstance(image_path, str) and image_path else None,
        points="point" in kinds,
    )
