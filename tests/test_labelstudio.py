"""Label Studio JSON exports: percent polygons, rectangles, keypoints and brush RLE masks, read to COCO exactly;
COCO -> labelstudio -> COCO exact; bad input refused in one line; the brush codec against a hand-made
reference; fuzzing; detection against COCO."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import cytoconv
from cytoconv.errors import Report
from cytoconv.formats import detect
from cytoconv.formats.labelstudio import brush
from cytoconv.formats.labelstudio.syntax import pixels, scan
from cytoconv.formats.labelstudio.writer import percent
from cytoconv.problems.sinks import ReaderSink
from tests.conftest import BALF_SAMPLE, run_cli
from tests.test_fuzz import _fuzz

W, H = 200, 100  # the task's original size


def _result(rid: str, type_: str, value: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A result as Label Studio exports it."""
    return {
        "original_width": W,
        "original_height": H,
        "image_rotation": 0,
        "value": value,
        "id": rid,
        "from_name": "label" if type_ != "keypointlabels" else "kp",
        "to_name": "image",
        "type": type_,
        "origin": "manual",
        **extra,
    }


def _mask() -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[10:30, 40:90] = True
    mask[15:20, 50:60] = False  # a hole
    mask[60:62, 5:7] = True  # a second part
    return mask


POLYGON = [[10.0, 20.0], [35.5, 20.0], [35.5, 61.25], [12.125, 70.0]]


def _export(root: Path, results: list[dict[str, Any]] | None = None, **task: Any) -> Path:
    """An export of one task, written as Label Studio writes it, with the uploaded image (its hash prefix gone,
    as users keep their originals) beside it."""
    root.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (W, H)).save(root / "cells.png")
    if results is None:
        results = [
            _result(
                "aB3dE5fG7h", "polygonlabels", {"points": POLYGON, "closed": True, "polygonlabels": ["cell"]}
            ),
            _result(
                "Qw8eR7tY6u",
                "rectanglelabels",
                {
                    "x": 50.0,
                    "y": 10.0,
                    "width": 25.0,
                    "height": 30.0,
                    "rotation": 0,
                    "rectanglelabels": ["wbc"],
                },
            ),
            _result(
                "Zx1cV2bN3m",
                "keypointlabels",
                {"x": 80.25, "y": 90.5, "width": 0.5, "keypointlabels": ["rbc"]},
            ),
            _result(
                "Lk9jH8gF7d",
                "brushlabels",
                {"format": "rle", "rle": brush.encode_mask(_mask()), "brushlabels": ["cell"]},
            ),
        ]
    doc = [
        {
            "id": 17,
            "annotations": [
                {
                    "id": 3,
                    "completed_by": 1,
                    "result": results,
                    "was_cancelled": False,
                    "ground_truth": False,
                    "created_at": "2024-05-01T10:00:00.000000Z",
                    "updated_at": "2024-05-01T10:00:00.000000Z",
                    "lead_time": 12.5,
                    "prediction": {},
                    "result_count": 0,
                    "task": 17,
                    "project": 1,
                    "parent_prediction": None,
                    "parent_annotation": None,
                }
            ],
            "file_upload": "3f2a9c1b-cells.png",
            "drafts": [],
            "predictions": [],
            "data": {"image": "/data/upload/1/3f2a9c1b-cells.png"},
            "meta": {},
            "created_at": "2024-05-01T09:00:00.000000Z",
            "updated_at": "2024-05-01T10:00:00.000000Z",
            "inner_id": 1,
            "total_annotations": 1,
            "cancelled_annotations": 0,
            "total_predictions": 0,
            "comment_count": 0,
            "unresolved_comment_count": 0,
            "last_comment_updated_at": None,
            "project": 1,
            "updated_by": 1,
            "comment_authors": [],
            **task,
        }
    ]
    path = root / "project-1-at-2024-05-01-10-00-1a2b3c4d.json"
    path.write_text(json.dumps(doc, indent=2))
    return path


def _coco(path: Path, dest: Path, report: Report | None = None) -> dict[str, Any]:
    cytoconv.convert(path, dest, fmt="labelstudio", to="coco", jobs=1, report=report or Report())
    return json.loads(dest.read_text())  # type: ignore[no-any-return]


def test_export_to_coco_exact(tmp_path: Path) -> None:
    """Percent with the task's own size: polygons to 1e-6 px, the box equal, the point a keypoint, the brush
    pixel-identical after pycocotools decoding; classes in order of first appearance; upload prefix stripped."""
    from pycocotools import mask as mask_api

    report = Report()
    coco = _coco(_export(tmp_path / "ls"), tmp_path / "c.json", report)
    assert [c["name"] for c in coco["categories"]] == ["cell", "wbc", "rbc"]
    assert coco["images"] == [{"id": 1, "file_name": "cells.png", "width": W, "height": H}]
    assert report.notices["upload-prefix-stripped"] == 1
    anns = coco["annotations"]
    assert [a["category_id"] for a in anns] == [1, 2, 3, 1]
    want = [c for x, y in POLYGON for c in (x * W / 100, y * H / 100)]
    np.testing.assert_allclose(anns[0]["segmentation"][0], want, atol=1e-6)
    assert anns[1]["bbox"] == [100.0, 10.0, 50.0, 30.0] and anns[1]["segmentation"] == []
    assert anns[2]["keypoints"] == [80.25 * 2 - 0.5, 90.5 - 0.5, 2]
    rle = anns[3]["segmentation"]
    assert rle["size"] == [H, W]
    assert np.array_equal(mask_api.decode({"size": rle["size"], "counts": rle["counts"].encode()}), _mask())


# ---------------------------------------------------------------------------------------------
# The brush codec against a reference made by hand from the format's description

HEADER_8 = (
    "00000000000000000000000000001000" + "00111" + "0010" + "0011" + "0111" + "1111"
)  # 8 values, 8-bit words


def _bytes(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def test_brush_decoder_against_a_hand_made_reference() -> None:
    """A 1 x 2 canvas: pixel 0 transparent (a repeat chunk of 4 zeros), pixel 1 RGBA 10 20 30 200 (a literal
    chunk of 4 words): alpha 200 >= 128, so the second pixel is in the mask; the same bytes as 2 x 1 are a
    column (row-major canvas)."""
    bits = HEADER_8 + "1" + "00" + "011" + "00000000"  # repeat, class 0 (3 bits), length 4, value 0
    bits += "0" + "00" + "011" + "00001010" + "00010100" + "00011110" + "11001000"  # literal 10 20 30 200
    rle = _bytes(bits)
    assert brush.header(rle) == (8, 8, (3, 4, 8, 16))
    assert brush.decode(rle).tolist() == [0, 0, 0, 0, 10, 20, 30, 200]
    assert brush.decode_mask(rle, 1, 2).tolist() == [[False, True]]
    assert brush.decode_mask(rle, 2, 1).tolist() == [[False], [True]]
    with pytest.raises(brush.BrushError, match="not 12"):
        brush.decode(rle, 12)
    with pytest.raises(brush.BrushError, match="truncated"):
        brush.decode(rle[:-3])


def test_brush_encoder_writes_what_mask2rle_writes() -> None:
    """A mask of [[in, out]]: two repeat chunks of 4 (255 then 0), the bytes made by hand."""
    bits = HEADER_8 + "1" + "00" + "011" + "11111111" + "1" + "00" + "011" + "00000000"
    assert bytes(brush.encode_mask(np.array([[True, False]]))) == _bytes(bits)
    rng = np.random.default_rng(5)
    for shape in [(1, 1), (7, 3), (120, 90)]:
        mask = rng.random(shape) > 0.6
        assert np.array_equal(brush.decode_mask(bytes(brush.encode_mask(mask)), *shape), mask)
    big = np.ones((300, 300), bool)  # 360,000 values: runs longer than one chunk's 65,536
    assert brush.decode_mask(bytes(brush.encode_mask(big)), 300, 300).all()


# ---------------------------------------------------------------------------------------------
# Round trips


def test_coco_labelstudio_coco_exact(tmp_path: Path) -> None:
    """BALF through COCO: COCO -> labelstudio -> COCO gives the same images, categories, areas, classes and
    ids, and the same coordinates to 1e-9 px."""
    cytoconv.convert(BALF_SAMPLE, tmp_path / "a.json", to="coco", jobs=1)
    cytoconv.convert(tmp_path / "a.json", tmp_path / "ls.json", to="labelstudio", jobs=1)
    assert detect(tmp_path / "ls.json").name == "labelstudio"
    cytoconv.convert(
        tmp_path / "ls.json",
        tmp_path / "b.json",
        to="coco",
        jobs=1,
        read_options=cytoconv.api.ReadOptions(images=BALF_SAMPLE / "images"),
    )
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert a["images"] == b["images"] and a["categories"] == b["categories"]
    assert len(a["annotations"]) == len(b["annotations"]) == 108
    for x, y in zip(a["annotations"], b["annotations"]):
        assert {k: v for k, v in x.items() if k not in ("segmentation", "bbox")} == {
            k: v for k, v in y.items() if k not in ("segmentation", "bbox")
        }
        # a percent has too few bits for every double (BALF's 17-digit pixels): the last bits may differ
        np.testing.assert_allclose(x["segmentation"][0], y["segmentation"][0], rtol=0, atol=1e-9)
        np.testing.assert_allclose(x["bbox"], y["bbox"], rtol=0, atol=1e-9)
    short = [0, 10, 10.5, 77.5, 312.5, 621.19725, 852.999, 853]  # short pixel values come back exactly
    for size in (853, 640, 480, 37):
        assert pixels(percent(short, size), size).tolist() == short


def test_masks_holes_and_points_survive_the_round_trip(tmp_path: Path) -> None:
    """labelstudio -> labelstudio: polygons, boxes, points and brushes read back the same; a holed polygon is
    written as a brush (counted) whose pixels are its raster."""
    from cytoconv.geometry import raster

    src = _export(tmp_path / "ls")
    first = cytoconv.read(src, fmt="labelstudio")
    cytoconv.write(first, tmp_path / "again.json", to="labelstudio")
    second = cytoconv.read(
        tmp_path / "again.json", fmt="labelstudio", options=cytoconv.api.ReadOptions(images=tmp_path / "ls")
    )
    assert second.categories == first.categories
    a, b = first.images[0].instances, second.images[0].instances
    assert [i.category_id for i in a] == [i.category_id for i in b]
    for x, y in zip(a, b):
        if x.geometry.kind == "point":
            assert x.geometry == y.geometry
        else:
            assert np.array_equal(raster.rasterise(x.geometry, H, W), raster.rasterise(y.geometry, H, W))
    holed = cytoconv.ir.Polygon(
        rings=[[[0, 0], [20, 0], [20, 20], [0, 20]], [[5, 5], [10, 5], [10, 10], [5, 10]]],
        holes=[False, True],
    )
    record = cytoconv.ir.ImageRecord(
        file_name="x.png",
        width=30,
        height=30,
        instances=[cytoconv.ir.Instance(category_id=1, geometry=holed)],
    )
    ds = cytoconv.ir.Dataset(categories=[cytoconv.ir.Category(id=1, name="cell")], images=[record])
    report = Report()
    cytoconv.write(ds, tmp_path / "holed.json", to="labelstudio", report=report)
    assert report.notices["polygon-as-rle"] == 1
    task = json.loads((tmp_path / "holed.json").read_text())[0]
    assert task["annotations"][0]["result"][0]["type"] == "brushlabels"
    back = cytoconv.read(tmp_path / "holed.json", fmt="labelstudio").images[0].instances[0].geometry
    assert np.array_equal(raster.rasterise(back, 30, 30), raster.rasterise(holed, 30, 30))
    assert raster.rasterise(back, 30, 30).sum() == 400 - 25


def test_rotated_rectangle_is_its_polygon_counted(tmp_path: Path) -> None:
    """A rectangle turned 90 degrees clockwise about its top-left corner: the polygon of its corners."""
    value = {"x": 50.0, "y": 10.0, "width": 10.0, "height": 20.0, "rotation": 90, "rectanglelabels": ["wbc"]}
    report = Report()
    ds = cytoconv.read(
        _export(tmp_path, [_result("r1", "rectanglelabels", value)]), fmt="labelstudio", report=report
    )
    ring = ds.images[0].instances[0].geometry.rings[0]  # type: ignore[union-attr]
    np.testing.assert_allclose(ring, [[100, 10], [100, 30], [80, 30], [80, 10]], atol=1e-9)
    assert report.notices["rotated-box"] == 1


def test_which_annotation_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The first annotation not cancelled; the others and the predictions are counted, not read."""
    poly = _result("p1", "polygonlabels", {"points": POLYGON, "polygonlabels": ["cell"]})
    box = _result(
        "b1", "rectanglelabels", {"x": 1, "y": 1, "width": 5, "height": 5, "rectanglelabels": ["wbc"]}
    )
    annotations = [
        {"id": 1, "result": [box], "was_cancelled": True},
        {"id": 2, "result": [poly], "was_cancelled": False},
        {"id": 3, "result": [box], "was_cancelled": False},
    ]
    predictions = [{"id": 9, "result": [box], "score": 0.75, "model_version": "sam"}]
    path = _export(tmp_path, annotations=annotations, predictions=predictions)
    report = Report()
    ds = cytoconv.read(path, fmt="labelstudio", report=report)
    assert [i.geometry.kind for i in ds.images[0].instances] == ["polygon"]
    assert report.notices["annotation-not-read"] == 3
    export = scan(path.read_bytes(), str(path), ReaderSink(Report(), ()), predictions=True)
    assert export is not None and [r.kind for r in export.tasks[0].regions] == ["box"]
    assert export.tasks[0].regions[0].score == 0.75
    code, out, err = run_cli(["stats", str(path), "--predictions", "--json", "-q"], capsys)
    assert code == 0, err
    assert json.loads(out)["total"]["geometry"]["box"] == 1  # the prediction's box, through the CLI


# ---------------------------------------------------------------------------------------------
# Bad input: one line naming the file and the task/result, exit 1, nothing left


def _bad(tmp_path: Path, capsys: pytest.CaptureFixture[str], src: Path, *words: str) -> None:
    out = tmp_path / "out.json"
    code, _, err = run_cli(
        ["convert", str(src), str(out), "--from", "labelstudio", "--to", "coco", "-q"], capsys
    )
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert src.name in lines[0] and all(w in lines[0] for w in words), lines[0]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_percent_above_100_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    points = [[10, 10], [150, 10], [50, 50]]
    src = _export(
        tmp_path / "ls", [_result("bad1", "polygonlabels", {"points": points, "polygonlabels": ["cell"]})]
    )
    _bad(tmp_path, capsys, src, "task 17", "result bad1", "150")


def test_brush_of_the_wrong_length_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rle = brush.encode_mask(np.zeros((H, W - 1), bool))
    src = _export(
        tmp_path / "ls", [_result("br1", "brushlabels", {"format": "rle", "rle": rle, "brushlabels": ["c"]})]
    )
    _bad(tmp_path, capsys, src, "task 17", "result br1", "80,000")


def test_no_size_and_no_image_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    value = {"x": 10, "y": 10, "width": 5, "height": 5, "rectanglelabels": ["wbc"]}
    result = _result("r1", "rectanglelabels", value)
    del result["original_width"], result["original_height"]
    src = _export(tmp_path / "ls", [result])
    (tmp_path / "ls" / "cells.png").unlink()
    _bad(tmp_path, capsys, src, "task 17", "original_width")


def test_validate_reports_what_convert_refuses(tmp_path: Path) -> None:
    from cytoconv.problems.settings import Settings
    from cytoconv.validate.runner import validate

    points = [[10, 10], [150, 10], [50, 50]]
    src = _export(
        tmp_path / "ls", [_result("bad1", "polygonlabels", {"points": points, "polygonlabels": ["cell"]})]
    )
    report = validate([src], Settings(), fmt="labelstudio", jobs=1)
    assert [f.code for f in report.findings] == ["CC301"]
    assert "result bad1" in report.findings[0].message


# ---------------------------------------------------------------------------------------------
# Detection and fuzzing


def test_detection_against_coco(tmp_path: Path) -> None:
    src = _export(tmp_path / "ls")
    assert detect(src).name == "labelstudio"
    cytoconv.convert(src, tmp_path / "c.json", fmt="labelstudio", to="coco", jobs=1)
    assert detect(tmp_path / "c.json").name == "coco"


def test_fuzz_labelstudio(tmp_path: Path) -> None:
    def build(root: Path) -> list[Path]:
        path = _export(root)
        text = json.loads(path.read_text())
        path.write_text(json.dumps(text, indent=1))
        return [path]

    def read(root: Path) -> object:
        path = next(root.glob("project-*.json"))
        return cytoconv.read(path, fmt="labelstudio", report=Report(strict=False))

    _fuzz(tmp_path, build, read, 16)
    shutil.rmtree(tmp_path, ignore_errors=True)
