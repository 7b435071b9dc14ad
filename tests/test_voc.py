"""Pascal VOC: 1-based inclusive boxes both ways, the BCCD sample end to end, hostile XML refused."""

from __future__ import annotations

import json
import resource
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import cytoconv
from cytoconv.engine.contract import ReadOptions
from cytoconv.errors import FormatError, Report
from cytoconv.formats import detect
from cytoconv.formats.voc.reader import box_from_voc
from cytoconv.formats.voc.syntax import scan_names
from cytoconv.formats.voc.writer import voc_corners
from cytoconv.ir import Box, Category, Dataset, ImageRecord, Instance, Polygon
from tests.conftest import make_image, real, write

Corners = tuple[str, tuple[int, int, int, int]]


def _xml_boxes(folder: Path) -> dict[str, list[Corners]]:
    """Every object of every XML file: (name, (xmin, ymin, xmax, ymax)), in file order."""
    out = {}
    for f in sorted(folder.glob("*.xml")):
        objects = ET.parse(f).getroot().findall("object")
        out[f.stem] = [
            (
                o.findtext("name") or "",
                tuple(
                    int(o.find("bndbox").findtext(k))  # type: ignore[union-attr]
                    for k in ("xmin", "ymin", "xmax", "ymax")
                ),
            )
            for o in objects
        ]
    return out  # type: ignore[return-value]


def _bccd() -> Path:
    return real("bccd_voc") / "BCCD"


VOC_XML = """<annotation>
\t<filename>{name}.png</filename>
\t<size><width>{w}</width><height>{h}</height><depth>3</depth></size>
{objects}</annotation>
"""
OBJECT = (
    "\t<object><name>{cls}</name><difficult>{d}</difficult><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
    "<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>\n"
)


def _voc(
    root: Path,
    name: str,
    boxes: list[tuple[str, int, int, int, int]],
    size: tuple[int, int] = (100, 80),
    image: bool = True,
    difficult: int = 0,
) -> Path:
    objects = "".join(OBJECT.format(cls=c, d=difficult, x0=a, y0=b, x1=x, y1=y) for c, a, b, x, y in boxes)
    write(
        root / "Annotations" / f"{name}.xml", VOC_XML.format(name=name, w=size[0], h=size[1], objects=objects)
    )
    if image:
        make_image(root / "JPEGImages" / f"{name}.png", *size)
    return root


# --- the coordinate rule, pure ---------------------------------------------------------------


def test_one_based_inclusive_corners_to_corner_model_and_back() -> None:
    box = box_from_voc(1, 1, 10, 10)
    assert (box.x, box.y, box.w, box.h) == (0, 0, 10, 10)
    assert voc_corners(box, contain=False) == ((1, 1, 10, 10), False)
    box = box_from_voc(504, 337, 640, 480)
    assert (box.x, box.y, box.w, box.h) == (503, 336, 137, 144)
    assert voc_corners(box, contain=False) == ((504, 337, 640, 480), False)


def test_rounding_is_reported_and_containment_takes_the_smallest_integer_box() -> None:
    near = Box(x=9.6, y=0.2, w=10.0, h=5.1)  # edges 9.6..19.6, 0.2..5.3
    assert voc_corners(near, contain=False) == ((11, 1, 20, 5), True)
    assert voc_corners(near, contain=True) == ((10, 1, 20, 6), True)  # pixels 9..19, 0..5 hold it all
    exact = Box(x=3.0000001, y=4, w=5, h=6)
    assert voc_corners(exact, contain=True) == ((4, 5, 8, 10), False)


class _Refuse:
    """A problem sink for files that must have none."""

    def wants(self, code: str) -> bool:
        return True

    def __call__(self, code: str, path: str, message: str, **where: object) -> None:
        raise AssertionError(f"{code} {path}: {message}")


_refuse = _Refuse()


def test_name_scan_matches_the_parser_and_falls_back_on_odd_files() -> None:
    plain = (
        b"<annotation><object><name>RBC</name></object><object>\n  <name> WBC </name></object></annotation>"
    )
    assert scan_names(plain, "x.xml", _refuse) == ["RBC", "WBC"]
    odd = (
        b"<annotation><object><!-- c --><name><![CDATA[a&b]]></name></object><object><name>R&amp;D</name>"
        b"</object></annotation>"
    )
    assert scan_names(odd, "x.xml", _refuse) == ["a&b", "R&D"]


# --- BCCD, the real sample ---------------------------------------------------------------------


def test_bccd_strict_keeps_the_two_one_pixel_boxes_as_1x1_px(tmp_path: Path) -> None:
    """BloodImage_00338 and 00343 hold xmin == xmax, ymin == ymax: 1x1 px under inclusive corners, kept."""
    report = Report()
    summary = cytoconv.convert(_bccd(), tmp_path / "c.json", to="coco", report=report, jobs=1)
    assert report.skipped == {} and summary.images == 56 and sum(summary.instances.values()) == 1051
    data = json.loads((tmp_path / "c.json").read_text())
    files = {i["id"]: i["file_name"] for i in data["images"]}
    tiny = sorted((files[a["image_id"]], a["bbox"], a["area"]) for a in data["annotations"] if a["area"] == 1)
    assert tiny == [
        ("BloodImage_00338.jpg", [503, 336, 1, 1], 1),
        ("BloodImage_00343.jpg", [180, 328, 1, 1], 1),
    ]


def test_bccd_to_coco_gives_x_xmin_minus_1_and_w_xmax_minus_xmin_plus_1(tmp_path: Path) -> None:
    report = Report(strict=False)
    summary = cytoconv.convert(_bccd(), tmp_path / "c.json", to="coco", report=report, jobs=1)
    assert report.skipped == {}
    assert summary.images == 56 and sum(summary.instances.values()) == 1051
    data = json.loads((tmp_path / "c.json").read_text())
    assert [c["name"] for c in data["categories"]] == ["Platelets", "RBC", "WBC"]  # sorted names, ids 1..3
    names = {c["id"]: c["name"] for c in data["categories"]}
    by_image: dict[int, list[dict]] = {}  # type: ignore[type-arg]
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    xml = _xml_boxes(_bccd() / "Annotations")
    checked = 0
    for image in data["images"]:
        stem = image["file_name"].rsplit(".", 1)[0]
        assert (image["width"], image["height"]) == (640, 480)
        anns = by_image.get(image["id"], [])
        assert len(anns) == len(xml[stem])
        for ann, (name, (xmin, ymin, xmax, ymax)) in zip(anns, xml[stem]):
            assert names[ann["category_id"]] == name
            assert ann["bbox"] == [xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1]
            assert ann["area"] == (xmax - xmin + 1) * (ymax - ymin + 1)
            checked += 1
    assert checked == 1051


def test_bccd_coco_back_to_voc_gives_the_original_xml_values_and_attributes(tmp_path: Path) -> None:
    cytoconv.convert(_bccd(), tmp_path / "c.json", to="coco", report=Report(strict=False), jobs=1)
    cytoconv.convert(
        tmp_path / "c.json",
        tmp_path / "voc",
        to="voc",
        jobs=1,
        read_options=ReadOptions(images=_bccd() / "JPEGImages"),
    )
    original = _xml_boxes(_bccd() / "Annotations")
    assert _xml_boxes(tmp_path / "voc" / "Annotations") == original
    src = ET.parse(_bccd() / "Annotations" / "BloodImage_00000.xml").getroot()
    out = ET.parse(tmp_path / "voc" / "Annotations" / "BloodImage_00000.xml").getroot()
    flags = [[o.findtext(k) for k in ("pose", "truncated", "difficult")] for o in src.findall("object")]
    assert [
        [o.findtext(k) for k in ("pose", "truncated", "difficult")] for o in out.findall("object")
    ] == flags
    assert (out.findtext("size/width"), out.findtext("size/height"), out.findtext("filename")) == (
        "640",
        "480",
        "BloodImage_00000.jpg",
    )


def test_bccd_voc_yolo_voc_is_the_identity_on_every_box(tmp_path: Path) -> None:
    report = Report(strict=False)
    cytoconv.convert(_bccd(), tmp_path / "yolo", to="yolo", report=report, jobs=1)
    assert report.skipped == {}
    lines = sum(len(f.read_text().splitlines()) for f in (tmp_path / "yolo" / "labels").rglob("*.txt"))
    assert lines == 1051
    back = Report()
    cytoconv.convert(
        tmp_path / "yolo",
        tmp_path / "voc",
        to="voc",
        report=back,
        jobs=1,
        read_options=ReadOptions(images=_bccd() / "JPEGImages"),
    )
    assert back.notices["box-rounded"] == 0
    got = _xml_boxes(tmp_path / "voc" / "Annotations")
    assert got == _xml_boxes(_bccd() / "Annotations")
    assert sum(len(v) for v in got.values()) == 1051


def test_bccd_splits_from_image_sets_most_specific_list_wins(tmp_path: Path) -> None:
    ds = cytoconv.read(_bccd(), report=Report(strict=False))
    splits = {r.file_name: r.split for r in ds.images}
    main = _bccd() / "ImageSets" / "Main"
    for split in ("train", "val", "test"):
        listed = set(main.joinpath(f"{split}.txt").read_text().split())
        assert {f.rsplit(".", 1)[0] for f, s in splits.items() if s == split} == listed & {
            f.rsplit(".", 1)[0] for f in splits
        }
    assert sorted(list(splits.values()).count(s) for s in ("train", "val", "test")) == [12, 12, 32]
    cytoconv.write(ds, tmp_path / "voc", to="voc")
    written = {f.stem: f.read_text().split() for f in (tmp_path / "voc" / "ImageSets" / "Main").glob("*.txt")}
    assert sorted(written) == ["test", "train", "val"] and sum(len(v) for v in written.values()) == 56
    assert (tmp_path / "voc" / "classes.txt").read_text() == "Platelets\nRBC\nWBC\n"


def test_bccd_is_detected_as_voc() -> None:
    assert detect(_bccd()).name == "voc"
    assert detect(_bccd() / "Annotations").name == "voc"


# --- hostile and broken XML --------------------------------------------------------------------

BOMB = (
    """<?xml version="1.0"?>
<!DOCTYPE annotation [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
"""
    + "".join(f' <!ENTITY {chr(98 + k)} "{("&" + chr(97 + k) + ";") * 10}">\n' for k in range(9))
    + """]>
<annotation><filename>x.png</filename><size><width>100</width><height>80</height></size>
<object><name>&j;</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>
</annotation>
"""
)
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE annotation [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<annotation><filename>x.png</filename><size><width>100</width><height>80</height></size>
<object><name>&secret;</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>
</annotation>
"""
EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE annotation SYSTEM "http://127.0.0.1:9/voc.dtd">
<annotation><filename>x.png</filename><size><width>100</width><height>80</height></size></annotation>
"""


@pytest.mark.parametrize(
    "text", [BOMB, EXTERNAL, EXTERNAL_DTD], ids=["billion-laughs", "external-entity", "external-dtd"]
)
def test_hostile_xml_is_refused_fast_naming_the_file(tmp_path: Path, text: str) -> None:
    _voc(tmp_path / "ds", "good", [("RBC", 1, 1, 10, 10)])
    bad = write(tmp_path / "ds" / "Annotations" / "evil.xml", text)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(FormatError) as info:
        cytoconv.read(tmp_path / "ds")
    assert time.perf_counter() - start < 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 50_000  # KiB: nothing expanded
    assert info.value.path == str(bad.resolve()) and info.value.code == "not-well-formed"
    assert "refused" in info.value.message
    # with names given, the scan is skipped and the workers' parser refuses it the same way
    with pytest.raises(FormatError) as info:
        cytoconv.read(tmp_path / "ds", options=ReadOptions(names=("RBC",)))
    assert info.value.code == "not-well-formed" and info.value.path == str(bad.resolve())
    report = Report(strict=False)
    ds = cytoconv.read(tmp_path / "ds", report=report)
    assert [r.file_name for r in ds.images] == ["good.png"] and report.skipped == {"not-well-formed": 1}


def test_malformed_xml_names_file_and_line(tmp_path: Path) -> None:
    _voc(tmp_path / "ds", "good", [("RBC", 1, 1, 10, 10)])
    write(
        tmp_path / "ds" / "Annotations" / "bad.xml", "<annotation>\n<object>\n<name>x</nam>\n</annotation>\n"
    )
    with pytest.raises(FormatError) as info:
        cytoconv.read(tmp_path / "ds")
    assert (info.value.code, info.value.line) == ("not-well-formed", 3)
    assert info.value.path is not None and info.value.path.endswith("bad.xml")


# --- behaviours on small made-up sets ------------------------------------------------------------


def test_size_checked_against_the_image(tmp_path: Path) -> None:
    root = _voc(tmp_path / "ds", "a", [("RBC", 1, 1, 10, 10)], size=(100, 80), image=False)
    make_image(root / "JPEGImages" / "a.png", 120, 80)
    with pytest.raises(FormatError) as info:
        cytoconv.read(root)
    assert (
        info.value.code == "size-mismatch"
        and "100x80" in info.value.message
        and "120x80" in info.value.message
    )
    report = Report(strict=False)
    ds = cytoconv.read(root, report=report)
    assert (ds.images[0].width, ds.images[0].height) == (120, 80) and report.notices["size-mismatch"] == 1


def test_bare_folder_of_xml_without_images_uses_size(tmp_path: Path) -> None:
    root = _voc(tmp_path / "ds", "a", [("b", 5, 6, 7, 9), ("a", 1, 1, 100, 80)], image=False, difficult=1)
    ds = cytoconv.read(root / "Annotations")
    record = ds.images[0]
    assert (record.file_name, record.width, record.height) == ("a.png", 100, 80)
    assert [c.name for c in ds.categories] == ["a", "b"]
    assert [
        (i.category_id, i.geometry.x, i.geometry.y, i.geometry.w, i.geometry.h)  # type: ignore[union-attr]
        for i in record.instances
    ] == [(2, 4, 5, 3, 4), (1, 0, 0, 100, 80)]
    assert record.instances[0].attributes == {"difficult": 1}


def test_names_order_wins_and_unknown_class_is_a_problem(tmp_path: Path) -> None:
    root = _voc(tmp_path / "ds", "a", [("RBC", 1, 1, 10, 10), ("WBC", 2, 2, 9, 9)])
    ds = cytoconv.read(root, options=ReadOptions(names=("WBC", "RBC")))
    assert [(c.id, c.name) for c in ds.categories] == [(1, "WBC"), (2, "RBC")]
    assert [i.category_id for i in ds.images[0].instances] == [2, 1]
    with pytest.raises(FormatError) as info:
        cytoconv.read(root, options=ReadOptions(names=("RBC",)))
    assert info.value.code == "unknown-class" and "WBC" in info.value.message


def test_inverted_and_missing_boxes_are_problems(tmp_path: Path) -> None:
    root = _voc(tmp_path / "ds", "a", [("RBC", 10, 1, 5, 10), ("RBC", 1, 1, 4, 4)])
    report = Report(strict=False)
    ds = cytoconv.read(root, report=report)
    assert report.skipped == {"negative-box": 1} and len(ds.images[0].instances) == 1


def test_polygons_and_masks_written_as_their_containing_boxes(tmp_path: Path) -> None:
    ring = np.array([[2.5, 3.2], [9.1, 3.0], [8.0, 7.9]])
    record = ImageRecord(
        file_name="sub/p.png",
        width=20,
        height=10,
        instances=[
            Instance(category_id=1, geometry=Polygon(rings=[ring])),
            Instance(
                category_id=2, geometry=Box(x=1, y=1, w=4, h=4), attributes={"difficult": True, "note": "R&D"}
            ),
        ],
    )
    ds = Dataset(categories=[Category(id=1, name="a<b"), Category(id=2, name="c")], images=[record])
    report = Report()
    cytoconv.write(ds, tmp_path / "voc", to="voc", report=report)
    root = ET.parse(tmp_path / "voc" / "Annotations" / "p.xml").getroot()
    assert root.findtext("filename") == "p.png"
    boxes = _xml_boxes(tmp_path / "voc" / "Annotations")["p"]
    assert boxes == [("a<b", (3, 4, 10, 8)), ("c", (2, 2, 5, 5))]
    second = root.findall("object")[1]
    assert (second.findtext("difficult"), second.findtext("note")) == ("1", "R&D")
    assert report.notices["polygon-as-box"] == 1 and report.notices["box-rounded"] == 1


def test_a_box_too_small_for_voc_is_a_problem(tmp_path: Path) -> None:
    ds = Dataset(
        categories=[Category(id=1, name="a")],
        images=[
            ImageRecord(
                file_name="p.png",
                width=20,
                height=10,
                instances=[Instance(category_id=1, geometry=Box(x=1, y=1, w=0, h=4))],
            )
        ],
    )
    with pytest.raises(FormatError) as info:
        cytoconv.write(ds, tmp_path / "voc", to="voc")
    assert info.value.code == "zero-area-box"
    assert not (tmp_path / "voc").exists()


def test_two_images_with_one_stem_cannot_share_an_xml(tmp_path: Path) -> None:
    images = [ImageRecord(file_name=f"{d}/x.png", width=5, height=5) for d in ("a", "b")]
    with pytest.raises(FormatError) as info:
        cytoconv.write(Dataset(categories=[], images=images), tmp_path / "voc", to="voc")
    assert info.value.code == "duplicate-stem"
    assert not (tmp_path / "voc").exists()


def test_cli_voc_to_coco_strict_converts_bccd_with_every_box(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cytoconv.cli.entry import main

    with pytest.raises(SystemExit) as exit_:
        main(["voc2coco", str(_bccd()), str(tmp_path / "c.json")])
    assert exit_.value.code == 0
    err = capsys.readouterr().err
    assert "56 images (0 without objects), 1,051 objects" in err and "skipped" not in err
