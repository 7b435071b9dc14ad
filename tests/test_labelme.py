"""LabelMe JSON (one file per image): every shape type read as labelme 5.x writes it, converted to COCO exactly;
COCO -> LabelMe -> COCO exact; bad input refused with one line; fuzzing; detection against COCO; validate."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

import cytoconv
from cytoconv.engine.contract import WriteOptions
from cytoconv.errors import FormatError, Report
from cytoconv.formats import detect
from cytoconv.formats.labelme.reader import circle_outline
from cytoconv.formats.labelme.reader import detect as labelme_detect
from cytoconv.ir import Box, Category, Dataset, ImageRecord, Instance, Point, Polygon
from tests.conftest import BALF_SAMPLE, run_cli
from tests.test_fuzz import _fuzz

W, H = 40, 30


def shape(
    label: str, points: list[list[float]], shape_type: str | None = "polygon", **extra: Any
) -> dict[str, Any]:
    """A shape as labelme 5.x saves it (keys in its order); ``shape_type=None`` leaves the key out (old files)."""
    out: dict[str, Any] = {"label": label, "points": points, "group_id": extra.get("group_id")}
    out["description"] = extra.get("description", "")
    if shape_type is not None:
        out["shape_type"] = shape_type
    out["flags"] = extra.get("flags", {})
    out["mask"] = extra.get("mask")
    return out


def png_b64(arr: np.ndarray[Any, Any]) -> str:
    """An array as a base64 PNG, as labelme's img_arr_to_b64 stores masks and imageData."""
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def labelme_json(path: Path, shapes: list[dict[str, Any]], image_path: str, **extra: Any) -> Path:
    """A LabelMe file as labelme 5.x saves it: json.dump(indent=2, ensure_ascii=False), keys in its order."""
    doc: dict[str, Any] = {"version": "5.5.0", "flags": extra.get("flags", {}), "shapes": shapes}
    doc["imagePath"] = image_path
    doc["imageData"] = extra.get("image_data")
    if extra.get("height", H) is not None:
        doc["imageHeight"] = extra.get("height", H)
    doc["imageWidth"] = extra.get("width", W)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


CROP = np.array(
    [[0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [1, 1, 0, 1, 1], [1, 1, 1, 1, 1], [0, 0, 1, 0, 0]], dtype=np.uint8
)  # a mask with a hole, its box [[25, 2], [29, 6]]
POLY = [[2.0, 3.0], [12.5, 3.0], [12.5, 10.25], [2.0, 10.0]]
PART_A = [[1.0, 14.0], [6.0, 14.0], [6.0, 18.0]]
PART_B = [[30.5, 24.0], [38.0, 24.0], [38.0, 29.0], [31.0, 28.5]]


def sample(root: Path) -> list[Path]:
    """Two images: a.png with every shape type (its image beside it, in images/), b.jpg missing, its pixels in
    imageData, with an old polygon without shape_type."""
    images = root / "images"
    images.mkdir(parents=True)
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(images / "a.png")
    a = labelme_json(
        root / "ann" / "a.json",
        [
            shape("cell", POLY, flags={"checked": True}, description="first"),
            shape("rbc", [[30.0, 20.0], [20.0, 5.0]], "rectangle"),
            shape("nucleus", [[10.0, 20.0], [13.0, 20.0]], "circle"),
            shape("centre", [[5.5, 6.5]], "point"),
            shape("ruler", [[0.0, 0.0], [5.0, 5.0]], "line"),
            shape("ruler", [[0.0, 0.0], [5.0, 5.0], [9.0, 1.0]], "linestrip"),
            shape("cell", [[25.0, 2.0], [29.0, 6.0]], "mask", mask=png_b64(CROP)),
            shape("cell", PART_A, group_id=1),
            shape("cell", PART_B, group_id=1),
            shape("rbc", [[14.0, 1.0], [18.0, 1.0], [18.0, 4.0]], group_id=1),
            shape("rbc", [[20.0, 12.0], [24.0, 12.0], [24.0, 16.0]], group_id=7),
        ],
        "../images/a.png",
        flags={"blurred": False},
    )
    pixels = np.full((H, W, 3), 200, np.uint8)
    b = labelme_json(
        root / "ann" / "b.json",
        [shape("rbc", [[3.0, 3.0], [9.0, 3.0], [9.0, 9.0]], None)],
        "..\\images\\b.jpg",  # as labelme on Windows writes it
        image_data=png_b64(pixels),
    )
    return [a, b]


def disc(cx: float, cy: float, r: float) -> np.ndarray[Any, Any]:
    ys, xs = np.mgrid[0:H, 0:W] + 0.5
    return (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r


def decode(segmentation: Any) -> np.ndarray[Any, Any]:
    if isinstance(segmentation, dict):
        rle = dict(segmentation)
        if isinstance(rle["counts"], list):
            rle = mask_utils.frPyObjects(rle, H, W)
        return mask_utils.decode(rle).astype(bool)
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(segmentation, H, W))).astype(bool)


def test_every_shape_type_to_coco(tmp_path: Path) -> None:
    sample(tmp_path / "src")
    report = Report()
    cytoconv.convert(tmp_path / "src" / "ann", tmp_path / "out.json", to="coco", report=report, jobs=1)
    coco = json.loads((tmp_path / "out.json").read_text())
    assert [c["name"] for c in coco["categories"]] == [
        "cell",
        "rbc",
        "nucleus",
        "centre",
    ]  # ruler: lines only
    assert [im["file_name"] for im in coco["images"]] == ["a.png", "b.jpg"]
    assert [(im["width"], im["height"]) for im in coco["images"]] == [(W, H), (W, H)]
    anns = [a for a in coco["annotations"] if a["image_id"] == coco["images"][0]["id"]]
    assert [a["category_id"] for a in anns] == [1, 2, 3, 4, 1, 1, 2, 2]
    poly, box, circle, point, mask, group, lone_rbc, rbc7 = anns
    np.testing.assert_allclose(poly["segmentation"][0], np.array(POLY).ravel(), atol=1e-6)
    assert poly["attributes"] == {"flags": {"checked": True}, "description": "first"}
    assert box["bbox"] == [20.0, 5.0, 10.0, 15.0]
    assert np.array_equal(decode(circle["segmentation"]), disc(10.0, 20.0, 3.0))
    assert point["keypoints"][:2] == [5.0, 6.0]  # COCO keypoints are pixel indices: the point 5.5 is pixel 5
    want = np.zeros((H, W), bool)
    want[2:7, 25:30] = CROP.astype(bool)
    assert np.array_equal(decode(mask["segmentation"]), want)
    assert len(group["segmentation"]) == 2
    np.testing.assert_allclose(group["segmentation"][0], np.array(PART_A).ravel(), atol=1e-6)
    np.testing.assert_allclose(group["segmentation"][1], np.array(PART_B).ravel(), atol=1e-6)
    assert "attributes" not in group  # the parts' group_id is the object itself
    assert lone_rbc["attributes"] == {"group_id": 1} and rbc7["attributes"] == {"group_id": 7}
    (old,) = [a for a in coco["annotations"] if a["image_id"] == coco["images"][1]["id"]]
    np.testing.assert_allclose(old["segmentation"][0], [3, 3, 9, 3, 9, 9], atol=1e-6)
    assert report.notices["line-skipped"] == 2 and report.notices["shape-as-outline"] == 1
    assert report.notices["size-from-xml"] == 1  # b.jpg is missing: its size checked against imageData


def test_the_model_keeps_points_and_attributes_as_written(tmp_path: Path) -> None:
    sample(tmp_path / "src")
    ds = cytoconv.read(tmp_path / "src" / "ann", fmt="labelme")
    a = ds.images[0]
    assert a.attributes == {"flags": {"blurred": False}}
    assert [type(i.geometry).__name__ for i in a.instances] == [
        "Polygon", "Box", "Polygon", "Point", "Rle", "Polygon", "Polygon", "Polygon"
    ]  # fmt: skip
    point = a.instances[3].geometry
    assert isinstance(point, Point) and (point.x, point.y) == (5.5, 6.5)


def test_circle_outline_is_the_disc_of_pixel_centres() -> None:
    rng = np.random.default_rng(5)
    for _ in range(50):
        cx, cy = rng.uniform(8, 32), rng.uniform(8, 22)
        r = rng.uniform(0.3, 7)
        outline = circle_outline(cx, cy, cx + r, cy)
        want = disc(cx, cy, r)
        if outline is None:
            assert not want.any()
            continue
        got = mask_utils.decode(
            mask_utils.merge(mask_utils.frPyObjects([ring.ravel().tolist() for ring in outline.rings], H, W))
        )
        if any(outline.holes):  # a disc has no hole
            pytest.fail("a traced disc has a hole")
        assert np.array_equal(got.astype(bool), want)


def _coco_view(path: Path) -> dict[str, Any]:
    coco = json.loads(path.read_text())
    return {k: coco[k] for k in ("images", "annotations", "categories")}


def test_coco_to_labelme_to_coco_is_exact(tmp_path: Path) -> None:
    cytoconv.convert(BALF_SAMPLE, tmp_path / "one.json", to="coco", jobs=1)
    cytoconv.convert(tmp_path / "one.json", tmp_path / "lm", to="labelme", jobs=1)
    assert detect(tmp_path / "lm").name == "labelme"
    first = json.loads(next(iter(sorted((tmp_path / "lm").glob("*.json")))).read_text())
    assert list(first) == [
        "version",
        "flags",
        "shapes",
        "imagePath",
        "imageData",
        "imageHeight",
        "imageWidth",
    ]
    assert (
        first["imageData"] is None and first["imagePath"] == "../balf_001.jpg"
    )  # where one.json's images are
    cytoconv.convert(BALF_SAMPLE, tmp_path / "beside", to="labelme", jobs=1)
    doc = json.loads((tmp_path / "beside" / "balf_001.json").read_text())
    assert (tmp_path / "beside" / doc["imagePath"]).resolve() == (
        BALF_SAMPLE / "images" / "balf_001.jpg"
    ).resolve()
    cytoconv.convert(tmp_path / "lm", tmp_path / "two.json", to="coco", jobs=1)
    assert _coco_view(tmp_path / "two.json") == _coco_view(tmp_path / "one.json")


def test_masks_boxes_points_and_parts_round_trip_exactly(tmp_path: Path) -> None:
    from cytoconv.geometry.raster import encode

    holed = np.zeros((H, W), bool)
    holed[5:20, 5:25] = True
    holed[9:12, 9:15] = False
    holed[25:28, 30:33] = True  # a second component
    cats = [Category(id=1, name="wbc"), Category(id=2, name="rbc")]
    two_parts = Polygon(rings=[np.array(PART_A), np.array(PART_B)])
    record = ImageRecord(
        file_name="x.png",
        width=W,
        height=H,
        instances=[
            Instance(category_id=1, geometry=encode(holed)),
            Instance(category_id=2, geometry=Box(x=1.5, y=2.25, w=3.0, h=4.5)),
            Instance(category_id=2, geometry=two_parts),
            Instance(category_id=1, geometry=Point(x=7.5, y=8.5)),
        ],
    )
    cytoconv.write(Dataset(categories=cats, images=[record]), tmp_path / "one.json", to="coco")
    cytoconv.convert(tmp_path / "one.json", tmp_path / "lm", to="labelme", jobs=1)
    doc = json.loads((tmp_path / "lm" / "x.json").read_text())
    types = [(s["shape_type"], s["group_id"]) for s in doc["shapes"]]
    assert types == [("mask", None), ("rectangle", None), ("polygon", 1), ("polygon", 1), ("point", None)]
    mask_shape = doc["shapes"][0]
    assert mask_shape["points"] == [[5.0, 5.0], [32.0, 27.0]]
    crop = np.asarray(Image.open(io.BytesIO(base64.b64decode(mask_shape["mask"]))))
    assert crop.dtype == np.uint8 and set(np.unique(crop)) == {0, 1}
    assert np.array_equal(crop.astype(bool), holed[5:28, 5:33])
    assert (tmp_path / "lm" / "labels.txt").read_text() == "wbc\nrbc\n"
    cytoconv.convert(tmp_path / "lm", tmp_path / "two.json", to="coco", jobs=1)
    assert _coco_view(tmp_path / "two.json") == _coco_view(tmp_path / "one.json")


def test_a_holed_polygon_is_bridged_or_written_as_a_mask(tmp_path: Path) -> None:
    from cytoconv.geometry.outline import trace
    from cytoconv.geometry.raster import rasterise

    holed = np.zeros((H, W), bool)
    holed[5:20, 5:25] = True
    holed[9:12, 9:15] = False
    polygon = trace(holed)
    assert polygon is not None and any(polygon.holes)
    ds = Dataset(
        categories=[Category(id=1, name="wbc")],
        images=[
            ImageRecord(
                file_name="x.png", width=W, height=H, instances=[Instance(category_id=1, geometry=polygon)]
            )
        ],
    )
    for holes, kind in (("bridge", "polygon"), ("rle", "mask")):
        report = Report()
        cytoconv.write(ds, tmp_path / holes, to="labelme", report=report, options=WriteOptions(holes=holes))
        doc = json.loads((tmp_path / holes / "x.json").read_text())
        assert [s["shape_type"] for s in doc["shapes"]] == [kind]
        back = cytoconv.read(tmp_path / holes, fmt="labelme").images[0].instances[0].geometry
        assert np.array_equal(rasterise(back, H, W), holed)  # type: ignore[arg-type]
        assert report.notices["holes-bridged" if holes == "bridge" else "polygon-as-rle"] == 1


BAD = {
    "two-point polygon": (lambda: [shape("cell", [[1.0, 1.0], [5.0, 5.0]])], {}, "shapes[1]"),
    "non-numeric coordinate": (
        lambda: [shape("cell", [[1.0, 1.0], ["5", 5.0], [9.0, 2.0]])],
        {},
        "shapes[1]",
    ),
    "bad base64 mask": (
        lambda: [shape("cell", [[1.0, 1.0], [4.0, 4.0]], "mask", mask="not base64!")],
        {},
        "shapes[1]",
    ),
    "missing imageHeight": (lambda: [shape("cell", POLY)], {"height": None}, "imageHeight"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_1_nothing_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    shapes, extra, where = BAD[case]
    src = tmp_path / "src"
    labelme_json(src / "a.json", [shape("cell", POLY)], "a.png")
    bad = labelme_json(src / "b.json", [shape("cell", POLY), *shapes()], "b.png", **extra)
    out = tmp_path / "out.json"
    code, _, err = run_cli(["convert", str(src), str(out), "--to", "coco", "-q"], capsys)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert bad.name in lines[0] and where in lines[0]
    assert not out.exists() and not list(tmp_path.glob("out*"))


def test_fuzz(tmp_path: Path) -> None:
    def build(root: Path) -> list[Path]:
        return sample(root)

    _fuzz(
        tmp_path,
        build,
        lambda root: cytoconv.read(root / "ann", fmt="labelme", report=Report(strict=False)),
        11,
    )
    _fuzz(tmp_path / "strict", build, lambda root: cytoconv.read(root / "ann", fmt="labelme"), 12)


def test_detection_labelme_against_coco(tmp_path: Path) -> None:
    a, _ = sample(tmp_path / "src")
    assert detect(a).name == "labelme"
    assert detect(tmp_path / "src" / "ann").name == "labelme"
    cytoconv.convert(tmp_path / "src" / "ann", tmp_path / "c.json", to="coco", jobs=1)
    assert detect(tmp_path / "c.json").name == "coco"
    assert labelme_detect(tmp_path / "c.json") is None
    big = labelme_json(  # imagePath far from the start: found in the last bytes
        tmp_path / "big.json", [shape("cell", POLY, description="x" * 100_000)], "a.png"
    )
    assert detect(big).name == "labelme"


def test_validate_finds_what_the_reader_refuses(tmp_path: Path) -> None:
    from cytoconv.validate.runner import validate

    src = tmp_path / "src"
    sample(src)
    assert [f.code for f in validate([src / "ann"], jobs=1).findings if f.severity == "error"] == []
    labelme_json(
        src / "ann" / "c.json",
        [shape("cell", [[1.0, 1.0], [2.0, 2.0]]), shape("x", POLY, "hexagon")],
        "c.png",
    )
    codes = sorted(f.code for f in validate([src / "ann" / "c.json"], jobs=1).findings)
    assert codes == ["CC003", "CC104", "CC402"]


def test_class_order_from_labels_txt_or_names(tmp_path: Path) -> None:
    sample(tmp_path / "src")
    ann = tmp_path / "src" / "ann"
    (ann / "labels.txt").write_text("__ignore__\n_background_\ncentre\nnucleus\nrbc\ncell\n")
    ds = cytoconv.read(ann, fmt="labelme")
    assert [c.name for c in ds.categories] == ["centre", "nucleus", "rbc", "cell"]
    assert ds.images[0].instances[0].category_id == 4
    (ann / "labels.txt").unlink()
    options = cytoconv.api.ReadOptions(names=("cell", "rbc", "nucleus"))  # no "centre"
    with pytest.raises(FormatError) as info:
        cytoconv.read(ann, fmt="labelme", options=options)
    assert info.value.code == "unknown-class" and "shapes[3]" in str(info.value)
    lenient = Report(strict=False)
    ds = cytoconv.read(ann, fmt="labelme", options=options, report=lenient)
    assert lenient.skipped["unknown-class"] == 1 and len(ds.images[0].instances) == 7


def test_a_size_that_disagrees_with_image_data_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    labelme_json(
        src / "a.json", [shape("cell", POLY)], "a.png", image_data=png_b64(np.zeros((H + 1, W), np.uint8))
    )
    with pytest.raises(FormatError) as info:
        cytoconv.read(src, fmt="labelme")
    assert info.value.code == "size-mismatch" and "imageData is 40x31" in str(info.value)
    lenient = Report(strict=False)
    assert cytoconv.read(src, fmt="labelme", report=lenient).images[0].height == H + 1
    assert lenient.notices["size-mismatch"] == 1


def test_validate_checks_labels_against_labels_txt_and_stays_light(tmp_path: Path) -> None:
    from cytoconv.validate.runner import validate
    from tests.test_validate import HEAVY, _modules_after

    src = tmp_path / "src"
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "a.jpg")  # a JPEG's size needs no PIL
    labelme_json(src / "a.json", [shape("cell", POLY), shape("rbc", POLY)], "../a.jpg")
    (src / "labels.txt").write_text("cell\n")
    findings = validate([src], jobs=1).findings
    assert [(f.code, "shapes[1]" in f.message) for f in findings] == [("CC202", True)]
    loaded = _modules_after(
        f"from cytoconv.validate import validate\nvalidate([{str(src / 'a.json')!r}])", tmp_path
    )
    assert "cytoconv.formats.labelme.check" in loaded
    assert not {m for m in loaded for h in (*HEAVY, "pydantic") if m == h or m.startswith(h + ".")}
