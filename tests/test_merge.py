"""``cytoconv merge`` and ``cytoconv.merge``: classes unified by name, clashing file names kept apart, the same
image in two sources joined, splits kept or set; every object accounted for, by coordinates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import cytoconv
from cytoconv.errors import FormatError, Report, UsageError
from tests.conftest import run_cli

Box = list[float]


def _image(path: Path, width: int, height: int, colour: tuple[int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), colour).save(path)
    return path


def _coco(
    folder: Path,
    categories: list[tuple[int, str]],
    images: list[tuple[str, int, int, list[tuple[int, Box]]]],
    boxes: bool = False,
) -> Path:
    """A COCO file ``folder/annotations.json`` of box-shaped polygons (``boxes``: of bboxes alone), beside its
    images (made elsewhere)."""
    entries, annotations = [], []
    for k, (name, width, height, objects) in enumerate(images, 1):
        entries.append({"id": k, "file_name": name, "width": width, "height": height})
        for category_id, (x, y, w, h) in objects:
            ring = [x, y, x + w, y, x + w, y + h, x, y + h]
            annotation = {
                "id": len(annotations) + 1,
                "image_id": k,
                "category_id": category_id,
                "bbox": [x, y, w, h],
                "area": w * h,
                "iscrowd": 0,
            }
            annotations.append(annotation if boxes else {**annotation, "segmentation": [ring]})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "annotations.json"
    doc = {
        "images": entries,
        "annotations": annotations,
        "categories": [{"id": i, "name": n} for i, n in categories],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.fixture
def two_cocos(tmp_path: Path) -> tuple[Path, Path]:
    """``balf``: 1.jpg, 2.jpg, shared.png; ``public``: 1.jpg (another image), 3.jpg and copy.png (the same bytes
    as balf's shared.png). Classes: Neutrophil, macrophage, 'Lymphocyte ' / neutrophil, eosinophil,
    lymphocyte (ids from 0)."""
    balf, public = tmp_path / "balf", tmp_path / "public"
    _image(balf / "1.jpg", 100, 80, (200, 10, 10))
    _image(balf / "2.jpg", 100, 80, (10, 200, 10))
    _image(balf / "shared.png", 64, 48, (10, 10, 200))
    _image(public / "1.jpg", 120, 90, (90, 90, 90))
    _image(public / "3.jpg", 100, 80, (10, 200, 200))
    shutil.copyfile(balf / "shared.png", public / "copy.png")
    _coco(
        balf,
        [(1, "Neutrophil"), (2, "macrophage"), (3, "Lymphocyte ")],
        [
            ("1.jpg", 100, 80, [(1, [10, 10, 5, 5]), (2, [50, 20, 10, 12])]),
            ("2.jpg", 100, 80, [(2, [20, 20, 4, 4])]),
            ("shared.png", 64, 48, [(1, [1, 1, 3, 3]), (2, [5, 5, 2, 2])]),
        ],
    )
    _coco(
        public,
        [(0, "neutrophil"), (1, "eosinophil"), (2, "lymphocyte")],
        [
            ("1.jpg", 120, 90, [(0, [30, 30, 6, 6]), (1, [40, 40, 7, 7])]),
            ("3.jpg", 100, 80, [(2, [2, 2, 8, 8])]),
            ("copy.png", 64, 48, [(0, [1, 1, 3, 3]), (1, [9, 9, 2, 2])]),
        ],
    )
    return balf / "annotations.json", public / "annotations.json"


def _objects(path: Path, fmt: str | None = None) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    """Per output image: (class, bounds) of each object, sorted."""
    dataset = cytoconv.read(path, fmt)
    names = dataset.category_names()
    out: dict[str, list[tuple[str, tuple[float, ...]]]] = {}
    for record in dataset.images:
        items = []
        for inst in record.instances:
            g = inst.geometry
            b = g if g.kind == "box" else g.bounds()  # type: ignore[union-attr]
            items.append((names[inst.category_id], (b.x, b.y, b.w, b.h)))  # type: ignore[union-attr]
        out[record.file_name] = sorted(items)
    return out


def test_two_coco_sets_fold_case(two_cocos: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = two_cocos
    report = Report()
    out = tmp_path / "merged.json"
    result = cytoconv.merge([a.parent, b.parent], out, to="coco", fold_case=True, report=report)
    merged = cytoconv.read(out)
    assert [c.name for c in merged.categories] == ["Neutrophil", "macrophage", "Lymphocyte ", "eosinophil"]
    assert _objects(out) == {
        "1.jpg": [("Neutrophil", (10, 10, 5, 5)), ("macrophage", (50, 20, 10, 12))],
        "2.jpg": [("macrophage", (20, 20, 4, 4))],
        "shared.png": [
            ("Neutrophil", (1, 1, 3, 3)),
            ("eosinophil", (9, 9, 2, 2)),
            ("macrophage", (5, 5, 2, 2)),
        ],
        "public_1.jpg": [("Neutrophil", (30, 30, 6, 6)), ("eosinophil", (40, 40, 7, 7))],
        "3.jpg": [("Lymphocyte ", (2, 2, 8, 8))],
    }
    assert [(s.name, s.format, s.images, s.objects, s.renamed, s.joined) for s in result.sources] == [
        ("balf", "coco", 3, 5, 0, 0),
        ("public", "coco", 3, 5, 1, 1),
    ]
    assert result.duplicate_objects == 1
    names = {c.id: c.name for c in result.summary.categories}
    assert {names[i]: n for i, n in result.summary.instances.items()} == {
        "Neutrophil": 3,
        "macrophage": 3,
        "Lymphocyte ": 1,
        "eosinophil": 2,
    }
    assert result.summary.images == 5
    assert result.classes[1] == {
        "neutrophil": "Neutrophil",
        "eosinophil": "eosinophil",
        "lymphocyte": "Lymphocyte ",
    }
    assert report.notices["image-renamed"] == 1
    assert report.examples["image-renamed"] == ["public: 1.jpg -> public_1.jpg"]
    assert report.notices["images-joined"] == 1
    assert report.notices["object-joined"] == 1
    assert report.examples["object-joined"] == [
        "shared.png: 1 object(s) also in public's copy.png, kept once"
    ]
    assert report.notices["classes-folded"] == 2
    assert "class-name-conflict" not in report.notices


def test_exact_names_report_the_near_identical(two_cocos: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = two_cocos
    report = Report()
    out = tmp_path / "merged.json"
    result = cytoconv.merge([a, b], out, report=report)  # to: the first source's format
    names = [c.name for c in cytoconv.read(out).categories]
    assert names == ["Neutrophil", "macrophage", "Lymphocyte ", "neutrophil", "eosinophil", "lymphocyte"]
    assert report.notices["class-name-conflict"] == 2
    assert report.examples["class-name-conflict"] == [
        "classes 'Neutrophil' and 'neutrophil' differ only in case, spaces, underscores or hyphens: kept apart "
        "(--fold-case merges names that differ in case or surrounding spaces)",
        "classes 'Lymphocyte ' and 'lymphocyte' differ only in case, spaces, underscores or hyphens: kept apart "
        "(--fold-case merges names that differ in case or surrounding spaces)",
    ]
    # the joined image keeps both Neutrophil and neutrophil boxes: they are different classes now
    assert _objects(out)["shared.png"] == [
        ("Neutrophil", (1, 1, 3, 3)),
        ("eosinophil", (9, 9, 2, 2)),
        ("macrophage", (5, 5, 2, 2)),
        ("neutrophil", (1, 1, 3, 3)),
    ]
    assert sum(result.summary.instances.values()) == 10
    assert result.duplicate_objects == 0
    assert [s.name for s in result.sources] == ["annotations", "annotations-2"]  # files: their stems
    assert report.examples["image-renamed"] == ["annotations-2: 1.jpg -> annotations-2_1.jpg"]


def test_on_clash_error_cli(
    two_cocos: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = two_cocos
    out = tmp_path / "merged.json"
    code, _, err = run_cli(["merge", str(a.parent), str(b.parent), str(out), "--on-clash", "error"], capsys)
    assert code == 1
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith(
            "1.jpg: in balf (1.jpg) and in public: two images of one name (--on-clash prefix renames the later one)"
        )
    )
    assert not out.exists()


def test_cli_summary(
    two_cocos: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = two_cocos
    out = tmp_path / "merged.json"
    code, stdout, err = run_cli(
        ["merge", str(a.parent), str(b.parent), str(out), "--to", "coco", "--fold-case"], capsys
    )
    assert code == 0, err
    assert stdout == ""
    rows = [line.split() for line in err.splitlines()]
    assert ["balf", "│", "coco", "│", "3", "│", "5", "│", "0", "│", "0"] in rows
    assert ["public", "│", "coco", "│", "3", "│", "5", "│", "1", "│", "1"] in rows
    assert "class public: 'neutrophil' -> 'Neutrophil'" in err
    assert "1 objects in both copies of a joined image, kept once" in err
    assert "5 images (0 without objects), 9 objects" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a"], "merge needs at least two sources and an output"),
        (
            ["a", "b", "c", "--split", "train", "--keep-splits"],
            "give --split NAME or --keep-splits, not both",
        ),
    ],
)
def test_usage(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["merge", *args], capsys)
    assert code == 2
    assert message in err


def test_same_source_twice_and_bad_split(two_cocos: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = two_cocos
    with pytest.raises(UsageError, match="the same source as"):
        cytoconv.merge([a.parent, a], tmp_path / "x.json")
    with pytest.raises(UsageError, match="--split must be a plain name"):
        cytoconv.merge([a, a], tmp_path / "x.json", split="a/b")
    with pytest.raises(UsageError, match="--on-clash must be one of prefix, error"):
        cytoconv.merge([a, a], tmp_path / "x.json", on_clash="rename")  # type: ignore[arg-type]


def test_same_image_same_name_joined(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    _image(one / "cell.png", 40, 30, (1, 2, 3))
    two.mkdir()
    shutil.copyfile(one / "cell.png", two / "cell.png")
    _image(one / "other.bmp", 40, 30, (3, 2, 1))  # the same size in bytes, another image: hashed, not joined
    _image(two / "other.bmp", 40, 30, (9, 9, 9))
    _coco(
        one,
        [(1, "blast")],
        [("cell.png", 40, 30, [(1, [1, 1, 4, 4]), (1, [8, 8, 4, 4])]), ("other.bmp", 40, 30, [])],
    )
    _coco(
        two,
        [(1, "blast")],
        [
            ("cell.png", 40, 30, [(1, [8, 8, 4, 4]), (1, [20, 2, 5, 5])]),
            ("other.bmp", 40, 30, [(1, [0, 0, 2, 2])]),
        ],
    )
    assert (one / "other.bmp").stat().st_size == (two / "other.bmp").stat().st_size
    report = Report()
    out = tmp_path / "out.json"
    result = cytoconv.merge([one, two], out, report=report)
    assert _objects(out) == {
        "cell.png": [("blast", (1, 1, 4, 4)), ("blast", (8, 8, 4, 4)), ("blast", (20, 2, 5, 5))],
        "other.bmp": [],
        "two_other.bmp": [("blast", (0, 0, 2, 2))],
    }
    assert result.duplicate_objects == 1
    assert [(s.renamed, s.joined) for s in result.sources] == [(0, 0), (1, 1)]


def test_same_image_other_size_refused(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    _image(one / "cell.png", 40, 30, (1, 2, 3))
    two.mkdir()
    shutil.copyfile(one / "cell.png", two / "c.png")
    _coco(one, [(1, "blast")], [("cell.png", 40, 30, [])])
    _coco(two, [(1, "blast")], [("c.png", 80, 60, [])])
    with pytest.raises(FormatError) as caught:
        cytoconv.merge([one, two], tmp_path / "out.json")
    assert caught.value.code == "size-mismatch"
    assert (
        str(caught.value)
        == f"{two / 'c.png'}: the same image as cell.png of one, but 80x60 here and 40x30 there"
    )


def _yolo(folder: Path, names: list[str], images: dict[str, tuple[tuple[int, int, int], list[str]]]) -> Path:
    """A YOLO set: images/<name>, labels/<stem>.txt and data.yaml (images 100x80)."""
    for name, (colour, lines) in images.items():
        _image(folder / "images" / name, 100, 80, colour)
        label = folder / "labels" / (Path(name).stem + ".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    (folder / "data.yaml").write_text(
        "names:\n" + "".join(f"  {k}: {n}\n" for k, n in enumerate(names)), encoding="utf-8"
    )
    return folder


def test_yolo_and_coco_to_yolo_with_images(tmp_path: Path) -> None:
    yolo = _yolo(
        tmp_path / "lab",
        ["blast", "myelocyte"],
        {"1.jpg": ((50, 0, 0), ["0 0.5 0.5 0.2 0.25"]), "2.jpg": ((0, 50, 0), ["1 0.25 0.25 0.1 0.1"])},
    )
    public = tmp_path / "public"
    _image(public / "1.jpg", 100, 80, (0, 0, 50))
    _coco(
        public,
        [(1, "myelocyte"), (2, "erythroblast")],
        [("1.jpg", 100, 80, [(1, [10, 10, 20, 16]), (2, [60, 40, 10, 8])])],
    )
    out = tmp_path / "out"
    result = cytoconv.merge([yolo, public], out, to="yolo", write_options=cytoconv_write(place_images="copy"))
    names = (out / "data.yaml").read_text(encoding="utf-8")
    assert names.endswith('names:\n  0: "blast"\n  1: "myelocyte"\n  2: "erythroblast"\n')
    assert (out / "labels" / "1.txt").read_text() == "0 0.5 0.5 0.2 0.25\n"
    assert (out / "labels" / "2.txt").read_text() == "1 0.25 0.25 0.1 0.1\n"
    assert (out / "labels" / "public_1.txt").read_text() == ("1 0.2 0.225 0.2 0.2\n2 0.65 0.55 0.1 0.1\n")
    assert (out / "images" / "1.jpg").read_bytes() == (yolo / "images" / "1.jpg").read_bytes()
    assert (out / "images" / "public_1.jpg").read_bytes() == (public / "1.jpg").read_bytes()
    assert not (out / "images" / "public_1.jpg").is_symlink()
    assert sorted(p.name for p in (out / "images").iterdir()) == ["1.jpg", "2.jpg", "public_1.jpg"]
    assert sum(result.summary.instances.values()) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the image view is gone


def test_linked_images_are_hard_links_to_the_sources(tmp_path: Path) -> None:
    """--link-images links the source files themselves (same inode), never the merge's temporary symlinks."""
    yolo = _yolo(tmp_path / "lab", ["blast"], {"1.jpg": ((50, 0, 0), ["0 0.5 0.5 0.2 0.25"])})
    public = tmp_path / "public"
    _image(public / "1.jpg", 100, 80, (0, 0, 50))
    _coco(public, [(1, "blast")], [("1.jpg", 100, 80, [(1, [10, 10, 20, 16])])])
    out = tmp_path / "out"
    cytoconv.merge([yolo, public], out, to="yolo", write_options=cytoconv_write(place_images="link"))
    for name, source in (("1.jpg", yolo / "images" / "1.jpg"), ("public_1.jpg", public / "1.jpg")):
        placed = out / "images" / name
        assert not placed.is_symlink() and placed.stat().st_ino == source.stat().st_ino


def cytoconv_write(**fields: Any) -> Any:
    from cytoconv.engine.contract import WriteOptions

    return WriteOptions(task="detect", **fields)


def _folders(root: Path, images: dict[str, tuple[int, int, int]]) -> Path:
    for rel, colour in images.items():
        _image(root / rel, 24, 24, colour)
    return root


def test_class_folders_to_folders_copied(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pbc = _folders(
        tmp_path / "pbc", {"neutrophil/BNE_1.jpg": (200, 0, 0), "eosinophil/EO_1.jpg": (0, 200, 0)}
    )
    lab = _folders(tmp_path / "lab", {"Neutrophil/BNE_1.jpg": (0, 0, 200), "basophil/BA_1.jpg": (90, 0, 90)})
    out = tmp_path / "out"
    code, _, err = run_cli(["merge", str(pbc), str(lab), str(out), "--to", "folders", "--fold-case"], capsys)
    assert code == 0, err
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "basophil/BA_1.jpg",
        "eosinophil/EO_1.jpg",
        "neutrophil/BNE_1.jpg",
        "neutrophil/lab_BNE_1.jpg",
    ]
    assert (out / "neutrophil" / "BNE_1.jpg").read_bytes() == (pbc / "neutrophil" / "BNE_1.jpg").read_bytes()
    assert (out / "neutrophil" / "lab_BNE_1.jpg").read_bytes() == (
        lab / "Neutrophil" / "BNE_1.jpg"
    ).read_bytes()
    assert not any(p.is_symlink() for p in out.rglob("*"))


def test_images_without_a_split_beside_split_sources_go_to_train(tmp_path: Path) -> None:
    """A split-less source merged with one that has train/val: its images are put in train and counted, so
    that data.yaml does not list ``images`` beside ``images/val`` (ultralytics would train on val)."""
    a = _folders(tmp_path / "a", {"blast/1.png": (1, 0, 0), "blast/2.png": (2, 0, 0)})
    b = _folders(tmp_path / "b", {"train/blast/3.png": (3, 0, 0), "val/monocyte/4.png": (4, 0, 0)})
    out = tmp_path / "out"
    report = Report()
    cytoconv.merge([a, b], out, report=report)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "train/blast/1.png",
        "train/blast/2.png",
        "train/blast/3.png",
        "val/monocyte/4.png",
    ]
    assert report.notices["unsplit-as-train"] == 2


def test_splits_kept_or_set(tmp_path: Path) -> None:
    a = _folders(tmp_path / "a", {"train/blast/1.png": (1, 0, 0), "val/blast/2.png": (2, 0, 0)})
    b = _folders(tmp_path / "b", {"test/blast/3.png": (3, 0, 0), "train/monocyte/4.png": (4, 0, 0)})
    kept = tmp_path / "kept"
    cytoconv.merge([a, b], kept)
    assert sorted(p.relative_to(kept).as_posix() for p in kept.rglob("*.png")) == [
        "test/blast/3.png",
        "train/blast/1.png",
        "train/monocyte/4.png",
        "val/blast/2.png",
    ]
    one = tmp_path / "one"
    cytoconv.merge([a, b], one, split="train")
    assert sorted(p.relative_to(one).as_posix() for p in one.rglob("*.png")) == [
        "train/blast/1.png",
        "train/blast/2.png",
        "train/blast/3.png",
        "train/monocyte/4.png",
    ]


def test_pbc_with_its_revised_copy(tmp_path: Path) -> None:
    """The real PBC sample (44 images, 8 classes) and a lab's copy of it: folder ``Neutrophil`` capitalised, one
    image replaced by another under the same name, one image filed under another class, one new class."""
    from tests.conftest import real

    pbc = real("pbc_classfolders") / "PBC_dataset_normal_DIB"
    lab = tmp_path / "lab"
    shutil.copytree(pbc, lab)
    (lab / "neutrophil").rename(lab / "Neutrophil")
    _image(lab / "Neutrophil" / "BNE_100878.jpg", 360, 363, (120, 60, 200))
    (lab / "lymphocyte").mkdir(exist_ok=True)
    (lab / "monocyte" / "MO_100695.jpg").rename(lab / "lymphocyte" / "MO_100695.jpg")
    _image(lab / "blast" / "BL_1.jpg", 360, 363, (30, 30, 30))
    out = tmp_path / "out"
    report = Report()
    result = cytoconv.merge([pbc, lab], out, to="folders", fold_case=True, report=report)
    assert [(s.name, s.images, s.renamed, s.joined) for s in result.sources] == [
        ("PBC_dataset_normal_DIB", 44, 0, 0),
        ("lab", 45, 1, 43),
    ]
    per_folder = {d.name: len(list(d.iterdir())) for d in out.iterdir()}
    assert per_folder == {
        "basophil": 5,
        "blast": 1,
        "eosinophil": 5,
        "erythroblast": 5,
        "ig": 8,
        "lymphocyte": 5,
        "monocyte": 5,
        "neutrophil": 7,
        "platelet": 5,
    }
    renamed = out / "neutrophil" / "lab_BNE_100878.jpg"
    assert renamed.read_bytes() == (lab / "Neutrophil" / "BNE_100878.jpg").read_bytes()
    assert (out / "neutrophil" / "BNE_100878.jpg").read_bytes() == (
        pbc / "neutrophil" / "BNE_100878.jpg"
    ).read_bytes()
    assert (out / "monocyte" / "MO_100695.jpg").exists()  # the first source's label kept
    assert report.examples["label-conflict"] == [
        "monocyte/MO_100695.jpg: labelled 'monocyte' here and 'lymphocyte' in lab's lymphocyte/MO_100695.jpg; "
        "the first kept"
    ]
    assert report.notices["images-joined"] == 43
    assert report.notices["classes-folded"] == 1


def test_yolo_box_and_coco_bbox_of_one_object_kept_once(tmp_path: Path) -> None:
    """A YOLO box comes back from normalised numbers a hair off (2.5 - 1.5 = 1.0000000000000002): equal to a
    millionth of a pixel is equal. A box and a 4-corner polygon of the same place stay two objects."""
    yolo = _yolo(tmp_path / "lab", ["blast"], {"a.png": ((7, 7, 7), ["0 0.025 0.03125 0.03 0.0375"])})
    coco = tmp_path / "coco"
    coco.mkdir()
    shutil.copyfile(yolo / "images" / "a.png", coco / "b.png")
    _coco(coco, [(1, "blast")], [("b.png", 100, 80, [(1, [1, 1, 3, 3]), (1, [50, 50, 4, 4])])], boxes=True)
    poly = tmp_path / "poly"
    poly.mkdir()
    shutil.copyfile(yolo / "images" / "a.png", poly / "c.png")
    _coco(poly, [(1, "blast")], [("c.png", 100, 80, [(1, [1, 1, 3, 3])])])
    result = cytoconv.merge([yolo, coco, poly], tmp_path / "out.json", to="coco")
    assert result.duplicate_objects == 1
    assert [(s.images, s.objects, s.joined) for s in result.sources] == [(1, 1, 0), (1, 2, 1), (1, 1, 1)]
    kinds = sorted(
        (
            inst.geometry.kind,
            round(inst.geometry.bounds().x, 6) if inst.geometry.kind == "polygon" else inst.geometry.x,
        )  # type: ignore[union-attr]
        for inst in cytoconv.read(tmp_path / "out.json").images[0].instances
    )
    assert kinds == [("box", 1.0), ("box", 50.0), ("polygon", 1.0)]


def test_index_over_the_pool_gives_the_same_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """700 images a source (past the pool's threshold), indexed in process or over two workers: one output."""
    from cytoconv.ops import merge as merge_ops

    for name, offset in (("a", 0), ("b", 350)):
        images = [(f"{k}.jpg", 50, 40, [(1, [k % 40, 1, 2, 2])]) for k in range(offset, offset + 700)]
        _coco(tmp_path / name, [(1, "cell")], images)
    here = tmp_path / "here.json"
    cytoconv.merge([tmp_path / "a", tmp_path / "b"], here, jobs=1)
    monkeypatch.setattr(merge_ops, "IN_PROCESS_BELOW", 0.0)
    pooled = tmp_path / "pooled.json"
    result = cytoconv.merge([tmp_path / "a", tmp_path / "b"], pooled, jobs=2)
    assert pooled.read_bytes() == here.read_bytes()
    assert [(s.images, s.renamed) for s in result.sources] == [(700, 0), (700, 350)]
    assert result.summary.images == 1400
