"""Points (cell centres) in the operations: crop windows around them, rings drawn, counted in stats, mapped
per axis by resample, split like any object.

The images are synthetic: each pixel's colour encodes its own coordinates (``R = x % 256``, ``G = y % 256``,
``B = x // 256 + 16 * (y // 256)``), so that a crop's centre pixel says which source pixel it is.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import jsonschema
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from cytoconv import api
from cytoconv.engine.contract import ReadOptions, dataset_plan, load_record
from cytoconv.errors import FormatError, Report, UsageError
from cytoconv.ir import Box, Category, Dataset, ImageRecord, Instance, Point
from cytoconv.ops.crop import (
    MANIFEST_COLUMNS,
    POINT_COLUMNS,
    CropOptions,
    crop_objects,
    pad_window,
    point_window,
)
from cytoconv.ops.draw import DrawStyle, draw_images, point_ring
from cytoconv.ops.resample import Resample, TargetSize
from cytoconv.ops.split import split_dataset
from cytoconv.ops.stats import JSON_SCHEMA, to_csv, to_dict
from tests.conftest import real, run_cli

W, H = 640, 480
CATEGORIES = [Category(id=1, name="normal"), Category(id=2, name="target cell")]


def coded_image(width: int = W, height: int = H) -> npt.NDArray[np.uint8]:
    """An RGB image whose pixel (x, y) holds (x % 256, y % 256, x // 256 + 16 * (y // 256))."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs % 256, ys % 256, xs // 256 + 16 * (ys // 256)], axis=-1).astype(np.uint8)


def decode(pixel: npt.NDArray[np.uint8]) -> tuple[int, int]:
    """The source pixel (x, y) a coded pixel came from."""
    r, g, b = (int(v) for v in pixel)
    return r + 256 * (b % 16), g + 256 * (b // 16)


def point(i: int, j: int, category_id: int = 1) -> Instance:
    return Instance(category_id=category_id, geometry=Point.at_pixel(i, j))


def points_dataset(root: Path, images: dict[str, list[Instance]], size: tuple[int, int] = (W, H)) -> Dataset:
    """A dataset of coded PNG images under ``root`` (written) with the given objects."""
    root.mkdir(parents=True, exist_ok=True)
    pixels = coded_image(*size)
    records = []
    for name, instances in images.items():
        Image.fromarray(pixels).save(root / name)
        records.append(ImageRecord(file_name=name, width=size[0], height=size[1], instances=instances))
    return Dataset(categories=CATEGORIES, images=records, image_root=str(root))


def crop_dataset(
    ds: Dataset, dest: Path, options: CropOptions, report: Report | None = None
) -> tuple[int, Report]:
    report = report or Report()
    _, crops = crop_objects(dataset_plan(ds), load_record, dest, options, ReadOptions(), report, jobs=1)
    return crops, report


def manifest(folder: Path) -> list[dict[str, str]]:
    with open(folder / "crops.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def crop_pixels(path: Path) -> npt.NDArray[np.uint8]:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


# ---------------------------------------------------------------------------------------------
# crop


def test_point_window_is_numpy_slice_around_the_pixel() -> None:
    p = Point.at_pixel(300, 200)
    assert point_window(p, (100, 100)) == (250, 150, 350, 250)  # img[150:250, 250:350]
    assert point_window(p, (7, 5)) == (297, 198, 304, 203)  # odd: pixel (3, 2) of the window is the point
    assert point_window(Point(x=300.99, y=200.01), (100, 100)) == (250, 150, 350, 250)  # floor of x, y


def test_crop_centre_pixel_is_the_annotated_pixel(tmp_path: Path) -> None:
    spots = [(300, 200), (57, 61), (50, 50), (589, 429), (400, 300)]  # all 100x100 windows inside
    ds = points_dataset(
        tmp_path / "img", {"a.png": [point(i, j, 1 + k % 2) for k, (i, j) in enumerate(spots)]}
    )
    crops, report = crop_dataset(ds, tmp_path / "out", CropOptions(size=(100, 100)))
    assert crops == 5 and not report.notices
    source = coded_image()
    rows = manifest(tmp_path / "out")
    assert list(rows[0]) == list(MANIFEST_COLUMNS + POINT_COLUMNS)
    for k, ((i, j), row) in enumerate(zip(spots, rows)):
        pixels = crop_pixels(tmp_path / "out" / row["crop"])
        assert pixels.shape == (100, 100, 3)
        assert decode(pixels[50, 50]) == (i, j)  # the crop's centre pixel (W//2, H//2) is the point's
        assert np.array_equal(pixels, source[j - 50 : j + 50, i - 50 : i + 50])
        assert row["crop"] == f"{'normal' if k % 2 == 0 else 'target cell'}/a_{k:03d}.png"
        assert (row["point_x"], row["point_y"]) == (str(i), str(j))
        assert (row["x"], row["y"], row["w"], row["h"]) == (f"{i}.5", f"{j}.5", "0", "0")
        assert (row["crop_x"], row["crop_y"], row["crop_w"], row["crop_h"]) == (
            str(i - 50),
            str(j - 50),
            "100",
            "100",
        )


def test_crop_odd_window(tmp_path: Path) -> None:
    ds = points_dataset(tmp_path / "img", {"a.png": [point(100, 80)]})
    crop_dataset(ds, tmp_path / "out", CropOptions(size=(7, 5)))
    pixels = crop_pixels(tmp_path / "out" / "normal" / "a_000.png")
    assert pixels.shape == (5, 7, 3)
    assert decode(pixels[2, 3]) == (100, 80)
    assert decode(pixels[0, 0]) == (97, 78) and decode(pixels[4, 6]) == (103, 82)


def test_crop_pad_black_edge_skip(tmp_path: Path) -> None:
    # pixel (2, 3): the 10x10 window is x -3..6, y -2..7: 3 columns and 2 rows outside the image
    instances = [point(2, 3), point(320, 240), point(639, 479, 2)]
    ds = points_dataset(tmp_path / "img", {"a.png": instances})
    source = coded_image()
    crops, report = crop_dataset(ds, tmp_path / "black", CropOptions(size=(10, 10)))
    assert crops == 3 and report.notices == {"crop-padded": 2}
    black = crop_pixels(tmp_path / "black" / "normal" / "a_000.png")
    assert black.shape == (10, 10, 3) and decode(black[5, 5]) == (2, 3)
    assert not black[:2].any() and not black[:, :3].any()
    assert np.array_equal(black[2:, 3:], source[0:8, 0:7])
    corner = crop_pixels(tmp_path / "black" / "target cell" / "a_002.png")  # x 634..643, y 474..483
    assert decode(corner[5, 5]) == (639, 479) and not corner[:, 6:].any() and not corner[6:].any()

    crops, report = crop_dataset(ds, tmp_path / "edge", CropOptions(size=(10, 10), pad="edge"))
    assert crops == 3 and report.notices == {"crop-padded": 2}
    edge = crop_pixels(tmp_path / "edge" / "normal" / "a_000.png")
    assert np.array_equal(edge, np.pad(source[0:8, 0:7], ((2, 0), (3, 0), (0, 0)), mode="edge"))
    assert decode(edge[0, 0]) == (0, 0) and decode(edge[5, 5]) == (2, 3)

    crops, report = crop_dataset(ds, tmp_path / "skip", CropOptions(size=(10, 10), pad="skip"))
    assert crops == 1 and report.notices == {"crop-skipped": 2}
    rows = manifest(tmp_path / "skip")
    assert [r["crop"] for r in rows] == ["normal/a_001.png"]
    assert sorted(p.name for p in (tmp_path / "skip").rglob("*.png")) == ["a_001.png"]


@pytest.mark.parametrize("mode", ["L", "I;16", "I", "F", "RGBA"])
def test_edge_padding_keeps_the_image_mode(mode: str) -> None:
    values = (np.arange(12 * 20).reshape(12, 20) * 7).astype(np.float32)
    image = Image.fromarray(values).convert(mode) if mode != "F" else Image.fromarray(values)
    source = np.asarray(image)
    out = pad_window(image, (-3, -2, 7, 8), "edge")
    assert out.mode == mode and out.size == (10, 10)
    widths = ((2, 0), (3, 0)) + ((0, 0),) * (source.ndim - 2)
    assert np.array_equal(np.asarray(out), np.pad(source[0:8, 0:7], widths, mode="edge"))
    black = np.asarray(pad_window(image, (-3, -2, 7, 8), "black"))
    assert not black[:2].any() and np.array_equal(black[2:, 3:], source[0:8, 0:7])


def test_crop_pad_mode_is_checked() -> None:
    with pytest.raises(UsageError, match="--pad"):
        CropOptions(size=(10, 10), pad="mirror")


def test_points_without_size_are_refused(tmp_path: Path) -> None:
    ds = points_dataset(tmp_path / "img", {"a.png": [point(10, 10)]})
    plan = replace(dataset_plan(ds), points=True)
    with pytest.raises(UsageError, match="--size"):  # a points reader's plan: before anything is read
        crop_objects(plan, load_record, tmp_path / "out", CropOptions(), ReadOptions(), Report(), jobs=1)
    with pytest.raises(UsageError, match="--size"):  # points met while reading (COCO keypoints)
        crop_dataset(ds, tmp_path / "out", CropOptions())
    assert not (tmp_path / "out").exists()


def test_point_outside_the_image_is_an_error(tmp_path: Path) -> None:
    ds = points_dataset(
        tmp_path / "img", {"a.png": [Instance(category_id=1, geometry=Point(x=640.5, y=10.5))]}
    )
    with pytest.raises(FormatError) as caught:
        crop_dataset(ds, tmp_path / "out", CropOptions(size=(10, 10)))
    assert caught.value.code == "point-outside-image" and "pixel (640, 10)" in str(caught.value)


def test_mixed_points_and_boxes(tmp_path: Path) -> None:
    box = Instance(category_id=2, geometry=Box(x=10, y=20, w=30, h=40))
    ds = points_dataset(tmp_path / "img", {"a.png": [box, point(200, 100)]})
    crops, _ = crop_dataset(ds, tmp_path / "out", CropOptions(size=(64, 64)))
    assert crops == 2
    rows = manifest(tmp_path / "out")
    assert rows[0] | {} == {
        "crop": "target cell/a_000.png",
        "source": "a.png",
        "instance": "0",
        "class": "target cell",
        "x": "10",
        "y": "20",
        "w": "30",
        "h": "40",
        "crop_x": "10",
        "crop_y": "20",
        "crop_w": "30",
        "crop_h": "40",
        "split": "",
        "point_x": "",
        "point_y": "",
    }
    assert (rows[1]["point_x"], rows[1]["point_y"], rows[1]["crop_w"]) == ("200", "100", "64")
    box_crop = crop_pixels(tmp_path / "out" / "target cell" / "a_000.png")  # cut, then resized as before
    assert box_crop.shape == (64, 64, 3)
    window = crop_pixels(tmp_path / "out" / "normal" / "a_001.png")  # the window itself, not resized
    assert decode(window[32, 32]) == (200, 100) and decode(window[0, 0]) == (168, 68)


def test_manifest_without_points_keeps_its_columns(tmp_path: Path) -> None:
    box = Instance(category_id=2, geometry=Box(x=10, y=20, w=30, h=40))
    ds = points_dataset(tmp_path / "img", {"a.png": [box]})
    crop_dataset(ds, tmp_path / "out", CropOptions())
    assert (tmp_path / "out" / "crops.csv").read_text().splitlines() == [
        ",".join(MANIFEST_COLUMNS),
        "target cell/a_000.png,a.png,0,target cell,10,20,30,40,10,20,30,40,",
    ]


def test_crop_counts_per_class_equal_the_input(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    images = {
        f"{n}.png": [
            point(int(x), int(y), int(c))
            for x, y, c in zip(*rng.integers(0, 200, (2, 9)), rng.integers(1, 3, 9))
        ]
        for n in range(4)
    }
    ds = points_dataset(tmp_path / "img", images, size=(200, 200))
    crops, _ = crop_dataset(ds, tmp_path / "out", CropOptions(size=(32, 32)))
    wanted = Counter(inst.category_id for r in ds.images for inst in r.instances)
    assert crops == 36
    assert len(list((tmp_path / "out" / "normal").iterdir())) == wanted[1]
    assert len(list((tmp_path / "out" / "target cell").iterdir())) == wanted[2]
    for row in manifest(tmp_path / "out"):
        pixels = crop_pixels(tmp_path / "out" / row["crop"])
        assert decode(pixels[16, 16]) == (int(row["point_x"]), int(row["point_y"]))


# ---------------------------------------------------------------------------------------------
# draw

GREY = (120, 120, 120)


def test_point_ring_pixels() -> None:
    rows, cols = point_ring(Point.at_pixel(20, 30), radius=5, line_width=2, height=100, width=100)
    ring = set(zip(cols.tolist(), rows.tolist()))
    for painted in ((25, 30), (24, 30), (15, 30), (20, 25), (20, 35), (20, 26), (23, 34)):
        assert painted in ring
    for clear in ((20, 30), (21, 30), (23, 30), (26, 30), (20, 27), (20, 36)):
        assert clear not in ring
    assert all(4 <= np.hypot(c - 20, r - 30) < 6 for c, r in ring)  # pixel centres 4 to 6 px away
    assert ring == {(40 - c, r) for c, r in ring}  # symmetric about the point's pixel
    rows, cols = point_ring(Point.at_pixel(20, 30), radius=5, line_width=8, height=100, width=100)
    assert min(np.hypot(cols - 20, rows - 30)) >= 5  # a wide line grows the ring: r = 9, from 5 to 13
    rows, cols = point_ring(Point.at_pixel(0, 0), radius=5, line_width=2, height=100, width=100)
    assert rows.min() >= 0 and cols.min() >= 0  # cut at the image edge


def test_draw_points_as_rings(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    Image.new("RGB", (100, 80), GREY).save(tmp_path / "img" / "a.png")
    box = Instance(category_id=2, geometry=Box(x=60, y=10, w=20, h=20))
    record = ImageRecord(file_name="a.png", width=100, height=80, instances=[point(20, 30), box])
    ds = Dataset(categories=CATEGORIES, images=[record], image_root=str(tmp_path / "img"))
    result = draw_images(
        dataset_plan(ds),
        load_record,
        tmp_path / "out",
        ReadOptions(),
        Report(),
        jobs=1,
        style=DrawStyle(legend=False),
    )
    assert result.drawn == 1
    pixels = crop_pixels(tmp_path / "out" / "a.png")
    from cytoconv.ops.palette import class_colours

    colour = class_colours([1, 2])[1]
    for x, y in ((25, 30), (15, 30), (20, 25), (20, 35), (23, 34)):
        assert tuple(pixels[y, x]) == colour
    for x, y in ((20, 30), (21, 31), (23, 30), (27, 30)):
        assert tuple(pixels[y, x]) == GREY  # the centre is not painted, nor filled (a point has no area)
    ring = pixels[20:41, 10:31]
    assert int((ring == np.array(colour)).all(axis=-1).sum()) == len(
        point_ring(Point.at_pixel(20, 30), 5, 2, 80, 100)[0]
    )


def test_draw_point_radius_is_checked() -> None:
    with pytest.raises(UsageError):
        DrawStyle(point_radius=0)


# ---------------------------------------------------------------------------------------------
# stats


def _stats_dataset() -> Dataset:
    images = [
        ImageRecord(
            file_name="a.png", width=W, height=H, instances=[point(1, 2), point(3, 4), point(5, 6, 2)]
        ),
        ImageRecord(
            file_name="b.png",
            width=W,
            height=H,
            instances=[
                point(7, 8),
                point(9, 10, 2),
                Instance(category_id=2, geometry=Box(x=0, y=0, w=10, h=4)),
            ],
        ),
        ImageRecord(file_name="c.png", width=W, height=H),
    ]
    return Dataset(categories=CATEGORIES, images=images)


def test_stats_counts_points_and_keeps_them_out_of_the_sizes() -> None:
    stats = api.stats(_stats_dataset())
    total = stats.total
    assert (total.images, total.images_without_objects, total.instances, total.points, total.boxes) == (
        3,
        1,
        6,
        5,
        1,
    )
    normal, target = total.classes
    assert (normal.count, normal.points, normal.images) == (3, 3, 2)
    assert normal.area_mean_px is None and normal.diameter_median_px is None  # points only: no size
    assert (target.count, target.points, target.images) == (3, 2, 2)
    assert target.area_mean_px == 40.0 and target.area_median_px == 40.0  # the box alone
    assert total.instances_per_image.histogram == ((0, 1), (3, 2))
    document = json.loads(json.dumps(to_dict(stats)))
    jsonschema.validate(document, JSON_SCHEMA)
    assert document["schema_version"] == 2
    assert document["total"]["geometry"] == {"polygon": 0, "box": 1, "rle": 0, "point": 5}
    assert [(c["name"], c["count"], c["points"]) for c in document["total"]["classes"]] == [
        ("normal", 3, 3),
        ("target cell", 3, 2),
    ]


def test_stats_csv_has_a_points_column_only_with_points() -> None:
    lines = to_csv(api.stats(_stats_dataset())).splitlines()
    assert lines[0].endswith(",diameter_median_um,points")
    assert lines[1] == "1,normal,3,50.0,2,,,,,,,,,3"
    assert lines[2].startswith("2,target cell,3,50.0,2,40.0,40.0,") and lines[2].endswith(",2")
    boxes = Dataset(
        categories=CATEGORIES,
        images=[
            ImageRecord(
                file_name="a.png",
                width=W,
                height=H,
                instances=[Instance(category_id=1, geometry=Box(x=0, y=0, w=2, h=2))],
            )
        ],
    )
    assert to_csv(api.stats(boxes)).splitlines()[0].endswith(",diameter_median_um")  # as before points


def test_stats_table_shows_points(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.console import Console

    from cytoconv.cli.stats_report import render

    render(api.stats(_stats_dataset()), Console(width=200, highlight=False))
    out = capsys.readouterr().out
    assert "6 objects (1 boxes, 5 points)" in out
    assert "points" in out.splitlines()[1]


# ---------------------------------------------------------------------------------------------
# resample and split


def xy(inst: Instance) -> tuple[float, float]:
    """A point object's model coordinates."""
    assert isinstance(inst.geometry, Point)
    return inst.geometry.x, inst.geometry.y


def test_resample_maps_points_per_axis() -> None:
    record = ImageRecord(file_name="a.png", width=100, height=50, instances=[point(10, 20), point(99, 49, 2)])
    out = Resample(TargetSize(size=(200, 25)))(record, Report())
    assert [xy(i) for i in out.instances] == [(21.0, 10.25), (199.0, 24.75)]
    assert [Point(x=x, y=y).pixel() for x, y in map(xy, out.instances)] == [(20.5, 9.75), (198.5, 24.25)]


def test_resample_clip_drops_points_outside() -> None:
    outside = Instance(category_id=1, geometry=Point(x=-0.5, y=10.5))
    record = ImageRecord(file_name="a.png", width=100, height=50, instances=[point(10, 20), outside])
    report = Report()
    out = Resample(TargetSize(scale=0.5), clip=True)(record, report)
    assert [xy(i) for i in out.instances] == [(5.25, 10.25)]
    assert report.notices == {"vanished": 1}
    kept = Resample(TargetSize(scale=0.5))(record, Report())  # without --clip: kept as it is
    assert len(kept.instances) == 2


def test_split_points_dataset_exact_counts() -> None:
    images = [
        ImageRecord(
            file_name=f"{n}.png",
            width=W,
            height=H,
            instances=[point(k, k, 1 + n % 2) for k in range(3 + n % 2)],
        )
        for n in range(20)
    ]
    ds = Dataset(categories=CATEGORIES, images=images)
    result = split_dataset(ds, (0.8, 0.1, 0.1), seed=1)
    objects: dict[str, Counter[int]] = {}
    for record in result.images:
        objects.setdefault(record.split or "", Counter()).update(i.category_id for i in record.instances)
    images_per_split = Counter(r.split for r in result.images)
    assert images_per_split == {"train": 16, "val": 2, "test": 2}
    assert {s: dict(c) for s, c in objects.items()} == {
        "train": {1: 24, 2: 32},
        "val": {1: 3, 2: 4},
        "test": {1: 3, 2: 4},
    }
    assert sum(objects.values(), Counter()) == Counter({1: 30, 2: 40})


# ---------------------------------------------------------------------------------------------
# Through the library API, from a points-txt dataset on disk (the Chula layout)


def chula_like(root: Path, images: int = 10) -> Path:
    """``Dataset/<n>.png`` (coded 200x100 images) and ``Label/<n>.txt``: two points each, classes 0 and 1."""
    (root / "Dataset").mkdir(parents=True)
    (root / "Label").mkdir()
    pixels = coded_image(200, 100)
    for n in range(images):
        Image.fromarray(pixels).save(root / "Dataset" / f"{n}.png")
        (root / "Label" / f"{n}.txt").write_text(f"{10 + n} {20 + n} {n % 2}\n150 60 1\n")
    return root


def test_api_on_points_txt(tmp_path: Path) -> None:
    root = chula_like(tmp_path / "ds")
    _, crops = api.crop(root, tmp_path / "crops", CropOptions(size=(9, 9)))
    rows = manifest(tmp_path / "crops")
    assert crops == 20 and Counter(r["class"] for r in rows) == {"class_0": 5, "class_1": 15}
    for row in rows:
        pixels = crop_pixels(tmp_path / "crops" / row["crop"])
        assert decode(pixels[4, 4]) == (int(row["point_x"]), int(row["point_y"]))
    assert rows[0]["crop_x"] == "6" and rows[0]["point_x"] == "10"  # 10 - 9 // 2

    stats = api.stats(root)
    assert [(c.name, c.count, c.points) for c in stats.total.classes] == [
        ("class_0", 5, 5),
        ("class_1", 15, 15),
    ]

    result, _ = api.split(root, tmp_path / "split", (0.8, 0.2), seed=0, names=("train", "val"))
    per_split: dict[str | None, Counter[int]] = {}
    for record in result.images:
        per_split.setdefault(record.split, Counter()).update(i.category_id for i in record.instances)
    assert sum(per_split.values(), Counter()) == Counter({1: 5, 2: 15})
    assert Counter(r.split for r in result.images) == {"train": 8, "val": 2}

    api.resample(root, tmp_path / "half", api.resample_target(size=(400, 50)))
    # (10, 20) is the point (10.5, 20.5); at 400x50 it is (21.0, 10.25): the pixel index (20.5, 9.75)
    assert (tmp_path / "half" / "labels" / "0.txt").read_text() == "20.5 9.75 0\n300.5 29.75 1\n"


# ---------------------------------------------------------------------------------------------
# The vendored Chula RBC-12 sample through the command line

CHULA_COUNTS = {0: 1367, 1: 4, 2: 25, 3: 21, 4: 25, 5: 14, 6: 91, 7: 7, 8: 95, 9: 17, 10: 5, 11: 6, 12: 53}


def _chula_points(root: Path) -> list[tuple[str, int, int, int]]:
    out = []
    for label in sorted((root / "Label").glob("*.txt")):
        for line in label.read_text().split("\n"):
            if line.strip():
                x, y, c = (int(v) for v in line.split())
                out.append((label.stem, x, y, c))
    return out


def test_cli_crop_chula(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = real("chula_rbc12_points")
    out = tmp_path / "crops"
    code, _, err = run_cli(["crop", str(root), str(out), "--size", "100x100", "-q"], capsys)
    assert code == 0, err
    rows = manifest(out)
    assert len(rows) == 1730 == sum(CHULA_COUNTS.values())
    per_class = Counter(r["crop"].split("/")[0] for r in rows)
    folders = {p.name: len(list(p.iterdir())) for p in out.iterdir() if p.is_dir()}
    assert folders == dict(per_class)
    assert sorted(per_class.values()) == sorted(CHULA_COUNTS.values())
    expected = Counter((stem, x, y) for stem, x, y, _ in _chula_points(root))
    assert Counter((Path(r["source"]).stem, int(r["point_x"]), int(r["point_y"])) for r in rows) == expected
    for row in rows[:40]:  # the centre pixel of the crop is the annotated pixel of the source
        with Image.open(root / "Dataset" / row["source"]) as im:
            source = np.asarray(im.convert("RGB"))
        with Image.open(out / row["crop"]) as im:
            assert im.size == (100, 100)
            pixels = np.asarray(im.convert("RGB"))
        i, j = int(row["point_x"]), int(row["point_y"])
        assert np.array_equal(pixels[50, 50], source[j, i])


def test_cli_crop_chula_skip_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = real("chula_rbc12_points")
    inside = sum(1 for _, x, y, _ in _chula_points(root) if 50 <= x <= 590 and 50 <= y <= 430)
    code, _, err = run_cli(
        ["crop", str(root), str(tmp_path / "c"), "--size", "100x100", "--pad", "skip"], capsys
    )
    assert code == 0, err
    assert len(manifest(tmp_path / "c")) == inside
    assert inside == 1171 and "noticed 559 x crop-skipped" in err


def test_cli_crop_chula_needs_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["crop", str(real("chula_rbc12_points")), str(tmp_path / "c")], capsys)
    assert code == 2 and "--size" in err and not (tmp_path / "c").exists()


def test_cli_stats_chula_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["stats", str(real("chula_rbc12_points")), "--json"], capsys)
    assert code == 0, err
    document = json.loads(out)
    jsonschema.validate(document, JSON_SCHEMA)
    total = document["total"]
    assert total["instances"] == 1730 and total["geometry"]["point"] == 1730
    assert sorted(c["count"] for c in total["classes"]) == sorted(CHULA_COUNTS.values())
    assert all(c["points"] == c["count"] and c["area_mean_px"] is None for c in total["classes"])


def test_cli_draw_chula(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        ["draw", str(real("chula_rbc12_points")), str(tmp_path / "d"), "--limit", "2", "-q"], capsys
    )
    assert code == 0, err
    assert len(list((tmp_path / "d").rglob("*.png"))) == 2
