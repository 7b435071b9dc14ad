"""The point model and the point -> box adapter every box, polygon and mask writer uses (``--point-box``),
and the option parsing behind ``--point-box`` and ``--columns``."""

from __future__ import annotations

import pytest

from cytoconv.cli.options import parse_columns
from cytoconv.engine.adapt import PointBoxes, points_as_boxes
from cytoconv.errors import FormatError, Report, UsageError
from cytoconv.ir import Box, ImageRecord, Instance, Point


def test_pixel_index_is_the_pixel_centre() -> None:
    assert (Point.at_pixel(0, 0).x, Point.at_pixel(0, 0).y) == (0.5, 0.5)
    cric = Point.at_pixel(793, 462, base=1)  # CRIC's nucleus_x = 793 is pixel 792
    assert (cric.x, cric.y) == (792.5, 461.5)
    assert cric.pixel() == (792.0, 461.0) and cric.pixel(base=1) == (793.0, 462.0)
    assert Point.model_validate({"kind": "point", "x": 1.5, "y": 2.5}) == Point(x=1.5, y=2.5)
    bounds = cric.bounds()
    assert (bounds.x, bounds.y, bounds.w, bounds.h) == (792.5, 461.5, 0.0, 0.0)


@pytest.mark.parametrize(
    ("text", "default", "per_class"),
    [
        ("32", (32.0, 32.0), ()),
        ("32x24", (32.0, 24.0), ()),
        (" 12.5 X 8 ", (12.5, 8.0), ()),
        (
            "lymphocyte=24,erythrocyte=16x12",
            None,
            (("lymphocyte", (24.0, 24.0)), ("erythrocyte", (16.0, 12.0))),
        ),
        ("20, Normal cell=16", (20.0, 20.0), (("Normal cell", (16.0, 16.0)),)),
    ],
)
def test_point_box_forms(
    text: str, default: tuple[float, float] | None, per_class: tuple[object, ...]
) -> None:
    boxes = PointBoxes.parse(text)
    assert boxes.default == default and boxes.per_class == per_class


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no size"),
        ("0", "positive"),
        ("big", "not a size"),
        ("32,16", "two sizes"),
        ("=16", "class name is missing"),
        ("a=3x", "not a size"),
    ],
)
def test_point_box_bad_forms(text: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        PointBoxes.parse(text)


def test_box_centred_on_the_point_and_clipped_or_kept_at_the_edge() -> None:
    point = Point.at_pixel(10, 5)  # (10.5, 5.5)
    box, outside = PointBoxes.parse("32").box(point, "cell", 640, 480)
    assert (box.x, box.y, box.w, box.h) == (-5.5, -10.5, 32.0, 32.0) and outside
    box, outside = PointBoxes.parse("32", clip=True).box(point, "cell", 640, 480)
    assert (box.x, box.y, box.w, box.h) == (0.0, 0.0, 26.5, 21.5) and outside
    box, outside = PointBoxes.parse("8x4").box(Point.at_pixel(100, 100), "cell", 640, 480)
    assert (box.x, box.y, box.w, box.h) == (96.5, 98.5, 8.0, 4.0) and not outside
    with pytest.raises(UsageError, match="no size for class 'other'"):
        PointBoxes.parse("cell=8").box(point, "other", 640, 480)


def test_names_the_dataset_lacks_are_refused() -> None:
    PointBoxes.parse("a=3,b=4").check_names({"a", "b", "c"})
    with pytest.raises(UsageError, match="does not have: lymfocyte"):
        PointBoxes.parse("lymfocyte=3").check_names({"lymphocyte"})


def _record(*points: Point) -> ImageRecord:
    instances = [Instance(category_id=1, geometry=p) for p in points]
    instances.append(Instance(category_id=2, geometry=Box(x=1, y=1, w=2, h=2)))
    return ImageRecord(file_name="a.png", width=50, height=40, instances=instances)


def test_points_as_boxes_counts_every_box_and_keeps_the_rest() -> None:
    report = Report()
    record = _record(Point.at_pixel(1, 1), Point.at_pixel(25, 20))
    out = points_as_boxes(
        record, PointBoxes.parse("cell=6", clip=True), {1: "cell", 2: "rbc"}, report, "yolo"
    )
    boxes = [(i.geometry.x, i.geometry.y, i.geometry.w, i.geometry.h) for i in out.instances]  # type: ignore[union-attr]
    assert boxes == [(0.0, 0.0, 4.5, 4.5), (22.5, 17.5, 6.0, 6.0), (1.0, 1.0, 2.0, 2.0)]
    assert report.notices["point-as-box"] == 2 and report.notices["point-box-clipped"] == 1
    assert record.instances[0].geometry == Point.at_pixel(1, 1)  # the record read is not changed


def test_points_without_a_box_size_are_refused_naming_the_option() -> None:
    with pytest.raises(FormatError, match="--point-box") as caught:
        points_as_boxes(_record(Point.at_pixel(1, 1)), None, {}, Report(), "yolo")
    assert caught.value.code == "point-needs-box" and caught.value.path == "a.png"
    plain = ImageRecord(file_name="b.png", width=5, height=5)
    assert points_as_boxes(plain, None, {}, Report(), "yolo") is plain


def test_columns_option() -> None:
    assert parse_columns("file=image, x=cx,y=cy,class=label") == (
        ("file", "image"),
        ("x", "cx"),
        ("y", "cy"),
        ("class", "label"),
    )
    assert parse_columns(None) is None
    with pytest.raises(UsageError, match="no column given for class"):
        parse_columns("file=a,x=b,y=c")
    with pytest.raises(UsageError, match="role=column"):
        parse_columns("file=a,x=b,y=c,colour=d")
