"""Aperio ImageScope XML writer: one ``<stem>.xml`` per image, as ImageScope saves annotations.

``<Annotations MicronsPerPixel=..>`` (the image attribute ``microns_per_pixel`` when known, else the attribute is
left out) holds one ``<Annotation>`` per class (in class-id order, ``Name`` the class, ``LineColor`` a fixed
colour per class), and its ``<Regions>``: one ``<Region Type="0" NegativeROA="0">`` per part of each object,
then one ``NegativeROA="1"`` region per hole, right after its outline, with the vertices as they are (exact, the
shortest text of each float, ``Z="0"``). Region ``Id``s number the objects of the image 1, 2, ... in dataset
order (holes after them), so that the reader gives the objects back in their order across classes. Parts of one
object become regions of their own (``parts-split``); points need ``--point-box`` (Aperio has no points).
"""

from __future__ import annotations

from pathlib import Path

from cytoconv.engine.adapt import label_as_box, not_a_point, points_as_boxes
from cytoconv.engine.contract import WriteOptions
from cytoconv.errors import Report
from cytoconv.formats.slidexml.writing import (
    SlideWriter,
    as_polygon,
    dropped_attributes,
    escape,
    num,
    ring_text,
)
from cytoconv.ir import Category, ImageRecord

# ImageScope's LineColor is a Windows COLORREF (0x00BBGGRR): green, red, blue, yellow, magenta, cyan, ...
LINE_COLOURS = (65280, 255, 16711680, 65535, 16711935, 16776960, 33023, 8388736, 32768, 8421376)
KEPT = ("text",)


class AperioWriter(SlideWriter):
    """One ImageScope XML file per image."""

    title = "Aperio ImageScope XML"

    def xml(self, record: ImageRecord, report: Report) -> str:
        """The XML text of one image."""
        record = points_as_boxes(
            label_as_box(record, report), self.options.point_box, self.names, report, "aperio"
        )
        dropped_attributes(record, KEPT, report)
        by_class: dict[int, list[str]] = {}
        next_hole = len(record.instances) + 1
        split = 0
        region_id = 0
        for inst in record.instances:
            polygon = as_polygon(not_a_point(inst.geometry, record), record, report)
            if polygon is None:
                continue
            region_id += 1
            regions = by_class.setdefault(inst.category_id, [])
            text = inst.attributes.get("text")
            label = escape(text) if isinstance(text, str) else ""
            parts = 0
            for ring, hole in zip(polygon.rings, polygon.holes):
                if hole:
                    rid, next_hole = next_hole, next_hole + 1
                else:
                    parts += 1
                    rid = region_id if parts == 1 else next_hole
                    if parts > 1:
                        next_hole += 1
                vertices = "".join(f"\t\t\t\t\t\t{v}\n" for v in ring_text(ring, "Vertex", ' Z="0"'))
                regions.append(
                    f'\t\t\t\t<Region Id="{rid}" Type="0" Zoom="1" Selected="0" ImageLocation="" ImageFocus="-1" '
                    f'Text="{label}" NegativeROA="{int(hole)}" InputRegionId="0" Analyze="1" DisplayId="{rid}">\n'
                    "\t\t\t\t\t<Attributes/>\n\t\t\t\t\t<Vertices>\n"
                    f"{vertices}\t\t\t\t\t</Vertices>\n\t\t\t\t</Region>\n"
                )
            split += parts > 1
        if split:
            report.notice(
                "parts-split",
                f"{record.file_name}: {split} object(s) of several parts written as one region per part",
                count=split,
            )
        mpp = record.attributes.get("microns_per_pixel")
        head = (
            f'<Annotations MicronsPerPixel="{num(mpp)}">\n'
            if isinstance(mpp, (int, float)) and not isinstance(mpp, bool)
            else "<Annotations>\n"
        )
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n', head]
        order = sorted(
            set(self.names) | set(by_class)
        )  # every class, so that each file lists them in id order
        for n, cid in enumerate(order, start=1):
            colour = LINE_COLOURS[(cid - 1) % len(LINE_COLOURS)]
            out.append(
                f'\t<Annotation Id="{n}" Name="{escape(self.name_of(cid))}" ReadOnly="0" NameReadOnly="0" '
                f'LineColorReadOnly="0" Incremental="0" Type="4" LineColor="{colour}" Visible="1" Selected="0" '
                'MarkupImagePath="" MacroName="">\n'
                "\t\t<Attributes/>\n\t\t<Regions>\n\t\t\t<RegionAttributeHeaders/>\n"
            )
            out.extend(by_class.get(cid, ()))
            out.append("\t\t</Regions>\n\t\t<Plots/>\n\t</Annotation>\n")
        out.append("</Annotations>\n")
        return "".join(out)


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> AperioWriter:
    """The registry's writer factory (``WriterFactory``)."""
    return AperioWriter(dest, categories, image_root, options, report)
