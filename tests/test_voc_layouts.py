"""Pascal VOC as the downloads lay it out: the VOC2012 tar (``VOCdevkit/VOC2012/`` with ``Annotations/``,
``JPEGImages/``, ``ImageSets/{Main,Segmentation}``, ``SegmentationClass/``, ``SegmentationObject/``), Kaggle's
lowercase ``annotations/`` + ``images/`` copies, BCCD's 1-pixel boxes, files without ``<size>`` read with
``--image-size``, and split lists with comments.

The VOC2012 files are shaped as the tar holds them: ``2007_000032.xml`` (``<folder>VOC2012</folder>``, the
VOC2007 ``<source>``, ``<segmented>1</segmented>``, tab-indented, no XML declaration), palette PNGs in
``SegmentationClass/`` (VOC's colour map, 255 on object borders), per-class lists ``<class>_train.txt``
(``id flag``, flags -1/0/1, the id padded by one space before a positive flag).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import cytoconv
from cytoconv.engine.contract import ReadOptions
from cytoconv.errors import FormatError, Report
from cytoconv.formats import LAYOUT, candidates, detect
from cytoconv.ir import Box, Category, Dataset, ImageRecord, Instance
from tests.conftest import make_image, real, write
from tests.conftest import run_cli as run

XML_32 = """<annotation>
\t<folder>VOC2012</folder>
\t<filename>2007_000032.jpg</filename>
\t<source>
\t\t<database>The VOC2007 Database</database>
\t\t<annotation>PASCAL VOC2007</annotation>
\t\t<image>flickr</image>
\t</source>
\t<size>
\t\t<width>500</width>
\t\t<height>281</height>
\t\t<depth>3</depth>
\t</size>
\t<segmented>1</segmented>
\t<object>
\t\t<name>aeroplane</name>
\t\t<pose>Frontal</pose>
\t\t<truncated>0</truncated>
\t\t<difficult>0</difficult>
\t\t<bndbox>
\t\t\t<xmin>104</xmin>
\t\t\t<ymin>78</ymin>
\t\t\t<xmax>375</xmax>
\t\t\t<ymax>183</ymax>
\t\t</bndbox>
\t</object>
\t<object>
\t\t<name>person</name>
\t\t<pose>Frontal</pose>
\t\t<truncated>1</truncated>
\t\t<difficult>0</difficult>
\t\t<bndbox>
\t\t\t<xmin>195</xmin>
\t\t\t<ymin>180</ymin>
\t\t\t<xmax>213</xmax>
\t\t\t<ymax>229</ymax>
\t\t</bndbox>
\t</object>
</annotation>
"""

XML_39 = """<annotation>
\t<folder>VOC2012</folder>
\t<filename>2007_000039.jpg</filename>
\t<source>
\t\t<database>The VOC2007 Database</database>
\t\t<annotation>PASCAL VOC2007</annotation>
\t\t<image>flickr</image>
\t</source>
\t<size>
\t\t<width>500</width>
\t\t<height>375</height>
\t\t<depth>3</depth>
\t</size>
\t<segmented>1</segmented>
\t<object>
\t\t<name>tvmonitor</name>
\t\t<pose>Frontal</pose>
\t\t<truncated>0</truncated>
\t\t<difficult>0</difficult>
\t\t<bndbox>
\t\t\t<xmin>156</xmin>
\t\t\t<ymin>89</ymin>
\t\t\t<xmax>344</xmax>
\t\t\t<ymax>279</ymax>
\t\t</bndbox>
\t</object>
</annotation>
"""


def _palette_png(path: Path, width: int, height: int, value: int) -> None:
    """A VOC ``SegmentationClass`` PNG: mode P with VOC's colour map, a block of ``value`` bordered by 255."""
    from PIL import Image

    colours = [0] * 768
    for index in range(256):  # VOC's bit-interleaved colour map (devkit's labelcolormap / VOClabelcolormap)
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colours[3 * index : 3 * index + 3] = [r, g, b]
    image = Image.new("P", (width, height), 0)
    image.putpalette(colours)
    for x in range(10, 30):
        for y in range(10, 30):
            image.putpixel((x, y), 255 if x in (10, 29) or y in (10, 29) else value)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def voc2012(root: Path) -> Path:
    """``root/VOCdevkit/VOC2012/``, as the VOC2012 trainval tar unpacks; returns the VOCdevkit folder."""
    voc = root / "VOCdevkit" / "VOC2012"
    write(voc / "Annotations" / "2007_000032.xml", XML_32)
    write(voc / "Annotations" / "2007_000039.xml", XML_39)
    make_image(voc / "JPEGImages" / "2007_000032.jpg", 500, 281)
    make_image(voc / "JPEGImages" / "2007_000039.jpg", 500, 375)
    main = voc / "ImageSets" / "Main"
    write(main / "train.txt", "# VOC2012 train, trimmed to this sample\n2007_000032\n\n")
    write(main / "val.txt", "2007_000039\n")
    write(main / "trainval.txt", "2007_000032\n2007_000039\n")
    write(main / "aeroplane_train.txt", "2007_000032  1\n")
    write(main / "tvmonitor_val.txt", "2007_000039  1\n")
    write(voc / "ImageSets" / "Segmentation" / "train.txt", "2007_000032\n")
    write(voc / "ImageSets" / "Segmentation" / "val.txt", "2007_000039\n")
    _palette_png(voc / "SegmentationClass" / "2007_000032.png", 500, 281, 1)
    _palette_png(voc / "SegmentationObject" / "2007_000032.png", 500, 281, 1)
    _palette_png(voc / "SegmentationClass" / "2007_000039.png", 500, 375, 20)
    _palette_png(voc / "SegmentationObject" / "2007_000039.png", 500, 375, 1)
    return root / "VOCdevkit"


def _boxes(ds: Dataset) -> dict[str, list[tuple[str, float, float, float, float]]]:
    names = {c.id: c.name for c in ds.categories}
    out = {}
    for record in ds.images:
        rows = []
        for inst in record.instances:
            g = inst.geometry
            assert isinstance(g, Box)
            rows.append((names[inst.category_id], g.x, g.y, g.w, g.h))
        out[record.file_name] = rows
    return out


EXPECTED_2012 = {
    "2007_000032.jpg": [("aeroplane", 103, 77, 272, 106), ("person", 194, 179, 19, 50)],
    "2007_000039.jpg": [("tvmonitor", 155, 88, 189, 191)],
}


# --- VOC2012 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["VOCdevkit", "VOCdevkit/VOC2012", "VOCdevkit/VOC2012/Annotations"])
def test_voc2012_reads_from_the_devkit_the_root_or_annotations(tmp_path: Path, level: str) -> None:
    voc2012(tmp_path)
    report = Report()
    ds = cytoconv.read(tmp_path / level, report=report)
    assert [c.name for c in ds.categories] == ["aeroplane", "person", "tvmonitor"]
    assert _boxes(ds) == EXPECTED_2012
    # the commented train.txt is still a split list; the two per-class lists are ignored, each noticed
    assert {r.file_name: r.split for r in ds.images} == {"2007_000032.jpg": "train", "2007_000039.jpg": "val"}
    assert report.notices["class-list-ignored"] == 2 and report.notices["not-in-split"] == 0
    assert [r.attributes["segmented"] for r in ds.images] == [1, 1]


def test_voc2012_is_detected_as_voc_at_layout_strength(tmp_path: Path) -> None:
    devkit = voc2012(tmp_path)
    assert detect(devkit).name == "voc" and detect(devkit / "VOC2012").name == "voc"
    found = {info.name: evidence for info, evidence in candidates(devkit / "VOC2012")}
    assert found["voc"].strength == LAYOUT
    assert found["voc"].reason == "Annotations/2007_000032.xml: Pascal VOC XML in the VOC layout"
    assert all(e.strength < LAYOUT for name, e in found.items() if name != "voc")  # masks: SegmentationClass/


def test_formats_detect_on_the_devkit_prints_every_candidate_and_the_choice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    devkit = voc2012(tmp_path)
    code, out, _ = run(["formats", "--detect", str(devkit)], capsys)
    assert code == 0
    assert out.splitlines() == [
        "voc            layout   VOC2012/Annotations/2007_000032.xml: Pascal VOC XML in the VOC layout",
        "chosen: voc",
    ]
    code, out, _ = run(["formats", "--detect", str(devkit / "VOC2012")], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("voc            layout   Annotations/2007_000032.xml")
    assert lines[-1] == "chosen: voc"


def test_a_devkit_with_two_years_is_refused_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    devkit = voc2012(tmp_path)
    write(devkit / "VOC2007" / "Annotations" / "000001.xml", XML_39.replace("2007_000039", "000001"))
    code, out, _ = run(["formats", "--detect", str(devkit)], capsys)
    assert (code, out.splitlines()) == (
        2,
        [
            "voc            refused  several VOC roots (VOC2007/, VOC2012/): give one of them",
            "chosen: none (no format recognises it; give --from)",
        ],
    )
    code, _, err = run(["stats", str(devkit)], capsys)
    assert code == 2 and "voc: several VOC roots (VOC2007/, VOC2012/): give one of them" in err
    with pytest.raises(FormatError) as info:
        cytoconv.read(devkit, "voc")
    assert info.value.code == "usage" and "VOC2007/, VOC2012/" in info.value.message


def test_split_lists_ignore_comments_and_blank_lines(tmp_path: Path) -> None:
    devkit = voc2012(tmp_path)
    main = devkit / "VOC2012" / "ImageSets" / "Main"
    write(main / "val.txt", "\n# held out\n  # indented comment\n2007_000039\n\n")
    report = Report()
    ds = cytoconv.read(devkit, report=report)
    assert [r.split for r in ds.images] == ["train", "val"]
    assert report.notices["class-list-ignored"] == 2


# --- Kaggle's lowercase copies ---------------------------------------------------------------------------


def test_lowercase_annotations_and_images_are_the_voc_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "kaggle"
    write(root / "annotations" / "2007_000032.xml", XML_32)
    make_image(root / "images" / "2007_000032.jpg", 500, 281)
    found = {info.name: e for info, e in candidates(root)}
    assert found["voc"].strength == LAYOUT
    code, out, _ = run(["formats", "--detect", str(root)], capsys)
    assert code == 0 and out.splitlines() == [
        "voc            layout   annotations/2007_000032.xml: Pascal VOC XML in the VOC layout",
        "chosen: voc",
    ]
    ds = cytoconv.read(root, report=Report())
    assert _boxes(ds) == {"2007_000032.jpg": EXPECTED_2012["2007_000032.jpg"]}
    assert ds.images[0].width == 500  # from the image found in images/, not only from <size>


def test_an_annotations_folder_of_coco_json_is_not_voc(tmp_path: Path) -> None:
    write(tmp_path / "ds" / "annotations" / "instances_val2017.json", '{"images": [], "annotations": []}')
    assert "voc" not in {info.name for info, _ in candidates(tmp_path / "ds")}


# --- --image-size --------------------------------------------------------------------------------------

NO_SIZE = (
    "<annotation>\n\t<filename>{stem}.jpg</filename>\n\t<object>\n\t\t<name>cell</name>\n"
    "\t\t<bndbox>\n\t\t\t<xmin>3</xmin>\n\t\t\t<ymin>4</ymin>\n\t\t\t<xmax>12</xmax>\n\t\t\t<ymax>9</ymax>\n"
    "\t\t</bndbox>\n\t</object>\n</annotation>\n"
)


def test_image_size_is_used_for_files_without_size_and_without_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "ds"
    write(root / "Annotations" / "a.xml", NO_SIZE.format(stem="a"))
    write(
        root / "Annotations" / "b.xml",
        NO_SIZE.format(stem="b").replace(
            "\t<object>", "\t<size><width>64</width><height>48</height><depth>3</depth></size>\n\t<object>"
        ),
    )
    with pytest.raises(FormatError) as info:
        cytoconv.read(root)
    assert info.value.code == "no-image-size" and info.value.path is not None
    assert info.value.path.endswith("a.xml") and "--image-size" in info.value.message
    report = Report()
    ds = cytoconv.read(root, options=ReadOptions(image_size=(640, 480)), report=report)
    # a.xml takes --image-size; b.xml keeps its own <size>
    assert [(r.file_name, r.width, r.height) for r in ds.images] == [("a.jpg", 640, 480), ("b.jpg", 64, 48)]
    assert report.notices["size-from-xml"] == 1
    assert _boxes(ds)["a.jpg"] == [("cell", 2, 3, 10, 6)]
    code, _, err = run(["voc2coco", str(root), str(tmp_path / "o.json"), "--image-size", "640x480"], capsys)
    assert code == 0, err


# --- 1-pixel boxes -------------------------------------------------------------------------------------


def test_bccd_stats_convert_and_validate_keep_the_two_one_pixel_boxes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bccd = real("bccd_voc") / "BCCD"
    code, out, err = run(["stats", str(bccd)], capsys)
    assert code == 0, err
    assert out.splitlines()[0].endswith("(voc): 56 images (0 without objects), 1,051 objects (1,051 boxes)")
    code, _, err = run(["voc2yolo", str(bccd), str(tmp_path / "y")], capsys)
    assert code == 0 and "skipped" not in err
    assert (tmp_path / "y" / "labels" / "val" / "BloodImage_00338.txt").read_text().splitlines()[12] == (
        "1 0.7867188 0.7010417 0.0015625 0.0020833"  # (504, 337, 504, 337): 1x1 px at (503, 336)
    )
    code, out, err = run(["validate", str(bccd)], capsys)
    assert code == 0
    assert [line.split(": ", 1)[1].split(" object")[0] for line in out.splitlines()] == [
        "CC703 [warning]"
    ] * 2
    assert [line.split(".xml:", 1)[1].split(" (RBC)")[0] for line in out.splitlines()] == [
        "158: CC703 [warning] object 13: box (504, 337, 504, 337)",
        "50: CC703 [warning] object 4: box (181, 329, 181, 329)",
    ]
    assert "0 errors, 2 warnings, 0 info in 2 paths (56 files checked)" in err
    code, out, _ = run(["formats", "--detect", str(bccd)], capsys)
    assert (code, out.splitlines()) == (
        0,
        [
            "voc            layout   Annotations/BloodImage_00000.xml: Pascal VOC XML in the VOC layout",
            "chosen: voc",
        ],
    )


def test_one_pixel_and_three_by_one_boxes_are_written_exactly_and_read_back(tmp_path: Path) -> None:
    boxes = [Box(x=4, y=4, w=1, h=1), Box(x=2, y=0, w=3, h=1), Box(x=0, y=0, w=20, h=10)]
    ds = Dataset(
        categories=[Category(id=1, name="cell")],
        images=[
            ImageRecord(
                file_name="p.png",
                width=20,
                height=10,
                instances=[Instance(category_id=1, geometry=b) for b in boxes],
            )
        ],
    )
    report = Report()
    cytoconv.write(ds, tmp_path / "voc", to="voc", report=report)
    text = (tmp_path / "voc" / "Annotations" / "p.xml").read_text()
    corners = [
        tuple(int(text.split(f"<{k}>")[n + 1].split("<")[0]) for k in ("xmin", "ymin", "xmax", "ymax"))
        for n in range(3)
    ]
    assert corners == [(5, 5, 5, 5), (3, 1, 5, 1), (1, 1, 20, 10)]
    assert report.notices["box-rounded"] == 0 and report.skipped == {}
    back = cytoconv.read(tmp_path / "voc", options=ReadOptions(image_size=(20, 10)))
    assert [(g.x, g.y, g.w, g.h) for g in (i.geometry for i in back.images[0].instances)] == [
        (b.x, b.y, b.w, b.h) for b in boxes
    ]


def test_validate_pairs_lowercase_annotations_with_images(tmp_path: Path) -> None:
    """Kaggle's copy: annotations/ + images/; the image is found (its size checks the boxes), and an image
    without an XML file is CC403."""
    from cytoconv.validate import validate

    root = tmp_path / "kaggle"
    write(root / "annotations" / "2007_000032.xml", XML_32.replace("<xmax>375</xmax>", "<xmax>600</xmax>"))
    make_image(root / "images" / "2007_000032.jpg", 500, 281)
    make_image(root / "images" / "extra.jpg", 8, 8)
    found = sorted((Path(f.path).name, f.code) for f in validate([root], jobs=1).findings)
    assert found == [("2007_000032.xml", "CC305"), ("extra.jpg", "CC403")]


def test_the_rules_listed_for_the_docs_are_the_codes_the_voc_checker_reports() -> None:
    import re

    import cytoconv.formats.voc.check as check

    folder = Path(check.__file__).parent
    parts = (folder / "syntax.py", folder / "check.py", folder.parent / "safexml.py")  # safexml: its CC002
    source = "".join(p.read_text(encoding="utf-8") for p in parts)
    reported = set(re.findall(r"""(?:sink|finding)\(\s*["'](CC\d{3})["']""", source))
    assert sorted(check.CODES) == sorted(reported)
    assert "CC303" not in reported  # no VOC box has zero area: xmin == xmax is 1 px (CC703)


def test_coco_boxes_of_one_and_three_pixels_convert_to_voc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13's case: a 3x1 px COCO box was "too small for a VOC box" though xmin=3, xmax=5 holds it."""
    import json
    import xml.etree.ElementTree as ET

    coco = {
        "images": [{"id": 1, "file_name": "p.png", "width": 20, "height": 10}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 0, 3, 1], "area": 3, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [4, 4, 1, 1], "area": 1, "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "platelet"}],
    }
    write(tmp_path / "c.json", json.dumps(coco))
    code, _, err = run(["coco2voc", str(tmp_path / "c.json"), str(tmp_path / "voc")], capsys)
    assert code == 0, err
    root = ET.parse(tmp_path / "voc" / "Annotations" / "p.xml").getroot()
    corners = [
        tuple(int(o.findtext(f"bndbox/{k}") or 0) for k in ("xmin", "ymin", "xmax", "ymax"))
        for o in root.iter("object")
    ]
    assert corners == [(3, 1, 5, 1), (5, 5, 5, 5)]
    code, _, err = run(["voc2coco", str(tmp_path / "voc"), str(tmp_path / "back.json")], capsys)
    assert code == 0, err
    back = json.loads((tmp_path / "back.json").read_text())
    assert [a["bbox"] for a in back["annotations"]] == [[2, 0, 3, 1], [4, 4, 1, 1]]
