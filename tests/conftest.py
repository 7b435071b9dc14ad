"""Shared test helpers: where the fixtures and the real public samples are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
BALF_SAMPLE = FIXTURES / "balf_sample"
ASSETS = Path(__file__).resolve().parent / "assets"
# The real public samples, vendored from ../shared/real (see tests/assets/README.md); CYTOCONV_REAL overrides.
REAL = Path(os.environ.get("CYTOCONV_REAL", ASSETS / "real"))


FILE_SUFFIX = {"points-csv": ".csv", "cvat": ".xml"}  # a format whose output is one file: its usual suffix


def output_suffix(name: str) -> str:
    """The suffix of a format's output in the registry-wide tests: none for a folder output, else the file's."""
    from cytoconv.formats import FORMATS

    return "" if FORMATS[name].output_is_dir else FILE_SUFFIX.get(name, ".json")


def real(name: str) -> Path:
    """A folder of the vendored real samples, tests/assets/real/<name>; missing: a test failure."""
    path = REAL / name
    if not path.exists():
        pytest.fail(f"real sample {path} is missing (vendored under tests/assets/real, or CYTOCONV_REAL)")
    return path


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def make_image(path: Path, width: int, height: int) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), (200, 180, 190)).save(path)
    return path


def yolo_dataset(
    root: Path, labels: dict[str, str], size: tuple[int, int] = (100, 80), names: list[str] | None = None
) -> Path:
    """A tiny ultralytics-layout dataset: images/<stem>.png and labels/<stem>.txt."""
    for stem, text in labels.items():
        make_image(root / "images" / f"{stem}.png", *size)
        write(root / "labels" / f"{stem}.txt", text)
    if names is not None:
        write(root / "data.yaml", "names: [" + ", ".join(repr(n) for n in names) + "]\n")
    return root


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The console entry point called in-process: (exit code, stdout, stderr)."""
    from cytoconv.cli.entry import main

    try:
        main(args)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
