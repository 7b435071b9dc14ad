"""Crop: one image per object, in its class folder, sizes as asked, a manifest that points back to the box."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cytoconv
from cytoconv.api import crop
from cytoconv.errors import Report, UsageError
from cytoconv.geometry.raster import polygon_area
from cytoconv.ir import Box, Category, Dataset, ImageRecord, Instance, Polygon
from cytoconv.ops.crop import CropOptions, crop_region, object_box, parse_color, parse_padding
from tests.conftest import BALF_SAMPLE, real


def _manifest(folder: Path) -> list[dict[str, str]]:
    with open(folder / "crops.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_parse_padding_and_color() -> None:
    assert parse_padding("12") == (12.0, False)
    assert parse_padding("12px") == (12.0, False)
    assert parse_padding("0.1") == (0.1, True)
    assert parse_padding("25%") == (0.25, True)
    for bad in ("-1", "x", "1.5px"):
        with pytest.raises(UsageError):
            parse_padding(bad)
    assert parse_color("0,0,0") == "rgb(0,0,0)" and parse_color("128") == "rgb(128,128,128)"
    assert parse_color("#ff0000") == "#ff0000"
    with pytest.raises(UsageError):
        parse_color("nocolour")


def test_crop_region_padding_square_and_borders() -> None:
    box = Box(x=10.4, y=20, w=5.2, h=10)  # pixels 10..15 x 20..29
    assert crop_region(box, 100, 80, CropOptions()) == (10, 20, 16, 30)
    assert crop_region(box, 100, 80, CropOptions(padding=3)) == (7, 17, 19, 33)
    assert crop_region(box, 100, 80, CropOptions(padding=0.5, padding_is_fraction=True)) == (7, 15, 19, 35)
    assert crop_region(box, 100, 80, CropOptions(square=True)) == (8, 20, 18, 30)  # 6 wide grows to 10
    corner = Box(x=92, y=75, w=8, h=5)
    assert crop_region(corner, 100, 80, CropOptions(padding=4)) == (88, 71, 100, 80)  # clipped
    assert crop_region(corner, 100, 80, CropOptions(square=True)) == (92, 72, 100, 80)  # moved inside
    assert crop_region(Box(x=0, y=0, w=50, h=200), 100, 80, CropOptions(square=True)) == (0, 0, 100, 80)
    assert crop_region(Box(x=120, y=10, w=5, h=5), 100, 80, CropOptions()) is None


def test_balf_fixture_one_crop_per_instance_sized_as_asked(tmp_path: Path) -> None:
    summary, count = crop(
        BALF_SAMPLE,
        tmp_path / "crops",
        CropOptions(padding=0.1, padding_is_fraction=True, square=True, size=(64, 48)),
        jobs=1,
    )
    assert count == 108 == sum(summary.instances.values())
    rows = _manifest(tmp_path / "crops")
    assert len(rows) == 108
    dataset = cytoconv.read(BALF_SAMPLE)
    records = {r.file_name: r for r in dataset.images}
    names = dataset.category_names()
    for row in rows:
        path = tmp_path / "crops" / row["crop"]
        with Image.open(path) as im:
            assert im.size == (64, 48)
        inst = records[row["source"]].instances[int(row["instance"])]
        box = object_box(inst.geometry)
        assert [float(row[k]) for k in "xywh"] == pytest.approx([box.x, box.y, box.w, box.h], abs=1e-6)
        assert row["class"] == names[inst.category_id] == path.parent.name
        assert path.name == f"{row['source'].rsplit('.', 1)[0]}_{int(row['instance']):03d}.png"
        cx, cy, cw, ch = (int(row[k]) for k in ("crop_x", "crop_y", "crop_w", "crop_h"))
        assert cx <= box.x and cy <= box.y and cx + cw >= box.x + box.w and cy + ch >= box.y + box.h
    assert {p.name for p in (tmp_path / "crops").iterdir() if p.is_dir()} == set(names.values())


def test_crop_without_options_is_the_box_and_pixels_match_the_source(tmp_path: Path) -> None:
    crop(BALF_SAMPLE, tmp_path / "c", jobs=1)
    rows = _manifest(tmp_path / "c")
    row = rows[5]
    with (
        Image.open(BALF_SAMPLE / "images" / row["source"]) as source,
        Image.open(tmp_path / "c" / row["crop"]) as im,
    ):
        region = tuple(int(row[k]) for k in ("crop_x", "crop_y"))
        size = (int(row["crop_w"]), int(row["crop_h"]))
        assert im.size == size
        expected = source.convert("RGB").crop((*region, region[0] + size[0], region[1] + size[1]))
        assert np.array_equal(np.asarray(im), np.asarray(expected))


def test_mask_background_paints_exactly_the_pixels_outside_the_outline(tmp_path: Path) -> None:
    image = tmp_path / "img" / "a.png"
    image.parent.mkdir()
    Image.new("RGB", (40, 30), (200, 100, 50)).save(image)
    triangle = Polygon(rings=[np.array([[5.0, 5.0], [25.0, 5.0], [5.0, 25.0]])])
    ds = Dataset(
        categories=[Category(id=1, name="cell")],
        image_root=str(image.parent),
        images=[
            ImageRecord(
                file_name="a.png", width=40, height=30, instances=[Instance(category_id=1, geometry=triangle)]
            )
        ],
    )
    cytoconv.write(ds, tmp_path / "coco.json", to="coco")
    _, count = crop(
        tmp_path / "coco.json",
        tmp_path / "c",
        CropOptions(padding=2, mask_background="rgb(0,0,255)"),
        read_options=cytoconv.engine.contract.ReadOptions(images=image.parent),
        jobs=1,
    )
    assert count == 1
    pixels = np.asarray(Image.open(tmp_path / "c" / "cell" / "a_000.png"))
    assert pixels.shape == (24, 24, 3)
    kept = (pixels == (200, 100, 50)).all(axis=2)
    painted = (pixels == (0, 0, 255)).all(axis=2)
    assert (kept | painted).all()
    assert kept.sum() == polygon_area(triangle, 30, 40)  # pycocotools' raster, pixel for pixel
    assert painted[0].all() and not kept[:2].any()  # the padding rows are outside


def test_bccd_crops_are_the_voc_boxes(tmp_path: Path) -> None:
    bccd = real("bccd_voc") / "BCCD"
    report = Report()  # strict: the two xmin == xmax boxes are 1x1 px boxes (inclusive corners), cropped too
    _, count = crop(bccd, tmp_path / "c", report=report, jobs=1)
    assert count == 1051 and report.skipped == {}
    rows = _manifest(tmp_path / "c")
    assert sorted((r["source"], r["w"], r["h"]) for r in rows if r["w"] == "1") == [
        ("BloodImage_00338.jpg", "1", "1"),
        ("BloodImage_00343.jpg", "1", "1"),
    ]
    assert {r["class"] for r in rows} == {"RBC", "WBC", "Platelets"}
    import xml.etree.ElementTree as ET

    for row in rows[:60]:
        stem = row["source"].rsplit(".", 1)[0]
        obj = ET.parse(bccd / "Annotations" / f"{stem}.xml").getroot().findall("object")[int(row["instance"])]
        xmin, ymin, xmax, ymax = (
            int(obj.find("bndbox").findtext(k))  # type: ignore[union-attr]
            for k in ("xmin", "ymin", "xmax", "ymax")
        )
        assert (row["x"], row["y"], row["w"], row["h"]) == tuple(
            str(v) for v in (xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1)
        )
        with Image.open(tmp_path / "c" / row["crop"]) as im:
            assert im.size == (xmax - xmin + 1, ymax - ymin + 1)


def test_two_sources_with_one_stem_do_not_collide(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / "img" / folder).mkdir(parents=True)
        Image.new("RGB", (10, 10)).save(tmp_path / "img" / folder / "x.png")
    records = [
        ImageRecord(
            file_name=f"{d}/x.png",
            width=10,
            height=10,
            instances=[Instance(category_id=1, geometry=Box(x=1, y=1, w=3, h=3))],
        )
        for d in "ab"
    ]
    ds = Dataset(categories=[Category(id=1, name="a/b")], images=records, image_root=str(tmp_path / "img"))
    cytoconv.write(ds, tmp_path / "c.json", to="coco")
    report = Report()
    crop(
        tmp_path / "c.json",
        tmp_path / "out",
        report=report,
        read_options=cytoconv.engine.contract.ReadOptions(images=tmp_path / "img"),
        jobs=1,
    )
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.png")) == [
        "a_b/a__x_000.png",
        "a_b/b__x_000.png",
    ]
    assert report.notices["name-sanitised"] == 1


def test_cli_crop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cytoconv.cli.entry import main

    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "crop",
                str(BALF_SAMPLE),
                str(tmp_path / "c"),
                "--padding",
                "10%",
                "--square",
                "--size",
                "32x32",
                "--mask-background",
                "black",
                "--ext",
                "jpg",
                "-j",
                "2",
            ]
        )
    assert exit_.value.code == 0
    assert "108 crops" in capsys.readouterr().err
    crops = sorted((tmp_path / "c").rglob("*.jpg"))
    assert len(crops) == 108 and all(Image.open(p).size == (32, 32) for p in crops)
    with pytest.raises(SystemExit) as exit_:
        main(["crop", str(BALF_SAMPLE), str(tmp_path / "d"), "--size", "32"])
    assert exit_.value.code == 2
