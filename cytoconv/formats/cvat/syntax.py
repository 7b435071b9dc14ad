"""CVAT for images 1.1 XML syntax: one parse, one sniffer and one scan, shared by the reader and ``validate``.

The scan turns the bytes of one ``<annotations>`` file (one CVAT task, job or project export) into a
``CvatDocument`` of plain dataclasses: the ``<meta>`` labels in their order, and every ``<image>`` with its
shapes, each numbered (1-based, in file order within its image) and with the line of its tag. Every problem goes
to a ``cytoconv.problems.ProblemSink`` by code; the validator's sink makes findings of them, the reader's raises
or counts. A shape or image with an error is marked ``bad`` whatever the sink wants, so the reader leaves out
exactly what the validator calls an error: one parser, one verdict.

Every file is parsed by defusedxml with DTDs forbidden: a ``<!DOCTYPE>`` (which billion-laughs and
external-entity attacks need) is refused before anything is expanded or fetched.

This module is imported on every pre-commit run: no pydantic, no dataset model, no image library, no numpy.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cytoconv.formats import safexml
from cytoconv.problems import ProblemSink

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

SNIFF_BYTES = 4096
ANNOTATIONS_FILE = "annotations.xml"  # what CVAT's export zip holds
SHAPES = ("box", "polygon", "points", "ellipse", "mask")
SKIPPED = ("polyline", "cuboid", "skeleton")  # shapes with no form in the model: counted, not read
TOP_SKIPPED = ("track",)  # CVAT for video's tracks: not in the images format, counted if present
LINED = frozenset({"image", "tag", *SHAPES, *SKIPPED, *TOP_SKIPPED})
# the shape attributes kept in Instance.attributes (the geometry's own are read into the geometry)
PROPERTIES = ("occluded", "z_order", "group_id", "source")
GEOMETRY_ATTRIBUTES = {
    "box": ("xtl", "ytl", "xbr", "ybr", "rotation"),
    "polygon": ("points",),
    "points": ("points",),
    "ellipse": ("cx", "cy", "rx", "ry", "rotation"),
    "mask": ("rle", "left", "top", "width", "height"),
}
ERRORS = ("CC002", "CC003", "CC102", "CC104", "CC202", "CC304", "CC306")  # what makes a shape or image bad


@dataclass(slots=True)
class CvatShape:
    """One shape of an image: ``index`` its 1-based number among the image's shapes, ``line`` its tag's line.

    ``values`` are the numbers of its geometry: box ``xtl, ytl, xbr, ybr``; polygon and points the flat
    ``x1, y1, x2, y2, ...``; ellipse ``cx, cy, rx, ry``; mask ``left, top, width, height`` (with ``rle`` its
    counts). ``properties`` holds ``occluded``, ``z_order``, ``group_id`` and ``source`` as written,
    ``attributes`` the ``<attribute name>`` children, ``dropped`` any other XML attribute's name."""

    index: int
    line: int | None
    kind: str
    label: str
    values: tuple[float, ...] = ()
    rle: tuple[int, ...] = ()
    rotation: float = 0.0
    properties: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    bad: bool = False


@dataclass(slots=True)
class CvatImage:
    """One ``<image>``: its ``id`` and ``name`` as written, its size (None unless positive integers)."""

    index: int
    line: int | None
    id: str
    name: str
    width: int | None
    height: int | None
    subset: str | None
    shapes: list[CvatShape] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    bad: bool = False

    def where(self) -> str:
        """How messages name the image: by name and id, as CVAT's UI shows it."""
        return f"image {self.name!r} (id {self.id})" if self.name else f"image {self.index} (id {self.id})"


@dataclass(slots=True)
class CvatDocument:
    """One CVAT XML file as written."""

    path: str
    version: str | None
    labels: list[str]
    images: list[CvatImage] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


# ---------------------------------------------------------------------------------------------
# Sniffing

_ROOT = re.compile(rb"<annotations[\s>]")


def looks_like_cvat(path: str | Path) -> bool:
    """Whether a file starts like CVAT for images XML: a root ``<annotations>`` with its ``<version>`` and
    ``<meta>`` in the first 4 KiB (where CVAT writes them). A VOC ``<annotation>`` has neither the plural root
    nor ``<meta>``. Cheap: detection and ``validate`` sniff many files."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return False
    return _ROOT.search(head) is not None and b"<version>" in head and b"<meta" in head


def _xml_files(folder: Path, limit: int = 50) -> list[Path]:
    try:
        names = sorted(os.listdir(folder))[:limit]
    except OSError:
        return []
    return [folder / n for n in names if n.lower().endswith(".xml") and (folder / n).is_file()]


def find_xml(path: Path) -> tuple[Path | None, str]:
    """The CVAT XML file of ``path`` (the file, or a folder's ``annotations.xml`` or its one CVAT XML file), or
    None and why not."""
    if path.is_file():
        ok = path.suffix.lower() == ".xml" and looks_like_cvat(path)
        return (path, "") if ok else (None, "not CVAT for images XML")
    found = [f for f in _xml_files(path) if looks_like_cvat(f)]
    named = [f for f in found if f.name == ANNOTATIONS_FILE]
    if named:
        return named[0], ""
    if len(found) == 1:
        return found[0], ""
    if found:
        shown = ", ".join(f.name for f in found[:4])
        return None, f"several CVAT XML files ({shown}): give one of them"
    return None, "no CVAT XML file"


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_xml(data: bytes, path: str, sink: ProblemSink) -> tuple[Element, dict[int, int]] | None:
    """The root element and the line of every image, tag and shape element (by ``id(element)``); None after
    reporting CC002 (not well-formed, or a DTD or entity: refused) to ``sink``."""
    return safexml.parse(data, path, sink, LINED, "CVAT files")


# ---------------------------------------------------------------------------------------------
# Scanning


def _positive_int(text: str | None) -> int | None:
    """A whole number above zero (``640`` or ``640.0``), or None."""
    value = safexml.number(text)
    return int(value) if value is not None and value == int(value) and value > 0 else None


class _Shape:
    """The checks of one shape: each problem reported once to the sink (when wanted) and marking it bad."""

    def __init__(self, sink: ProblemSink, path: str, image: CvatImage, shape: CvatShape) -> None:
        self.sink, self.path, self.image, self.shape = sink, path, image, shape

    def problem(self, code: str, message: str) -> None:
        """Mark the shape bad and tell the sink, naming the image and the shape."""
        shape = self.shape
        if code in ERRORS:
            shape.bad = True
        if self.sink.wants(code):
            label = f" ({shape.label})" if shape.label else ""
            where = f"{self.image.where()}, shape {shape.index} <{shape.kind}>{label}"
            self.sink(code, self.path, f"{where}: {message}", line=shape.line)

    def number(self, element: Element, key: str) -> float | None:
        """A numeric XML attribute, or None after reporting it missing, not a number (CC003) or not finite
        (CC102)."""
        text = element.get(key)
        if text is None:
            self.problem("CC003", f"no {key}")
            return None
        try:
            value = float(text.strip())
        except ValueError:
            self.problem("CC003", f"{key}={text!r} is not a number")
            return None
        if not math.isfinite(value):
            self.problem("CC102", f"{key}={text!r} is not finite")
            return None
        return value

    def points(self, element: Element) -> tuple[float, ...] | None:
        """``points="x1,y1;x2,y2;..."`` as flat numbers, or None after reporting what is wrong."""
        text = element.get("points")
        if text is None:
            self.problem("CC003", "no points")
            return None
        flat: list[float] = []
        for k, pair in enumerate(text.split(";"), start=1):
            parts = pair.split(",")
            if len(parts) != 2:
                self.problem("CC003", f"point {k} {pair.strip()!r} is not 'x,y'")
                return None
            for part in parts:
                try:
                    value = float(part.strip())
                except ValueError:
                    self.problem("CC003", f"point {k} {pair.strip()!r} has a coordinate that is not a number")
                    return None
                if not math.isfinite(value):
                    self.problem("CC102", f"point {k} {pair.strip()!r} has a coordinate that is not finite")
                    return None
                flat.append(value)
        return tuple(flat)


def scan(data: bytes, path: str, sink: ProblemSink, tolerance: float = 1.0) -> CvatDocument | None:
    """The document of one CVAT XML file, every problem reported: XML (CC002), the root or ``<meta>``
    (CC003; None then), images without a name or size (CC003, the image bad), and each shape's (``_scan_shape``).
    ``tolerance`` (px) is how far a shape may reach outside its image before CC305 (a warning)."""
    parsed = parse_xml(data, path, sink)
    if parsed is None:
        return None
    root, lines = parsed
    if root.tag != "annotations":
        if sink.wants("CC003"):
            sink("CC003", path, f"not CVAT for images XML: the root is <{root.tag}>, not <annotations>")
        return None
    meta = root.find("meta")
    if meta is None:
        if sink.wants("CC003"):
            sink("CC003", path, "no <meta>: the labels (and their order, the category order) are unknown")
        return None
    labels: list[str] = []
    for group in meta.iter("labels"):
        for label in group.findall("label"):
            name = (label.findtext("name") or "").strip()
            if name and name not in labels:
                labels.append(name)
    document = CvatDocument(path, (root.findtext("version") or "").strip() or None, labels)
    known = frozenset(labels)
    for child in root:
        if child.tag in TOP_SKIPPED or child.tag not in ("image", "meta", "version"):
            document.skipped[child.tag] += 1
    for k, element in enumerate(root.findall("image"), start=1):
        document.images.append(_scan_image(element, k, lines, path, sink, known, tolerance))
    return document


def _scan_image(
    element: Element,
    index: int,
    lines: dict[int, int],
    path: str,
    sink: ProblemSink,
    known: frozenset[str],
    tolerance: float,
) -> CvatImage:
    image = CvatImage(
        index,
        lines.get(id(element)),
        element.get("id", str(index - 1)),
        (element.get("name") or "").strip(),
        _positive_int(element.get("width")),
        _positive_int(element.get("height")),
        element.get("subset"),
    )
    if not image.name or image.width is None or image.height is None:
        image.bad = True
        if sink.wants("CC003"):
            what = (
                "no name"
                if not image.name
                else f"width {element.get('width')!r}, height {element.get('height')!r} "
                "are not positive integers"
            )
            sink("CC003", path, f"{image.where()}: {what}", line=image.line)
    number = 0
    for child in element:
        tag = child.tag
        if tag == "tag":
            label = (child.get("label") or "").strip()
            if label not in known:
                image.bad = True
                if sink.wants("CC202"):
                    sink(
                        "CC202",
                        path,
                        f"{image.where()}, <tag>: label {label!r} is not among the {len(known)} <meta> labels",
                        line=lines.get(id(child)),
                    )
            else:
                image.tags.append(label)
            continue
        if tag not in SHAPES and tag not in SKIPPED:
            image.skipped[tag] += 1
            continue
        number += 1
        if tag in SKIPPED:
            image.skipped[tag] += 1
            continue
        shape = CvatShape(number, lines.get(id(child)), tag, (child.get("label") or "").strip())
        _scan_shape(child, _Shape(sink, path, image, shape), known, tolerance)
        image.shapes.append(shape)
    return image


def _scan_shape(element: Element, check: _Shape, known: frozenset[str], tolerance: float) -> None:
    """One shape's label (CC003 none, CC202 not in ``<meta>``), numbers (CC003, CC102), and geometry: an
    inverted box (CC304), a polygon of fewer than 3 points (CC104), a point outside the image (CC306), a mask
    whose RLE does not fill its box or whose box leaves the image (CC003), a radius not positive (CC003), a shape
    reaching outside the image by more than ``tolerance`` (CC305, a warning)."""
    shape, image = check.shape, check.image
    if not shape.label:
        check.problem("CC003", "no label")
    elif shape.label not in known:
        check.problem("CC202", f"label {shape.label!r} is not among the {len(known)} <meta> labels")
    own = GEOMETRY_ATTRIBUTES[shape.kind]
    for key, value in element.attrib.items():
        if key in PROPERTIES:
            shape.properties[key] = value
        elif key not in own and key != "label":
            shape.dropped.append(key)
    for child in element:
        if child.tag == "attribute":
            shape.attributes[(child.get("name") or "").strip()] = child.text or ""
        else:
            shape.dropped.append(f"<{child.tag}>")
    if "rotation" in own and element.get("rotation") is not None:
        rotation = check.number(element, "rotation")
        shape.rotation = rotation or 0.0
    kind = shape.kind
    width, height = image.width, image.height
    sized = width is not None and height is not None
    if kind in ("box", "ellipse"):
        keys = ("xtl", "ytl", "xbr", "ybr") if kind == "box" else ("cx", "cy", "rx", "ry")
        numbers = [check.number(element, key) for key in keys]
        if any(v is None for v in numbers):
            return
        values = tuple(v for v in numbers if v is not None)
        shape.values = values
        if kind == "box" and (values[2] < values[0] or values[3] < values[1]):
            check.problem("CC304", f"inverted box {_shown(values)}: xbr < xtl or ybr < ytl")
            return
        if kind == "ellipse" and (values[2] <= 0 or values[3] <= 0):
            check.problem("CC003", f"ellipse radii rx={values[2]:g}, ry={values[3]:g} are not positive")
            return
        if kind == "box":
            extent = values
        else:
            r = max(values[2], values[3])
            extent = (values[0] - r, values[1] - r, values[0] + r, values[1] + r)
        _outside(check, extent, tolerance)
    elif kind in ("polygon", "points"):
        flat = check.points(element)
        if flat is None:
            return
        shape.values = flat
        if kind == "polygon" and len(flat) < 6:
            check.problem("CC104", f"a polygon of {len(flat) // 2} point(s): it needs at least 3")
            return
        xs, ys = flat[0::2], flat[1::2]
        if kind == "points":
            if sized:
                assert width is not None and height is not None
                for k, (x, y) in enumerate(zip(xs, ys), start=1):
                    if not (0 <= x <= width and 0 <= y <= height):
                        check.problem(
                            "CC306", f"point {k} ({x:g}, {y:g}) is outside the {width}x{height} image"
                        )
                        return
        else:
            _outside(check, (min(xs), min(ys), max(xs), max(ys)), tolerance)
    else:
        _scan_mask(element, check)


def _scan_mask(element: Element, check: _Shape) -> None:
    """``<mask rle="c1, c2, ..." left top width height>``: the counts run row-major inside the mask's box,
    starting with background, and must add up to ``width * height``; the box must lie inside the image."""
    shape, image = check.shape, check.image
    box: list[int] = []
    for key in ("left", "top", "width", "height"):
        value = check.number(element, key)
        if value is None:
            return
        if value != int(value) or value < (1 if key in ("width", "height") else 0):
            check.problem(
                "CC003",
                f"{key}={element.get(key)!r} is not a "
                + ("positive integer" if key in ("width", "height") else "non-negative integer"),
            )
            return
        box.append(int(value))
    left, top, width, height = box
    shape.values = (float(left), float(top), float(width), float(height))
    text = element.get("rle")
    if text is None:
        check.problem("CC003", "no rle")
        return
    counts: list[int] = []
    for k, token in enumerate(text.split(","), start=1):
        token = token.strip()
        if not token.isdigit():
            check.problem("CC003", f"rle count {k} {token!r} is not a non-negative integer")
            return
        counts.append(int(token))
    total = sum(counts)
    if total != width * height:
        check.problem(
            "CC003",
            f"the rle counts add up to {total} pixels, not the {width}x{height} = {width * height} of the "
            "mask's box (left, top, width, height)",
        )
        return
    if (
        image.width is not None
        and image.height is not None
        and (left + width > image.width or top + height > image.height)
    ):
        check.problem(
            "CC003",
            f"the mask's box ({left}, {top}, {width}x{height}) reaches outside the {image.width}x{image.height} "
            "image",
        )
        return
    shape.rle = tuple(counts)


def _outside(check: _Shape, extent: tuple[float, ...], tolerance: float) -> None:
    image = check.image
    if image.width is None or image.height is None or not check.sink.wants("CC305"):
        return
    x0, y0, x1, y1 = extent
    if x0 < -tolerance or y0 < -tolerance or x1 > image.width + tolerance or y1 > image.height + tolerance:
        check.problem(
            "CC305",
            f"reaches outside the {image.width}x{image.height} image ({_shown(extent)}, tolerance "
            f"{tolerance:g} px)",
        )


def _shown(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"
