"""CVAT for images 1.1 XML: read as CVAT writes it, converted to COCO exactly, written back, refused when bad."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_api

import cytoconv
from cytoconv.engine.contract import WriteOptions
from cytoconv.errors import Report
from cytoconv.formats import detect
from cytoconv.formats.cvat.reader import detect as cvat_detect
from cytoconv.formats.cvat.writer import mask_runs
from cytoconv.ir import Polygon, Rle
from tests.conftest import BALF_SAMPLE, run_cli
from tests.test_fuzz import _fuzz

W, H = 64, 48

# The mask of image 0, row-major inside its box (left 44, top 30, 6 x 4), background first: CVAT's <mask>.
MASK0 = np.array([[0, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 0, 0]], dtype=bool)

# Written the way CVAT 2.x's "CVAT for images 1.1" export writes a job: meta with the job, its segment and the
# labels (with attribute specs), then each image with its shapes (2-space indent, 2-decimal coordinates).
SAMPLE = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <job>
      <id>12</id>
      <size>2</size>
      <mode>annotation</mode>
      <overlap>0</overlap>
      <bugtracker></bugtracker>
      <created>2024-03-01 10:00:00.000000+00:00</created>
      <updated>2024-03-01 11:00:00.000000+00:00</updated>
      <subset>default</subset>
      <start_frame>0</start_frame>
      <stop_frame>1</stop_frame>
      <frame_filter></frame_filter>
      <segments>
        <segment>
          <id>12</id>
          <start>0</start>
          <stop>1</stop>
          <url>https://app.cvat.ai/api/jobs/12</url>
        </segment>
      </segments>
      <owner>
        <username>lab</username>
        <email>lab@example.org</email>
      </owner>
      <assignee></assignee>
      <labels>
        <label>
          <name>neutrophil</name>
          <color>#fa3253</color>
          <type>any</type>
          <attributes>
            <attribute>
              <name>stage</name>
              <mutable>False</mutable>
              <input_type>select</input_type>
              <default_value>mature</default_value>
              <values>mature
band</values>
            </attribute>
          </attributes>
        </label>
        <label>
          <name>lymphocyte</name>
          <color>#33ddff</color>
          <type>any</type>
          <attributes>
          </attributes>
        </label>
        <label>
          <name>macrophage</name>
          <color>#b83df5</color>
          <type>any</type>
          <attributes>
          </attributes>
        </label>
      </labels>
    </job>
    <dumped>2024-03-01 12:00:00.000000+00:00</dumped>
  </meta>
  <image id="0" name="cells_0.png" subset="default" task_id="7" width="64" height="48">
    <box label="neutrophil" source="manual" occluded="0" xtl="4.50" ytl="3.00" xbr="20.25" ybr="18.00" z_order="0">
      <attribute name="stage">band</attribute>
    </box>
    <polygon label="lymphocyte" source="semi-auto" occluded="1" points="30.00,5.00;40.50,5.00;40.50,15.25;30.00,15.25" z_order="1">
    </polygon>
    <polygon label="macrophage" source="manual" occluded="0" points="2.00,30.00;10.00,30.00;10.00,40.00" z_order="0" group_id="1">
    </polygon>
    <polygon label="macrophage" source="manual" occluded="0" points="14.00,30.00;22.00,30.00;22.00,40.00;14.00,40.00" z_order="0" group_id="1">
    </polygon>
    <ellipse label="lymphocyte" source="manual" occluded="0" cx="30.30" cy="33.70" rx="6.20" ry="4.10" z_order="0">
    </ellipse>
    <ellipse label="lymphocyte" source="manual" occluded="0" cx="52.00" cy="10.00" rx="2.00" ry="7.00" rotation="90.0" z_order="0">
    </ellipse>
    <points label="neutrophil" source="manual" occluded="0" points="50.50,40.50;10.25,5.75" z_order="0">
    </points>
    <polyline label="neutrophil" source="manual" occluded="0" points="1.00,1.00;5.00,5.00" z_order="0">
    </polyline>
    <mask label="macrophage" source="manual" occluded="0" rle="1, 3, 2, 5, 1, 6, 2, 2, 2" left="44" top="30" width="6" height="4" z_order="0">
    </mask>
  </image>
  <image id="1" name="cells_1.png" subset="default" task_id="7" width="64" height="48">
    <mask label="neutrophil" source="manual" occluded="0" rle="0, 4, 2" left="0" top="0" width="3" height="2" z_order="0">
    </mask>
    <tag label="neutrophil" source="manual">
    </tag>
  </image>
</annotations>
"""


def _sample(tmp_path: Path, text: str = SAMPLE, name: str = "annotations.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _cvat_mask(counts: list[int], left: int, top: int, width: int) -> np.ndarray:
    """An independent decoding of CVAT's mask RLE into a 64 x 48 image: runs row-major in the box, background
    first (as CVAT's own import code walks it, one pixel at a time)."""
    out = np.zeros((H, W), dtype=np.uint8)
    value, offset = 0, 0
    for count in counts:
        for _ in range(count):
            y, x = divmod(offset, width)
            out[top + y, left + x] = value
            offset += 1
        value = 1 - value
    return out


def _ellipse_pixels(cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    """Pixels whose centres are inside an axis-aligned ellipse, one by one."""
    out = np.zeros((H, W), dtype=np.uint8)
    for j in range(H):
        for i in range(W):
            if ((i + 0.5 - cx) / rx) ** 2 + ((j + 0.5 - cy) / ry) ** 2 <= 1:
                out[j, i] = 1
    return out


def _decode(segmentation: Any) -> Any:
    if isinstance(segmentation, dict):
        rle = segmentation
        if isinstance(rle["counts"], list):
            rle = mask_api.frPyObjects(rle, H, W)
        return mask_api.decode(rle)
    rles = mask_api.frPyObjects(segmentation, H, W)
    return mask_api.decode(mask_api.merge(rles))


def test_cvat_xml_to_coco_keeps_every_shape_exactly(tmp_path: Path) -> None:
    xml = _sample(tmp_path)
    assert detect(xml).name == "cvat"
    code = cytoconv.convert(xml, tmp_path / "out.json", to="coco", jobs=1)
    del code
    coco = json.loads((tmp_path / "out.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["neutrophil", "lymphocyte", "macrophage"]
    assert [c["id"] for c in coco["categories"]] == [1, 2, 3]
    by_image: dict[int, list[dict[str, Any]]] = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    names = {im["id"]: im["file_name"] for im in coco["images"]}
    first = next(k for k, n in names.items() if n == "cells_0.png")
    second = next(k for k, n in names.items() if n == "cells_1.png")
    anns = by_image[first]
    # box, polygon, the grouped polygons as one object, 2 ellipses, 2 points, the mask (the polyline is skipped)
    assert [a["category_id"] for a in anns] == [1, 2, 3, 2, 2, 1, 1, 3]
    box = anns[0]
    assert box["bbox"] == [4.5, 3.0, 15.75, 15.0]
    assert box["attributes"] == {"stage": "band"}
    polygon = anns[1]
    assert np.allclose(polygon["segmentation"], [[30, 5, 40.5, 5, 40.5, 15.25, 30, 15.25]], atol=1e-6)
    assert polygon["attributes"] == {"source": "semi-auto", "occluded": 1, "z_order": 1}
    grouped = anns[2]
    assert len(grouped["segmentation"]) == 2
    assert np.allclose(grouped["segmentation"][0], [2, 30, 10, 30, 10, 40], atol=1e-6)
    assert np.allclose(grouped["segmentation"][1], [14, 30, 22, 30, 22, 40, 14, 40], atol=1e-6)
    assert "group_id" not in grouped.get("attributes", {})
    assert np.array_equal(_decode(anns[3]["segmentation"]), _ellipse_pixels(30.3, 33.7, 6.2, 4.1))
    # rotated by 90 degrees: rx 2, ry 7 is rx 7, ry 2
    assert np.array_equal(_decode(anns[4]["segmentation"]), _ellipse_pixels(52.0, 10.0, 7.0, 2.0))
    assert [a["keypoints"] for a in anns[5:7]] == [[50, 40, 2], [9.75, 5.25, 2]]
    expected = _cvat_mask([1, 3, 2, 5, 1, 6, 2, 2, 2], 44, 30, 6)
    assert expected[30:34, 44:50].astype(bool).tolist() == MASK0.tolist()
    assert np.array_equal(_decode(anns[7]["segmentation"]), expected)
    assert anns[7]["bbox"] == [44, 30, 6, 4]
    (mask1,) = by_image[second]
    assert np.array_equal(_decode(mask1["segmentation"]), _cvat_mask([0, 4, 2], 0, 0, 3))
    assert int(_decode(mask1["segmentation"]).sum()) == 4


def test_reader_counts_what_it_does_not_read_and_keeps_tags_and_points(tmp_path: Path) -> None:
    report = Report()
    ds = cytoconv.read(_sample(tmp_path), fmt="cvat", report=report)
    assert report.notices["element-ignored"] == 1  # the polyline
    assert report.notices["shape-as-outline"] == 2  # the ellipses
    first, second = ds.images
    assert (first.width, first.height, first.split) == (W, H, None)
    assert second.label == 1 and first.label is None
    points = [i.geometry for i in first.instances if i.geometry.kind == "point"]
    assert [(p.x, p.y) for p in points] == [(50.5, 40.5), (10.25, 5.75)]


def test_coco_to_cvat_to_coco_is_exact(tmp_path: Path) -> None:
    cytoconv.convert(BALF_SAMPLE, tmp_path / "a.json", to="coco", jobs=1)
    cytoconv.convert(tmp_path / "a.json", tmp_path / "b.xml", to="cvat", jobs=1)
    assert detect(tmp_path / "b.xml").name == "cvat"
    cytoconv.convert(tmp_path / "b.xml", tmp_path / "c.json", to="coco", jobs=1)
    a, c = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "c.json"))
    assert a["annotations"] and a["annotations"] == c["annotations"]
    assert a["categories"] == c["categories"]
    assert [(i["file_name"], i["width"], i["height"]) for i in a["images"]] == [
        (i["file_name"], i["width"], i["height"]) for i in c["images"]
    ]


def test_masks_groups_holes_and_attributes_written_back(tmp_path: Path) -> None:
    xml = _sample(tmp_path)
    cytoconv.convert(xml, tmp_path / "again.xml", to="cvat", jobs=1)
    text = (tmp_path / "again.xml").read_text()
    assert 'rle="1, 3, 2, 5, 1, 6, 2, 2, 2" left="44" top="30" width="6" height="4"' in text
    assert 'rle="0, 4, 2" left="0" top="0" width="3" height="2"' in text
    assert text.count('group_id="1"') == 2
    assert '<attribute name="stage">band</attribute>' in text
    assert 'source="semi-auto" occluded="1"' in text
    assert '<tag label="neutrophil"' in text
    first = cytoconv.read(xml, fmt="cvat")
    again = cytoconv.read(tmp_path / "again.xml", fmt="cvat")
    for im1, im2 in zip(first.images, again.images):
        assert [i.category_id for i in im1.instances] == [i.category_id for i in im2.instances]
        for i1, i2 in zip(im1.instances, im2.instances):
            assert i1.attributes == i2.attributes
            g1, g2 = i1.geometry, i2.geometry
            if isinstance(g1, (Polygon, Rle)) and isinstance(g2, (Polygon, Rle)):
                from cytoconv.geometry.raster import rasterise

                assert np.array_equal(rasterise(g1, H, W), rasterise(g2, H, W))


def test_mask_runs_are_row_major_in_the_bounding_box_starting_with_background() -> None:
    full = np.zeros((H, W), dtype=bool)
    full[30:34, 44:50] = MASK0
    assert mask_runs(full) == ((44, 30, 6, 4), [1, 3, 2, 5, 1, 6, 2, 2, 2])
    full[:] = False
    full[0, 0] = True
    assert mask_runs(full) == ((0, 0, 1, 1), [0, 1])
    assert mask_runs(np.zeros((3, 3), dtype=bool)) is None


def test_holes_are_bridged_or_written_as_masks(tmp_path: Path) -> None:
    from cytoconv.geometry.raster import rasterise
    from cytoconv.ir import Category, Dataset, ImageRecord, Instance

    outer = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=np.float64)
    hole = np.array([[3, 3], [3, 7], [7, 7], [7, 3]], dtype=np.float64)
    ring = Polygon(rings=[outer, hole], holes=[False, True])
    ds = Dataset(
        categories=[Category(id=1, name="cell")],
        images=[
            ImageRecord(
                file_name="a.png",
                width=16,
                height=12,
                instances=[Instance(category_id=1, geometry=ring)],
            )
        ],
    )
    for holes in ("bridge", "rle"):
        dest = tmp_path / f"{holes}.xml"
        cytoconv.write(ds, dest, to="cvat", options=WriteOptions(holes=holes))
        back = cytoconv.read(dest, fmt="cvat")
        (inst,) = back.images[0].instances
        assert np.array_equal(rasterise(inst.geometry, 12, 16), rasterise(ring, 12, 16))  # type: ignore[arg-type]
        assert ("<mask " in dest.read_text()) == (holes == "rle")


BAD = [
    (
        SAMPLE.replace(
            'label="neutrophil" source="manual" occluded="0" xtl',
            'label="basophil" source="manual" occluded="0" xtl',
        ),
        "is not among the 3 <meta> labels",
        "shape 1 <box>",
    ),
    (SAMPLE.replace('rle="1, 3, 2, 5, 1, 6, 2, 2, 2"', 'rle="1, 3, 2"'), "add up to 6", "shape 9 <mask>"),
    (SAMPLE.replace('xtl="4.50"', 'xtl="4.5x"'), "xtl='4.5x' is not a number", "shape 1 <box>"),
    (SAMPLE.replace('points="30.00,5.00;', 'points="30.00,abc;'), "not a number", "shape 2 <polygon>"),
    (SAMPLE[: SAMPLE.index("<mask")], "not well-formed", ""),
    (
        '<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY x "y">]>\n<annotations><version>1.1</version><meta/>'
        "</annotations>\n",
        "DTD",
        "",
    ),
]


@pytest.mark.parametrize(("text", "said", "where"), BAD)
def test_bad_input_is_one_line_naming_file_and_shape_exit_1_nothing_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, said: str, where: str
) -> None:
    xml = _sample(tmp_path, text)
    out = tmp_path / "out.json"
    code, _, err = run_cli(["convert", str(xml), str(out), "--from", "cvat", "--to", "coco"], capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "annotations.xml" in lines[0] and said in lines[0]
    if where:
        assert "cells_0.png" in lines[0] and where in lines[0]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotations.xml"]


def test_validate_finds_the_same_errors(tmp_path: Path) -> None:
    from cytoconv.formats.cvat.check import check_bytes
    from cytoconv.problems.settings import Settings

    assert check_bytes(SAMPLE.encode(), "a.xml", Settings()) == []
    bad = BAD[0][0].replace('rle="1, 3, 2, 5, 1, 6, 2, 2, 2"', 'rle="1, 3, 2"')
    found = check_bytes(bad.encode(), "a.xml", Settings())
    assert [f.code for f in found] == ["CC202", "CC003"]


def test_lenient_skips_and_counts_the_bad_shape(tmp_path: Path) -> None:
    report = Report(strict=False)
    ds = cytoconv.read(_sample(tmp_path, BAD[0][0]), fmt="cvat", report=report)
    assert report.skipped["unknown-class"] == 1
    assert len(ds.images[0].instances) == 7


def test_detection_keeps_voc_voc_and_cvat_cvat(tmp_path: Path) -> None:
    voc = tmp_path / "voc.xml"
    voc.write_text(
        "<annotation><filename>a.png</filename><size><width>4</width><height>4</height></size>"
        "<object><name>c</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox>"
        "</object></annotation>\n"
    )
    assert cvat_detect(voc) is None
    assert detect(voc).name == "voc"
    folder = tmp_path / "export"
    folder.mkdir()
    _sample(folder)
    assert detect(folder).name == "cvat"
    assert detect(folder / "annotations.xml").name == "cvat"
    _sample(folder, name="second.xml")
    assert detect(folder / "second.xml").name == "cvat"


def test_ellipse_is_the_pixels_whose_centres_are_inside() -> None:
    from cytoconv.formats.cvat.reader import ellipse_window

    window, x0, y0 = ellipse_window(30.3, 33.7, 6.2, 4.1, 0.0, W, H)
    full = np.zeros((H, W), dtype=np.uint8)
    full[y0 : y0 + window.shape[0], x0 : x0 + window.shape[1]] = window
    assert np.array_equal(full, _ellipse_pixels(30.3, 33.7, 6.2, 4.1))
    rotated, _, _ = ellipse_window(10.0, 10.0, 8.0, 2.0, 45.0, W, H)
    assert rotated.sum() > 0 and math.isclose(rotated.sum(), rotated.T.sum())


def test_fuzz_cvat(tmp_path: Path) -> None:
    def build(root: Path) -> list[Path]:
        root.mkdir(parents=True)
        return [_sample(root)]

    _fuzz(
        tmp_path,
        build,
        lambda root: cytoconv.read(root / "annotations.xml", fmt="cvat", report=Report(strict=False)),
        16,
    )
    _fuzz(tmp_path / "strict", build, lambda root: cytoconv.read(root / "annotations.xml", fmt="cvat"), 17)


def test_a_cvat_file_given_alone_is_checked_as_cvat_not_voc(tmp_path: Path) -> None:
    """validate without --from (as pre-commit runs it): a CVAT XML goes to the CVAT checker (VOC's sniffer
    saw ``<annotation`` in ``<annotations>`` and called it a broken VOC file)."""
    from cytoconv.validate import Settings, validate

    dest = tmp_path / "annotations.xml"
    cytoconv.write(cytoconv.read(BALF_SAMPLE), dest, to="cvat")
    report = validate([dest], Settings(), jobs=1)
    assert report.checked == 1 and [f.code for f in report.findings if f.severity == "error"] == []
