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
from cytoconv.ir import Box, Polygon, Rle
from tests.conftest import BALF_SAMPLE, write


def _coco(tmp_path: Path, annotations: list[dict], categories: list[dict] | None = None) -> Path:
    doc = {"images": [{"id": 0, "file_name": "a.jpg", "width": 20, "height": 10}],
           "annotations": annotations,
           "categories": categories or [{"id": 0, "name": "parent"}, {"id": 5, "name": "cell"}]}
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
    src = _coco(tmp_path, [
        {"id": 0, "image_id": 0, "category_id": 5, "iscrowd": 0,
         "segmentation": {"size": [10, 20], "counts": compressed["counts"].decode()}},
        {"id": 1, "image_id": 0, "category_id": 5, "iscrowd": 0, "segmentation": {"size": [10, 20], "counts": runs}},
    ])
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
    src = _coco(tmp_path, [
        {"id": 0, "image_id": 0, "category_id": 5, "bbox": [1, 1, 2.5, 3], "segmentation": [], "area": 7.5},
        {"id": 1, "image_id": 0, "category_id": 5, "bbox": [0, 0, 9, 9],
         "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4], [10, 5, 14, 5, 14, 9]]},
    ])
    ds = cytoconv.read(src)
    box, poly = (i.geometry for i in ds.images[0].instances)
    assert isinstance(box, Box) and (box.x, box.y, box.w, box.h) == (1.0, 1.0, 2.5, 3.0)
    assert isinstance(poly, Polygon) and len(poly.rings) == 2
    report = Report()
    cytoconv.write(ds, tmp_path / "y", to="yolo", report=report)
    lines = (tmp_path / "y" / "labels" / "a.txt").read_text().splitlines()
    assert lines[0] == "1 0.1125 0.25 0.125 0.3"  # auto: a box stays a box line
    assert len(lines) == 3 and report.notices["parts-split"] == 1
    assert "0: \"parent\"" in (tmp_path / "y" / "data.yaml").read_text()
    cytoconv.write(ds, tmp_path / "s", to="yolo-seg")
    corners = (tmp_path / "s" / "labels" / "a.txt").read_text().splitlines()[0]
    assert corners == "1 0.05 0.1 0.175 0.1 0.175 0.4 0.05 0.4"  # segment: the box as a 4-corner polygon
    with pytest.raises(FormatError, match="in 2 parts"):
        cytoconv.write(ds, tmp_path / "z", to="yolo",
                       options=cytoconv.api.WriteOptions(parts="error"))
    assert not (tmp_path / "z").exists()


def test_rle_to_yolo_polygon_refused_but_detect_works(tmp_path: Path) -> None:
    m = _mask()
    rle = mask_api.encode(np.asfortranarray(m))
    src = _coco(tmp_path, [{"id": 3, "image_id": 0, "category_id": 5,
                            "segmentation": {"size": [10, 20], "counts": rle["counts"].decode()}}])
    with pytest.raises(FormatError) as info:
        cytoconv.convert(src, tmp_path / "y", to="yolo-seg", jobs=1)
    assert info.value.code == "rle-to-polygon" and not (tmp_path / "y").exists()
    cytoconv.convert(src, tmp_path / "d", to="yolo-det", jobs=1)
    assert (tmp_path / "d" / "labels" / "a.txt").read_text() == "1 0.3 0.5 0.3 0.6\n"


@pytest.mark.parametrize(("ann", "code"), [
    ({"id": 1, "image_id": 0, "category_id": 9, "segmentation": [[0, 0, 1, 0, 1, 1]]}, "unknown-category"),
    ({"id": 1, "image_id": 7, "category_id": 5, "segmentation": [[0, 0, 1, 0, 1, 1]]}, "unknown-image"),
    ({"id": 1, "image_id": 0, "category_id": 5, "segmentation": [[0, 0, 1, 0, 1]]}, "odd-coordinates"),
    ({"id": 1, "image_id": 0, "category_id": 5, "segmentation": [[0, 0, 1, 0]]}, "too-few-points"),
    ({"id": 1, "image_id": 0, "category_id": 5, "segmentation": [[0, 0, "x", 0, 1, 1]]}, "bad-number"),
    ({"id": 1, "image_id": 0, "category_id": 5, "segmentation": []}, "bad-bbox"),
    ({"id": 1, "image_id": 0, "category_id": 5, "segmentation": {"size": [5, 5], "counts": "ab"}}, "bad-rle"),
])
def test_bad_annotations_are_named(tmp_path: Path, ann: dict, code: str) -> None:
    src = _coco(tmp_path, [ann])
    with pytest.raises(FormatError) as info:
        cytoconv.read(src)
    assert info.value.code == code and info.value.path == str(src)
    report = Report(strict=False)
    ds = cytoconv.read(src, report=report)
    assert report.skipped[code] == 1 and not ds.images[0].instances


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_contract_detect_and_write_read_back(tmp_path: Path, name: str) -> None:
    """Every registered format: detect accepts its own output and rejects the others; write then
    read gives back the same instances, compared by coordinates."""
    ds = cytoconv.read(BALF_SAMPLE)
    outputs = {}
    for other in FORMATS:
        dest = tmp_path / (other + (".json" if not FORMATS[other].output_is_dir else ""))
        cytoconv.write(ds, dest, to=other)
        outputs[other] = dest
    assert detect(outputs[name]).name == name
    back = cytoconv.read(outputs[name], fmt=name, options=cytoconv.api.ReadOptions(image_size=(853, 640)))
    assert len(back.images) == len(ds.images)
    by_name = {im.file_name.rsplit("/", 1)[-1].rsplit(".", 1)[0]: im for im in back.images}
    for im in ds.images:
        got = by_name[im.file_name.rsplit(".", 1)[0]]
        assert [i.category_id for i in got.instances] == [i.category_id for i in im.instances]
        for a, b in zip(im.instances, got.instances):
            np.testing.assert_allclose(a.geometry.rings[0], b.geometry.rings[0], atol=1e-3)  # type: ignore[union-attr]
