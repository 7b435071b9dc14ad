"""``cytoconv validate`` on every real sample in ../shared/real: exactly the findings its PROVENANCE.md predicts.

Two samples are not validated: chula_rbc12_points (``x y class`` points) and cric_classifications_excerpt (a
CSV without images) are in no format cytoconv reads.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from cytoconv.validate import Finding, Settings, validate
from tests.conftest import real


def codes(findings: list[Finding], root: Path) -> Counter[tuple[str, str]]:
    return Counter((Path(os.path.relpath(f.path, root)).as_posix(), f.code) for f in findings)


def _crosses(points: list[tuple[float, float]]) -> bool:
    """Whether two non-adjacent edges of a closed outline cross properly: a plain O(n^2) check, independent of
    shapely, to confirm what validate reports."""

    def side(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    n = len(points)
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue
            a, b, c, d = points[i], points[(i + 1) % n], points[j], points[(j + 1) % n]
            if side(a, b, c) * side(a, b, d) < 0 and side(c, d, a) * side(c, d, b) < 0:
                return True
    return False


def test_cell_seg_roboflow_polygons() -> None:
    """Not in PROVENANCE.md (which lists point counts, not shapes): 13 of the 374 polygons cross themselves, each
    confirmed here by a plain edge-crossing search. Nothing else is found: no junk from __MACOSX, no class or
    range problem, no empty file."""
    root = real("cell_seg_yolov8_roboflow")
    report = validate([root], Settings(), jobs=1)
    crossing = set()
    for label in sorted(root.glob("*/labels/*.txt")):
        for number, line in enumerate(label.read_text().splitlines(), start=1):
            values = [float(v) for v in line.split()[1:]]
            if _crosses(list(zip(values[0::2], values[1::2]))):
                crossing.add((label.relative_to(root).as_posix(), number))
    assert len(crossing) == 13
    assert {(Path(os.path.relpath(f.path, root)).as_posix(), f.line) for f in report.findings} == crossing
    assert {f.code for f in report.findings} == {"CC106"}
    assert report.checked == 9


def test_txl_pbc_duplicate_lines() -> None:
    root = real("txl_pbc_yolo") / "TXL_PBC"
    report = validate([root], Settings(), jobs=1)
    assert codes(report.findings, root) == Counter(
        {
            ("labels/test/4e2139d2-7d0c-56a5-91d5-abfa72c21efa.txt", "CC401"): 38 - 18,
            ("labels/test/6a5b8c22-30f6-57f7-b780-458a620a9622.txt", "CC401"): 33 - 17,
        }
    )
    assert report.checked == 35  # the classes.txt inside labels/test is not a label file
    assert report.fixable == 36


def test_txl_pbc_fixed_keeps_one_copy_of_each_line(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "TXL_PBC"
    shutil.copytree(real("txl_pbc_yolo") / "TXL_PBC", root)
    name = "labels/test/4e2139d2-7d0c-56a5-91d5-abfa72c21efa.txt"
    lines = (root / name).read_text().splitlines()
    report = validate([root], Settings(), mode="fix", jobs=1)
    assert len(report.fixed) == 36 and report.findings == []
    assert (root / name).read_text().splitlines() == list(dict.fromkeys(lines))


def test_bccd_two_one_pixel_boxes() -> None:
    """xmin == xmax under inclusive corners: 1x1 px boxes, warnings (CC703), not errors."""
    root = real("bccd_voc") / "BCCD"
    report = validate([root], Settings(), jobs=1)
    got = [(Path(f.path).name, f.code, f.severity, f.object_index, f.line) for f in report.findings]
    assert got == [
        ("BloodImage_00338.xml", "CC703", "warning", 13, 158),
        ("BloodImage_00343.xml", "CC703", "warning", 4, 50),
    ]
    assert report.exit_code == 0
    assert report.checked == 56
    for f in report.findings:  # the line named is the <object> holding PROVENANCE's degenerate box
        assert f.line is not None
        text = Path(f.path).read_text().splitlines()[f.line - 1 : f.line + 12]
        assert text[0].strip() == "<object>"
        box = {"BloodImage_00338.xml": "504", "BloodImage_00343.xml": "181"}[Path(f.path).name]
        assert f"<xmin>{box}</xmin>" in "".join(text).replace(" ", "").replace("\t", "")


def test_rbc_coco_annotation_ids_from_zero() -> None:
    """PROVENANCE: ids start at 0 in each split; COCOeval then cannot match annotation 0 (a warning, exit 0)."""
    root = real("rbc_coco_roboflow")
    report = validate([root], Settings(), jobs=1)
    assert [
        (Path(os.path.relpath(f.path, root)).as_posix(), f.code, f.annotation_id) for f in report.findings
    ] == [("test/_annotations.coco.json", "CC604", 0), ("valid/_annotations.coco.json", "CC604", 0)]
    assert report.exit_code == 0


def test_wbc_stray_mask_values() -> None:
    root = real("segmentation_wbc")
    report = validate(
        [root / "Dataset 1", root / "Dataset 2"], Settings(mask_classes="wbc"), fmt="masks", jobs=1
    )
    got = sorted((Path(f.path).name, f.pixel_value) for f in report.findings)
    assert {f.code for f in report.findings} == {"CC502"}
    assert all("Dataset 2" in f.path for f in report.findings)
    assert got == [
        ("034.png", 2),
        ("034.png", 7),
        ("034.png", 25),
        ("034.png", 42),
        ("034.png", 44),
        ("034.png", 45),
        ("035.png", 3),
        ("047.png", 7),
        ("050.png", 9),
        ("076.png", 24),
        ("076.png", 37),
        ("076.png", 50),
    ]
    assert report.checked == 53


def test_bbbc039_one_empty_mask() -> None:
    root = real("bbbc039_deeptrack") / "cell nuclei"
    report = validate([root], Settings(channel="R"), fmt="masks", jobs=1)
    assert [(Path(f.path).name[:14], f.code) for f in report.findings] == [("IXMtest_F13_s7", "CC004")]
    without_channel = validate([root], Settings(), fmt="masks", jobs=1)
    assert Counter(f.code for f in without_channel.findings) == Counter({"CC003": 3, "CC004": 1})


def test_instance_and_object_masks_are_clean() -> None:
    omnipose = validate(
        [real("omnipose_cp_masks") / "docs" / "test_files"], Settings(), fmt="instance-masks", jobs=1
    )
    assert omnipose.findings == [] and omnipose.checked == 3
    stardist = real("stardist_dsb_label_tif") / "stardist" / "data" / "images" / "mask2d.tif"
    one = validate([stardist], Settings(), fmt="instance-masks", jobs=1)
    assert one.findings == [] and one.checked == 1
    dsb = validate([real("dsb2018_stage1_test_masks") / "stage1_test"], Settings(), jobs=1)
    assert dsb.findings == [] and dsb.checked == 9


def test_class_folders_are_clean_and_junk_is_not_a_finding() -> None:
    pbc = validate([real("pbc_classfolders") / "PBC_dataset_normal_DIB"], Settings(), jobs=1)
    assert pbc.findings == [] and pbc.checked == 44  # 45 files, one of them the .DS_Store renamed .jpg
    chula = validate([real("chula_rbc_diseases_classfolders") / "RBC Diseases"], Settings(), jobs=1)
    assert chula.findings == [] and chula.checked == 6
