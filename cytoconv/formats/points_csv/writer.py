"""points-csv writer: one CSV, one row per point, ``file,x,y,class,class_id`` (the header the reader
recognises).

- ``file``: the image's path relative to the dataset's image root, as the record names it;
- ``x``, ``y``: the point's **0-based** pixel indices (model coordinate - 0.5), integers when whole, so CRIC's
  ``nucleus_x`` 793 is written 792, and points-csv -> points-csv gives back the same integers;
- ``class``: the category's name;
- ``class_id``: the category's 0-based place in the dataset's category order (by id, as the points-txt and YOLO
  writers number classes), so that the reader gives every class its place back and class numbers survive the
  CSV (names alone would be sorted: ``class_10`` before ``class_2``);
- then ``split`` when any image has a split, then every attribute the points carry (CRIC's ``image_id``,
  ``image_doi``, ``cell_id``; COCO's extra keys), one column each, in the order first met.

Only points can be written: a box, polygon or mask is refused (its centre would be a guess), naming the image.
An image without points leaves no row, and is counted (``no-instances``). The file appears whole or not at all.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cytoconv.engine.atomic import atomic_file
from cytoconv.engine.contract import WriteOptions
from cytoconv.errors import FormatError, Report
from cytoconv.ir import Category, ImageRecord, Point

HEADER = ("file", "x", "y", "class", "class_id")

# One encoded point: file name, x and y text, category id (named in the sink, once the categories are final),
# split, attributes.
Row = tuple[str, str, str, int, str | None, dict[str, Any]]


def number(value: float) -> str:
    """A pixel index as text: an integer when whole (``792``), else the shortest float that reads back the same
    (``792.25``)."""
    return str(int(value)) if value.is_integer() else repr(value)


def _cell(value: Any) -> str:
    """An attribute value as a CSV cell: text and numbers as they are, anything else (a COCO list) as JSON."""
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


class PointsCsvWriter:
    """One CSV of points: ``encode`` turns a record into rows (in workers), ``sink`` writes them at the end,
    when the columns (split, attributes) and the final class names are known."""

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
        self.set_categories(categories)

    def set_categories(self, categories: list[Category]) -> None:
        """Keep the final categories: the sink names each row's class, and numbers it, by them."""
        self.names = {c.id: c.name for c in categories}
        self.places = {c.id: k for k, c in enumerate(sorted(categories, key=lambda c: c.id))}

    def encode(self, record: ImageRecord, index: int, report: Report) -> list[Row]:
        """The rows of one image; anything but a point is refused (points-csv holds cell centres only)."""
        if record.label is not None:
            raise FormatError(
                record.file_name,
                "an image-level label: points-csv holds points (cell centres) only",
                code="not-a-point",
            )
        if not record.instances:
            report.notice("no-instances", f"{record.file_name}: no points, no row written")
        rows: list[Row] = []
        for k, inst in enumerate(record.instances):
            g = inst.geometry
            if not isinstance(g, Point):
                raise FormatError(
                    record.file_name,
                    f"object {k + 1} is a {g.kind}: points-csv holds points (cell centres) only, and its centre "
                    "would be a guess",
                    code="not-a-point",
                )
            clash = [key for key in inst.attributes if key in HEADER or key == "split"]
            if clash:
                report.notice(
                    "attribute-dropped",
                    f"{record.file_name}: object {k + 1}'s attribute(s) {', '.join(clash)}: points-csv's own column",
                    count=len(clash),
                )
            i, j = g.pixel(0)
            rows.append(
                (record.file_name, number(i), number(j), inst.category_id, record.split, inst.attributes)
            )
        return rows

    @contextmanager
    def sink(self) -> Iterator[Callable[[list[Row]], None]]:
        """Gather every image's rows in dataset order, then write the CSV atomically: the header with a split
        column only if some image has a split, and a column per attribute met."""
        rows: list[Row] = []
        with atomic_file(self.dest, self.options.overwrite) as fh:
            yield rows.extend
            with_split = any(r[4] is not None for r in rows)
            extra: dict[str, None] = {}
            for r in rows:
                for key in r[5]:
                    if key not in extra and key not in HEADER and key != "split":
                        extra[key] = None
            columns = list(extra)
            text = io.StringIO(newline="")
            out = csv.writer(text, lineterminator="\n")
            out.writerow([*HEADER, *(["split"] if with_split else []), *columns])
            for file_name, x, y, category_id, split, attributes in rows:
                name = self.names.get(category_id, f"class_{category_id - 1}")
                place = self.places.get(category_id, category_id - 1)
                tail = [_cell(attributes[c]) if c in attributes else "" for c in columns]
                split_cell = [split or ""] if with_split else []
                out.writerow([file_name, x, y, name, place, *split_cell, *tail])
            fh.write(text.getvalue().encode("utf-8"))


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> PointsCsvWriter:
    """The format's ``WriterFactory``: one points CSV (``file,x,y,class,class_id``, 0-based pixel indices)."""
    return PointsCsvWriter(dest, categories, image_root, options, report)
