"""cytoconv stats: every figure checked against an independent computation, and each output form."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_api

from cytoconv.api import stats as compute_stats
from cytoconv.errors import Report, UsageError
from cytoconv.ir import Box, Category, Dataset, ImageRecord, Instance, Polygon, Rle
from cytoconv.ops.palette import class_colours
from cytoconv.ops.stats import (
    CLASS_KEYS,
    JSON_SCHEMA,
    DatasetStats,
    display_bins,
    plot,
    to_csv,
    to_dict,
)
from tests.conftest import BALF_SAMPLE, real, run_cli, write

# The PBC paper's Table 1 (Acevedo et al. 2020): images per class and their share in %.
PBC = [
    ("neutrophil", 3329, 19.48),
    ("eosinophil", 3117, 18.24),
    ("basophil", 1218, 7.13),
    ("lymphocyte", 1214, 7.10),
    ("monocyte", 1420, 8.31),
    ("ig", 2895, 16.94),
    ("erythroblast", 1551, 9.07),
    ("platelet", 2348, 13.74),
]


def pbc_dataset() -> Dataset:
    categories = [Category(id=k + 1, name=name) for k, (name, _, _) in enumerate(PBC)]
    images = [
        ImageRecord.trusted(
            file_name=f"{name}/{i}.jpg",
            width=360,
            height=363,
            split=None,
            label=k + 1,
            instances=[],
            attributes={},
        )
        for k, (name, count, _) in enumerate(PBC)
        for i in range(count)
    ]
    return Dataset(categories=categories, images=images)


def validate(document: dict[str, Any]) -> None:
    import jsonschema

    jsonschema.validate(document, JSON_SCHEMA)


# ---------------------------------------------------------------------------------------------
# Classification: the PBC table


def test_pbc_class_table_reproduces_the_paper() -> None:
    stats = compute_stats(pbc_dataset())
    assert stats.counted == "images"
    assert stats.total.images == stats.total.images_with_label == 17_092
    assert stats.total.instances == 0 and stats.splits == ()
    rows = stats.total.classes
    assert [(r.name, r.count, round(r.share_percent or 0, 2)) for r in rows] == PBC
    assert all(r.images == r.count and r.area_mean_px is None and r.diameter_median_px is None for r in rows)
    assert sum(r.count for r in rows) == 17_092
    assert stats.total.image_sizes[0].images == 17_092
    table = list(csv.DictReader(io.StringIO(to_csv(stats))))
    assert [(row["name"], int(row["count"]), round(float(row["share_percent"]), 2)) for row in table] == PBC
    assert table[0]["area_mean_px"] == ""
    validate(to_dict(stats))


def test_class_folders_reader_counts_images_per_class(tmp_path: Path) -> None:
    """Through the class-folder reader: a small tree with a junk file that is not an image."""
    counts = {"basophil": 3, "eosinophil": 1, "neutrophil": 2}
    for name, n in counts.items():
        (tmp_path / "tree" / name).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (36, 40), (200, 100, 120)).save(tmp_path / "tree" / name / f"{i}.jpg")
    write(tmp_path / "tree" / "neutrophil" / ".DS_Store", b"\0\0\0\1Bud1")
    stats = compute_stats(tmp_path / "tree", fmt="folders")
    assert stats.counted == "images"
    assert [(r.name, r.count, r.images) for r in stats.total.classes] == [
        (n, c, c) for n, c in counts.items()
    ]
    assert [round(r.share_percent or 0, 2) for r in stats.total.classes] == [50.0, 16.67, 33.33]
    assert [(s.width, s.height, s.images) for s in stats.total.image_sizes] == [(36, 40, 6)]


def test_real_pbc_class_folders_counted_by_folder_not_prefix() -> None:
    root = real("pbc_classfolders") / "PBC_dataset_normal_DIB"
    expected = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = [f for f in folder.iterdir() if not f.name.startswith(".")]  # .DS_169665.jpg is junk
        expected[folder.name] = len(images)
    stats = compute_stats(root, fmt="folders", jobs=1)
    assert {r.name: r.count for r in stats.total.classes} == expected
    assert sum(expected.values()) == stats.total.images == 44
    shares = {r.name: r.share_percent for r in stats.total.classes}
    assert shares["ig"] == pytest.approx(100 * 8 / 44) and shares["neutrophil"] == pytest.approx(100 * 6 / 44)
    assert {(s.width, s.height): s.images for s in stats.total.image_sizes} == {
        (360, 363): 39,
        (366, 369): 3,
        (360, 360): 2,
    }
    assert stats.noticed["junk-skipped"] == 1


# ---------------------------------------------------------------------------------------------
# Real samples against independent computations


def yolo_lines(folder: Path) -> dict[Path, list[list[float]]]:
    """Every label file below ``folder`` (not the macOS residue), as lists of numbers per line."""
    out = {}
    for path in sorted(folder.rglob("*.txt")):
        if "__MACOSX" in path.parts or path.name.startswith(".") or path.name == "classes.txt":
            continue
        out[path] = [
            [float(v) for v in line.split()] for line in path.read_text().splitlines() if line.strip()
        ]
    return out


def image_for(label: Path) -> Path:
    images = (
        label.parent.parent.parent / "images" / label.parent.name
        if label.parent.name == "test"
        else label.parent.parent / "images"
    )
    return next(p for p in images.iterdir() if p.stem == label.stem)


def test_roboflow_polygons_counts_areas_and_splits() -> None:
    root = real("cell_seg_yolov8_roboflow")
    lines = yolo_lines(root)
    areas: list[float] = []
    vertices = 0
    per_split: Counter[str] = Counter()
    for label, rows in lines.items():
        with Image.open(image_for(label)) as im:
            w, h = im.size
        rings = [(np.array(r[1:]).reshape(-1, 2) * [w, h]).reshape(-1).tolist() for r in rows]
        areas += [float(a) for a in mask_api.area(mask_api.frPyObjects(rings, h, w))]
        vertices += sum((len(r) - 1) // 2 for r in rows)
        per_split[label.parts[-3]] += len(rows)
    assert len(areas) == 374
    stats = compute_stats(root, jobs=1)
    total = stats.total
    assert (total.images, total.instances, total.polygons, total.boxes, total.vertices) == (
        9,
        374,
        374,
        0,
        vertices,
    )
    [row] = total.classes
    assert (row.id, row.name, row.count, row.share_percent, row.images) == (1, "cell", 374, 100.0, 9)
    assert row.area_mean_px == pytest.approx(statistics.fmean(areas), rel=1e-12)
    assert row.area_median_px == statistics.median(areas)
    diameters = [2 * math.sqrt(a / math.pi) for a in areas]
    assert row.diameter_mean_px == pytest.approx(statistics.fmean(diameters), rel=1e-12)
    assert row.diameter_median_px == pytest.approx(statistics.median(diameters), rel=1e-12)
    assert {s.split: s.instances for s in stats.splits} == dict(per_split)
    assert {s.split: s.images for s in stats.splits} == {"test": 1, "train": 6, "valid": 2}
    per_image = sorted(len(rows) for rows in lines.values())
    assert (total.instances_per_image.min, total.instances_per_image.max) == (per_image[0], per_image[-1])
    assert total.instances_per_image.median == statistics.median(per_image)
    assert dict(total.instances_per_image.histogram) == dict(Counter(per_image))
    assert [(s.width, s.height, s.images) for s in total.image_sizes] == [(704, 520, 9)]
    assert stats.noticed["junk-skipped"] >= 4
    validate(to_dict(stats))


def test_txl_boxes_with_duplicates_and_five_image_sizes() -> None:
    root = real("txl_pbc_yolo") / "TXL_PBC"
    lines = yolo_lines(root / "labels")
    by_class: dict[int, list[float]] = {}
    images_with: dict[int, set[Path]] = {}
    sizes: Counter[tuple[int, int]] = Counter()
    for label, rows in lines.items():
        with Image.open(root / "images" / "test" / f"{label.stem}.jpg") as im:
            w, h = im.size
        sizes[(w, h)] += 1
        for r in rows:
            by_class.setdefault(int(r[0]) + 1, []).append(r[3] * w * r[4] * h)
            images_with.setdefault(int(r[0]) + 1, set()).add(label)
    stats = compute_stats(root, jobs=1, pixel_size=0.5)
    assert stats.total.instances == 699 == sum(len(v) for v in by_class.values())
    assert stats.total.boxes == 699 and stats.total.vertices == 0
    assert stats.noticed["duplicate-line"] == 36  # kept, and counted like every other line
    for row in stats.total.classes:
        areas = by_class[row.id]
        assert (row.count, row.images) == (len(areas), len(images_with[row.id]))
        assert row.share_percent == pytest.approx(100 * len(areas) / 699, rel=1e-12)
        assert row.area_mean_px == pytest.approx(statistics.fmean(areas), rel=1e-9)
        assert row.area_median_px == pytest.approx(statistics.median(areas), rel=1e-9)
        assert row.area_mean_um2 == pytest.approx(statistics.fmean(areas) * 0.25, rel=1e-9)
        assert row.diameter_median_um == pytest.approx(row.diameter_median_px * 0.5, rel=1e-12)  # type: ignore[operator]
    assert [r.count for r in stats.total.classes] == [42, 644, 13]
    assert {(s.width, s.height): s.images for s in stats.total.image_sizes} == dict(sizes)
    assert [(s.width, s.height) for s in stats.total.image_sizes][:1] == [
        (360, 363)
    ]  # the most frequent first


def test_coco_boxes_unused_category_and_splits() -> None:
    root = real("rbc_coco_roboflow")
    areas: dict[int, list[float]] = {}
    per_split: dict[str, int] = {}
    for split in ("test", "valid"):
        data = json.loads((root / split / "_annotations.coco.json").read_text())
        per_split[split] = len(data["annotations"])
        for ann in data["annotations"]:
            areas.setdefault(ann["category_id"], []).append(ann["bbox"][2] * ann["bbox"][3])
    stats = compute_stats(root, fmt="coco", jobs=1)
    rows = {r.id: r for r in stats.total.classes}
    assert sorted(rows) == [0, 1, 2]
    assert (rows[0].name, rows[0].count, rows[0].share_percent, rows[0].area_mean_px) == (
        "RBC-WBC",
        0,
        0.0,
        None,
    )
    assert (rows[1].count, rows[2].count) == (662, 29)
    for cid in (1, 2):
        assert rows[cid].area_mean_px == pytest.approx(statistics.fmean(areas[cid]), rel=1e-12)
        assert rows[cid].area_median_px == statistics.median(areas[cid])
    assert {s.split: s.instances for s in stats.splits} == per_split
    assert stats.total.images == 30 and stats.total.images_without_objects == 0
    validate(to_dict(stats))


def test_holes_rle_and_multi_part_areas_are_the_pycocotools_raster() -> None:
    outer = np.array([[2, 2], [30, 2], [30, 30], [2, 30]], dtype=float)
    hole = np.array([[10, 10], [20, 10], [20, 20], [10, 20]], dtype=float)
    block = np.zeros((40, 50), dtype=np.uint8, order="F")
    block[5:15, 20:27] = 1
    rle = mask_api.encode(block)
    images = [
        ImageRecord(
            file_name="a.png",
            width=50,
            height=40,
            instances=[
                Instance(category_id=1, geometry=Polygon(rings=[outer, hole], holes=[False, True])),
                Instance(category_id=1, geometry=Polygon(rings=[outer[:3], hole])),
                Instance(category_id=2, geometry=Rle(height=40, width=50, counts=rle["counts"].decode())),
                Instance(category_id=2, geometry=Box(x=0.5, y=0.5, w=2.5, h=4)),
            ],
        )
    ]
    ds = Dataset(categories=[Category(id=1, name="a"), Category(id=2, name="b")], images=images)
    stats = compute_stats(ds)
    cols = stats.columns
    assert cols is not None

    def raster(rings: list[np.ndarray]) -> np.ndarray:
        return mask_api.decode(
            mask_api.merge(mask_api.frPyObjects([r.reshape(-1).tolist() for r in rings], 40, 50))
        )

    with_hole = raster([outer]).astype(bool) & ~raster([hole]).astype(bool)
    assert cols.area.tolist() == [with_hole.sum(), raster([outer[:3], hole]).sum(), 70, 10.0]
    assert cols.vertices.tolist() == [8, 7, 0, 0]
    assert (stats.total.polygons, stats.total.rles, stats.total.boxes) == (2, 1, 1)
    assert [r.images for r in stats.total.classes] == [1, 1]


def test_lenient_run_counts_what_it_skipped(tmp_path: Path) -> None:
    from tests.conftest import yolo_dataset

    root = yolo_dataset(
        tmp_path / "ds", {"a": "0 0.1 0.1 0.5 0.1 0.5 0.5\n0 0.1 x 0.5 0.1 0.5 0.5\n", "b": ""}
    )
    with pytest.raises(Exception, match="not a number"):
        compute_stats(root)
    stats = compute_stats(root, report=Report(strict=False))
    assert stats.total.instances == 1 and stats.skipped == {"malformed-line": 1}
    assert stats.total.images_without_objects == 1
    assert to_dict(stats)["skipped"] == {"malformed-line": 1}


def test_empty_dataset_and_display_bins() -> None:
    stats = compute_stats(Dataset(categories=[Category(id=1, name="cell")], images=[]))
    assert stats.total.images == 0 and stats.total.instances_per_image.max is None
    assert stats.total.classes[0].share_percent is None
    validate(to_dict(stats))
    assert display_bins([(0, 1), (2, 3), (5, 2)], max_rows=12) == [
        (0, 0, 1),
        (1, 1, 0),
        (2, 2, 3),
        (3, 3, 0),
        (4, 4, 0),
        (5, 5, 2),
    ]
    assert display_bins([(0, 4), (30, 1)], max_rows=4) == [(0, 7, 4), (8, 15, 0), (16, 23, 0), (24, 30, 1)]
    bins = display_bins([(21, 1), (40, 3), (68, 1)])
    assert (
        len(bins) == 12
        and bins[0] == (21, 24, 1)
        and bins[-1] == (65, 68, 1)
        and sum(b[2] for b in bins) == 5
    )


def test_pixel_size_must_be_positive() -> None:
    with pytest.raises(UsageError):
        compute_stats(pbc_dataset(), pixel_size=0)


# ---------------------------------------------------------------------------------------------
# CLI outputs


def test_cli_json_is_only_data_and_matches_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["stats", str(BALF_SAMPLE), "--json", "--pixel-size", "0.25"], capsys)
    assert code == 0 and "{" not in err  # the data goes to stdout only
    document = json.loads(out)
    validate(document)
    assert (
        document["schema_version"] == 2
        and document["format"] == "yolo"
        and document["counted"] == "instances"
    )
    total = document["total"]
    assert (total["images"], total["images_without_objects"], total["instances"]) == (20, 1, 108)
    assert [c["count"] for c in total["classes"]] == [18, 8, 6, 41, 21, 11, 3]
    assert list(total["classes"][0]) == list(CLASS_KEYS)
    assert total["classes"][0]["area_mean_um2"] == pytest.approx(
        total["classes"][0]["area_mean_px"] / 16, abs=1e-3
    )
    assert document["splits"] == []  # images/ and labels/ with no split folder
    assert sum(h["images"] for h in total["instances_per_image"]["histogram"]) == 20


def test_cli_csv_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["stats", str(BALF_SAMPLE), "--csv"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["name"] for r in rows][:2] == ["erythrocyte", "ciliated columnar epithelial"]
    assert sum(int(r["count"]) for r in rows) == 108
    assert round(sum(float(r["share_percent"]) for r in rows), 2) == 100.0
    code, out, _ = run_cli(["stats", str(BALF_SAMPLE)], capsys)
    assert code == 0
    assert "20 images (1 without objects), 108 objects (108 polygons" in out
    assert "macrophage" in out and "37.96" in out and "853x640 (20)" in out


def test_cli_refuses_json_and_csv_together_and_bad_pixel_size(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["stats", str(BALF_SAMPLE), "--json", "--csv"], capsys)
    assert code == 2 and out == "" and "one of them" in err
    code, out, err = run_cli(["stats", str(BALF_SAMPLE), "--pixel-size", "0"], capsys)
    assert code == 2 and "--pixel-size" in err


# ---------------------------------------------------------------------------------------------
# The figure


def bars_in_top_panel(png: Path, colours: set[tuple[int, int, int]]) -> int:
    """Bars seen in the top half of the figure: the most runs of a bar colour along any pixel row."""
    arr = np.asarray(Image.open(png).convert("RGB"))
    top = arr[: arr.shape[0] // 2]
    best = 0
    for row in top:
        is_bar = np.zeros(row.shape[0], dtype=bool)
        for rgb in colours:
            is_bar |= (row == rgb).all(axis=1)
        runs = int(np.count_nonzero(is_bar[1:] & ~is_bar[:-1]) + is_bar[0])
        best = max(best, runs)
    return best


def test_plot_shows_one_bar_per_class(tmp_path: Path) -> None:
    stats = compute_stats(pbc_dataset())
    plot(stats, tmp_path / "pbc.png")
    colours = set(class_colours(range(1, 9)).values())
    with Image.open(tmp_path / "pbc.png") as im:
        assert im.format == "PNG" and im.size == (1300, 850)
    assert bars_in_top_panel(tmp_path / "pbc.png", colours) == 8
    with pytest.raises(UsageError, match="--overwrite"):
        plot(stats, tmp_path / "pbc.png")


def test_plot_through_the_cli_skips_empty_classes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rbc.png"
    code, stdout, err = run_cli(
        ["stats", str(real("rbc_coco_roboflow")), "--from", "coco", "--plot", str(out), "--json"], capsys
    )
    assert code == 0 and json.loads(stdout)["total"]["instances"] == 691 and "wrote" in err
    assert bars_in_top_panel(out, set(class_colours([0, 1, 2]).values())) == 2  # RBC-WBC has no objects


def test_plot_without_matplotlib_is_a_clear_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UsageError, match=r"pip install 'cytoconv\[plot\]'"):
        plot(compute_stats(pbc_dataset()), tmp_path / "x.png")
    code, out, err = run_cli(["stats", str(BALF_SAMPLE), "--plot", str(tmp_path / "x.png")], capsys)
    assert code == 2 and "cytoconv[plot]" in err and out == ""
    assert not (tmp_path / "x.png").exists()


def test_stats_result_is_typed() -> None:
    stats = compute_stats(BALF_SAMPLE)
    assert isinstance(stats, DatasetStats)
    assert stats.source == str(BALF_SAMPLE) and stats.format == "yolo"


# ---------------------------------------------------------------------------------------------
# The two reader speed-ups stats relies on: same answers as the slow paths


def test_jpeg_size_from_the_sof_marker_or_from_pil(tmp_path: Path) -> None:
    from cytoconv.engine.files import _plain_jpeg_size, image_size

    plain = tmp_path / "plain.jpg"
    Image.new("RGB", (853, 640), (1, 2, 3)).save(plain, quality=90)
    progressive = tmp_path / "progressive.jpg"
    Image.new("L", (37, 1001)).save(progressive, progressive=True)
    assert _plain_jpeg_size(plain) == (853, 640) and _plain_jpeg_size(progressive) == (37, 1001)
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # turned by 90 degrees: displayed as 640 wide, 853 high
    Image.new("RGB", (853, 640)).save(rotated, exif=exif)
    assert _plain_jpeg_size(rotated) is None  # EXIF present: PIL decides
    assert image_size(rotated) == (640, 853) and image_size(rotated, apply_exif_orientation=False) == (
        853,
        640,
    )
    png = tmp_path / "a.png"
    Image.new("RGB", (5, 7)).save(png)
    assert _plain_jpeg_size(png) is None and image_size(png) == (5, 7)
    truncated = write(tmp_path / "cut.jpg", plain.read_bytes()[:40])
    assert _plain_jpeg_size(truncated) is None


@pytest.mark.parametrize(
    "text",
    [
        "0 0.1 0.2 0.3\n1 0.5 0.25 0.125 0.75\n",
        "0 -0 0.5\n",
        "0 0.5 -0",
        "0 -0.0 1e-16 1E+2\n",
        "0 0.12345678901234567 2.7328566760003855e-17",
        "0 0.1\n\n1 0.2\n",
        "0 .5 1.",
        "0 00.5 -01",
    ],
)
def test_yolo_numbers_are_the_same_doubles_as_numpy(text: str) -> None:
    from cytoconv.formats.yolo.syntax import numbers as _numbers

    got = _numbers(text)
    assert got is not None and got.tobytes() == np.fromstring(text, sep=" ").tobytes()  # type: ignore[call-overload]


@pytest.mark.parametrize("text", ["0 true 1", '0 "1" 2', "0 [1] 2", "0 nan 1", "0 0x10 1"])
def test_yolo_numbers_never_take_json_values(text: str) -> None:
    from cytoconv.formats.yolo.syntax import numbers as _numbers

    got = _numbers(text)
    assert got is None or not np.isfinite(got).all()


def test_splits_sorted_with_the_images_that_have_none_last() -> None:
    box = Instance(category_id=1, geometry=Box(x=0, y=0, w=2, h=3))
    images = [
        ImageRecord(file_name=f"{k}.png", width=10, height=10, split=split, instances=[box] * k)
        for k, split in enumerate(["val", "train", None, "train"])
    ]
    stats = compute_stats(Dataset(categories=[Category(id=1, name="cell")], images=images))
    assert [(s.split, s.images, s.instances) for s in stats.splits] == [
        ("train", 2, 4),
        ("val", 1, 0),
        (None, 1, 2),
    ]
    assert stats.total.instances == 6 and stats.total.classes[0].area_median_px == 6.0
    validate(to_dict(stats))
