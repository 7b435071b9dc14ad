"""``cytoconv filter``: exactly the objects below or above an area, or of a class, removed; splits, a list of
images and empty images kept or dropped; every removal counted by class and reason; usage errors before
anything is written.

The expected objects are computed here without cytoconv's reader: from the YOLO label files and the image sizes,
with pycocotools' own raster area (the ``area`` COCO writes)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_api

import cytoconv
from cytoconv.engine import pipeline
from cytoconv.engine.contract import ReadOptions, WriteOptions
from cytoconv.errors import UsageError
from tests.conftest import BALF_SAMPLE, real, run_cli, write

NAMES = [
    "erythrocyte",
    "ciliated columnar epithelial",
    "squamous epithelial",
    "macrophage",
    "lymphocyte",
    "neutrophil",
    "eosinophil",
]


def _balf_objects() -> list[tuple[str, str, int]]:
    """Every object of the BALF sample as (image, class name, pycocotools area), from the label files."""
    out = []
    for label in sorted((BALF_SAMPLE / "labels").glob("*.txt")):
        image = BALF_SAMPLE / "images" / (label.stem + ".jpg")
        with Image.open(image) as im:
            width, height = im.size
        for line in label.read_text().splitlines():
            values = line.split()
            if not values:
                continue
            xy = np.array(values[1:], dtype=float).reshape(-1, 2) * (width, height)
            rle = mask_api.merge(mask_api.frPyObjects([xy.ravel().tolist()], height, width))
            out.append((image.name, NAMES[int(values[0])], int(mask_api.area(rle))))
    return out


def _coco(path: Path) -> tuple[dict[int, str], list[tuple[str, str, int]], dict[str, Any]]:
    """A written COCO file as (category names by id, (image, class, area) per annotation, the JSON)."""
    data = json.loads(path.read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    files = {im["id"]: im["file_name"] for im in data["images"]}
    objects = [(files[a["image_id"]], names[a["category_id"]], int(a["area"])) for a in data["annotations"]]
    return names, objects, data


def _per_class(objects: list[tuple[str, str, int]]) -> Counter[str]:
    return Counter(name for _, name, _ in objects)


BALF = _balf_objects()
MEDIAN = sorted(a for _, _, a in BALF)[len(BALF) // 2]


def test_the_independent_reading_sees_the_whole_sample() -> None:
    assert len(BALF) == 108
    assert _per_class(BALF) == {
        "erythrocyte": 18,
        "ciliated columnar epithelial": 8,
        "squamous epithelial": 6,
        "macrophage": 41,
        "lymphocyte": 21,
        "neutrophil": 11,
        "eosinophil": 3,
    }


@pytest.mark.parametrize("jobs", [1, 2])
def test_min_area_removes_exactly_the_objects_below(tmp_path: Path, jobs: int) -> None:
    out = tmp_path / "big.json"
    result = cytoconv.filter_dataset(BALF_SAMPLE, out, to="coco", min_area=MEDIAN, jobs=jobs)
    kept = [o for o in BALF if o[2] >= MEDIAN]
    below = [o for o in BALF if o[2] < MEDIAN]
    _, written, _ = _coco(out)
    assert sorted(written) == sorted(kept)
    removed = Counter({NAMES.index(n) + 1: k for n, k in _per_class(below).items()})
    assert result.counts.removed["area"] == removed
    assert sum(result.counts.removed["area"].values()) == len(below) == 54
    assert result.counts.removed["class"] == Counter() and result.counts.removed["image"] == Counter()
    assert sum(result.summary.instances.values()) == len(kept) == 54
    assert result.summary.images == 20  # --empty keep: images emptied stay


def test_max_area_removes_exactly_the_objects_above(tmp_path: Path) -> None:
    out = tmp_path / "small.json"
    result = cytoconv.filter_dataset(BALF_SAMPLE, out, to="coco", max_area=MEDIAN)
    _, written, _ = _coco(out)
    kept = [o for o in BALF if o[2] <= MEDIAN]
    assert sorted(written) == sorted(kept)
    assert sum(result.counts.removed["area"].values()) == len(BALF) - len(kept) == 53  # the median kept


def test_min_and_max_area_in_um2_with_the_pixel_size(tmp_path: Path) -> None:
    """0.5 um per pixel: 1 px is 0.25 um2, so 500..2000 um2 is 2,000..8,000 px."""
    out = tmp_path / "band.json"
    result = cytoconv.filter_dataset(BALF_SAMPLE, out, to="coco", min_area=500, max_area=2000, pixel_size=0.5)
    _, written, _ = _coco(out)
    kept = [o for o in BALF if 2000 <= o[2] <= 8000]
    assert sorted(written) == sorted(kept)
    assert sum(result.counts.removed["area"].values()) == len(BALF) - len(kept)
    assert 0 < len(kept) < len(BALF)


def test_classes_keeps_those_and_takes_the_others_out_of_the_class_list(tmp_path: Path) -> None:
    out = tmp_path / "subset"
    result = cytoconv.filter_dataset(BALF_SAMPLE, out, classes="lymphocyte,macrophage")
    back = cytoconv.read(out, "yolo", ReadOptions(images=BALF_SAMPLE / "images"))
    # the source's order, not the option's: YOLO indices 0 and 1
    assert [c.name for c in back.categories] == ["macrophage", "lymphocyte"]
    counts = Counter(back.category_names()[i.category_id] for r in back.images for i in r.instances)
    assert counts == {"macrophage": 41, "lymphocyte": 21}
    assert (out / "data.yaml").read_text().count('"macrophage"') == 1
    assert result.counts.removed["class"] == Counter({1: 18, 2: 8, 3: 6, 6: 11, 7: 3})
    assert [c.name for c in result.counts.classes_removed] == [
        "erythrocyte",
        "ciliated columnar epithelial",
        "squamous epithelial",
        "neutrophil",
        "eosinophil",
    ]
    assert result.summary.report.notices["ids-compacted"] == 1  # ids 4, 5 -> YOLO 0, 1, said


def test_drop_classes_and_keep_class_list(tmp_path: Path) -> None:
    out = tmp_path / "dropped.json"
    result = cytoconv.filter_dataset(BALF_SAMPLE, out, to="coco", drop_classes=["erythrocyte", "eosinophil"])
    names, written, _ = _coco(out)
    assert names == {i: n for i, n in enumerate(NAMES, start=1) if n not in ("erythrocyte", "eosinophil")}
    assert _per_class(written) == _per_class(BALF) - Counter({"erythrocyte": 18, "eosinophil": 3})
    assert result.counts.removed["class"] == Counter({1: 18, 7: 3})
    kept = tmp_path / "kept.json"
    cytoconv.filter_dataset(BALF_SAMPLE, kept, to="coco", drop_classes="erythrocyte", keep_class_list=True)
    names, written, _ = _coco(kept)
    assert names == dict(enumerate(NAMES, start=1))
    assert _per_class(written)["erythrocyte"] == 0 and len(written) == 90


def test_split_keeps_the_images_of_those_splits(tmp_path: Path) -> None:
    splitted = tmp_path / "split"
    dataset, _ = cytoconv.split(BALF_SAMPLE, splitted, (0.6, 0.2, 0.2), seed=3)
    per_split = Counter(r.split for r in dataset.images)
    objects = Counter(r.split for r in dataset.images for _ in r.instances)
    options = ReadOptions(images=BALF_SAMPLE / "images")
    out = tmp_path / "val_test.json"
    result = cytoconv.filter_dataset(splitted, out, to="coco", splits="val,test,nosuch", read_options=options)
    _, written, data = _coco(out)
    assert len(data["images"]) == per_split["val"] + per_split["test"]
    assert len(written) == objects["val"] + objects["test"]
    assert result.counts.images_dropped == Counter({"split": per_split["train"]})
    assert sum(result.counts.removed["image"].values()) == objects["train"]
    assert result.counts.unmatched_splits == ["nosuch"]


def test_images_list_by_path_or_bare_name_and_the_names_matching_nothing(tmp_path: Path) -> None:
    listing = write(
        tmp_path / "keep.txt", "balf_003.jpg\n./balf_007.jpg\n\n# a comment\nmissing.jpg\nbalf_003.jpg\n"
    )
    out = tmp_path / "listed.json"
    result = cytoconv.filter_dataset(BALF_SAMPLE, out, to="coco", image_list=listing)
    _, written, data = _coco(out)
    assert [im["file_name"] for im in data["images"]] == ["balf_003.jpg", "balf_007.jpg"]
    assert sorted(written) == sorted(o for o in BALF if o[0] in ("balf_003.jpg", "balf_007.jpg"))
    assert result.counts.images_dropped == Counter({"list": 18})
    assert result.counts.unmatched_names == ["missing.jpg"]
    with pytest.raises(UsageError, match="no image names"):
        cytoconv.filter_dataset(
            BALF_SAMPLE, tmp_path / "x.json", image_list=write(tmp_path / "e.txt", "# none\n")
        )
    assert not (tmp_path / "x.json").exists()
    # file names with folders (a COCO file's): the relative path names one image, the bare name another
    coco = tmp_path / "nested.json"
    cytoconv.convert(BALF_SAMPLE, coco, to="coco")
    data = json.loads(coco.read_text())
    for im in data["images"]:
        im["file_name"] = "sub/" + im["file_name"]
    coco.write_text(json.dumps(data))
    result = cytoconv.filter_dataset(
        coco, tmp_path / "n.json", image_list=["sub/balf_001.jpg", "balf_002.jpg", "other/balf_003.jpg"]
    )
    _, _, nested = _coco(tmp_path / "n.json")
    assert [im["file_name"] for im in nested["images"]] == ["sub/balf_001.jpg", "sub/balf_002.jpg"]
    assert result.counts.unmatched_names == ["other/balf_003.jpg"]
    assert result.counts.images_dropped == Counter({"list": 18})


def test_empty_drop_counts_images_empty_in_the_source_apart_from_images_emptied(tmp_path: Path) -> None:
    emptied = {im for im, _, _ in BALF} - {im for im, _, a in BALF if a >= 3000}
    out = tmp_path / "big.json"
    result = cytoconv.filter_dataset(BALF_SAMPLE, out, to="coco", min_area=3000, empty="drop")
    _, written, data = _coco(out)
    images = {im["file_name"] for im in data["images"]}
    assert images == {im for im, _, a in BALF if a >= 3000}
    assert sorted(written) == sorted(o for o in BALF if o[2] >= 3000)
    assert result.counts.empty_source == 1  # one image of the sample has no objects
    assert result.counts.images_dropped == Counter({"empty": 1, "emptied": len(emptied)})
    assert result.summary.images == 20 - 1 - len(emptied) and result.summary.empty_images == 0
    kept = cytoconv.filter_dataset(BALF_SAMPLE, tmp_path / "keep.json", to="coco", min_area=3000)
    assert kept.summary.images == 20 and kept.summary.empty_images == 1 + len(emptied)
    assert kept.counts.emptied == len(emptied) and kept.counts.images_dropped == Counter()


def _chula_points() -> Counter[int]:
    """Points per class index of the Chula sample, from its label files (``x y class`` lines)."""
    counts: Counter[int] = Counter()
    for label in (real("chula_rbc12_points") / "Label").glob("*.txt"):
        counts.update(int(line.split()[2]) for line in label.read_text().splitlines() if line.strip())
    return counts


def test_points_by_class_keep_their_class_numbers_and_have_no_area(tmp_path: Path) -> None:
    source = real("chula_rbc12_points")
    points = _chula_points()
    out = tmp_path / "chula"
    result = cytoconv.filter_dataset(source, out, classes="class_3,class_8", min_area=50)
    back = cytoconv.read(out, "points-txt", ReadOptions(images=source / "Dataset"))
    got = Counter(i.category_id - 1 for r in back.images for i in r.instances)
    assert got == {3: points[3], 8: points[8]} == {3: 21, 8: 95}
    # the classes are named by number: the list stays whole, so class 8 is still written as 8
    assert [c.name for c in result.summary.categories] == [f"class_{k}" for k in range(13)]
    assert result.counts.no_area == Counter({4: 21, 9: 95})  # kept: a point has no area
    assert sum(result.counts.removed["area"].values()) == 0
    assert sum(result.counts.removed["class"].values()) == sum(points.values()) - 116
    with pytest.raises(
        UsageError, match=r"--classes 'rbc': no such class \(classes: named by number: class_0"
    ):
        cytoconv.filter_dataset(source, tmp_path / "x", classes="rbc")


def test_class_folders_drop_the_images_of_the_classes_left_out(tmp_path: Path) -> None:
    source = real("pbc_classfolders")
    labels = Counter(r.label for r in cytoconv.read(source).images)
    out = tmp_path / "two"
    result = cytoconv.filter_dataset(source, out, classes="basophil,platelet")
    back = cytoconv.read(out)
    assert sorted(c.name for c in back.categories) == ["basophil", "platelet"]
    assert Counter(back.category_names()[r.label] for r in back.images if r.label) == {
        "basophil": labels[1],
        "platelet": labels[8],
    }
    assert result.counts.images_dropped == Counter({"class": sum(labels.values()) - labels[1] - labels[8]})


def test_coco_to_coco_keeps_category_and_image_ids_whatever_the_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_UNITS", 0)  # worker processes even for 20 images
    source = tmp_path / "all.json"
    cytoconv.convert(BALF_SAMPLE, source, to="coco")
    original = json.loads(source.read_text())
    ids = {im["file_name"]: im["id"] for im in original["images"]}
    outs = []
    for jobs in (1, 3):
        out = tmp_path / f"f{jobs}.json"
        cytoconv.filter_dataset(
            source, out, drop_classes="lymphocyte", min_area=1000, empty="drop", jobs=jobs
        )
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    data = json.loads(outs[0])
    assert [c["id"] for c in data["categories"]] == [1, 2, 3, 4, 6, 7]
    assert all(ids[im["file_name"]] == im["id"] for im in data["images"])  # the source's ids, gaps left
    assert [a["id"] for a in data["annotations"]] == list(range(1, len(data["annotations"]) + 1))
    expected = [o for o in BALF if o[1] != "lymphocyte" and o[2] >= 1000]
    names = {v: k for k, v in ids.items()}
    got = [(names[a["image_id"]], NAMES[a["category_id"] - 1], int(a["area"])) for a in data["annotations"]]
    assert sorted(got) == sorted(expected)


def test_cli_summary_adds_up_per_class(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.json"
    code, _, err = run_cli(
        [
            "filter",
            str(BALF_SAMPLE),
            str(out),
            "--to",
            "coco",
            "--drop-classes",
            "eosinophil",
            "--min-area",
            str(MEDIAN),
            "--images",
            str(write(tmp_path / "l.txt", "balf_001.jpg\nballoon.jpg\n")),
        ],
        capsys,
    )
    assert code == 0, err
    assert "1 names of --images match no image: balloon.jpg" in err
    assert "left out of the class list: eosinophil" in err
    assert "20 images read, 19 dropped (list 19), 1 written" in err
    rows = [line.split("│") for line in err.splitlines() if line.count("│") == 6]
    rows = [row for row in rows if row[2].strip()]  # not a wrapped class name's second line
    for row in rows[1:]:
        read, by_class, by_area, image, written = (int(c.strip().replace(",", "")) for c in row[2:])
        assert read == by_class + by_area + image + written
    assert rows[-1][1].strip() == "all" and int(rows[-1][2]) == 108


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--classes", "macrophage,nosuch,other"],
            "--classes 'nosuch', 'other': no such class (classes: erythrocyte",
        ),
        (["--drop-classes", "Nope"], "--drop-classes 'Nope': no such class"),
        (["--classes", "a", "--drop-classes", "b"], "give --classes or --drop-classes, not both"),
        (["--min-area", "-1"], "--min-area must be a finite area of 0 or more, got -1"),
        (["--max-area", "nan"], "--max-area must be a finite area of 0 or more, got nan"),
        (["--min-area", "10", "--max-area", "5"], "--min-area 10 is above --max-area 5"),
        (["--pixel-size", "0.5"], "--pixel-size scales --min-area and --max-area to um2: give one of them"),
        (["--min-area", "1", "--pixel-size", "0"], "the pixel size must be a positive number of micrometres"),
        (["--images", "no-such-list.txt"], "--images no-such-list.txt: no such file"),
        (["--images", str(BALF_SAMPLE / "images")], "a folder; filter's --images is a file of image names"),
        (["--empty", "maybe"], "maybe"),
    ],
)
def test_usage_errors_exit_2_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "out.json"
    code, out_text, err = run_cli(["filter", str(BALF_SAMPLE), str(out), "--to", "coco", *args], capsys)
    assert code == 2, err
    assert message in err
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert out_text == ""


def test_the_step_and_the_writer_pickle_for_spawned_workers(tmp_path: Path) -> None:
    """Under spawn (no fork: macOS, Windows) the pool pickles the loader and the writer into each worker."""
    import pickle

    from cytoconv import api
    from cytoconv.errors import Report
    from cytoconv.formats import lookup
    from cytoconv.ops.filter import FilteredWriter, build_step
    from cytoconv.ops.resample import TransformedLoader

    for source in (BALF_SAMPLE, real("chula_rbc12_points")):
        _, module, plan = api.open_source(source, None, ReadOptions(), Report())
        step, categories, counts, final = build_step(plan, min_area=10, image_list=("1.jpg",), empty="drop")
        inner = lookup("coco")[0].writer()(tmp_path / "o.json", categories, None, WriteOptions(), Report())
        for thing in (TransformedLoader(module.load, step), FilteredWriter(inner, counts, final)):
            assert type(pickle.loads(pickle.dumps(thing))) is type(thing)


def test_cli_points_and_an_area_filter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "chula.json"
    code, _, err = run_cli(
        ["filter", str(real("chula_rbc12_points")), str(out), "--to", "coco", "--min-area", "100"], capsys
    )
    assert code == 0, err
    assert "1,730 points kept by the area filter: a point has no area" in err
    assert len(json.loads(out.read_text())["annotations"]) == 1730
