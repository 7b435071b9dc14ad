"""ImageJ ROI set writer: one ``<image path without suffix>.zip`` per image (the image's sub-folders kept), as
Fiji's ROI Manager saves one (``.roi`` entries, deflated), and ``classes.txt`` with the class names in group
order. An image without objects gets an empty zip, so every image is kept.

Each object is a ROI named ``<class>-<n>`` (n: its place in the image, from 1; or its ``name`` attribute when
it has one, made unique) with group = its class's index (1..N, categories in id order; ImageJ groups stop at
255, so more classes are refused):

- a polygon: one polygon ROI per part (several parts: several ROIs, ``parts-split``); integer vertices when all
  are whole, else float32 sub-pixel ones (ImageJ's precision: about 1e-4 px at 1,000 px). ImageJ polygons
  have no holes: the outline is written and the holes counted (``holes-filled``);
- a box: a rectangle ROI (sub-pixel bounds when not whole);
- a point: a point ROI at ``(x - 0.5, y - 0.5)`` (ImageJ point coordinates are pixel indices);
- an RLE mask: traced exactly to polygons (``rle-as-polygon``), then as a polygon.

Scores, crowd flags and attributes other than ``name`` have no place (``attribute-dropped``).
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np

from cytoconv.engine.adapt import label_as_box
from cytoconv.engine.atomic import file_per_image_sink, write_image_file
from cytoconv.engine.contract import WriteOptions
from cytoconv.engine.files import safe_relative
from cytoconv.errors import FormatError, Report
from cytoconv.formats.imagej.syntax import CLASSES_FILE
from cytoconv.ir import Box, Category, ImageRecord, Point, Polygon, Rle

MAX_GROUPS = 255
STAMP = (1980, 1, 1, 0, 0, 0)  # fixed zip times: the same input gives the same bytes


def _polygon_roi(ring: np.ndarray[Any, Any], name: str, group: int) -> Any:
    import roifile

    pts = np.asarray(ring, dtype=np.float64)
    whole = bool(np.all(pts == np.round(pts))) and pts.min() >= -5000 and pts.max() <= 60535
    roi = roifile.ImagejRoi.frompoints(pts.astype(np.int64) if whole else pts, name=name)
    roi.roitype = roifile.ROI_TYPE.POLYGON
    roi.group = group
    return roi


def _points_roi(x: float, y: float, name: str, group: int) -> Any:
    import roifile

    pts = np.array([[x - 0.5, y - 0.5]], dtype=np.float64)
    whole = bool(np.all(pts == np.round(pts))) and pts.min() >= -5000 and pts.max() <= 60535
    roi = roifile.ImagejRoi.frompoints(pts.astype(np.int64) if whole else pts, name=name)
    roi.roitype = roifile.ROI_TYPE.POINT
    roi.group = group
    return roi


def _rect_roi(g: Box, name: str, group: int) -> Any:
    import roifile

    roi = roifile.ImagejRoi()
    roi.roitype = roifile.ROI_TYPE.RECT
    roi.name = name
    roi.group = group
    roi.left, roi.top = int(np.floor(g.x)), int(np.floor(g.y))
    roi.right, roi.bottom = int(np.ceil(g.x + g.w)), int(np.ceil(g.y + g.h))
    if any(v != round(v) for v in (g.x, g.y, g.w, g.h)):
        roi.options |= roifile.ROI_OPTIONS.SUB_PIXEL_RESOLUTION
        roi.xd, roi.yd, roi.widthd, roi.heightd = g.x, g.y, g.w, g.h
    return roi


class ImagejWriter:
    """One zip file per image below ``dest``."""

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
        self.tmp: Path | None = None
        self.set_categories(categories)

    def set_categories(self, categories: list[Category]) -> None:
        """Groups 1..N in category id order (names made from the ids seen arrive at the end)."""
        ordered = sorted(categories, key=lambda c: c.id)
        if len(ordered) > MAX_GROUPS:
            raise FormatError(
                self.dest,
                f"{len(ordered)} classes: ImageJ ROI groups hold at most {MAX_GROUPS}",
                code="usage",
            )
        self.names = {c.id: c.name for c in ordered}
        self.groups = {c.id: k + 1 for k, c in enumerate(ordered)}

    def group_of(self, category_id: int) -> tuple[int, str]:
        if category_id not in self.groups:  # an id without a category: named as readers name it
            self.names[category_id] = f"class_{category_id - 1}"
            self.set_categories(
                [Category.trusted(id=i, name=n, supercategory=None) for i, n in self.names.items()]
            )
        return self.groups[category_id], self.names[category_id]

    def encode(self, record: ImageRecord, index: int, report: Report) -> str:
        """Write one image's ROI set in a worker; returns its path in the output."""
        rel = safe_relative(record.file_name, record.file_name)
        zip_rel = os.path.splitext(rel)[0] + ".zip"
        data = self.zip_bytes(record, report)
        return write_image_file(self, zip_rel, data, record.file_name, "one ROI set per image")

    def rois(self, record: ImageRecord, report: Report) -> list[Any]:
        """The ROIs of one image, in object order."""
        record = label_as_box(record, report)
        where = record.file_name
        rois: list[Any] = []
        used: set[str] = set()
        dropped = holes = parts = traced = 0
        for k, inst in enumerate(record.instances):
            group, label = self.group_of(inst.category_id)
            given = inst.attributes.get("name")
            base = given if isinstance(given, str) and given else f"{label}-{k + 1}"
            dropped += (
                sum(1 for a in inst.attributes if a != "name") + (inst.score is not None) + inst.iscrowd
            )
            g = inst.geometry
            if isinstance(g, Rle):
                from cytoconv.geometry.outline import trace
                from cytoconv.geometry.raster import rasterise

                traced_g = trace(rasterise(g, g.height, g.width).astype(bool))
                traced += 1
                if traced_g is None:
                    report.notice("empty-mask", f"{where}: object {k + 1}: an empty mask, not written")
                    continue
                g = traced_g
            if isinstance(g, Polygon):
                outer = [r for r, h in zip(g.rings, g.holes) if not h]
                holes += sum(g.holes)
                if len(outer) > 1:
                    parts += 1
                for p, ring in enumerate(outer):
                    name = self._unique(base if p == 0 else f"{base}.{p + 1}", used)
                    rois.append(_polygon_roi(ring, name, group))
            elif isinstance(g, Box):
                rois.append(_rect_roi(g, self._unique(base, used), group))
            else:
                assert isinstance(g, Point)
                rois.append(_points_roi(g.x, g.y, self._unique(base, used), group))
        if traced:
            report.notice("rle-as-polygon", f"{where}: {traced} RLE mask(s) traced to polygons", count=traced)
        if holes:
            report.notice(
                "holes-filled", f"{where}: ImageJ polygons have no holes: {holes} filled", count=holes
            )
        if parts:
            report.notice(
                "parts-split",
                f"{where}: {parts} object(s) of several parts written as one ROI a part",
                count=parts,
            )
        if dropped:
            report.notice(
                "attribute-dropped",
                f"{where}: {dropped} attribute(s), score(s) or crowd flag(s) ImageJ has no place for",
                count=dropped,
            )
        if record.attributes:
            report.notice(
                "attribute-dropped",
                f"{where}: image attribute(s) {', '.join(record.attributes)} not written",
                count=len(record.attributes),
            )
        return rois

    @staticmethod
    def _unique(name: str, used: set[str]) -> str:
        candidate, n = name, 1
        while candidate.lower() in used:
            n += 1
            candidate = f"{name}-{n}"
        used.add(candidate.lower())
        return candidate

    def zip_bytes(self, record: ImageRecord, report: Report) -> bytes:
        """The zip of one image's ROIs, with fixed entry times."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for roi in self.rois(record, report):
                roi.name = roi.name.replace("/", "_")
                info = zipfile.ZipInfo(roi.name + ".roi", date_time=STAMP)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, roi.tobytes())
        return buffer.getvalue()

    def sink(self) -> AbstractContextManager[Callable[[Any], None]]:
        """One RoiSet zip per image, written by the workers; ``classes.txt`` last."""
        return file_per_image_sink(self, self.options.overwrite, CLASSES_FILE)


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> ImagejWriter:
    """The registry's writer factory (``WriterFactory``)."""
    return ImagejWriter(dest, categories, image_root, options, report)
