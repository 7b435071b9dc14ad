"""points-csv: one CSV of cell centres for many images (CRIC's classifications.csv, 1-based; the writer's
file,x,y,class; any CSV by --columns), read with exact coordinates, written back with the same integers,
detected, validated; every bad input one line with file and line, exit 1, nothing left behind."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pytest

import cytoconv
from cytoconv.engine.contract import ReadOptions
from cytoconv.errors import FormatError, Report, UsageError
from cytoconv.formats import LAYOUT, REFUSED, candidates, detect
from cytoconv.formats.points_csv import check as points_check
from cytoconv.formats.points_csv import syntax
from cytoconv.ir import Box, Category, Dataset, ImageRecord, Instance, Point
from cytoconv.validate import Settings, validate
from tests.conftest import make_image, real, write
from tests.conftest import run_cli as run

CRIC = "cric_classifications_excerpt"
HEADER = "image_id,image_filename,image_doi,cell_id,bethesda_system,nucleus_x,nucleus_y\n"
DOI = "10.6084/m9.figshare.12230906"
FIRST = "0a2a5a681410054941cc56f51eb8fbda.png"  # row 1: image_id 400 with its own file name
SECOND = "9ae8a4edde40219bad6303cebc672ee4.png"  # rows 2-47: image_id 400 too
THIRD = "dc2df7c3f88649ded343b13b9486cddf.png"  # rows 48-87: image_id 399
CRIC_SIZE = ReadOptions(image_size=(1376, 1020))


def _cric_csv() -> Path:
    return real(CRIC) / "classifications.csv"


def _cric_row(image_id: int, file: str, cell: int, cls: str, x: object, y: object) -> str:
    return f"{image_id},{file},{DOI},{cell},{cls},{x},{y}\n"


def _cric_like(root: Path, rows: list[str], images: dict[str, tuple[int, int]]) -> Path:
    """``root/classifications.csv`` with CRIC's header and ``rows``, real PNGs in ``root/images/``."""
    for name, size in images.items():
        make_image(root / "images" / name, *size)
    return write(root / "classifications.csv", HEADER + "".join(rows))


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


# ---------------------------------------------------------------------------------------------
# The vendored CRIC excerpt (no images: --image-size)


def test_cric_excerpt_read_exactly() -> None:
    report = Report()
    dataset = cytoconv.read(_cric_csv(), options=CRIC_SIZE, report=report)
    assert [c.name for c in dataset.categories] == list(syntax.BETHESDA)  # all six, in Bethesda order
    # grouped by file name (three images), not by image_id (two ids)
    assert [(r.file_name, len(r.instances)) for r in dataset.images] == [
        (FIRST, 1),
        (SECOND, 46),
        (THIRD, 40),
    ]
    assert all((r.width, r.height) == (1376, 1020) for r in dataset.images)
    names = dataset.category_names()
    per_class = Counter(names[i.category_id] for r in dataset.images for i in r.instances)
    assert per_class == {
        "SCC": 23,
        "LSIL": 21,
        "ASC-H": 20,
        "HSIL": 12,
        "Negative for intraepithelial lesion": 11,
    }
    first = dataset.images[0].instances[0]
    # row 1: nucleus_x 792, nucleus_y 462, 1-based: pixel (791, 461) 0-based, model (791.5, 461.5)
    assert isinstance(first.geometry, Point)
    assert (first.geometry.x, first.geometry.y) == (791.5, 461.5)
    assert first.geometry.pixel(0) == (791.0, 461.0) and first.geometry.pixel(1) == (792.0, 462.0)
    assert first.attributes == {"image_id": 400, "image_doi": DOI, "cell_id": 1}
    assert names[first.category_id] == "SCC"
    last = dataset.images[2].instances[-1]
    assert last.attributes["cell_id"] == 87 and last.attributes["image_id"] == 399
    assert report.notices["id-filename-mismatch"] == 1
    (example,) = report.examples["id-filename-mismatch"]
    assert f"{_cric_csv()}:3: image_id 400 has 2 file names" in example
    assert f"{FIRST} (line 2)" in example and f"{SECOND} (line 3)" in example


def test_cric_excerpt_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.csv"
    args = ["convert", str(_cric_csv()), str(out), "--to", "points-csv", "--image-size", "1376x1020"]
    code, _, err = run(args, capsys)
    assert code == 0, err
    assert "noticed 1 x id-filename-mismatch" in err
    rows = _rows(out)
    assert out.read_text().splitlines()[0] == "file,x,y,class,class_id,image_id,image_doi,cell_id"
    assert len(rows) == 87
    assert rows[0] == {
        "file": FIRST,
        "x": "791",
        "y": "461",
        "class": "SCC",
        "class_id": "5",  # SCC's place in the Bethesda order
        "image_id": "400",
        "image_doi": DOI,
        "cell_id": "1",
    }
    # every coordinate is the CSV's minus one (1-based -> 0-based), as an integer
    source = _rows(_cric_csv())
    assert [(int(r["x"]), int(r["y"])) for r in rows] == [
        (int(s["nucleus_x"]) - 1, int(s["nucleus_y"]) - 1) for s in source
    ]
    assert [r["cell_id"] for r in rows] == [s["cell_id"] for s in source]


def test_cric_excerpt_without_images_or_size_names_the_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.csv"
    code, _, err = run(["convert", str(_cric_csv()), str(out), "--to", "points-csv"], capsys)
    assert code == 1 and err.startswith(f"{_cric_csv()}:2: {FIRST}: no such image")
    assert "--images" in err and "--image-size" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Detection


def test_detection(tmp_path: Path) -> None:
    assert detect(_cric_csv()).name == "points-csv"
    manifest = write(tmp_path / "m" / "labels.csv", "file,label,width,height\na.png,cell,10,10\n")
    assert detect(manifest).name == "manifest"
    own = write(tmp_path / "o" / "points.csv", "file,x,y,class\na.png,1,2,cell\n")
    assert detect(own).name == "points-csv"
    other = write(tmp_path / "x" / "cells.csv", "image,cx,cy,label\na.png,1,2,cell\n")
    found = dict((info.name, ev) for info, ev in candidates(other, refused=True))
    assert found["points-csv"].strength == REFUSED and "--columns" in found["points-csv"].reason
    with pytest.raises(UsageError, match="--columns"):
        detect(other)
    # CRIC's download: the CSV beside a folder of images
    root = tmp_path / "cric"
    _cric_like(root, [_cric_row(1, "a.png", 1, "SCC", 5, 5)], {"a.png": (20, 10)})
    found = dict((info.name, ev) for info, ev in candidates(root))
    assert detect(root).name == "points-csv" and found["points-csv"].strength == LAYOUT


def test_manifest_is_still_read_as_a_manifest(tmp_path: Path) -> None:
    make_image(tmp_path / "a.png", 10, 8)
    manifest = write(tmp_path / "labels.csv", "file,label\na.png,cell\n")
    dataset = cytoconv.read(manifest)
    assert [(r.file_name, r.label) for r in dataset.images] == [("a.png", 1)]


# ---------------------------------------------------------------------------------------------
# CRIC-like sets with real images


def test_cric_like_with_images(tmp_path: Path) -> None:
    root = tmp_path / "cric"
    rows = [
        _cric_row(7, "a.png", 1, "HSIL", 1, 1),  # the first pixel, 1-based
        _cric_row(7, "a.png", 2, "ASC-US", 40, 30),  # the last pixel of a 40x30 image
        _cric_row(8, "b.png", 3, "Negative for intraepithelial lesion", 10, 20),
    ]
    _cric_like(root, rows, {"a.png": (40, 30), "b.png": (64, 48), "spare.png": (16, 16)})
    report = Report()
    dataset = cytoconv.read(root / "classifications.csv", report=report)
    assert dataset.image_root == str((root / "images").resolve())
    by_name = {r.file_name: r for r in dataset.images}
    assert list(by_name) == ["a.png", "b.png", "spare.png"]  # CSV order, then the images no row names
    assert (by_name["a.png"].width, by_name["a.png"].height) == (40, 30)
    points = [(i.geometry.x, i.geometry.y) for i in by_name["a.png"].instances]  # type: ignore[union-attr]
    assert points == [(0.5, 0.5), (39.5, 29.5)]
    assert by_name["spare.png"].instances == []
    assert report.notices["image-without-label"] == 1
    assert "id-filename-mismatch" not in report.notices
    # the folder itself reads the same
    again = cytoconv.read(root)
    assert [r.file_name for r in again.images] == ["a.png", "b.png", "spare.png"]


def test_images_outside_the_named_folders_are_not_the_datasets(tmp_path: Path) -> None:
    """A CSV left in a big folder: only the folders of the images its rows name hold the dataset."""
    root = tmp_path / "downloads"
    csv_path = _cric_like(
        root, [_cric_row(1, "a.png", 1, "SCC", 3, 4)], {"a.png": (12, 10), "b.png": (12, 10)}
    )
    make_image(root / "holiday" / "beach.png", 30, 20)
    write(root / "holiday" / "broken.png", b"not an image")
    write(root / "holiday" / ".DS_Store", b"\0")
    write(root / "images" / ".DS_Store", b"\0")
    report = Report()
    dataset = cytoconv.read(csv_path, report=report)
    assert [r.file_name for r in dataset.images] == ["a.png", "b.png"]
    assert report.notices["image-without-label"] == 1
    assert report.examples["junk-skipped"] == [str((root / "images" / ".DS_Store").resolve())]
    found = sorted((Path(f.path).name, f.code) for f in validate([root], Settings(), jobs=1).findings)
    assert found == [("b.png", "CC403")]


def test_a_header_that_is_not_csv(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "c.csv", '"' + "a" * 200_000 + '",x\n1,2\n')
    for strict in (True, False):
        with pytest.raises(FormatError) as caught:
            cytoconv.read(csv_path, "points-csv", ReadOptions(image_size=(5, 5)), Report(strict=strict))
        assert (caught.value.code, caught.value.line) == ("malformed-line", 1)


def test_point_outside_its_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "cric"
    rows = [_cric_row(7, "a.png", 1, "HSIL", 40, 30), _cric_row(7, "a.png", 2, "HSIL", 41, 3)]
    csv_path = _cric_like(root, rows, {"a.png": (40, 30)})
    with pytest.raises(FormatError) as caught:
        cytoconv.read(csv_path)
    assert (caught.value.code, caught.value.line) == ("point-outside-image", 3)
    assert "nucleus_x 41, nucleus_y 3" in caught.value.message and "40x30" in caught.value.message
    out = tmp_path / "out.csv"
    code, _, err = run(["convert", str(csv_path), str(out), "--to", "points-csv"], capsys)
    assert code == 1 and err.startswith(f"{csv_path.resolve()}:3: a.png: point (nucleus_x 41")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["cric"]
    # lenient: the point is skipped and counted, the other kept
    report = Report(strict=False)
    dataset = cytoconv.read(csv_path, report=report)
    assert len(dataset.images[0].instances) == 1 and report.skipped["point-outside-image"] == 1


def test_images_elsewhere_with_images_option(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "csv" / "classifications.csv", HEADER + _cric_row(1, "a.png", 1, "SCC", 3, 4))
    make_image(tmp_path / "pics" / "deep" / "a.png", 12, 10)
    dataset = cytoconv.read(csv_path, options=ReadOptions(images=tmp_path / "pics"))
    assert [(r.file_name, r.width, r.height) for r in dataset.images] == [("a.png", 12, 10)]
    assert dataset.image_root == str((tmp_path / "pics" / "deep").resolve())


def test_two_images_of_one_name(tmp_path: Path) -> None:
    root = tmp_path / "cric"
    csv_path = _cric_like(root, [_cric_row(1, "a.png", 1, "SCC", 3, 4)], {"a.png": (12, 10)})
    make_image(root / "more" / "a.png", 12, 10)
    with pytest.raises(FormatError) as caught:
        cytoconv.read(csv_path)
    assert (caught.value.code, caught.value.line) == ("duplicate-stem", 2)


# ---------------------------------------------------------------------------------------------
# Other CSVs: --columns, 0-based unless --index-base 1


def test_custom_columns_zero_and_one_based(tmp_path: Path) -> None:
    make_image(tmp_path / "img" / "x.png", 50, 40)
    csv_path = write(
        tmp_path / "cells.csv",
        "label,image,cx,cy,note\n2,img/x.png,0,0,first\n0,x.png,49,39,\n1,img/x.png,10.25,3,\n",
    )
    columns = (("file", "image"), ("x", "cx"), ("y", "cy"), ("class", "label"))
    zero = cytoconv.read(csv_path, "points-csv", ReadOptions(columns=columns, names=("a", "b", "c")))
    (record,) = zero.images  # img/x.png and x.png are one image
    assert record.file_name == "x.png" and (record.width, record.height) == (50, 40)
    got = [(i.category_id, i.geometry.x, i.geometry.y, i.attributes) for i in record.instances]  # type: ignore[union-attr]
    assert got == [(3, 0.5, 0.5, {"note": "first"}), (1, 49.5, 39.5, {}), (2, 10.75, 3.5, {})]  # CSV order
    assert [c.name for c in zero.categories] == ["a", "b", "c"]
    one_based = write(tmp_path / "one.csv", "label,image,cx,cy,note\n1,x.png,1,1,\n0,x.png,50,40,\n")
    one = cytoconv.read(one_based, "points-csv", ReadOptions(columns=columns, index_base=1))
    got_one = [(i.geometry.x, i.geometry.y) for i in one.images[0].instances]  # type: ignore[union-attr]
    assert got_one == [(0.5, 0.5), (49.5, 39.5)]
    # 1-based: pixel 0 is before the first pixel
    with pytest.raises(FormatError) as caught:
        cytoconv.read(csv_path, "points-csv", ReadOptions(columns=columns, index_base=1))
    assert (caught.value.code, caught.value.line) == ("point-outside-image", 2)
    # integer classes without names: class_<id>, ids 0..max
    plain = cytoconv.read(csv_path, "points-csv", ReadOptions(columns=columns))
    assert [c.name for c in plain.categories] == ["class_0", "class_1", "class_2"]


def test_text_classes_sorted_and_unknown_names(tmp_path: Path) -> None:
    make_image(tmp_path / "x.png", 20, 20)
    csv_path = write(tmp_path / "p.csv", "file,x,y,class\nx.png,1,1,rbc\nx.png,2,2,lymphocyte\n")
    dataset = cytoconv.read(csv_path)
    assert [c.name for c in dataset.categories] == ["lymphocyte", "rbc"]
    assert [i.category_id for i in dataset.images[0].instances] == [2, 1]
    with pytest.raises(FormatError) as caught:
        cytoconv.read(csv_path, options=ReadOptions(names=("rbc",)))
    assert (caught.value.code, caught.value.line) == ("unknown-class", 3)


CHULA_NAMES = (
    "Normal cell,Macrocyte,Microcyte,Spherocyte,Target cell,Stomatocyte,Ovalocyte,Teardrop,Burr cell,"
    "Schistocyte,uncategorised,Hypochromia,Elliptocyte"
)


@pytest.mark.parametrize("names", [None, CHULA_NAMES])
def test_chula_class_numbers_survive_coco_and_points_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], names: str | None
) -> None:
    """points-txt -> COCO -> points-csv -> points-txt, without --names on the later steps: every label file
    back byte for byte (class integers included), as the class_id column keeps each class's place, where
    names alone would be sorted (class_10 before class_2, Macrocyte before Normal cell)."""
    chula = real("chula_rbc12_points")
    coco, points, back = tmp_path / "n.json", tmp_path / "c.csv", tmp_path / "t"
    first = ["convert", str(chula), str(coco), "--to", "coco", "-q"]
    assert run([*first, *(["--names", names] if names else [])], capsys)[0] == 0
    assert run(["convert", str(coco), str(points), "--to", "points-csv", "-q"], capsys)[0] == 0
    rows = _rows(points)
    assert points.read_text().splitlines()[0] == "file,x,y,class,class_id"
    listed = names.split(",") if names else [f"class_{k}" for k in range(13)]
    assert {(r["class"], r["class_id"]) for r in rows} == {(n, str(k)) for k, n in enumerate(listed)}
    images = str(chula / "Dataset")
    args = ["convert", str(points), str(back), "--to", "points-txt", "--images", images, "-q"]
    code, _, err = run(args, capsys)
    assert code == 0, err
    labels = sorted((chula / "Label").glob("*.txt"))
    assert len(labels) == 20
    for label in labels:
        assert (back / "labels" / label.name).read_bytes() == label.read_bytes(), label.name
    assert (back / "classes.txt").read_text().splitlines() == listed


def test_class_id_gives_the_order_and_fills_gaps(tmp_path: Path) -> None:
    make_image(tmp_path / "x.png", 20, 20)
    text = "file,x,y,class,class_id\nx.png,1,1,rbc,3\nx.png,2,2,lymphocyte,0\nx.png,3,3,rbc,3\n"
    csv_path = write(tmp_path / "p.csv", text)
    dataset = cytoconv.read(csv_path)
    assert [(c.id, c.name) for c in dataset.categories] == [
        (1, "lymphocyte"),
        (2, "class_1"),
        (3, "class_2"),
        (4, "rbc"),
    ]
    assert [i.category_id for i in dataset.images[0].instances] == [4, 1, 4]
    assert all(not i.attributes for i in dataset.images[0].instances)  # class_id is no attribute
    # --names wins: rows matched by name
    named = cytoconv.read(csv_path, options=ReadOptions(names=("rbc", "lymphocyte")))
    assert [i.category_id for i in named.images[0].instances] == [1, 2, 1]
    # Bethesda names at their Bethesda places: all six, as CRIC is read
    bethesda = write(tmp_path / "b.csv", "file,x,y,class,class_id\nx.png,1,1,LSIL,3\n")
    assert [c.name for c in cytoconv.read(bethesda).categories] == list(syntax.BETHESDA)


def test_class_names_without_class_id_in_natural_order(tmp_path: Path) -> None:
    make_image(tmp_path / "x.png", 20, 20)
    rows = "".join(f"x.png,{k},{k},class_{k}\n" for k in (10, 2, 0, 1, 11))
    csv_path = write(tmp_path / "p.csv", "file,x,y,class\n" + rows)
    dataset = cytoconv.read(csv_path)
    assert [c.name for c in dataset.categories] == ["class_0", "class_1", "class_2", "class_10", "class_11"]
    assert [i.category_id for i in dataset.images[0].instances] == [4, 3, 1, 2, 5]


@pytest.mark.parametrize(
    ("rows", "words", "code"),
    [
        (
            "a.png,1,1,rbc,0\na.png,2,2,wbc,1\na.png,3,3,plt,0\n",
            "class_id 0 is class 'plt' here but 'rbc' on line 2",
            "bad-class-list",
        ),
        (
            "a.png,1,1,rbc,0\na.png,2,2,wbc,1\na.png,3,3,rbc,2\n",
            "class 'rbc' has class_id 2 here but 0 on line 2",
            "bad-class-list",
        ),
        (
            "a.png,1,1,rbc,0\na.png,2,2,wbc,1\na.png,3,3,rbc,-1\n",
            "class_id '-1' is not a non-negative integer",
            "bad-class-id",
        ),
    ],
)
def test_class_id_conflict_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: str, words: str, code: str
) -> None:
    csv_path = write(tmp_path / "in" / "p.csv", "file,x,y,class,class_id\n" + rows)
    out = tmp_path / "out.json"
    exit_code, stdout, err = run(
        ["convert", str(csv_path), str(out), "--to", "coco", "--image-size", "9x9"], capsys
    )
    assert exit_code == 1 and stdout == ""
    assert err.strip().startswith(f"{csv_path.resolve()}:4: ") and words in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
    with pytest.raises(FormatError) as caught:
        cytoconv.read(csv_path, options=ReadOptions(image_size=(9, 9)))
    assert (caught.value.code, caught.value.line) == (code, 4)
    # the checker reports it at the same line (one parser)
    first = next(f for f in validate([csv_path], Settings(), jobs=1).findings if f.severity == "error")
    from cytoconv.problems import BY_NAME

    assert (first.line, first.code) == (4, BY_NAME[code].code)
    # lenient: the row is skipped and counted, the rest read
    report = Report(strict=False)
    lenient = cytoconv.read(csv_path, options=ReadOptions(image_size=(9, 9)), report=report)
    assert report.skipped == {code: 1} and len(lenient.images[0].instances) == 2


def test_columns_missing_from_the_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = write(tmp_path / "cells.csv", "image,cx,cy,label\nx.png,1,2,a\n")
    columns = (("file", "image"), ("x", "cx"), ("y", "cy_px"), ("class", "label"))
    with pytest.raises(FormatError) as caught:
        cytoconv.read(csv_path, "points-csv", ReadOptions(columns=columns, image_size=(9, 9)))
    assert (caught.value.code, caught.value.line) == ("missing-column", 1)
    assert "cy_px (y)" in caught.value.message and "image, cx, cy, label" in caught.value.message
    out = tmp_path / "o.csv"
    code, _, err = run(
        [
            "convert",
            str(csv_path),
            str(out),
            "--from",
            "points-csv",
            "--to",
            "points-csv",
            "--image-size",
            "9x9",
        ],
        capsys,
    )
    assert code == 1 and err.startswith(f"{csv_path.resolve()}:1: no point columns") and "--columns" in err
    assert not out.exists()


def test_bom_crlf_quotes_and_blank_lines(tmp_path: Path) -> None:
    text = (
        HEADER.replace("\n", "\r\n")
        + '1,a.png,"10.1/x,y",5,"SCC",3,4\r\n'
        + '"1","a.png",doi,6,"Negative for intraepithelial lesion",5,6\r\n'
        + "\r\n\r\n"
    )
    csv_path = write(tmp_path / "c.csv", b"\xef\xbb\xbf" + text.encode())
    dataset = cytoconv.read(csv_path, options=ReadOptions(image_size=(10, 10)))
    got = [(i.geometry.x, i.attributes["image_doi"]) for i in dataset.images[0].instances]  # type: ignore[union-attr]
    assert got == [(2.5, "10.1/x,y"), (4.5, "doi")]
    # a bad row after CRLF lines is named by its line
    bad = write(tmp_path / "d.csv", b"\xef\xbb\xbf" + (text + "1,a.png,d,7,SCC,x3,4\r\n").encode())
    with pytest.raises(FormatError) as caught:
        cytoconv.read(bad, options=ReadOptions(image_size=(10, 10)))
    assert (caught.value.code, caught.value.line) == ("malformed-line", 6)


# ---------------------------------------------------------------------------------------------
# Errors through the command line: one line with file and line, exit 1, nothing left behind


@pytest.mark.parametrize(
    ("text", "line", "words", "code"),
    [
        (
            "image_id,image_filename,image_doi,cell_id,bethesda_system,nucleus_x\n1,a.png,d,1,SCC,3\n",
            1,
            "no column nucleus_y (y) (the header has: image_id, image_filename",
            "missing-column",
        ),
        (
            HEADER + _cric_row(1, "a.png", 1, "SCC", 3, 4) + _cric_row(1, "a.png", 2, "SCC", "abc", 4),
            3,
            "nucleus_x 'abc' is not a number",
            "malformed-line",
        ),
        (
            HEADER + _cric_row(1, "a.png", 1, "SCC", 1377, 4),
            2,
            "a.png: point (nucleus_x 1377, nucleus_y 4) outside the 1376x1020 image",
            "point-outside-image",
        ),
        (
            HEADER + _cric_row(1, "a.png", 1, "SCC", 0, 4),
            2,
            "outside the image (pixel indices start at 1)",
            "point-outside-image",
        ),
        (
            HEADER + _cric_row(1, "a.png", 1, "NILM", 3, 4),
            2,
            "class 'NILM' is not among CRIC's Bethesda classes",
            "unknown-class",
        ),
        (HEADER + "1,a.png,d,1,SCC,3\n", 2, "6 fields, the header has 7", "malformed-line"),
        (
            HEADER + _cric_row(1, "a.png", 1, "SCC", "nan", 4),
            2,
            "nucleus_x 'nan' is not a finite number",
            "non-finite",
        ),
        ("", 1, "an empty CSV", "empty"),
    ],
)
def test_bad_input_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int, words: str, code: str
) -> None:
    csv_path = write(tmp_path / "in" / "classifications.csv", text)
    out = tmp_path / "out.csv"
    args = ["convert", str(csv_path), str(out), "--from", "points-csv", "--to", "points-csv"]
    exit_code, stdout, err = run([*args, "--image-size", "1376x1020"], capsys)
    assert exit_code == 1 and stdout == ""
    assert err.strip().startswith(f"{csv_path.resolve()}:{line}: ") and words in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in"]
    with pytest.raises(FormatError) as caught:
        cytoconv.read(csv_path, "points-csv", CRIC_SIZE)
    assert (caught.value.code, caught.value.line) == (code, line)


def test_cric_csv_detected_through_the_cli_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --from: the CRIC header is recognised, so the error is the reader's, not detection's."""
    csv_path = write(tmp_path / "in" / "c.csv", HEADER + _cric_row(1, "a.png", 1, "SCC", 2000, 4))
    out = tmp_path / "out.csv"
    code, _, err = run(
        ["convert", str(csv_path), str(out), "--to", "points-csv", "--image-size", "1376x1020"], capsys
    )
    assert code == 1 and err.startswith(f"{csv_path.resolve()}:2: ") and "outside the 1376x1020 image" in err
    assert not out.exists()


def test_lenient_skips_bad_rows_and_counts_them(tmp_path: Path) -> None:
    rows = [
        _cric_row(1, "a.png", 1, "SCC", 3, 4),
        _cric_row(1, "a.png", 2, "SCC", "x", 4),
        _cric_row(1, "a.png", 3, "XYZ", 3, 4),
        _cric_row(1, "a.png", 4, "SCC", 3, 4),  # the same point as row 1: kept, noticed
    ]
    csv_path = write(tmp_path / "c.csv", HEADER + "".join(rows))
    report = Report(strict=False)
    dataset = cytoconv.read(csv_path, options=ReadOptions(image_size=(10, 10)), report=report)
    assert [i.attributes["cell_id"] for i in dataset.images[0].instances] == [1, 4]
    assert report.skipped == {"malformed-line": 1, "unknown-class": 1}
    assert report.notices["duplicate-line"] == 1


# ---------------------------------------------------------------------------------------------
# Writing


def test_round_trip_keeps_the_integers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "cric"
    rows = [
        _cric_row(7, "a.png", 11, "HSIL", 1, 1),
        _cric_row(7, "a.png", 12, "ASC-US", 40, 30),
        _cric_row(8, "b.png", 13, "SCC", 17, 23),
    ]
    _cric_like(root, rows, {"a.png": (40, 30), "b.png": (64, 48)})
    first, second = tmp_path / "one.csv", tmp_path / "two.csv"
    code, _, err = run(["convert", str(root), str(first), "--to", "points-csv"], capsys)
    assert code == 0, err
    code, _, err = run(
        ["convert", str(first), str(second), "--to", "points-csv", "--images", str(root / "images")], capsys
    )
    assert code == 0, err
    assert first.read_bytes() == second.read_bytes()
    assert [(r["file"], r["x"], r["y"], r["class"], r["cell_id"]) for r in _rows(second)] == [
        ("a.png", "0", "0", "HSIL", "11"),
        ("a.png", "39", "29", "ASC-US", "12"),
        ("b.png", "16", "22", "SCC", "13"),
    ]
    again = cytoconv.read(second, options=ReadOptions(images=root / "images"))
    assert [c.name for c in again.categories] == list(syntax.BETHESDA)  # Bethesda names keep their order


def test_writer_columns_split_and_fractions(tmp_path: Path) -> None:
    def point(px: float, py: float, **attributes: object) -> Instance:
        return Instance(category_id=1, geometry=Point(x=px, y=py), attributes=attributes)

    dataset = Dataset(
        categories=[Category(id=1, name="cell, round")],
        images=[
            ImageRecord(
                file_name="a.png", width=9, height=9, split="train", instances=[point(0.5, 1.5, k=1)]
            ),
            ImageRecord(file_name="b.png", width=9, height=9, instances=[point(2.75, 3.5, x=5, tag=[1, 2])]),
            ImageRecord(file_name="c.png", width=9, height=9),
        ],
    )
    report = Report()
    cytoconv.write(dataset, tmp_path / "o.csv", "points-csv", report=report)
    assert (tmp_path / "o.csv").read_text().splitlines() == [
        "file,x,y,class,class_id,split,k,tag",
        'a.png,0,1,"cell, round",0,train,1,',
        'b.png,2.25,3,"cell, round",0,,,"[1, 2]"',
    ]
    assert report.notices["no-instances"] == 1 and report.notices["attribute-dropped"] == 1


def test_writer_refuses_what_is_not_a_point(tmp_path: Path) -> None:
    dataset = Dataset(
        categories=[Category(id=1, name="cell")],
        images=[
            ImageRecord(
                file_name="a.png",
                width=9,
                height=9,
                instances=[Instance(category_id=1, geometry=Box(x=1, y=1, w=2, h=2))],
            )
        ],
    )
    out = tmp_path / "o.csv"
    with pytest.raises(FormatError) as caught:
        cytoconv.write(dataset, out, "points-csv")
    assert (
        caught.value.code == "not-a-point" and caught.value.path == "a.png" and "box" in caught.value.message
    )
    assert not out.exists() and list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# validate


def _codes(report: object) -> list[tuple[int | None, str, str]]:
    return [(f.line, f.code, f.severity) for f in report.findings]  # type: ignore[attr-defined]


def test_validate_the_cric_excerpt() -> None:
    report = validate([_cric_csv()], Settings(), jobs=1)
    assert _codes(report) == [(3, "CC409", "warning")] and report.exit_code == 0
    assert points_check.claims(_cric_csv())


def test_validate_rows_and_fix(tmp_path: Path) -> None:
    rows = [
        _cric_row(1, "a.png", 1, "SCC", 3, 4),
        _cric_row(1, "a.png", 1, "SCC", 3, 4),  # a whole repeat: --fix drops it
        _cric_row(1, "a.png", 2, "SCC", 3, 4),  # the same point with another cell id: reported, not fixed
        _cric_row(1, "a.png", 3, "NILM", 5, 5),
        _cric_row(1, "a.png", 4, "SCC", "", 5),
    ]
    csv_path = write(tmp_path / "c.csv", HEADER + "".join(rows))
    report = validate([csv_path], Settings(), jobs=1)
    assert _codes(report) == [
        (3, "CC401", "error"),
        (4, "CC401", "error"),
        (5, "CC202", "error"),
        (6, "CC101", "error"),
    ]
    assert [f.fix is not None for f in report.findings] == [True, False, False, False]
    fixed = validate([csv_path], Settings(), mode="fix", jobs=1)
    assert len(fixed.fixed) == 1 and csv_path.read_text().count("\n") == 5
    assert _codes(fixed) == [(3, "CC401", "error"), (4, "CC202", "error"), (5, "CC101", "error")]


def test_validate_a_folder_against_its_images(tmp_path: Path) -> None:
    root = tmp_path / "cric"
    rows = [
        _cric_row(1, "a.png", 1, "SCC", 40, 30),
        _cric_row(1, "a.png", 2, "SCC", 41, 30),
        _cric_row(2, "lost.png", 3, "SCC", 1, 1),
    ]
    _cric_like(root, rows, {"a.png": (40, 30), "spare.png": (8, 8)})
    report = validate([root], Settings(), jobs=1)
    found = sorted((Path(f.path).name, f.line, f.code) for f in report.findings)
    assert found == [
        ("classifications.csv", 3, "CC306"),
        ("classifications.csv", 4, "CC402"),
        ("spare.png", None, "CC403"),
    ]


def test_validate_skips_other_csvs_and_from_checks_them(tmp_path: Path) -> None:
    other = write(tmp_path / "labels.csv", "file,label\na.png,cell\n")
    report = validate([other], Settings(), jobs=1)
    assert report.checked == 0 and report.skipped == [str(other)]
    forced = validate([other], Settings(), fmt="points-csv", jobs=1)
    assert _codes(forced) == [(1, "CC805", "error")]
    empty = write(tmp_path / "empty.csv", "")
    assert _codes(validate([empty], Settings(), fmt="points-csv", jobs=1)) == [(1, "CC004", "warning")]


def test_validate_names_setting_checks_classes(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "p.csv", "file,x,y,class\na.png,1,1,0\na.png,2,2,3\na.png,2,2,-1\n")
    report = validate([csv_path], Settings(names=("a", "b")), jobs=1)
    assert _codes(report) == [(3, "CC202", "error"), (4, "CC201", "error")]


def test_one_parser_for_reader_and_checker(tmp_path: Path) -> None:
    """The reader stops where validate reports its first error, with the same code."""
    from cytoconv.problems import BY_NAME

    rows = [
        _cric_row(1, "a.png", 1, "SCC", 3, 4),
        _cric_row(1, "a.png", 2, "HSIL", "1e999", 4),
        _cric_row(1, "a.png", 3, "SCCC", 3, 4),
    ]
    csv_path = write(tmp_path / "c.csv", HEADER + "".join(rows))
    first = next(f for f in validate([csv_path], Settings(), jobs=1).findings if f.severity == "error")
    with pytest.raises(FormatError) as caught:
        cytoconv.read(csv_path, options=ReadOptions(image_size=(10, 10)))
    assert (caught.value.line, BY_NAME[caught.value.code].code) == (first.line, first.code) == (3, "CC102")


def test_cric_through_coco_keypoints_and_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """CRIC's nucleus_x 793 is keypoint x 792; CRIC -> COCO -> points-csv is byte for byte CRIC -> points-csv."""
    import json
    import pickle

    root = tmp_path / "cric"
    rows = [_cric_row(5, "a.png", 1, "LSIL", 793, 462), _cric_row(5, "a.png", 2, "SCC", 1, 1020)]
    csv_path = _cric_like(root, rows, {"a.png": (1376, 1020)})
    coco, direct, back = tmp_path / "c.json", tmp_path / "direct.csv", tmp_path / "back.csv"
    assert run(["convert", str(csv_path), str(coco), "--to", "coco"], capsys)[0] == 0
    keypoints = [a["keypoints"] for a in json.loads(coco.read_text())["annotations"]]
    assert keypoints == [[792, 461, 2], [0, 1019, 2]]
    assert run(["convert", str(csv_path), str(direct), "--to", "points-csv"], capsys)[0] == 0
    images = str(root / "images")
    assert run(["convert", str(coco), str(back), "--to", "points-csv", "--images", images], capsys)[0] == 0
    assert back.read_bytes() == direct.read_bytes()
    # the units a worker gets pickle, and load the same records in another process's shoes
    from cytoconv.formats.points_csv import reader

    plan = reader.plan(csv_path, ReadOptions(), Report())
    units = pickle.loads(pickle.dumps(plan.units))
    records = [reader.load(u, ReadOptions(), Report()) for u in units]
    assert [len(r.instances) for r in records] == [2]
