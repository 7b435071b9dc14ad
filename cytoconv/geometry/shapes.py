"""Geometry in one place: areas, boxes and rasters, all with the pycocotools raster (FORMATS.md).

COCO's ``area`` is the pixel count of the segmentation as pycocotools rasterises it, so that
``annToMask(ann).sum() == area`` and COCOeval bins objects as a trainer will see them. Everything
here works in the corner model, absolute pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cytoconv.ir import Box, Points, Polygon, Rle

# pycocotools' area() keeps its count in a uint8 (2.0.11): more than 255 masks in one call overflow.
_PYCOCO_BATCH = 255


def _mask_api() -> Any:
    from pycocotools import mask as mask_api  # heavy import: only when a raster is needed

    return mask_api


def polygon_rles(rings: Sequence[Points], height: int, width: int) -> list[dict[str, Any]]:
    """One pycocotools RLE per ring (flat x1,y1,... lists are what ``frPyObjects`` expects)."""
    flat = [np.ascontiguousarray(r, dtype=np.float64).reshape(-1) for r in rings]
    rles: list[dict[str, Any]] = []
    for start in range(0, len(flat), _PYCOCO_BATCH):
        rles.extend(_mask_api().frPyObjects(flat[start : start + _PYCOCO_BATCH], height, width))
    return rles


def rle_areas(rles: Sequence[dict[str, Any]]) -> list[int]:
    api = _mask_api()
    out: list[int] = []
    for start in range(0, len(rles), _PYCOCO_BATCH):
        out.extend(int(a) for a in api.area(list(rles[start : start + _PYCOCO_BATCH])))
    return out


def part_groups(polygon: Polygon) -> list[tuple[Points, list[Points]]]:
    """Each outer ring with the holes that follow it (a hole belongs to the nearest outer ring before it)."""
    groups: list[tuple[Points, list[Points]]] = []
    for ring, hole in zip(polygon.rings, polygon.holes):
        if hole:
            groups[-1][1].append(ring)
        else:
            groups.append((ring, []))
    return groups


def polygon_rle(polygon: Polygon, height: int, width: int) -> dict[str, Any]:
    """The polygon's raster as one RLE: each part minus its own holes, then the parts united.

    A part with holes is rasterised as one ring with its holes joined by zero-width cuts, which the
    even-odd raster draws exactly as "outer minus holes" without decoding any mask. Islands inside a
    hole are parts of their own, so they survive the cut."""
    from cytoconv.geometry.outline import bridge_holes

    api = _mask_api()
    rings = bridge_holes(polygon) if any(polygon.holes) else polygon.rings
    rles = polygon_rles(rings, height, width)
    return dict(rles[0]) if len(rles) == 1 else dict(api.merge(rles, intersect=False))


def polygon_area(polygon: Polygon, height: int, width: int) -> int:
    """Pixel area of a polygon as pycocotools rasterises it (holes cut out)."""
    if len(polygon.rings) == 1:
        return rle_areas(polygon_rles(polygon.rings, height, width))[0]
    return rle_areas([polygon_rle(polygon, height, width)])[0]


def single_ring_areas(rings: Sequence[Points], height: int, width: int) -> list[int]:
    """Areas of many one-ring polygons of one image in a few C calls (the YOLO -> COCO hot path)."""
    return rle_areas(polygon_rles(rings, height, width))


def rle_to_pycoco(rle: Rle) -> dict[str, Any]:
    """The pycocotools form of an Rle: compressed counts as bytes (uncompressed lists are encoded)."""
    if isinstance(rle.counts, str):
        return {"size": [rle.height, rle.width], "counts": rle.counts.encode("ascii")}
    return dict(_mask_api().frPyObjects({"size": [rle.height, rle.width], "counts": rle.counts},
                                        rle.height, rle.width))


def rle_area(rle: Rle) -> int:
    return rle_areas([rle_to_pycoco(rle)])[0]


def rle_bounds(rle: Rle) -> Box:
    x, y, w, h = (float(v) for v in _mask_api().toBbox(rle_to_pycoco(rle)))
    return Box(x=x, y=y, w=w, h=h)


def bounds_of_rings(rings: Sequence[Points]) -> list[list[float]]:
    """``[x, y, w, h]`` of each ring, in two numpy calls for all of them (one image's cells at once)."""
    if not rings:
        return []
    pts = np.concatenate(rings)
    starts = np.cumsum([0] + [len(r) for r in rings[:-1]])
    lo = np.minimum.reduceat(pts, starts, axis=0)
    hi = np.maximum.reduceat(pts, starts, axis=0)
    return np.concatenate([lo, hi - lo], axis=1).tolist()  # type: ignore[no-any-return]


def ring_bounds(ring: Points) -> tuple[float, float, float, float]:
    """``(x, y, w, h)`` of one ring, corner model."""
    x0, y0 = ring.min(axis=0)
    x1, y1 = ring.max(axis=0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def polygon_mask(polygon: Polygon, height: int, width: int) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """The pycocotools raster of a polygon (holes cut out) as a boolean ``(height, width)`` array."""
    return _mask_api().decode(polygon_rle(polygon, height, width)).astype(bool)  # type: ignore[no-any-return]


def rle_mask(rle: Rle) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """An Rle decoded to a boolean ``(height, width)`` array."""
    return _mask_api().decode(rle_to_pycoco(rle)).astype(bool)  # type: ignore[no-any-return]
