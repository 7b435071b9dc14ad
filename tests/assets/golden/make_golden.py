"""Write ``outputs.json``: the hash of every file the public commands write on the shipped samples.

Each case runs ``python -m cytoconv ...`` (the public CLI, never an internal module) in a subprocess on
``fixtures/balf_sample`` or a vendored real sample (``tests/assets/real``), with ``--jobs 1``, and hashes
every file it wrote plus each step's exit code and stdout. ``tests/test_golden.py`` reruns the cases with the
code under test and compares the hashes, so a refactoring that changes any output byte fails.

stderr (the human summary and its examples) is written to the log but not hashed: the redesign gave every
problem one slug (``cytoconv.problems``), so a summary line reads ``skipped 2 x zero-area-box`` where it read
``empty-box``, and its examples now carry the XML line. For the same reason the slugs that were renamed are
mapped to their new names (``RENAMED``) in printed data (``stats --json`` counts what it skipped by slug).

History: first generated with the code before the redesign (commit 67c524b), to show that the redesign changed
no output; regenerated after the real-world-layouts work, whose deliberate changes it then showed and nothing
else (YOLO ``data.yaml`` with ``train``/``val`` for ultralytics and Roboflow's ``valid`` written as ``val``;
BCCD's two 1-pixel VOC boxes kept; ``stats``/``validate`` JSON of BCCD accordingly); regenerated after the
point annotations, whose deliberate changes it showed and nothing else: ``cytoconv formats`` lists points-txt
and points-csv, and ``stats --json`` is schema version 2 (``geometry.point`` and per-class ``points`` added;
with those keys removed and the version set back to 1, the five outputs hash as before); regenerated after the
general annotation tools' formats, whose one deliberate change it showed: ``cytoconv formats`` lists cvat,
labelme and labelstudio; and after the microscopy tools' formats, the same one change (qupath, imagej,
cellpose, aperio, asap listed).

Generate it with the code the outputs must stay identical to (``cytoconv`` is imported from ``sys.path``,
and the subprocesses get the same ``cytoconv`` through ``PYTHONPATH``)::

    PYTHONPATH=/path/to/original/checkout .venv/bin/python tests/assets/golden/make_golden.py

Hashes are stable on one machine across runs: text (JSON, txt, XML, CSV, YAML, printed output) is hashed
after replacing the repository and output folders by ``<ROOT>`` and ``<OUT>`` and the cytoconv version by
``<VERSION>`` (and, in printed output only, dropping the blanks rich pads lines with); images (PNG, TIFF, JPEG, ...) are hashed as decoded pixels (mode,
size, dtype, shape and the array's bytes), not as file bytes, so an encoder's metadata does not count.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

import cytoconv

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = Path(__file__).resolve().with_name("outputs.json")
IMAGE_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".webp", ".gif"})

BALF = "{root}/fixtures/balf_sample"
REAL = "{root}/tests/assets/real"
BCCD = f"{REAL}/bccd_voc/BCCD"
WBC = f"{REAL}/segmentation_wbc/Dataset 1"
PBC = f"{REAL}/pbc_classfolders/PBC_dataset_normal_DIB"
TXL = f"{REAL}/txl_pbc_yolo/TXL_PBC"
RBC_COCO = f"{REAL}/rbc_coco_roboflow"
CELL_SEG = f"{REAL}/cell_seg_yolov8_roboflow"
CHULA = f"{REAL}/chula_rbc_diseases_classfolders/RBC Diseases"
STARDIST = f"{REAL}/stardist_dsb_label_tif/stardist/data/images"
OMNIPOSE = f"{REAL}/omnipose_cp_masks/docs/test_files"
DSB = f"{REAL}/dsb2018_stage1_test_masks/stage1_test"
BBBC039 = f"{REAL}/bbbc039_deeptrack/cell nuclei"

Step = tuple[str, ...]
"""One CLI call: the arguments after ``python -m cytoconv``, ``{root}`` filled in; run in the case's output
folder, so relative paths are outputs (short and the same in every run: rich wraps long ones)."""

# Case name -> the CLI calls it makes, in order, writing in its output folder. "--jobs 1" is added to every
# call of a command that takes it. A case's later steps may read what its earlier steps wrote.
CASES: dict[str, tuple[Step, ...]] = {
    # YOLO polygons (BALF) to every format.
    "balf-yolo2coco": (("yolo2coco", BALF, "balf.json"),),
    "balf-yolo2coco-rle": (("convert", BALF, "balf.json", "--to", "coco", "--segmentation", "rle"),),
    "balf-yolo2coco2yolo": (("yolo2coco", BALF, "balf.json"), ("coco2yolo", "balf.json", "yolo")),
    "balf-yolo-det": (("convert", BALF, "det", "--to", "yolo-det"),),
    "balf-yolo2voc": (("yolo2voc", BALF, "voc"),),
    "balf-coco2mask-formats": (
        ("yolo2coco", BALF, "balf.json"),
        ("coco2masks", "balf.json", "masks", "--images", f"{BALF}/images"),
        ("convert", "balf.json", "inst", "--to", "instance-masks", "--images", f"{BALF}/images"),
        ("convert", "balf.json", "obj", "--to", "object-masks", "--images", f"{BALF}/images"),
    ),
    "balf-instance-masks2coco": (
        ("convert", BALF, "inst", "--to", "instance-masks"),
        (
            "convert",
            "inst",
            "back.json",
            "--from",
            "instance-masks",
            "--to",
            "coco",
            "--images",
            f"{BALF}/images",
        ),
    ),
    # Real YOLO, COCO and VOC samples.
    "cellseg-yolo2coco": (("yolo2coco", CELL_SEG, "c.json"),),
    "txl-yolo2coco": (("yolo2coco", TXL, "c.json"),),
    "rbc-coco2yolo": (("coco2yolo", RBC_COCO, "y"),),
    "rbc-coco2yolo-det2coco": (
        ("convert", RBC_COCO, "y", "--to", "yolo-det"),
        ("yolo2coco", "y", "b.json", "--images", RBC_COCO),
    ),
    "bccd-voc2coco": (("voc2coco", BCCD, "bccd.json", "--lenient"),),
    "bccd-voc2coco-strict": (("voc2coco", BCCD, "bccd.json"),),
    "bccd-voc2yolo": (("voc2yolo", BCCD, "y", "--lenient"),),
    "bccd-voc2coco2voc": (
        ("voc2coco", BCCD, "bccd.json", "--lenient"),
        ("coco2voc", "bccd.json", "voc", "--images", f"{BCCD}/JPEGImages"),
    ),
    # Masks of the three kinds.
    "wbc-masks2coco": (("masks2coco", WBC, "wbc.json", "--classes", "wbc"),),
    "wbc-masks2coco-rle": (("masks2coco", WBC, "wbc.json", "--classes", "wbc", "--segmentation", "rle"),),
    "wbc-masks2yolo": (
        ("masks2yolo", WBC, "y", "--classes", "wbc", "--holes", "bridge", "--parts", "split"),
    ),
    "wbc-coco2masks": (
        ("masks2coco", WBC, "wbc.json", "--classes", "wbc"),
        ("coco2masks", "wbc.json", "m", "--images", WBC, "--classes", "wbc"),
    ),
    "bbbc039-masks2coco": (
        ("convert", BBBC039, "n.json", "--from", "masks", "--to", "coco", "--channel", "R"),
    ),
    "stardist-instance-masks2coco": (
        ("convert", STARDIST, "s.json", "--from", "instance-masks", "--to", "coco", "--images", STARDIST),
    ),
    "omnipose-instance-masks2coco": (
        ("convert", OMNIPOSE, "c.json", "--from", "instance-masks", "--to", "coco"),
    ),
    "dsb-object-masks2coco": (("object-masks2coco", DSB, "dsb.json", "--names", "nucleus"),),
    "dsb-object-masks2coco-rle": (
        ("convert", DSB, "dsb.json", "--from", "object-masks", "--to", "coco", "--segmentation", "rle"),
    ),
    # Class folders and manifests.
    "pbc-folders2manifest-csv": (("folders2manifest", PBC, "pbc.csv"),),
    "pbc-folders2manifest-json": (("folders2manifest", PBC, "pbc.json"),),
    "pbc-folders2coco": (("folders2coco", PBC, "pbc.json"),),
    "chula-folders2folders": (("convert", CHULA, "copy", "--from", "folders", "--to", "folders"),),
    # Looking at datasets.
    "stats-json": (
        ("stats", BALF, "--json"),
        ("stats", BCCD, "--json", "--lenient"),
        ("stats", PBC, "--json"),
        ("stats", RBC_COCO, "--json", "--pixel-size", "0.25"),
        ("stats", WBC, "--json", "--classes", "wbc"),
    ),
    "stats-csv-and-table": (("stats", BALF, "--csv"), ("stats", TXL)),
    "validate-json": (
        ("validate", TXL, "--format", "json"),
        ("validate", BCCD, "--format", "json"),
        ("validate", CELL_SEG, "--format", "json"),
        ("validate", BALF, "--format", "json"),
        ("validate", DSB, "--format", "json"),
    ),
    "formats": (("formats",),),
    "draw": (("draw", BALF, "drawn", "--limit", "3"),),
    # Crops, splits, resampling.
    "balf-crop": (("crop", BALF, "cells", "--padding", "10%", "--square", "--size", "48x48"),),
    "balf-crop-masked": (("crop", BALF, "cells", "--mask-background", "black", "--ext", "jpg"),),
    "cellseg-crop": (("crop", CELL_SEG, "cells", "--padding", "2", "--mask-background", "white"),),
    "pbc-split": (("split", PBC, "s", "--ratios", "0.8,0.1,0.1", "--seed", "1"),),
    "pbc-split-manifest": (
        ("split", PBC, "s.csv", "--ratios", "0.6,0.2,0.2", "--seed", "11", "--to", "manifest"),
    ),
    "bccd-split-voc": (("split", BCCD, "voc", "--seed", "3", "--lenient"),),
    "bccd-split-coco": (("split", BCCD, "coco", "--to", "coco", "--seed", "3", "--lenient"),),
    "balf-split-yolo": (("split", BALF, "s", "--seed", "2", "--ratios", "0.5,0.25,0.25"),),
    "balf-resample-coco": (
        ("yolo2coco", BALF, "balf.json"),
        ("resample", "balf.json", "big.json", "--to-size", "4912x3684"),
        ("resample", "big.json", "small.json", "--sizes-from", f"{BALF}/images"),
    ),
    "balf-resample-images": (("resample", BALF, "r", "--to-size", "426x320", "--resize-images"),),
    "balf-convert-to-size-clip": (
        ("convert", BALF, "v.json", "--to", "coco", "--to-size", "600x400", "--clip"),
    ),
    "wbc-resample-rle": (
        ("masks2coco", WBC, "wbc.json", "--classes", "wbc", "--segmentation", "rle"),
        ("resample", "wbc.json", "x2.json", "--scale", "2"),
    ),
    "bccd-resample-max-side": (
        ("resample", BCCD, "b", "--max-side", "320", "--to", "coco", "--clip", "--lenient"),
    ),
}

NO_JOBS = frozenset({"formats"})
"""Commands without a ``--jobs`` option."""


def environment() -> dict[str, str]:
    """The subprocesses' environment: this process's cytoconv first on PYTHONPATH, plain wide output."""
    source = str(Path(cytoconv.__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CYTOCONV_", "FORCE_COLOR", "PY_COLORS"))}
    env["PYTHONPATH"] = os.pathsep.join([source, *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(
        {
            "COLUMNS": "1000",
            "LINES": "100",
            "NO_COLOR": "1",
            "TERM": "dumb",
            "LC_ALL": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8",
        }
    )
    return env


def check_source(env: Mapping[str, str]) -> str:
    """The cytoconv the subprocesses import; it must be the one this process imported."""
    here = str(Path(cytoconv.__file__).resolve())
    done = subprocess.run(
        [sys.executable, "-c", "import cytoconv; print(cytoconv.__file__)"],
        env=dict(env),
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    there = str(Path(done.stdout.strip()).resolve())
    if there != here:
        raise RuntimeError(f"the CLI subprocesses import {there}, not {here}: check PYTHONPATH")
    return here


def normalise(text: str, out: Path, *, printed: bool = False) -> str:
    """Text with what legitimately varies between runs and versions replaced by placeholders.

    ``printed``: console output, whose lines rich pads with blanks to its tables' width: those are dropped."""
    for path, mark in (
        (out.resolve(), "<OUT>"),
        (out, "<OUT>"),
        (ROOT, "<ROOT>"),
        (ROOT.resolve(), "<ROOT>"),
    ):
        text = text.replace(str(path), mark)
    text = text.replace(f"cytoconv {cytoconv.__version__}", "cytoconv <VERSION>")
    return re.sub(r"[ \t]+$", "", text, flags=re.MULTILINE) if printed else text


def file_hash(path: Path, out: Path) -> str:
    """sha256 of an output file: decoded pixels for images, normalised text otherwise."""
    digest = hashlib.sha256()
    if path.suffix.lower() in IMAGE_SUFFIXES:
        with Image.open(path) as image:
            image.load()
            pixels = np.asarray(image)
            digest.update(f"{image.mode} {image.size} {pixels.dtype.str} {pixels.shape}\n".encode())
            digest.update(np.ascontiguousarray(pixels).tobytes())
        return digest.hexdigest()
    data = path.read_bytes()
    try:
        digest.update(normalise(data.decode("utf-8"), out).encode())
    except UnicodeDecodeError:
        digest.update(data)
    return digest.hexdigest()


# Reader codes renamed to the slugs of the one problem vocabulary, as far as the cases print them.
RENAMED = {"empty-box": "zero-area-box"}


def renamed(text: str) -> str:
    """``text`` with the renamed slugs in their new names (whole words only)."""
    for old, new in RENAMED.items():
        text = re.sub(rf"(?<![\w-]){re.escape(old)}(?![\w-])", new, text)
    return text


def run_case(name: str, out: Path, env: Mapping[str, str]) -> dict[str, str]:
    """Run one case with its outputs under ``out`` (created empty): {relative path: sha256}.

    Besides the files written, ``<step N>`` holds the hash of step N's exit code and stdout; both, with
    stderr, are also written, normalised, to ``<out>.log`` beside ``out`` (to see what a case did)."""
    out.mkdir(parents=True)
    hashes: dict[str, str] = {}
    logs: list[str] = []
    for number, step in enumerate(CASES[name], 1):
        args = [arg.format(root=ROOT) for arg in step]
        if step[0] not in NO_JOBS:
            args += ["--jobs", "1"]
        done = subprocess.run(
            [sys.executable, "-m", "cytoconv", *args],
            env=dict(env),
            capture_output=True,
            text=True,
            encoding="utf-8",
            cwd=out,
            timeout=300,
        )
        data = normalise(renamed(f"exit {done.returncode}\n--- stdout\n{done.stdout}"), out, printed=True)
        log = data + "\n--- stderr\n" + normalise(done.stderr, out, printed=True)
        hashes[f"<step {number}>"] = hashlib.sha256(data.encode()).hexdigest()
        logs.append(f"=== <step {number}> cytoconv {' '.join(normalise(arg, out) for arg in args)}\n{log}\n")
    out.with_name(out.name + ".log").write_text("".join(logs), encoding="utf-8")
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        hashes[path.relative_to(out).as_posix()] = file_hash(path, out)
    return hashes


def run_cases(work: Path, names: list[str] | None = None, workers: int = 2) -> dict[str, dict[str, str]]:
    """Run the cases (all by default) under ``work``, ``workers`` at a time: {case: {path: sha256}}."""
    env = environment()
    check_source(env)
    chosen = list(CASES) if names is None else names
    longest_first = sorted(chosen, key=lambda name: -len(CASES[name]))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = dict(
            zip(longest_first, pool.map(lambda name: run_case(name, work / name, env), longest_first))
        )
    return {name: results[name] for name in chosen}


def main() -> None:
    """Generate outputs.json (or ``--output FILE``) with the cytoconv on ``sys.path``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--output", type=Path, default=GOLDEN, help="where to write (default: %(default)s)")
    parser.add_argument("--keep", type=Path, help="keep the outputs in this (new) folder, to inspect them")
    args = parser.parse_args()
    env = environment()
    print(f"cytoconv {cytoconv.__version__} from {check_source(env)}", file=sys.stderr)
    if args.keep:
        results = run_cases(args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="cytoconv-golden-") as work:
            results = run_cases(Path(work))
    args.output.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    files = sum(len(hashes) for hashes in results.values())
    print(f"wrote {args.output}: {len(results)} cases, {files} hashes", file=sys.stderr)


if __name__ == "__main__":
    main()
