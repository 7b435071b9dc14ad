"""The one rasteriser of cytoconv: geometry to pixels as pycocotools draws them, and what COCO measures.

COCO's ``area`` is the pixel count of a segmentation as pycocotools rasterises it, so that
``annToMask(ann).sum() == area`` and COCOeval bins objects as a trainer will see them. A mask written, a crop's
background, a drawn fill and a resampled RLE are therefore that same raster, pixel for pixel: polygons (each
part minus its holes, the parts united), boxes (as their four-corner polygon) and RLEs all go through
pycocotools here, and nothing else in cytoconv imports it. Corner model, absolute pixels.

pycocotools is imported on the first raster only (it is slow to import), so that reading box-only files or
``cytoconv --version`` never pays for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from cytoconv.geometry.outline import bridge_holes
from cytoconv.ir import Box, Points, Polygon, Rle

Mask = npt.NDArray[np.bool_]
Geometry = Box | Polygon | Rle
PycocoRle = dict[str, Any]
"""An RLE as pycocotools takes and gives it: ``{"size": [height, width], "counts": bytes}``."""

# pycocotools' area() keeps its count in a uint8 (2.0.11): more than 255 masks in one call overflow.
_PYCOCO_BATCH = 255


def _mask_api() -> Any:
    from pycocotools import mask as mask_api  # heavy import: only when a raster is needed

    return mask_api


# ---------------------------------------------------------------------------------------------
# Geometry as pycocotools RLEs


def polygon_rles(rings: Sequence[Points], height: int, width: int) -> list[PycocoRle]:
    """One pycocotools RLE per ring, in batches (flat ``x1, y1, ...`` lists are what ``frPyObjects`` takes)."""
    flat = [np.ascontiguousarray(r, dtype=np.float64).reshape(-1) for r in rings]
    rles: list[PycocoRle] = []
    for start in range(0, len(flat), _PYCOCO_BATCH):
        rles.extend(_mask_api().frPyObjects(flat[start : start + _PYCOCO_BATCH], height, width))
    return rles


def polygon_rle(polygon: Polygon, height: int, width: int) -> PycocoRle:
    """The polygon's raster as one RLE: each part minus its own holes, then the parts united.

    A part with holes is rasterised as one ring with its holes joined by zero-width cuts, which the
    even-odd raster draws exactly as "outer minus holes" without decoding any mask. Islands inside a
    hole are parts of their own, so they survive the cut."""
    rings = bridge_holes(polygon) if any(polygon.holes) else polygon.rings
    rles = polygon_rles(rings, height, width)
    return dict(rles[0]) if len(rles) == 1 else dict(_mask_api().merge(rles, intersect=False))


def box_ring(box: Box) -> Points:
    """The box's four corners, clockwise from the top-left: the polygon a box is rasterised (and drawn) as."""
    return np.array(
        [[box.x, box.y], [box.x + box.w, box.y], [box.x + box.w, box.y + box.h], [box.x, box.y + box.h]],
        dtype=np.float64,
    )


def box_rle(box: Box, height: int, width: int) -> PycocoRle:
    """A box's raster: its four-corner polygon through pycocotools, so that a box and the same rectangle
    given as a polygon cover the same pixels (pixel-centre rounding at half-pixel edges included)."""
    return polygon_rles([box_ring(box)], height, width)[0]


def rle_to_pycoco(rle: Rle) -> PycocoRle:
    """The pycocotools form of an Rle: compressed counts as bytes (uncompressed lists are encoded)."""
    if isinstance(rle.counts, str):
        return {"size": [rle.height, rle.width], "counts": rle.counts.encode("ascii")}
    return dict(
        _mask_api().frPyObjects(
            {"size": [rle.height, rle.width], "counts": rle.counts}, rle.height, rle.width
        )
    )


def geometry_rle(geometry: Geometry, height: int, width: int) -> PycocoRle:
    """Any geometry as a pycocotools RLE (an RLE keeps its own size)."""
    if isinstance(geometry, Polygon):
        return polygon_rle(geometry, height, width)
    if isinstance(geometry, Box):
        return box_rle(geometry, height, width)
    return rle_to_pycoco(geometry)


def as_rle(rle: PycocoRle) -> Rle:
    """A pycocotools RLE as the model's compressed Rle."""
    height, width = (int(v) for v in rle["size"])
    return Rle.trusted(kind="rle", height=height, width=width, counts=rle["counts"].decode("ascii"))


# ---------------------------------------------------------------------------------------------
# Masks


def rasterise(geometry: Geometry, height: int, width: int) -> Mask:
    """The pixels of a polygon (holes cut out), a box or an RLE as a boolean ``(height, width)`` array: what
    pycocotools' ``annToMask`` gives for it. An RLE is decoded at its own size."""
    return _mask_api().decode(geometry_rle(geometry, height, width)).astype(bool)  # type: ignore[no-any-return]


def rasterise_window(geometry: Geometry, window: tuple[int, int, int, int]) -> Mask:
    """The pixels of ``geometry`` inside ``window = (x0, y0, x1, y1)``, a boolean array of the window's shape.

    A polygon or box is moved to the window's origin and rasterised at the window's size, so that cutting a
    small cell out of a large image never rasterises the whole image; an RLE is decoded and cut."""
    x0, y0, x1, y1 = window
    if isinstance(geometry, Rle):
        return rasterise(geometry, geometry.height, geometry.width)[y0:y1, x0:x1]
    if isinstance(geometry, Box):
        geometry = Polygon.trusted(kind="polygon", rings=[box_ring(geometry)], holes=[False])
    offset = np.array([x0, y0], dtype=np.float64)
    shifted = Polygon.trusted(
        kind="polygon", rings=[r - offset for r in geometry.rings], holes=list(geometry.holes)
    )
    return rasterise(shifted, y1 - y0, x1 - x0)


def union(geometries: Sequence[Geometry], height: int, width: int) -> Mask:
    """The union of the geometries' rasters as one boolean ``(height, width)`` array, merged as RLEs and
    decoded once (one class of an image, drawn as one fill)."""
    rles = [geometry_rle(g, height, width) for g in geometries]
    if not rles:
        return np.zeros((height, width), dtype=bool)
    merged = _mask_api().merge(rles, intersect=False) if len(rles) > 1 else rles[0]
    return _mask_api().decode(merged).astype(bool)  # type: ignore[no-any-return]


def encode(mask: npt.NDArray[np.bool_] | npt.NDArray[np.uint8]) -> Rle:
    """A ``(height, width)`` mask (non-zero: inside) as a compressed Rle."""
    return as_rle(_mask_api().encode(np.asfortranarray(mask, dtype=np.uint8)))


def polygon_to_rle(polygon: Polygon, height: int, width: int) -> Rle:
    """A polygon's raster as a compressed Rle, without decoding a mask (traced outlines: the mask itself)."""
    return as_rle(polygon_rle(polygon, height, width))


def resize_nearest(rle: Rle, height: int, width: int) -> Rle:
    """An RLE resized to ``height, width`` by nearest-neighbour sampling of its pixels (OpenCV): lossy at
    strong downscaling, which is why resampling traces the outline and rasterises it again by default."""
    import cv2

    mask = _mask_api().decode(rle_to_pycoco(rle))
    resized = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    return encode(resized.astype(np.uint8))


# ---------------------------------------------------------------------------------------------
# Areas and bounds, as COCO counts them


def rle_areas(rles: Sequence[PycocoRle]) -> list[int]:
    """The pixel count of each RLE, in batches (see ``_PYCOCO_BATCH``)."""
    api = _mask_api()
    out: list[int] = []
    for start in range(0, len(rles), _PYCOCO_BATCH):
        out.extend(int(a) for a in api.area(list(rles[start : start + _PYCOCO_BATCH])))
    return out


def polygon_area(polygon: Polygon, height: int, width: int) -> int:
    """Pixel area of a polygon as pycocotools rasterises it (holes cut out)."""
    if len(polygon.rings) == 1:
        return rle_areas(polygon_rles(polygon.rings, height, width))[0]
    return rle_areas([polygon_rle(polygon, height, width)])[0]


def single_ring_areas(rings: Sequence[Points], height: int, width: int) -> list[int]:
    """Areas of many one-ring polygons of one image in a few C calls (the YOLO -> COCO hot path)."""
    return rle_areas(polygon_rles(rings, height, width))


def outline_areas(polygons: Sequence[Polygon]) -> list[int]:
    """COCO's ``area`` of traced outlines (``Polygon.pixel_exact``), counted without a raster: the pixels they
    outline are the area inside their rings, and the tracer winds holes against their outer ring, so the
    shoelace sum of a polygon's rings is its pixel count, pycocotools' area of it exactly. One numpy pass for
    all the polygons of an image, at a fifth of pycocotools' cost."""
    rings = [ring for polygon in polygons for ring in polygon.rings]
    if not rings:
        return []
    lengths = np.fromiter((len(r) for r in rings), dtype=np.intp, count=len(rings))
    points = np.concatenate(rings)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    following = np.empty_like(points)
    following[:-1] = points[1:]
    following[ends - 1] = points[starts]
    cross = points[:, 0] * following[:, 1] - points[:, 1] * following[:, 0]
    per_ring = np.add.reduceat(cross, starts)
    sizes = np.fromiter((len(p.rings) for p in polygons), dtype=np.intp, count=len(polygons))
    twice = np.add.reduceat(per_ring, np.cumsum(sizes) - sizes)
    return (np.abs(twice) // 2).astype(np.int64).tolist()  # type: ignore[no-any-return]


def rle_area(rle: Rle) -> int:
    """The pixel count of one RLE, as pycocotools counts it (COCO's ``area`` for a mask)."""
    return rle_areas([rle_to_pycoco(rle)])[0]


def areas(geometries: Sequence[Geometry], height: int, width: int) -> list[float]:
    """COCO's ``area`` of each geometry of one image: the raster's pixel count for polygons and RLEs, ``w * h``
    for a box. One-ring polygons and RLEs go to pycocotools in one batch each, which is most of the time a
    ``cytoconv stats`` run spends outside the reader."""
    out = [0.0] * len(geometries)
    simple: list[int] = []
    rings: list[Points] = []
    masks: list[int] = []
    rles: list[PycocoRle] = []
    for i, g in enumerate(geometries):
        if isinstance(g, Polygon):
            if len(g.rings) == 1:
                simple.append(i)
                rings.append(g.rings[0])
            else:
                out[i] = polygon_area(g, height, width)
        elif isinstance(g, Box):
            out[i] = g.w * g.h
        else:
            masks.append(i)
            rles.append(rle_to_pycoco(g))
    if simple:
        for i, area in zip(simple, single_ring_areas(rings, height, width)):
            out[i] = area
    if masks:
        for i, area in zip(masks, rle_areas(rles)):
            out[i] = area
    return out


def rle_bounds(rle: Rle) -> Box:
    """The box of an RLE's pixels (pycocotools' ``toBbox``)."""
    x, y, w, h = (float(v) for v in _mask_api().toBbox(rle_to_pycoco(rle)))
    return Box(x=x, y=y, w=w, h=h)


def bounds_of_rings(rings: Sequence[Points]) -> list[list[float]]:
    """``[x, y, w, h]`` of each ring's vertices (COCO's bbox of a polygon), in two numpy calls for all of
    them (one image's cells at once)."""
    if not rings:
        return []
    pts = np.concatenate(rings)
    starts = np.cumsum([0] + [len(r) for r in rings[:-1]])
    lo = np.minimum.reduceat(pts, starts, axis=0)
    hi = np.maximum.reduceat(pts, starts, axis=0)
    return np.concatenate([lo, hi - lo], axis=1).tolist()  # type: ignore[no-any-return]


def segmentation_measure(segmentation: Any, height: int, width: int) -> tuple[float, list[float]]:
    """The pixel area and ``[x, y, w, h]`` bounds of a COCO ``segmentation`` as found in a file (polygon lists,
    an uncompressed or a compressed RLE), not yet checked: what ``cytoconv validate`` compares the file's
    ``area`` and ``bbox`` with. pycocotools' errors (``ValueError``, ``TypeError``, ``UnicodeEncodeError``)
    pass through: they mean that the segmentation cannot be decoded."""
    api = _mask_api()
    if isinstance(segmentation, list):
        rle = api.merge(api.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation["counts"], list):
        rle = api.frPyObjects(segmentation, height, width)
    else:
        rle = {"size": segmentation["size"], "counts": segmentation["counts"].encode("ascii")}
    return float(api.area(rle)), [float(v) for v in api.toBbox(rle)]
