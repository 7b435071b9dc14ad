"""Points written to formats of boxes or masks (YOLO, VOC, class, instance and object masks): the box of the
``--point-box`` size centred on the point's model coordinate (pixel index + 0.5), clipped or kept at the image
edge and counted either way; without ``--point-box`` refused, naming the option, with nothing left behind."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cytoconv
from cytoconv.engine.adapt import PointBoxes
from cytoconv.engine.contract import WriteOptions
from cytoconv.errors import FormatError, Report
from cytoconv.ir import Category, Dataset, ImageRecord, Instance, Point
from tests.conftest import real, run_cli

W, H = 640, 480
CATEGORIES = [Category(id=1, name="rbc"), Category(id=2, name="wbc")]


def dataset(*points: tuple[int, int, int]) -> Dataset:
    """One 640x480 image with points at pixel indices (i, j) of category ids."""
    instances = [Instance(category_id=c, geometry=Point.at_pixel(i, j)) for i, j, c in points]
    record = ImageRecord(file_name="a.jpg", width=W, height=H, instances=instances)
    return Dataset(categories=CATEGORIES, images=[record])


def yolo_rows(out: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in (out / "labels" / "a.txt").read_text().splitlines()]


def said(report: Report) -> dict[str, int]:
    """The notices, without YOLO's data.yaml saying that val is train (no splits here)."""
    return {k: v for k, v in report.notices.items() if k != "split-reused"}


def write(data: Dataset, out: Path, to: str, box: str | None, **options: object) -> Report:
    boxes = PointBoxes.parse(box, clip=bool(options.pop("clip", False))) if box else None
    return cytoconv.write(data, out, to, WriteOptions(point_box=boxes, **options)).report  # type: ignore[arg-type]


def test_yolo_boxes_are_centred_on_the_pixel_centre(tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    pixels = rng.integers([16, 16], [W - 16, H - 16], size=(300, 2))
    data = dataset(*((int(i), int(j), 1 + k % 2) for k, (i, j) in enumerate(pixels)))
    report = write(data, tmp_path / "y", "yolo", "32")
    rows = np.array(yolo_rows(tmp_path / "y"))
    assert rows.shape == (300, 5)
    assert rows[:, 0].tolist() == [k % 2 for k in range(300)]
    assert np.abs(rows[:, 1] - (pixels[:, 0] + 0.5) / W).max() < 1e-6
    assert np.abs(rows[:, 2] - (pixels[:, 1] + 0.5) / H).max() < 1e-6
    assert np.abs(rows[:, 3] - 32 / W).max() < 1e-6 and np.abs(rows[:, 4] - 32 / H).max() < 1e-6
    assert said(report) == {"point-as-box": 300}  # none reaches an edge: nothing else to say


def test_yolo_box_sizes_per_class_and_as_w_x_h(tmp_path: Path) -> None:
    data = dataset((100, 50, 1), (200, 150, 2))
    write(data, tmp_path / "a", "yolo", "rbc=16,wbc=24x12")
    a, b = yolo_rows(tmp_path / "a")
    assert a == pytest.approx([0, 100.5 / W, 50.5 / H, 16 / W, 16 / H], abs=1e-6)
    assert b == pytest.approx([1, 200.5 / W, 150.5 / H, 24 / W, 12 / H], abs=1e-6)
    write(data, tmp_path / "b", "yolo", "32x24")
    rows = yolo_rows(tmp_path / "b")
    assert [r[3:] for r in rows] == [[0.05, 0.05], [0.05, 0.05]]
    with pytest.raises(Exception, match="no size for class 'wbc'"):
        write(data, tmp_path / "c", "yolo", "rbc=16")
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("clip", [False, True])
def test_boxes_past_the_edge_are_clipped_or_kept_and_counted(tmp_path: Path, clip: bool) -> None:
    data = dataset((5, 470, 1), (639, 0, 2), (300, 200, 1))
    report = write(data, tmp_path / "y", "yolo", "32", clip=clip)
    rows = yolo_rows(tmp_path / "y")
    if clip:  # (5, 470): x 0..21.5, y 454.5..480; (639, 0): x 623.5..640, y 0..16.5
        assert rows[0][1:] == pytest.approx([10.75 / W, 467.25 / H, 21.5 / W, 25.5 / H], abs=1e-7)
        assert rows[1][1:] == pytest.approx([631.75 / W, 8.25 / H, 16.5 / W, 16.5 / H], abs=1e-7)
        assert said(report) == {"point-as-box": 3, "point-box-clipped": 2}
    else:  # kept as given: centred on the point, reaching past the edge
        assert rows[0][1:] == pytest.approx([5.5 / W, 470.5 / H, 32 / W, 32 / H], abs=1e-7)
        assert rows[1][1:] == pytest.approx([639.5 / W, 0.5 / H, 32 / W, 32 / H], abs=1e-7)
        assert said(report) == {"point-as-box": 3, "point-box-outside": 2}
    assert rows[2][1:] == pytest.approx([300.5 / W, 200.5 / H, 32 / W, 32 / H], abs=1e-7)


def test_yolo_segment_writes_a_point_box_as_its_four_corners(tmp_path: Path) -> None:
    report = write(dataset((100, 50, 1)), tmp_path / "y", "yolo", "32", task="segment")
    (row,) = yolo_rows(tmp_path / "y")
    x0, y0, x1, y1 = 84.5 / W, 34.5 / H, 116.5 / W, 66.5 / H
    assert row == pytest.approx([0, x0, y0, x1, y0, x1, y1, x0, y1], abs=1e-7)
    assert said(report) == {"point-as-box": 1, "box-as-polygon": 1}


def test_voc_boxes_are_the_pixels_of_the_point_box(tmp_path: Path) -> None:
    report = write(dataset((100, 50, 1), (300, 200, 2)), tmp_path / "v", "voc", "32,wbc=15")
    xml = (tmp_path / "v" / "Annotations" / "a.xml").read_text()
    boxes = re.findall(
        r"<xmin>(\d+)</xmin>\s*<ymin>(\d+)</ymin>\s*<xmax>(\d+)</xmax>\s*<ymax>(\d+)</ymax>", xml
    )
    # 1-based inclusive: pixel 100 (0-based) is 101, its 32-box the 0-based pixels 85..116 (15 left, 16 right,
    # the box's edges on half pixels rounded to the nearest); an odd size is centred exactly
    assert boxes == [("86", "36", "117", "67"), ("294", "194", "308", "208")]
    assert re.findall(r"<name>(\w+)</name>", xml) == ["rbc", "wbc"]
    assert said(report) == {"point-as-box": 2, "box-rounded": 1}


def _pixels(mask: np.ndarray, value: int) -> tuple[int, int, int, int, int]:
    ys, xs = np.nonzero(mask == value)
    return int(xs.size), int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())


def test_mask_writers_paint_the_point_boxes(tmp_path: Path) -> None:
    data = dataset((100, 50, 1), (300, 200, 2))
    write(data, tmp_path / "m", "masks", "32,wbc=15")
    semantic = np.asarray(Image.open(tmp_path / "m" / "masks" / "a.png"))
    assert _pixels(semantic, 1) == (32 * 32, 85, 116, 35, 66)  # what the VOC box above holds, 0-based
    assert _pixels(semantic, 2) == (15 * 15, 293, 307, 193, 207)
    assert int(np.count_nonzero(semantic)) == 32 * 32 + 15 * 15
    write(data, tmp_path / "i", "instance-masks", "32,wbc=15")
    labels = np.asarray(Image.open(tmp_path / "i" / "masks" / "a.png"))
    assert _pixels(labels, 1) == (1024, 85, 116, 35, 66) and _pixels(labels, 2) == (225, 293, 307, 193, 207)
    assert (tmp_path / "i" / "instances.csv").read_text().splitlines()[1:] == [
        "a.jpg,1,1,rbc",
        "a.jpg,2,2,wbc",
    ]
    report = write(data, tmp_path / "o", "object-masks", "32,wbc=15")
    first = np.asarray(Image.open(tmp_path / "o" / "a" / "masks" / "a_0.png"))
    assert _pixels(first, 255) == (1024, 85, 116, 35, 66)
    assert report.notices["point-as-box"] == 2


@pytest.mark.parametrize("to", ["yolo", "voc", "masks", "instance-masks", "object-masks"])
def test_points_without_a_box_size_are_refused_and_nothing_is_left(tmp_path: Path, to: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(FormatError, match="give --point-box S") as caught:
        write(dataset((100, 50, 1)), out, to, None)
    assert caught.value.code == "point-needs-box" and caught.value.path == "a.jpg"
    assert f"written as {to}:" in caught.value.message
    assert not out.exists() and list(tmp_path.iterdir()) == []


CHULA_POINTS = 1730  # lines of the vendored sample's 20 label files (two of them empty)


def test_chula_points_to_yolo_need_a_point_box(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = real("chula_rbc12_points")
    out = tmp_path / "yolo"
    code, _, err = run_cli(["convert", str(src), str(out), "--to", "yolo", "-q"], capsys)
    assert code == 2 and "--point-box" in err and not out.exists()
    code, _, err = run_cli(["convert", str(src), str(out), "--to", "yolo", "--point-box", "16"], capsys)
    assert code == 0, err
    assert f"{CHULA_POINTS} x point-as-box" in err
    rows = [
        line.split()
        for label in sorted((out / "labels").rglob("*.txt"))
        for line in label.read_text().splitlines()
    ]
    assert len(rows) == CHULA_POINTS
    assert {(r[3], r[4]) for r in rows} == {("0.025", "0.0333333")}  # kept whole at the edges (no --clip)
    assert "30 x point-box-outside" in err
    # the first line of Label/1.txt, "594 95 0" (0-based pixel indices): centred on (594.5, 95.5)
    (first,) = [label for label in (out / "labels").rglob("1.txt")]
    cls, cx, cy, w, h = first.read_text().splitlines()[0].split()
    assert cls == "0" and abs(float(cx) - 594.5 / W) < 1e-6 and abs(float(cy) - 95.5 / H) < 1e-6
    assert (w, h) == ("0.025", "0.0333333")
