"""COCO JSON writer: ids from 1 in a deterministic order, ``area`` from the pycocotools raster of the
segmentation, ``iscrowd`` 0 unless the data says otherwise. The file is streamed (annotations first, then
images, then categories: key order means nothing to COCO readers), so memory stays flat however many images
there are.

A point (a cell centre) is written as a keypoint annotation, as detectron2 and pycocotools' keypoint evaluation
read one: ``keypoints: [i, j, 2]`` with ``i j`` the pixel index (the model coordinate - 0.5, integers when
whole), ``num_keypoints: 1``, ``segmentation: []``, ``bbox`` the point's box (``--point-box``) or else its
pixel ``[i, j, 1, 1]``, ``area`` the bbox's; the categories holding points get ``keypoints: ["center"]`` and
``skeleton: []``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cytoconv.engine.adapt import label_as_box, point_boxes
from cytoconv.engine.atomic import atomic_file
from cytoconv.engine.contract import WriteOptions
from cytoconv.errors import FormatError, Report
from cytoconv.ir import Box, Category, ImageRecord, Instance, Point, Polygon, Rle

# what a category of points says it holds (the one keypoint's name, no skeleton)
POINT_KEYPOINTS: list[str] = ["center"]


class CocoWriter:
    """One COCO file: ``encode`` turns a record into JSON fragments (in workers), ``sink`` streams them out."""

    def __init__(
        self,
        dest: Path,
        categories: list[Category],
        image_root: str | None,
        options: WriteOptions,
        report: Report,
    ) -> None:
        self.dest = dest
        self.categories = categories
        self.options = options
        self.names = {c.id: c.name for c in categories}  # for per-class --point-box sizes

    def set_categories(self, categories: list[Category]) -> None:
        """Keep the final categories: ``sink`` writes them last, after the images."""
        self.categories = categories

    def encode(
        self, record: ImageRecord, index: int, report: Report
    ) -> tuple[bytes, bytes, int, frozenset[int]]:
        """The image entry and the annotation entries of one image as JSON bytes, how many annotations there
        are, and the categories of its points (which the sink gives their keypoint names).

        The annotations come as one template, ``,{"id":%d,...},{"id":%d,...}`` (any other ``%`` doubled): the
        sink fills in the ids, given in order, with one ``%`` formatting per image rather than one per object."""
        import orjson

        from cytoconv.geometry import raster as geo

        opt = orjson.OPT_SERIALIZE_NUMPY
        image_id = index + 1
        image = orjson.dumps(
            {"id": image_id, "file_name": record.file_name, "width": record.width, "height": record.height}
        )
        if record.split is not None:  # one COCO file has no place for it: said, never lost silently
            report.notice(
                "split-not-kept",
                f"{record.file_name}: split {record.split!r} not kept: one COCO file holds no split",
            )
        record = label_as_box(record, report)  # folders -> COCO: one whole-image box per image
        if (
            record.instances
            and self.options.segmentation != "rle"
            and all(_plain_polygon(inst, self.options.holes) for inst in record.instances)
        ):
            return image, _polygon_annotations(record, image_id, report), len(record.instances), frozenset()
        simple = [
            i
            for i, inst in enumerate(record.instances)
            if isinstance(inst.geometry, Polygon) and len(inst.geometry.rings) == 1
        ]
        rings = [record.instances[i].geometry.rings[0] for i in simple]  # type: ignore[union-attr]
        areas = dict(zip(simple, geo.single_ring_areas(rings, record.height, record.width))) if simple else {}
        boxes = dict(zip(simple, geo.bounds_of_rings(rings)))
        out = []
        point_categories: set[int] = set()
        sized: list[Box | None] = []
        if self.options.point_box is not None and any(
            isinstance(i.geometry, Point) for i in record.instances
        ):
            sized = point_boxes(record, self.options.point_box, self.names, report)
        to_polygons = self.options.segmentation == "polygon"
        to_rle = self.options.segmentation == "rle"
        for i, inst in enumerate(record.instances):
            g = inst.geometry
            segmentation: Any
            area: float
            if isinstance(g, Rle) and to_polygons:
                g = self._traced(g, record, report)
            elif isinstance(g, Polygon) and to_rle:
                report.notice("polygon-as-rle", f"{record.file_name}: a polygon written as its RLE mask")
            if isinstance(g, Polygon) and (any(g.holes) or to_rle):
                segmentation, area = self._polygon_with_holes(g, record, report)
                bbox = geo.bounds_of_rings([np.concatenate(g.parts)])[0]
            elif isinstance(g, Polygon):
                segmentation = [_compact(r) for r in g.rings]
                area = areas[i] if i in areas else geo.polygon_area(g, record.height, record.width)
                bbox = boxes[i] if i in boxes else geo.bounds_of_rings([np.concatenate(g.parts)])[0]
            elif isinstance(g, Rle):
                segmentation = {"size": [g.height, g.width], "counts": g.counts}
                area = geo.rle_area(g)
                b = geo.rle_bounds(g)
                bbox = [b.x, b.y, b.w, b.h]
            elif isinstance(g, Point):
                point_categories.add(inst.category_id)
                out.append(_keypoint(g, inst.category_id, image_id, sized[i] if sized else None, inst))
                continue
            else:
                segmentation, area, bbox = [], g.w * g.h, [g.x, g.y, g.w, g.h]
            ann: dict[str, Any] = {
                "image_id": image_id,
                "category_id": inst.category_id,
                "segmentation": segmentation,
                "area": area,
                "bbox": bbox,
                "iscrowd": int(inst.iscrowd),
            }
            if inst.score is not None:
                ann["score"] = inst.score
            if inst.attributes:
                ann["attributes"] = inst.attributes
            out.append(orjson.dumps(ann, option=opt)[1:])
        template = b"".join([b',{"id":%d,' + body.replace(b"%", b"%%") for body in out])
        return image, template, len(out), frozenset(point_categories)

    def _traced(self, g: Rle, record: ImageRecord, report: Report) -> Polygon | Rle:
        """``--segmentation polygon`` for an RLE (COCO RLE input, crowd objects included): its exact
        pixel-edge outline, whose pycocotools raster is the mask again (holes then bridged by the
        ``--holes`` policy, as for masks); an empty RLE has no outline and stays as it is."""
        from cytoconv.geometry import raster as geo
        from cytoconv.geometry.outline import trace

        traced = trace(geo.rasterise(g, g.height, g.width))
        if traced is None:
            return g
        report.notice("rle-as-polygon", f"{record.file_name}: an RLE mask written as its traced outline")
        return traced

    def _polygon_with_holes(self, g: Polygon, record: ImageRecord, report: Report) -> tuple[Any, int]:
        """COCO polygons cannot hold a hole: bridge it (exact), write RLE, fill it, or refuse (``--holes``)."""
        from cytoconv.geometry import raster as geo

        policy = "rle" if self.options.segmentation == "rle" else self.options.holes
        if policy == "error":
            raise FormatError(
                record.file_name, "an object with a hole (choose --holes bridge, rle or fill)", code="hole"
            )
        if policy == "fill":
            report.notice("holes-filled", f"{record.file_name}: holes filled", count=sum(g.holes))
            filled = Polygon.trusted(kind="polygon", rings=g.parts, holes=[False] * len(g.parts))
            return [_compact(r) for r in filled.rings], geo.polygon_area(filled, record.height, record.width)
        if policy == "bridge":
            rings = _bridged(g, record, report)
            areas = geo.single_ring_areas(rings, record.height, record.width)
            area = (
                areas[0]
                if len(rings) == 1
                else geo.polygon_area(
                    Polygon.trusted(kind="polygon", rings=rings, holes=[False] * len(rings)),
                    record.height,
                    record.width,
                )
            )
            return [_compact(r) for r in rings], area
        rle = geo.polygon_rle(g, record.height, record.width)
        return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}, geo.rle_areas([rle])[0]

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:
        """Stream the JSON file atomically: annotations as they come (numbered in order), then the image
        entries kept until the end, then the categories."""
        import orjson

        from cytoconv._version import __version__

        images: list[bytes] = []
        counter = [0]
        point_categories: set[int] = set()
        with atomic_file(self.dest, self.options.overwrite) as fh:
            fh.write(
                b'{"info":'
                + orjson.dumps({"description": f"written by cytoconv {__version__}"})
                + b',"licenses":[],"annotations":['
            )

            def accept(fragment: tuple[bytes, bytes, int, frozenset[int]]) -> None:
                """Write one image's annotations now, numbered, and keep its image entry for the ``images``
                array."""
                image, template, count, points = fragment
                images.append(image)
                point_categories.update(points)
                if count:
                    first = counter[0]
                    counter[0] += count
                    text = template % tuple(range(first + 1, first + count + 1))
                    fh.write(text if first else text[1:])  # no comma before the first annotation

            yield accept
            fh.write(b'],"images":[' + b",".join(images) + b'],"categories":')
            entries = [c.model_dump(exclude_none=True) for c in self.categories]
            for entry in entries:
                if entry["id"] in point_categories:
                    entry.update(keypoints=POINT_KEYPOINTS, skeleton=[])
            fh.write(orjson.dumps(entries) + b"}")


def _whole(value: float) -> float | int:
    """A coordinate as an integer when it is one (pixel indices of whole-pixel points: ``792``, not ``792.0``)."""
    value = float(value)
    return int(value) if value.is_integer() else value


def _keypoint(point: Point, category_id: int, image_id: int, box: Box | None, inst: Instance) -> bytes:
    """A point's keypoint annotation (without its leading ``{"id":N,``): the pixel index ``i j`` = the model
    coordinate - 0.5, visible (2); ``bbox`` the point's box, else its pixel."""
    import orjson

    from cytoconv.formats.coco.syntax import VISIBILITY  # here: the scan's module is not needed to write

    i, j = _whole(point.x - 0.5), _whole(point.y - 0.5)
    if box is None:
        bbox: list[float | int] = [i, j, 1, 1]
        area: float | int = 1
    else:
        bbox = [_whole(box.x), _whole(box.y), _whole(box.w), _whole(box.h)]
        area = _whole(box.w * box.h)
    ann: dict[str, Any] = {
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": [],
        "area": area,
        "bbox": bbox,
        "iscrowd": int(inst.iscrowd),
        "keypoints": [i, j, 2 if inst.attributes.get(VISIBILITY) != 1 else 1],
        "num_keypoints": 1,
    }
    if inst.score is not None:
        ann["score"] = inst.score
    attributes = {k: v for k, v in inst.attributes.items() if k != VISIBILITY}
    if attributes:
        ann["attributes"] = attributes
    return orjson.dumps(ann)[1:]


def _compact(ring: npt.NDArray[np.float64]) -> npt.NDArray[Any]:
    """A ring as the flat list COCO wants; whole-pixel outlines (traced masks) as integers, which
    are a quarter of the bytes (``12`` rather than ``12.0``) and exactly the same numbers."""
    flat = ring.reshape(-1)
    as_int = flat.astype(np.int64)
    return as_int if np.array_equal(as_int, flat) else flat


def _plain_polygon(inst: Instance, holes: str) -> bool:
    """One outer ring, with holes only when they are to be bridged, and no attributes: the objects of a YOLO
    file or of a traced mask, written by the fast path."""
    g = inst.geometry
    return (
        isinstance(g, Polygon)
        and not inst.attributes
        and (len(g.rings) == 1 or (holes == "bridge" and all(g.holes[1:])))
    )


def _polygon_annotations(record: ImageRecord, image_id: int, report: Report) -> bytes:
    """The annotation template (see ``CocoWriter.encode``) of an image whose objects are all plain polygons:
    the same entries as the general path, areas, boxes and integer checks each done once for all rings,
    and one ``orjson.dumps`` for all of them. Such an entry holds numbers only, so ``{"image_id":`` starts
    each entry and nothing else, and there is no ``%`` to double.

    A hole is bridged to its outline as in the general path (a traced mask's cytoplasm around its nucleus).
    The outlines the tracer made are counted by their shoelace area (``outline_areas``), any other ring by
    pycocotools."""
    import orjson

    from cytoconv.geometry import raster as geo

    polygons: list[Polygon] = [inst.geometry for inst in record.instances]  # type: ignore[misc]
    written = []
    for g in polygons:
        if len(g.rings) == 1:
            written.append(g.rings[0])
            continue
        written.append(_bridged(g, record, report)[0])
    segments = _compact_rings(written)
    boxes = geo.bounds_of_rings([g.rings[0] for g in polygons])
    if all(g.pixel_exact for g in polygons) and _inside(boxes, record):
        areas = geo.outline_areas(polygons)  # traced masks: their pixel counts, without a raster
    else:
        areas = geo.single_ring_areas(written, record.height, record.width)
    anns = []
    for inst, segment, area, bbox in zip(record.instances, segments, areas, boxes):
        ann: dict[str, Any] = {
            "image_id": image_id,
            "category_id": inst.category_id,
            "segmentation": [segment],
            "area": area,
            "bbox": bbox,
            "iscrowd": int(inst.iscrowd),
        }
        if inst.score is not None:
            ann["score"] = inst.score
        anns.append(ann)
    entries = orjson.dumps(anns, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1]
    return b"," + entries.replace(b'{"image_id":', b'{"id":%d,"image_id":')


def _bridged(polygon: Polygon, record: ImageRecord, report: Report) -> list[npt.NDArray[np.float64]]:
    """``--holes bridge``: each part of the polygon as one ring, its holes joined by zero-width cuts, and the
    holes counted (both paths of ``encode`` say it alike)."""
    from cytoconv.geometry.outline import bridge_holes

    report.notice(
        "holes-bridged",
        f"{record.file_name}: holes joined to their outline by zero-width cuts",
        count=sum(polygon.holes),
    )
    return bridge_holes(polygon)


def _inside(boxes: list[list[float]], record: ImageRecord) -> bool:
    """Whether every box lies in the image: pycocotools counts only the pixels inside it."""
    return all(x >= 0 and y >= 0 and x + w <= record.width and y + h <= record.height for x, y, w, h in boxes)


def _compact_rings(rings: list[npt.NDArray[np.float64]]) -> list[npt.NDArray[Any]]:
    """``_compact`` of each ring, with one integer check for all of them: YOLO rings are never whole, traced
    outlines always are; only a mix is looked at ring by ring."""
    points = np.concatenate(rings)
    as_int = points.astype(np.int64)
    whole = as_int == points
    if not whole.any():
        return [r.reshape(-1) for r in rings]
    if not whole.all():
        return [_compact(r) for r in rings]
    ends = np.cumsum([len(r) for r in rings]).tolist()
    return [as_int[start:end].reshape(-1) for start, end in zip([0, *ends[:-1]], ends)]


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> CocoWriter:
    """The registry's writer factory (``FormatInfo.writer``): one COCO JSON file at ``dest``."""
    return CocoWriter(dest, categories, image_root, options, report)
