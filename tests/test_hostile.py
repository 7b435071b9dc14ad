"""Hostile and broken input: refused quickly with one line, nothing written outside the output
folder, and interrupted runs leave no partial output."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

import cytoconv
from cytoconv.api import ReadOptions
from cytoconv.errors import CytoconvError, FormatError
from tests.conftest import make_image, write, yolo_dataset

GOOD = "0 0.1 0.1 0.5 0.1 0.5 0.5\n"


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cytoconv", *args], capture_output=True, text=True, timeout=timeout
    )


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge size and whose data is a few bytes: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_image_is_refused(tmp_path: Path) -> None:
    root = yolo_dataset(tmp_path / "ds", {"a": GOOD}, names=["cell"])
    (root / "images" / "a.png").write_bytes(_png_header(100_000, 100_000))
    started = time.perf_counter()
    done = cli("yolo2coco", str(root), str(tmp_path / "o.json"))
    assert done.returncode == 1 and time.perf_counter() - started < 10
    assert done.stderr.count("\n") == 1 and "a.png" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "o.json").exists()


def test_decompression_bomb_mask_is_refused(tmp_path: Path) -> None:
    make_image(tmp_path / "images" / "a.png", 10, 10)
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "a.png").write_bytes(_png_header(60_000, 60_000))
    with pytest.raises(FormatError) as info:
        cytoconv.read(tmp_path, fmt="masks")
    assert info.value.path is not None and info.value.path.endswith("a.png")


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"images": [], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [NaN, 0, 1, 1]}], '
        '"categories": []}',
        '{"images": [{"id": 1, "file_name": "a.jpg", "width": 1e999, "height": 5}], "categories": []}',
        '{"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}], "categories": [{"id": 1, "name": "c"}],'
        ' "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 1e308, 0, 1, Infinity]]}]}',
    ],
)
def test_hostile_json_is_one_line_error(tmp_path: Path, text: str) -> None:
    src = write(tmp_path / "in.json", text)
    done = cli("coco2yolo", str(src), str(tmp_path / "y"))
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and str(src) in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "y").exists()


def test_polygon_with_a_million_vertices_is_read(tmp_path: Path) -> None:
    import numpy as np

    angles = np.linspace(0, 2 * np.pi, 1_000_000, endpoint=False)
    xy = np.stack([0.5 + 0.4 * np.cos(angles), 0.5 + 0.4 * np.sin(angles)], axis=1).reshape(-1)
    root = yolo_dataset(
        tmp_path / "ds", {"a": "0 " + " ".join(f"{v:.6f}" for v in xy) + "\n"}, names=["cell"]
    )
    started = time.perf_counter()
    cytoconv.convert(root, tmp_path / "o.json", to="coco", jobs=1)
    assert time.perf_counter() - started < 30
    ann = json.loads((tmp_path / "o.json").read_text())["annotations"][0]
    assert len(ann["segmentation"][0]) == 2_000_000 and ann["area"] > 0


def test_symlink_loop_is_not_followed(tmp_path: Path) -> None:
    root = yolo_dataset(tmp_path / "ds", {"a": GOOD}, names=["cell"])
    os.symlink(root, root / "labels" / "loop")
    os.symlink(root / "images", root / "images" / "again")
    ds = cytoconv.read(root)
    assert len(ds.images) == 1


@pytest.mark.parametrize("name", ["../../escape.jpg", "/etc/passwd.jpg", "C:/x/y.jpg", "a\x00b.jpg"])
def test_file_names_from_the_data_never_leave_the_output(tmp_path: Path, name: str) -> None:
    doc = {
        "images": [{"id": 1, "file_name": name, "width": 10, "height": 10}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 5, 1, 5, 5]]}],
        "categories": [{"id": 1, "name": "cell"}],
    }
    src = write(tmp_path / "in.json", json.dumps(doc))
    for target in ("yolo", "masks", "instance-masks", "object-masks", "voc"):
        out = tmp_path / "out" / target
        done = cli("convert", str(src), str(out), "--to", target)
        assert done.returncode == 1, (target, done.stderr)
        assert "unsafe" in done.stderr and done.stderr.count("\n") == 1
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.name not in ("in.json",)]
    assert leftovers == []
    assert not (tmp_path.parent / "escape.txt").exists()


def test_class_names_from_the_data_never_leave_the_output(tmp_path: Path) -> None:
    root = yolo_dataset(tmp_path / "ds", {"a": GOOD}, names=["../../evil"])
    done = cli("crop", str(root), str(tmp_path / "crops"))
    assert done.returncode == 0 and "name-sanitised" in done.stderr  # made safe, and said so
    written = [p for p in tmp_path.rglob("*.png") if "crops" in p.parts]
    assert len(written) == 1 and written[0].parent.parent == tmp_path / "crops"
    assert not (tmp_path / "evil").exists() and not (tmp_path.parent / "evil").exists()


def test_output_that_is_the_input_is_refused(tmp_path: Path) -> None:
    root = yolo_dataset(tmp_path / "ds", {"a": GOOD}, names=["cell"])
    for dst in (root, root / "labels", root / "out.json"):
        done = cli("convert", str(root), str(dst), "--to", "yolo", "--overwrite")
        assert done.returncode == 2, done.stderr
    assert (root / "labels" / "a.txt").read_text() == GOOD
    cytoconv.convert(root, tmp_path / "box" / "ann.json", to="coco")
    for args in (
        ["coco2yolo", str(tmp_path / "box" / "ann.json"), str(tmp_path / "box")],
        ["draw", str(tmp_path / "box" / "ann.json"), str(tmp_path / "box")],
        ["yolo2coco", str(root), str(tmp_path / "o.json"), "--images", str(tmp_path / "o.json")],
    ):
        done = cli(*args, "--overwrite")
        assert done.returncode == 2 and "input" in done.stderr, done.stderr
    assert (tmp_path / "box" / "ann.json").is_file()  # --overwrite would have deleted it


def _big_dataset(root: Path, images: int = 4000) -> Path:
    line = "0 " + " ".join(["0.1 0.1 0.2 0.1 0.25 0.2 0.2 0.3 0.1 0.3"] * 8) + "\n"
    (root / "labels").mkdir(parents=True)
    for k in range(images):
        (root / "labels" / f"im{k:05d}.txt").write_text(line * 12)
    return root


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_nothing_behind(tmp_path: Path, sig: int) -> None:
    root = _big_dataset(tmp_path / "ds")
    out = tmp_path / "out.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cytoconv",
            "yolo2coco",
            str(root),
            str(out),
            "--image-size",
            "853x640",
            "-q",
            "--names",
            "cell",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 30
    while not any(p.name.startswith(".out.json") for p in tmp_path.iterdir()) and time.time() < deadline:
        time.sleep(0.02)  # wait until the output is being written
    time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip() == "cytoconv: interrupted; no output was left behind"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_sigkill_leaves_at_most_a_marked_temporary(tmp_path: Path) -> None:
    root = _big_dataset(tmp_path / "ds")
    out = tmp_path / "out.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cytoconv",
            "yolo2coco",
            str(root),
            str(out),
            "--image-size",
            "853x640",
            "-q",
            "--names",
            "cell",
            "-j",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 30
    while not any(p.name.startswith(".out.json") for p in tmp_path.iterdir()) and time.time() < deadline:
        time.sleep(0.02)
    proc.kill()
    proc.wait(timeout=30)
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "ds")
    assert not out.exists()
    assert all(".cytoconv-tmp-" in name for name in left)


def test_every_reader_error_is_a_cytoconv_error(tmp_path: Path) -> None:
    """Readers given a file of the wrong kind fail with a cytoconv error, not anything else."""
    junk = write(tmp_path / "junk" / "x.txt", b"\x00\xff\x00garbage")
    (tmp_path / "junk" / "x.json").write_bytes(b"\x00\xff")
    (tmp_path / "junk" / "x.xml").write_bytes(b"<a><b></a>")
    (tmp_path / "junk" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    paths = (junk.parent, junk, tmp_path / "junk" / "x.json", tmp_path / "missing")
    # The code of the error each reader raises on each of the paths; None: read without an error.
    expected = {
        "yolo": ("bad-image", "usage", "usage", "missing"),
        "coco": ("missing", "not-well-formed", "not-well-formed", "missing"),
        "voc": ("not-well-formed", "not-well-formed", "not-well-formed", "missing"),
        "folders": ("missing", "missing", "missing", "missing"),
        "manifest": ("missing", "not-well-formed", "not-well-formed", "missing"),
        "masks": ("label-without-image", "bad-image", "bad-image", "missing"),
        "instance-masks": ("label-without-image", "bad-image", "bad-image", "missing"),
        # A folder without any <id>/images/ sample is read as an empty dataset, not refused (a gap, not a crash).
        "object-masks": (None, "missing", "missing", "missing"),
    }
    got: dict[str, tuple[str | None, ...]] = {}
    for fmt in expected:
        codes: list[str | None] = []
        for path in paths:
            try:
                dataset = cytoconv.read(path, fmt=fmt, options=ReadOptions(image_size=(10, 10)))
            except CytoconvError as error:
                codes.append(error.code if isinstance(error, FormatError) else type(error).__name__)
                assert str(path) in str(error) and "\n" not in str(error), (fmt, path, str(error))
            else:
                codes.append(None)
                assert dataset.images == [], (fmt, path)  # nothing made up from the junk
        got[fmt] = tuple(codes)
    assert got == expected
