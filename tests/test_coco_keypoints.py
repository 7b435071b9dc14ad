"""COCO keypoints: an annotation of one visible keypoint and no segmentation is a point at the keypoint + 0.5
(keypoints are pixel indices, as detectron2 and pycocotools' OKS read them), a point is written as such an
annotation, pycocotools loads and evaluates what is written, and validate checks keypoints."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cytoconv
from cytoconv.api import open_source
from cytoconv.engine.adapt import PointBoxes
from cytoconv.engine.contract import ReadOptions, WriteOptions
from cytoconv.errors import FormatError, Report
from cytoconv.ir import Box, Category, Dataset, ImageRecord, Instance, Point, Polygon
from cytoconv.validate import validate
from tests.conftest import run_cli, write

IMAGE = {"id": 1, "file_name": "a.jpg", "width": 1376, "height": 1020}
CENTER = {"id": 1, "name": "ASC-US", "keypoints": ["center"], "skeleton": []}


def point_ann(aid: int, x: float, y: float, **extra: Any) -> dict[str, Any]:
    return {
        "id": aid,
        "image_id": 1,
        "category_id": 1,
        "bbox": [x, y, 1, 1],
        "area": 1,
        "iscrowd": 0,
        "keypoints": [x, y, 2],
        "num_keypoints": 1,
        **extra,
    }


def coco_file(path: Path, annotations: list[dict[str, Any]], categories: list[Any] | None = None) -> Path:
    doc = {"images": [IMAGE], "categories": categories or [CENTER], "annotations": annotations}
    return write(path, json.dumps(doc, indent=1))


def geometries(path: Path, report: Report | None = None) -> list[Any]:
    dataset = cytoconv.read(path, "coco", report=report or Report(), jobs=1)
    return [inst.geometry for record in dataset.images for inst in record.instances]


# ------------------------------------------------------------------------------------------------ reading


def test_one_visible_keypoint_without_segmentation_is_a_point(tmp_path: Path) -> None:
    src = coco_file(
        tmp_path / "kp.json",
        [
            point_ann(1, 792, 461),  # CRIC nucleus_x 793 (1-based): keypoint 792, model 792.5
            point_ann(2, 0, 0, segmentation=[]),
            point_ann(3, 10.25, 3, keypoints=[0, 0, 0, 10.25, 3, 1, 0, 0, 0]),  # one labelled (v 1) of three
        ],
    )
    report = Report()
    assert geometries(src, report) == [Point(x=792.5, y=461.5), Point(x=0.5, y=0.5), Point(x=10.75, y=3.5)]
    assert "field-dropped" not in report.notices  # the point's keypoints and the category's are kept
    _, _, plan = open_source(src, "coco", ReadOptions(), Report())
    assert plan.points  # writers without points refuse before reading (api.check_points)


def test_keypoints_the_model_cannot_hold_keep_segmentation_or_bbox_and_are_counted(tmp_path: Path) -> None:
    seg = [[1, 1, 5, 1, 5, 5]]
    src = coco_file(
        tmp_path / "kp.json",
        [
            point_ann(1, 3, 3, segmentation=seg),  # a segmentation and a keypoint: the segmentation
            point_ann(2, 3, 3, keypoints=[3, 3, 2, 8, 9, 2], num_keypoints=2, bbox=[2, 2, 7, 8]),  # several
            point_ann(3, 0, 0, keypoints=[0, 0, 0], num_keypoints=0, bbox=[4, 4, 2, 2]),  # none visible
        ],
    )
    report = Report()
    found = geometries(src, report)
    assert isinstance(found[0], Polygon) and found[0].rings[0].tolist() == [[1, 1], [5, 1], [5, 5]]
    assert found[1:] == [Box(x=2, y=2, w=7, h=8), Box(x=4, y=4, w=2, h=2)]
    assert report.notices["field-dropped"] == 6  # keypoints and num_keypoints of each of the three
    assert "annotations.keypoints (3)" in report.examples["field-dropped"][0]


def test_a_category_of_many_keypoints_is_counted_as_dropped(tmp_path: Path) -> None:
    person = {"id": 1, "name": "person", "keypoints": ["nose", "left_eye"], "skeleton": [[1, 2]]}
    src = coco_file(tmp_path / "kp.json", [point_ann(1, 3, 3)], [person])
    report = Report()
    assert geometries(src, report) == [Point(x=3.5, y=3.5)]
    assert report.notices["field-dropped"] == 2
    assert "categories.keypoints (1), categories.skeleton (1)" in report.examples["field-dropped"][0]


def test_a_point_outside_its_image_stops_convert(tmp_path: Path) -> None:
    src = coco_file(tmp_path / "kp.json", [point_ann(1, 3, 3), point_ann(7, 1376, 10)])
    with pytest.raises(FormatError) as caught:
        cytoconv.convert(src, tmp_path / "out.json", to="coco", fmt="coco", jobs=1)
    assert caught.value.code == "point-outside-image" and "annotation 7" in str(caught.value)
    assert "keypoint (1376, 10) is outside the 1376x1020 image" in str(caught.value)
    assert not (tmp_path / "out.json").exists()
    report = Report(strict=False)
    assert geometries(src, report) == [Point(x=3.5, y=3.5)]
    assert report.skipped["point-outside-image"] == 1


@pytest.mark.parametrize(
    ("keypoints", "says"),
    [([3, 3], "not a multiple of 3"), ([3, "3", 2], "a list of numbers"), ({"x": 3}, "a list of numbers")],
)
def test_bad_keypoints_without_segmentation_stop_convert(tmp_path: Path, keypoints: Any, says: str) -> None:
    src = coco_file(tmp_path / "kp.json", [point_ann(4, 3, 3, keypoints=keypoints)])
    with pytest.raises(FormatError, match=says) as caught:
        cytoconv.read(src, "coco", jobs=1)
    assert caught.value.code == "bad-structure" and "annotation 4" in str(caught.value)


# ------------------------------------------------------------------------------------------------ writing


def points_dataset() -> Dataset:
    instances = [
        Instance(category_id=1, geometry=Point.at_pixel(793, 462, base=1)),
        Instance(category_id=1, geometry=Point(x=10.3, y=0.5)),  # a fractional point, at the top edge
        Instance(category_id=2, geometry=Box(x=1, y=2, w=3, h=4)),
    ]
    return Dataset(
        categories=[Category(id=1, name="ASC-US"), Category(id=2, name="other")],
        images=[ImageRecord(file_name="a.jpg", width=1376, height=1020, instances=instances)],
    )


def test_a_point_is_written_as_one_visible_keypoint(tmp_path: Path) -> None:
    summary = cytoconv.write(points_dataset(), tmp_path / "out.json", "coco")
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["annotations"] == [
        {
            "id": 1,
            "image_id": 1,
            "category_id": 1,
            "segmentation": [],
            "area": 1,
            "bbox": [792, 461, 1, 1],
            "iscrowd": 0,
            "keypoints": [792, 461, 2],
            "num_keypoints": 1,
        },
        {
            "id": 2,
            "image_id": 1,
            "category_id": 1,
            "segmentation": [],
            "area": 1,
            "bbox": [9.8, 0, 1, 1],
            "iscrowd": 0,
            "keypoints": [9.8, 0, 2],
            "num_keypoints": 1,
        },
        {
            "id": 3,
            "image_id": 1,
            "category_id": 2,
            "segmentation": [],
            "area": 12.0,
            "bbox": [1.0, 2.0, 3.0, 4.0],
            "iscrowd": 0,
        },
    ]
    assert doc["categories"] == [
        {"id": 1, "name": "ASC-US", "keypoints": ["center"], "skeleton": []},
        {"id": 2, "name": "other"},  # no points: no keypoints
    ]
    assert b'"keypoints":[792,461,2]' in (tmp_path / "out.json").read_bytes()  # integers, not 792.0
    assert not summary.report.notices


@pytest.mark.parametrize("clip", [False, True])
def test_the_point_box_is_the_bbox_clipped_or_kept_and_counted(tmp_path: Path, clip: bool) -> None:
    options = WriteOptions(point_box=PointBoxes.parse("32", clip=clip))
    summary = cytoconv.write(points_dataset(), tmp_path / "out.json", "coco", options)
    anns = json.loads((tmp_path / "out.json").read_text())["annotations"]
    assert [a["keypoints"] for a in anns[:2]] == [[792, 461, 2], [9.8, 0, 2]]  # the point itself is kept
    assert anns[0]["bbox"] == [776.5, 445.5, 32, 32] and anns[0]["area"] == 1024
    x0 = 10.3 - 16
    if clip:
        assert anns[1]["bbox"] == [0, 0, 10.3 + 16, 16.5] and anns[1]["area"] == pytest.approx(26.3 * 16.5)
        assert summary.report.notices == {"point-box-clipped": 1}
    else:
        assert anns[1]["bbox"] == [x0, -15.5, 32, 32] and anns[1]["area"] == 1024
        assert summary.report.notices == {"point-box-outside": 1}


def test_written_points_read_back_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    pixels = rng.integers(0, [640, 480], size=(300, 2))
    points = [Point.at_pixel(int(i), int(j)) for i, j in pixels] + [
        Point(x=float(x), y=float(y)) for x, y in rng.uniform(0, [640, 480], size=(300, 2))
    ]
    record = ImageRecord(
        file_name="a.jpg",
        width=640,
        height=480,
        instances=[Instance(category_id=1 + k % 2, geometry=p) for k, p in enumerate(points)],
    )
    dataset = Dataset(categories=[Category(id=1, name="a"), Category(id=2, name="b")], images=[record])
    for options in (WriteOptions(), WriteOptions(point_box=PointBoxes.parse("a=24,b=16x12", clip=True))):
        out = tmp_path / f"out{options.point_box is not None}.json"
        cytoconv.write(dataset, out, "coco", options)
        back = cytoconv.read(out, "coco", jobs=1).images[0].instances
        assert [i.geometry for i in back] == points  # float for float, to the last bit
        assert [i.category_id for i in back] == [i.category_id for i in record.instances]
    kps = [a["keypoints"] for a in json.loads((tmp_path / "outFalse.json").read_text())["annotations"]]
    assert kps[:300] == [[int(i), int(j), 2] for i, j in pixels]  # the pixel indices themselves


def _evaluate(gt_path: Path, sigma: float = 0.05) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        dets = [
            {
                "image_id": a["image_id"],
                "category_id": a["category_id"],
                "keypoints": a["keypoints"],
                "score": 1,
            }
            for a in gt.dataset["annotations"]
        ]
        evaluation = COCOeval(gt, gt.loadRes(dets), "keypoints")
        evaluation.params.kpt_oks_sigmas = np.array([sigma])  # one keypoint: one sigma (COCO's person has 17)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return [float(v) for v in evaluation.stats]


@pytest.mark.parametrize("point_box", [None, "32"])
def test_pycocotools_loads_and_evaluates_the_keypoints(tmp_path: Path, point_box: str | None) -> None:
    rng = np.random.default_rng(3)
    images = [
        ImageRecord(
            file_name=f"{n}.jpg",
            width=640,
            height=480,
            instances=[
                Instance(category_id=1 + k % 2, geometry=Point.at_pixel(int(i), int(j)))
                for k, (i, j) in enumerate(rng.integers(20, [620, 460], size=(12, 2)))
            ],
        )
        for n in range(3)
    ]
    dataset = Dataset(categories=[Category(id=1, name="rbc"), Category(id=2, name="wbc")], images=images)
    options = WriteOptions(point_box=PointBoxes.parse(point_box) if point_box else None)
    cytoconv.write(dataset, tmp_path / "gt.json", "coco", options)
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(tmp_path / "gt.json"))
    assert len(gt.getAnnIds()) == 36 and gt.loadCats(1)[0]["keypoints"] == ["center"]
    stats = _evaluate(tmp_path / "gt.json")
    assert stats[0] == 1.0 and stats[1] == 1.0 and stats[5] == 1.0  # AP, AP50, AR over all areas


def test_coco_points_to_yolo_need_a_point_box(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = coco_file(tmp_path / "kp.json", [point_ann(1, 792, 461), point_ann(2, 100, 50)])
    out = tmp_path / "yolo"
    code, _, err = run_cli(["convert", str(src), str(out), "--from", "coco", "--to", "yolo", "-q"], capsys)
    assert code == 2 and "--point-box" in err and not out.exists()
    args = ["convert", str(src), str(out), "--from", "coco", "--to", "yolo", "-q", "--point-box", "32"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    lines = (out / "labels" / "a.txt").read_text().splitlines()
    cx, cy, w, h = (float(v) for v in lines[0].split()[1:])
    assert cx == pytest.approx(792.5 / 1376, abs=1e-6) and cy == pytest.approx(461.5 / 1020, abs=1e-6)
    assert w == pytest.approx(32 / 1376, abs=1e-6) and h == pytest.approx(32 / 1020, abs=1e-6)


# ------------------------------------------------------------------------------------------------ validate


def _codes(path: Path) -> list[tuple[str, Any]]:
    return [(f.code, f.annotation_id) for f in validate([path], fmt="coco", jobs=1).findings]


def test_validate_finds_points_outside_and_bad_keypoints(tmp_path: Path) -> None:
    seg = [[1, 1, 5, 1, 5, 5]]
    src = coco_file(
        tmp_path / "kp.json",
        [
            point_ann(1, 3, 3),
            point_ann(2, -1, 3),  # outside (pixel index -1)
            point_ann(3, 3, 1020),  # outside: the last row is 1019
            point_ann(4, 3, 1019.5),  # inside: its model coordinate 1020.0 is on the image's edge
            point_ann(5, 3, 3, keypoints=[3, 3]),
            point_ann(6, 3, 3, segmentation=seg, keypoints=[3, 3, 2, 4], area=8, bbox=[1, 1, 4, 4]),
        ],
    )
    found = _codes(src)
    assert ("CC306", 2) in found and ("CC306", 3) in found and ("CC306", 4) not in found
    assert ("CC003", 5) in found and ("CC003", 6) in found  # beside a segmentation: validate only
    assert not [c for c in found if c[1] == 1]
    messages = {f.annotation_id: f.message for f in validate([src], fmt="coco", jobs=1).findings}
    assert "keypoint (-1, 3) is outside the 1376x1020 image" in messages[2]
    report = Report(strict=False)
    geometries(src, report)
    assert report.skipped == {"point-outside-image": 2, "bad-structure": 1}  # 6 keeps its polygon


def test_validate_warns_on_num_keypoints(tmp_path: Path) -> None:
    src = coco_file(
        tmp_path / "kp.json",
        [
            point_ann(1, 3, 3),
            point_ann(2, 3, 3, num_keypoints=0),  # COCOeval ignores it
            {k: v for k, v in point_ann(3, 5, 5).items() if k != "num_keypoints"},  # COCOeval fails on it
        ],
    )
    found = [f for f in validate([src], fmt="coco", jobs=1).findings if f.code == "CC609"]
    assert [(f.annotation_id, f.severity) for f in found] == [(2, "warning"), (3, "warning")]
    assert "COCOeval ignores this object" in found[0].message


def test_two_identical_points_are_a_duplicate_and_two_points_are_not(tmp_path: Path) -> None:
    src = coco_file(
        tmp_path / "kp.json",
        [point_ann(1, 3, 3), point_ann(2, 3, 3), point_ann(3, 4, 3, bbox=[3, 3, 1, 1])],
    )
    assert [c for c in _codes(src) if c[0] == "CC401"] == [("CC401", 2)]


# ------------------------------------------------------------------------------------------------ layouts


def person(aid: int) -> dict[str, Any]:
    """An annotation as COCO's person_keypoints files have them: a segmentation and 17 keypoints."""
    kps = [0] * 51
    kps[0:3], kps[15:18] = [10, 8, 2], [12, 20, 1]
    return {
        "id": aid,
        "image_id": 1,
        "category_id": 1,
        "segmentation": [[2, 2, 30, 2, 30, 40, 2, 40]],
        "area": 1120,
        "bbox": [2, 2, 28, 38],
        "iscrowd": 0,
        "keypoints": kps,
        "num_keypoints": 2,
    }


PERSON = {"id": 1, "name": "person", "supercategory": "person", "keypoints": [f"k{n}" for n in range(17)]}


def _coco_download(root: Path, keypoints: dict[str, Any]) -> None:
    image = {"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}
    instances = {"images": [image], "categories": [PERSON], "annotations": [person(1)]}
    write(root / "annotations" / "instances_val2017.json", json.dumps(instances))
    write(
        root / "annotations" / "person_keypoints_val2017.json", json.dumps({**keypoints, "images": [image]})
    )


def test_coco_person_keypoints_beside_instances_are_not_read_again(tmp_path: Path) -> None:
    _coco_download(tmp_path / "coco", {"categories": [PERSON], "annotations": [person(1)]})
    report = Report()
    found = geometries(tmp_path / "coco", report)
    assert len(found) == 1 and isinstance(found[0], Polygon)
    assert report.notices["file-not-read"] == 1
    assert "person_keypoints_val2017.json" in report.examples["file-not-read"][0]


def test_coco_person_keypoints_alone_are_read_as_their_segmentations(tmp_path: Path) -> None:
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}], "categories": [PERSON]}
    write(
        tmp_path / "annotations" / "person_keypoints_val2017.json",
        json.dumps({**doc, "annotations": [person(1)]}),
    )
    report = Report()
    found = geometries(tmp_path, report)
    assert len(found) == 1 and isinstance(found[0], Polygon)
    assert "file-not-read" not in report.notices
    assert report.notices["field-dropped"] == 3  # the annotation's keypoints, num_keypoints; the category's


def test_a_keypoints_file_of_points_beside_instances_is_read(tmp_path: Path) -> None:
    cells = {"id": 2, "name": "cell", "keypoints": ["center"], "skeleton": []}
    point = {**point_ann(9, 20, 30), "category_id": 2}
    _coco_download(tmp_path / "coco", {"categories": [cells], "annotations": [point]})
    report = Report()
    found = geometries(tmp_path / "coco", report)
    assert isinstance(found[0], Polygon) and found[1:] == [Point(x=20.5, y=30.5)]
    assert "file-not-read" not in report.notices
    from cytoconv.formats.coco.layout import holds_points

    files = tmp_path / "coco" / "annotations"
    assert holds_points(str(files / "person_keypoints_val2017.json"))
    assert not holds_points(str(files / "instances_val2017.json"))


def test_a_labelled_but_hidden_keypoint_stays_v1(tmp_path: Path) -> None:
    """COCO's v = 1 (labelled, not visible) is kept through a round trip, not turned into v = 2."""
    src = tmp_path / "in.json"
    src.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 80}],
                "categories": [{"id": 1, "name": "cell", "keypoints": ["center"], "skeleton": []}],
                "annotations": [
                    {
                        "id": 1,
                        "image_id": 1,
                        "category_id": 1,
                        "segmentation": [],
                        "bbox": [10, 20, 1, 1],
                        "area": 1,
                        "iscrowd": 0,
                        "keypoints": [10, 20, 1],
                        "num_keypoints": 1,
                    },
                    {
                        "id": 2,
                        "image_id": 1,
                        "category_id": 1,
                        "segmentation": [],
                        "bbox": [11, 20, 1, 1],
                        "area": 1,
                        "iscrowd": 0,
                        "keypoints": [11, 20, 2],
                        "num_keypoints": 1,
                    },
                ],
            }
        )
    )
    cytoconv.convert(src, tmp_path / "out.json", to="coco", jobs=1)
    written = json.loads((tmp_path / "out.json").read_text())["annotations"]
    assert [a["keypoints"] for a in written] == [[10, 20, 1], [11, 20, 2]]
    assert all("attributes" not in a for a in written)
