"""ASAP XML writer: one ``<stem>.xml`` per image, as ASAP saves annotations (the CAMELYON files' shape).

``<ASAP_Annotations><Annotations>`` holds one ``<Annotation Name="Annotation N" Type="Polygon"
PartOfGroup=<class> Color=..>`` per object in dataset order, its ``<Coordinates>`` numbered by ``Order``, exact
(the shortest text of each float); a point is a ``Dot``. ``<AnnotationGroups>`` lists every class as a
``<Group Name PartOfGroup="None" Color>`` (a fixed colour per class). ASAP has no holes: an object's holes are
filled, counted (``holes-filled``); parts of one object become annotations of their own (``parts-split``). An
object's ``name`` attribute (what the reader keeps of ASAP's ``Name``) is written back as its ``Name``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cytoconv.engine.adapt import label_as_box
from cytoconv.engine.contract import WriteOptions
from cytoconv.errors import Report
from cytoconv.formats.slidexml.writing import SlideWriter, as_polygon, dropped_attributes, escape, num
from cytoconv.ir import Category, ImageRecord, Point

COLOURS = (
    "#F4FA58",
    "#FF0000",
    "#00FF00",
    "#0000FF",
    "#FF00FF",
    "#00FFFF",
    "#FF8000",
    "#800080",
    "#008000",
    "#808000",
)
KEPT = ("name",)


class AsapWriter(SlideWriter):
    """One ASAP XML file per image."""

    title = "ASAP XML"

    def colour(self, category_id: int) -> str:
        """A class's fixed colour."""
        return COLOURS[(category_id - 1) % len(COLOURS)]

    def xml(self, record: ImageRecord, report: Report) -> str:
        """The XML text of one image."""
        record = label_as_box(record, report)
        dropped_attributes(record, KEPT, report)
        out = ['<?xml version="1.0"?>\n<ASAP_Annotations>\n\t<Annotations>\n']
        n = 0
        filled = split = 0
        for inst in record.instances:
            cid = inst.category_id
            given = inst.attributes.get("name")
            head = f'PartOfGroup="{escape(self.name_of(cid))}" Color="{self.colour(cid)}"'
            g = inst.geometry
            if isinstance(g, Point):
                rings: list[Any] = [[(g.x, g.y)]]
                kind = "Dot"
            else:
                polygon = as_polygon(g, record, report)
                if polygon is None:
                    continue
                filled += sum(polygon.holes)
                rings, kind = list(polygon.parts), "Polygon"
                split += len(rings) > 1
            for ring in rings:
                label = escape(given) if isinstance(given, str) and given else f"Annotation {n}"
                n += 1
                coords = "".join(
                    f'\t\t\t\t<Coordinate Order="{k}" X="{num(x)}" Y="{num(y)}" />\n'
                    for k, (x, y) in enumerate(ring)
                )
                out.append(
                    f'\t\t<Annotation Name="{label}" Type="{kind}" {head}>\n'
                    f"\t\t\t<Coordinates>\n{coords}\t\t\t</Coordinates>\n\t\t</Annotation>\n"
                )
        if filled:
            report.notice(
                "holes-filled", f"{record.file_name}: ASAP has no holes: {filled} filled", count=filled
            )
        if split:
            report.notice(
                "parts-split",
                f"{record.file_name}: {split} object(s) of several parts written as one annotation per part",
                count=split,
            )
        out.append("\t</Annotations>\n\t<AnnotationGroups>\n")
        for cid in sorted(self.names):
            out.append(
                f'\t\t<Group Name="{escape(self.names[cid])}" PartOfGroup="None" Color="{self.colour(cid)}">\n'
                "\t\t\t<Attributes />\n\t\t</Group>\n"
            )
        out.append("\t</AnnotationGroups>\n</ASAP_Annotations>\n")
        return "".join(out)


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> AsapWriter:
    """The registry's writer factory (``WriterFactory``)."""
    return AsapWriter(dest, categories, image_root, options, report)
