"""What the Aperio and ASAP writers share: one ``<stem>.xml`` per image below the output folder (the image's
sub-folders kept: ``train/a.tif`` gives ``DST/train/a.xml``), built in a temporary folder and moved into place
at the end (nothing left on error), and exact numbers (the shortest text that reads back as the same float).

Geometries each format cannot hold as they are: an RLE mask is written as the polygon of its exact pixel outline
(``rle-as-polygon``), an image-level label as a whole-image box (``label-as-box``), a box as the polygon of its
corners; points are ASAP ``Dot`` annotations, and Aperio has none (``--point-box`` boxes).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np

from cytoconv.engine.atomic import file_per_image_sink, write_image_file
from cytoconv.engine.contract import WriteOptions
from cytoconv.engine.files import safe_relative
from cytoconv.errors import Report
from cytoconv.ir import Box, Category, ImageRecord, Polygon, Rle


def num(value: float) -> str:
    """A coordinate as the shortest text that reads back as the same float (``12`` for an integer)."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def escape(text: str) -> str:
    """An XML attribute value without its quotes."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
        .replace("\t", "&#9;")
    )


def as_polygon(geometry: Box | Polygon | Rle, record: ImageRecord, report: Report) -> Polygon | None:
    """A box as its 4 corners, an RLE as its exact pixel outline (counted; None when it has no pixel)."""
    if isinstance(geometry, Polygon):
        return geometry
    if isinstance(geometry, Box):
        from cytoconv.geometry.raster import box_ring

        return Polygon.trusted(kind="polygon", rings=[box_ring(geometry)], holes=[False])
    from cytoconv.geometry.outline import trace
    from cytoconv.geometry.raster import rasterise

    mask = rasterise(geometry, geometry.height, geometry.width).astype(bool)
    if not mask.any():
        report.notice("empty-mask", f"{record.file_name}: an empty mask, not written")
        return None
    report.notice("rle-as-polygon", f"{record.file_name}: a mask written as its exact pixel outline")
    return trace(mask, 0, 0)


def ring_text(ring: np.ndarray[Any, Any], tag: str, extra: str) -> list[str]:
    """One ``<tag X=.. Y=..{extra}/>`` per vertex (``extra`` may hold ``{k}``, the vertex number)."""
    return [f'<{tag} X="{num(x)}" Y="{num(y)}"{extra.format(k=k)}/>' for k, (x, y) in enumerate(ring)]


class SlideWriter:
    """One XML file per image below ``dest``; subclasses give ``xml``."""

    title = ""

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
        self.tmp: Path | None = None

    def set_categories(self, categories: list[Category]) -> None:
        """New class names (names made from the ids seen, known only at the end)."""
        self.names = {c.id: c.name for c in categories}

    def name_of(self, category_id: int) -> str:
        """A class's name; ``class_<index>`` for an id without a category, as readers name it."""
        return self.names.get(category_id) or f"class_{category_id - 1}"

    def xml(self, record: ImageRecord, report: Report) -> str:
        """The XML text of one image."""
        raise NotImplementedError

    def encode(self, record: ImageRecord, index: int, report: Report) -> str:
        """Write one image's XML file in a worker (refusing a second image with the same path without its
        suffix); returns its path in the output."""
        rel = safe_relative(record.file_name, record.file_name)
        xml_rel = os.path.splitext(rel)[0] + ".xml"
        data = self.xml(record, report).encode("utf-8")
        return write_image_file(
            self, xml_rel, data, record.file_name, f"{self.title} needs one XML file per image"
        )

    def sink(self) -> AbstractContextManager[Callable[[Any], None]]:
        """One XML per image, written by the workers; no class list (the XML names its classes)."""
        return file_per_image_sink(self, self.options.overwrite, None)


def dropped_attributes(record: ImageRecord, kept: tuple[str, ...], report: Report) -> None:
    """Count the attributes, scores and crowd flags a slide XML has no place for."""
    n = sum(
        sum(1 for k in inst.attributes if k not in kept) + (inst.score is not None) + inst.iscrowd
        for inst in record.instances
    )
    if n:
        report.notice(
            "attribute-dropped",
            f"{record.file_name}: {n} attribute(s), score(s) or crowd flag(s) with no place in the XML",
            count=n,
        )
