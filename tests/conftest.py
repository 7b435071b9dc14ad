"""Shared test helpers: where the fixtures and the real public samples are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
BALF_SAMPLE = FIXTURES / "balf_sample"
REAL = Path(os.environ.get("CYTOCONV_REAL", ROOT.parent / "shared" / "real"))


def real(name: str) -> Path:
    """A folder of ../shared/real; missing: a failure under CI (CI=true), a skip elsewhere."""
    path = REAL / name
    if not path.exists():
        message = f"real sample {path} is missing (../shared/real must sit beside the repository)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
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


def yolo_dataset(root: Path, labels: dict[str, str], size: tuple[int, int] = (100, 80),
                 names: list[str] | None = None) -> Path:
    """A tiny ultralytics-layout dataset: images/<stem>.png and labels/<stem>.txt."""
    for stem, text in labels.items():
        make_image(root / "images" / f"{stem}.png", *size)
        write(root / "labels" / f"{stem}.txt", text)
    if names is not None:
        write(root / "data.yaml", "names: [" + ", ".join(repr(n) for n in names) + "]\n")
    return root


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The console entry point called in-process: (exit code, stdout, stderr)."""
    from cytoconv.entry import main

    try:
        main(args)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
