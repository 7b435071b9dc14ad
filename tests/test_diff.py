"""``cytoconv diff``: copies of a set with known edits give exactly those numbers per class and per image."""

from __future__ import annotations

import importlib.util
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import cytoconv
from cytoconv import api
from cytoconv.ir import Box, Category, Dataset, ImageRecord, Instance, Point
from cytoconv.ops.diff import JSON_SCHEMA, to_dict, to_text
from tests.conftest import BALF_SAMPLE, ROOT, run_cli, write, yolo_dataset

COUNTS = ("in_a", "in_b", "identical", "moved", "relabelled", "only_in_a", "only_in_b")


def _rows(result: Any) -> dict[str, tuple[int, ...]]:
    return {row.name: tuple(getattr(row, k) for k in COUNTS) for row in result.classes}


@pytest.fixture(scope="module")
def balf_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """BALF_SAMPLE as COCO (A) and a copy (B) with known edits, all in image 1 but one:

    annotation 2 (squamous epithelial) and 8 (erythrocyte) removed, 3 (macrophage) relabelled lymphocyte,
    4 (macrophage) shifted by +3 px in x, a 10x10 neutrophil square added at (1, 1); balf_020.jpg renamed
    (its 2 erythrocytes, 2 ciliated and 1 macrophage: only in A and only in B)."""
    root = tmp_path_factory.mktemp("balf_diff")
    a = root / "a.json"
    api.convert(BALF_SAMPLE, a, to="coco", jobs=1)
    doc = json.loads(a.read_text())
    anns = []
    for ann in doc["annotations"]:
        if ann["id"] in (2, 8):
            continue
        if ann["id"] == 3:
            ann["category_id"] = 5
        if ann["id"] == 4:
            ann["segmentation"] = [
                [v + 3 if i % 2 == 0 else v for i, v in enumerate(r)] for r in ann["segmentation"]
            ]
            ann["bbox"][0] += 3
        anns.append(ann)
    anns.append(
        {
            "id": 1000,
            "image_id": 1,
            "category_id": 6,
            "segmentation": [[1, 1, 11, 1, 11, 11, 1, 11]],
            "bbox": [1, 1, 10, 10],
            "area": 100,
            "iscrowd": 0,
        }
    )
    doc["annotations"] = anns
    doc["images"][19]["file_name"] = "balf_020_renamed.jpg"
    b = write(root / "b.json", json.dumps(doc))
    return a, b


EXPECTED_BALF = {
    #                               in A  in B  ident moved relab onlyA onlyB
    "erythrocyte": (18, 17, 15, 0, 0, 3, 2),
    "ciliated columnar epithelial": (8, 8, 6, 0, 0, 2, 2),
    "squamous epithelial": (6, 5, 5, 0, 0, 1, 0),
    "macrophage": (41, 40, 38, 1, 1, 1, 1),
    "lymphocyte": (21, 22, 21, 0, 0, 0, 0),
    "neutrophil": (11, 12, 11, 0, 0, 0, 1),
    "eosinophil": (3, 3, 3, 0, 0, 0, 0),
}


def test_known_edits_give_exact_numbers_per_class(balf_pair: tuple[Path, Path]) -> None:
    a, b = balf_pair
    result = api.diff(a, b, jobs=1)
    assert _rows(result) == EXPECTED_BALF
    total = result.total()
    assert (total.in_a, total.in_b, total.identical, total.moved, total.relabelled) == (108, 107, 99, 1, 1)
    assert (total.only_in_a, total.only_in_b) == (7, 6)
    assert dict(total.relabelled_to) == {"macrophage -> lymphocyte": 1}
    assert result.paired == 19
    assert result.only_in_a == ["balf_020.jpg"]
    assert result.only_in_b == ["balf_020_renamed.jpg"]
    assert [d.file_name for d in result.differences] == ["balf_001.jpg"]
    image = result.differences[0]
    assert (image.in_a, image.in_b) == (9, 8)
    assert image.only_in_a == [(1, "squamous epithelial"), (7, "erythrocyte")]
    assert image.only_in_b == [(7, "neutrophil")]  # the square, last in B's image 1
    (relabelled,) = image.relabelled
    assert (relabelled.a, relabelled.b, relabelled.class_a, relabelled.class_b) == (
        2,
        1,
        "macrophage",
        "lymphocyte",
    )
    assert relabelled.iou == 1.0
    (moved,) = image.moved
    assert (moved.a, moved.b, moved.class_a) == (3, 2, "macrophage")
    assert moved.iou is not None and 0.8 < moved.iou < 1.0
    assert not result.same


def test_same_numbers_in_parallel(balf_pair: tuple[Path, Path]) -> None:
    a, b = balf_pair
    from cytoconv.engine import pipeline

    old = pipeline.PARALLEL_MIN_UNITS
    pipeline.PARALLEL_MIN_UNITS = 1  # the 20 images over 2 processes
    try:
        result = api.diff(a, b, jobs=2)
    finally:
        pipeline.PARALLEL_MIN_UNITS = old
    assert _rows(result) == EXPECTED_BALF
    assert to_dict(result) == to_dict(api.diff(a, b, jobs=1))


def test_identical_sets_agree_exit_0(
    balf_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    a, _ = balf_pair
    code, out, err = run_cli(
        ["diff", str(BALF_SAMPLE), str(a), "-q"], capsys
    )  # YOLO vs its COCO: same pixels
    assert code == 0, err
    assert out.splitlines()[-1] == "A and B agree"
    assert (
        "total                          108   108        108      0           0          0          0" in out
    )
    result = cytoconv.diff(a, a)
    assert result.same and result.total().identical == 108 and result.paired == 20


def test_cli_text_json_and_exit_1(balf_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = balf_pair
    code, out, _ = run_cli(["diff", str(a), str(b), "-q"], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split() == [
        "class",
        "in",
        "A",
        "in",
        "B",
        "identical",
        "moved",
        "relabelled",
        "only",
        "in",
        "A",
        "only",
        "in",
        "B",
    ]
    assert lines[4].split() == ["macrophage", "41", "40", "38", "1", "1", "1", "1"]
    assert "  macrophage -> lymphocyte: 1" in lines
    assert "images: 19 in both (1 differ), 1 only in A, 1 only in B" in lines
    assert "  only in A: balf_020.jpg" in lines
    assert lines[-1] == "A and B differ"
    code, out, _ = run_cli(["diff", str(a), str(b), "--json", "-q"], capsys)
    assert code == 1
    doc = json.loads(out)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(JSON_SCHEMA)
    jsonschema.validate(doc, JSON_SCHEMA)
    assert doc["schema_version"] == 1 and doc["same"] is False
    assert doc["total"] == dict(zip(COUNTS, (108, 107, 99, 1, 1, 7, 6)))
    assert [c["name"] for c in doc["classes"]] == list(EXPECTED_BALF)
    assert doc["classes"][3]["relabelled_to"] == [{"class": "lymphocyte", "count": 1}]
    assert doc["images"] == {
        "in_a": 20,
        "in_b": 20,
        "in_both": 19,
        "differ": 1,
        "labels_changed": 0,
        "only_in_a": ["balf_020.jpg"],
        "only_in_b": ["balf_020_renamed.jpg"],
    }
    (image,) = doc["differences"]
    assert image["only_in_a"] == [
        {"index": 1, "class": "squamous epithelial"},
        {"index": 7, "class": "erythrocyte"},
    ]
    assert image["relabelled"] == [
        {"a": 2, "b": 1, "class_a": "macrophage", "class_b": "lymphocyte", "iou": 1.0, "distance": None}
    ]
    assert doc["settings"] == {"iou": 0.5, "exact_iou": 1.0, "distance": 5.0, "by": "path"}
    # the schema names every key written, and no other (it forbids additional properties)
    assert set(doc) == set(JSON_SCHEMA["properties"])


def test_generator_of_known_edits_agrees_with_diff(balf_pair: tuple[Path, Path], tmp_path: Path) -> None:
    """benchmarks/diff_edits.py (the T10 copy of the 50,000-image set) on the sample: the diff counts its edits."""
    spec = importlib.util.spec_from_file_location("diff_edits", ROOT / "benchmarks" / "diff_edits.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    a, _ = balf_pair
    copy, expected = module.edit(json.loads(a.read_text()))
    b = write(tmp_path / "b.json", json.dumps(copy))
    doc = to_dict(api.diff(a, b, jobs=1))
    got = {
        c["name"]: {k: c[k] for k in ("only_in_a", "only_in_b", "relabelled", "moved")}
        for c in doc["classes"]
    }
    assert got == expected["classes"]
    assert sum(v["relabelled"] for v in got.values()) == 2 and sum(v["moved"] for v in got.values()) >= 1
    assert doc["images"]["only_in_b"] == expected["images_only_in_b"] == ["diff_edits_extra.jpg"]
    assert {
        f"{c['name']} -> {r['class']}": r["count"] for c in doc["classes"] for r in c["relabelled_to"]
    } == (expected["relabelled_to"])


# ---------------------------------------------------------------------------------------------
# Boxes (YOLO detection) and thresholds

BOX_A = {
    "one": "0 0.2 0.25 0.2 0.25\n1 0.6 0.625 0.2 0.25\n",
    "two": "0 0.5 0.5 0.2 0.25\n",
    "three": "2 0.5 0.5 0.1 0.1\n",
}
# one: box 0 (10,10,20,20) moved +3 px in x (IoU 340/460), box 1 relabelled c, a box of b added; two: same;
# three only in A
BOX_B = {
    "one": "0 0.23 0.25 0.2 0.25\n2 0.6 0.625 0.2 0.25\n1 0.75 0.125 0.1 0.125\n",
    "two": "0 0.5 0.5 0.2 0.25\n",
}
SHIFTED_IOU = 340 / 460


@pytest.fixture
def boxes(tmp_path: Path) -> tuple[Path, Path]:
    a = yolo_dataset(tmp_path / "a", BOX_A, names=["a", "b", "c"])
    b = yolo_dataset(tmp_path / "b", BOX_B, names=["a", "b", "c"])
    return a, b


def test_boxes_are_compared_as_boxes(boxes: tuple[Path, Path]) -> None:
    result = api.diff(*boxes, jobs=1)
    assert _rows(result) == {
        "a": (2, 2, 1, 1, 0, 0, 0),
        "b": (1, 1, 0, 0, 1, 0, 1),
        "c": (1, 1, 0, 0, 0, 1, 0),
    }
    assert result.only_in_a == ["three.png"] and result.only_in_b == []
    (image,) = result.differences
    (moved,) = image.moved
    assert moved.iou == pytest.approx(SHIFTED_IOU, abs=1e-9)
    assert [(p.a, p.b, p.class_a, p.class_b) for p in image.relabelled] == [(1, 1, "b", "c")]
    assert image.only_in_b == [(2, "b")]


def test_an_unchanged_box_beside_a_changed_one_is_identical(tmp_path: Path) -> None:
    """pycocotools gives two equal boxes an IoU of 0.9999999999999997: still identical at --exact-iou 1.0 (the
    tester's COCO and YOLO sets counted every unchanged box of a changed image as moved)."""
    boxes = "0 0.2137 0.3311 0.0873 0.1129\n0 0.6071 0.5523 0.1187 0.0951\n0 0.41 0.77 0.05 0.06\n"
    shifted = "0 0.2237 0.3311 0.0873 0.1129\n0 0.6071 0.5523 0.1187 0.0951\n0 0.41 0.77 0.05 0.06\n"
    a = yolo_dataset(tmp_path / "a", {"one": boxes}, names=["a"])
    b = yolo_dataset(tmp_path / "b", {"one": shifted}, names=["a"])
    assert _rows(api.diff(a, b, jobs=1))["a"] == (3, 3, 2, 1, 0, 0, 0)


def test_iou_and_exact_iou_thresholds(boxes: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    strict_pairing = api.diff(*boxes, jobs=1, iou=0.75)  # the moved box (IoU 0.739) is no pair any more
    assert _rows(strict_pairing)["a"] == (2, 2, 1, 0, 0, 1, 1)
    lax_identity = api.diff(*boxes, jobs=1, exact_iou=0.7)  # IoU 0.739 counts as identical
    assert _rows(lax_identity)["a"] == (2, 2, 2, 0, 0, 0, 0)
    code, out, _ = run_cli(
        ["diff", *map(str, boxes), "--json", "-q", "--exact-iou", "0.7", "--iou", "0.6"], capsys
    )
    assert code == 1
    assert json.loads(out)["settings"] == {"iou": 0.6, "exact_iou": 0.7, "distance": 5.0, "by": "path"}


def test_classes_are_matched_by_name_not_id(tmp_path: Path) -> None:
    a = yolo_dataset(tmp_path / "a", {"one": "0 0.2 0.25 0.2 0.25\n1 0.6 0.625 0.2 0.25\n"}, names=["a", "b"])
    b = yolo_dataset(tmp_path / "b", {"one": "1 0.2 0.25 0.2 0.25\n0 0.6 0.625 0.2 0.25\n"}, names=["b", "a"])
    result = api.diff(a, b, jobs=1)
    assert result.same
    assert _rows(result) == {"a": (1, 1, 1, 0, 0, 0, 0), "b": (1, 1, 1, 0, 0, 0, 0)}


def test_box_against_polygon_is_compared_as_masks(tmp_path: Path) -> None:
    """A box in A, the same rectangle as a polygon in B: the same pixels, identical."""
    a = yolo_dataset(tmp_path / "a", {"one": "0 0.2 0.25 0.2 0.25\n"}, names=["a"])
    b = yolo_dataset(tmp_path / "b", {"one": "0 0.1 0.125 0.3 0.125 0.3 0.375 0.1 0.375\n"}, names=["a"])
    assert api.diff(a, b, jobs=1).same


def test_images_paired_by_name_across_folders(balf_pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = balf_pair
    doc = json.loads(a.read_text())
    for image in doc["images"]:
        image["file_name"] = "sub/" + image["file_name"]
    b = write(tmp_path / "b.json", json.dumps(doc))
    by_path = api.diff(a, b, jobs=1)
    assert (by_path.paired, len(by_path.only_in_a), len(by_path.only_in_b)) == (0, 20, 20)
    assert by_path.total().only_in_a == 108
    assert api.diff(a, b, jobs=1, by="name").same


# ---------------------------------------------------------------------------------------------
# Points (COCO keypoints)


def _points(path: Path, points: list[tuple[float, float, int]]) -> Path:
    cats = [Category(id=1, name="lymphocyte"), Category(id=2, name="erythrocyte")]
    record = ImageRecord(
        file_name="p.jpg",
        width=100,
        height=100,
        instances=[Instance(category_id=c, geometry=Point(x=x, y=y)) for x, y, c in points],
    )
    api.write(Dataset(categories=cats, images=[record]), path, to="coco")
    return path


def test_points_are_paired_by_distance(tmp_path: Path) -> None:
    a = _points(tmp_path / "a.json", [(10.5, 10.5, 1), (50.5, 50.5, 1), (80.5, 80.5, 2), (20.5, 70.5, 2)])
    # identical, moved 3 px, relabelled, moved 10 px (beyond --distance 5: only in A and only in B)
    b = _points(tmp_path / "b.json", [(10.5, 10.5, 1), (53.5, 50.5, 1), (80.5, 80.5, 1), (30.5, 70.5, 2)])
    result = api.diff(a, b, jobs=1)
    assert _rows(result) == {"lymphocyte": (2, 3, 1, 1, 0, 0, 0), "erythrocyte": (2, 1, 0, 0, 1, 1, 1)}
    (image,) = result.differences
    assert [(p.a, p.b, p.distance, p.iou) for p in image.moved] == [(1, 1, 3.0, None)]
    farther = api.diff(a, b, jobs=1, distance=12)
    assert _rows(farther)["erythrocyte"] == (2, 1, 0, 1, 1, 0, 0)
    assert [p.distance for p in farther.differences[0].moved] == [3.0, 10.0]


def test_a_point_is_never_paired_with_a_box(tmp_path: Path) -> None:
    cats = [Category(id=1, name="cell")]
    for name, geometry in (("a", Point(x=15.0, y=15.0)), ("b", Box(x=10.0, y=10.0, w=10.0, h=10.0))):
        record = ImageRecord(
            file_name="p.jpg", width=40, height=40, instances=[Instance(category_id=1, geometry=geometry)]
        )
        api.write(Dataset(categories=cats, images=[record]), tmp_path / f"{name}.json", to="coco")
    result = api.diff(tmp_path / "a.json", tmp_path / "b.json", jobs=1)
    assert _rows(result) == {"cell": (1, 1, 0, 0, 0, 1, 1)}


# ---------------------------------------------------------------------------------------------
# Trouble: exit 2, one line


def test_bad_data_exits_2_in_one_line(
    balf_pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, _ = balf_pair
    bad = write(tmp_path / "bad.json", '{"images": [}')
    code, out, err = run_cli(["diff", str(a), str(bad), "--from-b", "coco", "-q"], capsys)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(str(bad))
    code, _, err = run_cli(["diff", str(a), str(tmp_path / "missing.json"), "-q"], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "missing.json" in err


def test_bad_usage_exits_2(balf_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = balf_pair
    for args, message in (
        (["--iou", "0"], "--iou must lie in (0, 1], got 0.0"),
        (["--exact-iou", "1.5"], "--exact-iou must lie in (0, 1], got 1.5"),
        (["--distance", "-1"], "--distance must be 0 or more pixels, got -1.0"),
    ):
        code, out, err = run_cli(["diff", str(a), str(b), *args, "-q"], capsys)
        assert code == 2 and out == ""
        assert err == f"cytoconv: error: {message}\n"
    code, _, _ = run_cli(["diff", str(a), str(b), "--by", "stem"], capsys)
    assert code == 2


def test_an_image_listed_twice_cannot_be_paired(
    balf_pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, _ = balf_pair
    doc = json.loads(a.read_text())
    doc["images"][1]["file_name"] = doc["images"][0]["file_name"]
    b = write(tmp_path / "b.json", json.dumps(doc))
    code, _, err = run_cli(["diff", str(a), str(b), "-q"], capsys)
    assert code == 2
    assert err == f"{b}: two images named balf_001.jpg: diff pairs images by file name\n"


# ---------------------------------------------------------------------------------------------
# HTML


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.sections = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))
        self.sections += tag == "section"


def test_html_draws_each_differing_image(
    boxes: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = boxes
    # two differing images: "one" (moved, relabelled, added) and "two" (its box removed in B)
    write(b / "labels" / "two.txt", "")
    page = tmp_path / "diff.html"
    code, _, err = run_cli(["diff", str(a), str(b), "--html", str(page), "-q"], capsys)
    assert code == 1, err
    parser = _Images()
    parser.feed(page.read_text(encoding="utf-8"))
    assert parser.sections == 2
    assert [img["alt"] for img in parser.images] == ["one.png", "two.png"]
    assert all((img["src"] or "").startswith("data:image/png;base64,") for img in parser.images)
    import base64
    import io

    from PIL import Image

    picture = Image.open(io.BytesIO(base64.b64decode((parser.images[0]["src"] or "").split(",", 1)[1])))
    assert picture.width == 2 * 100 + 8  # A and B side by side, 8 px apart
    limited = tmp_path / "one.html"
    code, _, _ = run_cli(["diff", str(a), str(b), "--html", str(limited), "--html-limit", "1", "-q"], capsys)
    parser = _Images()
    parser.feed(limited.read_text(encoding="utf-8"))
    assert len(parser.images) == 1
    code, _, err = run_cli(["diff", str(a), str(b), "--html", str(limited), "-q"], capsys)
    assert code == 2 and "exists" in err  # not replaced without --overwrite


def test_html_of_missing_images_uses_a_blank_canvas(balf_pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = balf_pair  # COCO files beside no images
    page = tmp_path / "d.html"
    api.diff(a, b, jobs=1, html=page)
    text = page.read_text(encoding="utf-8")
    assert text.count("<img ") == 1
    assert "image of A not found: drawn on a blank canvas" in text
    assert "relabelled: #2 macrophage -&gt; #1 lymphocyte" in text


def test_text_of_an_agreeing_diff(balf_pair: tuple[Path, Path]) -> None:
    a, _ = balf_pair
    text = to_text(api.diff(a, a, jobs=1))
    assert text.endswith("images: 20 in both (0 differ), 0 only in A, 0 only in B\nA and B agree\n")


def test_image_labels_of_class_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Class folders: no objects, the image's label is what can change (paired by name: the folder is the class)."""
    from tests.conftest import make_image

    for side, layout in (
        ("a", {"x": "blast", "y": "lymph", "z": "lymph"}),
        ("b", {"x": "blast", "y": "blast", "z": "lymph"}),
    ):
        for stem, label in layout.items():
            make_image(tmp_path / side / label / f"{stem}.png", 8, 8)
    by_path = api.diff(tmp_path / "a", tmp_path / "b", jobs=1)
    assert (by_path.paired, by_path.only_in_a, by_path.only_in_b) == (2, ["lymph/y.png"], ["blast/y.png"])
    code, out, _ = run_cli(
        ["diff", str(tmp_path / "a"), str(tmp_path / "b"), "--by", "name", "--json", "-q"], capsys
    )
    assert code == 1
    doc = json.loads(out)
    pytest.importorskip("jsonschema").validate(doc, JSON_SCHEMA)
    assert doc["images"]["labels_changed"] == 1 and doc["images"]["in_both"] == 3
    (image,) = doc["differences"]
    assert (image["file_name"], image["label_a"], image["label_b"]) == ("lymph/y.png", "lymph", "blast")
    assert doc["total"]["in_a"] == 0
    text = to_text(api.diff(tmp_path / "a", tmp_path / "b", jobs=1, by="name"))
    assert "image labels changed: 1\n  lymph -> blast: 1\n" in text
