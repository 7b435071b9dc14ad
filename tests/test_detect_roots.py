"""Detection at a download's root, on the real third-party layouts an independent tester ran into.

- The Omnipose/Cellpose download (tests/assets/real/omnipose_cp_masks: ``docs/test_files/*.tif`` with
  ``docs/test_files/masks/*_cp_masks.tif``) was read as class folders, each mask an image of class
  ``test_files``: 140 objects silently lost. Class folders now refuse a folder that holds masks.
- The BBBC039 download (tests/assets/real/bbbc039_deeptrack: ``cell nuclei/images/`` + ``cell nuclei/masks/``,
  4 images) was taken for Data Science Bowl samples and failed in ``stats``; object-masks now requires the DSB
  shape (one image per ``<id>/images/``) for a clear majority of samples, and refuses the root in one line.
- Roboflow's "Pascal VOC" export (``train/``, ``valid/``, ``test/`` of ``<name>_jpg.rf.<hash>.jpg`` + ``.xml``,
  ``README.roboflow.txt`` at the root) was "cannot tell its format"; it is VOC's layout, with its splits.

The real samples are read in place (read-only); anything added is built in ``tmp_path``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import cytoconv
from cytoconv.formats import CONTENT, FORMATS, LAYOUT, REFUSED, Evidence, candidates
from cytoconv.ir import Box
from tests.conftest import make_image, real, write
from tests.conftest import run_cli as run

ALL = ", ".join(FORMATS)


def _evidence(path: Path) -> dict[str, Evidence]:
    return {info.name: evidence for info, evidence in candidates(path, refused=True)}


# --- 1. Omnipose / Cellpose: masks are no class ------------------------------------------------------------

OMNIPOSE_SEEN = (
    "docs/: test_files/masks/ is a mask folder: test_files/ holds masks, not a class; give that folder"
)


def test_omnipose_root_is_refused_naming_the_mask_folder(capsys: pytest.CaptureFixture[str]) -> None:
    root = real("omnipose_cp_masks")
    code, out, _ = run(["formats", "--detect", str(root)], capsys)
    assert (code, out.splitlines()) == (
        2,  # nothing chosen
        [f"folders        refused  {OMNIPOSE_SEEN}", "chosen: none (no format recognises it; give --from)"],
    )


def test_omnipose_root_convert_refuses_in_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = real("omnipose_cp_masks")
    dest = tmp_path / "out.json"
    code, out, err = run(["convert", str(root), str(dest), "--to", "coco"], capsys)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"cytoconv: error: {root}: cannot tell its format (folders: {OMNIPOSE_SEEN}); give --from ({ALL})"
    ]
    assert not dest.exists()


def test_omnipose_folder_the_refusal_names_gives_all_140_objects(tmp_path: Path) -> None:
    folder = real("omnipose_cp_masks") / "docs" / "test_files"
    assert _evidence(folder)["instance-masks"] == Evidence(LAYOUT, "Cellpose *_cp_masks images in masks/")
    assert "folders" not in _evidence(folder)
    dest = tmp_path / "out.json"
    cytoconv.convert(folder, dest, to="coco")
    coco = json.loads(dest.read_text(encoding="utf-8"))
    assert sorted(i["file_name"] for i in coco["images"]) == [
        "Sample000033.png",
        "Sample000306.tiff",
        "caulo_15.tif",
    ]
    assert len(coco["annotations"]) == 140


def test_class_folder_holding_images_named_like_masks_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_image(root / "cells" / "a.png", 8, 8)
    make_image(root / "cells" / "a_mask.png", 8, 8)
    make_image(root / "other" / "b.png", 8, 8)
    assert _evidence(root)["folders"] == Evidence(
        REFUSED, "cells/a_mask.png is named like a mask: cells/ holds masks, not a class; give that folder"
    )


def test_split_class_folders_with_a_masks_folder_inside_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for split in ("train", "val"):
        make_image(root / split / "cells" / "a.png", 8, 8)
        make_image(root / split / "cells" / "masks" / "a.png", 8, 8)
    assert _evidence(root)["folders"] == Evidence(
        REFUSED,
        "train/cells/masks/ is a mask folder: train/cells/ holds masks, not a class; give that folder",
    )


def test_class_folders_without_masks_are_still_read(tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_image(root / "neutrophil" / "n_1.png", 8, 8)  # no mask suffix, no mask folder
    make_image(root / "lymphocyte" / "l_1.png", 8, 8)
    make_image(root / "lymphocyte" / "l_2.png", 8, 8)
    assert _evidence(root)["folders"].strength > REFUSED
    ds = cytoconv.read(root, fmt="folders")
    assert sorted((r.file_name, r.label) for r in ds.images) == [
        ("lymphocyte/l_1.png", 1),
        ("lymphocyte/l_2.png", 1),
        ("neutrophil/n_1.png", 2),
    ]


# --- 2. BBBC039: one dataset of masks beside images, not Data Science Bowl samples --------------------------

BBBC039_SEEN = (
    "cell nuclei/images/ holds 4 images (a Data Science Bowl sample holds one): cell nuclei/ is one dataset of "
    "masks beside images, not samples; give that folder"
)


def test_bbbc039_root_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    root = real("bbbc039_deeptrack")
    code, out, _ = run(["formats", "--detect", str(root)], capsys)
    assert (code, out.splitlines()) == (
        2,  # nothing chosen
        [f"object-masks   refused  {BBBC039_SEEN}", "chosen: none (no format recognises it; give --from)"],
    )
    code, out, err = run(["stats", str(root)], capsys)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"cytoconv: error: {root}: cannot tell its format (object-masks: {BBBC039_SEEN}); give --from ({ALL})"
    ]


def test_bbbc039_folder_the_refusal_names_reads_as_masks(capsys: pytest.CaptureFixture[str]) -> None:
    folder = real("bbbc039_deeptrack") / "cell nuclei"
    code, out, _ = run(["formats", "--detect", str(folder)], capsys)
    assert (code, out.splitlines()) == (
        0,
        ["masks          layout   masks/ beside an image folder", "chosen: masks"],
    )
    code, out, _ = run(["stats", str(folder), "--channel", "R"], capsys)
    assert code == 0
    assert out.splitlines()[0] == (
        f"{folder} (masks): 4 images (1 without objects), 250 objects (250 polygons, 14,644 vertices)"
    )


def test_dsb_stage1_test_is_still_object_masks_with_every_object() -> None:
    root = real("dsb2018_stage1_test_masks") / "stage1_test"
    assert _evidence(root)["object-masks"] == Evidence(
        CONTENT, "8 of 8 sample(s) hold one image in images/ and masks/ (Data Science Bowl)"
    )
    ds = cytoconv.read(root)
    assert (len(ds.images), sum(len(r.instances) for r in ds.images)) == (9, 317)


def _dsb(root: Path, images: dict[str, int]) -> Path:
    """A DSB-shaped folder: ``<id>/images/`` with the given number of images, ``<id>/masks/<id>_0.png``."""
    for sample, count in images.items():
        for k in range(count):
            make_image(root / sample / "images" / f"{sample}{'' if k == 0 else f'_{k}'}.png", 8, 8)
        make_image(root / sample / "masks" / f"{sample}_0.png", 8, 8)
    return root


def test_object_masks_needs_a_clear_majority_of_one_image_samples(tmp_path: Path) -> None:
    mostly = _dsb(tmp_path / "mostly", {"a": 1, "b": 1, "c": 1, "d": 2})
    assert _evidence(mostly)["object-masks"] == Evidence(
        CONTENT, "3 of 4 sample(s) hold one image in images/ and masks/ (Data Science Bowl)"
    )
    half = _dsb(tmp_path / "half", {"a": 1, "b": 3})
    assert _evidence(half)["object-masks"] == Evidence(
        REFUSED,
        "b/images/ holds 3 images (a Data Science Bowl sample holds one): b/ is one dataset of masks beside "
        "images, not samples; give that folder",
    )


# --- 3. Roboflow's "Pascal VOC" export -----------------------------------------------------------------------

# As Roboflow writes each file (datumaro's tests/assets/roboflow_dataset/voc and exports seen in the wild):
# empty <folder>, <filename> and <path> the image's name, <database>roboflow.ai, xmax before ymin.
ROBOFLOW_XML = """<annotation>
\t<folder></folder>
\t<filename>{name}</filename>
\t<path>{name}</path>
\t<source>
\t\t<database>roboflow.ai</database>
\t</source>
\t<size>
\t\t<width>416</width>
\t\t<height>416</height>
\t\t<depth>3</depth>
\t</size>
\t<segmented>0</segmented>
{objects}</annotation>
"""
ROBOFLOW_OBJECT = """\t<object>
\t\t<name>{label}</name>
\t\t<pose>Unspecified</pose>
\t\t<truncated>0</truncated>
\t\t<difficult>0</difficult>
\t\t<occluded>0</occluded>
\t\t<bndbox>
\t\t\t<xmin>{xmin}</xmin>
\t\t\t<xmax>{xmax}</xmax>
\t\t\t<ymin>{ymin}</ymin>
\t\t\t<ymax>{ymax}</ymax>
\t\t</bndbox>
\t</object>
"""
SAMPLES = {
    "train": {
        "BloodImage_00001_jpg.rf.4f1b6b0e9a8c4e0d2f1a3b5c7d9e0f12": [
            ("RBC", 10, 12, 40, 44),
            ("WBC", 50, 20, 90, 70),
        ],
        "BloodImage_00002_jpg.rf.0a1b2c3d4e5f60718293a4b5c6d7e8f9": [("Platelets", 5, 5, 15, 15)],
    },
    "valid": {"BloodImage_00010_jpg.rf.9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b": [("RBC", 1, 1, 30, 30)]},
    "test": {
        "BloodImage_00020_jpg.rf.1234567890abcdef1234567890abcdef": [
            ("WBC", 20, 20, 60, 60),
            ("RBC", 70, 10, 99, 50),
        ]
    },
}


def roboflow_voc(root: Path) -> Path:
    """Roboflow's "Pascal VOC" export as unzipped: README files at the root, each split a folder of JPEGs with
    their XML beside them."""
    write(
        root / "README.roboflow.txt",
        "BCCD - v3 raw\n==============================\n\nexported via roboflow.ai\n",
    )
    write(root / "README.dataset.txt", "# BCCD > raw\nhttps://public.roboflow.ai/object-detection/bccd\n")
    for split, files in SAMPLES.items():
        for stem, objects in files.items():
            make_image(root / split / f"{stem}.jpg", 416, 416)
            shown = "".join(
                ROBOFLOW_OBJECT.format(label=n, xmin=a, ymin=b, xmax=c, ymax=d) for n, a, b, c, d in objects
            )
            write(root / split / f"{stem}.xml", ROBOFLOW_XML.format(name=f"{stem}.jpg", objects=shown))
    return root


def test_roboflow_voc_root_is_detected_as_voc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = roboflow_voc(tmp_path / "BCCD.v3-raw.voc")
    code, out, _ = run(["formats", "--detect", str(root)], capsys)
    assert (code, out.splitlines()) == (
        0,
        [
            "voc            layout   test/, train/, valid/: Pascal VOC XML beside the images of each split "
            "(Roboflow's layout)",
            "chosen: voc",
        ],
    )


def test_roboflow_voc_root_reads_every_box_with_its_split(tmp_path: Path) -> None:
    root = roboflow_voc(tmp_path / "BCCD.v3-raw.voc")
    ds = cytoconv.read(root)
    names = {c.id: c.name for c in ds.categories}
    got = sorted(
        (r.split, r.file_name, names[i.category_id], (i.geometry.x, i.geometry.y, i.geometry.w, i.geometry.h))
        for r in ds.images
        for i in r.instances
        if isinstance(i.geometry, Box)
    )
    want = sorted(
        (split, f"{split}/{stem}.jpg", n, (a - 1, b - 1, c - a + 1, d - b + 1))  # 1-based inclusive corners
        for split, files in SAMPLES.items()
        for stem, objects in files.items()
        for n, a, b, c, d in objects
    )
    assert got == want
    assert len(got) == 6
    assert sorted((r.split, r.width, r.height) for r in ds.images) == [
        ("test", 416, 416),
        ("train", 416, 416),
        ("train", 416, 416),
        ("valid", 416, 416),
    ]


def test_roboflow_voc_root_converts_to_yolo_splits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = roboflow_voc(tmp_path / "BCCD.v3-raw.voc")
    dest = tmp_path / "yolo"
    code, _, _ = run(["convert", str(root), str(dest), "--to", "yolo"], capsys)
    assert code == 0
    labels = sorted(p.relative_to(dest).as_posix() for p in (dest / "labels").rglob("*.txt"))
    assert labels == sorted(
        f"labels/{'val' if split == 'valid' else split}/{stem}.txt"
        for split, files in SAMPLES.items()
        for stem in files
    )
    assert sum(len(p.read_text().splitlines()) for p in (dest / "labels").rglob("*.txt")) == 6


def test_one_roboflow_split_folder_alone_is_still_read(tmp_path: Path) -> None:
    root = roboflow_voc(tmp_path / "BCCD.v3-raw.voc")
    shutil.rmtree(root / "valid")
    train = root / "train"
    assert _evidence(train)["voc"].strength == CONTENT
    ds = cytoconv.read(train)
    assert sorted((r.split, len(r.instances)) for r in ds.images) == [(None, 1), (None, 2)]
