"""Aperio ImageScope and ASAP XML syntax: one parse and one scan per file, shared by both readers and by
``cytoconv validate`` (``check.py``), so that both stop at the same file, shape and code.

Both tools write one XML file per slide (or tile) with pixel coordinates of the full-resolution image, origin at
its top-left corner: the model's own coordinates, read as they are (no shift). The scan turns the bytes into a
``SlideDocument``: every shape (an Aperio ``<Region>``, an ASAP ``<Annotation>``) with its class, its kind, its
vertices as written and the line of its tag. Problems go to a ``cytoconv.problems.ProblemSink`` by code.

Every file is parsed by defusedxml with DTDs forbidden: a ``<!DOCTYPE>`` (which billion-laughs and external-
entity attacks need) is refused before anything is expanded or fetched, as for Pascal VOC.

This module is imported on every pre-commit run: no pydantic, no dataset model, no image library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cytoconv.formats import safexml
from cytoconv.formats.safexml import number
from cytoconv.problems import ProblemSink

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

SNIFF_BYTES = 4096
APERIO, ASAP = "aperio", "asap"
Kind = Literal["polygon", "point", "points"]


@dataclass(slots=True)
class Shape:
    """One shape as written: ``index`` its 1-based number in file order, ``where`` how messages name it
    (``annotation 1 (tumor), region 3``), ``vertices`` the (x, y) pairs as written, consecutive repeats
    dropped (``repeats`` counts them) and a closing repeat of the first vertex dropped (not counted: both
    tools write rings either way). ``negative``: an Aperio ``NegativeROA="1"`` region (a hole). ``ok`` is False
    when the shape has a problem and is not read."""

    index: int
    line: int | None
    where: str
    name: str
    kind: Kind
    vertices: list[tuple[float, float]]
    negative: bool = False
    source_type: str = ""
    repeats: int = 0
    region_id: int | None = None  # Aperio: the region's ``Id`` when it is an integer
    attributes: dict[str, Any] = field(default_factory=dict)
    ok: bool = True


@dataclass(slots=True)
class SlideDocument:
    """One Aperio or ASAP file: its dialect, its shapes, the class names in order of appearance (ASAP: the
    ``<AnnotationGroups>`` first), their colours, and ``microns_per_pixel`` (Aperio's ``MicronsPerPixel``)."""

    path: str
    dialect: str
    shapes: list[Shape]
    names: list[str]
    colours: dict[str, str] = field(default_factory=dict)
    microns_per_pixel: float | None = None


# ---------------------------------------------------------------------------------------------
# Sniffing


def sniff(path: str | Path) -> str | None:
    """``"aperio"`` or ``"asap"`` from a file's first 4 KiB, or None: the one sniffer of ``detect`` and of
    ``validate`` (cheap: a folder of 10,000 slides is not parsed to be recognised)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return None
    return sniff_bytes(head)


def sniff_bytes(head: bytes) -> str | None:
    """The dialect of a file's first bytes: ASAP's root ``<ASAP_Annotations>``; Aperio's root ``<Annotations``
    with an ``<Annotation`` and either ``MicronsPerPixel`` or ``<Regions`` (CVAT's ``<annotations>`` is
    lower case and has ``<meta>``; VOC's root is ``<annotation>``)."""
    if b"<ASAP_Annotations" in head:
        return ASAP
    start = head.find(b"<Annotations")
    if start >= 0 and (b"MicronsPerPixel" in head or b"<Regions" in head or b"<Region " in head):
        return APERIO
    return None


# ---------------------------------------------------------------------------------------------
# Parsing

LINE_TAGS = frozenset({"Region", "Annotation"})


def parse_xml(data: bytes, path: str, sink: ProblemSink) -> tuple[Element, dict[int, int]] | None:
    """The root element and the line of every ``<Region>`` and ``<Annotation>`` tag (by ``id(element)``);
    None after reporting CC002 (not well-formed, or a DTD or entity: refused)."""
    return safexml.parse(data, path, sink, LINE_TAGS, "slide annotation files")


def _vertices(
    points: list[tuple[str | None, str | None]], shape: Shape, path: str, sink: ProblemSink
) -> list[tuple[float, float]] | None:
    """The (x, y) pairs of one shape, consecutive repeats dropped and counted in ``shape.repeats``, a closing
    repeat of the first vertex dropped; None after reporting CC003 for a coordinate that is not a number."""
    out: list[tuple[float, float]] = []
    for k, (xt, yt) in enumerate(points):
        x, y = number(xt), number(yt)
        if x is None or y is None:
            bad = ("X", xt) if x is None else ("Y", yt)
            if sink.wants("CC003"):
                sink(
                    "CC003",
                    path,
                    f"{shape.where}: vertex {k + 1}: {bad[0]} {bad[1]!r} is not a finite number",
                    line=shape.line,
                    object_index=shape.index,
                )
            return None
        if out and out[-1] == (x, y):
            shape.repeats += 1
            continue
        out.append((x, y))
    if shape.kind == "polygon" and len(out) > 1 and out[-1] == out[0]:
        out.pop()
    return out


def _check_polygon(shape: Shape, path: str, sink: ProblemSink) -> None:
    if shape.kind == "polygon" and len(shape.vertices) < 3:
        shape.ok = False
        if sink.wants("CC104"):
            sink(
                "CC104",
                path,
                f"{shape.where}: {len(shape.vertices)} distinct vertices, a polygon needs 3",
                line=shape.line,
                object_index=shape.index,
            )
    elif shape.kind != "polygon" and not shape.vertices:
        shape.ok = False
        if sink.wants("CC104"):
            sink("CC104", path, f"{shape.where}: no coordinates", line=shape.line, object_index=shape.index)


def _aperio(root: Element, lines: dict[int, int], path: str, sink: ProblemSink) -> SlideDocument:
    mpp = number(root.get("MicronsPerPixel"))
    doc = SlideDocument(path, APERIO, [], [], microns_per_pixel=mpp if mpp and mpp > 0 else None)
    index = 0
    for a, annotation in enumerate(root.findall("Annotation"), start=1):
        name = (annotation.get("Name") or "").strip()
        if not name:
            first = annotation.find("Attributes/Attribute")
            name = (first.get("Name") or "").strip() if first is not None else ""
        if not name:
            name = f"annotation_{annotation.get('Id') or a}"
        colour = annotation.get("LineColor")
        if name not in doc.names:
            doc.names.append(name)
            if colour is not None and colour.strip().isdigit():
                doc.colours[name] = f"#{_bgr(int(colour)):06x}"
        for r, region in enumerate(annotation.findall("Regions/Region"), start=1):
            index += 1
            rid = region.get("Id") or str(r)
            line = lines.get(id(region))
            shape = Shape(
                index,
                line,
                f"annotation {a} ({name}), region {r} (Id {rid})",
                name,
                "polygon",
                [],
                negative=(region.get("NegativeROA") or "0").strip() == "1",
                source_type=(region.get("Type") or "0").strip(),
            )
            shape.region_id = int(rid) if rid.strip().isdigit() else None
            text = (region.get("Text") or "").strip()
            if text:
                shape.attributes["text"] = text
            vertices = _vertices(
                [(v.get("X"), v.get("Y")) for v in region.findall("Vertices/Vertex")], shape, path, sink
            )
            doc.shapes.append(shape)
            if vertices is None:
                shape.ok = False
                continue
            shape.vertices = vertices
            _check_polygon(shape, path, sink)
    return doc


def _bgr(value: int) -> int:
    """ImageScope's ``LineColor`` (a Windows COLORREF, 0x00BBGGRR) as 0xRRGGBB."""
    value &= 0xFFFFFF
    return ((value & 0xFF) << 16) | (value & 0xFF00) | (value >> 16)


ASAP_KINDS: dict[str, Kind] = {
    "polygon": "polygon",
    "rectangle": "polygon",
    "spline": "polygon",
    "dot": "point",
    "pointset": "points",
}


_DEFAULT_NAME = re.compile(r"Annotation \d+")


def _asap(root: Element, lines: dict[int, int], path: str, sink: ProblemSink) -> SlideDocument:
    doc = SlideDocument(path, ASAP, [], [])
    for group in root.findall("AnnotationGroups/Group"):
        name = _group_name(group.get("Name"))
        if name not in doc.names:
            doc.names.append(name)
        if group.get("Color"):
            doc.colours.setdefault(name, str(group.get("Color")))
    for k, annotation in enumerate(root.findall("Annotations/Annotation"), start=1):
        name = _group_name(annotation.get("PartOfGroup"))
        label = (annotation.get("Name") or "").strip()
        kind_text = (annotation.get("Type") or "Polygon").strip()
        line = lines.get(id(annotation))
        where = f"annotation {k}" + (f" ({label})" if label else "")
        kind = ASAP_KINDS.get(kind_text.lower())
        shape = Shape(k, line, where, name, kind or "polygon", [], source_type=kind_text)
        doc.shapes.append(shape)
        if name not in doc.names:
            doc.names.append(name)
        if kind is None:
            shape.ok = False
            if sink.wants("CC003"):
                sink(
                    "CC003",
                    path,
                    f"{where}: Type {kind_text!r} is none of Polygon, Rectangle, Spline, Dot, PointSet",
                    line=line,
                    object_index=k,
                )
            continue
        if label and not _DEFAULT_NAME.fullmatch(label):  # ASAP names every annotation "Annotation <n>"
            shape.attributes["name"] = label
        coords: list[tuple[float, Element]] = []
        for c, coord in enumerate(annotation.findall("Coordinates/Coordinate")):
            order = number(coord.get("Order"))
            coords.append((order if order is not None else float(c), coord))
        coords.sort(key=lambda pair: pair[0])
        vertices = _vertices([(c.get("X"), c.get("Y")) for _, c in coords], shape, path, sink)
        if vertices is None:
            shape.ok = False
            continue
        shape.vertices = vertices
        _check_polygon(shape, path, sink)
    return doc


def _group_name(text: str | None) -> str:
    """An ASAP group name; ``None`` (what ASAP writes for no group) and an empty one read as ``none``."""
    name = (text or "").strip()
    return "none" if name in ("", "None") else name


def scan(data: bytes, path: str, sink: ProblemSink, dialect: str | None = None) -> SlideDocument | None:
    """The document of one Aperio or ASAP file (``dialect``: the one expected, None: either). None after
    reporting CC002 (XML) or CC003 (neither root); a shape with a problem is reported and marked not ``ok``."""
    parsed = parse_xml(data, path, sink)
    if parsed is None:
        return None
    root, lines = parsed
    found = ASAP if root.tag == "ASAP_Annotations" else APERIO if root.tag == "Annotations" else None
    if found is None or (dialect is not None and found != dialect):
        wanted = {APERIO: "<Annotations>", ASAP: "<ASAP_Annotations>"}.get(
            dialect or "", "<Annotations> (Aperio) or <ASAP_Annotations> (ASAP)"
        )
        if sink.wants("CC003"):
            sink("CC003", path, f"the root is <{root.tag}>, not {wanted}")
        return None
    return _asap(root, lines, path, sink) if found == ASAP else _aperio(root, lines, path, sink)


def outside(
    shape: Shape, size: tuple[int, int], tolerance: float
) -> tuple[float, list[tuple[float, float]]] | None:
    """How far (px) a shape's farthest vertex lies outside the image, and its vertices clipped to the image;
    None when every vertex is inside. ``tolerance`` is not applied here: the caller compares."""
    width, height = size
    worst = 0.0
    clipped = []
    for x, y in shape.vertices:
        cx, cy = min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))
        worst = max(worst, abs(cx - x), abs(cy - y))
        clipped.append((cx, cy))
    return (worst, clipped) if worst > 0 else None


def tolerance_px(fraction: float, size: tuple[int, int]) -> float:
    """The pixel tolerance for vertices outside the image: ``--tolerance`` as a fraction of the image's
    larger side (1% of 1000 px: 10 px), so that it means the same on a tile and on a slide."""
    return fraction * max(size)
