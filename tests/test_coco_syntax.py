"""One parser, one verdict: on malformed COCO files that the validator corpus does not hold, ``convert`` (strict)
stops at the file, line and annotation or image where ``validate`` reports its first error, with the same slug;
a lenient read skips exactly the bad annotations and counts each once, by slug."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import cytoconv
from cytoconv.errors import FormatError, Report
from cytoconv.formats.coco.syntax import looks_like_coco
from cytoconv.problems import BY_NAME
from cytoconv.validate import validate
from tests.conftest import write

IMAGE = {"id": 1, "file_name": "a.jpg", "width": 20, "height": 10}
GOOD = {
    "id": 1,
    "image_id": 1,
    "category_id": 1,
    "segmentation": [[1, 1, 5, 1, 5, 5]],
    "bbox": [1, 1, 4, 4],
    "area": 8,
    "iscrowd": 0,
}


def doc(annotations: list[dict[str, Any]], images: list[dict[str, Any]] | None = None) -> str:
    return json.dumps(
        {"images": images or [IMAGE], "categories": [{"id": 1, "name": "cell"}], "annotations": annotations},
        indent=1,
    )


def ann(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


# name -> (file text, slug convert stops with)
CASES: dict[str, tuple[str, str]] = {
    "truncated": (doc([GOOD])[:-40], "not-well-formed"),
    "syntax-error": (doc([GOOD]).replace('"iscrowd": 0', '"iscrowd": 0,,'), "not-well-formed"),
    "odd-polygon": (doc([GOOD, ann(id=2, segmentation=[[1, 1, 5, 1, 5]])]), "odd-coordinates"),
    "four-numbers": (doc([ann(id=7, segmentation=[[1, 1, 5, 5]])]), "two-point-polygon"),
    "unknown-image": (doc([GOOD, ann(id=3, image_id=9)]), "unknown-image-id"),
    "unknown-category": (doc([ann(id=4, category_id=2)]), "unknown-class"),
    "duplicate-images": (doc([GOOD], [IMAGE, {**IMAGE, "file_name": "b.jpg"}]), "duplicate-image-id"),
    "duplicate-annotations": (doc([GOOD, ann(segmentation=[[2, 2, 6, 2, 6, 6]])]), "duplicate-annotation-id"),
    "negative-box": (doc([ann(id=5, segmentation=[], bbox=[4, 1, -2, 3])]), "negative-box"),
    "zero-box": (doc([ann(id=5, segmentation=[], bbox=[4, 1, 0, 3])]), "zero-area-box"),
    "rle-wrong-size": (doc([ann(id=6, segmentation={"size": [5, 5], "counts": "ab"})]), "bad-structure"),
    "segmentation-type": (doc([ann(id=8, segmentation="polygon")]), "bad-structure"),
    "not-numbers": (doc([ann(id=9, segmentation=[[1, 1, "5", 1, 5, 5]])]), "malformed-line"),
    "no-images-key": (json.dumps({"categories": [], "annotations": []}), "bad-structure"),
    "zero-width": (doc([GOOD], [{**IMAGE, "width": 0}]), "bad-structure"),
    "warnings-first": (
        doc([ann(id=0, iscrowd=1), ann(id=2, segmentation=[[1, 1, 5, 1, 5]])]),
        "odd-coordinates",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_convert_stops_where_validate_reports_the_first_error(tmp_path: Path, name: str) -> None:
    text, slug = CASES[name]
    src = write(tmp_path / f"{name}.json", text)
    with pytest.raises(FormatError) as info:
        cytoconv.convert(src, tmp_path / "out", to="yolo", jobs=1)
    error = info.value
    errors = [f for f in validate([src], fmt="coco", jobs=1).findings if f.severity == "error"]
    assert errors, name
    first = errors[0]
    assert (
        (error.path, error.line, error.code)
        == (first.path, first.line, first.rule_name)
        == (str(src), first.line, slug)
    )
    assert BY_NAME[slug].code == first.code
    where = first.where()  # "annotation 7", "image 1" or "" (a syntax error names the line)
    assert error.message == (f"{where}: {first.message}" if where else first.message)
    if slug == "not-well-formed":
        assert error.line is not None and "column" in error.message
    assert not (tmp_path / "out").exists()


def test_lenient_read_skips_exactly_the_bad_annotations(tmp_path: Path) -> None:
    annotations = [
        GOOD,
        ann(id=2, segmentation=[[1, 1, 5, 1, 5]]),  # odd-coordinates
        ann(id=3, image_id=9),  # unknown-image-id
        ann(id=4, category_id=2, segmentation=[[1, 1, 5]]),  # unknown-class first, then odd: counted once
        ann(id=5, segmentation=[], bbox=[1, 1, 3, 2]),  # a good box
        ann(id=6, segmentation=[], bbox=[1, 1, -3, 2]),  # negative-box
        ann(id=5, segmentation=[[2, 2, 6, 2, 6, 6]]),  # duplicate-annotation-id
        ann(id=7, segmentation=[[1, 1, 5, 5]]),  # two-point-polygon
        ann(id=8, segmentation=[], bbox=[4, 1, -1, 3], area="big"),  # negative-box (area: the validator's)
        ann(id=9, bbox=[0, 0, -1, 0], area=None),  # a bbox beside a polygon is not read: kept
    ]
    src = write(tmp_path / "in.json", doc(annotations))
    report = Report(strict=False)
    dataset = cytoconv.read(src, report=report)
    (image,) = dataset.images
    assert len(image.instances) == 3
    assert [type(i.geometry).__name__ for i in image.instances] == ["Polygon", "Box", "Polygon"]
    assert report.skipped == Counter(
        {
            "odd-coordinates": 1,
            "unknown-image-id": 1,
            "unknown-class": 1,
            "negative-box": 2,
            "duplicate-annotation-id": 1,
            "two-point-polygon": 1,
        }
    )
    errors = [f for f in validate([src], fmt="coco", jobs=1).findings if f.severity == "error"]
    assert {f.annotation_id for f in errors} == {2, 3, 4, 5, 6, 7, 8, 9}
    # what convert does not read (the bbox beside annotation 9's polygon, 8's area) validate checks after the scan
    assert [(f.code, f.annotation_id) for f in errors[-2:]] == [("CC003", 8), ("CC304", 9)]


def test_lenient_read_skips_a_broken_image_with_its_annotations(tmp_path: Path) -> None:
    images = [IMAGE, {"id": 2, "file_name": "b.jpg", "width": 0, "height": 10}]
    src = write(tmp_path / "in.json", doc([GOOD, ann(id=2, image_id=2)], images))
    report = Report(strict=False)
    dataset = cytoconv.read(src, report=report)
    assert [im.file_name for im in dataset.images] == ["a.jpg"] and len(dataset.images[0].instances) == 1
    assert report.skipped == Counter({"bad-structure": 1})


def test_one_sniffer_with_a_byte_order_mark(tmp_path: Path) -> None:
    src = tmp_path / "bom.json"
    src.write_bytes(b"\xef\xbb\xbf" + doc([GOOD]).encode())
    assert looks_like_coco(str(src))
    assert len(cytoconv.read(src).images[0].instances) == 1
    found = validate([src], jobs=1).findings
    assert [f.code for f in found if f.severity != "warning"] == ["CC006"]  # info, fixable; no error
    summary = write(tmp_path / "summary.json", '{"images": 12, "annotations": 40}')
    assert not looks_like_coco(str(summary))


def test_the_sniffer_takes_coco_in_any_key_order_and_not_datumaro_json(tmp_path: Path) -> None:
    from cytoconv.formats.coco.syntax import looks_like_coco

    datumaro = (
        tmp_path / "default.json"
    )  # datumaro's native export: categories a mapping, annotations in items
    datumaro.write_text(
        '{"info": {}, "categories": {"label": {"labels": [{"name": "cell"}]}}, "items": [{"id": "x1", '
        '"annotations": [{"id": 0, "type": "bbox", "label_id": 0, "bbox": [10, 10, 20, 30]}]}]}'
    )
    annotations_first = tmp_path / "instances.json"  # cytoconv writes annotations before images
    annotations_first.write_text(
        '{"annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]}], '
        '"images": [], "categories": []}'
    )
    assert not looks_like_coco(str(datumaro))
    assert looks_like_coco(str(annotations_first))
