"""COCO as the downloads and exports lay it out, read without ``--from`` and checked against pycocotools.

The files are shaped like the originals: the COCO 2017 download (``annotations/instances_val2017.json`` with
``info, licenses, images, annotations, categories`` in that order, image entries with ``license``,
``coco_url``, ``date_captured``, ``flickr_url``, 12-digit ``file_name``, images in ``val2017/``; crowd objects
as uncompressed RLE; ``person_keypoints_val2017.json`` and ``captions_val2017.json`` beside), the same with the
images under ``images/val2017/``, a Roboflow export (the vendored ``rbc_coco_roboflow``) and a panoptic file.
Every command (``convert``, ``stats``, ``draw``, ``validate``) must run on each without ``--from``, with counts,
ids and coordinates equal to what pycocotools' ``COCO`` reads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_api
from pycocotools.coco import COCO

from cytoconv.formats import LAYOUT, detect
from cytoconv.formats.coco.reader import detect as coco_detect
from tests.conftest import run_cli

ROBOFLOW = Path(__file__).parent / "assets" / "real" / "rbc_coco_roboflow"

WIDTH, HEIGHT = 64, 48
INFO = {
    "description": "COCO 2017 Dataset",
    "url": "http://cocodataset.org",
    "version": "1.0",
    "year": 2017,
    "contributor": "COCO Consortium",
    "date_created": "2017/09/01",
}
LICENSES = [
    {
        "url": "http://creativecommons.org/licenses/by-nc-sa/2.0/",
        "id": 1,
        "name": "Attribution-NonCommercial-ShareAlike License",
    },
    {"url": "http://creativecommons.org/licenses/by/2.0/", "id": 4, "name": "Attribution License"},
]
CATEGORIES = [
    {"supercategory": "person", "id": 1, "name": "person"},
    {"supercategory": "animal", "id": 18, "name": "dog"},
    {"supercategory": "kitchen", "id": 44, "name": "bottle"},
]
KEYPOINT_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
    "left_ankle", "right_ankle"]  # fmt: skip
SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
    [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]  # fmt: skip
IMAGE_IDS = (397133, 37777)


def _image_entry(image_id: int, split: str = "val2017") -> dict[str, Any]:
    name = f"{image_id:012d}.jpg"
    return {
        "license": 4,
        "file_name": name,
        "coco_url": f"http://images.cocodataset.org/{split}/{name}",
        "height": HEIGHT,
        "width": WIDTH,
        "date_captured": "2013-11-14 17:02:52",
        "flickr_url": "http://farm7.staticflickr.com/6116/6255196340_da26cf2c9e_z.jpg",
        "id": image_id,
    }


def _crowd_mask() -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    mask[30:44, 4:30] = 1
    mask[34:38, 10:14] = 0  # a hole, as crowd masks have
    return mask


def _uncompressed(mask: np.ndarray) -> dict[str, Any]:
    """An RLE with a list of counts, as COCO writes crowd objects (column-major runs, zeros first)."""
    flat = mask.flatten(order="F")
    counts, value, run = [], 0, 0
    for pixel in flat:
        if pixel != value:
            counts.append(run)
            value, run = pixel, 0
        run += 1
    counts.append(run)
    return {"counts": counts, "size": [HEIGHT, WIDTH]}


def _annotations() -> list[dict[str, Any]]:
    """COCO's own key order; polygons, a two-part polygon and a crowd RLE (uncompressed counts)."""
    crowd = _uncompressed(_crowd_mask())
    crowd_area = float(mask_api.area(mask_api.frPyObjects(crowd, HEIGHT, WIDTH)))
    crowd_box = [float(v) for v in mask_api.toBbox(mask_api.frPyObjects(crowd, HEIGHT, WIDTH))]
    return [
        {"segmentation": [[10.5, 5.25, 30.0, 5.0, 30.0, 20.75, 10.0, 20.0]], "area": 302.1, "iscrowd": 0,
         "image_id": 397133, "bbox": [10.0, 5.0, 20.0, 15.75], "category_id": 18, "id": 1768},
        {"segmentation": [[40.0, 2.0, 50.0, 2.0, 45.0, 12.0], [52.0, 20.0, 60.0, 20.0, 56.0, 28.0]],
         "area": 82.0, "iscrowd": 0, "image_id": 397133, "bbox": [40.0, 2.0, 20.0, 26.0], "category_id": 44,
         "id": 1769},
        {"segmentation": crowd, "area": crowd_area, "iscrowd": 1, "image_id": 397133, "bbox": crowd_box,
         "category_id": 1, "id": 900100397133},
        {"segmentation": [[2.0, 2.0, 20.0, 2.0, 20.0, 30.0, 2.0, 30.0]], "area": 504.0, "iscrowd": 0,
         "image_id": 37777, "bbox": [2.0, 2.0, 18.0, 28.0], "category_id": 1, "id": 183020},
    ]  # fmt: skip


def _dump(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def _images(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for image_id in IMAGE_IDS:
        Image.new("RGB", (WIDTH, HEIGHT), (90, 120, 150)).save(folder / f"{image_id:012d}.jpg", quality=90)


def coco2017(root: Path, images_under: str = "val2017") -> Path:
    """The COCO 2017 download, cut down: annotations/{instances,person_keypoints,captions}_val2017.json and
    the images in ``images_under`` (``val2017`` as downloaded, or ``images/val2017``)."""
    images = [_image_entry(i) for i in IMAGE_IDS]
    _dump(
        root / "annotations" / "instances_val2017.json",
        {"info": INFO, "licenses": LICENSES, "images": images, "annotations": _annotations(),
         "categories": CATEGORIES},
    )  # fmt: skip
    keypoints = [0] * 51
    keypoints[0:3] = [11, 8, 2]  # the nose, visible
    _dump(
        root / "annotations" / "person_keypoints_val2017.json",
        {"info": INFO, "licenses": LICENSES, "images": images,
         "annotations": [{"segmentation": [[2.0, 2.0, 20.0, 2.0, 20.0, 30.0, 2.0, 30.0]], "num_keypoints": 1,
                          "area": 504.0, "iscrowd": 0, "keypoints": keypoints, "image_id": 37777,
                          "bbox": [2.0, 2.0, 18.0, 28.0], "category_id": 1, "id": 183020}],
         "categories": [{"supercategory": "person", "id": 1, "name": "person", "keypoints": KEYPOINT_NAMES,
                         "skeleton": SKELETON}]},
    )  # fmt: skip
    _dump(
        root / "annotations" / "captions_val2017.json",
        {"info": INFO, "licenses": LICENSES, "images": images,
         "annotations": [{"image_id": 397133, "id": 370509, "caption": "A man is in a kitchen making pizzas."}]},
    )  # fmt: skip
    _images(root / images_under)
    return root


def panoptic(root: Path) -> Path:
    """``annotations/panoptic_val2017.json`` as the panoptic download has it: per image a PNG and its
    ``segments_info``."""
    return _dump(
        root / "annotations" / "panoptic_val2017.json",
        {"info": INFO, "licenses": LICENSES, "images": [_image_entry(i) for i in IMAGE_IDS],
         "annotations": [{"segments_info": [{"id": 3226956, "category_id": 1, "iscrowd": 0,
                                             "bbox": [2, 2, 18, 28], "area": 504}],
                          "file_name": "000000397133.png", "image_id": 397133}],
         "categories": [{"supercategory": "person", "isthing": 1, "id": 1, "name": "person"}]},
    )  # fmt: skip


def _pycoco(path: Path) -> COCO:
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints its progress
        return COCO(str(path))


def _objects(coco: COCO) -> dict[str, list[tuple[int, int, str]]]:
    """file_name -> sorted (category id, iscrowd, geometry) of its objects: the mask as pycocotools
    rasterises it, or the bbox of a box-only object (``segmentation: []``, which pycocotools cannot raster)."""
    out: dict[str, list[tuple[int, int, str]]] = {}
    for image in coco.dataset["images"]:
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]], iscrowd=None))
        out[image["file_name"]] = sorted(
            (
                a["category_id"],
                int(a["iscrowd"]),
                coco.annToMask(a).tobytes().hex()
                if a["segmentation"]
                else repr([float(v) for v in a["bbox"]]),
            )
            for a in anns
        )
    return out


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run_cli([os.fspath(a) for a in args], capsys)


# ---------------------------------------------------------------------------------------------
# Detection


def test_the_coco_layouts_are_layout_evidence(tmp_path: Path) -> None:
    root = coco2017(tmp_path / "coco")
    for path in (root, root / "annotations", root / "annotations" / "instances_val2017.json"):
        evidence = coco_detect(path)
        assert evidence is not None and evidence.strength == LAYOUT, path
        assert detect(path).name == "coco"
    for path in (ROBOFLOW, ROBOFLOW / "test" / "_annotations.coco.json"):
        evidence = coco_detect(path)
        assert evidence is not None and evidence.strength == LAYOUT, path
        assert detect(path).name == "coco"
    lone = _dump(
        tmp_path / "lone" / "cells.json",
        json.loads((root / "annotations" / "instances_val2017.json").read_text()),
    )
    evidence = coco_detect(lone)
    assert evidence is not None and evidence.strength == LAYOUT - 1  # CONTENT
    assert detect(lone).name == "coco"


# ---------------------------------------------------------------------------------------------
# The COCO 2017 download: convert, stats, draw, validate without --from


@pytest.mark.parametrize("images_under", ["val2017", "images/val2017"])
def test_coco2017_converts_as_pycocotools_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], images_under: str
) -> None:
    root = coco2017(tmp_path / "coco", images_under)
    out = tmp_path / "out.json"
    code, _, err = _cli(["convert", root, out, "--to", "coco", "--segmentation", "polygon"], capsys)
    assert code == 0, err
    source, written = _pycoco(root / "annotations" / "instances_val2017.json"), _pycoco(out)
    assert _objects(written) == _objects(source)  # same images, classes, crowd flags and pixels
    assert sorted(written.cats) == [1, 18, 44]
    # the polygons' coordinates are written as they were read
    dog = written.loadAnns(written.getAnnIds(catIds=[18]))[0]
    assert dog["segmentation"] == [[10.5, 5.25, 30.0, 5.0, 30.0, 20.75, 10.0, 20.0]]
    assert dog["bbox"] == [10.0, 5.0, 20.0, 15.75]
    # the images are where file_name says, relative to the folder draw, crop and resample use
    assert sorted(i["file_name"] for i in written.dataset["images"]) == [
        "000000037777.jpg",
        "000000397133.jpg",
    ]
    assert "noticed 2 x file-not-read" in err  # captions, and the keypoints beside instances_*
    assert "noticed 1 x rle-as-polygon" in err  # the crowd RLE, traced: its pixels are compared above
    assert "noticed 1 x holes-bridged" in err


def test_coco2017_stats_counts_as_pycocotools(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = coco2017(tmp_path / "coco")
    code, out, err = _cli(["stats", root, "--json"], capsys)
    assert code == 0, err
    figures = json.loads(out)
    source = _pycoco(root / "annotations" / "instances_val2017.json")
    assert figures["format"] == "coco"
    assert figures["total"]["images"] == len(source.imgs) == 2
    assert {c["id"]: c["count"] for c in figures["total"]["classes"]} == {
        cid: len(source.getAnnIds(catIds=[cid], iscrowd=None)) for cid in source.cats
    }
    assert figures["total"]["geometry"] == {"polygon": 3, "box": 0, "rle": 1, "point": 0}


@pytest.mark.parametrize("images_under", ["val2017", "images/val2017"])
def test_coco2017_draws_its_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], images_under: str
) -> None:
    root = coco2017(tmp_path / "coco", images_under)
    code, _, err = _cli(["draw", root, tmp_path / "drawn"], capsys)
    assert code == 0, err
    assert "drew 2 of 2 images" in err
    assert sorted(p.name for p in (tmp_path / "drawn").rglob("*.png")) == [
        "000000037777.png",
        "000000397133.png",
    ]


@pytest.mark.parametrize("images_under", ["val2017", "images/val2017"])
def test_coco2017_validates_with_its_images_paired(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], images_under: str
) -> None:
    root = coco2017(tmp_path / "coco", images_under)
    code, out, _ = _cli(["validate", root, "--format", "json"], capsys)
    assert code == 0
    assert [(f["code"], f["annotation_id"]) for f in json.loads(out)["findings"]] == [("CC608", 900100397133)]
    (root / images_under / "000000037777.jpg").unlink()  # a missing image is still found, once
    code, out, _ = _cli(["validate", root, "--format", "json"], capsys)
    findings = [(f["code"], f["image_id"]) for f in json.loads(out)["findings"] if f["code"] != "CC608"]
    assert findings == [("CC402", 37777)]


def test_coco2017_crops_and_resamples_its_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The image folder is in the plan, so every command that opens the images finds them."""
    root = coco2017(tmp_path / "coco", "images/val2017")
    code, _, err = _cli(["crop", root, tmp_path / "crops"], capsys)
    assert code == 0, err
    assert "4 crops in" in err
    code, _, err = _cli(["resample", root, tmp_path / "x2.json", "--scale", "2", "--resize-images"], capsys)
    assert code == 0, err
    resized = sorted((tmp_path / "x2_images").rglob("*.jpg"))
    assert [p.name for p in resized] == ["000000037777.jpg", "000000397133.jpg"]
    assert {Image.open(p).size for p in resized} == {(2 * WIDTH, 2 * HEIGHT)}


def test_one_images_root_for_every_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Annotations in one place, ``--images ROOT`` holding ``images/train2017`` and ``images/val2017``."""
    root = coco2017(tmp_path / "coco", "pictures/images/val2017")
    doc = json.loads((root / "annotations" / "instances_val2017.json").read_text())
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps(doc))
    train = root / "pictures" / "images" / "train2017"
    train.mkdir(parents=True)
    for image in (root / "pictures" / "images" / "val2017").iterdir():
        (train / image.name).write_bytes(image.read_bytes())
    code, _, err = _cli(
        ["draw", root / "annotations", tmp_path / "drawn", "--images", root / "pictures"], capsys
    )
    assert code == 0, err
    assert sorted(p.relative_to(tmp_path / "drawn").as_posix() for p in (tmp_path / "drawn").rglob("*.png")) == [
        "train2017/000000037777.png", "train2017/000000397133.png",
        "val2017/000000037777.png", "val2017/000000397133.png",
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Roboflow: <split>/_annotations.coco.json beside the images


def test_roboflow_export_every_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    code, _, err = _cli(["convert", ROBOFLOW, out, "--to", "coco"], capsys)
    assert code == 0, err
    written = _objects(_pycoco(out))
    expected: dict[str, list[tuple[int, int, str]]] = {}
    for split in ("test", "valid"):
        for name, objects in _objects(_pycoco(ROBOFLOW / split / "_annotations.coco.json")).items():
            expected[f"{split}/{name}"] = objects
    assert written == expected
    code, stats_out, err = _cli(["stats", ROBOFLOW, "--json"], capsys)
    assert code == 0, err
    assert json.loads(stats_out)["total"]["images"] == len(expected) == 30
    code, _, err = _cli(["draw", ROBOFLOW, tmp_path / "drawn"], capsys)
    assert code == 0 and "drew 30 of 30 images" in err, err
    code, report, _ = _cli(["validate", ROBOFLOW, "--format", "json"], capsys)
    assert code == 0
    assert not [f for f in json.loads(report)["findings"] if f["code"] in ("CC402", "CC403")]


# ---------------------------------------------------------------------------------------------
# Panoptic, keypoints, crowd


def test_panoptic_is_refused_in_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = panoptic(tmp_path / "pan")
    code, _, err = _cli(["convert", tmp_path / "pan", tmp_path / "out.json", "--to", "coco"], capsys)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0]
    assert "COCO panoptic" in lines[0] and "not supported" in lines[0]
    assert not (tmp_path / "out.json").exists()
    code, out, _ = _cli(["validate", path, "--format", "json"], capsys)
    assert code != 0
    assert [(f["code"], "panoptic" in f["message"]) for f in json.loads(out)["findings"]] == [("CC003", True)]


def test_keypoints_are_named_when_dropped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = coco2017(tmp_path / "coco")
    source = root / "annotations" / "person_keypoints_val2017.json"
    code, _, err = _cli(["convert", source, tmp_path / "out.json", "--to", "coco"], capsys)
    assert code == 0, err
    assert (
        "noticed 4 x field-dropped (e.g. " + str(source) + ": fields not kept: annotations.keypoints (1), "
        "annotations.num_keypoints (1), categories.keypoints (1), categories.skeleton (1))"
    ) in err
    assert _objects(_pycoco(tmp_path / "out.json")) == _objects(_pycoco(source))


def test_crowd_is_carried_and_rle_kept_on_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import cytoconv

    root = coco2017(tmp_path / "coco")
    dataset = cytoconv.read(root)
    crowd = [i for r in dataset.images for i in r.instances if i.iscrowd]
    assert len(crowd) == 1 and crowd[0].category_id == 1 and crowd[0].geometry.kind == "rle"
    out = tmp_path / "out.json"
    code, _, err = _cli(["convert", root, out, "--to", "coco", "--segmentation", "rle"], capsys)
    assert code == 0, err
    assert "noticed 3 x polygon-as-rle" in err
    written = _pycoco(out)
    assert all(isinstance(a["segmentation"], dict) for a in written.dataset["annotations"])
    assert _objects(written) == _objects(_pycoco(root / "annotations" / "instances_val2017.json"))
    (ann,) = written.loadAnns(written.getAnnIds(iscrowd=True))
    assert ann["iscrowd"] == 1 and ann["area"] == int(_crowd_mask().sum())
    # the default (auto) writes each object as read: the crowd RLE stays RLE, the polygons stay polygons
    kept = tmp_path / "kept.json"
    code, _, err = _cli(["convert", root, kept, "--to", "coco"], capsys)
    assert code == 0, err
    assert "rle-as-polygon" not in err and "polygon-as-rle" not in err
    as_read = _pycoco(kept)
    kinds = sorted(type(a["segmentation"]).__name__ for a in as_read.dataset["annotations"])
    assert kinds == ["dict", "list", "list", "list"]
    assert _objects(as_read) == _objects(_pycoco(root / "annotations" / "instances_val2017.json"))


# ---------------------------------------------------------------------------------------------
# The summary's path


def test_a_long_output_path_is_printed_whole(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = coco2017(tmp_path / "coco")
    deep = tmp_path / ("a" * 60) / ("b" * 60)
    out = deep / ("c" * max(1, 150 - len(str(deep)) - 6) + ".json")
    done = subprocess.run(
        [sys.executable, "-m", "cytoconv", "convert", str(root), str(out), "--to", "coco"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80", "TERM": "xterm"},
    )
    assert done.returncode == 0, done.stderr
    assert len(str(out)) >= 150
    assert f"wrote {out}" in done.stderr.splitlines()
