"""Detection of class folders and the detection report (``cytoconv formats --detect PATH``).

A folder that is no known format must not be taken for class folders: the Chula RBC-12 download
(``Dataset/*.jpg`` + ``Label/*.txt`` of ``x y class`` points, tests/assets/real/chula_rbc12_points) is read as
points-txt and refused by class folders (also with ``--from folders``) saying what was seen, while the PBC class folders, ImageFolder's ``<class>/<image>`` and
ultralytics' classification layout ``<split>/<class>/<image>`` are still read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import cytoconv
from cytoconv.formats import CONTENT, FORMATS, GUESS, LAYOUT, REFUSED, Evidence, candidates, choose, detect
from tests.conftest import make_image, real, write
from tests.conftest import run_cli as run

ALL = ", ".join(FORMATS)
CHULA_SEEN = (
    "Label/ holds 20 .txt file(s) and no image, beside the images of Dataset/: point labels (x y class per "
    "line: points-txt), not class folders"
)


def _folders_evidence(path: Path) -> Evidence | None:
    return dict((info.name, e) for info, e in candidates(path, refused=True)).get("folders")


# --- the Chula RBC-12 layout ----------------------------------------------------------------------------


def test_chula_points_layout_is_read_as_points(capsys: pytest.CaptureFixture[str]) -> None:
    chula = real("chula_rbc12_points")
    code, out, err = run(["stats", str(chula), "--json"], capsys)
    assert code == 0, err
    assert '"format": "points-txt"' in out and detect(chula).name == "points-txt"


def test_chula_points_layout_is_refused_with_from_folders_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not read as two classes "Dataset" and "Label", nothing written."""
    chula = real("chula_rbc12_points")
    code, _, err = run(["folders2coco", str(chula), str(tmp_path / "c.json")], capsys)
    assert (code, err.splitlines()) == (1, [f"{chula}: {CHULA_SEEN}"])
    assert not (tmp_path / "c.json").exists()


def test_chula_detection_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["formats", "--detect", str(real("chula_rbc12_points"))], capsys)
    assert (code, out.splitlines()) == (
        0,
        [
            "points-txt     layout   Dataset/ + Label/ (Chula RBC-12) of x y class lines",
            f"folders        refused  {CHULA_SEEN}",
            "chosen: points-txt",
        ],
    )


# --- class folders that are class folders -----------------------------------------------------------------


def test_pbc_class_folders_are_still_read(capsys: pytest.CaptureFixture[str]) -> None:
    pbc = real("pbc_classfolders") / "PBC_dataset_normal_DIB"
    assert detect(pbc).name == "folders"
    code, out, _ = run(["formats", "--detect", str(pbc)], capsys)
    assert (code, out.splitlines()) == (
        0,
        [
            "folders        guess    folders of images read as classes (basophil/, eosinophil/, erythroblast/, ...)",
            "chosen: folders",
        ],
    )
    ds = cytoconv.read(pbc)
    assert len(ds.categories) == 8 and len(ds.images) == 44
    assert all(r.label is not None and not r.instances for r in ds.images)


def test_split_class_folders_with_the_same_classes_are_content(tmp_path: Path) -> None:
    root = tmp_path / "cls"
    for split in ("train", "val"):
        for name in ("lymphocyte", "neutrophil"):
            make_image(root / split / name / f"{split}_{name}.jpg", 8, 8)
    assert _folders_evidence(root) == Evidence(
        CONTENT, "train/, val/ hold the same 2 class folders of images"
    )
    make_image(root / "val" / "monocyte" / "m.jpg", 8, 8)  # val has a class train lacks: names alone
    evidence = _folders_evidence(root)
    assert evidence is not None and evidence.strength == GUESS
    ds = cytoconv.read(root)
    assert sorted((r.split, r.file_name) for r in ds.images)[0] == (
        "train",
        "train/lymphocyte/train_lymphocyte.jpg",
    )


def test_a_readme_beside_the_images_of_a_class_is_no_evidence_of_labels(tmp_path: Path) -> None:
    make_image(tmp_path / "ds" / "blast" / "1.jpg", 8, 8)
    write(tmp_path / "ds" / "blast" / "README.txt", "scanned 2019\n")
    assert _folders_evidence(tmp_path / "ds") == Evidence(GUESS, "folders of images read as classes (blast/)")


# --- folders that hold labels ------------------------------------------------------------------------------


def test_labels_beside_their_images_are_not_a_class(tmp_path: Path) -> None:
    make_image(tmp_path / "ds" / "cells" / "1.jpg", 8, 8)
    write(tmp_path / "ds" / "cells" / "1.txt", "4 4 0\n")
    assert _folders_evidence(tmp_path / "ds") == Evidence(
        REFUSED, "cells/1.txt beside cells/1.jpg: label files beside their images, not a class"
    )


def test_images_and_labels_under_splits_are_not_class_folders(tmp_path: Path) -> None:
    """A YOLO export without its data.yaml: train/images + train/labels are not two classes."""
    make_image(tmp_path / "ds" / "train" / "images" / "a.png", 8, 8)
    write(tmp_path / "ds" / "train" / "labels" / "a.txt", "0 0.5 0.5 0.2 0.2\n")
    assert _folders_evidence(tmp_path / "ds") == Evidence(
        REFUSED,
        "train/labels/ holds 1 .txt file(s) and no image, beside the images of train/images/: labels, "
        "not class folders",
    )


def test_images_beside_their_masks_are_not_a_class() -> None:
    """segmentation_wbc: Dataset 1/001.bmp (image) + Dataset 1/001.png (mask), a masks layout."""
    assert _folders_evidence(real("segmentation_wbc")) == Evidence(
        REFUSED, "Dataset 1/ holds 001.bmp and 001.png: an image and its mask, not a class folder"
    )


# --- the choice and the report --------------------------------------------------------------------------


def test_choose_takes_the_strongest_and_refuses_a_tie_or_nothing() -> None:
    voc, masks, folders = FORMATS["voc"], FORMATS["masks"], FORMATS["folders"]
    assert choose([(voc, Evidence(LAYOUT, "a")), (masks, Evidence(CONTENT, "b"))]) == (voc, "a")
    assert choose([(voc, Evidence(LAYOUT, "a")), (masks, Evidence(LAYOUT, "b"))]) == (
        None,
        "could be any of voc, masks (voc: a; masks: b); give --from",
    )
    assert choose([(folders, Evidence(REFUSED, "seen"))]) == (
        None,
        f"cannot tell its format (folders: seen); give --from ({ALL})",
    )
    assert choose([]) == (None, f"cannot tell its format; give --from ({ALL})")
    # a refusal never wins, even alone beside a guess
    assert choose([(voc, Evidence(GUESS, "g")), (folders, Evidence(REFUSED, "r"))]) == (voc, "g")


def test_the_report_shows_a_tie(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tie = [
        (FORMATS["voc"], Evidence(LAYOUT, "Annotations/a.xml")),
        (FORMATS["masks"], Evidence(LAYOUT, "m/")),
    ]
    monkeypatch.setattr("cytoconv.formats.candidates", lambda path, refused=False: tie)
    code, out, _ = run(["formats", "--detect", str(tmp_path)], capsys)
    assert (code, out.splitlines()) == (
        2,
        [
            "voc            layout   Annotations/a.xml",
            "masks          layout   m/",
            "chosen: none (a tie at layout: voc, masks; give --from)",
        ],
    )


def test_the_report_of_a_missing_path_is_bad_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["formats", "--detect", str(tmp_path / "nope")], capsys)
    assert (code, out) == (2, "") and err == f"cytoconv: error: {tmp_path / 'nope'}: no such file or folder\n"


def test_formats_without_detect_still_lists_the_formats(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["formats"], capsys)
    assert code == 0 and [line.split()[0] for line in out.splitlines()[: len(FORMATS)]] == list(FORMATS)
