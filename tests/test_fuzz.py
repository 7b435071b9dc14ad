"""Fuzzing every reader: whatever bytes it is given, it reads them or raises a cytoconv error.

Each case copies a small real sample, mutates one annotation file (flipped, deleted and inserted
bytes, truncation at structural boundaries, numbers replaced by NaN, inf, 1e308, -0 or huge
integers, BOMs and other encodings, duplicated, reordered and emptied elements) and reads it. The
budget is fixed and seeded so that CI is repeatable; ``CYTOCONV_FUZZ_EXAMPLES=N`` runs N cases per
reader instead, for a deeper run.
"""

from __future__ import annotations

import functools
import os
import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import cytoconv
from cytoconv.api import ReadOptions
from cytoconv.errors import CytoconvError, Report
from cytoconv.formats.masks.maskio import parse_class_map
from tests.conftest import BALF_SAMPLE, real

EXAMPLES = int(os.environ.get("CYTOCONV_FUZZ_EXAMPLES", "200"))
NUMBER = re.compile(rb"-?\d+(\.\d+)?([eE][-+]?\d+)?")
EVIL_NUMBERS = [
    b"NaN",
    b"nan",
    b"inf",
    b"-Infinity",
    b"1e308",
    b"1e999",
    b"-0",
    b"-0.0",
    b"99999999999999999999999",
    b"0x1F",
    b"1_000",
    b"",
    b"--1",
    b"1e",
    b".",
    b"\x00",
    b"\xff\xfe",
]
STRUCTURE = [b"\n", b" ", b",", b":", b"{", b"}", b"[", b"]", b"<", b">", b"/", b'"']


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random damage of the kinds a real file suffers."""
    kind = rng.randrange(9)
    if not data:
        return rng.choice([b"\xef\xbb\xbf", b"\x00", b"{", b"0 0.5"])
    if kind == 0:  # flip bytes
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] = rng.randrange(256)
        return bytes(out)
    if kind == 1:  # truncate at a structural boundary
        cuts = [i for i, b in enumerate(data) if bytes([b]) in STRUCTURE] or [len(data) // 2]
        return data[: rng.choice(cuts)]
    if kind == 2:  # delete a run
        i = rng.randrange(len(data))
        return data[:i] + data[i + rng.randint(1, 40) :]
    if kind == 3:  # numbers replaced by evil ones
        matches = list(NUMBER.finditer(data))
        if not matches:
            return data + rng.choice(EVIL_NUMBERS)
        out = data
        for m in rng.sample(matches, min(len(matches), rng.randint(1, 5)))[::-1]:
            out = out[: m.start()] + rng.choice(EVIL_NUMBERS) + out[m.end() :]
        return out
    if kind == 4:  # encodings and BOMs
        text = data.decode("utf-8", "replace")
        return rng.choice(
            [
                b"\xef\xbb\xbf" + data,
                b"\xff\xfe" + text.encode("utf-16-le"),
                text.encode("utf-16"),
                text.encode("latin-1", "replace") + b"\xe9\xff",
            ]
        )
    lines = data.split(b"\n")
    if kind == 5:  # duplicate lines
        i = rng.randrange(len(lines))
        lines[i:i] = [lines[i]] * rng.randint(1, 3)
    elif kind == 6:  # reorder lines
        rng.shuffle(lines)
    elif kind == 7:  # empty some lines / elements
        for _ in range(rng.randint(1, 3)):
            lines[rng.randrange(len(lines))] = b""
    else:  # insert structural noise
        i = rng.randrange(len(data))
        return data[:i] + bytes(rng.choice(STRUCTURE)) * rng.randint(1, 50) + data[i:]
    return b"\n".join(lines)


def _check(read: Callable[[], object]) -> object | None:
    """What ``read`` returned, or None when it raised a cytoconv error (any other exception propagates)."""
    try:
        return read()
    except CytoconvError:
        return None


def _fuzz(
    tmp_path: Path, build: Callable[[Path], list[Path]], read: Callable[[Path], object], seed: int
) -> None:
    """``EXAMPLES`` damaged copies of a sample each read or raise a cytoconv error, and the damage is seen: the
    undamaged copy reads (with images), and some damaged copies fail or read as something else."""
    from pydantic import BaseModel

    def view(dataset: object) -> dict[str, object]:
        assert isinstance(dataset, BaseModel)
        return dataset.model_dump(mode="json", exclude={"image_root", "info"})  # info names the case's folder

    build(tmp_path / "undamaged")
    undamaged = view(read(tmp_path / "undamaged"))
    assert undamaged["images"], f"seed {seed}: the undamaged sample reads as no images"
    rng = random.Random(seed)
    outcomes = {"error": 0, "changed": 0, "same": 0}
    for case in range(EXAMPLES):
        root = tmp_path / f"case{case}"
        targets = build(root)
        target = rng.choice(targets)
        target.write_bytes(mutate(target.read_bytes(), rng))
        try:
            result = _check(functools.partial(read, root))
        except Exception as exc:
            pytest.fail(
                f"case {case} (seed {seed}): {target.name} made the reader raise "
                f"{exc.__class__.__name__}: {exc}"
            )
        outcome = "error" if result is None else "same" if view(result) == undamaged else "changed"
        outcomes[outcome] += 1
        shutil.rmtree(root)
    assert outcomes["error"] + outcomes["changed"] > 0, (
        f"seed {seed}: no damaged copy failed or read differently from the undamaged one, so the damage never "
        f"reached the reader: {outcomes}"
    )


def _copy(src: Path, dest: Path, pattern: str = "*", limit: int = 3) -> list[Path]:
    dest.mkdir(parents=True)
    copied = []
    for f in sorted(src.glob(pattern))[:limit]:
        shutil.copy(f, dest / f.name)
        copied.append(dest / f.name)
    return copied


def test_fuzz_yolo(tmp_path: Path) -> None:
    def build(root: Path) -> list[Path]:
        _copy(BALF_SAMPLE / "images", root / "images", "*.jpg", 3)
        labels = _copy(BALF_SAMPLE / "labels", root / "labels", "*.txt", 3)
        shutil.copy(BALF_SAMPLE / "data.yaml", root / "data.yaml")
        return [*labels, root / "data.yaml"]

    _fuzz(tmp_path, build, lambda root: cytoconv.read(root, fmt="yolo", report=Report(strict=False)), 1)
    _fuzz(tmp_path / "strict", build, lambda root: cytoconv.read(root, fmt="yolo"), 2)


def test_fuzz_coco(tmp_path: Path) -> None:
    src = real("rbc_coco_roboflow") / "test"

    def build(root: Path) -> list[Path]:
        root.mkdir(parents=True)
        shutil.copy(src / "_annotations.coco.json", root / "_annotations.coco.json")
        return [root / "_annotations.coco.json"]

    _fuzz(
        tmp_path,
        build,
        lambda root: cytoconv.read(root / "_annotations.coco.json", fmt="coco", report=Report(strict=False)),
        3,
    )


def test_fuzz_coco_written_by_cytoconv(tmp_path: Path) -> None:
    cytoconv.convert(BALF_SAMPLE, tmp_path / "seed.json", to="coco", jobs=1)

    def build(root: Path) -> list[Path]:
        root.mkdir(parents=True)
        shutil.copy(tmp_path / "seed.json", root / "c.json")
        return [root / "c.json"]

    _fuzz(tmp_path / "runs", build, lambda root: cytoconv.read(root / "c.json", fmt="coco"), 4)


def test_fuzz_voc(tmp_path: Path) -> None:
    src = real("bccd_voc") / "BCCD"

    def build(root: Path) -> list[Path]:
        _copy(src / "JPEGImages", root / "JPEGImages", "*.jpg", 2)
        return _copy(src / "Annotations", root / "Annotations", "*.xml", 2)

    _fuzz(tmp_path, build, lambda root: cytoconv.read(root, fmt="voc", report=Report(strict=False)), 5)


def test_fuzz_masks(tmp_path: Path) -> None:
    src = real("segmentation_wbc") / "Dataset 1"
    options = ReadOptions(mask_classes=parse_class_map("wbc"))

    def build(root: Path) -> list[Path]:
        _copy(src, root, "00[12].bmp", 2)
        return [p for p in _copy(src, root / "masks", "00[12].png", 2)]

    def read(root: Path) -> object:
        (root / "images").mkdir(exist_ok=True)
        for bmp in root.glob("*.bmp"):
            bmp.rename(root / "images" / bmp.name)
        return cytoconv.read(root, fmt="masks", options=options, report=Report(strict=False))

    _fuzz(tmp_path, build, read, 6)


def test_fuzz_instance_and_object_masks(tmp_path: Path) -> None:
    src = real("dsb2018_stage1_test_masks") / "stage1_test"
    sample = sorted(p for p in src.iterdir() if p.is_dir())[4]

    def build(root: Path) -> list[Path]:
        shutil.copytree(sample, root / sample.name)
        return sorted((root / sample.name / "masks").glob("*.png"))[:3]

    _fuzz(
        tmp_path, build, lambda root: cytoconv.read(root, fmt="object-masks", report=Report(strict=False)), 7
    )


def test_fuzz_folders_and_manifest(tmp_path: Path) -> None:
    src = real("pbc_classfolders") / "PBC_dataset_normal_DIB"

    def build(root: Path) -> list[Path]:
        files = []
        for cls in ("basophil", "platelet"):
            files += _copy(src / cls, root / cls, "*.jpg", 2)
        return files

    _fuzz(tmp_path, build, lambda root: cytoconv.read(root, fmt="folders", report=Report(strict=False)), 8)


def test_mutations_are_repeatable() -> None:
    data = b"0 0.1 0.2 0.3 0.4 0.5 0.6\n1 0.5 0.5 0.1 0.1\n"
    assert [mutate(data, random.Random(9)) for _ in range(3)] == [
        mutate(data, random.Random(9)) for _ in range(3)
    ]
