"""CVAT for images 1.1 XML writer: one ``annotations.xml``-style file that CVAT's "CVAT 1.1" import takes.

``<meta>`` lists the labels in category order (the reader numbers them back in that order); each image is an
``<image id name width height [subset]>`` with its shapes, laid out as CVAT's own export writes them (2-space
indent, the shape's ``label source occluded`` first, geometry, ``z_order``, ``group_id``, then the
``<attribute name>`` children). Coordinates are the corner model's as they are (CVAT's boxes and polygons are
continuous image coordinates), written as the shortest decimal that reads back to the same float.

- Boxes: ``xtl = x, ytl = y, xbr = x + w, ybr = y + h``. Points: one ``<points>`` shape per point.
- Polygons: one ``<polygon>`` per part, the parts of one object sharing a new ``group_id`` (the reader joins
  them back). CVAT polygons have no holes: ``--holes bridge`` (the default) joins each hole to its outline by a
  zero-width cut (the raster is unchanged), ``rle`` writes the object as a mask, ``fill`` drops the holes
  (counted), ``error`` refuses. ``--segmentation rle`` writes every polygon as a mask.
- RLE masks: a ``<mask>`` whose box is the mask's bounding box, its counts row-major inside that box, starting
  with background (what CVAT writes and reads); ``--segmentation polygon`` writes the exact traced outline
  instead. An empty mask has no box: counted (``empty-mask``), not written.
- ``occluded``, ``z_order``, ``source`` and ``group_id`` attributes go back to their XML attributes (defaults
  ``0``, ``0``, ``manual``), the crowd flag and score to ``<attribute name="iscrowd">`` and ``score``, any other
  attribute of a plain value to an ``<attribute>`` child; the rest is counted (``attribute-dropped``).
- An image-level label is a ``<tag>``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cytoconv.engine.atomic import atomic_file
from cytoconv.engine.contract import WriteOptions
from cytoconv.errors import FormatError, Report
from cytoconv.formats.voc.writer import escape, quoteattr
from cytoconv.ir import Box, Category, ImageRecord, Instance, Point, Polygon, Rle

PROPERTY_DEFAULTS = (("source", "manual"), ("occluded", "0"))
INDENT = "    "  # shapes sit at two levels of CVAT's 2-space indent


def number(value: float) -> str:
    """A coordinate as the shortest text that reads back to the same float; whole numbers without ``.0``."""
    value = float(value)
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _points(ring: npt.NDArray[np.float64]) -> str:
    return ";".join(f"{number(x)},{number(y)}" for x, y in ring.tolist())


def _text(value: Any) -> str | None:
    """An attribute value as CVAT's text (checkboxes are ``true``/``false``), or None for what has none."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return number(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    return None


def mask_runs(mask: npt.NDArray[np.bool_]) -> tuple[tuple[int, int, int, int], list[int]] | None:
    """A mask's bounding box ``(left, top, width, height)`` and its counts row-major inside that box, starting
    with background: CVAT's ``<mask>``. None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    flat = mask[top : bottom + 1, left : right + 1].reshape(-1).astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], change, [flat.size]])).tolist()
    if flat[0]:
        runs.insert(0, 0)
    return (left, top, right - left + 1, bottom - top + 1), [int(r) for r in runs]


class CvatWriter:
    """One CVAT XML file: ``encode`` makes each image's ``<image>`` element (in workers), ``sink`` writes the
    ``<meta>`` (with the final labels) and the images in order."""

    def __init__(
        self,
        dest: Path,
        categories: list[Category],
        image_root: str | None,
        options: WriteOptions,
        report: Report,
    ) -> None:
        self.dest = dest
        self.options = options
        self.categories = list(categories)
        self.names = {c.id: c.name for c in categories}

    def set_categories(self, categories: list[Category]) -> None:
        """The final categories (names made from the ids seen): the ``<meta>`` is written last of all."""
        self.categories = list(categories)
        self.names = {c.id: c.name for c in categories}

    def name_of(self, category_id: int) -> str:
        """A class's label; ``class_<index>`` for an id without a category (YOLO without names), as readers
        name it."""
        return self.names.get(category_id) or f"class_{category_id - 1}"

    def encode(self, record: ImageRecord, index: int, report: Report) -> tuple[str, frozenset[int]]:
        """The ``<image>`` element of one record, and the category ids it uses (for the ``<meta>``)."""
        head = (
            f'  <image id="{index}" name={quoteattr(record.file_name)} width="{record.width}" '
            f'height="{record.height}"'
            + (f" subset={quoteattr(record.split)}" if record.split is not None else "")
            + ">\n"
        )
        parts = [head]
        used = {inst.category_id for inst in record.instances}
        taken = {
            inst.attributes["group_id"]
            for inst in record.instances
            if isinstance(inst.attributes.get("group_id"), int)
        }
        next_group = [max(taken, default=0) + 1]

        def new_group() -> int:
            """A ``group_id`` no shape of this image has yet."""
            value = next_group[0]
            next_group[0] += 1
            return value

        for inst in record.instances:
            parts.extend(self._shapes(inst, record, new_group, report))
        if record.label is not None:
            used.add(record.label)
            parts.append(
                f'{INDENT}<tag label={quoteattr(self.name_of(record.label))} source="manual">\n{INDENT}</tag>\n'
            )
        parts.append("  </image>\n")
        return "".join(parts), frozenset(used)

    def _shapes(
        self, inst: Instance, record: ImageRecord, new_group: Callable[[], int], report: Report
    ) -> list[str]:
        g = inst.geometry
        where = record.file_name
        options = self.options
        if isinstance(g, Box):
            geometry = (
                f'xtl="{number(g.x)}" ytl="{number(g.y)}" xbr="{number(g.x + g.w)}" ybr="{number(g.y + g.h)}"'
            )
            return [self._shape("box", inst, geometry, None, report, where)]
        if isinstance(g, Point):
            return [self._shape("points", inst, f'points="{number(g.x)},{number(g.y)}"', None, report, where)]
        if isinstance(g, Rle) and options.segmentation == "polygon":
            from cytoconv.geometry.outline import trace
            from cytoconv.geometry.raster import rasterise

            traced = trace(rasterise(g, g.height, g.width))
            if traced is not None:
                report.notice("rle-as-polygon", f"{where}: an RLE mask written as its traced outline")
                g = traced
        if isinstance(g, Polygon):
            as_mask = options.segmentation == "rle"
            if as_mask:
                report.notice("polygon-as-rle", f"{where}: a polygon written as its RLE mask")
            elif any(g.holes):
                policy = options.holes
                if policy == "error":
                    raise FormatError(
                        where, "an object with a hole (choose --holes bridge, rle or fill)", code="hole"
                    )
                if policy == "rle":
                    as_mask = True
                elif policy == "fill":
                    report.notice("holes-filled", f"{where}: holes filled", count=sum(g.holes))
                    g = Polygon.trusted(kind="polygon", rings=g.parts, holes=[False] * len(g.parts))
                else:
                    from cytoconv.geometry.outline import bridge_holes

                    report.notice(
                        "holes-bridged",
                        f"{where}: holes joined to their outline by zero-width cuts",
                        count=sum(g.holes),
                    )
                    rings = bridge_holes(g)
                    g = Polygon.trusted(kind="polygon", rings=rings, holes=[False] * len(rings))
            if not as_mask:
                group = new_group() if len(g.rings) > 1 else None
                return [
                    self._shape("polygon", inst, f'points="{_points(ring)}"', group, report, where)
                    for ring in g.rings
                ]
            from cytoconv.geometry.raster import rasterise

            mask = rasterise(g, record.height, record.width)
        else:
            from cytoconv.geometry.raster import rasterise

            mask = rasterise(g, g.height, g.width)
        found = mask_runs(mask)
        if found is None:
            report.notice("empty-mask", f"{where}: an empty mask, not written")
            return []
        (left, top, width, height), runs = found
        geometry = (
            f'rle="{", ".join(map(str, runs))}" left="{left}" top="{top}" width="{width}" height="{height}"'
        )
        return [self._shape("mask", inst, geometry, None, report, where)]

    def _shape(
        self, kind: str, inst: Instance, geometry: str, group: int | None, report: Report, where: str
    ) -> str:
        """One shape element: label, source, occluded, the geometry, z_order, group_id, then the attributes."""
        attrs = dict(inst.attributes)
        head = [f"{INDENT}<{kind} label={quoteattr(self.name_of(inst.category_id))}"]
        for key, default in PROPERTY_DEFAULTS:
            text = _text(attrs.pop(key, default))
            if key == "occluded" and text in ("true", "false"):
                text = "1" if text == "true" else "0"
            head.append(f" {key}={quoteattr(text if text is not None else default)}")
        head.append(" " + geometry)
        z_order = _text(attrs.pop("z_order", 0))
        head.append(f" z_order={quoteattr(z_order if z_order is not None else '0')}")
        kept_group = attrs.pop("group_id", None)
        if group is None and isinstance(kept_group, int) and not isinstance(kept_group, bool) and kept_group:
            group = kept_group
        if group is not None:
            head.append(f' group_id="{group}"')
        head.append(">\n")
        children = []
        if inst.iscrowd:
            attrs["iscrowd"] = 1
        if inst.score is not None:
            attrs["score"] = float(inst.score)
        for key, value in attrs.items():
            text = _text(value)
            if text is None or not key:
                report.notice("attribute-dropped", f"{where}: attribute {key!r} has no CVAT form")
                continue
            children.append(f"{INDENT}  <attribute name={quoteattr(key)}>{escape(text)}</attribute>\n")
        return "".join(head) + "".join(children) + f"{INDENT}</{kind}>\n"

    def _meta(self, count: int, used: set[int]) -> str:
        names = [c.name for c in sorted(self.categories, key=lambda c: c.id)]
        known = {c.id for c in self.categories}
        names += [self.name_of(k) for k in sorted(used - known)]
        labels = "".join(
            "        <label>\n"
            f"          <name>{escape(name)}</name>\n"
            "          <type>any</type>\n"
            "          <attributes>\n          </attributes>\n"
            "        </label>\n"
            for name in names
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n  <meta>\n'
            "    <task>\n      <name>cytoconv</name>\n"
            f"      <size>{count}</size>\n      <mode>annotation</mode>\n"
            f"      <labels>\n{labels}      </labels>\n    </task>\n  </meta>\n"
        )

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:
        """The file written atomically at the end: the ``<meta>`` needs the final labels, so the images are kept
        (as text) until then."""
        images: list[str] = []
        used: set[int] = set()

        def accept(fragment: tuple[str, frozenset[int]]) -> None:
            """Keep one image's element, in dataset order."""
            images.append(fragment[0])
            used.update(fragment[1])

        with atomic_file(self.dest, self.options.overwrite) as fh:
            yield accept
            fh.write(self._meta(len(images), used).encode("utf-8"))
            for text in images:
                fh.write(text.encode("utf-8"))
            fh.write(b"</annotations>\n")


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> CvatWriter:
    """The registry's writer factory (``WriterFactory``): one CVAT XML file at ``dest``."""
    return CvatWriter(dest, categories, image_root, options, report)
