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


@pytest.mark.parametrize(
    ("name", "needs"),
    [
        ("labelme", "LabelMe needs one JSON file per image"),
        ("qupath", "QuPath needs one GeoJSON file per image"),
        ("imagej", "one ROI set per image"),
        ("aperio", "Aperio ImageScope XML needs one XML file per image"),
        ("asap", "ASAP XML needs one XML file per image"),
    ],
)
def test_file_per_image_writers_refuse_two_images_of_one_stem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, needs: str
) -> None:
    """a.png and a.jpg would both be written to a.<suffix>: the second is refused, named, and nothing is left."""
    import json

    from tests.conftest import run_cli

    images = [{"id": i, "file_name": f, "width": 20, "height": 10} for i, f in ((1, "a.png"), (2, "a.jpg"))]
    ring = [2, 2, 8, 2, 8, 6, 2, 6]
    anns = [
        {
            "id": i,
            "image_id": i,
            "category_id": 1,
            "segmentation": [ring],
            "area": 24,
            "bbox": [2, 2, 6, 4],
            "iscrowd": 0,
        }
        for i in (1, 2)
    ]
    src = tmp_path / "in.json"
    src.write_text(
        json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "cell"}]})
    )
    code, _, err = run_cli(["convert", str(src), str(tmp_path / "out"), "--to", name, "-j", "1"], capsys)
    assert code == 1
    assert f"a.jpg: another image has the path 'a' without its suffix: {needs}" in err
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.json"]
