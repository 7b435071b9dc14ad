"""The real public samples in ../shared/real through the readers and writers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from pycocotools.coco import COCO

import cytoconv
from cytoconv.errors import Report
from tests.conftest import real


def test_roboflow_yolov8_seg_all_splits_and_residue_reported(tmp_path: Path) -> None:
    report = Report()
    summary = cytoconv.convert(
        real("cell_seg_yolov8_roboflow"), tmp_path / "c.json", to="coco", report=report
    )
    assert summary.images == 9
    assert summary.instances == {1: 374}
    assert report.notices["junk-skipped"] >= 4  # __MACOSX/ and three .DS_Store
    assert any("__MACOSX" in e for e in report.examples["junk-skipped"])
    coco = COCO(str(tmp_path / "c.json"))
    assert len(coco.dataset["annotations"]) == 374
    for ann in coco.dataset["annotations"]:
        assert coco.annToMask(ann).sum() == ann["area"]
    names = {im["file_name"].split("/")[0] for im in coco.dataset["images"]}
    assert names == {"train", "valid", "test"}


def test_txl_pbc_boxes_each_image_its_own_size(tmp_path: Path) -> None:
    root = real("txl_pbc_yolo") / "TXL_PBC"
    report = Report()
    summary = cytoconv.convert(root, tmp_path / "c.json", to="coco", report=report)
    assert sum(summary.instances.values()) == 699
    assert summary.instances == {1: 42, 2: 644, 3: 13}
    assert report.notices["duplicate-line"] == 20 + 16
    assert report.notices["names-disagree"] == 1
    data = json.loads((tmp_path / "c.json").read_text())
    sizes = {(im["width"], im["height"]) for im in data["images"]}
    assert sizes == {(360, 363), (575, 575), (416, 416), (640, 480), (366, 369)}
    for im in data["images"]:
        with Image.open(root / "images" / "test" / im["file_name"]) as pil:
            assert pil.size == (im["width"], im["height"])
    assert [c["name"] for c in data["categories"]] == ["WBC", "RBC", "Platelets"]


def test_rbc_coco_to_yolo_boxes_and_back_loses_no_box(tmp_path: Path) -> None:
    src = real("rbc_coco_roboflow")
    summary = cytoconv.convert(src, tmp_path / "y", to="yolo-det")
    assert summary.images == 30 and summary.instances == {1: 662, 2: 29}
    back = cytoconv.convert(
        tmp_path / "y", tmp_path / "b.json", to="coco", read_options=cytoconv.api.ReadOptions(images=src)
    )
    assert sum(back.instances.values()) == 691
    original = {}
    for split in ("test", "valid"):
        data = json.loads((src / split / "_annotations.coco.json").read_text())
        names = {c["id"]: c["name"] for c in data["categories"]}
        files = {im["id"]: im["file_name"] for im in data["images"]}
        for a in data["annotations"]:
            original.setdefault(files[a["image_id"]], []).append((names[a["category_id"]], a["bbox"]))
    out = json.loads((tmp_path / "b.json").read_text())
    names = {c["id"]: c["name"] for c in out["categories"]}
    files = {im["id"]: im["file_name"].rsplit("/", 1)[-1] for im in out["images"]}
    got: dict[str, list[tuple[str, list[float]]]] = {}
    for a in out["annotations"]:
        got.setdefault(files[a["image_id"]], []).append((names[a["category_id"]], a["bbox"]))
    assert got.keys() == original.keys()
    for name, boxes in original.items():
        assert [n for n, _ in got[name]] == [n for n, _ in boxes]
        for (_, b1), (_, b2) in zip(boxes, got[name]):
            assert b2 == pytest.approx(b1, abs=1e-3)


def test_roboflow_data_yaml_with_paths_outside_the_folder(tmp_path: Path) -> None:
    """Roboflow writes ``train: ../train/images``; the folders are found beside data.yaml instead."""
    summary = cytoconv.convert(real("cell_seg_yolov8_roboflow") / "data.yaml", tmp_path / "c.json", to="coco")
    assert summary.images == 9 and summary.instances == {1: 374}
