"""COCO reading (polygons, RLE both ways, box-only, odd ids) and the format registry's contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_api

import cytoconv
from cytoconv.errors import FormatError, Report
from cytoconv.formats import FORMATS, detect
from cytoconv.geometry.raster import rasterise as to_mask
from cytoconv.ir import Box, Polygon, Rle
from tests.conftest import BALF_SAMPLE, output_suffix, write


def _coco(tmp_path: Path, annotations: list[dict], categories: list[dict] | None = None) -> Path:
    doc = {
        "images": [{"id": 0, "file_name": "a.jpg", "width": 20, "height": 10}],
        "annotations": annotations,
        "categories": categories or [{"id": 0, "name": "parent"}, {"id": 5, "name": "cell"}],
    }
    return write(tmp_path / "in.json", json.dumps(doc))


def _mask() -> np.ndarray:
    m = np.zeros((10, 20), dtype=np.uint8)
    m[2:8, 3:9] = 1
    m[4:6, 5:7] = 0  # a hole
    return m


def test_rle_compressed_and_uncompressed_read(tmp_path: Path) -> None:
    m = _mask()
    compressed = mask_api.encode(np.asfortranarray(m))
    counts_list = [2 * 10 + 3 * 10 + 2, 6]  # not needed to be exact: use pycocotools' own uncompressed form
    del counts_list
    runs, prev, n = [], 0, 0
    for v in m.flatten(order="F"):
        if v != prev:
            runs.append(n)
            n, prev = 0, v
        n += 1
    runs.append(n)
    src = _coco(
        tmp_path,
        [
            {
                "id": 0,
                "image_id": 0,
                "category_id": 5,
                "iscrowd": 0,
                "segmentation": {"size": [10, 20], "counts": compressed["counts"].decode()},
            },
            {
                "id": 1,
                "image_id": 0,
                "category_id": 5,
                "iscrowd": 0,
                "segmentation": {"size": [10, 20], "counts": runs},
            },
        ],
    )
    ds = cytoconv.read(src)
    assert [c.id for c in ds.categories] == [0, 5]
    geoms = [i.geometry for i in ds.images[0].instances]
    assert all(isinstance(g, Rle) for g in geoms)
    cytoconv.write(ds, tmp_path / "out.json", to="coco")
    out = json.loads((tmp_path / "out.json").read_text())
    assert [a["area"] for a in out["annotations"]] == [int(m.sum())] * 2 == [32, 32]
    assert [a["iscrowd"] for a in out["annotations"]] == [0, 0]
    assert [a["id"] for a in out["annotations"]] == [1, 2] and out["images"][0]["id"] == 1
    assert out["annotations"][0]["bbox"] == [3.0, 2.0, 6.0, 6.0]
    assert [c["id"] for c in out["categories"]] == [0, 5]  # COCO -> COCO keeps category ids


def test_box_only_and_multi_part_polygons(tmp_path: Path) -> None:
    src = _coco(
        tmp_path,
        [
            {
                "id": 0,
                "image_id": 0,
                "category_id": 5,
                "bbox": [1, 1, 2.5, 3],
                "segmentation": [],
                "area": 7.5,
            },
            {
                "id": 1,
                "image_id": 0,
                "category_id": 5,
                "bbox": [0, 0, 9, 9],
                "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4], [10, 5, 14, 5, 14, 9]],
            },
        ],
    )
    ds = cytoconv.read(src)
    box, poly = (i.geometry for i in ds.images[0].instances)
    assert isinstance(box, Box) and (box.x, box.y, box.w, box.h) == (1.0, 1.0, 2.5, 3.0)
    assert isinstance(poly, Polygon) and len(poly.rings) == 2
    report = Report()
    cytoconv.write(ds, tmp_path / "y", to="yolo", report=report)
    lines = (tmp_path / "y" / "labels" / "a.txt").read_text().splitlines()
    assert lines[0] == "1 0.1125 0.25 0.125 0.3"  # auto: a box stays a box line
    assert len(lines) == 3 and report.notices["parts-split"] == 1
    assert '0: "parent"' in (tmp_path / "y" / "data.yaml").read_text()
    cytoconv.write(ds, tmp_path / "s", to="yolo-seg")
    corners = (tmp_path / "s" / "labels" / "a.txt").read_text().splitlines()[0]
    assert corners == "1 0.05 0.1 0.175 0.1 0.175 0.4 0.05 0.4"  # segment: the box as a 4-corner polygon
    with pytest.raises(FormatError, match="in 2 parts"):
        cytoconv.write(ds, tmp_path / "z", to="yolo", options=cytoconv.api.WriteOptions(parts="error"))
    assert not (tmp_path / "z").exists()


def test_rle_to_yolo_traced_exactly_and_detect_gives_its_box(tmp_path: Path) -> None:
    m = _mask()
    rle = mask_api.encode(np.asfortranarray(m))
    src = _coco(
        tmp_path,
        [
            {
                "id": 3,
                "image_id": 0,
                "category_id": 5,
                "segmentation": {"size": [10, 20], "counts": rle["counts"].decode()},
            }
        ],
    )
    report = Report()
    cytoconv.convert(src, tmp_path / "y", to="yolo-seg", jobs=1, report=report)
    assert report.notices["holes-bridged"] == 1
    back = cytoconv.read(tmp_path / "y", options=cytoconv.api.ReadOptions(image_size=(20, 10)))
    (inst,) = back.images[0].instances
    assert np.array_equal(to_mask(inst.geometry, 10, 20), m)  # type: ignore[arg-type]
    cytoconv.convert(src, tmp_path / "d", to="yolo-det", jobs=1)
    assert (tmp_path / "d" / "labels" / "a.txt").read_text() == "1 0.3 0.5 0.3 0.6\n"


@pytest.mark.parametrize(
    ("ann", "code"),
    [
        ({"id": 1, "image_id": 0, "category_id": 9, "segmentation": [[0, 0, 1, 0, 1, 1]]}, "unknown-class"),
        (
            {"id": 1, "image_id": 7, "category_id": 5, "segmentation": [[0, 0, 1, 0, 1, 1]]},
            "unknown-image-id",
        ),
        ({"id": 1, "image_id": 0, "category_id": 5, "segmentation": [[0, 0, 1, 0, 1]]}, "odd-coordinates"),
        ({"id": 1, "image_id": 0, "category_id": 5, "segmentation": [[0, 0, 1, 0]]}, "two-point-polygon"),
        (
            {"id": 1, "image_id": 0, "category_id": 5, "segmentation": [[0, 0, "x", 0, 1, 1]]},
            "malformed-line",
        ),
        ({"id": 1, "image_id": 0, "category_id": 5, "segmentation": []}, "bad-structure"),
        (
            {"id": 1, "image_id": 0, "category_id": 5, "segmentation": {"size": [5, 5], "counts": "ab"}},
            "bad-structure",
        ),
    ],
)
def test_bad_annotations_are_named(tmp_path: Path, ann: dict, code: str) -> None:
    src = _coco(tmp_path, [ann])
    with pytest.raises(FormatError) as info:
        cytoconv.read(src)
    assert info.value.code == code and info.value.path == str(src)
    report = Report(strict=False)
    ds = cytoconv.read(src, report=report)
    assert report.skipped[code] == 1 and not ds.images[0].instances


CLASSIFICATION_ONLY = {"folders", "manifest"}  # image-level labels: their own round-trip tests
POINTS_ONLY = {"points-txt", "points-csv"}  # cell centres only: their contract is the points one below
OBJECT_FORMATS = sorted(set(FORMATS) - CLASSIFICATION_ONLY - POINTS_ONLY)
POINT_FORMATS = sorted(name for name, info in FORMATS.items() if info.holds_points)


def _output(tmp_path: Path, name: str) -> Path:
    return tmp_path / (name + output_suffix(name))


@pytest.mark.parametrize("name", POINT_FORMATS)
def test_points_contract_detect_and_write_read_back(tmp_path: Path, name: str) -> None:
    """Every format that holds points: detect accepts its own output of the Chula sample and no other format
    claims it; write then read gives back every point at exactly the same coordinates and class."""
    from tests.conftest import real

    ds = cytoconv.read(real("chula_rbc12_points"))
    outputs = {}
    for other in POINT_FORMATS:
        outputs[other] = _output(tmp_path, other)
        cytoconv.write(ds, outputs[other], to=other)
    assert detect(outputs[name]).name == name
    options = cytoconv.api.ReadOptions(images=real("chula_rbc12_points") / "Dataset")
    back = cytoconv.read(outputs[name], fmt=name, options=options)
    names, back_names = (
        ds.category_names(),
        back.category_names(),
    )  # classes compared by name: a CSV has no ids
    want = {
        im.file_name.rsplit(".", 1)[0]: [
            (names[i.category_id], i.geometry.x, i.geometry.y)  # type: ignore[union-attr]
            for i in im.instances
        ]
        for im in ds.images
    }
    got = {
        im.file_name.rsplit("/", 1)[-1].rsplit(".", 1)[0]: [
            (back_names[i.category_id], i.geometry.x, i.geometry.y)  # type: ignore[union-attr]
            for i in im.instances
        ]
        for im in back.images
    }
    have_points = {stem: pts for stem, pts in want.items() if pts}
    assert {stem: pts for stem, pts in got.items() if pts} == have_points
    assert sum(map(len, have_points.values())) == 1730


@pytest.mark.parametrize("name", OBJECT_FORMATS)
def test_contract_detect_and_write_read_back(tmp_path: Path, name: str) -> None:
    """Every registered format: detect accepts its own output and rejects the others; write then read
    gives back the same objects, compared by coordinates (vector formats) or by raster (mask formats)."""
    ds = cytoconv.read(BALF_SAMPLE)
    outputs = {}
    for other in OBJECT_FORMATS:
        outputs[other] = _output(tmp_path, other)
        cytoconv.write(ds, outputs[other], to=other)
    assert detect(outputs[name]).name == name
    options = cytoconv.api.ReadOptions(image_size=(853, 640), images=BALF_SAMPLE / "images")
    back = cytoconv.read(outputs[name], fmt=name, options=options)
    assert len(back.images) == len(ds.images)
    by_name = {im.file_name.rsplit("/", 1)[-1].rsplit(".", 1)[0]: im for im in back.images}
    raster = "masks" in name or name == "cellpose"  # label images: compared by raster
    for im in ds.images:
        got = by_name[im.file_name.rsplit(".", 1)[0]]
        if name == "masks":  # a semantic mask keeps classes, not objects; higher class ids paint on top
            painted = np.zeros((640, 853), np.uint8)
            for i in sorted(im.instances, key=lambda i: i.category_id):
                painted[to_mask(i.geometry, 640, 853).astype(bool)] = i.category_id  # type: ignore[arg-type]
            have = np.zeros((640, 853), np.uint8)
            for i in got.instances:
                have[to_mask(i.geometry, 640, 853).astype(bool)] = i.category_id  # type: ignore[arg-type]
            assert np.array_equal(have, painted)
            continue
        assert len(got.instances) == len(im.instances)
        if not raster:
            assert [i.category_id for i in got.instances] == [i.category_id for i in im.instances]
        wanted = [to_mask(a.geometry, 640, 853).astype(bool) for a in im.instances] if raster else []  # type: ignore[arg-type]
        for k, (a, b) in enumerate(zip(im.instances, got.instances)):
            if raster:
                want = wanted[k].copy()
                if name in (
                    "instance-masks",
                    "cellpose",
                ):  # one id per pixel: a later, overlapping cell takes the pixel
                    for later in wanted[k + 1 :]:
                        want &= ~later
                assert np.array_equal(to_mask(b.geometry, 640, 853).astype(bool), want)  # type: ignore[arg-type]
            elif isinstance(b.geometry, Box):  # box formats (VOC: integer pixels, rounded outwards)
                bounds = a.geometry.bounds()  # type: ignore[union-attr]
                box = b.geometry
                tol = 1e-2  # the VOC writer snaps coordinates within a hair of an integer
                assert box.x - tol <= bounds.x < box.x + 1 and box.y - tol <= bounds.y < box.y + 1
                assert box.x + box.w - 1 < bounds.x + bounds.w <= box.x + box.w + tol
                assert box.y + box.h - 1 < bounds.y + bounds.h <= box.y + box.h + tol
            else:
                np.testing.assert_allclose(a.geometry.rings[0], b.geometry.rings[0], atol=1e-3)  # type: ignore[union-attr]


def test_splits_that_one_coco_file_cannot_hold_are_counted(tmp_path: Path) -> None:
    """BCCD's ImageSets/Main splits have no place in one COCO file: each image's is counted, none silently
    lost; ``split --to coco`` writes a file per split, and drops nothing."""
    from tests.conftest import real

    report = Report()
    cytoconv.convert(real("bccd_voc") / "BCCD", tmp_path / "b.json", to="coco", report=report, jobs=1)
    assert report.notices["split-not-kept"] == 56
    per_split = Report()
    cytoconv.api.split(
        real("bccd_voc") / "BCCD", tmp_path / "s", (0.8, 0.2), seed=3, to="coco", report=per_split
    )
    assert "split-not-kept" not in per_split.notices


def test_traced_outlines_outside_their_image_are_counted_by_pycocotools(tmp_path: Path) -> None:
    """A traced outline's area is its pixel count only while it lies in the image; a record too small for it
    (pycocotools counts the pixels inside) goes through the raster like any other polygon."""
    import orjson

    from cytoconv.engine.contract import WriteOptions
    from cytoconv.formats.coco.writer import CocoWriter
    from cytoconv.geometry.outline import split_parts, trace
    from cytoconv.ir import Category, ImageRecord, Instance

    mask = np.zeros((12, 12), np.uint8)
    mask[2:10, 2:10] = 1
    mask[4:6, 4:6] = 0  # a hole: bridged by the fast path
    parts = split_parts(trace(mask))  # type: ignore[arg-type]
    writer = CocoWriter(tmp_path / "c.json", [Category(id=1, name="cell")], None, WriteOptions(), Report())
    areas = []
    for size in (12, 7):  # the image of the mask, then one that cuts the object
        record = ImageRecord(
            file_name="a.png",
            width=size,
            height=size,
            instances=[Instance(category_id=1, geometry=p) for p in parts],
        )
        _, template, count, _ = writer.encode(record, 0, Report())
        (ann,) = orjson.loads(b"[" + (template % tuple(range(count)))[1:] + b"]")
        rle = mask_api.merge(mask_api.frPyObjects(ann["segmentation"], size, size))
        assert ann["area"] == int(mask_api.area(rle))
        areas.append(ann["area"])
    assert areas == [60, 21]
