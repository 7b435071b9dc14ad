"""CVAT for images 1.1 XML: one ``<annotations>`` file per task, job or project export (``annotations.xml``).

Read: the XML file itself, or a folder holding it (CVAT's export: ``annotations.xml`` beside ``images/``). The
file is scanned by the syntax layer ``cytoconv validate`` runs too (``syntax.scan``), so the reader stops
(strict) or skips and counts (lenient) exactly where the validator finds an error, with the same code.

Conventions (docs/formats/cvat.md):

- The ``<meta>`` labels are the classes, ids 1..N in their order there; a shape whose label is not among them
  is ``unknown-class``, naming the image and the shape.
- Coordinates are CVAT's continuous image coordinates, which are the corner model's: a box is
  ``x = xtl, y = ytl, w = xbr - xtl, h = ybr - ytl`` (no shift), polygon vertices and points are as written.
  A box with a ``rotation`` is read as its 4-corner polygon (``box-as-polygon``).
- An ``<ellipse cx cy rx ry rotation>`` is read as the exact pixel outline of the pixels whose centres lie
  inside it (``shape-as-outline``): what a trainer sees of it, with no approximating polygon.
- A ``<mask rle left top width height>``: the counts run row-major inside the mask's box, starting with
  background; it is decoded exactly into an RLE of the whole image. Counts that do not add up to
  ``width * height`` are ``bad-structure``, naming the image and the shape.
- ``group_id`` joins the polygons (ellipses included) or the masks of one label in one image into one object of
  several parts; a group mixing labels or kinds (a box with a polygon) is left as separate objects, each keeping
  its ``group_id`` (``ungrouped``).
- ``occluded``, ``z_order``, ``source`` and ``group_id`` and the ``<attribute name>`` children are kept in the
  object's attributes (CVAT's own COCO export keeps them the same flat way); the defaults CVAT writes on every
  shape (``occluded="0"``, ``z_order="0"``, ``source="manual"``) are not kept, since the writer writes them
  back. An attribute ``iscrowd`` (1/true) sets the crowd flag, ``score`` (a number) the score.
- ``<polyline>``, ``<cuboid>`` and ``<skeleton>`` have no form in the model: counted (``element-ignored``).
- ``<tag label>`` is the image's label (an image-level class); a second tag is counted (``element-ignored``).
- ``subset`` is the image's split (``default``, CVAT's name for "no subset", is none). Sizes come from the XML;
  the image files are found by ``name`` under ``--images``, else ``images/`` beside the XML, else its folder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cytoconv.engine.contract import ReadOptions, ReadPlan
from cytoconv.engine.files import safe_relative
from cytoconv.errors import FormatError, Report
from cytoconv.formats import LAYOUT, REFUSED, Evidence
from cytoconv.formats.cvat.syntax import ERRORS, CvatImage, CvatShape, find_xml, looks_like_cvat, scan
from cytoconv.formats.cvat.writer import writer
from cytoconv.ir import Box, Category, Geometry, ImageRecord, Instance, Point, Polygon, Rle
from cytoconv.problems.sinks import ReaderSink

__all__ = ["detect", "ellipse_window", "find_xml", "load", "plan", "window_rle", "writer"]

DEFAULTS = {"occluded": "0", "z_order": "0", "source": "manual"}  # written on every shape; not kept
NO_SUBSET = "default"


def detect(path: Path) -> Evidence | None:
    """``LAYOUT`` for a ``.xml`` file whose root is ``<annotations>`` with ``<version>`` and ``<meta>`` (a
    cheap peek at its first bytes), or a folder holding one (``annotations.xml``, CVAT's export); ``REFUSED``
    for a folder of several. VOC's ``<annotation>`` is never taken."""
    if path.is_file():
        if path.suffix.lower() == ".xml" and looks_like_cvat(path):
            return Evidence(
                LAYOUT, f"{path.name}: CVAT for images XML (<annotations> with <version>, <meta>)"
            )
        return None
    if not path.is_dir():
        return None
    xml, why = find_xml(path)
    if xml is not None:
        return Evidence(LAYOUT, f"{xml.name}: CVAT for images XML")
    return Evidence(REFUSED, why) if why.startswith("several") else None


# ---------------------------------------------------------------------------------------------
# Planning


@dataclass(frozen=True)
class CvatUnit:
    """One ``<image>`` of the file, scanned, with the label ids (small: sent with every unit)."""

    xml: str
    image: CvatImage
    ids: dict[str, int] = field(compare=False, repr=False)


def _image_root(xml: Path, names: list[str], options: ReadOptions) -> Path:
    """Where the images are: ``--images``, else ``images/`` beside the XML, else its folder; among those
    present, the first holding one of the first images named (the first present on none)."""
    if options.images is not None:
        return options.images.resolve()
    candidates = [d for d in (xml.parent / "images", xml.parent) if d.is_dir()]
    for folder in candidates:
        if any((folder / n).is_file() for n in names[:16]):
            return folder
    return candidates[0] if candidates else xml.parent


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """Scan the one XML file (in the parent); one unit per usable image, the ``<meta>`` labels as categories."""
    if not path.exists():
        raise FormatError(path, "no such file or folder", code="missing")
    path = path.resolve()
    xml, why = find_xml(path)
    if xml is None:
        if path.is_file():
            xml = path  # given with --from cvat: scanned, so the problem is named
        else:
            raise FormatError(path, why, code="missing" if why.startswith("no ") else "usage")
    try:
        data = xml.read_bytes()
    except OSError as exc:
        raise FormatError(xml, f"cannot read: {exc.strerror or exc}", code="unreadable") from None
    where = str(xml)
    document = scan(data, where, ReaderSink(report, ERRORS), tolerance=math.inf)
    del data
    if document is None:
        raise FormatError(xml, "not a readable CVAT for images XML file", code="bad-structure")
    for tag, n in sorted(document.skipped.items()):
        report.notice("element-ignored", f"{where}: {n} <{tag}> element(s) not read", count=n)
    ids = {name: k + 1 for k, name in enumerate(document.labels)}
    images = [image for image in document.images if not image.bad]
    root = _image_root(xml, [image.name for image in images], options)
    points = any(s.kind == "points" for image in images for s in image.shapes)
    return ReadPlan(
        categories=[Category.trusted(id=k, name=n, supercategory=None) for n, k in ids.items()],
        units=[CvatUnit(where, image, ids) for image in images],
        image_root=str(root),
        info={"source": where, **({"cvat_version": document.version} if document.version else {})},
        points=points,
    )


# ---------------------------------------------------------------------------------------------
# Loading one image


def ellipse_window(
    cx: float, cy: float, rx: float, ry: float, rotation: float, width: int, height: int
) -> tuple[npt.NDArray[np.bool_], int, int]:
    """The pixels of a ``width x height`` image whose centres ``(i + 0.5, j + 0.5)`` lie inside the ellipse
    (``rotation`` in degrees, clockwise on screen as CVAT turns it): the ellipse as a trainer's raster sees it.
    Given as the window around the ellipse (clipped to the image) and its top-left pixel ``x0, y0``, so that a
    small cell on a slide-sized image costs the cell's pixels only."""
    reach = max(rx, ry)
    x0, x1 = max(0, math.floor(cx - reach)), min(width, math.ceil(cx + reach) + 1)
    y0, y1 = max(0, math.floor(cy - reach)), min(height, math.ceil(cy + reach) + 1)
    if x0 >= x1 or y0 >= y1:
        return np.zeros((0, 0), dtype=bool), 0, 0
    dx = np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5 - cx
    dy = np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5 - cy
    theta = math.radians(rotation)
    c, s = math.cos(theta), math.sin(theta)
    with np.errstate(over="ignore", invalid="ignore"):
        u = (dx * c + dy * s) / rx
        v = (-dx * s + dy * c) / ry
        inside: npt.NDArray[np.bool_] = u * u + v * v <= 1.0
    return inside, x0, y0


def window_rle(inside: npt.NDArray[np.bool_], left: int, top: int, width: int, height: int) -> Rle:
    """A window of pixels at ``left, top`` as the compressed (column-major, COCO) RLE of the whole
    ``width x height`` image, made from the window's runs without drawing the image."""
    from cytoconv.geometry.raster import as_rle, rle_to_pycoco

    cols, rows = np.nonzero(inside.T)  # column-major order: by column, then by row
    index = (cols.astype(np.int64) + left) * height + (rows.astype(np.int64) + top)
    total = width * height
    if index.size == 0:
        counts = [total]
    else:
        breaks = np.flatnonzero(np.diff(index) != 1) + 1
        starts = index[np.concatenate([[0], breaks])]
        ends = index[np.concatenate([breaks - 1, [index.size - 1]])] + 1
        seq = np.empty(2 * len(starts) + 1, dtype=np.int64)
        seq[0] = starts[0]
        seq[1:-1:2] = ends - starts
        seq[2:-1:2] = starts[1:] - ends[:-1]
        seq[-1] = total - ends[-1]
        counts = seq.tolist()
    return as_rle(rle_to_pycoco(Rle.trusted(kind="rle", height=height, width=width, counts=counts)))


def _mask_window(shape: CvatShape) -> npt.NDArray[np.bool_]:
    """A ``<mask>``'s counts (row-major inside its box, background first) as the box's pixels."""
    w, h = int(shape.values[2]), int(shape.values[3])
    counts = np.asarray(shape.rle, dtype=np.int64)
    values = np.arange(len(counts)) % 2 == 1
    window: npt.NDArray[np.bool_] = np.repeat(values, counts).reshape(h, w)
    return window


def _rotated_box(xtl: float, ytl: float, xbr: float, ybr: float, rotation: float) -> Polygon:
    cx, cy = (xtl + xbr) / 2, (ytl + ybr) / 2
    corners = np.array([[xtl, ytl], [xbr, ytl], [xbr, ybr], [xtl, ybr]], dtype=np.float64) - (cx, cy)
    theta = math.radians(rotation)
    c, s = math.cos(theta), math.sin(theta)
    turned = corners @ np.array([[c, s], [-s, c]]) + (cx, cy)
    return Polygon.trusted(kind="polygon", rings=[turned], holes=[False])


def _attributes(shape: CvatShape) -> tuple[dict[str, Any], bool, float | None]:
    """The shape's kept attributes (defaults left out; occluded, z_order, group_id as integers when they are),
    its crowd flag and its score."""
    out: dict[str, Any] = {}
    for key, text in shape.properties.items():
        if DEFAULTS.get(key) == text:
            continue
        out[key] = int(text) if text.lstrip("-").isdigit() and key != "source" else text
    if out.get("group_id") == 0:
        del out["group_id"]
    crowd, score = False, None
    for key, text in shape.attributes.items():
        if key == "iscrowd" and text.strip().lower() in ("1", "true", "0", "false"):
            crowd = text.strip().lower() in ("1", "true")
            continue
        if key == "score":
            try:
                score = float(text)
            except ValueError:
                pass
            else:
                continue
        out[key] = text
    return out, crowd, score


@dataclass
class _MaskParts:
    """The pixels of one or more ``<mask>`` shapes, each a window at its ``left, top``: kept as windows until the
    groups are joined, then made one RLE of the whole image without drawing it."""

    windows: list[tuple[npt.NDArray[np.bool_], int, int]]

    def rle(self, width: int, height: int) -> Rle:
        """The union of the windows as one RLE of the ``width x height`` image."""
        if len(self.windows) == 1:
            window, left, top = self.windows[0]
            return window_rle(window, left, top, width, height)
        x0 = min(left for _, left, _ in self.windows)
        y0 = min(top for _, _, top in self.windows)
        x1 = max(left + w.shape[1] for w, left, _ in self.windows)
        y1 = max(top + w.shape[0] for w, _, top in self.windows)
        canvas = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        for w, left, top in self.windows:
            canvas[top - y0 : top - y0 + w.shape[0], left - x0 : left - x0 + w.shape[1]] |= w
        return window_rle(canvas, x0, y0, width, height)


@dataclass
class _Made:
    """One object read from a shape, before the groups are joined."""

    group: int | None
    label: str
    category_id: int
    geometry: Geometry | _MaskParts
    crowd: bool
    score: float | None
    attributes: dict[str, Any]


def _geometries(
    shape: CvatShape, image: CvatImage, where: str, report: Report
) -> list[Geometry | _MaskParts]:
    assert image.width is not None and image.height is not None
    v = shape.values
    if shape.kind == "box":
        if shape.rotation:
            report.notice(
                "box-as-polygon", f"{where}: a box rotated by {shape.rotation:g} degrees read as its polygon"
            )
            return [_rotated_box(v[0], v[1], v[2], v[3], shape.rotation)]
        return [Box.trusted(kind="box", x=v[0], y=v[1], w=v[2] - v[0], h=v[3] - v[1])]
    if shape.kind == "polygon":
        ring = np.asarray(v, dtype=np.float64).reshape(-1, 2)
        return [Polygon.trusted(kind="polygon", rings=[ring], holes=[False])]
    if shape.kind == "points":
        return [Point.trusted(kind="point", x=x, y=y) for x, y in zip(v[0::2], v[1::2])]
    if shape.kind == "ellipse":
        from cytoconv.geometry.outline import trace

        window, x0, y0 = ellipse_window(v[0], v[1], v[2], v[3], shape.rotation, image.width, image.height)
        traced = trace(window, x0, y0) if window.any() else None
        if traced is None:
            report.notice("empty-mask", f"{where}: an ellipse holding no pixel centre, not read")
            return []
        report.notice("shape-as-outline", f"{where}: an ellipse read as the exact outline of its pixels")
        return [traced]
    if not any(shape.rle[1::2]):
        report.notice("empty-mask", f"{where}: a mask with no pixel, not read")
        return []
    return [_MaskParts([(_mask_window(shape), int(v[0]), int(v[1]))])]


def load(unit: CvatUnit, options: ReadOptions, report: Report) -> ImageRecord:
    """One ``<image>``'s record (in a worker): geometry made from the scanned numbers, groups joined."""
    image, ids = unit.image, unit.ids
    assert image.width is not None and image.height is not None
    for tag, n in sorted(image.skipped.items()):
        report.notice("element-ignored", f"{unit.xml}: {image.where()}: {n} <{tag}> not read", count=n)
    made: list[_Made] = []
    for shape in image.shapes:
        if shape.bad:
            continue
        where = f"{unit.xml}: {image.where()}, shape {shape.index} <{shape.kind}>"
        if shape.dropped:
            report.notice(
                "attribute-dropped", f"{where}: {', '.join(shape.dropped)} not kept", count=len(shape.dropped)
            )
        attributes, crowd, score = _attributes(shape)
        group = attributes.get("group_id")
        for geometry in _geometries(shape, image, where, report):
            made.append(
                _Made(
                    group if isinstance(group, int) else None,
                    shape.label,
                    ids[shape.label],
                    geometry,
                    crowd,
                    score,
                    dict(attributes),
                )
            )
    instances = [
        Instance.trusted(
            category_id=m.category_id,
            geometry=m.geometry.rle(image.width, image.height)
            if isinstance(m.geometry, _MaskParts)
            else m.geometry,
            iscrowd=m.crowd,
            score=m.score,
            attributes=m.attributes,
        )
        for m in _join_groups(made, image, unit.xml, report)
    ]
    label = None
    if image.tags:
        label = ids[image.tags[0]]
        if len(image.tags) > 1:
            extra = len(image.tags) - 1
            report.notice(
                "element-ignored", f"{unit.xml}: {image.where()}: {extra} more <tag> not read", count=extra
            )
    subset = image.subset if image.subset and image.subset != NO_SUBSET else None
    return ImageRecord.trusted(
        file_name=safe_relative(image.name, unit.xml),
        width=image.width,
        height=image.height,
        split=subset,
        label=label,
        instances=instances,
        attributes={},
    )


def _join_groups(made: list[_Made], image: CvatImage, xml: str, report: Report) -> list[_Made]:
    """Each ``group_id``'s shapes as one object when they are all polygons, or all masks, of one label: the
    polygon's rings (parts) or the masks' union, at the first member's place, with its attributes (without
    ``group_id``, which the parts now say). Any other group is left as it is (``ungrouped``)."""
    members: dict[int, list[int]] = {}
    for k, m in enumerate(made):
        if m.group is not None:
            members.setdefault(m.group, []).append(k)
    replaced: dict[int, _Made | None] = {}
    ungrouped = 0
    for ks in members.values():
        kinds = {type(made[k].geometry) for k in ks}
        labels = {made[k].label for k in ks}
        if len(labels) != 1 or len(kinds) != 1 or next(iter(kinds)) not in (Polygon, _MaskParts):
            ungrouped += len(ks)
            continue
        first = made[ks[0]]
        geometry: Polygon | _MaskParts
        if isinstance(first.geometry, Polygon):
            rings, holes = [], []
            for k in ks:
                g = made[k].geometry
                assert isinstance(g, Polygon)
                rings.extend(g.rings)
                holes.extend(g.holes)
            geometry = Polygon.trusted(kind="polygon", rings=rings, holes=holes)
        else:
            windows = []
            for k in ks:
                g = made[k].geometry
                assert isinstance(g, _MaskParts)
                windows.extend(g.windows)
            geometry = _MaskParts(windows)
        attributes = {key: value for key, value in first.attributes.items() if key != "group_id"}
        replaced[ks[0]] = _Made(
            None, first.label, first.category_id, geometry, first.crowd, first.score, attributes
        )
        for k in ks[1:]:
            replaced[k] = None
    if ungrouped:
        report.notice(
            "ungrouped",
            f"{xml}: {image.where()}: {ungrouped} shape(s) in groups mixing labels or kinds, kept apart",
            count=ungrouped,
        )
    out = []
    for k, m in enumerate(made):
        kept = replaced.get(k, m) if k in replaced else m
        if kept is not None:
            out.append(kept)
    return out
