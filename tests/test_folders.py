"""Class folders and manifests: classes from folder names, junk skipped by content, images copied or linked."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

import cytoconv
from cytoconv.engine.contract import ReadOptions, WriteOptions
from cytoconv.engine.files import image_kind
from cytoconv.errors import FormatError, Report
from cytoconv.formats import detect
from cytoconv.ir import Category, Dataset, ImageRecord
from tests.conftest import BALF_SAMPLE, make_image, real, write

PBC_CLASSES = [
    "basophil",
    "eosinophil",
    "erythroblast",
    "ig",
    "lymphocyte",
    "monocyte",
    "neutrophil",
    "platelet",
]


def _pbc() -> Path:
    return real("pbc_classfolders") / "PBC_dataset_normal_DIB"


def _chula() -> Path:
    return real("chula_rbc_diseases_classfolders") / "RBC Diseases"


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_pbc_44_images_in_8_classes_and_the_fake_jpeg_reported(tmp_path: Path) -> None:
    report = Report()
    ds = cytoconv.read(_pbc(), report=report)
    assert [c.name for c in ds.categories] == PBC_CLASSES and [c.id for c in ds.categories] == list(
        range(1, 9)
    )
    assert len(ds.images) == 44
    names = {c.id: c.name for c in ds.categories}
    assert all(names[r.label] == r.file_name.split("/")[0] for r in ds.images if r.label is not None)
    assert all(not r.instances and r.split is None for r in ds.images)
    per_class = {
        n: sum(1 for r in ds.images if r.label is not None and names[r.label] == n) for n in PBC_CLASSES
    }
    assert per_class == {**dict.fromkeys(PBC_CLASSES, 5), "ig": 8, "neutrophil": 6}
    assert report.notices == {"junk-skipped": 1}
    assert report.examples["junk-skipped"][0].endswith("neutrophil/.DS_169665.jpg")
    sizes = {r.file_name: (r.width, r.height) for r in ds.images}
    assert sizes["ig/IG_101958.jpg"] == (360, 360) and sizes["lymphocyte/LY_10361.jpg"] == (366, 369)
    assert sizes["basophil/BA_100102.jpg"] == (360, 363)


def test_fake_jpeg_is_not_an_image_by_content_whatever_its_name(tmp_path: Path) -> None:
    fake = (_pbc() / "neutrophil" / ".DS_169665.jpg").read_bytes()
    assert image_kind(fake[:16]) is None
    root = tmp_path / "ds"
    make_image(root / "a" / "x.png", 10, 8)
    write(root / "a" / "DS_copy.jpg", fake)  # not hidden this time: only its content gives it away
    write(root / "a" / "notes.txt", "a note")
    write(root / "b" / "y.dat", (root / "a" / "x.png").read_bytes())  # a PNG under another name is an image
    write(root / "README.md", "read me")
    report = Report()
    ds = cytoconv.read(root, fmt="folders", report=report)
    assert sorted(r.file_name for r in ds.images) == ["a/x.png", "b/y.dat"]
    assert report.notices == {"not-an-image": 2, "outside-class-folder": 1}
    assert any(
        e.endswith("DS_copy.jpg: not an image by its content; skipped")
        for e in report.examples["not-an-image"]
    )


def test_image_kind_knows_the_usual_formats() -> None:
    assert image_kind(b"\xff\xd8\xff\xe0\x00\x10JFIF") == "jpeg"
    assert image_kind(b"\x89PNG\r\n\x1a\n\x00\x00") == "png"
    assert image_kind(b"II*\x00\x08\x00") == "tiff"
    assert image_kind(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert image_kind(b"P5\n10 10\n255\n") == "pnm"
    assert image_kind(b"\x00\x00\x00\x01Bud1") is None  # .DS_Store
    assert image_kind(b"") is None


def test_chula_spaces_read_and_written_back_with_the_same_names(tmp_path: Path) -> None:
    ds = cytoconv.read(_chula())
    assert [c.name for c in ds.categories] == [
        "HE",
        "HS",
        "Iron deficiency anemia",
        "Megaloblastic anemia",
        "Thalassemia",
    ]
    assert {(r.width, r.height) for r in ds.images} == {(1280, 960), (640, 480)}
    cytoconv.convert(_chula(), tmp_path / "copy", to="folders", jobs=1)
    assert _files(tmp_path / "copy") == _files(_chula())[1:]  # all but the .DS_Store
    for name in _files(tmp_path / "copy"):
        assert (tmp_path / "copy" / name).read_bytes() == (_chula() / name).read_bytes()
    again = cytoconv.read(tmp_path / "copy")
    assert [(r.file_name, r.label, r.width) for r in again.images] == [
        (r.file_name, r.label, r.width) for r in ds.images
    ]


def test_link_makes_hard_links(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_image(src / "cat a" / "1.png", 4, 4)
    cytoconv.convert(src, tmp_path / "out", to="folders", write_options=WriteOptions(link=True), jobs=1)
    assert os.path.samefile(src / "cat a" / "1.png", tmp_path / "out" / "cat a" / "1.png")


def test_split_layout_read_and_written(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for split, cls, name in [
        ("train", "a", "1.png"),
        ("train", "b", "2.png"),
        ("val", "a", "3.png"),
        ("test", "c", "4.png"),
    ]:
        make_image(src / split / cls / name, 6, 5)
    ds = cytoconv.read(src)
    assert [(r.file_name, r.split, r.label) for r in ds.images] == [
        ("test/c/4.png", "test", 3),
        ("train/a/1.png", "train", 1),
        ("train/b/2.png", "train", 2),
        ("val/a/3.png", "val", 1),
    ]
    cytoconv.write(ds, tmp_path / "out", to="folders")
    assert _files(tmp_path / "out") == _files(src)


def test_names_give_the_order_and_unknown_folders_are_problems(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for cls in ("a", "b", "c"):
        make_image(src / cls / f"{cls}.png", 4, 4)
    ds = cytoconv.read(src, options=ReadOptions(names=("c", "b", "a", "d")))
    assert [(r.file_name, r.label) for r in ds.images] == [("a/a.png", 3), ("b/b.png", 2), ("c/c.png", 1)]
    assert [c.name for c in ds.categories] == ["c", "b", "a", "d"]
    with pytest.raises(FormatError) as info:
        cytoconv.read(src, options=ReadOptions(names=("a", "b")))
    assert info.value.code == "unknown-class" and info.value.path == str(src / "c")


def test_detect_tells_class_folders_from_other_layouts(tmp_path: Path) -> None:
    assert detect(_pbc()).name == "folders"
    assert detect(_chula()).name == "folders"
    assert detect(BALF_SAMPLE).name == "yolo"


def test_folders_to_coco_one_whole_image_box_per_image(tmp_path: Path) -> None:
    report = Report()
    cytoconv.convert(_chula(), tmp_path / "c.json", to="coco", report=report, jobs=1)
    data = json.loads((tmp_path / "c.json").read_text())
    assert len(data["images"]) == len(data["annotations"]) == 6
    sizes = {im["id"]: (im["width"], im["height"]) for im in data["images"]}
    for ann in data["annotations"]:
        w, h = sizes[ann["image_id"]]
        assert (ann["bbox"], ann["area"], ann["segmentation"]) == ([0, 0, w, h], w * h, [])
    assert [a["category_id"] for a in data["annotations"]] == [1, 2, 2, 3, 4, 5]
    assert report.notices["label-as-box"] == 6


def test_unsafe_and_unplaceable_class_names(tmp_path: Path) -> None:
    make_image(tmp_path / "img" / "x.png", 4, 4)
    record = ImageRecord(file_name="x.png", width=4, height=4, label=1)
    report = Report()
    ds = Dataset(
        categories=[Category(id=1, name="band/seg")], images=[record], image_root=str(tmp_path / "img")
    )
    cytoconv.write(ds, tmp_path / "ok", to="folders", report=report)
    assert _files(tmp_path / "ok") == ["band_seg/x.png"] and report.notices["name-sanitised"] >= 1
    for bad in ("..", "a\x00b"):
        ds = Dataset(categories=[Category(id=1, name=bad)], images=[record], image_root=str(tmp_path / "img"))
        with pytest.raises(FormatError) as info:
            cytoconv.write(ds, tmp_path / "bad", to="folders")
        assert info.value.code == "unsafe-name"
    unlabelled = Dataset(
        categories=[],
        images=[ImageRecord(file_name="x.png", width=4, height=4)],
        image_root=str(tmp_path / "img"),
    )
    with pytest.raises(FormatError) as info:
        cytoconv.write(unlabelled, tmp_path / "none", to="folders")
    assert info.value.code == "no-label" and not (tmp_path / "none").exists()


# --- manifests ------------------------------------------------------------------------------------


def test_manifest_csv_round_trip(tmp_path: Path) -> None:
    cytoconv.convert(_pbc(), tmp_path / "m.csv", to="manifest", jobs=1)
    with open(tmp_path / "m.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["file", "label", "width", "height"]
    assert rows[1] == ["basophil/BA_100102.jpg", "basophil", "360", "363"] and len(rows) == 45
    back = cytoconv.read(tmp_path / "m.csv", fmt="manifest", options=ReadOptions(images=_pbc()))
    original = cytoconv.read(_pbc())
    assert [(r.file_name, r.label, r.width, r.height) for r in back.images] == [
        (r.file_name, r.label, r.width, r.height) for r in original.images
    ]
    assert detect(tmp_path / "m.csv").name == "manifest"


def test_manifest_json_is_coco_like_with_labels_and_sizes(tmp_path: Path) -> None:
    cytoconv.convert(_chula(), tmp_path / "m.json", to="manifest", jobs=1)
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["image_root"] == str(_chula().resolve())
    assert data["categories"][2] == {"id": 3, "name": "Iron deficiency anemia"}
    assert data["images"][3] == {
        "id": 4,
        "file_name": "Iron deficiency anemia/Iron deficiency anemia_1.JPG",
        "label": 3,
        "width": 1280,
        "height": 960,
    }
    for image in data["images"]:
        assert (_chula() / image["file_name"]).is_file()
    back = cytoconv.read(tmp_path / "m.json", fmt="manifest")
    assert back.image_root == str(_chula().resolve()) and [r.label for r in back.images] == [1, 2, 2, 3, 4, 5]


def test_manifest_csv_without_sizes_reads_headers_and_keeps_splits(tmp_path: Path) -> None:
    make_image(tmp_path / "imgs" / "a b.png", 7, 3)
    make_image(tmp_path / "imgs" / "c.png", 2, 9)
    write(tmp_path / "imgs" / "list.csv", 'path,class,split\n"a b.png","x, y",train\nc.png,z,val\n\n')
    ds = cytoconv.read(tmp_path / "imgs" / "list.csv", fmt="manifest")
    assert [(c.id, c.name) for c in ds.categories] == [(1, "x, y"), (2, "z")]
    assert [(r.file_name, r.label, r.width, r.height, r.split) for r in ds.images] == [
        ("a b.png", 1, 7, 3, "train"),
        ("c.png", 2, 2, 9, "val"),
    ]
    cytoconv.write(ds, tmp_path / "out.csv", to="manifest")
    assert (
        tmp_path / "out.csv"
    ).read_text() == 'file,label,width,height,split\na b.png,"x, y",7,3,train\nc.png,z,2,9,val\n'


def test_manifest_bad_rows_name_the_line(tmp_path: Path) -> None:
    write(tmp_path / "m.csv", "file,label,width,height\na.png,x,10,10\nb.png,y,ten,10\n")
    with pytest.raises(FormatError) as info:
        cytoconv.read(tmp_path / "m.csv", fmt="manifest")
    assert (info.value.code, info.value.line) == ("bad-row", 3)
    write(tmp_path / "n.csv", "name,label\n")
    with pytest.raises(FormatError) as info:
        cytoconv.read(tmp_path / "n.csv", fmt="manifest")
    assert (info.value.code, info.value.line) == ("bad-manifest", 1)


def test_cli_folders_to_manifest_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cytoconv.cli.entry import main

    with pytest.raises(SystemExit) as exit_:
        main(["convert", "--from", "folders", "--to", "manifest", str(_pbc()), str(tmp_path / "m.json")])
    assert exit_.value.code == 0
    data = json.loads((tmp_path / "m.json").read_text())
    assert len(data["images"]) == 44 and len(data["categories"]) == 8
    assert "junk-skipped" in capsys.readouterr().err
