"""Overlap of two images' objects as pycocotools measures it: IoU matrices of masks and of boxes.

``cytoconv diff`` pairs the objects of two versions of an image by IoU. A polygon or an RLE is compared as its
pycocotools raster (the pixels COCO's ``area`` counts, ``raster.geometry_rle``), so that a polygon rewritten
with other vertices but the same pixels is the same object; two boxes are compared as boxes (their exact,
continuous IoU, so a box moved by a fraction of a pixel is seen); a box against a polygon or a mask is
compared as masks (the box rasterised as its four-corner polygon, as everywhere in cytoconv).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from cytoconv.geometry.raster import PycocoRle, _mask_api, box_rle, geometry_rle, polygon_rles
from cytoconv.ir import Box, Polygon, Rle

Matrix = npt.NDArray[np.float64]


def warm() -> None:
    """Import pycocotools now (before worker processes fork, so that each need not)."""
    _mask_api()


def object_rles(geometries: Sequence[Polygon | Rle], height: int, width: int) -> list[PycocoRle]:
    """Each polygon's or RLE's raster as a pycocotools RLE; one-ring polygons (most cells) in one batch."""
    out: list[PycocoRle | None] = [None] * len(geometries)
    simple: list[int] = []
    for i, g in enumerate(geometries):
        if isinstance(g, Polygon) and len(g.rings) == 1:
            simple.append(i)
        else:
            out[i] = geometry_rle(g, height, width)
    if simple:
        rings = [geometries[i].rings[0] for i in simple]  # type: ignore[union-attr]
        for i, rle in zip(simple, polygon_rles(rings, height, width)):
            out[i] = rle
    return out  # type: ignore[return-value]


def box_rles(boxes: Sequence[Sequence[float]], height: int, width: int) -> list[PycocoRle]:
    """``[x, y, w, h]`` boxes as the RLEs of their four-corner polygons (a box compared with a mask)."""
    return [box_rle(Box.trusted(kind="box", x=b[0], y=b[1], w=b[2], h=b[3]), height, width) for b in boxes]


def _as_matrix(value: object, rows: int, cols: int) -> Matrix:
    """pycocotools' ``iou`` gives ``[]`` when either side is empty; always a ``rows x cols`` float array."""
    if rows == 0 or cols == 0:
        return np.zeros((rows, cols), dtype=np.float64)
    return np.asarray(value, dtype=np.float64).reshape(rows, cols)


def rle_iou(a: Sequence[PycocoRle], b: Sequence[PycocoRle]) -> Matrix:
    """The ``len(a) x len(b)`` IoU of masks of one size (pycocotools ``mask.iou``, no crowd rule)."""
    if not a or not b:
        return _as_matrix(None, len(a), len(b))
    return _as_matrix(_mask_api().iou(list(a), list(b), [0] * len(b)), len(a), len(b))


def box_iou(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> Matrix:
    """The ``len(a) x len(b)`` IoU of ``[x, y, w, h]`` boxes, continuous (pycocotools ``mask.iou`` on boxes)."""
    if not a or not b:
        return _as_matrix(None, len(a), len(b))
    boxes_a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    boxes_b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    return _as_matrix(_mask_api().iou(boxes_a, boxes_b, [0] * len(b)), len(a), len(b))
