"""The registry contract: every format names the modules that read, write and check it, and each checker has
the API ``cytoconv validate`` calls; ``validate`` finds no error in what cytoconv itself writes."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import cytoconv
from cytoconv.formats import FORMATS
from cytoconv.validate import Settings, validate
from tests.conftest import BALF_SAMPLE, output_suffix, real

CHECKED = [name for name, info in FORMATS.items() if info.checker is not None]


def test_every_format_names_its_reader_and_writer_modules() -> None:
    for info in FORMATS.values():
        module = info.load()
        assert callable(module.detect) and callable(module.plan) and callable(module.load)
        if info.writes:
            assert callable(info.writer())


@pytest.mark.parametrize("name", CHECKED)
def test_every_checker_has_the_validator_api(name: str) -> None:
    checker = FORMATS[name].check_module()
    assert isinstance(checker.TEXT, bool)
    assert checker.CLASS_LIST in (None, "required", "optional")
    for function, arity in (("claims", 1), ("single", 3), ("discover", 3), ("check", 3)):
        assert len(inspect.signature(getattr(checker, function)).parameters) == arity


@pytest.mark.parametrize("name", [n for n in CHECKED if n != "folders"])
def test_validate_finds_no_error_in_what_cytoconv_writes(tmp_path: Path, name: str) -> None:
    points_only = name.startswith("points-")  # these hold cell centres only: the Chula sample's points
    dataset = cytoconv.read(real("chula_rbc12_points") if points_only else BALF_SAMPLE)
    dest = tmp_path / (name + output_suffix(name))
    cytoconv.write(dataset, dest, to=name)
    report = validate([dest], Settings(), fmt=name, jobs=1)
    assert report.checked >= len(dataset.images) or not FORMATS[name].output_is_dir  # one file, many images
    errors = [f"{f.path}:{f.line}: {f.code} {f.message}" for f in report.findings if f.severity == "error"]
    assert errors == []
