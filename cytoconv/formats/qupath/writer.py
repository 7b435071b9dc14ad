"""QuPath GeoJSON writer: ``DST/<image path without its suffix>.geojson`` per image (sub-folders kept) and
``DST/classes.txt`` (the class names in id order, which the reader numbers the classes by).

Each file is a ``FeatureCollection`` as QuPath's "Export objects as GeoJSON" writes it: one ``Feature`` per
object with an ``id`` (the object's own ``id`` attribute when it has a unique one, else a UUID derived from the
image's file name and the object's index, so that output bytes do not depend on the run or on ``--jobs``),
``properties.objectType`` (the object's ``objectType`` attribute, else ``annotation``) and
``properties.classification`` ``{"name", "color": [r, g, b]}`` (a fixed palette by class id; none for
``unclassified``). Coordinates are written exactly (no rounding), rings closed as QuPath closes them:

- a polygon: a ``Polygon`` (shell, then its holes as interior rings), or a ``MultiPolygon`` for several parts;
- a box: its 4-corner ``Polygon`` (counted, ``box-as-polygon``);
- an RLE mask: traced along its pixel edges into polygons with holes (exact; ``rle-as-polygon``);
- a point: a ``Point``;
- a nucleus (an object with ``nucleus_of`` naming a cell's ``id`` in the same image): the cell's
  ``nucleusGeometry``, the cell's ``objectType`` ``cell``.

``name`` and ``measurements`` attributes are written back; other attributes, scores and crowd flags have no
place in QuPath (``attribute-dropped``), nor have splits (``split-not-kept``).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from cytoconv.engine.adapt import label_as_box
from cytoconv.engine.atomic import file_per_image_sink, write_image_file
from cytoconv.engine.contract import WriteOptions
from cytoconv.engine.files import safe_relative
from cytoconv.errors import Report
from cytoconv.formats.qupath.syntax import CLASSES_FILE, UNCLASSIFIED
from cytoconv.ir import Box, Category, ImageRecord, Instance, Point, Points, Polygon, Rle

# A fixed palette (QuPath's own default class colours first: Tumor, Stroma, Immune cells, Necrosis, Other, ...)
PALETTE = (
    (200, 0, 0),
    (150, 200, 150),
    (160, 90, 160),
    (50, 50, 50),
    (255, 200, 0),
    (0, 180, 255),
    (20, 20, 180),
    (180, 120, 40),
    (0, 150, 0),
    (255, 120, 200),
    (120, 120, 255),
    (90, 200, 200),
)
KEPT = ("id", "objectType", "name", "measurements")  # a nucleus_of not folded into its cell is dropped
NAMESPACE = uuid.UUID("6f0e2c1a-5d8b-4c59-9a3e-2b7f6a1d4c90")  # cytoconv's: ids are uuid5(NAMESPACE, name#k)


def _num(v: float) -> float | int:
    """A coordinate as JSON: whole numbers without ``.0`` (as QuPath writes them), others exactly."""
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


def _ring(ring: Points) -> list[list[float | int]]:
    """A closed GeoJSON ring: the first vertex repeated at the end."""
    pts = [[_num(x), _num(y)] for x, y in ring.tolist()]
    pts.append(pts[0])
    return pts


def geometry_of(polygon: Polygon) -> dict[str, Any]:
    """A polygon as a GeoJSON ``Polygon`` (one part) or ``MultiPolygon``, holes as interior rings."""
    from cytoconv.geometry.outline import part_groups

    parts = [[_ring(shell), *(_ring(h) for h in holes)] for shell, holes in part_groups(polygon)]
    if len(parts) == 1:
        return {"type": "Polygon", "coordinates": parts[0]}
    return {"type": "MultiPolygon", "coordinates": parts}


class QupathWriter:
    """One GeoJSON file per image below ``dest``."""

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
        self.tmp: Path | None = None

    def set_categories(self, categories: list[Category]) -> None:
        """New class names, and their colours (by place in id order)."""
        self.names = {c.id: c.name for c in categories}
        self.colours = {cid: PALETTE[k % len(PALETTE)] for k, cid in enumerate(sorted(self.names))}

    def name_of(self, category_id: int) -> str:
        """A class's name; ``class_<index>`` for an id without a category, as readers name it."""
        return self.names.get(category_id) or f"class_{category_id - 1}"

    def encode(self, record: ImageRecord, index: int, report: Report) -> str:
        """Write one image's GeoJSON file in a worker; returns its path in the output."""
        rel = safe_relative(record.file_name, record.file_name)
        stem = os.path.splitext(rel)[0]
        out_rel = stem + ".geojson"
        document = self.document(record, report)
        text = json.dumps(document, indent=2 if self.options.indent else None, ensure_ascii=False) + "\n"
        return write_image_file(
            self, out_rel, text.encode("utf-8"), record.file_name, "QuPath needs one GeoJSON file per image"
        )

    def _classification(self, category_id: int) -> dict[str, Any] | None:
        name = self.name_of(category_id)
        if name == UNCLASSIFIED:
            return None
        r, g, b = self.colours.get(category_id, PALETTE[0])
        return {"name": name, "color": [r, g, b]}

    def document(self, record: ImageRecord, report: Report) -> dict[str, Any]:
        """The FeatureCollection of one image."""
        record = label_as_box(record, report)
        where = record.file_name
        given = [i.attributes.get("id") for i in record.instances]
        seen: dict[str, int] = {}
        for v in given:
            if isinstance(v, str):
                seen[v] = seen.get(v, 0) + 1
        # nuclei whose cell is in this image become that cell's nucleusGeometry
        cells = {v: k for k, v in enumerate(given) if isinstance(v, str) and seen[v] == 1}
        nuclei: dict[int, Polygon] = {}
        folded: set[int] = set()
        for k, inst in enumerate(record.instances):
            link = inst.attributes.get("nucleus_of")
            g = inst.geometry
            if (
                isinstance(link, str)
                and link in cells
                and isinstance(g, Polygon)
                and cells[link] not in nuclei
            ):
                nuclei[cells[link]] = g
                folded.add(k)
        features: list[dict[str, Any]] = []
        dropped = boxes = traced = 0
        for k, inst in enumerate(record.instances):
            if k in folded:
                continue
            dropped += (
                sum(1 for a in inst.attributes if a not in KEPT) + (inst.score is not None) + inst.iscrowd
            )
            g = inst.geometry
            if isinstance(g, Box):
                from cytoconv.geometry.raster import box_ring

                geometry = geometry_of(Polygon.trusted(kind="polygon", rings=[box_ring(g)], holes=[False]))
                boxes += 1
            elif isinstance(g, Point):
                geometry = {"type": "Point", "coordinates": [_num(g.x), _num(g.y)]}
            elif isinstance(g, Rle):
                from cytoconv.geometry.outline import trace
                from cytoconv.geometry.raster import rasterise

                outline = trace(rasterise(g, g.height, g.width))
                if outline is None:
                    report.notice("empty-mask", f"{where}: object {k + 1}: an empty mask, not written")
                    continue
                geometry = geometry_of(outline)
                traced += 1
            else:
                geometry = geometry_of(g)
            fid = inst.attributes.get("id")
            if not (isinstance(fid, str) and seen.get(fid) == 1):
                fid = str(uuid.uuid5(NAMESPACE, f"{record.file_name}#{k}"))
            properties = self._properties(inst, k in nuclei)
            feature: dict[str, Any] = {"type": "Feature", "id": fid, "geometry": geometry}
            if k in nuclei:
                feature["nucleusGeometry"] = geometry_of(nuclei[k])
            feature["properties"] = properties
            features.append(feature)
        if boxes:
            report.notice(
                "box-as-polygon", f"{where}: {boxes} box(es) written as 4-corner polygons", count=boxes
            )
        if traced:
            report.notice("rle-as-polygon", f"{where}: {traced} mask(s) traced into polygons", count=traced)
        if dropped:
            report.notice(
                "attribute-dropped",
                f"{where}: {dropped} attribute(s), score(s) or crowd flag(s) QuPath has no place for",
                count=dropped,
            )
        if record.attributes:
            report.notice(
                "attribute-dropped",
                f"{where}: image attribute(s) {', '.join(record.attributes)} not written",
                count=len(record.attributes),
            )
        if record.split is not None:
            report.notice("split-not-kept", f"{where}: split {record.split!r} has no place in QuPath GeoJSON")
        return {"type": "FeatureCollection", "features": features}

    def _properties(self, inst: Instance, cell: bool) -> dict[str, Any]:
        attributes = inst.attributes
        object_type = attributes.get("objectType")
        if cell:
            object_type = "cell"
        properties: dict[str, Any] = {
            "objectType": object_type if isinstance(object_type, str) else "annotation"
        }
        name = attributes.get("name")
        if isinstance(name, str):
            properties["name"] = name
        classification = self._classification(inst.category_id)
        if classification is not None:
            properties["classification"] = classification
        measurements = attributes.get("measurements")
        if isinstance(measurements, dict):
            properties["measurements"] = measurements
        return properties

    def sink(self) -> AbstractContextManager[Callable[[Any], None]]:
        """One GeoJSON per image, written by the workers; ``classes.txt`` last."""
        return file_per_image_sink(self, self.options.overwrite, CLASSES_FILE)


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> QupathWriter:
    """The registry's writer factory (``WriterFactory``)."""
    return QupathWriter(dest, categories, image_root, options, report)
