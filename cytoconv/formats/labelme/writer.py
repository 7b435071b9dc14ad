"""LabelMe JSON writer: one file per image, as labelme 5.x writes them (written from the format's description;
labelme is GPL-3 and none of it is used).

Layout: ``DST/<image path without its suffix>.json`` (the image's sub-folders kept, so ``train/a.jpg`` gives
``DST/train/a.json``); ``imagePath`` is the image's path relative to the JSON file's folder, pointing at the
source image where it is (``../../data/images/a.jpg``), so that LabelMe opens the file with its image; without
an image root, the image's name, as if it were beside the JSON file. ``imageData`` is null (LabelMe loads the
image from ``imagePath``), ``imageHeight`` / ``imageWidth`` the record's size, ``version`` ``5.5.0``. ``DST/labels.txt`` lists the class
names in id order, one a line (``labelme --labels DST/labels.txt`` offers them; the reader numbers the classes
by it).

Shapes, coordinates as they are (the corner model, as COCO's): a box is a ``rectangle`` (top-left and
bottom-right corners), a point a ``point``, a polygon a ``polygon`` per part (the parts of one object share a
``group_id``, numbered 1, 2, ... per image after any the objects already carry), an RLE a ``mask``: the 0/1 crop
``[ymin:ymax+1, xmin:xmax+1]`` of its pixels as a base64 8-bit grey PNG, with points
``[[xmin, ymin], [xmax, ymax]]``. LabelMe polygons have no holes: ``--holes bridge`` (the default) joins each
hole to its outline by a zero-width cut (exact under the COCO raster, ``holes-bridged``), ``rle`` writes the
object as a mask (``polygon-as-rle``), ``fill`` fills it (``holes-filled``), ``error`` refuses it. The
attributes ``flags``, ``description`` and ``group_id`` are written back; any other attribute, a score and a
crowd flag have no place (``attribute-dropped``).
"""

from __future__ import annotations

import base64
import io
import json
import os
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
from cytoconv.formats.labelme.syntax import LABELS_FILE
from cytoconv.ir import Box, Category, ImageRecord, Instance, Point, Polygon, Rle

VERSION = "5.5.0"
KEPT = ("flags", "description", "group_id")


def mask_png(crop: np.ndarray[Any, Any]) -> str:
    """A boolean crop as labelme stores a mask: the 0/1 values as an 8-bit grey PNG, base64."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(crop.astype(np.uint8), mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _shape(
    label: str, points: list[list[float]], shape_type: str, group_id: int | None, inst: Instance
) -> dict[str, Any]:
    flags = inst.attributes.get("flags")
    description = inst.attributes.get("description")
    return {
        "label": label,
        "points": points,
        "group_id": group_id,
        "description": description if isinstance(description, str) else "",
        "shape_type": shape_type,
        "flags": dict(flags) if isinstance(flags, dict) else {},
        "mask": None,
    }


def _ring(points: np.ndarray[Any, Any]) -> list[list[float]]:
    return [[float(x), float(y)] for x, y in points]


class LabelmeWriter:
    """One JSON file per image below ``dest``."""

    def __init__(
        self,
        dest: Path,
        categories: list[Category],
        image_root: str | None,
        options: WriteOptions,
        report: Report,
    ) -> None:
        self.dest = dest
        self.final = dest.resolve()
        self.image_root = os.path.abspath(image_root) if image_root else None
        self.options = options
        self.names = {c.id: c.name for c in categories}
        self.tmp: Path | None = None

    def set_categories(self, categories: list[Category]) -> None:
        """New class names (names made from the ids seen, known only at the end)."""
        self.names = {c.id: c.name for c in categories}

    def name_of(self, category_id: int) -> str:
        """A class's label; ``class_<index>`` for an id without a category, as readers name it."""
        return self.names.get(category_id) or f"class_{category_id - 1}"

    def encode(self, record: ImageRecord, index: int, report: Report) -> str:
        """Write one image's JSON file in a worker (refusing a second image of the same path without suffix);
        returns its path in the output."""
        rel = safe_relative(record.file_name, record.file_name)
        stem = os.path.splitext(rel)[0]
        json_rel = stem + ".json"
        folder = os.path.dirname(os.path.join(str(self.final), json_rel))
        if self.image_root is not None:
            image_path = os.path.relpath(os.path.join(self.image_root, rel), folder).replace(os.sep, "/")
        else:
            image_path = rel.rsplit("/", 1)[-1]
        data = self.document(record, image_path, report)
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        return write_image_file(
            self, json_rel, text.encode("utf-8"), record.file_name, "LabelMe needs one JSON file per image"
        )

    def document(self, record: ImageRecord, image_path: str, report: Report) -> dict[str, Any]:
        """The JSON object of one image."""
        record = label_as_box(record, report)
        where = record.file_name
        used = {
            g
            for inst in record.instances
            if isinstance(g := inst.attributes.get("group_id"), int) and not isinstance(g, bool)
        }
        next_group = max(used, default=0) + 1
        shapes: list[dict[str, Any]] = []
        dropped = 0
        for inst in record.instances:
            label = self.name_of(inst.category_id)
            dropped += (
                sum(1 for k in inst.attributes if k not in KEPT) + (inst.score is not None) + inst.iscrowd
            )
            given = inst.attributes.get("group_id")
            group: int | None = given if isinstance(given, int) and not isinstance(given, bool) else None
            g = inst.geometry
            if isinstance(g, Box):
                shapes.append(_shape(label, [[g.x, g.y], [g.x + g.w, g.y + g.h]], "rectangle", group, inst))
            elif isinstance(g, Point):
                shapes.append(_shape(label, [[g.x, g.y]], "point", group, inst))
            elif isinstance(g, Rle):
                shape = self._mask(label, g, group, inst, where, report)
                if shape is not None:
                    shapes.append(shape)
            else:
                rings = self._rings(g, where, report)
                if rings is None:  # written as a mask (--holes rle)
                    from cytoconv.geometry.raster import polygon_to_rle

                    shape = self._mask(
                        label, polygon_to_rle(g, record.height, record.width), group, inst, where, report
                    )
                    if shape is not None:
                        shapes.append(shape)
                    continue
                if len(rings) > 1 and group is None:
                    group, next_group = next_group, next_group + 1
                shapes.extend(_shape(label, _ring(r), "polygon", group, inst) for r in rings)
        if dropped:
            report.notice(
                "attribute-dropped",
                f"{where}: {dropped} attribute(s), score(s) or crowd flag(s) LabelMe has no place for",
                count=dropped,
            )
        flags = record.attributes.get("flags")
        other = [k for k in record.attributes if k != "flags"]
        if other:
            report.notice(
                "attribute-dropped",
                f"{where}: image attribute(s) {', '.join(other)} not written",
                count=len(other),
            )
        return {
            "version": VERSION,
            "flags": dict(flags) if isinstance(flags, dict) else {},
            "shapes": shapes,
            "imagePath": image_path,
            "imageData": None,
            "imageHeight": record.height,
            "imageWidth": record.width,
        }

    def _rings(self, g: Polygon, where: str, report: Report) -> list[np.ndarray[Any, Any]] | None:
        """A polygon's parts as LabelMe polygons, its holes by ``--holes``; None: write it as a mask."""
        if not any(g.holes):
            return list(g.rings)
        policy = self.options.holes
        n = sum(g.holes)
        if policy == "error":
            raise FormatError(
                where, "an object with a hole (choose --holes bridge, rle or fill)", code="hole"
            )
        if policy == "rle":
            report.notice("polygon-as-rle", f"{where}: an object with holes written as a mask", count=1)
            return None
        if policy == "fill":
            report.notice("holes-filled", f"{where}: holes filled", count=n)
            return list(g.parts)
        from cytoconv.geometry.outline import bridge_holes

        report.notice("holes-bridged", f"{where}: holes joined to their outline by zero-width cuts", count=n)
        return bridge_holes(g)

    @staticmethod
    def _mask(
        label: str, g: Rle, group: int | None, inst: Instance, where: str, report: Report
    ) -> dict[str, Any] | None:
        """An RLE as a ``mask`` shape: the crop of its pixels' box, as labelme 5.x stores SAM masks."""
        from cytoconv.geometry.raster import rasterise

        mask = rasterise(g, g.height, g.width)
        ys, xs = np.nonzero(mask)
        if not len(xs):
            report.notice("empty-mask", f"{where}: an empty mask, not written")
            return None
        x0, x1, y0, y1 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
        shape = _shape(label, [[float(x0), float(y0)], [float(x1), float(y1)]], "mask", group, inst)
        shape["mask"] = mask_png(mask[y0 : y1 + 1, x0 : x1 + 1])
        return shape

    def sink(self) -> AbstractContextManager[Callable[[Any], None]]:
        """One JSON per image, written by the workers; ``labels.txt`` last."""
        return file_per_image_sink(self, self.options.overwrite, LABELS_FILE)


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> LabelmeWriter:
    """The registry's writer factory (``WriterFactory``)."""
    return LabelmeWriter(dest, categories, image_root, options, report)
