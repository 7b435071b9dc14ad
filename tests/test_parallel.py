"""--jobs N gives byte-identical output to --jobs 1, for every writer and for stats."""

from __future__ import annotations

from pathlib import Path

import pytest

import cytoconv
from cytoconv.engine import pipeline
from cytoconv.formats import FORMATS
from tests.conftest import BALF_SAMPLE, output_suffix, real

CLASSIFICATION_ONLY = {"folders", "manifest"}


def _tree(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("to", sorted(set(FORMATS) - CLASSIFICATION_ONLY))
def test_jobs_do_not_change_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, to: str) -> None:
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_UNITS", 0)  # processes even for 20 images
    suffix = output_suffix(to)
    one, two = tmp_path / f"one{suffix}", tmp_path / f"two{suffix}"
    source = real("chula_rbc12_points") if to.startswith("points-") else BALF_SAMPLE  # points only
    cytoconv.convert(source, one, to=to, jobs=1)
    cytoconv.convert(source, two, to=to, jobs=2)
    assert _tree(one) == _tree(two)
    assert _tree(one)
