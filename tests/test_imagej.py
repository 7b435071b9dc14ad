"""ImageJ/Fiji ROI sets: files made the way roifile (and so ImageJ's ROI Manager) writes them, read to COCO with
exact coordinates, written back, and refused cleanly when damaged."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import roifile
from PIL import Image
from pycocotools import mask as mask_utils

import cytoconv
from cytoconv.engine.contract import ReadOptions
from cytoconv.errors import FormatError, Report
from cytoconv.formats import detect
from cytoconv.formats.imagej.reader import detect as imagej_detect
from cytoconv.ir import Box, Point, Polygon
from tests.conftest import BALF_SAMPLE, run_cli
from tests.test_fuzz import _fuzz

W, H = 64, 48
INT_POLY = [[10, 5], [30, 5], [30, 20], [10, 20], [12, 12]]
SUB_POLY = [[40.25, 10.5], [55.125, 12.75], [50.0, 30.375], [41.5, 28.0]]
TRACED = [[2, 30], [8, 30], [8, 40], [2, 40]]


def _polygon(points: Any, kind: Any, group: int, name: str) -> Any:
    pts = np.array(points, dtype=np.float64 if any(v % 1 for p in points for v in p) else np.int32)
    roi = roifile.ImagejRoi.frompoints(pts, name=name)
    roi.roitype = kind
    roi.group = group
    return roi


def _bounded(kind: Any, left: int, top: int, right: int, bottom: int, group: int, name: str) -> Any:
    roi = roifile.ImagejRoi()
    roi.roitype = kind
    roi.left, roi.top, roi.right, roi.bottom = left, top, right, bottom
    roi.group = group
    roi.name = name
    return roi


def _points(points: Any, group: int, name: str) -> Any:
    roi = roifile.ImagejRoi.frompoints(np.array(points, dtype=np.int32), name=name)
    roi.roitype = roifile.ROI_TYPE.POINT
    roi.group = group
    return roi


def _line(name: str) -> Any:
    roi = roifile.ImagejRoi()
    roi.roitype = roifile.ROI_TYPE.LINE
    roi.x1, roi.y1, roi.x2, roi.y2 = 1.0, 1.0, 20.0, 20.0
    roi.left, roi.top, roi.right, roi.bottom = 1, 1, 20, 20
    roi.name = name
    return roi


def rois() -> list[Any]:
    """One of each ROI type ImageJ draws, in two groups and none."""
    t = roifile.ROI_TYPE
    return [
        _polygon(INT_POLY, t.POLYGON, 1, "cell one"),
        _polygon(SUB_POLY, t.FREEHAND, 2, "0010-0040"),
        _polygon(TRACED, t.TRACED, 1, "traced"),
        _bounded(t.RECT, 20, 25, 35, 40, 2, "box"),
        _bounded(t.OVAL, 40, 32, 51, 41, 1, "oval"),
        _points([[3, 4], [60, 44], [0, 0]], 0, "multi"),
        _line("a line"),
    ]


def sample(root: Path, name: str = "a.zip") -> list[Path]:
    """``root/a.zip`` (roifile's roiwrite, as ImageJ's ROI Manager saves a set) beside ``root/a.png``."""
    root.mkdir(parents=True, exist_ok=True)
    Image.new("L", (W, H)).save(root / "a.png")
    Image.new("L", (W, H)).save(root / "b.png")
    roifile.roiwrite(root / name, rois())
    roifile.roiwrite(root / "b_rois.zip", [_polygon(INT_POLY, roifile.ROI_TYPE.POLYGON, 1, "b1")])
    return [root / name, root / "b_rois.zip"]


def test_every_roi_type_to_coco_with_exact_vertices(tmp_path: Path) -> None:
    sample(tmp_path / "src")
    assert imagej_detect(tmp_path / "src") is not None
    report = Report()
    cytoconv.convert(tmp_path / "src", tmp_path / "c.json", to="coco", report=report, jobs=1, fmt="imagej")
    coco = json.loads((tmp_path / "c.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["group_1", "group_2", "roi"]
    assert [im["file_name"] for im in coco["images"]] == ["a.png", "b.png"]
    anns = [a for a in coco["annotations"] if a["image_id"] == coco["images"][0]["id"]]
    assert len(anns) == 8  # five shapes and three points (COCO keypoints); the line is skipped
    want = [np.array(INT_POLY, float), np.array(SUB_POLY, float), np.array(TRACED, float)]
    for ann, ring in zip(anns[:3], want):
        got = np.array(ann["segmentation"][0], float).reshape(-1, 2)
        np.testing.assert_allclose(got, ring, atol=1e-6, rtol=0)
        rle = mask_utils.frPyObjects(ann["segmentation"], H, W)
        assert ann["area"] == pytest.approx(float(mask_utils.area(mask_utils.merge(rle))))
    assert [a["category_id"] for a in anns] == [1, 2, 1, 2, 1, 3, 3, 3]
    assert anns[3]["bbox"] == [20, 25, 15, 15]
    oval = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(anns[4]["segmentation"], H, W)))
    ys, xs = np.mgrid[0:H, 0:W] + 0.5
    inside = ((xs - 45.5) / 5.5) ** 2 + ((ys - 36.5) / 4.5) ** 2 <= 1
    assert np.array_equal(oval.astype(bool), inside)
    assert report.notices["line-skipped"] == 1 and report.notices["shape-as-outline"] == 1


def test_points_are_pixel_centres_and_names_kept(tmp_path: Path) -> None:
    sample(tmp_path / "src")
    ds = cytoconv.read(tmp_path / "src", fmt="imagej")
    a = ds.images[0]
    points = [i for i in a.instances if isinstance(i.geometry, Point)]
    assert [(p.geometry.x, p.geometry.y) for p in points] == [(3.5, 4.5), (60.5, 44.5), (0.5, 0.5)]  # type: ignore[union-attr]
    names = {c.id: c.name for c in ds.categories}
    assert {names[p.category_id] for p in points} == {"roi"}
    assert [i.attributes.get("name") for i in a.instances] == [
        "cell one",
        None,  # ImageJ's automatic name (y-x) is not kept
        "traced",
        "box",
        "oval",
        "multi",
        "multi",
        "multi",
    ]
    assert isinstance(a.instances[3].geometry, Box)


def test_names_map_groups_and_cellpose_stems(tmp_path: Path) -> None:
    sample(tmp_path / "src")
    ds = cytoconv.read(tmp_path / "src", fmt="imagej", options=ReadOptions(names=("nucleus", "cyto")))
    assert [c.name for c in ds.categories] == ["nucleus", "cyto", "roi"]
    assert [i.category_id for i in ds.images[0].instances][:5] == [1, 2, 1, 2, 1]
    assert ds.images[1].file_name == "b.png" and len(ds.images[1].instances) == 1  # b_rois.zip -> b.png
    with pytest.raises(FormatError, match="group 2"):
        cytoconv.read(tmp_path / "src", fmt="imagej", options=ReadOptions(names=("nucleus",)))


def test_folder_of_roi_files_and_roiset_zip(tmp_path: Path) -> None:
    folder = tmp_path / "src" / "a"
    folder.mkdir(parents=True)
    Image.new("L", (W, H)).save(tmp_path / "src" / "a.png")
    for k, roi in enumerate(rois()[:4]):
        roi.tofile(folder / f"{k}.roi")
    assert imagej_detect(tmp_path / "src") is not None
    ds = cytoconv.read(tmp_path / "src", fmt="imagej")
    assert ds.images[0].file_name == "a.png" and len(ds.images[0].instances) == 4
    one = tmp_path / "one" / "slide7"
    one.mkdir(parents=True)
    Image.new("L", (W, H)).save(one / "slide7.png")
    roifile.roiwrite(one / "RoiSet.zip", rois()[:2])
    with zipfile.ZipFile(tmp_path / "one" / "other.zip", "w") as zf:
        zf.writestr("notes.txt", "not a ROI")
    report = Report()
    ds = cytoconv.read(tmp_path / "one", fmt="imagej", report=report)
    assert [im.file_name for im in ds.images] == ["slide7/slide7.png"]
    assert report.notices["file-not-read"] == 1


def _coco_view(path: Path) -> dict[str, Any]:
    coco = json.loads(path.read_text())
    return {k: coco[k] for k in ("images", "annotations", "categories")}


def test_coco_to_imagej_to_coco(tmp_path: Path) -> None:
    """Polygons through ImageJ's float32 sub-pixel vertices: the first pass is exact to float32 (ImageJ's own
    precision), and a second pass changes nothing at all."""
    cytoconv.convert(BALF_SAMPLE, tmp_path / "one.json", to="coco", jobs=1)
    cytoconv.convert(tmp_path / "one.json", tmp_path / "ij", to="imagej", jobs=1)
    assert detect(tmp_path / "ij").name == "imagej"
    assert (tmp_path / "ij" / "classes.txt").is_file()
    with zipfile.ZipFile(tmp_path / "ij" / "balf_001.zip") as zf:
        first = zf.namelist()[0]
        roi = roifile.ImagejRoi.frombytes(zf.read(first))
    assert first.endswith("-1.roi") and roi.group >= 1 and roi.roitype == roifile.ROI_TYPE.POLYGON
    images = ReadOptions(images=BALF_SAMPLE / "images")
    cytoconv.convert(
        tmp_path / "ij", tmp_path / "two.json", to="coco", jobs=1, fmt="imagej", read_options=images
    )
    one, two = _coco_view(tmp_path / "one.json"), _coco_view(tmp_path / "two.json")
    assert one["categories"] == two["categories"] and one["images"] == two["images"]
    assert len(one["annotations"]) == len(two["annotations"])
    for a, b in zip(one["annotations"], two["annotations"]):
        assert a["category_id"] == b["category_id"]
        want = np.array(a["segmentation"][0], np.float64).astype(np.float32).astype(np.float64)
        np.testing.assert_allclose(np.array(b["segmentation"][0]), want, atol=1e-6, rtol=0)
    cytoconv.convert(tmp_path / "two.json", tmp_path / "ij2", to="imagej", jobs=1)
    cytoconv.convert(
        tmp_path / "ij2", tmp_path / "three.json", to="coco", jobs=1, fmt="imagej", read_options=images
    )
    assert _coco_view(tmp_path / "three.json") == two


def test_boxes_points_masks_and_holes_written(tmp_path: Path) -> None:
    from cytoconv.geometry.raster import encode
    from cytoconv.ir import Category, Dataset, ImageRecord, Instance

    mask = np.zeros((H, W), bool)
    mask[5:20, 5:20] = True
    mask[10:13, 10:13] = False
    ring = np.array([[1.0, 1.0], [9.0, 1.0], [9.0, 9.0], [1.0, 9.0]])
    hole = np.array([[3.0, 3.0], [5.0, 3.0], [5.0, 5.0], [3.0, 5.0]])

    def inst(geometry: Any, cat: int = 1) -> Instance:
        return Instance.trusted(category_id=cat, geometry=geometry, iscrowd=False, score=None, attributes={})

    ds = Dataset(
        categories=[Category.trusted(id=1, name="cell", supercategory=None)],
        images=[
            ImageRecord.trusted(
                file_name="x.png",
                width=W,
                height=H,
                split=None,
                label=None,
                instances=[
                    inst(Box.trusted(kind="box", x=2.5, y=3.0, w=10.25, h=4.0)),
                    inst(Point.trusted(kind="point", x=7.5, y=8.25)),
                    inst(encode(mask)),
                    inst(Polygon.trusted(kind="polygon", rings=[ring, hole], holes=[False, True])),
                ],
                attributes={},
            )
        ],
    )
    report = Report()
    cytoconv.write(ds, tmp_path / "out", to="imagej", report=report)
    assert report.notices["holes-filled"] == 2 and report.notices["rle-as-polygon"] == 1
    back = cytoconv.read(tmp_path / "out", fmt="imagej", options=ReadOptions(image_size=(W, H)))
    got = back.images[0].instances
    assert back.images[0].file_name == "x.tif"  # no image: the name is guessed
    assert got[0].geometry == ds.images[0].instances[0].geometry
    assert (got[1].geometry.x, got[1].geometry.y) == (7.5, 8.25)  # type: ignore[union-attr]
    from cytoconv.geometry.raster import rasterise

    filled = mask.copy()
    filled[10:13, 10:13] = True
    assert isinstance(got[2].geometry, Polygon)
    assert np.array_equal(rasterise(got[2].geometry, H, W).astype(bool), filled)
    np.testing.assert_array_equal(got[3].geometry.rings[0], ring)  # type: ignore[union-attr]
    again = tmp_path / "again"
    cytoconv.write(ds, again, to="imagej", report=Report())
    assert (again / "x.zip").read_bytes() == (tmp_path / "out" / "x.zip").read_bytes()


BAD = {
    "corrupt-zip": ("a.zip", b"PK\x03\x04 this is not a zip at all", "a.zip"),
    "unparsable-roi": ("a.zip", None, "broken"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_1_nothing_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    name, data, where = BAD[case]
    src = tmp_path / "src"
    sample(src)
    if data is not None:
        (src / name).write_bytes(data)
    else:
        with zipfile.ZipFile(src / name, "a") as zf:
            zf.writestr("broken.roi", b"Iout\x00\xe3garbage")
    out = tmp_path / "out.json"
    code, _, err = run_cli(["convert", str(src), str(out), "--from", "imagej", "--to", "coco", "-q"], capsys)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert name in lines[0] and where in lines[0]
    assert not out.exists() and not list(tmp_path.glob("out*"))


def test_validate_finds_what_the_reader_refuses(tmp_path: Path) -> None:
    from cytoconv.validate.runner import validate

    src = tmp_path / "src"
    sample(src)
    assert [f.code for f in validate([src], jobs=1, fmt="imagej").findings if f.severity == "error"] == []
    with zipfile.ZipFile(src / "a.zip", "a") as zf:
        zf.writestr("broken.roi", b"Iout\x00\xe3garbage")
    (src / "c.zip").write_bytes(b"PK\x03\x04 not a zip")
    codes = sorted(f.code for f in validate([src], jobs=1, fmt="imagej").findings if f.severity == "error")
    assert codes == ["CC002", "CC003"]


def test_fuzz(tmp_path: Path) -> None:
    _fuzz(tmp_path, sample, lambda root: cytoconv.read(root, fmt="imagej", report=Report(strict=False)), 41)
    _fuzz(tmp_path / "strict", sample, lambda root: cytoconv.read(root, fmt="imagej"), 42)
