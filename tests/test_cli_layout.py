"""The command line's layout: each command module stands alone, the shortcuts and ``resample`` are built from
``convert``'s own option declarations, choices are checked by the parser, and the CLI-only defaults of the
past (the resampling target, ``--images-out``) are the library's."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from enum import Enum
from pathlib import Path
from typing import get_args, get_type_hints

import pytest

from tests.conftest import BALF_SAMPLE
from tests.conftest import run_cli as run

COMMAND_MODULES = {
    "cytoconv.cli.convert": ("convert", "formats_command", "resample_command", "shortcut_command"),
    "cytoconv.cli.cells": ("crop_command", "split_command"),
    "cytoconv.cli.stats": ("stats_command", "draw_command"),
    "cytoconv.cli.validate": ("validate_command",),
}


@pytest.mark.parametrize("module", sorted(COMMAND_MODULES))
def test_each_command_module_imports_alone(module: str) -> None:
    """In a fresh interpreter, without the assembled app: the commands are module-level functions."""
    names = COMMAND_MODULES[module]
    script = (
        f"import sys, {module} as m\n"
        f"assert 'cytoconv.cli.app' not in sys.modules, 'imported the app'\n"
        f"missing = [n for n in {names!r} if not callable(getattr(m, n, None))]\n"
        "assert not missing, missing\n"
        "assert m.app.registered_commands\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_building_the_cli_imports_no_dataset_model() -> None:
    """``--help`` costs typer, not pydantic or the formats' readers: the library is imported when a command runs."""
    script = "import sys, cytoconv.cli.app\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert not {
        m for m in loaded if m in ("cytoconv.ir", "cytoconv.api", "cytoconv.engine.contract", "pydantic")
    }


def test_shortcuts_and_resample_share_converts_options() -> None:
    from cytoconv.cli.convert import convert_command, resample_command, shortcut_command

    convert = {p.name: p for p in convert_command().params}
    shortcut = {p.name: p for p in shortcut_command("coco", "voc").params}
    resample = {p.name: p for p in resample_command().params}
    assert set(shortcut) == set(convert) - {"to", "from_"}
    assert all(shortcut[name] is convert[name] for name in shortcut)  # the same declarations, not copies
    assert set(resample) == set(convert)
    assert convert["to"].required and not resample["to"].required


def test_help_lists_resample_after_convert_and_the_featured_shortcuts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cytoconv.cli.convert import FEATURED

    code, out, _ = run(["--help"], capsys)
    assert code == 0
    assert out.index("convert ") < out.index("resample ") < out.index("formats ")
    assert all(name in out for name in FEATURED)
    assert "coco2masks" in out and "voc2masks" not in out  # every other x2y works but is not listed


def test_a_shortcut_not_featured_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cytoconv.cli.convert import FEATURED, SHORTCUTS

    assert "coco2voc" in SHORTCUTS
    code, _, _ = run(["yolo2coco", str(BALF_SAMPLE), str(tmp_path / "balf.json"), "-q"], capsys)
    assert code == 0
    assert "coco2manifest" in SHORTCUTS and "coco2manifest" not in FEATURED
    code, _, err = run(["coco2voc", str(tmp_path / "balf.json"), str(tmp_path / "voc")], capsys)
    assert code == 0 and "20 images (1 without objects), 108 objects" in err
    xml_files = sorted((tmp_path / "voc" / "Annotations").glob("*.xml"))
    assert len(xml_files) == 20
    assert sum(len(ET.parse(f).findall("object")) for f in xml_files) == 108
    code, _, err = run(["coco2manifest", str(tmp_path / "balf.json"), str(tmp_path / "m.csv"), "-q"], capsys)
    assert code == 0, err
    code, _, err = run(
        ["coco2voc", str(tmp_path / "balf.json"), str(tmp_path / "v2"), "--to", "yolo"], capsys
    )
    assert code == 2 and "--to" in err  # a shortcut fixes --from and --to


@pytest.mark.parametrize(
    "args",
    [
        ["convert", "{src}", "{dst}", "--to", "coco", "--task", "nope"],
        ["yolo2coco", "{src}", "{dst}", "--holes", "fill-in"],
        ["resample", "{src}", "{dst}", "--scale", "2", "--filter", "LANCZOS"],
        ["stats", "{src}", "--connectivity", "6"],
        ["crop", "{src}", "{dst}", "--instances", "per_class"],
        ["validate", "{src}", "--format", "xml"],
    ],
)
def test_a_bad_choice_is_bad_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    filled = [a.format(src=BALF_SAMPLE, dst=tmp_path / "out") for a in args]
    code, out, err = run(filled, capsys)
    option = next(a for a in args if a.startswith("--") and a not in ("--to", "--scale"))
    assert code == 2 and out == "" and option in err
    assert not (tmp_path / "out").exists()


def test_choices_match_the_library() -> None:
    """The Enums spell the library's Literal values, so that a new value there fails here, not at a user."""
    from cytoconv.cli import options
    from cytoconv.engine.contract import ReadOptions, WriteOptions
    from cytoconv.ops.resample import RESAMPLING_FILTERS

    read, written = get_type_hints(ReadOptions), get_type_hints(WriteOptions)

    def values(enum: type[Enum]) -> tuple[str, ...]:
        return tuple(member.value for member in enum)

    assert values(options.Task) == get_args(written["task"])
    assert values(options.Parts) == get_args(written["parts"])
    assert values(options.Holes) == get_args(written["holes"])
    assert values(options.Segmentation) == get_args(written["segmentation"])
    assert set(get_args(read["mask_geometry"])) == set(values(options.Segmentation)) - {"auto"}
    assert values(options.Instances) == get_args(read["instances"])
    assert tuple(int(v) for v in values(options.Connectivity)) == get_args(read["connectivity"])
    assert values(options.ImageFilter) == RESAMPLING_FILTERS


def test_read_options_built_in_one_place() -> None:
    from cytoconv.cli.options import Connectivity, Instances, Segmentation, read_options
    from cytoconv.engine.contract import ReadOptions

    assert read_options(names=None, images=None, image_size=None, exif=True) == ReadOptions()
    built = read_options(
        names="a, b",
        images=None,
        image_size="853x640",
        exif=False,
        instances=Instances.PER_CLASS,
        connectivity=Connectivity.FOUR,
        segmentation=Segmentation.RLE,
    )
    assert built == ReadOptions(
        names=("a", "b"),
        image_size=(853, 640),
        apply_exif_orientation=False,
        instances="per-class",
        connectivity=4,
        mask_geometry="rle",
    )


# --- the defaults that once lived only in the CLI --------------------------------------------------------


def test_default_images_out_is_the_librarys(tmp_path: Path) -> None:
    from cytoconv import api

    assert api.default_images_out(tmp_path / "out") == tmp_path / "out" / "images"
    assert api.default_images_out(tmp_path / "out.json") == tmp_path / "out_images"
    api.resample(
        BALF_SAMPLE, tmp_path / "small.json", api.resample_target(max_side=200), to="coco", images_out=True
    )
    images = sorted(p.name for p in (tmp_path / "small_images").iterdir())
    assert len(images) == 20
    data = json.loads((tmp_path / "small.json").read_text())
    assert max(max(im["width"], im["height"]) for im in data["images"]) == 200


def test_resample_target_checks_what_target_size_does_not(tmp_path: Path) -> None:
    from cytoconv import api
    from cytoconv.errors import UsageError

    assert api.resample_target(size=(853, 640)).size == (853, 640)
    assert api.resample_target(scale=0.5).scale == 0.5
    for kwargs, words in [
        ({}, "needs"),
        ({"scale": 2.0, "max_side": 9}, "only one"),
        ({"scale": 0.0}, "positive"),
        ({"size": (0, 5)}, "positive"),
        ({"max_side": 0}, "at least 1"),
    ]:
        with pytest.raises(UsageError, match=words):
            api.resample_target(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="--filter"):
        api.resample(BALF_SAMPLE, tmp_path / "x", api.resample_target(scale=2.0), image_filter="sharp")


def test_placing_images_is_refused_for_a_target_that_cannot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import run_cli

    out = tmp_path / "c.json"
    code, _, err = run_cli(["convert", str(BALF_SAMPLE), str(out), "--to", "coco", "--copy-images"], capsys)
    assert code == 2 and not out.exists()
    assert err.strip() == "cytoconv: error: --copy-images lays images out for YOLO output, not coco"
