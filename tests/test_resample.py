"""Resampling: per-axis factors, exact round trips, masks re-rasterised from their outline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_api

import cytoconv
from cytoconv.api import ReadOptions, WriteOptions
from cytoconv.errors import FormatError, Report
from cytoconv.formats.masks.maskio import parse_class_map
from cytoconv.ir import Box, ImageRecord, Instance, Polygon, Rle
from cytoconv.ops.resample import Resample, TargetSize, sizes_from_folder
from tests.conftest import BALF_SAMPLE, make_image, real, write

BALF_ORIGINAL = (4912, 3684)
BALF_SMALL = (853, 640)


def _record(instances: list[Instance], size: tuple[int, int] = BALF_ORIGINAL) -> ImageRecord:
    return ImageRecord(file_name="a.jpg", width=size[0], height=size[1], instances=instances)


def _corners(w: float, h: float) -> Instance:
    return Instance(category_id=1, geometry=Polygon(rings=[[0, 0, w, 0, w, h, 0, h]]))


def test_corners_map_onto_corners_per_axis() -> None:
    record = _record([_corners(4912, 3684), Instance(category_id=1, geometry=Box(x=0, y=0, w=4912, h=3684))])
    out = Resample(TargetSize(size=BALF_SMALL))(record, Report())
    assert (out.width, out.height) == BALF_SMALL
    ring = out.instances[0].geometry.rings[0]  # type: ignore[union-attr]
    np.testing.assert_array_equal(ring, [[0, 0], [853, 0], [853, 640], [0, 640]])
    box = out.instances[1].geometry
    assert isinstance(box, Box) and (box.x, box.y, box.w, box.h) == (0, 0, 853, 640)
    inner = Resample(TargetSize(size=BALF_SMALL))(_record([_corners(100, 100)]), Report())
    x, y = inner.instances[0].geometry.rings[0][2]  # type: ignore[union-attr]
    assert x == pytest.approx(100 * 853 / 4912) and y == pytest.approx(100 * 640 / 3684)
    assert abs(x - y) > 0.006  # one factor for both axes would be wrong


def test_up_then_down_returns_the_original_to_1e_9() -> None:
    rng = np.random.default_rng(1)
    ring = rng.uniform(0, 853, (40, 2)) * [1, 640 / 853]
    record = _record([Instance(category_id=1, geometry=Polygon(rings=[ring]))], BALF_SMALL)
    up = Resample(TargetSize(size=BALF_ORIGINAL))(record, Report())
    down = Resample(TargetSize(size=BALF_SMALL))(up, Report())
    np.testing.assert_allclose(down.instances[0].geometry.rings[0], ring, atol=1e-9, rtol=0)  # type: ignore[union-attr]


def test_yolo_numbers_do_not_change_and_coco_numbers_scale(tmp_path: Path) -> None:
    cytoconv.api.resample(BALF_SAMPLE, tmp_path / "y", TargetSize(scale=2.0))
    for src in (BALF_SAMPLE / "labels").glob("*.txt"):
        assert (tmp_path / "y" / "labels" / src.name).read_text() == src.read_text().replace(
            "0.", "0."
        ) or np.allclose(
            np.fromstring(src.read_text(), sep=" "),
            np.fromstring((tmp_path / "y" / "labels" / src.name).read_text(), sep=" "),
            atol=5e-8,
        )
    cytoconv.convert(BALF_SAMPLE, tmp_path / "a.json", to="coco")
    cytoconv.api.resample(tmp_path / "a.json", tmp_path / "b.json", TargetSize(size=(4265, 1280)))
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert {(im["width"], im["height"]) for im in b["images"]} == {(4265, 1280)}
    for x, y in zip(a["annotations"], b["annotations"], strict=True):
        np.testing.assert_allclose(
            y["segmentation"][0][0::2], np.array(x["segmentation"][0][0::2]) * 5, rtol=1e-12
        )
        np.testing.assert_allclose(
            y["segmentation"][0][1::2], np.array(x["segmentation"][0][1::2]) * 2, rtol=1e-12
        )
        assert y["bbox"] == pytest.approx(
            [x["bbox"][0] * 5, x["bbox"][1] * 2, x["bbox"][2] * 5, x["bbox"][3] * 2]
        )


def test_wbc_rle_up_and_down_is_the_original_mask(tmp_path: Path) -> None:
    root = real("segmentation_wbc") / "Dataset 1"
    options = ReadOptions(mask_classes=parse_class_map("wbc"), mask_geometry="rle")
    ds = cytoconv.read(root, fmt="masks", options=options)
    step_up, step_down = Resample(TargetSize(scale=2.0)), Resample(TargetSize(scale=0.5))
    for record in ds.images:
        up = step_up(record, Report())
        down = step_down(up, Report())
        for a, b, big in zip(record.instances, down.instances, up.instances, strict=True):
            assert (
                isinstance(a.geometry, Rle) and isinstance(b.geometry, Rle) and isinstance(big.geometry, Rle)
            )
            ma, mb = (
                mask_api.decode({"size": [g.height, g.width], "counts": g.counts.encode()})  # type: ignore[union-attr]
                for g in (a.geometry, b.geometry)
            )
            assert np.array_equal(ma, mb)
            area_big = mask_api.area({"size": [up.height, up.width], "counts": big.geometry.counts.encode()})  # type: ignore[union-attr]
            assert area_big == 4 * int(ma.sum())


def test_sizes_from_maps_each_image_and_reports_orphans(tmp_path: Path) -> None:
    for stem, size in (("a", (4912, 3684)), ("b", (4000, 3000)), ("c", (4912, 3684))):
        make_image(tmp_path / "orig" / "images" / f"{stem}.jpg", *size)
    for stem in ("a", "b"):
        make_image(tmp_path / "small" / f"{stem}.jpg", 853, 640)
    write(tmp_path / "orig" / "labels" / "a.txt", "0 0.5 0.5 1 1\n")
    write(tmp_path / "orig" / "labels" / "b.txt", "0 0 0 1 0 1 1\n")
    write(tmp_path / "orig" / "labels" / "c.txt", "0 0.5 0.5 1 1\n")
    cytoconv.convert(tmp_path / "orig", tmp_path / "orig.json", to="coco")
    target = TargetSize(sizes_from=sizes_from_folder(tmp_path / "small"))
    with pytest.raises(FormatError) as info:
        cytoconv.api.resample(tmp_path / "orig.json", tmp_path / "small.json", target)
    assert info.value.code == "no-partner" and not (tmp_path / "small.json").exists()
    report = Report(strict=False)
    cytoconv.api.resample(tmp_path / "orig.json", tmp_path / "small.json", target, report=report)
    assert report.skipped["no-partner"] == 1
    data = json.loads((tmp_path / "small.json").read_text())
    assert [(im["file_name"], im["width"], im["height"]) for im in data["images"]] == [
        ("a.jpg", 853, 640),
        ("b.jpg", 853, 640),
    ]
    by_image = {a["image_id"]: a for a in data["annotations"]}
    assert by_image[1]["bbox"] == pytest.approx([0, 0, 853, 640])
    assert by_image[2]["segmentation"][0] == pytest.approx([0, 0, 853, 0, 853, 640])


def test_resize_images_and_clip(tmp_path: Path) -> None:
    report = Report()
    summary = cytoconv.api.resample(
        BALF_SAMPLE,
        tmp_path / "y",
        TargetSize(max_side=400),
        report=report,
        images_out=tmp_path / "y_images",
        clip=True,
    )
    assert summary.images == 20
    with Image.open(tmp_path / "y_images" / "balf_001.jpg") as im:
        assert im.size == (400, 300)
    assert report.notices["clipped"] == 0  # nothing in the sample leaves the image
    record = _record([_corners(900, 100)], BALF_SMALL)
    clipped = Resample(TargetSize(scale=1.0), clip=True)(record, report)
    ring = clipped.instances[0].geometry.rings[0]  # type: ignore[union-attr]
    assert ring[:, 0].max() == 853 and report.notices["clipped"] == 1
    gone = Resample(TargetSize(scale=1.0), clip=True)(
        _record([Instance(category_id=1, geometry=Box(x=900, y=0, w=10, h=10))], BALF_SMALL), report
    )
    assert not gone.instances and report.notices["vanished"] == 1


def test_existing_images_out_refused(tmp_path: Path) -> None:
    write(tmp_path / "imgs" / "keep.txt", "x")
    from cytoconv.errors import UsageError

    with pytest.raises(UsageError):
        cytoconv.api.resample(
            BALF_SAMPLE, tmp_path / "y", TargetSize(scale=0.5), images_out=tmp_path / "imgs"
        )
    assert not (tmp_path / "y").exists()


def test_write_options_pass_through(tmp_path: Path) -> None:
    cytoconv.api.resample(
        BALF_SAMPLE,
        tmp_path / "c.json",
        TargetSize(scale=0.5),
        to="coco",
        write_options=WriteOptions(segmentation="rle"),
    )
    data = json.loads((tmp_path / "c.json").read_text())
    assert all(isinstance(a["segmentation"], dict) for a in data["annotations"])
    assert data["images"][0]["width"] == 426
