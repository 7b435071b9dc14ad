"""The one rasteriser (cytoconv.geometry.raster) against pycocotools' own ``COCO.annToMask``, pixel for pixel.

annToMask is what a trainer and COCOeval see, so every mask cytoconv writes, fills, crops or measures must be
it: polygons with holes (each part minus its holes, the parts united), objects of several parts, boxes (as
their four-corner polygon), compressed and uncompressed RLEs. Coordinates include half-pixel edges, where
pixel-centre rounding decides, and objects that leave the image.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from pycocotools import mask as mask_api
from pycocotools.coco import COCO

from cytoconv.geometry import raster
from cytoconv.geometry.outline import bridge_holes, split_parts, trace
from cytoconv.ir import Box, Points, Polygon, Rle

H, W = 37, 53


def ann_to_mask(segmentation: Any, height: int = H, width: int = W) -> npt.NDArray[np.bool_]:
    """pycocotools' reference: the segmentation as one annotation of a COCO dataset, through ``annToMask``."""
    coco = COCO()
    coco.dataset = {
        "images": [{"id": 1, "width": width, "height": height, "file_name": "x.png"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": segmentation,
                "area": 0,
                "bbox": [0, 0, 0, 0],
                "iscrowd": 0,
            }
        ],
        "categories": [{"id": 1, "name": "cell"}],
    }
    with contextlib.redirect_stdout(io.StringIO()):  # "creating index..."
        coco.createIndex()
    return coco.annToMask(coco.anns[1]).astype(bool)  # type: ignore[no-any-return]


def flat(ring: Points) -> list[float]:
    return [float(v) for v in ring.reshape(-1)]


def star(
    rng: np.random.Generator, cx: float, cy: float, radius: float, points: int = 16, least: float = 0.35
) -> Points:
    """A random star-shaped ring around ``cx, cy`` (each vertex between ``least * radius`` and ``radius`` from
    it); coordinates on a half-pixel grid half of the time, so that edges and vertices fall on pixel centres."""
    angles = (np.arange(points) + rng.uniform(-0.3, 0.3, points)) * (2 * np.pi / points)
    radii = rng.uniform(least, 1.0, points) * radius
    ring = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
    return np.round(ring * 2) / 2 if rng.random() < 0.5 else ring


def reference(polygon: Polygon) -> npt.NDArray[np.bool_]:
    """The model's meaning, built from annToMask alone: each outer ring minus the holes after it, united."""
    out = np.zeros((H, W), dtype=bool)
    part: npt.NDArray[np.bool_] | None = None
    for ring, hole in zip(polygon.rings, polygon.holes):
        if not hole:
            if part is not None:
                out |= part
            part = ann_to_mask([flat(ring)])
        else:
            assert part is not None
            part &= ~ann_to_mask([flat(ring)])
    assert part is not None
    return out | part


CASES = range(40)


@pytest.mark.parametrize("seed", CASES)
def test_polygons_with_holes_and_parts_are_ann_to_mask(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rings: list[Points] = []
    holes: list[bool] = []
    for _ in range(int(rng.integers(1, 4))):  # parts (which may overlap), each with up to two holes
        cx, cy, r = rng.uniform(-5, W + 5), rng.uniform(-5, H + 5), rng.uniform(5, 16)
        rings.append(star(rng, cx, cy, r, least=0.75))
        holes.append(False)
        turn = rng.uniform(0, 2 * np.pi)
        for k in range(int(rng.integers(0, 3))):  # valid holes: inside their outline, apart from each other
            angle = turn + k * np.pi
            rings.append(
                star(rng, cx + 0.35 * r * np.cos(angle), cy + 0.35 * r * np.sin(angle), 0.25 * r, points=7)
            )
            holes.append(True)
    polygon = Polygon(rings=rings, holes=holes)
    want = reference(polygon)
    assert np.array_equal(raster.rasterise(polygon, H, W), want)
    assert raster.polygon_area(polygon, H, W) == int(want.sum())
    assert raster.areas([polygon], H, W) == [float(want.sum())]
    # What the COCO writer writes for it (holes bridged into their outline) is the same pixels in pycocotools.
    assert np.array_equal(ann_to_mask([flat(r) for r in bridge_holes(polygon)]), want)


def test_a_multi_part_coco_segmentation_is_the_union_of_its_parts() -> None:
    rng = np.random.default_rng(7)
    parts = [star(rng, 12, 12, 9), star(rng, 38, 20, 11), star(rng, 20, 30, 6)]
    polygon = Polygon(rings=parts)
    assert np.array_equal(raster.rasterise(polygon, H, W), ann_to_mask([flat(r) for r in parts]))


BOXES = [
    (0, 0, 10, 10),
    (3.5, 2.5, 7, 4.5),
    (10.25, 7.75, 12.5, 0.5),
    (-4.5, -3, 10, 8.5),
    (45.5, 30.5, 20, 20),
    (0.5, 0.5, 0, 5),
    (12.49, 3.51, 6.02, 9.98),
    (-20, 5, 5, 5),
    (5, -9, 20, 8),
    (0, 0, W, H),
]


@pytest.mark.parametrize("box", BOXES)
def test_boxes_are_the_ann_to_mask_of_their_corner_polygon(box: tuple[float, float, float, float]) -> None:
    x, y, w, h = box
    geometry = Box(x=x, y=y, w=w, h=h)
    want = ann_to_mask([[x, y, x + w, y, x + w, y + h, x, y + h]])
    assert np.array_equal(raster.rasterise(geometry, H, W), want)
    assert np.array_equal(raster.union([geometry], H, W), want)


def random_mask(seed: int) -> npt.NDArray[np.uint8]:
    rng = np.random.default_rng(seed)
    m = np.zeros((H, W), dtype=np.uint8)
    for _ in range(6):
        x, y = int(rng.integers(0, W - 8)), int(rng.integers(0, H - 8))
        m[y : y + int(rng.integers(2, 12)), x : x + int(rng.integers(2, 14))] ^= 1
    return m


@pytest.mark.parametrize("seed", range(10))
def test_rles_compressed_and_uncompressed_are_ann_to_mask(seed: int) -> None:
    m = random_mask(seed)
    compressed = mask_api.encode(np.asfortranarray(m))
    counts = compressed["counts"].decode("ascii")
    want = ann_to_mask({"size": [H, W], "counts": counts})
    assert np.array_equal(want, m.astype(bool))
    assert np.array_equal(raster.rasterise(Rle(height=H, width=W, counts=counts), H, W), want)
    # uncompressed: column-major run lengths starting with a run of 0s
    column = m.reshape(-1, order="F")
    change = np.flatnonzero(np.diff(column)) + 1
    runs = np.diff(np.concatenate([[0], change, [column.size]])).tolist()
    runs = ([0] if column[0] else []) + runs
    uncompressed = Rle(height=H, width=W, counts=runs)
    assert np.array_equal(raster.rasterise(uncompressed, H, W), ann_to_mask({"size": [H, W], "counts": runs}))
    assert raster.encode(m).counts == counts
    assert raster.rle_area(uncompressed) == int(m.sum())
    b = raster.rle_bounds(uncompressed)
    assert [b.x, b.y, b.w, b.h] == [float(v) for v in mask_api.toBbox(compressed)]


def test_union_of_mixed_geometries_is_the_or_of_their_ann_to_masks() -> None:
    rng = np.random.default_rng(3)
    m = random_mask(3)
    counts = mask_api.encode(np.asfortranarray(m))["counts"].decode("ascii")
    polygon = Polygon(rings=[star(rng, 20, 18, 12), star(rng, 20, 18, 3, points=6)], holes=[False, True])
    box = Box(x=30.5, y=4.5, w=11, h=9.5)
    geometries = [polygon, box, Rle(height=H, width=W, counts=counts)]
    want = reference(polygon) | ann_to_mask([flat(raster.box_ring(box))]) | m.astype(bool)
    assert np.array_equal(raster.union(geometries, H, W), want)
    assert not raster.union([], H, W).any()


@pytest.mark.parametrize("seed", range(12))
def test_a_window_is_the_cut_of_the_whole_raster(seed: int) -> None:
    """Crops rasterise only their window: the same pixels as cutting the whole image's raster."""
    rng = np.random.default_rng(100 + seed)
    polygon = Polygon(rings=[star(rng, 26, 18, 12), star(rng, 26, 18, 3, points=6)], holes=[False, True])
    box = Box(
        x=float(rng.uniform(2, 20)),
        y=float(rng.uniform(2, 12)),
        w=float(rng.uniform(3, 25)),
        h=float(rng.uniform(3, 20)),
    )
    counts = mask_api.encode(np.asfortranarray(random_mask(seed)))["counts"].decode("ascii")
    for g in (polygon, box, Rle(height=H, width=W, counts=counts)):
        bounds = g.bounds() if isinstance(g, Polygon) else g if isinstance(g, Box) else raster.rle_bounds(g)
        x0, y0 = max(0, int(bounds.x) - 2), max(0, int(bounds.y) - 2)
        x1, y1 = min(W, int(bounds.x + bounds.w) + 3), min(H, int(bounds.y + bounds.h) + 3)
        whole = raster.rasterise(g, H, W)
        assert np.array_equal(raster.rasterise_window(g, (x0, y0, x1, y1)), whole[y0:y1, x0:x1])


def test_traced_outlines_rasterise_back_to_their_mask() -> None:
    """Tracing and rasterising are inverse: the mask formats' promise, through the one rasteriser."""
    for seed in range(10):
        m = random_mask(seed)
        traced = trace(m)
        assert traced is not None
        assert np.array_equal(raster.rasterise(traced, H, W), m.astype(bool))
        assert raster.polygon_to_rle(traced, H, W).counts == raster.encode(m).counts


def test_outline_areas_are_pycocotools_areas_of_traced_parts() -> None:
    """A traced outline's area is counted off its rings (holes wound against their outer ring): the same
    number pycocotools gives, part by part and for a whole class with its pinches and islands."""
    rng = np.random.default_rng(5)
    for _ in range(500):
        h, w = (int(v) for v in rng.integers(1, 25, 2))
        m = (rng.random((h, w)) < rng.choice([0.3, 0.5, 0.7, 0.9])).astype(np.uint8)
        traced = trace(m)
        if traced is None:
            continue
        parts = split_parts(traced)
        assert traced.pixel_exact and all(p.pixel_exact for p in parts)
        assert raster.outline_areas([traced]) == [int(m.sum())]
        assert raster.outline_areas(parts) == [raster.polygon_area(p, h, w) for p in parts]


def test_only_the_tracer_marks_a_polygon_pixel_exact() -> None:
    """The mark that lets COCO's area skip the raster is never read from a file nor kept by a new polygon."""
    ring = [[0, 0], [0, 3], [3, 3], [3, 0]]
    assert not Polygon(rings=[ring]).pixel_exact
    assert not Polygon.trusted(kind="polygon", rings=[np.array(ring, float)], holes=[False]).pixel_exact
    traced = trace(np.ones((3, 3), np.uint8))
    assert traced is not None and traced.pixel_exact
    assert not Polygon.model_validate(traced.model_dump()).pixel_exact


def test_segmentation_measure_is_pycocotools_area_and_bbox() -> None:
    rng = np.random.default_rng(5)
    parts = [flat(star(rng, 15, 15, 8)), flat(star(rng, 35, 22, 9))]
    area, bounds = raster.segmentation_measure(parts, H, W)
    assert area == float(ann_to_mask(parts).sum())
    assert bounds == [float(v) for v in mask_api.toBbox(mask_api.merge(mask_api.frPyObjects(parts, H, W)))]
    counts = mask_api.encode(np.asfortranarray(random_mask(1)))["counts"].decode("ascii")
    assert raster.segmentation_measure({"size": [H, W], "counts": counts}, H, W)[0] == float(
        random_mask(1).sum()
    )
    with pytest.raises(UnicodeEncodeError):  # what validate reports as "cannot decode" (CC003)
        raster.segmentation_measure({"size": [H, W], "counts": "\u00e9"}, H, W)
