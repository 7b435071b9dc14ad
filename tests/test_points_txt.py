"""points-txt: per-image ``x y class`` files of cell centres (Chula RBC-12), read, written back byte for byte,
detected, validated; every bad input one line with file and line, exit 1, nothing left behind."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

import cytoconv
from cytoconv.engine.contract import ReadOptions
from cytoconv.errors import FormatError, Report
from cytoconv.formats import CONTENT, FORMATS, LAYOUT, REFUSED, candidates, detect
from cytoconv.formats.points_txt import check as points_check
from cytoconv.formats.points_txt.writer import format_index
from cytoconv.formats.yolo import check as yolo_check
from cytoconv.ir import Box, Category, Dataset, ImageRecord, Instance, Point
from cytoconv.validate import Settings, validate
from tests.conftest import real, write
from tests.conftest import run_cli as run

CHULA = "chula_rbc12_points"
# PROVENANCE.md of the vendored sample: points per class (0-based class ids as written).
OUTSIDE = "is outside the 64x48 image (pixel indices 0..63, 0..47)"  # the synthetic images' message
CHULA_CLASSES = {0: 1367, 1: 4, 2: 25, 3: 21, 4: 25, 5: 14, 6: 91, 7: 7, 8: 95, 9: 17, 10: 5, 11: 6, 12: 53}


def _image(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size).save(path)
    return path


def _chula_like(root: Path, labels: dict[str, str | bytes], images: tuple[str, ...] = ()) -> Path:
    """``root/Dataset/<stem>.png`` (64x48) for every label and every extra image, ``root/Label/<stem>.txt``."""
    for stem in (*labels, *images):
        _image(root / "Dataset" / f"{stem}.png")
    for stem, text in labels.items():
        write(root / "Label" / f"{stem}.txt", text)
    return root


def _points(record: ImageRecord) -> list[tuple[float, float, int]]:
    out = []
    for inst in record.instances:
        assert isinstance(inst.geometry, Point)
        out.append((inst.geometry.x, inst.geometry.y, inst.category_id))
    return out


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "cytoconv-tmp" in p.name)


# --- the real Chula RBC-12 sample --------------------------------------------------------------------------


def test_real_chula_sample_counts_every_point_per_class() -> None:
    report = Report()
    ds = cytoconv.read(real(CHULA), report=report)
    assert len(ds.images) == 23
    assert all((r.width, r.height) == (640, 480) for r in ds.images)
    counts = Counter(inst.category_id - 1 for r in ds.images for inst in r.instances)
    assert dict(counts) == CHULA_CLASSES and sum(counts.values()) == 1730
    by_name = {r.file_name: r for r in ds.images}
    assert [
        name for name in ("18.jpg", "47.jpg", "50.jpg", "53.jpg", "56.jpg") if by_name[name].instances
    ] == []
    assert report.notices == Counter({"image-without-label": 3, "junk-skipped": 1})
    assert report.examples["junk-skipped"] == [str(real(CHULA).resolve() / "Label" / ".DS_Store")]
    assert [c.name for c in ds.categories] == [f"class_{k}" for k in range(13)]
    assert [c.id for c in ds.categories] == list(range(1, 14))
    assert ds.image_root == str(real(CHULA).resolve() / "Dataset")


def test_real_chula_line_is_the_pixel_centre() -> None:
    ds = cytoconv.read(real(CHULA))
    by_name = {r.file_name: r for r in ds.images}
    # Label/1.txt line 1 is "594 95 0"; Label/707.txt line 1 is "572 461 12": index i is the coordinate i + 0.5
    assert _points(by_name["1.jpg"])[0] == (594.5, 95.5, 1)
    assert _points(by_name["707.jpg"])[0] == (572.5, 461.5, 13)
    first = by_name["1.jpg"].instances[0].geometry
    assert isinstance(first, Point) and first.pixel() == (594.0, 95.0)


def test_real_chula_round_trip_is_byte_identical(tmp_path: Path) -> None:
    chula = real(CHULA)
    cytoconv.convert(chula, tmp_path / "out", to="points-txt", fmt="points-txt", jobs=1)
    written = tmp_path / "out" / "labels"
    for label in sorted((chula / "Label").glob("*.txt")):
        assert (written / label.name).read_bytes() == label.read_bytes(), label.name
    # images without a label file are images with no points: an empty file each
    assert [(written / f"{n}.txt").read_bytes() for n in (18, 47, 50)] == [b"", b"", b""]
    assert (tmp_path / "out" / "classes.txt").read_text() == "".join(f"class_{k}\n" for k in range(13))
    # and back again, the images found with --images: the same points, class numbers and names
    options = ReadOptions(images=chula / "Dataset")
    again = cytoconv.read(tmp_path / "out", fmt="points-txt", options=options)
    first = cytoconv.read(chula)
    assert [(_points(r), r.file_name) for r in again.images] == [
        (_points(r), r.file_name) for r in first.images
    ]
    assert again.categories == first.categories


def test_real_chula_through_coco_keypoints_and_back_is_byte_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chula = real(CHULA)
    code, _, err = run(["convert", str(chula), str(tmp_path / "c.json"), "--to", "coco", "-q"], capsys)
    assert code == 0, err
    code, _, err = run(
        ["convert", str(tmp_path / "c.json"), str(tmp_path / "back"), "--to", "points-txt", "-q"], capsys
    )
    assert code == 0, err
    for label in sorted((chula / "Label").glob("*.txt")):
        assert (tmp_path / "back" / "labels" / label.name).read_bytes() == label.read_bytes(), label.name
    assert (tmp_path / "back" / "classes.txt").read_text() == "".join(f"class_{k}\n" for k in range(13))


def test_real_chula_names_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = ",".join(f"c{k}" for k in range(13))
    code, _, err = run(
        ["convert", str(real(CHULA)), str(tmp_path / "o"), "--to", "points-txt", "--names", names, "-q"],
        capsys,
    )
    assert code == 0, err
    assert (tmp_path / "o" / "classes.txt").read_text().split() == names.split(",")


def test_real_chula_unknown_class_with_too_few_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        ["convert", str(real(CHULA)), str(tmp_path / "o"), "--to", "points-txt", "--names", "a,b", "-q"],
        capsys,
    )
    label = real(CHULA).resolve() / "Label" / "1.txt"
    first_bad = next(
        k for k, line in enumerate(label.read_text().splitlines(), 1) if int(line.split()[2]) >= 2
    )
    assert code == 1
    assert err.strip().endswith(
        f"{label}:{first_bad}: class id {label.read_text().splitlines()[first_bad - 1].split()[2]} is outside "
        "the 2 classes of --names (0..1)"
    )
    assert not (tmp_path / "o").exists() and _leftovers(tmp_path) == []


# --- detection ---------------------------------------------------------------------------------------------


def _evidence(path: Path) -> dict[str, tuple[int, str]]:
    return {info.name: (ev.strength, ev.reason) for info, ev in candidates(path, refused=True)}


def test_chula_root_and_label_folder_detect_as_points_txt() -> None:
    chula = real(CHULA)
    found = _evidence(chula)
    assert found["points-txt"] == (LAYOUT, "Dataset/ + Label/ (Chula RBC-12) of x y class lines")
    assert found["folders"][0] == REFUSED and "points-txt" in found["folders"][1]
    assert "yolo" not in found
    assert detect(chula).name == "points-txt"
    assert _evidence(chula / "Label")["points-txt"] == (LAYOUT, "Label/ of x y class lines")
    assert detect(chula / "Label").name == "points-txt"
    one = _evidence(chula / "Label" / "1.txt")
    assert one["points-txt"] == (CONTENT, "1.txt holds x y class lines")
    assert one["yolo"] == (REFUSED, "1.txt holds x y class lines (points), not YOLO lines")


def test_formats_detect_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["formats", "--detect", str(real(CHULA))], capsys)
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split()[:2] == ["points-txt", "layout"]
    assert lines[-1].startswith("chosen: points-txt")
    assert any(line.split()[:2] == ["folders", "refused"] for line in lines)


def test_images_labels_of_points_are_not_yolo(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "a.png")
    write(tmp_path / "labels" / "a.txt", "3 4 0\n")
    found = _evidence(tmp_path)
    assert found["points-txt"] == (LAYOUT, "images/ + labels/ of x y class lines")
    assert found["yolo"] == (REFUSED, "labels/ holds x y class lines (points), not YOLO lines")
    assert detect(tmp_path).name == "points-txt"


def test_yolo_labels_stay_yolo(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "a.png")
    write(tmp_path / "labels" / "a.txt", "0 0.5 0.5 0.2 0.2\n")
    found = _evidence(tmp_path)
    assert found["yolo"][0] == LAYOUT and found["points-txt"][0] == REFUSED
    assert detect(tmp_path).name == "yolo"


def _roboflow_like(root: Path, labels: dict[str, str]) -> Path:
    """Roboflow's layout holding points: ``root/<split>/images/<stem>.png`` (64x48) and
    ``root/<split>/labels/<stem>.txt`` for every ``<split>/<stem>`` key of ``labels``."""
    for key, text in labels.items():
        split, stem = key.split("/")
        _image(root / split / "images" / f"{stem}.png")
        write(root / split / "labels" / f"{stem}.txt", text)
    return root


def test_roboflow_layout_of_points_is_points_txt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """<split>/images + <split>/labels of x y class lines: points-txt, never YOLO; the split is the folder."""
    root = _roboflow_like(
        tmp_path / "set", {"train/a": "3 4 0\n10 20 1\n", "train/b": "5 6 1\n", "valid/c": "0 0 0\n"}
    )
    _image(root / "test" / "images" / "d.png")  # an image without a label file: no points
    (root / "test" / "labels").mkdir()
    found = _evidence(root)
    kind = "test/, train/, valid/: <split>/images/ + <split>/labels/ (Roboflow)"
    assert found["points-txt"] == (LAYOUT, f"{kind} of x y class lines")
    assert found["yolo"] == (
        REFUSED,
        "test/labels/, train/labels/, valid/labels/ hold x y class lines (points), not YOLO lines",
    )
    assert detect(root).name == "points-txt"
    code, out, _ = run(["formats", "--detect", str(root)], capsys)
    assert code == 0 and out.splitlines()[-1].startswith("chosen: points-txt")
    dataset = cytoconv.read(root)
    assert [(r.file_name, r.split, _points(r)) for r in dataset.images] == [
        ("test/images/d.png", "test", []),
        ("train/images/a.png", "train", [(3.5, 4.5, 1), (10.5, 20.5, 2)]),
        ("train/images/b.png", "train", [(5.5, 6.5, 2)]),
        ("valid/images/c.png", "valid", [(0.5, 0.5, 1)]),
    ]
    assert dataset.image_root == str(root.resolve())
    code, out, err = run(["stats", str(root)], capsys)
    assert code == 0, err
    assert "4 images (1 without objects), 4 objects (4 points)" in out
    report = validate([root])
    assert [(f.code, Path(f.path).name) for f in report.findings] == [("CC403", "d.png")]


def test_roboflow_yolo_stays_yolo(tmp_path: Path) -> None:
    """The real Roboflow export (polygon lines) is YOLO, with its data.yaml and without it."""
    import shutil

    roboflow = real("cell_seg_yolov8_roboflow")
    assert detect(roboflow).name == "yolo"
    copy = tmp_path / "rf"
    shutil.copytree(roboflow, copy, ignore=shutil.ignore_patterns("data.yaml", "__MACOSX"))
    found = _evidence(copy)
    assert found["yolo"][0] == LAYOUT and found["points-txt"][0] == REFUSED
    assert detect(copy).name == "yolo"
    # a synthetic Roboflow set of YOLO box lines too
    boxes = _roboflow_like(tmp_path / "boxes", {"train/a": "0 0.5 0.5 0.2 0.2\n"})
    assert detect(boxes).name == "yolo" and _evidence(boxes)["points-txt"][0] == REFUSED


def test_class_folder_holding_points_is_refused_as_folders(tmp_path: Path) -> None:
    _image(tmp_path / "cells" / "a.png")
    _image(tmp_path / "other" / "b.png")
    write(tmp_path / "cells" / "centres.txt", "3 4 0\n5 6 1\n")
    found = _evidence(tmp_path)
    assert found["folders"] == (
        REFUSED,
        "cells/centres.txt holds x y class lines (points-txt): label files, not a class folder",
    )


# --- synthetic layouts and the quirks of real files ---------------------------------------------------------


def test_line_endings_bom_blank_lines_floats_and_junk(tmp_path: Path) -> None:
    root = _chula_like(
        tmp_path / "set",
        {
            "crlf": b"1 2 0\r\n3 4 1\r\n",
            "bom": b"\xef\xbb\xbf5 6 0\n",
            "nofinal": "7 8 2",
            "blank": "\n1 1 0\n\n\n2 2 0\n\n",
            "floats": "0.25 10.5 1\n-0.5 47.5 0\n",
            "tabs": "1\t2  0\n",
            "empty": "",
        },
        images=("alone",),
    )
    write(root / "Label" / ".DS_Store", b"\x00\x00\x00\x01Bud1")
    report = Report()
    ds = cytoconv.read(root, report=report)
    got = {r.file_name: _points(r) for r in ds.images}
    assert got == {
        "alone.png": [],
        "blank.png": [(1.5, 1.5, 1), (2.5, 2.5, 1)],
        "bom.png": [(5.5, 6.5, 1)],
        "crlf.png": [(1.5, 2.5, 1), (3.5, 4.5, 2)],
        "empty.png": [],
        "floats.png": [(0.75, 11.0, 2), (0.0, 48.0, 1)],  # -0.5 and 47.5 are the image's edges, inside
        "nofinal.png": [(7.5, 8.5, 3)],
        "tabs.png": [(1.5, 2.5, 1)],
    }
    assert report.notices == Counter({"image-without-label": 1, "junk-skipped": 1})
    assert [c.name for c in ds.categories] == ["class_0", "class_1", "class_2"]


def test_images_labels_with_splits_and_classes_txt(tmp_path: Path) -> None:
    for split, stem in (("train", "a"), ("train", "b"), ("val", "c")):
        _image(tmp_path / "images" / split / f"{stem}.jpg")
        write(tmp_path / "labels" / split / f"{stem}.txt", "10 20 1\n")
    write(tmp_path / "classes.txt", "rbc\nwbc\n")
    ds = cytoconv.read(tmp_path)
    assert [(r.file_name, r.split, _points(r)) for r in ds.images] == [
        ("train/a.jpg", "train", [(10.5, 20.5, 2)]),
        ("train/b.jpg", "train", [(10.5, 20.5, 2)]),
        ("val/c.jpg", "val", [(10.5, 20.5, 2)]),
    ]
    assert [(c.id, c.name) for c in ds.categories] == [(1, "rbc"), (2, "wbc")]
    cytoconv.convert(tmp_path, tmp_path.parent / "out", to="points-txt", jobs=1)
    out = tmp_path.parent / "out"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.txt")) == [
        "classes.txt",
        "labels/train/a.txt",
        "labels/train/b.txt",
        "labels/val/c.txt",
    ]
    assert (out / "labels" / "val" / "c.txt").read_text() == "10 20 1\n"
    assert (out / "classes.txt").read_text() == "rbc\nwbc\n"


def test_labels_folder_given_with_images_elsewhere(tmp_path: Path) -> None:
    write(tmp_path / "pts" / "x.txt", "1 2 0\n")
    _image(tmp_path / "pics" / "x.png", (10, 10))
    ds = cytoconv.read(tmp_path / "pts", fmt="points-txt", options=ReadOptions(images=tmp_path / "pics"))
    assert [(r.file_name, r.width, _points(r)) for r in ds.images] == [("x.png", 10, [(1.5, 2.5, 1)])]


def test_image_size_when_the_images_are_absent(tmp_path: Path) -> None:
    write(tmp_path / "Label" / "x.txt", "639 479 0\n")
    ds = cytoconv.read(tmp_path / "Label", fmt="points-txt", options=ReadOptions(image_size=(640, 480)))
    assert [(r.file_name, r.width, r.height, _points(r)) for r in ds.images] == [
        ("x.jpg", 640, 480, [(639.5, 479.5, 1)])
    ]


def test_index_base_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _chula_like(tmp_path / "set", {"a": "1 1 0\n64 48 1\n"})
    ds = cytoconv.read(root, options=ReadOptions(index_base=1))
    assert _points(ds.images[0]) == [(0.5, 0.5, 1), (63.5, 47.5, 2)]
    code, _, err = run(
        ["convert", str(root), str(tmp_path / "o"), "--to", "points-txt", "--index-base", "1", "-q"], capsys
    )
    assert code == 0, err
    assert (tmp_path / "o" / "labels" / "a.txt").read_text() == "0 0 0\n63 47 1\n"  # written 0-based
    code, _, err = run(["convert", str(root), str(tmp_path / "z"), "--to", "points-txt", "-q"], capsys)
    label = (root / "Label" / "a.txt").resolve()
    assert (code, err.splitlines()) == (1, [f"{label}:2: point (64, 48) {OUTSIDE}"])


def test_duplicate_lines_are_kept_and_counted(tmp_path: Path) -> None:
    root = _chula_like(tmp_path / "set", {"a": "1 1 0\n2 2 0\n1 1 0\n"})
    report = Report()
    ds = cytoconv.read(root, report=report)
    assert len(ds.images[0].instances) == 3
    assert report.notices["duplicate-line"] == 1


def test_float_coordinates_written_shortest_and_read_back_the_same(tmp_path: Path) -> None:
    root = _chula_like(tmp_path / "set", {"a": "0.1 2.75 0\n3 1e-3 0\n"})
    cytoconv.convert(root, tmp_path / "o", to="points-txt", jobs=1)
    assert (tmp_path / "o" / "labels" / "a.txt").read_text() == "0.1 2.75 0\n3 0.001 0\n"
    assert format_index(0.6) == "0.1" and format_index(594.5) == "594" and format_index(0.5) == "0"
    back = cytoconv.read(tmp_path / "o", fmt="points-txt", options=ReadOptions(images=root / "Dataset"))
    assert _points(back.images[0]) == _points(cytoconv.read(root).images[0])


def test_lenient_mode_skips_bad_lines_and_counts_them(tmp_path: Path) -> None:
    root = _chula_like(tmp_path / "set", {"a": "1 1 0\n1 x 0\n2 2 1.5\n99 2 0\n3 3 0\n"})
    write(root / "Label" / "orphan.txt", "1 1 0\n")
    report = Report(strict=False)
    ds = cytoconv.read(root, report=report)
    assert [(r.file_name, _points(r)) for r in ds.images] == [("a.png", [(1.5, 1.5, 1), (3.5, 3.5, 1)])]
    assert report.skipped == Counter(
        {"malformed-line": 1, "bad-class-id": 1, "point-outside-image": 1, "label-without-image": 1}
    )


# --- every error through the command line: one line, file:line, exit 1, nothing written ---------------------


@pytest.mark.parametrize(
    ("text", "line", "code", "message"),
    [
        ("1 2 0\n1 2\n", 2, "malformed-line", "2 number(s) where a points line has 3 (x y class)"),
        ("1 2 0 4\n", 1, "malformed-line", "4 number(s) where a points line has 3 (x y class)"),
        ("1 2 0\n1 abc 0\n", 2, "malformed-line", "not a number: 'abc' (token 2)"),
        ("1 nan 0\n", 1, "non-finite", "'nan' is not a finite number (token 2)"),
        ("1 2 0\n3 4 1.5\n", 2, "bad-class-id", "class id '1.5' is not a non-negative integer"),
        ("3 4 -1\n", 1, "bad-class-id", "class id '-1' is not a non-negative integer"),
        ("64 4 0\n", 1, "point-outside-image", f"point (64, 4) {OUTSIDE}"),
        ("1 -0.6 0\n", 1, "point-outside-image", f"point (1, -0.6) {OUTSIDE}"),
        ("1 2 0\n1 2 2\n", 2, "unknown-class", "class id 2 is outside the 2 classes of --names (0..1)"),
    ],
)
def test_bad_line_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int, code: str, message: str
) -> None:
    root = _chula_like(tmp_path / "set", {"a": text})
    out = tmp_path / "out"
    with pytest.raises(FormatError) as caught:
        cytoconv.read(root, options=ReadOptions(names=("a", "b")))
    assert (caught.value.code, caught.value.line) == (code, line)
    result, stdout, err = run(
        ["convert", str(root), str(out), "--to", "points-txt", "--names", "a,b"], capsys
    )
    label = (root / "Label" / "a.txt").resolve()
    assert (result, stdout, err.splitlines()) == (1, "", [f"{label}:{line}: {message}"])
    assert not out.exists() and _leftovers(tmp_path) == []


def test_label_without_image_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _chula_like(tmp_path / "set", {"a": "1 1 0\n"})
    write(root / "Label" / "b.txt", "1 1 0\n")
    result, _, err = run(["convert", str(root), str(tmp_path / "out"), "--to", "points-txt"], capsys)
    label = (root / "Label" / "b.txt").resolve()
    message = "label file without an image (give --images DIR or --image-size WxH)"
    assert (result, err.splitlines()) == (1, [f"{label}: {message}"])
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


def test_boxes_are_refused_by_the_writer(tmp_path: Path) -> None:
    box = Box(x=1, y=1, w=4, h=4)
    record = ImageRecord(
        file_name="a.png", width=8, height=8, instances=[Instance(category_id=1, geometry=box)]
    )
    ds = Dataset(categories=[Category(id=1, name="cell")], images=[record])
    with pytest.raises(FormatError) as caught:
        cytoconv.write(ds, tmp_path / "out", to="points-txt")
    assert caught.value.code == "not-a-point" and caught.value.path == "a.png"
    assert "object 1 is a box" in str(caught.value)
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


# --- validate -------------------------------------------------------------------------------------------------


def test_validate_real_chula_folder() -> None:
    chula = real(CHULA)
    report = validate([chula])
    assert report.checked == 20
    assert sorted((f.code, Path(f.path).name) for f in report.findings) == [
        ("CC004", "53.txt"),
        ("CC004", "56.txt"),
        ("CC403", "18.jpg"),
        ("CC403", "47.jpg"),
        ("CC403", "50.jpg"),
    ]
    assert report.exit_code == 0


def test_validate_finds_points_outside_unknown_classes_duplicates_and_bad_lines(tmp_path: Path) -> None:
    root = _chula_like(tmp_path / "set", {"a": "1 1 0\n64 1 0\n1 1 0\n1 2 5\nx 1 0\n"})
    write(root / "classes.txt", "a\nb\n")
    write(root / "Label" / "orphan.txt", "1 1 0\n")
    report = validate([root])
    label = str((root / "Label" / "a.txt").resolve())
    assert [(f.code, f.path, f.line) for f in report.findings if f.path == label] == [
        ("CC306", label, 2),
        ("CC401", label, 3),
        ("CC202", label, 4),
        ("CC101", label, 5),
    ]
    orphan = str((root / "Label" / "orphan.txt").resolve())
    assert [(f.code, f.path) for f in report.findings if f.path == orphan] == [("CC402", orphan)]
    assert report.exit_code == 1


def test_validate_single_files_go_to_points_txt_not_yolo(tmp_path: Path) -> None:
    root = _chula_like(tmp_path / "set", {"a": "1 1 0\n64 1 0\n"})
    label = root / "Label" / "a.txt"
    assert points_check.claims(label) and not yolo_check.claims(label)
    empty = write(root / "Label" / "e.txt", "")
    assert points_check.claims(empty) and not yolo_check.claims(empty)  # in Label/ beside Dataset/
    loose = write(tmp_path / "loose.txt", "3 4 1\n")
    assert points_check.claims(loose) and not yolo_check.claims(loose)
    yolo = write(tmp_path / "y.txt", "0 0.5 0.5 0.1 0.1\n")
    assert yolo_check.claims(yolo) and not points_check.claims(yolo)
    report = validate([label])
    assert [(f.code, f.line) for f in report.findings] == [
        ("CC306", 2)
    ]  # the image found beside, in Dataset/
    assert FORMATS["points-txt"].checker == "cytoconv.formats.points_txt.check"


def test_validate_fix_drops_duplicate_lines(tmp_path: Path) -> None:
    root = _chula_like(tmp_path / "set", {"a": "1 1 0\n1 1 0\n2 2 0\n"})
    report = validate([root], mode="fix")
    assert [f.code for f in report.fixed] == ["CC401"]
    assert (root / "Label" / "a.txt").read_text() == "1 1 0\n2 2 0\n"
    assert validate([root], settings=Settings()).findings == []
