"""Pascal VOC XML writer: ``Annotations/<id>.xml`` per image, ``ImageSets/Main/<split>.txt``, ``classes.txt``
and ``labelmap.txt``.

Boxes are written 1-based and inclusive, inverting the reader exactly for integer boxes (``x = xmin - 1,
w = xmax - xmin + 1``, FORMATS.md); polygons and masks are written as the smallest integer box holding them.
Points are written as the box ``--point-box`` gives them (``adapt.points_as_boxes``; refused without), its
edges rounded to the nearest pixel edge like any box's (a box of even size around a pixel centre ends on half
pixels: counted in ``box-rounded``).
The XML is put together as text from fixed templates (one per object), so that its bytes do not depend on a
serialiser's choices.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cytoconv.engine.adapt import label_as_box, not_a_point, points_as_boxes
from cytoconv.engine.atomic import atomic_dir
from cytoconv.engine.contract import WriteOptions
from cytoconv.engine.files import safe_relative
from cytoconv.errors import FormatError, Report
from cytoconv.formats.voc.syntax import ANNOTATIONS, CLASSES_FILE, IMAGES, LABELMAP_FILE, SETS
from cytoconv.ir import Box, Category, ImageRecord, Instance, Polygon

INTEGER_TOLERANCE = 1e-3  # px: a box edge this close to an integer is not counted as rounded


def escape(text: str) -> str:
    """XML character data: ``&``, ``<`` and ``>`` escaped (xml.sax.saxutils costs 8 ms of imports)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quoteattr(text: str) -> str:
    """An XML attribute value with its quotes: ``escape`` plus ``"``."""
    return '"' + escape(text).replace('"', "&quot;") + '"'


_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
_DEFAULT_FLAGS = "\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n"
_BNDBOX = (
    "\t\t<bndbox>\n\t\t\t<xmin>%d</xmin>\n\t\t\t<ymin>%d</ymin>\n\t\t\t<xmax>%d</xmax>\n"
    "\t\t\t<ymax>%d</ymax>\n\t\t</bndbox>\n\t</object>\n"
)


def voc_corners(box: Box, contain: bool) -> tuple[tuple[int, int, int, int], bool]:
    """Corner-model box -> integer ``(xmin, ymin, xmax, ymax)``, and whether an edge had to be rounded.

    ``contain`` (boxes of polygons and masks) gives the smallest integer box holding the shape; otherwise each
    edge goes to the nearest integer, which inverts ``box_from_voc`` exactly for integer boxes."""
    x0, y0 = box.x, box.y
    x1, y1 = x0 + box.w, y0 + box.h
    n0, m0, n1, m1 = math.floor(x0 + 0.5), math.floor(y0 + 0.5), math.floor(x1 + 0.5), math.floor(y1 + 0.5)
    tol = INTEGER_TOLERANCE
    rounded = abs(x0 - n0) > tol or abs(y0 - m0) > tol or abs(x1 - n1) > tol or abs(y1 - m1) > tol
    if contain and rounded:
        n0, m0 = math.floor(x0 + tol), math.floor(y0 + tol)
        n1, m1 = math.ceil(x1 - tol), math.ceil(y1 - tol)
    return (n0 + 1, m0 + 1, n1, m1), rounded


def _xml_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (str, int, float)):
        return escape(str(value))
    return None


class VocWriter:
    """``Annotations/<id>.xml`` per image, ``ImageSets/Main/<split>.txt`` when splits exist, ``classes.txt``."""

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
        self.names = {c.id: c.name for c in categories}
        self._heads: dict[int, str] = {}  # category id -> "<object><name>...</name>" text
        self.tmp: Path | None = None

    def set_categories(self, categories: list[Category]) -> None:
        """New class names; the cached ``<object><name>`` heads are dropped, since they hold the old names."""
        self.names = {c.id: c.name for c in categories}
        self._heads = {}

    def name_of(self, category_id: int) -> str:
        """A class's ``<name>``; ``class_<index>`` for an id without a category (YOLO without names), as
        readers name it."""
        return self.names.get(category_id) or f"class_{category_id - 1}"

    def encode(self, record: ImageRecord, index: int, report: Report) -> tuple[str, str | None]:
        """Write one record's XML file in a worker, refusing a second image with its stem (VOC names files by
        image id); returns the id and split."""
        rel = safe_relative(record.file_name, record.file_name)
        image_name = rel.rsplit("/", 1)[-1]
        xml_id = os.path.splitext(image_name)[0]
        assert self.tmp is not None
        data = self.xml(record, image_name, report).encode("utf-8")
        try:
            fd = os.open(
                f"{self.tmp}/{ANNOTATIONS}/{xml_id}.xml", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644
            )
        except FileExistsError:
            raise FormatError(
                record.file_name,
                f"another image has the stem {xml_id!r}: VOC needs one XML file per image id",
                code="duplicate-stem",
            ) from None
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        return xml_id, record.split

    def xml(self, record: ImageRecord, image_name: str, report: Report) -> str:
        """The XML text of one image."""
        attrs = record.attributes
        verified = attrs.get("verified")
        head = "<annotation>\n" if verified is None else f"<annotation verified={quoteattr(str(verified))}>\n"
        parts = [
            head,
            f"\t<folder>{escape(str(attrs.get('folder', IMAGES)))}</folder>\n",
            f"\t<filename>{escape(image_name)}</filename>\n",
        ]
        if attrs.get("path"):
            parts.append(f"\t<path>{escape(str(attrs['path']))}</path>\n")
        parts.append(
            f"\t<source>\n\t\t<database>{escape(str(attrs.get('database', 'Unknown')))}</database>\n"
            "\t</source>\n"
        )
        depth = attrs.get("depth", 3)
        parts.append(
            f"\t<size>\n\t\t<width>{record.width}</width>\n\t\t<height>{record.height}</height>\n"
            f"\t\t<depth>{depth}</depth>\n\t</size>\n"
        )
        parts.append(f"\t<segmented>{_xml_value(attrs.get('segmented', 0))}</segmented>\n")
        rounded = 0
        heads = self._heads
        record = points_as_boxes(
            label_as_box(record, report), self.options.point_box, self.names, report, "voc"
        )
        for k, inst in enumerate(record.instances):
            g = not_a_point(inst.geometry, record)
            if isinstance(g, Box):
                box, contain = g, False
            elif isinstance(g, Polygon):
                box, contain = g.bounds(), True
                report.notice("polygon-as-box", f"{record.file_name}: polygon written as its box")
            else:
                from cytoconv.geometry.raster import rle_bounds

                box, contain = rle_bounds(g), True
                report.notice("mask-as-box", f"{record.file_name}: RLE mask written as its box")
            corners, was_rounded = voc_corners(box, contain)
            if corners[2] < corners[0] or corners[3] < corners[1]:  # inclusive: xmin == xmax is 1 px wide
                report.problem(
                    FormatError(
                        record.file_name,
                        f"object {k + 1}: box {box.w:g}x{box.h:g} px covers no whole pixel, so it has no "
                        "VOC box (needs xmin <= xmax and ymin <= ymax)",
                        code="zero-area-box",
                    )
                )
                continue
            rounded += was_rounded
            head = heads.get(inst.category_id) or self._head(inst.category_id)
            flags = (
                _DEFAULT_FLAGS if not inst.attributes else self._attributes(inst, record.file_name, report)
            )
            parts.append(head + flags + _BNDBOX % corners)
        if rounded:
            report.notice(
                "box-rounded",
                f"{record.file_name}: {rounded} box(es) rounded to integer pixels",
                count=rounded,
            )
        parts.append("</annotation>\n")
        return "".join(parts)

    def _head(self, category_id: int) -> str:
        text = self._heads[category_id] = (
            f"\t<object>\n\t\t<name>{escape(self.name_of(category_id))}</name>\n"
        )
        return text

    @staticmethod
    def _attributes(inst: Instance, where: str, report: Report) -> str:
        """``pose``, ``truncated``, ``difficult`` (defaults when absent) and any other attribute, as elements."""
        attrs = {"pose": "Unspecified", "truncated": 0, "difficult": 0, **inst.attributes}
        lines = []
        for key, value in attrs.items():
            text = _xml_value(value)
            if text is None or not _XML_NAME.match(key) or key in ("name", "bndbox"):
                report.notice("attribute-dropped", f"{where}: attribute {key!r} cannot be a VOC element")
                continue
            lines.append(f"\t\t<{key}>{text}</{key}>\n")
        return "".join(lines)

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:
        """The output built in a temporary folder moved into place at the end, with an ImageSets list per
        split and the class list written last."""
        seen: set[str] = set()
        splits: dict[str, list[str]] = {}

        def accept(fragment: tuple[str, str | None]) -> None:
            """Refuse an image id already written and note the id under its split, in dataset order."""
            xml_id, split = fragment
            if xml_id in seen:
                raise FormatError(
                    xml_id,
                    "two images have this stem: VOC needs one XML file per image id",
                    code="duplicate-stem",
                )
            seen.add(xml_id)
            if split is not None:
                splits.setdefault(split, []).append(xml_id)

        with atomic_dir(self.dest, self.options.overwrite) as tmp:
            (tmp / ANNOTATIONS).mkdir()
            self.tmp = tmp
            yield accept
            if splits:
                sets = tmp.joinpath(*SETS)
                sets.mkdir(parents=True)
                for split, ids in splits.items():
                    name = safe_relative(split, split).replace("/", "_")
                    (sets / f"{name}.txt").write_text("".join(i + "\n" for i in ids), encoding="utf-8")
            names = [self.names[k] for k in sorted(self.names)]
            if names:
                (tmp / CLASSES_FILE).write_text("".join(n + "\n" for n in names), encoding="utf-8")
                # datumaro and CVAT take a VOC dataset's labels from labelmap.txt (else the 20 PASCAL classes):
                # the same names in the same order, no colours (detection only)
                labelmap = ["# label:color_rgb:parts:actions", *(f"{n}:::" for n in names)]
                (tmp / LABELMAP_FILE).write_text("".join(line + "\n" for line in labelmap), encoding="utf-8")


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> VocWriter:
    """The registry's writer factory (``WriterFactory``): one ``VocWriter`` per output folder."""
    return VocWriter(dest, categories, image_root, options, report)
