"""Split: stratified within one image per class, the same for the same seed, groups never straddle splits."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

import cytoconv
from cytoconv.api import split
from cytoconv.errors import Report, UsageError
from cytoconv.ir import Box, ImageRecord, Instance
from cytoconv.ops.split import assign, image_classes, parse_ratios
from tests.conftest import make_image, real

RATIOS = (0.8, 0.1, 0.1)
NAMES = ("train", "val", "test")


def _classification(sizes: dict[str, int], prefix: str = "img") -> list[ImageRecord]:
    records = []
    for label, (_, n) in enumerate(sizes.items(), start=1):
        records += [
            ImageRecord(file_name=f"{prefix}_{label}_{k}.png", width=4, height=4, label=label)
            for k in range(n)
        ]
    return records


def _per_class(records: list[ImageRecord], chosen: list[int]) -> dict[int, Counter[int]]:
    out: dict[int, Counter[int]] = {}
    for record, s in zip(records, chosen):
        for c in image_classes(record):
            out.setdefault(c, Counter())[s] += 1
    return out


def _within_one(records: list[ImageRecord], chosen: list[int], ratios: tuple[float, ...]) -> None:
    for c, counts in _per_class(records, chosen).items():
        total = sum(counts.values())
        for s, r in enumerate(ratios):
            assert abs(counts[s] - r * total) < 1, (c, s, counts[s], r * total)


def test_parse_ratios() -> None:
    assert parse_ratios("0.8,0.1,0.1") == pytest.approx((0.8, 0.1, 0.1))
    assert parse_ratios("70,30") == pytest.approx((0.7, 0.3))
    for bad in ("a,b", "0,0", "-1,2", ""):
        with pytest.raises(UsageError):
            parse_ratios(bad)


@pytest.mark.parametrize("seed", range(8))
def test_single_label_classes_within_one_image_of_target(seed: int) -> None:
    records = _classification({"a": 137, "b": 23, "c": 11, "d": 5, "e": 2, "f": 1})
    chosen = assign(records, RATIOS, seed)
    _within_one(records, chosen, RATIOS)
    totals = Counter(chosen)
    assert all(abs(totals[s] - r * len(records)) < 6 for s, r in enumerate(RATIOS))  # one per class at most


def test_same_seed_same_split_other_seed_other_split() -> None:
    records = _classification({"a": 60, "b": 40})
    assert assign(records, RATIOS, 7) == assign(records, RATIOS, 7)
    assert assign(records, RATIOS, 7) != assign(records, RATIOS, 8)


def test_zero_ratio_split_gets_nothing() -> None:
    records = _classification({"a": 10, "b": 3})
    chosen = assign(records, (0.5, 0.5, 0.0), 1)
    assert 2 not in chosen
    assert Counter(chosen) in ({0: 7, 1: 6}, {0: 6, 1: 7})


def test_groups_never_straddle_splits_and_stay_stratified() -> None:
    records = []
    for patient in range(40):
        label = 1 + patient % 4
        records += [
            ImageRecord(file_name=f"sub/patient{patient}_{k}.png", width=4, height=4, label=label)
            for k in range(1 + patient % 3)
        ]
    records.append(ImageRecord(file_name="stray.png", width=4, height=4, label=1))
    report = Report()
    chosen = assign(records, RATIOS, 3, group_by=r"^(patient\d+)_", report=report)
    assert report.notices["ungrouped"] == 1
    by_group: dict[str, set[int]] = {}
    for record, s in zip(records, chosen):
        match = re.search(r"^(patient\d+)_", record.file_name.rsplit("/", 1)[-1])
        if match:
            by_group.setdefault(match.group(1), set()).add(s)
    assert len(by_group) == 40 and all(len(splits) == 1 for splits in by_group.values())
    for counts in _per_class(records, chosen).values():  # whole groups (1-3 images) move: within one group
        total = sum(counts.values())
        assert all(abs(counts[s] - r * total) <= 3 for s, r in enumerate(RATIOS))


def test_multi_class_images_balanced_per_class() -> None:
    """BCCD-like: most images hold several classes; each class is balanced by the images holding it."""
    records = []
    for k in range(200):
        classes = {1} | ({2} if k % 3 == 0 else set()) | ({3} if k % 7 == 0 else set())
        records.append(
            ImageRecord(
                file_name=f"{k}.png",
                width=4,
                height=4,
                instances=[
                    Instance(category_id=c, geometry=Box(x=0, y=0, w=1, h=1)) for c in sorted(classes)
                ],
            )
        )
    records += [ImageRecord(file_name=f"empty{k}.png", width=4, height=4) for k in range(10)]
    chosen = assign(records, RATIOS, 5)
    for counts in _per_class(records, chosen).values():
        total = sum(counts.values())
        assert all(abs(counts[s] - r * total) <= 2 for s, r in enumerate(RATIOS))
    assert all(abs(Counter(chosen)[s] - r * 210) <= 2 for s, r in enumerate(RATIOS))


def test_pbc_folders_split_written_as_split_class_folders_identically_for_a_seed(tmp_path: Path) -> None:
    pbc = real("pbc_classfolders") / "PBC_dataset_normal_DIB"
    for out in ("a", "b"):
        split(pbc, tmp_path / out, RATIOS, seed=11, to="manifest" if out == "b" else None)
    first = cytoconv.read(tmp_path / "a")
    assert {r.split for r in first.images} == set(NAMES)
    _within_one(first.images, [NAMES.index(r.split or "") for r in first.images], RATIOS)
    layout = {(r.split, r.file_name.split("/")[1]) for r in first.images}
    assert all(r.file_name.startswith(f"{r.split}/") for r in first.images) and len(layout) >= 8
    split(pbc, tmp_path / "c.csv", RATIOS, seed=11, to="manifest")
    split(pbc, tmp_path / "d.csv", RATIOS, seed=11, to="manifest")
    assert (tmp_path / "c.csv").read_bytes() == (tmp_path / "d.csv").read_bytes()
    rows = (tmp_path / "c.csv").read_text().splitlines()
    assert rows[0] == "file,label,width,height,split" and len(rows) == 45
    assigned = {row.split(",")[0]: row.split(",")[-1] for row in rows[1:]}
    assert all(assigned[r.file_name.split("/", 1)[1]] == r.split for r in first.images)


def test_bccd_split_voc_image_sets_and_coco_per_split(tmp_path: Path) -> None:
    bccd = real("bccd_voc") / "BCCD"
    report = Report(strict=False)
    result, _ = split(bccd, tmp_path / "voc", RATIOS, seed=2, report=report)
    _within_one(result.images, [NAMES.index(r.split or "") for r in result.images], RATIOS)
    sets = {f.stem: f.read_text().split() for f in (tmp_path / "voc" / "ImageSets" / "Main").glob("*.txt")}
    assert sorted(sets) == sorted(NAMES)
    assert sorted(i for ids in sets.values() for i in ids) == sorted(
        r.file_name.rsplit(".", 1)[0] for r in result.images
    )
    split(bccd, tmp_path / "coco", RATIOS, seed=2, to="coco", report=Report(strict=False))
    files = sorted(p.name for p in (tmp_path / "coco").iterdir())
    assert files == ["instances_test.json", "instances_train.json", "instances_val.json"]
    images = {
        s: {
            im["file_name"]
            for im in json.loads((tmp_path / "coco" / f"instances_{s}.json").read_text())["images"]
        }
        for s in NAMES
    }
    assert images == {s: {r.file_name for r in result.images if r.split == s} for s in NAMES}


def test_yolo_split_puts_labels_under_the_new_split(tmp_path: Path) -> None:
    root = tmp_path / "y"
    for k in range(20):
        split_dir = "train" if k < 15 else "val"
        make_image(root / "images" / split_dir / f"i{k}.png", 10, 10)
        (root / "labels" / split_dir).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split_dir / f"i{k}.txt").write_text(f"{k % 2} 0.5 0.5 0.2 0.2\n")
    (root / "data.yaml").write_text("names: [a, b]\n")
    result, _ = split(root, tmp_path / "out", (0.5, 0.5), seed=1, names=("fit", "hold"))
    for record in result.images:
        stem = record.file_name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        assert (tmp_path / "out" / "labels" / (record.split or "") / f"{stem}.txt").is_file()
    assert Counter(r.split for r in result.images) == {"fit": 10, "hold": 10}


def test_cli_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cytoconv.cli.entry import main

    pbc = real("pbc_classfolders") / "PBC_dataset_normal_DIB"
    with pytest.raises(SystemExit) as exit_:
        main(["split", str(pbc), str(tmp_path / "s"), "--ratios", "0.8,0.1,0.1", "--seed", "4", "--link"])
    assert exit_.value.code == 0
    err = capsys.readouterr().err
    assert "train" in err and "basophil" in err
    with pytest.raises(SystemExit) as exit_:
        main(["split", str(pbc), str(tmp_path / "t"), "--ratios", "a,b"])
    assert exit_.value.code == 2
