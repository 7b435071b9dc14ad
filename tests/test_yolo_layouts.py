"""Real-world YOLO layouts (issue 13): each download or export read without flags as the tool lays it out, and
each YOLO output laid out as ultralytics' ``check_det_dataset`` and ``img2label_paths`` load it.

Inputs are shaped as the tools write them: an ultralytics dataset (``coco8``: ``data.yaml`` with
``path: ../datasets/coco8``, names as a dict, README/LICENSE beside), a Roboflow YOLOv8 export (the vendored
sample), a CVAT "YOLO 1.1" export (``obj.data``, ``obj.names``, ``train.txt``, ``obj_train_data/``), the PBC
class folders unzipped beside a licence, and the COCO 2017 download layout (``annotations/instances_train2017
.json`` + ``train2017/``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import make_image, real, write

from cytoconv import api
from cytoconv.engine.contract import ReadOptions, WriteOptions
from cytoconv.errors import FormatError, Report
from cytoconv.formats import GUESS, LAYOUT, candidates, detect
from cytoconv.formats.yolo.writer import YoloWriter, split_key


def _coco8(root: Path) -> Path:
    """coco8 as ultralytics ships it: datasets/coco8/{images,labels}/{train,val}, LICENSE, README.md; the
    data.yaml (from ultralytics/cfg/datasets) placed at the dataset's top with its ``path`` unchanged."""
    ds = root / "datasets" / "coco8"
    make_image(ds / "images" / "train" / "000000000009.jpg", 64, 48)
    make_image(ds / "images" / "val" / "000000000036.jpg", 40, 50)
    write(ds / "labels" / "train" / "000000000009.txt", "0 0.5 0.5 0.25 0.5\n1 0.25 0.25 0.1 0.1\n")
    write(ds / "labels" / "val" / "000000000036.txt", "1 0.5 0.5 0.5 0.5\n")
    write(ds / "LICENSE", "GNU AFFERO GENERAL PUBLIC LICENSE\n")
    write(ds / "README.txt", "Ultralytics COCO8 dataset: the first 8 images of COCO train2017.\n")
    write(ds / "labels" / "README.txt", "one .txt per image, class cx cy w h\n")
    write(
        ds / "data.yaml",
        "path: ../datasets/coco8\ntrain: images/train\nval: images/val\ntest:\n\nnames:\n  0: person\n  1: bicycle\n",
    )
    return ds


def _cvat_yolo11(root: Path, with_valid: bool = True) -> Path:
    """A CVAT "YOLO 1.1" export with images (docs.cvat.ai, format-yolo): obj.data, obj.names, train.txt
    listing ``data/obj_train_data/<image>``, labels beside the images in obj_<subset>_data/."""
    write(root / "obj.names", "rbc\nwbc\nplatelet\n")
    lines = ["classes = 3", "train = data/train.txt", "names = data/obj.names", "backup = backup/"]
    if with_valid:
        lines.insert(2, "valid = data/valid.txt")
    write(root / "obj.data", "\n".join(lines) + "\n")
    make_image(root / "obj_train_data" / "frame_000000.jpg", 100, 50)
    make_image(root / "obj_train_data" / "frame_000001.jpg", 100, 50)
    write(root / "obj_train_data" / "frame_000000.txt", "0 0.5 0.5 0.2 0.4\n2 0.1 0.1 0.1 0.1\n")
    write(root / "obj_train_data" / "frame_000001.txt", "")
    write(root / "train.txt", "data/obj_train_data/frame_000000.jpg\ndata/obj_train_data/frame_000001.jpg\n")
    if with_valid:
        make_image(root / "obj_valid_data" / "frame_000000.jpg", 60, 60)
        write(root / "obj_valid_data" / "frame_000000.txt", "1 0.5 0.5 0.5 0.5\n")
        write(root / "valid.txt", "data/obj_valid_data/frame_000000.jpg\n")
    return root


def _coco2017(root: Path, splits: tuple[str, ...] = ("train2017", "val2017"), crowd: bool = False) -> Path:
    """The COCO 2017 download layout: annotations/instances_<split>.json beside <split>/ images, ids 1..N."""
    categories = [
        {"id": 1, "name": "rbc", "supercategory": "cell"},
        {"id": 2, "name": "wbc", "supercategory": "cell"},
    ]
    for k, split in enumerate(splits):
        name = f"{k + 1:012d}.jpg"
        make_image(root / split / name, 100, 80)
        annotations = [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 40], "area": 1200, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [50, 10, 20, 20], "area": 400, "iscrowd": 0},
        ]
        if crowd:
            rle = {"counts": [800, 100, 7100], "size": [80, 100]}
            annotations.append(
                {
                    "id": 3,
                    "image_id": 1,
                    "category_id": 1,
                    "segmentation": rle,
                    "bbox": [10, 0, 2, 80],
                    "area": 100,
                    "iscrowd": 1,
                }
            )
        coco = {
            "images": [{"id": 1, "file_name": name, "width": 100, "height": 80}],
            "annotations": annotations,
            "categories": categories,
        }
        write(root / "annotations" / f"instances_{split}.json", json.dumps(coco))
    return root


def _yaml(dest: Path) -> dict[str, object]:
    data = yaml.safe_load((dest / "data.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _ultralytics_resolve(data_yaml: Path) -> dict[str, list[Path]]:
    """What ultralytics' check_det_dataset does with path/train/val/test, and img2label_paths with each image:
    ``path`` null: the YAML's folder (a relative one is taken against the working directory); each key a folder (or a list) below it, with
    a leading ``../`` dropped when that does not exist; a label is the image path with its last ``/images/``
    made ``/labels/`` and ``.txt``. Returns key -> the label files ultralytics would open."""
    data = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    assert "train" in data and "val" in data and "names" in data
    assert data["path"] is None, "a relative path is resolved against the working directory, not the YAML"
    base = data_yaml.parent.resolve()
    found: dict[str, list[Path]] = {}
    for key in ("train", "val", "test"):
        value = data.get(key)
        if not value:
            continue
        labels: list[Path] = []
        for entry in value if isinstance(value, list) else [value]:
            folder = (base / entry).resolve()
            if not folder.exists() and entry.startswith("../"):
                folder = (base / entry[3:]).resolve()
            assert folder.is_dir(), folder
            for image in sorted(p for p in folder.rglob("*.*") if p.suffix in (".jpg", ".png")):
                head, _, tail = str(image).rpartition("/images/")
                labels.append(Path(f"{head}/labels/{tail}").with_suffix(".txt"))
        found[key] = labels
    return found


# ---------------------------------------------------------------------------------------------
# Detection (item 16)


def test_pbc_unzipped_beside_its_licence_reads_as_the_class_folders_one_level_down(tmp_path: Path) -> None:
    src = tmp_path / "PBC"
    shutil.copytree(real("pbc_classfolders") / "PBC_dataset_normal_DIB", src / "PBC_dataset_normal_DIB")
    write(src / "LICENSE.txt", "Creative Commons Attribution 4.0\n")
    assert detect(src).name == "folders"
    assert [info.name for info, _ in candidates(src)] == ["folders"]  # YOLO says nothing for a lone licence
    report = Report()
    dataset = api.read(src, options=ReadOptions(), report=report)
    inner = api.read(src / "PBC_dataset_normal_DIB")
    assert len(dataset.images) == len(inner.images) == 44  # 45 files, one hidden (.DS_169665.jpg)
    assert [c.name for c in dataset.categories] == [c.name for c in inner.categories]
    assert sorted(r.file_name for r in dataset.images) == sorted(r.file_name for r in inner.images)
    assert report.notices["outside-class-folder"] == 1
    assert report.examples["outside-class-folder"][0].startswith(str((src / "LICENSE.txt").resolve()))


def test_yolo_evidence_layout_for_tool_layouts_guess_for_loose_txt_none_for_a_readme(tmp_path: Path) -> None:
    from cytoconv.formats.yolo.reader import detect as yolo_detect

    assert yolo_detect(_coco8(tmp_path)).strength == LAYOUT
    assert yolo_detect(real("cell_seg_yolov8_roboflow")).strength == LAYOUT
    assert yolo_detect(_cvat_yolo11(tmp_path / "cvat")).strength == LAYOUT
    bare = tmp_path / "bare"
    write(bare / "labels" / "a.txt", "0 0.5 0.5 0.1 0.1\n")
    assert yolo_detect(bare).strength == LAYOUT
    loose = tmp_path / "loose"
    write(loose / "a.txt", "0 0.5 0.5 0.1 0.1\n")
    assert yolo_detect(loose).strength == GUESS
    notes = tmp_path / "notes"
    write(notes / "notes.txt", "stained with MGG, 2019\n")
    assert yolo_detect(notes) is None
    docs = tmp_path / "docs"
    write(docs / "README.txt", "hello\n")
    write(docs / "LICENSE.repo-MIT.txt", "MIT\n")
    assert yolo_detect(docs) is None
    assert yolo_detect(docs / "README.txt") is None


# ---------------------------------------------------------------------------------------------
# Reading the tools' layouts (items 7, 10)


def test_ultralytics_coco8_reads_with_its_readmes_skipped_and_counted(tmp_path: Path) -> None:
    ds = _coco8(tmp_path)
    report = Report()
    dataset = api.read(ds / "data.yaml", report=report)
    assert [c.name for c in dataset.categories] == ["person", "bicycle"]
    got = {(r.split, r.file_name, r.width, r.height, len(r.instances)) for r in dataset.images}
    assert got == {("train", "train/000000000009.jpg", 64, 48, 2), ("val", "val/000000000036.jpg", 40, 50, 1)}
    box = next(r for r in dataset.images if r.split == "val").instances[0].geometry
    assert (box.x, box.y, box.w, box.h) == (10.0, 12.5, 20.0, 25.0)  # type: ignore[union-attr]
    assert report.notices["not-a-label"] == 1  # labels/README.txt; the README beside labels/ is never walked
    assert api.read(ds).images and detect(ds).name == "yolo"


def test_cvat_yolo11_names_from_obj_names_splits_from_the_image_lists(tmp_path: Path) -> None:
    src = _cvat_yolo11(tmp_path / "export")
    report = Report()
    dataset = api.read(src, report=report)
    assert [c.name for c in dataset.categories] == ["rbc", "wbc", "platelet"]
    got = sorted((r.split, r.file_name, len(r.instances)) for r in dataset.images)
    assert got == [
        ("train", "obj_train_data/frame_000000.jpg", 2),
        ("train", "obj_train_data/frame_000001.jpg", 0),
        ("valid", "obj_valid_data/frame_000000.jpg", 1),
    ]
    first = next(r for r in dataset.images if r.file_name.endswith("train_data/frame_000000.jpg"))
    assert [i.category_id for i in first.instances] == [1, 3]
    assert sum(report.notices.values()) == 0
    assert api.read(src / "obj.data").images  # the obj.data file itself reads the same


def test_cvat_yolo11_image_not_in_any_list_is_read_and_counted(tmp_path: Path) -> None:
    src = _cvat_yolo11(tmp_path / "export", with_valid=False)
    make_image(src / "obj_train_data" / "extra.jpg", 10, 10)
    write(src / "obj_train_data" / "extra.txt", "1 0.5 0.5 1 1\n")
    report = Report()
    dataset = api.read(src, report=report)
    assert ("train", "obj_train_data/extra.jpg") in {(r.split, r.file_name) for r in dataset.images}
    assert len(dataset.images) == 3 and report.notices["not-in-split"] == 1


def test_flat_folder_with_an_image_list_reads_the_labels_only(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    make_image(flat / "a.jpg", 10, 20)
    write(flat / "a.txt", "0 0.5 0.5 0.5 0.5\n")
    write(flat / "train.txt", "data/obj_train_data/a.jpg\n")
    write(flat / "README.txt", "boxes by two annotators\n")
    report = Report()
    dataset = api.read(flat, "yolo", report=report)
    assert [(r.file_name, len(r.instances)) for r in dataset.images] == [("a.jpg", 1)]
    assert report.notices["not-a-label"] == 2


def test_same_stem_in_two_splits_pairs_by_the_path_below_the_split_with_images(tmp_path: Path) -> None:
    labels = tmp_path / "ds" / "labels"
    write(labels / "train" / "1.txt", "0 0.5 0.5 0.5 0.5\n")
    write(labels / "val" / "1.txt", "0 0.25 0.25 0.5 0.5\n")
    pics = tmp_path / "pics"
    make_image(pics / "images" / "train" / "1.jpg", 100, 100)
    make_image(pics / "images" / "val" / "1.jpg", 200, 40)
    for given in (pics, pics / "images"):
        dataset = api.read(labels.parent, options=ReadOptions(images=given))
        sizes = {(r.split, r.width, r.height) for r in dataset.images}
        assert sizes == {("train", 100, 100), ("val", 200, 40)}, given
    flat = tmp_path / "flat"
    make_image(flat / "1.jpg", 10, 10)
    make_image(flat / "sub" / "1.jpg", 10, 10)
    with pytest.raises(FormatError) as caught:
        api.read(labels.parent, options=ReadOptions(images=flat))
    assert caught.value.code == "duplicate-stem"


# ---------------------------------------------------------------------------------------------
# Writing what ultralytics loads (items 3, 13)


def test_split_names_normalised() -> None:
    assert [split_key(s) for s in ("train2017", "val2017", "valid", "validation", "test2017", "Train")] == [
        "train",
        "val",
        "val",
        "val",
        "test",
        "train",
    ]
    assert split_key("with_binary_mask") == "with_binary_mask"


def test_coco2017_to_yolo_is_what_check_det_dataset_loads(tmp_path: Path) -> None:
    src = _coco2017(tmp_path / "coco")
    dest = tmp_path / "y"
    report = Report()
    api.convert(src, dest, "yolo", write_options=WriteOptions(place_images="copy"), report=report, jobs=1)
    data = _yaml(dest)
    assert data == {
        "path": None,
        "train": "images/train",
        "val": "images/val",
        "nc": 2,
        "names": {0: "rbc", 1: "wbc"},
    }
    resolved = _ultralytics_resolve(dest / "data.yaml")
    assert resolved == {
        "train": [dest.resolve() / "labels/train/000000000001.txt"],
        "val": [dest.resolve() / "labels/val/000000000002.txt"],
    }
    assert (dest / "labels/train/000000000001.txt").read_text() == "0 0.25 0.5 0.3 0.5\n1 0.6 0.25 0.2 0.25\n"
    assert report.notices["split-renamed"] == 2
    assert report.notices["ids-compacted"] == 0  # ids 1..N -> 0..N-1 is no renumbering


def test_single_unknown_split_becomes_train_and_val_points_at_it(tmp_path: Path) -> None:
    src = _coco2017(tmp_path / "coco", splits=("with_binary_mask",))
    dest = tmp_path / "y"
    report = Report()
    api.convert(src, dest, "yolo", write_options=WriteOptions(place_images="link"), report=report, jobs=1)
    data = _yaml(dest)
    assert (data["train"], data["val"], "test" in data) == (
        "images/with_binary_mask",
        "images/with_binary_mask",
        False,
    )
    assert report.notices["split-as-train"] == 1 and report.notices["split-reused"] == 1
    assert _ultralytics_resolve(dest / "data.yaml")["val"] == [
        dest.resolve() / "labels/with_binary_mask/000000000001.txt"
    ]
    linked = dest / "images/with_binary_mask/000000000001.jpg"
    assert linked.stat().st_ino == (src / "with_binary_mask/000000000001.jpg").stat().st_ino


def test_roboflow_export_to_yolo_renames_valid_and_places_images(tmp_path: Path) -> None:
    dest = tmp_path / "y"
    report = Report()
    api.convert(
        real("cell_seg_yolov8_roboflow"),
        dest,
        "yolo",
        write_options=WriteOptions(place_images="copy"),
        report=report,
        jobs=1,
    )
    data = _yaml(dest)
    assert (data["train"], data["val"], data["test"], data["names"]) == (
        "images/train",
        "images/val",
        "images/test",
        {0: "cell"},
    )
    resolved = _ultralytics_resolve(dest / "data.yaml")
    assert {k: len(v) for k, v in resolved.items()} == {"train": 6, "val": 2, "test": 1}
    assert all(label.is_file() for labels in resolved.values() for label in labels)
    assert report.notices["split-renamed"] == 1


def test_no_train_split_trains_on_val_with_a_notice(tmp_path: Path) -> None:
    dest = tmp_path / "y"
    report = Report()
    api.convert(real("rbc_coco_roboflow"), dest, "yolo", report=report, jobs=1)
    data = _yaml(dest)
    assert (data["train"], data["val"], data["test"]) == ("images/val", "images/val", "images/test")
    assert report.notices["split-reused"] == 1
    assert report.notices["ids-compacted"] == 0  # Roboflow's ids 0..N-1 are the indices already


def test_crowd_objects_skipped_and_counted_unless_kept(tmp_path: Path) -> None:
    src = _coco2017(tmp_path / "coco", splits=("train2017",), crowd=True)
    report = Report()
    api.convert(src, tmp_path / "skip", "yolo", report=report, jobs=1)
    assert len((tmp_path / "skip/labels/train/000000000001.txt").read_text().splitlines()) == 2
    assert report.notices["crowd-skipped"] == 1
    kept = Report()
    api.convert(
        src, tmp_path / "keep", "yolo-det", write_options=WriteOptions(crowd="keep"), report=kept, jobs=1
    )
    lines = (tmp_path / "keep/labels/train/000000000001.txt").read_text().splitlines()
    assert lines[2] == "0 0.11 0.5 0.02 1.0" and kept.notices["crowd-skipped"] == 0


def test_a_real_renumbering_is_still_reported(tmp_path: Path) -> None:
    from cytoconv.ir import Category

    report = Report()
    cats = [Category(id=1, name="a"), Category(id=5, name="b")]
    YoloWriter(tmp_path / "y", cats, None, WriteOptions(), report)
    assert report.examples["ids-compacted"] == ["category ids mapped to YOLO class indices: 1->0, 5->1"]


def test_placing_images_needs_to_know_where_they_are(tmp_path: Path) -> None:
    with pytest.raises(FormatError) as caught:
        YoloWriter(tmp_path / "y", [], None, WriteOptions(place_images="copy"), Report())
    assert caught.value.code == "label-without-image"


def test_cli_flags_copy_images_and_crowd(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import run_cli

    src = _coco2017(tmp_path / "coco", crowd=True)
    code, _, err = run_cli(["coco2yolo", str(src), str(tmp_path / "y"), "--copy-images", "-q"], capsys)
    assert code == 0, err
    assert (tmp_path / "y/images/val/000000000002.jpg").is_file()
    code, _, err = run_cli(
        ["coco2yolo", str(src), str(tmp_path / "z"), "--copy-images", "--link-images", "-q"], capsys
    )
    assert code != 0 and "not both" in err and not (tmp_path / "z").exists()
    code, _, err = run_cli(["coco2yolo", str(src), str(tmp_path / "k"), "--crowd", "keep", "-q"], capsys)
    assert code == 0 and len((tmp_path / "k/labels/train/000000000001.txt").read_text().splitlines()) == 3


def test_validate_reads_the_layouts_as_the_reader_does(tmp_path: Path) -> None:
    """The image lists of a CVAT export and the README of an ultralytics download are not label files to
    ``validate`` either (it used to report train.txt's image paths as malformed lines)."""
    from cytoconv.validate import Settings, validate

    cvat = _cvat_yolo11(tmp_path / "cvat")
    write(cvat / "README.txt", "Exported from CVAT.\n")
    report = validate([cvat], Settings(), jobs=1)
    assert [f for f in report.findings if f.severity == "error"] == []
    assert not any(f.path.endswith(("train.txt", "valid.txt")) for f in report.findings)
    assert report.checked == len(list(cvat.rglob("obj_*_data/*.txt")))
    given = validate([cvat / "train.txt", cvat / "README.txt"], Settings(), jobs=1)
    assert given.checked == 0 and len(given.skipped) == 2
