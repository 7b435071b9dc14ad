"""cytoconv's output read by the tools people feed it to: ultralytics, pycocotools and datumaro.

Round trips through cytoconv's own readers cannot catch a convention that cytoconv gets consistently wrong
both ways; only a real consumer can. These tests need the ``interop`` extra (ultralytics pulls torch, see
``pyproject.toml`` and ``.ci/run`` for the install order) and are marked ``interop``. Without the packages
they skip, except under ``CI=true`` with ``CYTOCONV_INTEROP=1``: there a missing consumer fails the run,
so that a broken install cannot pass as a green, all-skipped interop step.

Offline: ultralytics checks the network at import (``YOLO_OFFLINE=1`` skips that) and ``check_det_dataset``
ends by fetching ``Arial.ttf`` into its config folder when the font is not there. The session fixture
points ``YOLO_CONFIG_DIR`` at a temporary folder (settings.json is not written to the user's home) and puts
matplotlib's DejaVu Sans there under the names ultralytics looks for, so nothing is downloaded or waited for.

Where today's output is refused by a consumer, the test is written for the output the consumer needs and
marked ``xfail(strict=True)`` with the reason: it turns into a failure the day it passes, so the marker
cannot outlive the fix.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import yaml

import cytoconv
from cytoconv.ir import Box, Dataset
from tests.conftest import BALF_SAMPLE, real, run_cli

pytestmark = pytest.mark.interop

REQUIRED = os.environ.get("CI", "").lower() in {"true", "1"} and os.environ.get("CYTOCONV_INTEROP") == "1"
BALF_NAMES = [
    "erythrocyte",
    "ciliated columnar epithelial",
    "squamous epithelial",
    "macrophage",
    "lymphocyte",
    "neutrophil",
    "eosinophil",
]


def need(module: str) -> ModuleType:
    """``pytest.importorskip``, except in CI's interop step, where a consumer that does not import fails."""
    if REQUIRED:
        try:
            return importlib.import_module(module)
        except ImportError as error:
            pytest.fail(f"{module} must import here (CI=true, CYTOCONV_INTEROP=1): {error}", pytrace=False)
    return pytest.importorskip(module, reason=f"{module} is not installed (pip install -e '.[interop]')")


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """``cytoconv ARGS`` in-process; a non-zero exit fails the test with cytoconv's stderr."""
    code, _, err = run_cli([*args, "-q"], capsys)
    assert code == 0, f"cytoconv {' '.join(args)} exited {code}:\n{err}"


# --- ultralytics -------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ultralytics_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """``ultralytics.data.utils``, imported offline with its config (and the fonts it wants) in a temp folder.

    The fonts must be in place before ``check_det_dataset`` runs, or it tries to download ``Arial.ttf``:
    ``check_font`` only checks that the file exists, so any real TTF under that name will do. The module
    global is patched as well, in case something imported ultralytics before this fixture set the folder."""
    config = tmp_path_factory.mktemp("ultralytics-config")
    fonts = config / "Ultralytics"
    fonts.mkdir()
    matplotlib = need("matplotlib")
    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        shutil.copyfile(dejavu, fonts / name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YOLO_OFFLINE", "1")
        patch.setenv("YOLO_CONFIG_DIR", str(config))
        data_utils = need("ultralytics.data.utils")
        checks = need("ultralytics.utils.checks")
        settings = need("ultralytics.utils").SETTINGS
        if Path(settings.file).is_relative_to(config):  # never rewrite a user's own settings
            settings.update(sync=False)
        patch.setattr(checks, "USER_CONFIG_DIR", fonts)
        yield data_utils


def label_lines(label_file: Path) -> list[list[str]]:
    """The rows of a YOLO label file as cytoconv wrote them (none when the file is absent)."""
    if not label_file.is_file():
        return []
    return [line.split() for line in label_file.read_text(encoding="utf-8").splitlines() if line.strip()]


def ultralytics_scan(
    data_utils: ModuleType, images: Path, names: list[str], task: str
) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """Build ultralytics' ``YOLODataset`` on a folder of images, the way training starts.

    Its label scan runs ``verify_image_label`` on every image and saves the tallies in ``<labels>.cache``:
    returns those (found, missing, empty, corrupt, total, and the warning messages) and the class of every
    instance it kept, per image file name relative to ``images``."""
    dataset_module = need("ultralytics.data.dataset")
    data = {"names": dict(enumerate(names)), "nc": len(names), "channels": 3}
    dataset = dataset_module.YOLODataset(img_path=str(images), data=data, task=task, augment=False)
    cache = data_utils.load_dataset_cache_file(Path(dataset.label_files[0]).parent.with_suffix(".cache"))
    found, missing, empty, corrupt, total = cache["results"]
    tallies = {"found": found, "missing": missing, "empty": empty, "corrupt": corrupt, "total": total}
    tallies["msgs"] = list(cache["msgs"])
    classes = {
        Path(label["im_file"]).relative_to(images).as_posix(): [int(c) for c in label["cls"].reshape(-1)]
        for label in dataset.labels
    }
    return tallies, classes


def yolo_output(route: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path, str]:
    """cytoconv's YOLO output for a route, and the source folder its images come from, and the task."""
    out = tmp_path / "yolo"
    if route == "balf":
        cli(["convert", str(BALF_SAMPLE), str(out), "--to", "yolo"], capsys)
        return out, BALF_SAMPLE / "images", "segment"
    if route == "balf-via-coco":
        coco = tmp_path / "balf.json"
        cli(["yolo2coco", str(BALF_SAMPLE), str(coco)], capsys)
        cli(["coco2yolo", str(coco), str(out), "--images", str(BALF_SAMPLE / "images")], capsys)
        return out, BALF_SAMPLE / "images", "segment"
    assert route == "txl"
    source = real("txl_pbc_yolo") / "TXL_PBC"
    cli(["convert", str(source), str(out), "--to", "yolo"], capsys)
    return out, source / "images", "detect"


def laid_out(route: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, list[str], str]:
    """cytoconv's YOLO output with the source images put under ``images/`` beside ``labels/`` by the test, as
    ultralytics wants them (without ``--copy-images`` cytoconv writes labels only); its class names and the
    ultralytics task."""
    out, source_images, task = yolo_output(route, tmp_path, capsys)
    names = list(yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))["names"].values())
    if not (out / "images").exists():  # a writer that copies the images already did this
        shutil.copytree(source_images, out / "images")
    return out, names, task


TXL_DUPLICATES = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="TXL_PBC repeats 36 label rows (20 in 4e2139d2-..., 16 in 6a5b8c22-...): cytoconv keeps and writes "
    "them (a duplicate-line notice), ultralytics' label check drops them: 663 instances, not 699",
)


@pytest.mark.parametrize("route", ["balf", "balf-via-coco", pytest.param("txl", marks=TXL_DUPLICATES)])
def test_yolo_labels_pass_ultralytics_label_verification_as_written(
    route: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], ultralytics_data: ModuleType
) -> None:
    """Every label file cytoconv writes passes the scan ultralytics runs before training as it is: no corrupt
    or missing label, no warning (such as duplicate rows it drops), and per image the same number of
    instances, with the same classes in the same order, as the rows cytoconv wrote."""
    out, names, task = laid_out(route, tmp_path, capsys)
    tallies, classes = ultralytics_scan(ultralytics_data, out / "images", names, task)

    written = {
        image.relative_to(out / "images").as_posix(): label_lines(
            Path(ultralytics_data.img2label_paths([str(image)])[0])
        )
        for image in sorted((out / "images").rglob("*.jpg"))
    }
    assert tallies["corrupt"] == 0 and tallies["missing"] == 0, tallies
    assert tallies["msgs"] == []
    assert tallies["total"] == len(written) == (35 if route == "txl" else 20)
    assert tallies["empty"] == sum(1 for rows in written.values() if not rows)
    assert classes == {image: [int(row[0]) for row in rows] for image, rows in written.items()}
    assert sum(len(c) for c in classes.values()) == (699 if route == "txl" else 108)


@pytest.mark.parametrize("route", ["balf", "balf-via-coco", "txl"])
def test_yolo_output_is_the_dataset_ultralytics_reads_in_the_source(
    route: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], ultralytics_data: ModuleType
) -> None:
    """ultralytics reads the same images and, per image, the same instances (classes counted) in cytoconv's
    output as in the dataset cytoconv converted, with nothing corrupt: the conversion did not change what a
    YOLO training run sees (for TXL_PBC: both after ultralytics dropped the repeated rows)."""
    out, names, task = laid_out(route, tmp_path, capsys)
    tallies, classes = ultralytics_scan(ultralytics_data, out / "images", names, task)
    source = tmp_path / "source"  # a copy: the scan writes a .cache beside the labels
    shutil.copytree(BALF_SAMPLE if route != "txl" else real("txl_pbc_yolo") / "TXL_PBC", source)
    source_tallies, source_classes = ultralytics_scan(ultralytics_data, source / "images", names, task)

    assert tallies["corrupt"] == source_tallies["corrupt"] == 0
    assert tallies["missing"] == source_tallies["missing"] == 0
    assert {image: Counter(c) for image, c in classes.items()} == {
        image: Counter(c) for image, c in source_classes.items()
    }
    assert sum(len(c) for c in classes.values()) == (699 - 36 if route == "txl" else 108)


@pytest.mark.parametrize("route", ["balf", "balf-via-coco"])
def test_yolo_output_passes_check_det_dataset(
    route: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    ultralytics_data: ModuleType,
) -> None:
    """``convert --to yolo --copy-images`` gives a folder that ``check_det_dataset(OUT/data.yaml)`` accepts
    as it is, from any working directory: data.yaml says ``path``, ``train``, ``val`` and ``names``, the
    images are copied under ``OUT/images`` (``images/<split>``), and the images ultralytics lists for train
    and val, with the labels it pairs them with, are all 20 images and the instances cytoconv wrote.

    Run from another folder on purpose: ultralytics resolves a relative ``path`` (``path: .``) against the
    working directory, not the yaml's folder (cytoconv writes ``path: null``, which ultralytics takes as the
    yaml's folder). This was a strict xfail until the writer wrote train/val and copied images."""
    out = tmp_path / "yolo"
    if route == "balf":
        cli(["convert", str(BALF_SAMPLE), str(out), "--to", "yolo", "--copy-images"], capsys)
    else:
        coco = tmp_path / "balf.json"
        cli(["yolo2coco", str(BALF_SAMPLE), str(coco)], capsys)
        images = str(BALF_SAMPLE / "images")
        cli(["coco2yolo", str(coco), str(out), "--images", images, "--copy-images"], capsys)
    written = yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))
    assert {"path", "train", "val", "names"} <= written.keys()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    data = ultralytics_data.check_det_dataset(str(out / "data.yaml"))

    assert list(data["names"].values()) == BALF_NAMES
    root = (out / "images").resolve()
    seen: dict[str, list[int]] = {}
    for split in ("train", "val"):
        for folder in data[split] if isinstance(data[split], list) else [data[split]]:
            assert Path(folder).resolve().is_relative_to(root), f"{split}: {folder} is not under {root}"
            tallies, classes = ultralytics_scan(ultralytics_data, Path(folder), BALF_NAMES, "segment")
            assert tallies["corrupt"] == 0 and tallies["missing"] == 0 and tallies["msgs"] == [], tallies
            for image, got in classes.items():
                label = Path(ultralytics_data.img2label_paths([str(Path(folder) / image)])[0])
                assert got == [int(row[0]) for row in label_lines(label)], image
                seen[Path(image).name] = got
    assert sorted(seen) == sorted(p.name for p in (BALF_SAMPLE / "images").glob("*.jpg"))
    assert sum(len(c) for c in seen.values()) == 108


# --- COCO: pycocotools and datumaro ------------------------------------------------------------------------


def coco_output(sample: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    """cytoconv's COCO output of a sample, written where datumaro looks (``annotations/instances_*.json``),
    and the folder its ``file_name``\\ s are relative to."""
    out = tmp_path / "coco" / "annotations" / "instances_default.json"
    source = BALF_SAMPLE if sample == "balf" else real("rbc_coco_roboflow")
    cli(["convert", str(source), str(out), "--to", "coco"], capsys)
    return out, (source / "images" if sample == "balf" else source)


@pytest.mark.parametrize("sample", ["balf", "rbc"])
def test_coco_output_evaluated_against_itself_by_pycocotools_gives_ap_1(
    sample: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pycocotools loads the file, and COCOeval of the ground truth against itself (every annotation a
    detection of score 1) gives AP 1.0, for boxes and, where there are outlines, for masks: every box and
    mask pycocotools derives from what cytoconv wrote matches its own ground truth at every IoU threshold."""
    coco_module = need("pycocotools.coco")
    cocoeval = need("pycocotools.cocoeval")
    out, _ = coco_output(sample, tmp_path, capsys)
    gt = coco_module.COCO(str(out))
    anns = gt.loadAnns(gt.getAnnIds())
    assert len(gt.getImgIds()) == (20 if sample == "balf" else 30)
    assert len(anns) == (108 if sample == "balf" else 691)

    iou_types = ["bbox", "segm"] if all(a["segmentation"] for a in anns) else ["bbox"]
    assert iou_types == (["bbox", "segm"] if sample == "balf" else ["bbox"])  # rbc is boxes only
    for iou_type in iou_types:
        shape = {"bbox": lambda a: {"bbox": a["bbox"]}, "segm": lambda a: {"segmentation": gt.annToRLE(a)}}
        dets = [
            {"image_id": a["image_id"], "category_id": a["category_id"], "score": 1.0, **shape[iou_type](a)}
            for a in anns
        ]
        evaluation = cocoeval.COCOeval(gt, gt.loadRes(dets), iou_type)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
        assert abs(evaluation.stats[0] - 1.0) <= 1e-9, (iou_type, evaluation.stats)


def datumaro_points(coordinates: list[float], digits: int) -> list[float]:
    """Coordinates as datumaro keeps every shape's points: float32, rounded to ``digits`` decimals."""
    return [float(v) for v in np.array(coordinates, dtype=np.float32).round(digits)]


@pytest.mark.parametrize("sample", ["balf", "rbc"])
def test_coco_output_imports_in_datumaro(
    sample: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """datumaro's ``coco_instances`` importer reads the same images (each found on disk by its file_name),
    the same category names in id order, and every annotation with its label, box and polygons; it splits
    each annotation into a Bbox and one Polygon per polygon, sharing the COCO annotation id.

    Coordinates, exactly up to datumaro's own storage: it keeps shape points as float32 rounded to
    ``COORDINATE_ROUNDING_DIGITS`` (2) decimals, so a box is compared with its corners put through that.
    datumaro wants the JSON as ``<root>/annotations/instances_<subset>.json`` and the images under
    ``<root>/images``: the test links the source images there."""
    dm = need("datumaro")
    annotation = need("datumaro.components.annotation")
    digits = annotation.COORDINATE_ROUNDING_DIGITS
    out, images = coco_output(sample, tmp_path, capsys)
    (out.parent.parent / "images").symlink_to(images, target_is_directory=True)
    coco = json.loads(out.read_text(encoding="utf-8"))

    dataset = dm.Dataset.import_from(str(out), "coco_instances")

    labels = dataset.categories()[annotation.AnnotationType.label]
    categories = sorted(coco["categories"], key=lambda c: c["id"])
    assert [label.name for label in labels] == [c["name"] for c in categories]
    name = {c["id"]: c["name"] for c in categories}
    assert len(dataset) == len(coco["images"])
    items = {item.attributes["id"]: item for item in dataset}
    assert sorted(items) == sorted(im["id"] for im in coco["images"])
    for image in coco["images"]:
        assert Path(items[image["id"]].media.path).is_file(), image["file_name"]
    expected: dict[int, dict[int, Any]] = {im["id"]: {} for im in coco["images"]}
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        x0, y0, x1, y1 = datumaro_points([x, y, x + w, y + h], digits)
        polygons = [datumaro_points(polygon, digits) for polygon in a["segmentation"]]
        expected[a["image_id"]][a["id"]] = (name[a["category_id"]], [x0, y0, x1 - x0, y1 - y0], polygons)
    for image_id, item in items.items():
        got: dict[int, Any] = {}
        for ann_id in {a.id for a in item.annotations}:
            parts = [a for a in item.annotations if a.id == ann_id]
            boxes = [a for a in parts if a.type == annotation.AnnotationType.bbox]
            polygons = [a.points for a in parts if a.type == annotation.AnnotationType.polygon]
            assert len(boxes) == 1 and len(parts) == 1 + len(polygons), (image_id, ann_id, parts)
            got[ann_id] = (labels[boxes[0].label].name, boxes[0].get_bbox(), polygons)
        assert got == expected[image_id], image_id


# --- VOC: datumaro -----------------------------------------------------------------------------------------


def voc_output(sample: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """cytoconv's VOC output: BCCD (VOC to VOC, lenient: its two zero-area boxes are left out) or BALF."""
    out = tmp_path / "voc"
    if sample == "bccd":
        cli(["convert", str(real("bccd_voc") / "BCCD"), str(out), "--to", "voc", "--lenient"], capsys)
    else:
        cli(["convert", str(BALF_SAMPLE), str(out), "--to", "voc"], capsys)
    return out


def cytoconv_boxes(dataset: Dataset) -> dict[tuple[str, str], list[tuple[str, Box, dict[str, Any]]]]:
    """Per (stem, split), every box as cytoconv reads it back: (class name, box, attributes), in file order."""
    name = {c.id: c.name for c in dataset.categories}
    out = {}
    for image in dataset.images:
        boxes = []
        for instance in image.instances:
            assert isinstance(instance.geometry, Box)
            boxes.append((name[instance.category_id], instance.geometry, instance.attributes))
        out[Path(image.file_name).stem, image.split or "default"] = boxes
    return out


@pytest.mark.parametrize(
    "sample",
    [
        "bccd",  # was refused (Undeclared label 'WBC') until the writer wrote labelmap.txt beside classes.txt
        pytest.param(
            "balf",
            marks=pytest.mark.xfail(
                strict=True,
                raises=AssertionError,
                reason="no ImageSets/Main/<subset>.txt for a dataset without splits (cytoconv writes none: "
                "a default.txt would read back as a split named 'default'): datumaro finds no VOC dataset there",
            ),
        ),
    ],
)
def test_voc_output_imports_in_datumaro_as_written(
    sample: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The VOC folder imports in datumaro as cytoconv leaves it, with every box cytoconv reads back.

    datumaro's refusal is turned into an AssertionError, the one failure the xfail accepts: a consumer that
    does not import (``need``) still fails the run."""
    dm = need("datumaro")
    errors = need("datumaro.components.errors")
    out = voc_output(sample, tmp_path, capsys)
    ours = cytoconv_boxes(cytoconv.read(out, "voc"))
    try:
        dataset = dm.Dataset.import_from(str(out), "voc_detection")
        theirs = {(item.id, item.subset): len(item.annotations) for item in dataset}
    except errors.DatasetImportError as error:
        raise AssertionError(f"datumaro refuses {out}: {error} (cause: {error.__cause__})") from error
    assert theirs == {key: len(boxes) for key, boxes in ours.items()}


@pytest.mark.parametrize("sample", ["bccd", "balf"])
def test_voc_output_agrees_with_datumaro_given_a_labelmap(
    sample: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the two files datumaro needs added by the test (``labelmap.txt`` from cytoconv's classes.txt;
    for BALF, which has no splits, ``ImageSets/Main/default.txt``), datumaro's ``voc_detection`` importer
    reads the same items, splits, labels and box count per item as cytoconv's own reader, in file order.

    Boxes, exactly: datumaro's default ``dm-zero-based`` mode takes the corners as they are (``x = xmin,
    w = xmax - xmin``), one pixel off cytoconv's 1-based inclusive reading (``x = xmin - 1, w = xmax - xmin +
    1``); its ``voc-one-based`` mode is cytoconv's reading."""
    dm = need("datumaro")
    annotation = need("datumaro.components.annotation")
    out = voc_output(sample, tmp_path, capsys)
    # read as written and as VOC: a root holding .txt files (labelmap.txt) can also look like YOLO to cytoconv
    ours = cytoconv_boxes(cytoconv.read(out, "voc"))
    objects = sum(
        xml.read_text(encoding="utf-8").count("<object>") for xml in (out / "Annotations").glob("*.xml")
    )
    assert sum(len(b) for b in ours.values()) == objects
    classes = (out / "classes.txt").read_text(encoding="utf-8").splitlines()
    lines = ["# label:color_rgb:parts:actions", *(f"{name}:::" for name in classes)]
    (out / "labelmap.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if sample == "balf":
        assert not (out / "ImageSets").exists()
        sets = out / "ImageSets" / "Main"
        sets.mkdir(parents=True)
        stems = sorted(p.stem for p in (out / "Annotations").glob("*.xml"))
        (sets / "default.txt").write_text("\n".join(stems) + "\n", encoding="utf-8")

    for mode in ("dm-zero-based", "voc-one-based"):
        dataset = dm.Dataset.import_from(str(out), "voc_detection", coordinate_mode=mode)
        labels = dataset.categories()[annotation.AnnotationType.label]
        assert [label.name for label in labels] == classes
        theirs = {(item.id, item.subset): item.annotations for item in dataset}
        assert sorted(theirs) == sorted(ours)
        shift = 1 if mode == "dm-zero-based" else 0
        for key, boxes in ours.items():
            got = [(labels[a.label].name, a.get_bbox(), a.attributes["truncated"]) for a in theirs[key]]
            want = [
                (name, [b.x + shift, b.y + shift, b.w - shift, b.h - shift], bool(attributes["truncated"]))
                for name, b, attributes in boxes
            ]
            assert got == want, (mode, key)


def test_point_boxes_pass_ultralytics_label_verification(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ultralytics_data: ModuleType
) -> None:
    """Chula RBC-12's cell centres as YOLO boxes (``--point-box 16 --clip``): ultralytics' scan finds every label
    valid (none corrupt, no warning), the 5 images without cells empty, and all 1,730 boxes with their classes."""
    chula = real("chula_rbc12_points")
    out = tmp_path / "yolo"
    cli(["convert", str(chula), str(out), "--to", "yolo", "--point-box", "16", "--clip"], capsys)
    shutil.copytree(chula / "Dataset", out / "images")
    names = list(yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))["names"].values())
    tallies, classes = ultralytics_scan(ultralytics_data, out / "images", names, "detect")
    assert tallies["corrupt"] == 0 and tallies["missing"] == 0 and tallies["msgs"] == [], tallies
    assert (tallies["total"], tallies["empty"]) == (23, 5)
    assert sum(len(c) for c in classes.values()) == 1730
    assert classes["1.jpg"][0] == 0 and sum(c.count(12) for c in classes.values()) == 53
