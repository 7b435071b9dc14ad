"""cytoconv draw: lines on the right pixels, holes left clear, names made safe, outputs atomic."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_api

from cytoconv.api import draw
from cytoconv.errors import FormatError, Report, UsageError
from cytoconv.ir import Box, Category, Dataset, ImageRecord, Instance, Polygon, Rle
from cytoconv.ops.draw import DrawStyle, pixel_ring
from cytoconv.ops.palette import class_colours
from tests.conftest import BALF_SAMPLE, make_image, run_cli

BACKGROUND = (200, 180, 190)  # conftest.make_image
PLAIN = DrawStyle(line_width=1, opacity=0.0, legend=False)


def one_image(
    tmp_path: Path,
    instances: list[Instance],
    size: tuple[int, int] = (20, 16),
    name: str = "a.png",
    label: int | None = None,
) -> Dataset:
    make_image(tmp_path / "img" / name, *size)
    return Dataset(
        categories=[Category(id=1, name="cell"), Category(id=2, name="other")],
        images=[ImageRecord(file_name=name, width=size[0], height=size[1], instances=instances, label=label)],
        image_root=str(tmp_path / "img"),
    )


def coloured(png: Path, rgb: tuple[int, int, int]) -> set[tuple[int, int]]:
    """The (x, y) pixels of the picture that have exactly this colour."""
    arr = np.asarray(Image.open(png).convert("RGB"))
    ys, xs = np.nonzero((arr == rgb).all(axis=2))
    return set(zip(xs.tolist(), ys.tolist()))


def square(x0: int, x1: int, y0: int | None = None, y1: int | None = None) -> set[tuple[int, int]]:
    y0, y1 = (x0, x1) if y0 is None or y1 is None else (y0, y1)
    return {(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)}


def border(x0: int, x1: int, y0: int, y1: int) -> set[tuple[int, int]]:
    return square(x0, x1, y0, y1) - square(x0 + 1, x1 - 1, y0 + 1, y1 - 1)


CELL = class_colours([1, 2])[1]


def test_balf_fixture_vertex_pixels_have_their_class_colour(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        [
            "draw",
            str(BALF_SAMPLE),
            str(tmp_path / "out"),
            "--opacity",
            "0",
            "--line-width",
            "1",
            "--no-legend",
        ],
        capsys,
    )
    assert code == 0 and "drew 20 of 20 images" in err
    first = (BALF_SAMPLE / "labels" / "balf_001.txt").read_text().splitlines()[0].split()
    category_id = int(first[0]) + 1
    ring = np.array([float(v) for v in first[1:]]).reshape(-1, 2) * [853, 640]
    png = tmp_path / "out" / "balf_001.png"
    picture = np.asarray(Image.open(png).convert("RGB"))
    assert picture.shape == (640, 853, 3)
    colour = class_colours(range(1, 8))[category_id]
    for x, y in ring:  # YOLO coordinates are never on a grid line: the pixel that contains the vertex
        assert tuple(picture[math.floor(y), math.floor(x)]) == colour
    with Image.open(BALF_SAMPLE / "images" / "balf_001.jpg") as source:
        assert tuple(picture[0, 0]) == source.convert("RGB").getpixel((0, 0))  # far from any cell: untouched


def test_balf_legend_band_shows_the_classes_of_the_image(tmp_path: Path) -> None:
    result = draw(BALF_SAMPLE, tmp_path / "out", jobs=1)
    assert (result.drawn, result.read) == (20, 20)
    classes = {
        int(line.split()[0]) + 1
        for line in (BALF_SAMPLE / "labels" / "balf_001.txt").read_text().splitlines()
    }
    picture = np.asarray(Image.open(tmp_path / "out" / "balf_001.png").convert("RGB"))
    assert picture.shape[1] == 853 and picture.shape[0] > 640
    band = picture[640:]
    colours = class_colours(range(1, 8))
    shown = {cid for cid, rgb in colours.items() if (band == rgb).all(axis=2).sum() >= 25}
    assert shown == classes


def test_box_outline_on_the_box_own_outer_pixels(tmp_path: Path) -> None:
    ds = one_image(tmp_path, [Instance(category_id=1, geometry=Box(x=2, y=3, w=10, h=5))])
    draw(ds, tmp_path / "out", style=PLAIN)
    assert coloured(tmp_path / "out" / "a.png", CELL) == border(2, 11, 3, 7)


def test_fractional_box_and_pixel_rule() -> None:
    ring = np.array([[2.3, 1.0], [7.7, 1.0], [7.7, 4.0], [2.3, 4.0]])
    assert pixel_ring(ring).tolist() == [[2, 1], [7, 1], [7, 3], [2, 3]]
    assert pixel_ring(ring, hole=True).tolist() == [[2, 0], [7, 0], [7, 4], [2, 4]]


def test_polygon_hole_is_left_clear_and_fill_is_the_raster(tmp_path: Path) -> None:
    outer = np.array([[2, 2], [18, 2], [18, 18], [2, 18]], dtype=float)
    hole = np.array([[7, 7], [13, 7], [13, 13], [7, 13]], dtype=float)
    ds = one_image(
        tmp_path,
        [Instance(category_id=1, geometry=Polygon(rings=[outer, hole], holes=[False, True]))],
        size=(24, 22),
    )
    draw(ds, tmp_path / "out", style=DrawStyle(line_width=1, opacity=1.0, legend=False))
    assert coloured(tmp_path / "out" / "a.png", CELL) == square(2, 17) - square(7, 12)
    assert coloured(tmp_path / "out" / "a.png", BACKGROUND) >= square(7, 12)  # the whole hole shows the image


def test_rle_drawn_from_its_mask(tmp_path: Path) -> None:
    block = np.zeros((16, 20), dtype=np.uint8, order="F")
    block[5:11, 4:10] = 1
    block[7:9, 6:8] = 0  # a hole
    rle = mask_api.encode(block)
    ds = one_image(
        tmp_path, [Instance(category_id=2, geometry=Rle(height=16, width=20, counts=rle["counts"].decode()))]
    )
    draw(ds, tmp_path / "out", style=PLAIN)
    other = class_colours([1, 2])[2]
    assert coloured(tmp_path / "out" / "a.png", other) == border(4, 9, 5, 10) | border(5, 8, 6, 9)
    draw(ds, tmp_path / "filled", style=DrawStyle(line_width=1, opacity=1.0, legend=False))
    assert coloured(tmp_path / "filled" / "a.png", other) == {(x, y) for y, x in zip(*np.nonzero(block))}


def test_only_and_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = draw(BALF_SAMPLE, tmp_path / "two", limit=2)
    assert result.drawn == 2 and sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "balf_001.png",
        "balf_002.png",
    ]
    eosinophil = class_colours(range(1, 8))[7]
    with_eos = sorted(
        p.stem
        for p in (BALF_SAMPLE / "labels").iterdir()
        if any(line.split()[0] == "6" for line in p.read_text().splitlines() if line.strip())
    )
    result = draw(BALF_SAMPLE, tmp_path / "eos", only=["Eosinophil"], style=PLAIN)
    assert sorted(p.stem for p in (tmp_path / "eos").iterdir()) == with_eos
    for png in (tmp_path / "eos").iterdir():
        arr = np.asarray(Image.open(png).convert("RGB"))
        assert (arr == eosinophil).all(axis=2).any()
        assert not (arr == class_colours(range(1, 8))[4]).all(axis=2).any()  # no macrophage drawn
    code, _, err = run_cli(["draw", str(BALF_SAMPLE), str(tmp_path / "x"), "--only", "platypus"], capsys)
    assert code == 2 and "platypus" in err and "macrophage" in err and not (tmp_path / "x").exists()


def test_missing_image_is_a_format_error_naming_it(tmp_path: Path) -> None:
    ds = one_image(tmp_path, [Instance(category_id=1, geometry=Box(x=2, y=3, w=10, h=5))])
    ds.images[0].file_name = "sub/missing.png"
    with pytest.raises(FormatError) as caught:
        draw(ds, tmp_path / "out")
    assert caught.value.code == "label-without-image" and caught.value.path == str(
        tmp_path / "img" / "sub" / "missing.png"
    )
    assert not (tmp_path / "out").exists() and [p.name for p in tmp_path.iterdir()] == ["img"]
    report = Report(strict=False)
    result = draw(ds, tmp_path / "out", report=report)
    assert result.drawn == 0 and report.skipped == {"label-without-image": 1}


def test_size_mismatch_unsafe_name_and_name_clash(tmp_path: Path) -> None:
    ds = one_image(tmp_path, [])
    ds.images[0].width = 30
    with pytest.raises(FormatError) as caught:
        draw(ds, tmp_path / "out")
    assert caught.value.code == "size-mismatch"
    ds = one_image(tmp_path, [])
    ds.images[0].file_name = "../a.png"
    with pytest.raises(FormatError) as caught:
        draw(ds, tmp_path / "out")
    assert caught.value.code == "unsafe-path"
    ds = one_image(tmp_path, [])
    make_image(tmp_path / "img" / "a.jpg", 20, 16)
    ds.images.append(ImageRecord(file_name="a.jpg", width=20, height=16))
    with pytest.raises(FormatError) as caught:
        draw(ds, tmp_path / "out")
    assert caught.value.code == "name-collision"
    assert not (tmp_path / "out").exists()


def test_classification_label_in_the_legend_and_style_checks(tmp_path: Path) -> None:
    ds = one_image(tmp_path, [], size=(120, 90), label=2)
    draw(ds, tmp_path / "out")
    with Image.open(tmp_path / "out" / "a.png") as im:
        assert im.size[0] == 120 and im.size[1] > 90
    assert coloured(tmp_path / "out" / "a.png", class_colours([1, 2])[2])  # the label's swatch
    with pytest.raises(UsageError):
        DrawStyle(opacity=1.5)
    with pytest.raises(UsageError):
        DrawStyle(line_width=0)


def test_output_inside_the_input_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["draw", str(BALF_SAMPLE), str(BALF_SAMPLE / "drawn")], capsys)
    assert code == 2 and "inside" in err and not (BALF_SAMPLE / "drawn").exists()
