"""Round trips compared by coordinates, and outputs loaded by the real consumer (pycocotools)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

import cytoconv
from cytoconv.engine.contract import ReadOptions
from cytoconv.errors import Report
from cytoconv.formats.yolo.reader import parse_text
from tests.conftest import BALF_SAMPLE


def _yolo_lines(folder: Path) -> dict[str, list[tuple[int, np.ndarray]]]:
    out = {}
    for f in sorted(folder.rglob("*.txt")):
        out[f.stem] = [(ln.class_index, ln.values) for ln in parse_text(f.read_text(), str(f), Report())]
    return out


def test_yolo_to_coco_loads_in_pycocotools_with_exact_areas(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    summary = cytoconv.convert(BALF_SAMPLE, out, to="coco", jobs=1)
    assert summary.images == 20 and summary.empty_images == 1
    coco = COCO(str(out))
    anns = coco.dataset["annotations"]
    assert len(anns) == sum(summary.instances.values()) == 108
    assert [a["id"] for a in anns] == list(range(1, 109))
    assert sorted(coco.getImgIds()) == list(range(1, 21))
    assert [c["name"] for c in coco.dataset["categories"]][:2] == [
        "erythrocyte",
        "ciliated columnar epithelial",
    ]
    assert [c["id"] for c in coco.dataset["categories"]] == list(range(1, 8))
    for ann in anns:
        assert coco.annToMask(ann).sum() == ann["area"] > 0
        assert ann["iscrowd"] == 0
        xs, ys = ann["segmentation"][0][0::2], ann["segmentation"][0][1::2]
        assert ann["bbox"] == pytest.approx([min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)])
    image = coco.loadImgs(1)[0]
    assert (image["file_name"], image["width"], image["height"]) == ("balf_001.jpg", 853, 640)


def test_yolo_coco_yolo_same_normalised_numbers(tmp_path: Path) -> None:
    cytoconv.convert(BALF_SAMPLE, tmp_path / "c.json", to="coco", jobs=1)
    cytoconv.convert(tmp_path / "c.json", tmp_path / "y", to="yolo", jobs=1)
    before, after = _yolo_lines(BALF_SAMPLE / "labels"), _yolo_lines(tmp_path / "y" / "labels")
    assert before.keys() == after.keys()
    for stem, lines in before.items():
        assert [c for c, _ in lines] == [c for c, _ in after[stem]]
        for (_, a), (_, b) in zip(lines, after[stem]):
            np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
    data_yaml = (tmp_path / "y" / "data.yaml").read_text()
    assert '0: "erythrocyte"' in data_yaml and "nc: 7" in data_yaml


def test_coco_yolo_coco_same_boxes_areas_and_names(tmp_path: Path) -> None:
    cytoconv.convert(BALF_SAMPLE, tmp_path / "a.json", to="coco", jobs=1)
    cytoconv.convert(tmp_path / "a.json", tmp_path / "y", to="yolo", jobs=1)
    cytoconv.convert(
        tmp_path / "y",
        tmp_path / "b.json",
        to="coco",
        jobs=1,
        read_options=ReadOptions(image_size=(853, 640)),
    )
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert [c["name"] for c in a["categories"]] == [c["name"] for c in b["categories"]]
    assert len(a["annotations"]) == len(b["annotations"])
    for x, y in zip(a["annotations"], b["annotations"]):
        assert x["category_id"] == y["category_id"]
        assert y["bbox"] == pytest.approx(x["bbox"], abs=1e-3)
        assert y["area"] == x["area"]


def test_read_write_read_in_memory(tmp_path: Path) -> None:
    ds = cytoconv.read(BALF_SAMPLE)
    cytoconv.write(ds, tmp_path / "c.json", to="coco")
    back = cytoconv.read(tmp_path / "c.json")
    assert [im.file_name for im in back.images] == [im.file_name for im in ds.images]
    for im_a, im_b in zip(ds.images, back.images):
        for ia, ib in zip(im_a.instances, im_b.instances):
            assert ia.category_id == ib.category_id
            np.testing.assert_array_equal(ia.geometry.rings[0], ib.geometry.rings[0])  # type: ignore[union-attr]


def test_parallel_output_is_byte_identical(tmp_path: Path) -> None:
    from tests.conftest import yolo_dataset

    labels = {f"im{k:04d}": f"{k % 3} 0.1 0.1 0.{k % 9 + 1} 0.2 0.3 0.{k % 7 + 2}\n" for k in range(700)}
    root = yolo_dataset(tmp_path / "ds", labels, names=["a", "b", "c"])
    cytoconv.convert(root, tmp_path / "one.json", to="coco", jobs=1)
    cytoconv.convert(root, tmp_path / "two.json", to="coco", jobs=2)
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "two.json").read_bytes()


@pytest.mark.parametrize("entry", ["", "labels", "data.yaml"])
def test_labels_folder_root_and_data_yaml_give_the_same_coco(tmp_path: Path, entry: str) -> None:
    cytoconv.convert(BALF_SAMPLE, tmp_path / "root.json", to="coco", jobs=1)
    cytoconv.convert(BALF_SAMPLE / entry, tmp_path / "other.json", to="coco", jobs=1)
    assert (tmp_path / "root.json").read_bytes() == (tmp_path / "other.json").read_bytes()
