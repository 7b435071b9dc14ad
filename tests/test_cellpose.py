"""Cellpose GUI ``_seg.npy``: read without running its pickle, traced exactly, written as the GUI opens it."""

from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_api

import cytoconv
from cytoconv.engine.contract import ReadOptions
from cytoconv.errors import FormatError, Report
from cytoconv.formats import LAYOUT, detect
from cytoconv.formats.cellpose import reader as cellpose_reader
from cytoconv.formats.cellpose.syntax import parse_seg
from cytoconv.formats.masks import instance
from tests.conftest import run_cli
from tests.test_fuzz import _fuzz

H, W = 30, 40


def _labels() -> np.ndarray:
    """A label image with sparse ids (1, 2, 5), one with a hole, one touching the image edge."""
    masks = np.zeros((H, W), np.uint16)
    masks[2:12, 3:15] = 1
    masks[5:8, 7:10] = 0  # a hole in object 1
    masks[15:25, 20:40] = 2  # reaches the right edge
    masks[0:4, 30:36] = 5
    return masks


def _gui_dict(masks: np.ndarray, filename: str) -> dict[str, Any]:
    """The dict the Cellpose GUI's ``_save_sets`` saves for a 2-d image (its keys and kinds of values)."""
    n = int(masks.max())
    return {
        "outlines": masks * 0,
        "colors": np.random.default_rng(0).integers(0, 255, (n, 3)).astype(np.uint8),
        "masks": masks,
        "chan_choose": [0, 0],
        "filename": filename,
        "flows": [np.zeros((1, H, W, 3), np.uint8), np.zeros((1, H, W), np.uint8), [], [], [[]]],
        "ismanual": np.array([True, False, True]),
        "manual_changes": [],
        "model_path": 0,
        "flow_threshold": 0.4,
        "cellprob_threshold": np.float64(0.0),
        "normalize_params": {"lowhigh": None, "percentile": [1.0, 99.0], "normalize": True, "invert": False},
        "restore": None,
        "ratio": 1.0,
        "diameter": 30.0,
    }


def _sample(root: Path, name: str = "cells") -> Path:
    """A folder as the GUI leaves it: ``cells.png`` and ``cells_seg.npy`` (numpy's own ``np.save`` of the dict)."""
    root.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((H, W), np.uint8)).save(root / f"{name}.png")
    seg = root / f"{name}_seg.npy"
    np.save(seg, _gui_dict(_labels(), str(root / f"{name}.png")), allow_pickle=True)  # type: ignore[arg-type]
    return seg


def _decode(segmentation: Any, height: int, width: int) -> np.ndarray:
    """A COCO segmentation (polygons or RLE) as pycocotools rasterises it."""
    if isinstance(segmentation, list):
        rles = mask_api.frPyObjects(segmentation, height, width)
        return np.asarray(mask_api.decode(mask_api.merge(rles)), bool)
    if isinstance(segmentation["counts"], list):
        segmentation = mask_api.frPyObjects(segmentation, height, width)
    return np.asarray(mask_api.decode(segmentation), bool)


def _malicious(path: Path, marker: Path, nested: bool) -> Path:
    """A ``.npy`` whose pickle calls ``os.system`` to create ``marker`` when loaded with allow_pickle."""

    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, (f"touch {marker}",))

    payload = {"masks": Evil(), "outlines": np.zeros((2, 2))} if nested else Evil()
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": ()})
    buf.write(pickle.dumps(payload, protocol=3))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


# ---------------------------------------------------------------------------------------------
# Reading


def test_a_gui_seg_file_reads_to_coco_pixel_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each label id becomes one object whose COCO mask, decoded by pycocotools, is exactly its id's pixels;
    ``ismanual`` rides along as an attribute; one class ``cell``; the image paired by stem."""
    _sample(tmp_path / "in")
    code, _, err = run_cli(
        ["convert", str(tmp_path / "in"), str(tmp_path / "out.json"), "--from", "cellpose", "--to", "coco"],
        capsys,
    )
    assert code == 0, err
    coco = json.loads((tmp_path / "out.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["cell"]
    (image,) = coco["images"]
    assert (image["file_name"], image["width"], image["height"]) == ("cells.png", W, H)
    masks = _labels()
    anns = coco["annotations"]
    assert len(anns) == 3
    for ann, label, manual in zip(anns, (1, 2, 5), (True, False, True)):
        want = masks == label
        assert np.array_equal(_decode(ann["segmentation"], H, W), want)
        assert ann["area"] == int(want.sum())
        assert ann["attributes"] == {"ismanual": manual}
    hole = anns[0]["segmentation"]
    assert len(hole) >= 1  # the hole is kept (bridged or as a separate ring): the raster above proves it


def test_rle_geometry_and_names(tmp_path: Path) -> None:
    """``--segmentation rle`` (mask_geometry) gives full-image RLEs; ``--names`` names the one class."""
    _sample(tmp_path)
    options = ReadOptions(mask_geometry="rle", names=("nucleus",))
    ds = cytoconv.read(tmp_path, fmt="cellpose", options=options)
    assert [c.name for c in ds.categories] == ["nucleus"]
    from cytoconv.geometry.raster import rasterise
    from cytoconv.ir import Rle

    instances = ds.images[0].instances
    assert all(isinstance(i.geometry, Rle) for i in instances)
    got = [rasterise(i.geometry, H, W).astype(bool) for i in instances if isinstance(i.geometry, Rle)]
    for mask, label in zip(got, (1, 2, 5), strict=True):
        assert np.array_equal(mask, _labels() == label)


def test_reads_traced_exactly_like_instance_masks(tmp_path: Path) -> None:
    """The same label image as a Cellpose file and as an instance label image reads to the same geometries."""
    _sample(tmp_path / "cp")
    (tmp_path / "im" / "masks").mkdir(parents=True)
    Image.fromarray(np.zeros((H, W), np.uint8)).save(tmp_path / "im" / "cells.png")
    Image.fromarray(_labels()).save(tmp_path / "im" / "masks" / "cells_cp_masks.png")
    a = cytoconv.read(tmp_path / "cp", fmt="cellpose")
    b = cytoconv.read(tmp_path / "im", fmt="instance-masks")
    mine, theirs = a.images[0].instances, b.images[0].instances
    assert len(mine) == len(theirs) == 3
    for x, y in zip(mine, theirs):
        assert len(x.geometry.rings) == len(y.geometry.rings)  # type: ignore[union-attr]
        for r, q in zip(x.geometry.rings, y.geometry.rings):  # type: ignore[union-attr]
            assert np.array_equal(r, q)


def test_without_image_the_size_is_the_masks_and_the_name_the_filename(tmp_path: Path) -> None:
    seg = _sample(tmp_path)
    (tmp_path / "cells.png").unlink()
    ds = cytoconv.read(seg.parent, fmt="cellpose")
    (image,) = ds.images
    assert (image.file_name, image.width, image.height) == ("cells.png", W, H)


def test_image_size_mismatch_is_refused(tmp_path: Path) -> None:
    _sample(tmp_path)
    Image.fromarray(np.zeros((H + 1, W), np.uint8)).save(tmp_path / "cells.png")
    with pytest.raises(FormatError) as err:
        cytoconv.read(tmp_path, fmt="cellpose")
    assert err.value.code == "size-mismatch"


def test_detection_is_cellpose_and_not_instance_masks(tmp_path: Path) -> None:
    _sample(tmp_path)
    assert detect(tmp_path).name == "cellpose"
    evidence = cellpose_reader.detect(tmp_path)
    assert evidence is not None and evidence.strength == LAYOUT
    assert instance.detect(tmp_path) is None


# ---------------------------------------------------------------------------------------------
# Refusing what cannot be read, running nothing


@pytest.mark.parametrize("nested", [False, True])
def test_a_malicious_pickle_is_refused_and_never_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], nested: bool
) -> None:
    """A pickle calling ``os.system``: one line naming the file and ``posix.system`` (or ``os.system``), exit
    1, no output, and the command never ran (its marker file does not exist)."""
    marker = tmp_path / "PWNED"
    seg = _malicious(tmp_path / "in" / "evil_seg.npy", marker, nested)
    out = tmp_path / "out.json"
    code, _, err = run_cli(
        ["convert", str(seg.parent), str(out), "--from", "cellpose", "--to", "coco"], capsys
    )
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "evil_seg.npy" in lines[0] and "system" in lines[0] and "refused" in lines[0]
    assert not marker.exists() and not out.exists()
    with pytest.raises(Exception) as caught:  # the syntax layer's own error names the global
        parse_seg(seg.read_bytes())
    assert "system" in str(caught.value)
    assert not marker.exists()
    code, text, _ = run_cli(["validate", str(seg), "--format", "json"], capsys)
    assert code == 1 and "CC001" in text and not marker.exists()
    np.load(seg, allow_pickle=True)  # the file is really hostile: numpy's own loader runs the command
    assert marker.exists()


def test_a_truncated_file_is_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seg = _sample(tmp_path / "in")
    seg.write_bytes(seg.read_bytes()[: len(seg.read_bytes()) // 2])
    out = tmp_path / "out.json"
    code, _, err = run_cli(
        ["convert", str(seg.parent), str(out), "--from", "cellpose", "--to", "coco"], capsys
    )
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "cells_seg.npy" in lines[0], err
    assert not out.exists()
    report = Report(strict=False)
    ds = cytoconv.read(seg.parent, fmt="cellpose", report=report)
    assert ds.images == [] and report.skipped["unreadable"] == 1


def test_not_a_dict_and_no_masks_are_bad_structure(tmp_path: Path) -> None:
    for value, name in ((np.arange(4), "plain"), ({"outlines": np.zeros((2, 2))}, "nomasks")):
        path = tmp_path / f"{name}_seg.npy"
        np.save(path, value, allow_pickle=True)  # type: ignore[arg-type]
        with pytest.raises(FormatError) as err:
            cytoconv.read(path, fmt="cellpose")
        assert err.value.code == "bad-structure"


# ---------------------------------------------------------------------------------------------
# Writing


def _coco(tmp_path: Path) -> Path:
    """A COCO file of three non-overlapping pixel-aligned polygons (one L-shaped), ismanual on one."""
    polygons = [
        [2, 2, 12, 2, 12, 8, 2, 8],
        [20, 10, 30, 10, 30, 14, 24, 14, 24, 20, 20, 20],
        [33, 22, 40, 22, 40, 30, 33, 30],
    ]
    anns = [
        {
            "id": k + 1,
            "image_id": 1,
            "category_id": 1,
            "segmentation": [p],
            "bbox": [min(p[0::2]), min(p[1::2]), max(p[0::2]) - min(p[0::2]), max(p[1::2]) - min(p[1::2])],
            "area": 0,
            "iscrowd": 0,
            **({"attributes": {"ismanual": True}} if k == 1 else {}),
        }
        for k, p in enumerate(polygons)
    ]
    for ann in anns:
        rle = mask_api.frPyObjects(ann["segmentation"], H, W)
        ann["area"] = int(mask_api.area(mask_api.merge(rle)))
    coco = {
        "images": [{"id": 1, "file_name": "cells.png", "width": W, "height": H}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "cell"}],
    }
    path = tmp_path / "in.json"
    path.write_text(json.dumps(coco))
    return path


def test_coco_to_cellpose_to_coco_is_exact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Non-overlapping masks: the same objects, pixels, areas, boxes and polygons back; the _seg.npy has the
    keys the GUI reads, of the kinds it expects."""
    src = _coco(tmp_path)
    code, _, err = run_cli(
        ["convert", str(src), str(tmp_path / "cp"), "--from", "coco", "--to", "cellpose"], capsys
    )
    assert code == 0, err
    seg = tmp_path / "cp" / "cells_seg.npy"
    dat = np.load(seg, allow_pickle=True).item()  # our own file: the GUI loads it this way
    assert set(dat) == {"masks", "outlines", "colors", "ismanual", "filename"}
    assert dat["masks"].dtype == np.uint16 and dat["masks"].shape == (H, W)
    assert dat["outlines"].dtype == np.uint16 and int(dat["masks"].max()) == 3
    assert dat["colors"].shape == (3, 3) and dat["colors"].dtype == np.uint8
    assert dat["ismanual"].tolist() == [False, True, False]
    assert dat["filename"].endswith("cells.png")
    boundary = dat["outlines"] > 0
    assert np.array_equal(dat["outlines"][boundary], dat["masks"][boundary])
    assert boundary[2, 2] and not boundary[4, 4]  # a corner pixel is on the outline, an inner one is not
    code, _, err = run_cli(
        ["convert", str(tmp_path / "cp"), str(tmp_path / "back.json"), "--from", "cellpose", "--to", "coco"],
        capsys,
    )
    assert code == 0, err
    before = json.loads(src.read_text())["annotations"]
    after = json.loads((tmp_path / "back.json").read_text())["annotations"]
    assert len(after) == len(before)
    for a, b in zip(before, after):
        assert np.array_equal(_decode(a["segmentation"], H, W), _decode(b["segmentation"], H, W))
        assert a["area"] == b["area"] and a["bbox"] == b["bbox"]
        assert sorted(zip(a["segmentation"][0][0::2], a["segmentation"][0][1::2])) == sorted(
            zip(b["segmentation"][0][0::2], b["segmentation"][0][1::2])
        )
    assert after[1]["attributes"] == {"ismanual": True}
    assert "attributes" not in after[0] or after[0]["attributes"] == {"ismanual": False}


def test_overlaps_are_counted_and_covered_objects_named(tmp_path: Path) -> None:
    """A later object paints over an earlier one (counted); one covered entirely has no id (named), and the
    ids stay 1..N so that the GUI's colours and flags line up."""
    from cytoconv.ir import Box, Category, Dataset, ImageRecord, Instance

    boxes = [
        Box(x=0, y=0, w=10, h=10),
        Box(x=5, y=5, w=10, h=10),
        Box(x=20, y=20, w=2, h=2),
        Box(x=19, y=19, w=5, h=5),
    ]
    ds = Dataset(
        categories=[Category(id=1, name="cell")],
        images=[
            ImageRecord(
                file_name="a.png",
                width=W,
                height=H,
                instances=[Instance(category_id=1, geometry=b) for b in boxes],
            )
        ],
    )
    report = Report()
    cytoconv.write(ds, tmp_path / "cp", to="cellpose", report=report)
    dat = np.load(tmp_path / "cp" / "a_seg.npy", allow_pickle=True).item()
    assert report.notices["overlap"] == 25 + 4 and report.notices["object-hidden"] == 1
    assert sorted(np.unique(dat["masks"]).tolist()) == [0, 1, 2, 3]
    assert len(dat["colors"]) == 3 and len(dat["ismanual"]) == 3


def test_written_files_are_read_back_by_the_safe_loader(tmp_path: Path) -> None:
    """What the writer saves (``np.save`` of a dict, numpy's pickle) passes the restricted unpickler."""
    src = _coco(tmp_path)
    cytoconv.convert(src, tmp_path / "cp", to="cellpose")
    seg = parse_seg((tmp_path / "cp" / "cells_seg.npy").read_bytes())
    assert seg.masks.shape == (H, W) and seg.ismanual == [False, True, False]


# ---------------------------------------------------------------------------------------------
# Fuzzing


def test_fuzz_cellpose(tmp_path: Path) -> None:
    def build(root: Path) -> list[Path]:
        return [_sample(root, "a"), _sample(root, "b")]

    _fuzz(tmp_path, build, lambda root: cytoconv.read(root, fmt="cellpose", report=Report(strict=False)), 31)
    _fuzz(tmp_path / "strict", build, lambda root: cytoconv.read(root, fmt="cellpose"), 32)
