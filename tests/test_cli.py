"""The command line: exit codes, one-line errors naming file and line, nothing half-written left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BALF_SAMPLE, write, yolo_dataset
from tests.conftest import run_cli as run

GOOD = "0 0.1 0.1 0.5 0.1 0.5 0.5\n"


def test_version_is_fast_and_right() -> None:
    from cytoconv import __version__

    done = subprocess.run(
        [sys.executable, "-m", "cytoconv", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"cytoconv {__version__}"


def test_yolo2coco_on_the_fixture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["yolo2coco", str(BALF_SAMPLE), str(tmp_path / "out.json")], capsys)
    assert code == 0 and out == ""
    assert "20 images (1 without objects), 108 objects" in err
    assert "macrophage" in err
    assert len(json.loads((tmp_path / "out.json").read_text())["annotations"]) == 108


def test_existing_output_refused_without_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = write(tmp_path / "out.json", "keep me")
    code, _, err = run(["convert", str(BALF_SAMPLE), str(out), "--to", "coco", "-q"], capsys)
    assert code == 2 and "--overwrite" in err and out.read_text() == "keep me"
    code, _, _ = run(["convert", str(BALF_SAMPLE), str(out), "--to", "coco", "-q", "--overwrite"], capsys)
    assert code == 0 and json.loads(out.read_text())["images"]


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        ("0 0.1 0.1 0.5 0.1 0.5\n", 1, "odd number of coordinates"),
        (GOOD + "0 0.1 abc 0.5 0.1 0.5 0.5\n", 2, "not a number"),
        (GOOD + GOOD + "0 0.1 NaN 0.5 0.1 0.5 0.5\n", 3, "not a finite number"),
        ("-2 0.1 0.1 0.5 0.1 0.5 0.5\n", 1, "not a non-negative integer"),
        ("9 0.1 0.1 0.5 0.1 0.5 0.5\n", 1, "outside the 2 classes"),
        ("0 0.1 0.1 5.3 0.1 0.5 0.5\n", 1, "outside [0, 1] by more than the tolerance"),
        ("0 0.5 0.5 0 0.1\n", 1, "box of zero size"),
        (b"0 0.1 0.1 0.5 0.1 0.5 0.5\n0 0.1 \xff\n", 2, "not UTF-8"),
    ],
)
def test_bad_label_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes, line: int, words: str
) -> None:
    root = yolo_dataset(tmp_path / "ds", {"a": GOOD, "b": ""}, names=["cell", "rbc"])
    label = write(root / "labels" / "b.txt", content)
    out = tmp_path / "out.json"
    code, stdout, err = run(["yolo2coco", str(root), str(out)], capsys)
    assert code == 1 and stdout == ""
    assert err.strip().startswith(f"{label}:{line}: ") and words in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # no temporary file left either


def test_lenient_skips_counts_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = yolo_dataset(tmp_path / "ds", {"a": GOOD + "0 1 2\n" + GOOD}, names=["cell"])
    code, _, err = run(["yolo2coco", str(root), str(tmp_path / "o.json"), "--lenient"], capsys)
    assert code == 0
    assert "skipped 1 x too-few-points" in err and "noticed 1 x duplicate-line" in err
    assert len(json.loads((tmp_path / "o.json").read_text())["annotations"]) == 2


def test_label_without_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = yolo_dataset(tmp_path / "ds", {"a": GOOD}, names=["cell"])
    orphan = write(root / "labels" / "lost.txt", GOOD)
    code, _, err = run(["yolo2coco", str(root), str(tmp_path / "o.json")], capsys)
    assert code == 1 and err.startswith(f"{orphan}: label without an image")
    code, _, _ = run(["yolo2coco", str(root), str(tmp_path / "o.json"), "--image-size", "100x80"], capsys)
    data = json.loads((tmp_path / "o.json").read_text())
    assert code == 0 and [im["file_name"] for im in data["images"]] == ["a.png", "lost.jpg"]


def test_image_without_label_is_an_empty_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import make_image

    root = yolo_dataset(tmp_path / "ds", {"a": GOOD}, names=["cell"])
    make_image(root / "images" / "nothing.png", 100, 80)
    code, _, err = run(["yolo2coco", str(root), str(tmp_path / "o.json")], capsys)
    data = json.loads((tmp_path / "o.json").read_text())
    assert code == 0 and len(data["images"]) == 2 and len(data["annotations"]) == 1
    assert "image-without-label" in err


def test_truncated_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path / "in.json", '{"images": [{"id": 1,\n "file_name": "a.jpg"')
    code, _, err = run(["coco2yolo", str(src), str(tmp_path / "y")], capsys)
    assert code == 1 and err.startswith(f"{src}:2: truncated JSON")
    assert not (tmp_path / "y").exists()


def test_names_without_any_class_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = yolo_dataset(tmp_path / "ds", {"a": GOOD.replace("0 ", "2 ", 1)})
    code, _, _ = run(["yolo2coco", str(root), str(tmp_path / "o.json"), "-q"], capsys)
    cats = json.loads((tmp_path / "o.json").read_text())["categories"]
    assert code == 0 and [c["name"] for c in cats] == ["class_0", "class_1", "class_2"]
    code, _, _ = run(["yolo2coco", str(root), str(tmp_path / "p.json"), "-q", "--names", "x,y,z"], capsys)
    assert [c["name"] for c in json.loads((tmp_path / "p.json").read_text())["categories"]] == ["x", "y", "z"]


def test_formats_and_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["formats"], capsys)
    assert code == 0 and out.startswith("yolo") and "coco" in out
    code, _, err = run(["convert", str(BALF_SAMPLE), str(tmp_path / "o"), "--to", "nope"], capsys)
    assert code == 2 and "unknown format 'nope'" in err
    code, _, err = run(["convert", str(tmp_path / "missing"), str(tmp_path / "o"), "--to", "coco"], capsys)
    assert code == 2 and "no such file or folder" in err


def test_output_inside_input_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = yolo_dataset(tmp_path / "ds", {"a": GOOD}, names=["cell"])
    code, _, err = run(["yolo2coco", str(root), str(root / "o.json")], capsys)
    assert code == 2 and "inside" in err and not (root / "o.json").exists()


def test_outputs_get_the_usual_permissions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    umask = os.umask(0o022)
    try:
        run(["yolo2coco", str(BALF_SAMPLE), str(tmp_path / "o.json"), "-q"], capsys)
        run(["coco2yolo", str(tmp_path / "o.json"), str(tmp_path / "y"), "-q"], capsys)
    finally:
        os.umask(umask)
    assert (tmp_path / "o.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "y").stat().st_mode & 0o777 == 0o755
