"""Aperio ImageScope XML and ASAP XML: files shaped as ImageScope (MoNuSeg) and ASAP (CAMELYON) write them, to
COCO with exact vertices and raster areas; COCO -> aperio/asap -> COCO exact; bad input; fuzzing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

import cytoconv
from cytoconv.engine.contract import ReadOptions
from cytoconv.errors import FormatError, Report
from cytoconv.formats import detect
from cytoconv.formats.slidexml.check import check_bytes
from cytoconv.problems.settings import Settings
from tests.conftest import BALF_SAMPLE, run_cli
from tests.test_fuzz import _fuzz

W, H = 120, 100


def region(rid: int, vertices: list[tuple[Any, Any]], negative: int = 0) -> str:
    """One ImageScope ``<Region>`` as ImageScope 12 saves it (MoNuSeg's files)."""
    verts = "".join(f'\t\t\t\t\t\t<Vertex X="{x}" Y="{y}" Z="0"/>\n' for x, y in vertices)
    return (
        f'\t\t\t<Region Id="{rid}" Type="0" Zoom="0.0408" Selected="0" ImageLocation="" ImageFocus="-1" '
        f'Length="80.6" Area="400" LengthMicrons="20.3" AreaMicrons="25.4" Text="" NegativeROA="{negative}" '
        f'InputRegionId="0" Analyze="1" DisplayId="{rid}">\n\t\t\t\t<Attributes/>\n\t\t\t\t<Vertices>\n'
        f"{verts}\t\t\t\t</Vertices>\n\t\t\t</Region>\n"
    )


def aperio_xml(annotations: list[tuple[str, str, list[str]]], mpp: str = "0.252") -> str:
    """``(Name, first attribute name, regions)`` per ``<Annotation>``."""
    body = []
    for k, (name, attribute, regions) in enumerate(annotations, start=1):
        attrs = f'<Attribute Name="{attribute}" Id="0" Value=""/>' if attribute else ""
        body.append(
            f'<Annotation Id="{k}" Name="{name}" ReadOnly="0" NameReadOnly="0" LineColorReadOnly="0" '
            'Incremental="0" Type="4" LineColor="65280" Visible="1" Selected="1" MarkupImagePath="" MacroName="">\n'
            f"\t<Attributes>{attrs}</Attributes>\n\t<Regions>\n\t\t<RegionAttributeHeaders>\n"
            '\t\t\t<AttributeHeader Id="9999" Name="Region" ColumnWidth="-1"/>\n\t\t</RegionAttributeHeaders>\n'
            + "".join(regions)
            + "\t</Regions>\n\t<Plots/>\n</Annotation>\n"
        )
    return f'<Annotations MicronsPerPixel="{mpp}">\n' + "".join(body) + "</Annotations>\n"


NUCLEUS = [(10.5, 10.25), (40.0, 10.25), (40.0, 10.25), (40.0, 45.75), (10.5, 45.75)]  # unclosed, a repeat
CLOSED = [(60, 20), (90, 20), (90.5, 50), (60, 50), (60, 20)]  # closed: repeats its first vertex
EDGE = [(-0.5, 70), (20, 70), (20, 100.4), (0, 100.4)]  # a little outside: clipped (tolerance 1% of 120 px)
HOLE = [(20, 20), (30, 20), (30, 30), (20, 30)]  # inside NUCLEUS
STROMA = [(100, 60), (115, 60), (110, 90)]


def monuseg(root: Path, stem: str = "TCGA-A1") -> Path:
    """``Annotations/<stem>.xml`` beside ``Tissue Images/<stem>.tif``, as MoNuSeg ships them."""
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    (root / "Tissue Images").mkdir(exist_ok=True)
    Image.new("RGB", (W, H)).save(root / "Tissue Images" / f"{stem}.tif")
    xml = root / "Annotations" / f"{stem}.xml"
    regions = [region(1, NUCLEUS), region(2, CLOSED), region(3, EDGE), region(4, HOLE, negative=1)]
    xml.write_text(aperio_xml([("", "nucleus", regions), ("stroma", "", [region(1, STROMA)])]))
    return xml


def asap_xml(annotations: list[tuple[str, str, str, list[tuple[Any, Any]]]]) -> str:
    """``(Name, Type, PartOfGroup, coordinates)`` per annotation, as ASAP 1.9 saves them (CAMELYON16)."""
    out = ['<?xml version="1.0"?>\n<ASAP_Annotations>\n\t<Annotations>\n']
    for name, kind, group, coords in annotations:
        out.append(f'\t\t<Annotation Name="{name}" Type="{kind}" PartOfGroup="{group}" Color="#F4FA58">\n')
        out.append("\t\t\t<Coordinates>\n")
        order = list(range(len(coords)))[::-1]  # written out of order: read sorted by Order
        for k in order:
            x, y = coords[k]
            out.append(f'\t\t\t\t<Coordinate Order="{k}" X="{x}" Y="{y}" />\n')
        out.append("\t\t\t</Coordinates>\n\t\t</Annotation>\n")
    out.append("\t</Annotations>\n\t<AnnotationGroups>\n")
    for name, colour in (("_0", "#FF0000"), ("_2", "#00FF00")):
        out.append(f'\t\t<Group Name="{name}" PartOfGroup="None" Color="{colour}">\n\t\t\t<Attributes />\n')
        out.append("\t\t</Group>\n")
    out.append("\t</AnnotationGroups>\n</ASAP_Annotations>\n")
    return "".join(out)


TUMOR = [(10.125, 10), (50, 12.5), (48, 60), (12, 55)]
RECT = [(60, 10), (100, 10), (100, 40), (60, 40)]


def camelyon(root: Path, stem: str = "tumor_001") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (W, H)).save(root / f"{stem}.png")
    xml = root / f"{stem}.xml"
    xml.write_text(
        asap_xml(
            [
                ("Annotation 0", "Polygon", "_0", TUMOR),
                ("Annotation 1", "Rectangle", "_2", RECT),
                ("Annotation 2", "Dot", "None", [(70.5, 80.5)]),
                ("Annotation 3", "PointSet", "_0", [(5.5, 90.5), (15.5, 90.5)]),
            ]
        )
    )
    return xml


def decode(segmentation: Any) -> np.ndarray[Any, Any]:
    rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, H, W))
    return np.asarray(mask_utils.decode(rle), dtype=bool)


def test_monuseg_aperio_to_coco_is_exact(tmp_path: Path) -> None:
    """Unclosed and closed rings read the same, repeats dropped and counted, vertices just outside clipped and
    counted, the NegativeROA region a hole of the region holding it; classes from Name, else the first
    attribute's name."""
    monuseg(tmp_path / "MoNuSeg")
    assert detect(tmp_path / "MoNuSeg").name == "aperio"
    assert detect(tmp_path / "MoNuSeg" / "Annotations").name == "aperio"
    report = Report()
    out = tmp_path / "out.json"
    cytoconv.convert(tmp_path / "MoNuSeg", out, to="coco", report=report, jobs=1)
    coco = json.loads(out.read_text())
    assert [c["name"] for c in coco["categories"]] == ["nucleus", "stroma"]
    assert coco["images"][0]["file_name"] == "TCGA-A1.tif"  # relative to the image root, Tissue Images/
    anns = coco["annotations"]
    assert [a["category_id"] for a in anns] == [1, 1, 1, 2]
    want: list[Any] = [
        [(10.5, 10.25), (40.0, 10.25), (40.0, 45.75), (10.5, 45.75)],
        CLOSED[:-1],
        [(0, 70), (20, 70), (20, 100), (0, 100)],
        STROMA,
    ]
    for ann, ring in zip(anns[1:], want[1:]):  # the first has its hole bridged in (COCO has no holes)
        np.testing.assert_allclose(np.reshape(ann["segmentation"][0], (-1, 2)), ring, atol=1e-6)
    for ann in anns:
        assert ann["area"] == float(decode(ann["segmentation"]).sum())
    assert len(anns[0]["segmentation"]) == 1  # the hole is bridged into the outline (COCO has no holes)
    assert report.notices["duplicate-vertex"] == 1 and report.notices["clipped"] == 1
    mask = decode(anns[0]["segmentation"])
    assert not mask[20:30, 20:30].any() and mask[12:20, 12:38].all()
    back = cytoconv.read(tmp_path / "MoNuSeg")
    assert back.images[0].attributes["microns_per_pixel"] == 0.252
    geometry = back.images[0].instances[0].geometry
    assert geometry.holes == [False, True]  # type: ignore[union-attr]
    np.testing.assert_array_equal(geometry.rings[1], HOLE)  # type: ignore[union-attr]


def test_camelyon_asap_to_coco(tmp_path: Path) -> None:
    """Coordinates sorted by Order, rectangles as polygons, Dot and PointSet as points; classes from
    PartOfGroup (None: ``none``), groups first in their listed order."""
    camelyon(tmp_path / "c16")
    assert detect(tmp_path / "c16").name == "asap"
    ds = cytoconv.read(tmp_path / "c16")
    assert [c.name for c in ds.categories] == ["_0", "_2", "none"]
    inst = ds.images[0].instances
    assert [i.category_id for i in inst] == [1, 2, 3, 1, 1]
    np.testing.assert_array_equal(inst[0].geometry.rings[0], TUMOR)  # type: ignore[union-attr]
    np.testing.assert_array_equal(inst[1].geometry.rings[0], RECT)  # type: ignore[union-attr]
    assert [(i.geometry.x, i.geometry.y) for i in inst[2:]] == [(70.5, 80.5), (5.5, 90.5), (15.5, 90.5)]  # type: ignore[union-attr]
    out = tmp_path / "out.json"
    cytoconv.convert(tmp_path / "c16", out, to="coco", jobs=1)
    anns = json.loads(out.read_text())["annotations"]
    np.testing.assert_allclose(np.reshape(anns[0]["segmentation"][0], (-1, 2)), TUMOR, atol=1e-6)
    assert anns[0]["area"] == float(decode(anns[0]["segmentation"]).sum())


def _coco_view(path: Path) -> dict[str, Any]:
    coco = json.loads(path.read_text())
    return {k: coco[k] for k in ("images", "annotations", "categories")}


@pytest.mark.parametrize("fmt", ["aperio", "asap"])
def test_coco_to_slide_xml_to_coco_is_exact(tmp_path: Path, fmt: str) -> None:
    cytoconv.convert(BALF_SAMPLE, tmp_path / "one.json", to="coco", jobs=1)
    cytoconv.convert(tmp_path / "one.json", tmp_path / fmt, to=fmt, jobs=1)
    assert detect(tmp_path / fmt).name == fmt
    options = ReadOptions(images=BALF_SAMPLE / "images")
    cytoconv.convert(tmp_path / fmt, tmp_path / "two.json", to="coco", read_options=options, jobs=1)
    assert _coco_view(tmp_path / "two.json") == _coco_view(tmp_path / "one.json")


def test_holes_and_parts_written_as_each_tool_can(tmp_path: Path) -> None:
    """Aperio keeps holes (NegativeROA regions), ASAP fills them, counted."""
    monuseg(tmp_path / "m")
    ds = cytoconv.read(tmp_path / "m")
    cytoconv.write(ds, tmp_path / "ap", to="aperio")
    xml = (tmp_path / "ap" / "TCGA-A1.xml").read_text()
    assert xml.count('NegativeROA="1"') == 1 and 'MicronsPerPixel="0.252"' in xml
    back = cytoconv.read(tmp_path / "ap", options=ReadOptions(image_size=(W, H)))
    for a, b in zip(ds.images[0].instances, back.images[0].instances):
        assert a.category_id == b.category_id
        for ra, rb in zip(a.geometry.rings, b.geometry.rings):  # type: ignore[union-attr]
            np.testing.assert_array_equal(ra, rb)
    report = Report()
    cytoconv.write(ds, tmp_path / "asap", to="asap", report=report)
    assert report.notices["holes-filled"] == 1
    back = cytoconv.read(tmp_path / "asap", options=ReadOptions(image_size=(W, H)))
    assert len(back.images[0].instances) == 4


BAD = {
    "malformed": ("<Annotations><Annotation>", "not well-formed"),
    "dtd": (
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><Annotations MicronsPerPixel="1"/>',
        "DTD",
    ),
    "number": (aperio_xml([("cell", "", [region(7, [(1, 1), ("abc", 2), (3, 3)])])]), "region 1 (Id 7)"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_leaves_nothing(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    monuseg(tmp_path / "src")
    text, where = BAD[case]
    bad = tmp_path / "src" / "Annotations" / "TCGA-B2.xml"
    bad.write_text(text)
    out = tmp_path / "out.json"
    code, _, err = run_cli(
        ["convert", str(tmp_path / "src"), str(out), "--to", "coco", "--from", "aperio", "-q"], capsys
    )
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert bad.name in lines[0] and where in lines[0]
    assert not out.exists() and not list(tmp_path.glob("out*"))


def test_far_outside_is_an_error_and_validate_agrees(tmp_path: Path) -> None:
    root = tmp_path / "m"
    xml = monuseg(root)
    xml.write_text(aperio_xml([("cell", "", [region(1, [(0, 0), (200, 0), (0, 50)])])]))
    with pytest.raises(FormatError) as info:
        cytoconv.read(root)
    assert info.value.code == "outside-image" and "region 1 (Id 1)" in info.value.message
    findings = check_bytes(xml.read_bytes(), str(xml), Settings(), None, "aperio")
    assert [f.code for f in findings] == ["CC305"]
    lenient = Report(strict=False)
    assert cytoconv.read(root, report=lenient).images[0].instances == []
    assert lenient.skipped["outside-image"] == 1


def test_validate_finds_the_bad_vertex(tmp_path: Path) -> None:
    # one level down: images are looked for in the folders beside the XML's, which must be this test's own
    (tmp_path / "Annotations").mkdir()
    xml = tmp_path / "Annotations" / "a.xml"
    xml.write_text(BAD["number"][0])
    findings = check_bytes(xml.read_bytes(), str(xml), Settings(), None)
    assert sorted(f.code for f in findings) == ["CC003", "CC402"]


def test_fuzz(tmp_path: Path) -> None:
    def build_aperio(root: Path) -> list[Path]:
        return [monuseg(root, "a"), monuseg(root, "b")]

    def build_asap(root: Path) -> list[Path]:
        return [camelyon(root, "a"), camelyon(root, "b")]

    _fuzz(
        tmp_path / "ap",
        build_aperio,
        lambda r: cytoconv.read(r, fmt="aperio", report=Report(strict=False)),
        31,
    )
    _fuzz(tmp_path / "aps", build_aperio, lambda r: cytoconv.read(r, fmt="aperio"), 32)
    _fuzz(
        tmp_path / "as", build_asap, lambda r: cytoconv.read(r, fmt="asap", report=Report(strict=False)), 33
    )
    _fuzz(tmp_path / "ass", build_asap, lambda r: cytoconv.read(r, fmt="asap"), 34)
