"""Masks: exact mask <-> polygon conversion on every real mask sample, holes and parts, strays."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_api
from pycocotools.coco import COCO

import cytoconv
from cytoconv.api import ReadOptions, WriteOptions
from cytoconv.errors import FormatError, Report
from cytoconv.formats.masks.maskio import mask_stem, natural_key, parse_class_map
from cytoconv.geometry.outline import bridge_holes, trace, trace_many
from cytoconv.geometry.raster import polygon_rle
from tests.conftest import real

WBC = ReadOptions(mask_classes=parse_class_map("wbc"))


def _class_masks(coco: COCO, image_id: int, category_id: int, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, bool)
    for ann in coco.loadAnns(coco.getAnnIds(imgIds=image_id, catIds=[category_id])):
        m = coco.annToMask(ann).astype(bool)
        assert m.sum() == ann["area"]
        out |= m
    return out


def test_trace_is_exact_on_random_masks_with_holes_and_pinches() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(3, 30, 2))
        m = (rng.random((h, w)) < rng.uniform(0.2, 0.8)).astype(np.uint8)
        if not m.any():
            continue
        polygon = trace(m)
        assert polygon is not None
        assert np.array_equal(mask_api.decode(polygon_rle(polygon, h, w)), m)
        for ring in polygon.rings:  # only corners: integer points, every one a turn
            assert np.array_equal(ring, np.round(ring))
            before, after = ring - np.roll(ring, 1, axis=0), np.roll(ring, -1, axis=0) - ring
            assert (before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0] != 0).all()
        rings = bridge_holes(polygon)
        union = mask_api.merge(mask_api.frPyObjects([r.reshape(-1) for r in rings], h, w), intersect=False)
        assert np.array_equal(mask_api.decode(union), m)


@pytest.mark.parametrize(
    ("pixels", "rings"),
    [
        ([[1]], [(False, [[0, 0], [0, 1], [1, 1], [1, 0]])]),  # a chain of one pixel: all the way round
        ([[1, 1, 1]], [(False, [[0, 0], [0, 1], [3, 1], [3, 0]])]),  # a one-pixel line: its ends turned
        # pixels touching at a corner only: one 8-connected object, its outline through that corner twice
        ([[1, 0], [0, 1]], [(False, [[0, 0], [0, 1], [1, 1], [1, 2], [2, 2], [2, 1], [1, 1], [1, 0]])]),
        ([[0, 1], [1, 0]], [(False, [[1, 0], [1, 1], [0, 1], [0, 2], [1, 2], [1, 1], [2, 1], [2, 0]])]),
        (
            [[0, 1, 0], [1, 1, 1], [0, 1, 0]],  # concave corners
            [
                (
                    False,
                    [
                        [1, 0],
                        [1, 1],
                        [0, 1],
                        [0, 2],
                        [1, 2],
                        [1, 3],
                        [2, 3],
                        [2, 2],
                        [3, 2],
                        [3, 1],
                        [2, 1],
                        [2, 0],
                    ],
                )
            ],
        ),
        # a hole, from its top-left corner; an island inside a hole is an outer ring of its own
        (
            [[1, 1, 1], [1, 0, 1], [1, 1, 1]],
            [(False, [[0, 0], [0, 3], [3, 3], [3, 0]]), (True, [[1, 1], [2, 1], [2, 2], [1, 2]])],
        ),
        (
            [[1, 1, 1, 1, 1], [1, 0, 0, 0, 1], [1, 0, 1, 0, 1], [1, 0, 0, 0, 1], [1, 1, 1, 1, 1]],
            [
                (False, [[2, 2], [2, 3], [3, 3], [3, 2]]),
                (False, [[0, 0], [0, 5], [5, 5], [5, 0]]),
                (True, [[1, 1], [4, 1], [4, 4], [1, 4]]),
            ],
        ),
    ],
)
def test_trace_gives_these_rings_corner_by_corner(
    pixels: list[list[int]], rings: list[tuple[bool, list]]
) -> None:
    """Each boundary pixel's turns come from the moves into and out of it: one-pixel chains, lines, pinches,
    concave corners, holes and islands, each ring from the corner the first design's tracer started it at."""
    polygon = trace(np.array(pixels, dtype=np.uint8))
    assert polygon is not None
    assert [(hole, ring.tolist()) for ring, hole in zip(polygon.rings, polygon.holes)] == rings


def test_trace_many_is_trace_of_each_mask_with_offsets_and_empty_masks() -> None:
    rng = np.random.default_rng(11)
    masks = [(rng.random((17, 23)) < p).astype(np.uint8) for p in (0.3, 0.0, 0.6, 0.9)]
    masks.insert(0, np.zeros((5, 5), np.uint8))
    for got, mask in zip(trace_many(masks, 7, 3), masks):
        alone = trace(mask, 7, 3)
        if alone is None:
            assert got is None
            continue
        assert got is not None and got.holes == alone.holes
        assert all(np.array_equal(a, b) for a, b in zip(got.rings, alone.rings))
        assert np.array_equal(mask_api.decode(polygon_rle(got, 20, 30))[3:, 7:], mask)


def test_trace_is_exact_on_thousands_of_masks_touching_the_frame() -> None:
    """Dense random masks reach every edge of the frame, where OpenCV's border following has no background
    beyond: the outline must still close on the frame's edge."""
    rng = np.random.default_rng(3)
    for _ in range(2000):
        h, w = (int(v) for v in rng.integers(1, 12, 2))
        m = (rng.random((h, w)) < rng.choice([0.3, 0.6, 0.9])).astype(np.uint8)
        polygon = trace(m)
        if polygon is None:
            assert not m.any()
            continue
        assert np.array_equal(mask_api.decode(polygon_rle(polygon, h, w)), m)
        for ring, hole in zip(polygon.rings, polygon.holes):
            # each ring starts at its top-left corner, outer rings leaving it downwards, holes to the right
            top_left = min(ring.tolist(), key=lambda p: (p[1], p[0]))
            assert ring[0].tolist() == top_left
            dx, dy = (ring[1] - ring[0]).tolist()
            assert (dx > 0 and dy == 0) if hole else (dx == 0 and dy > 0)


def test_a_block_keeps_its_size() -> None:
    m = np.zeros((20, 20), np.uint8)
    m[2:12, 2:12] = 1
    polygon = trace(m)
    assert polygon is not None
    np.testing.assert_array_equal(polygon.rings[0], [[2, 2], [2, 12], [12, 12], [12, 2]])


@pytest.mark.parametrize("segmentation", ["polygon", "rle"])
def test_wbc_masks_to_coco_are_pixel_exact(tmp_path: Path, segmentation: str) -> None:
    root = real("segmentation_wbc") / "Dataset 1"
    out = tmp_path / "wbc.json"
    report = Report()
    summary = cytoconv.convert(
        root,
        out,
        to="coco",
        report=report,
        read_options=ReadOptions(mask_classes=WBC.mask_classes, mask_geometry=segmentation),
        write_options=WriteOptions(segmentation=segmentation),
    )
    assert summary.images == 40
    coco = COCO(str(out))
    ring_areas = []
    for image in coco.dataset["images"]:
        mask = np.asarray(Image.open(root / (image["file_name"][:-4] + ".png")))
        for category_id, value in ((1, 128), (2, 255)):
            assert np.array_equal(_class_masks(coco, image["id"], category_id, mask.shape), mask == value)
        cyto = coco.loadAnns(coco.getAnnIds(imgIds=image["id"], catIds=[1]))
        ring_areas.append((sum(a["area"] for a in cyto), int((mask == 128).sum())))
    assert all(a == b for a, b in ring_areas)  # the ring's pixel count, not the filled outline's
    for ann in coco.dataset["annotations"]:
        assert ann["iscrowd"] == 0
        assert isinstance(ann["segmentation"], dict if segmentation == "rle" else list)
    if segmentation == "polygon":
        assert report.notices["holes-bridged"] >= 38


def test_wbc_masks_to_yolo_and_back_are_identical(tmp_path: Path) -> None:
    root = real("segmentation_wbc") / "Dataset 1"
    images = tmp_path / "images"
    images.mkdir()
    for bmp in root.glob("*.bmp"):
        shutil.copy(bmp, images / bmp.name)
    cytoconv.convert(
        root, tmp_path / "y", to="yolo", read_options=WBC, write_options=WriteOptions(holes="bridge")
    )
    cytoconv.convert(tmp_path / "y", tmp_path / "c.json", to="coco", read_options=ReadOptions(images=images))
    coco = COCO(str(tmp_path / "c.json"))
    for image in coco.dataset["images"]:
        mask = np.asarray(Image.open(root / (image["file_name"].rsplit("/", 1)[-1][:-4] + ".png")))
        for category_id, value in ((1, 128), (2, 255)):
            assert np.array_equal(_class_masks(coco, image["id"], category_id, mask.shape), mask == value)


def test_per_class_instances_keep_a_lobed_nucleus_whole(tmp_path: Path) -> None:
    root = real("segmentation_wbc") / "Dataset 1"
    components = cytoconv.read(root, fmt="masks", options=WBC)
    per_class = cytoconv.read(
        root, fmt="masks", options=ReadOptions(mask_classes=WBC.mask_classes, instances="per-class")
    )
    nuclei = [sum(i.category_id == 2 for i in im.instances) for im in components.images]
    whole = [sum(i.category_id == 2 for i in im.instances) for im in per_class.images]
    assert max(nuclei) > 1 and set(whole) == {1}
    expected = []
    for im in components.images:
        m = np.asarray(Image.open(root / (im.file_name[:-4] + ".png"))) == 255
        expected.append(cv2.connectedComponents(m.astype(np.uint8), connectivity=8)[0] - 1)
    assert nuclei == expected


def test_stray_values_strict_names_them_and_lenient_reports(tmp_path: Path) -> None:
    root = real("segmentation_wbc") / "Dataset 2"
    with pytest.raises(FormatError) as info:
        cytoconv.read(root, fmt="masks", options=WBC)
    assert info.value.code == "unmapped-mask-value" and info.value.path is not None
    assert info.value.path.endswith("034.png") and "2 (2 px), 7 (38 px)" in info.value.message
    report = Report(strict=False)
    ds = cytoconv.read(root, fmt="masks", options=WBC, report=report)
    assert len(ds.images) == 13
    assert report.skipped["unmapped-mask-value"] == 5
    assert report.notices["unmapped-pixels"] > 0


def test_dsb_per_object_masks_match_the_rle_csv(tmp_path: Path) -> None:
    root = real("dsb2018_stage1_test_masks")
    out = tmp_path / "dsb.json"
    summary = cytoconv.convert(
        root / "stage1_test",
        out,
        to="coco",
        write_options=WriteOptions(segmentation="rle"),
        read_options=ReadOptions(mask_geometry="rle"),
    )
    assert sum(summary.instances.values()) == 317
    rows: dict[str, list[tuple[str, int, int]]] = {}
    with open(root / "stage1_solution.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            rows.setdefault(row["ImageId"], []).append(
                (row["EncodedPixels"], int(row["Height"]), int(row["Width"]))
            )
    coco = COCO(str(out))
    for image in coco.dataset["images"]:
        image_id = Path(image["file_name"]).stem
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
        assert len(anns) == len(rows[image_id])
        for ann, (encoded, h, w) in zip(anns, rows[image_id]):
            flat = np.zeros(h * w, np.uint8)
            pairs = [int(v) for v in encoded.split()]
            for start, length in zip(pairs[0::2], pairs[1::2]):
                flat[start - 1 : start - 1 + length] = 1  # 1-based, column-major
            assert np.array_equal(coco.annToMask(ann), flat.reshape((w, h)).T)


def test_dsb_polygons_are_exact_too(tmp_path: Path) -> None:
    root = real("dsb2018_stage1_test_masks") / "stage1_test"
    cytoconv.convert(root, tmp_path / "dsb.json", to="coco")
    coco = COCO(str(tmp_path / "dsb.json"))
    for image in coco.dataset["images"]:
        sample = root / Path(image["file_name"]).stem / "masks"
        masks = sorted(sample.iterdir(), key=lambda p: natural_key(p.name))
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
        for ann, path in zip(anns, masks, strict=True):
            assert np.array_equal(coco.annToMask(ann), (np.asarray(Image.open(path)) > 0).astype(np.uint8))


def test_stardist_sparse_uint16_label_image(tmp_path: Path) -> None:
    folder = real("stardist_dsb_label_tif") / "stardist" / "data" / "images"
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    shutil.copy(folder / "img2d.tif", tmp_path / "images" / "img2d.tif")
    shutil.copy(folder / "mask2d.tif", tmp_path / "masks" / "img2d.tif")
    ds = cytoconv.read(tmp_path, fmt="instance-masks")
    labels = np.asarray(Image.open(folder / "mask2d.tif"))
    ids = [v for v in np.unique(labels) if v]
    assert len(ds.images[0].instances) == len(ids) == 125
    from cytoconv.geometry.raster import rasterise as to_mask

    for value, inst in zip(ids, ds.images[0].instances, strict=True):
        assert np.array_equal(to_mask(inst.geometry, 512, 512).astype(bool), labels == value)  # type: ignore[arg-type]


def test_cellpose_cp_masks_layout(tmp_path: Path) -> None:
    root = real("omnipose_cp_masks") / "docs" / "test_files"
    assert mask_stem("caulo_15_cp_masks.tif") == "caulo_15"
    summary = cytoconv.convert(root, tmp_path / "c.json", to="coco", fmt="instance-masks")
    assert summary.images == 3 and sum(summary.instances.values()) == 140


def test_bbbc039_class_in_the_red_channel(tmp_path: Path) -> None:
    root = real("bbbc039_deeptrack") / "cell nuclei"
    with pytest.raises(FormatError, match="--channel"):
        cytoconv.read(root, fmt="masks")
    ds = cytoconv.read(root, fmt="masks", options=ReadOptions(channel=0))
    assert len(ds.images) == 4
    assert {c.name for c in ds.categories} <= {"value_1", "value_2", "value_3"}
    empty = [im for im in ds.images if im.file_name.startswith("IXMtest_F13")]
    assert empty and not empty[0].instances


def test_semantic_masks_written_and_read_back(tmp_path: Path) -> None:
    root = real("segmentation_wbc") / "Dataset 1"
    cytoconv.convert(root, tmp_path / "c.json", to="coco", read_options=WBC)
    cytoconv.convert(
        tmp_path / "c.json",
        tmp_path / "m",
        to="masks",
        read_options=ReadOptions(images=root),
        write_options=WriteOptions(mask_classes=WBC.mask_classes),
    )
    classes = json.loads((tmp_path / "m" / "masks" / "classes.json").read_text())
    assert classes == {"0": "background", "128": "cytoplasm", "255": "nucleus"}
    for png in root.glob("*.png"):
        assert np.array_equal(
            np.asarray(Image.open(tmp_path / "m" / "masks" / png.name)), np.asarray(Image.open(png))
        )


def test_mask_image_size_mismatch_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.new("RGB", (10, 8)).save(tmp_path / "images" / "a.png")
    Image.new("L", (10, 9)).save(tmp_path / "masks" / "a.png")
    with pytest.raises(FormatError) as info:
        cytoconv.read(tmp_path, fmt="masks")
    assert info.value.code == "size-mismatch" and "10x9" in info.value.message


def test_lenient_size_mismatch_leaves_the_image_out(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for stem, mask_height in (("a", 9), ("b", 8)):
        Image.new("RGB", (10, 8)).save(tmp_path / "images" / f"{stem}.png")
        Image.new("L", (10, mask_height), 255).save(tmp_path / "masks" / f"{stem}.png")
    report = Report(strict=False)
    ds = cytoconv.read(tmp_path, fmt="masks", report=report)
    assert [im.file_name for im in ds.images] == ["b.png"]
    assert report.skipped["size-mismatch"] == 1


def test_stardist_image_and_mask_in_one_folder(tmp_path: Path) -> None:
    folder = real("stardist_dsb_label_tif") / "stardist" / "data" / "images"
    summary = cytoconv.convert(
        folder, tmp_path / "s.json", to="coco", fmt="instance-masks", read_options=ReadOptions(images=folder)
    )
    assert summary.images == 1 and sum(summary.instances.values()) == 125


def test_masks_without_a_class_map_write_back_identical(tmp_path: Path) -> None:
    root = real("segmentation_wbc") / "Dataset 1"
    cytoconv.convert(root, tmp_path / "m", to="masks", fmt="masks")
    classes = json.loads((tmp_path / "m" / "masks" / "classes.json").read_text())
    assert classes == {"0": "background", "128": "value_128", "255": "value_255"}
    for png in sorted(root.glob("*.png"))[:10]:
        assert np.array_equal(
            np.asarray(Image.open(tmp_path / "m" / "masks" / png.name)), np.asarray(Image.open(png))
        )


def test_writing_a_class_of_several_values_is_refused(tmp_path: Path) -> None:
    from cytoconv.errors import UsageError

    root = real("segmentation_wbc") / "Dataset 1"
    cell = parse_class_map("wbc-cell")
    with pytest.raises(UsageError, match="several values"):
        cytoconv.convert(
            root,
            tmp_path / "m",
            to="masks",
            read_options=ReadOptions(mask_classes=cell),
            write_options=WriteOptions(mask_classes=cell),
        )
    assert not (tmp_path / "m").exists()


def test_overlapping_classes_are_counted_when_painted(tmp_path: Path) -> None:
    from tests.conftest import BALF_SAMPLE

    report = Report()
    cytoconv.convert(BALF_SAMPLE, tmp_path / "m", to="masks", report=report)
    painted = cytoconv.read(tmp_path / "m", fmt="masks", options=ReadOptions(images=BALF_SAMPLE / "images"))
    original = cytoconv.read(BALF_SAMPLE)
    from cytoconv.geometry.raster import rasterise as to_mask

    for a, b in zip(original.images, painted.images, strict=True):
        want = np.zeros((640, 853), np.int32)
        for inst in sorted(a.instances, key=lambda i: i.category_id):
            want[to_mask(inst.geometry, 640, 853).astype(bool)] = inst.category_id  # type: ignore[arg-type]
        got = np.zeros((640, 853), np.int32)
        for inst in b.instances:
            got[to_mask(inst.geometry, 640, 853).astype(bool)] = inst.category_id  # type: ignore[arg-type]
        assert np.array_equal(got, want)
    assert report.notices["overlap"] > 0  # the sample's cells overlap; the later class wins, and it is said


def test_instance_masks_keep_their_classes_through_instances_csv(tmp_path: Path) -> None:
    from tests.conftest import BALF_SAMPLE

    cytoconv.convert(BALF_SAMPLE, tmp_path / "i", to="instance-masks")
    back = cytoconv.read(tmp_path / "i", options=ReadOptions(images=BALF_SAMPLE / "images"))
    original = cytoconv.read(BALF_SAMPLE)
    assert [(c.id, c.name) for c in back.categories] == [(c.id, c.name) for c in original.categories]
    assert [c.name for c in back.categories][:2] == ["erythrocyte", "ciliated columnar epithelial"]
    assert sum(len(b.instances) for b in back.images) == sum(len(a.instances) for a in original.images) == 108
    for a, b in zip(original.images, back.images, strict=True):
        assert Path(b.file_name).stem == Path(a.file_name).stem
        # ids 1..N in object order, each with its class from instances.csv: every object, its class, in order
        assert [i.category_id for i in b.instances] == [i.category_id for i in a.instances], a.file_name


def test_lenient_skips_an_unreadable_mask(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for stem in ("a", "b"):
        Image.new("RGB", (10, 8)).save(tmp_path / "images" / f"{stem}.png")
    Image.new("L", (10, 8), 255).save(tmp_path / "masks" / "a.png")
    (tmp_path / "masks" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(FormatError, match=r"b\.png"):
        cytoconv.read(tmp_path, fmt="masks")
    report = Report(strict=False)
    ds = cytoconv.read(tmp_path, fmt="masks", report=report)
    assert [im.file_name for im in ds.images] == ["a.png"] and report.skipped["bad-image"] == 1


def test_simplify_is_opt_in_counted_and_close(tmp_path: Path) -> None:
    root = real("segmentation_wbc") / "Dataset 1"
    exact = cytoconv.read(root, fmt="masks", options=WBC)
    report = Report()
    simple = cytoconv.read(
        root, fmt="masks", report=report, options=ReadOptions(mask_classes=WBC.mask_classes, simplify=1.0)
    )
    from cytoconv.geometry.raster import rasterise as to_mask

    before = after = 0
    ious = []
    for a_im, b_im in zip(exact.images, simple.images, strict=True):
        for a, b in zip(a_im.instances, b_im.instances, strict=True):
            before += sum(len(r) for r in a.geometry.rings)  # type: ignore[union-attr]
            after += sum(len(r) for r in b.geometry.rings)  # type: ignore[union-attr]
            ma = to_mask(a.geometry, a_im.height, a_im.width).astype(bool)  # type: ignore[arg-type]
            mb = to_mask(b.geometry, b_im.height, b_im.width).astype(bool)  # type: ignore[arg-type]
            ious.append((ma & mb).sum() / (ma | mb).sum())
    assert min(ious) > 0.85 and float(np.mean(ious)) > 0.95  # a thin cytoplasm ring loses most
    assert after < before / 2
    assert report.notices["vertices-simplified"] == before - after


@pytest.mark.parametrize("segmentation", ["polygon", "rle"])
def test_bbbc039_class_maps_are_exact_through_coco(tmp_path: Path, segmentation: str) -> None:
    root = real("bbbc039_deeptrack") / "cell nuclei"
    out = tmp_path / "c.json"
    cytoconv.convert(
        root,
        out,
        to="coco",
        fmt="masks",
        read_options=ReadOptions(channel=0, mask_geometry=segmentation),  # type: ignore[arg-type]
        write_options=WriteOptions(segmentation=segmentation),
    )  # type: ignore[arg-type]
    coco = COCO(str(out))
    names = {c["id"]: c["name"] for c in coco.dataset["categories"]}
    for image in coco.dataset["images"]:
        red = np.asarray(Image.open(root / "masks" / (Path(image["file_name"]).stem + ".png")))[:, :, 0]
        for cid, name in names.items():
            value = int(name.removeprefix("value_"))
            assert np.array_equal(_class_masks(coco, image["id"], cid, red.shape), red == value)


@pytest.mark.parametrize("segmentation", ["polygon", "rle"])
def test_cellpose_label_images_are_exact_through_coco(tmp_path: Path, segmentation: str) -> None:
    root = real("omnipose_cp_masks") / "docs" / "test_files"
    out = tmp_path / "c.json"
    cytoconv.convert(
        root,
        out,
        to="coco",
        fmt="instance-masks",
        read_options=ReadOptions(mask_geometry=segmentation),  # type: ignore[arg-type]
        write_options=WriteOptions(segmentation=segmentation),
    )  # type: ignore[arg-type]
    coco = COCO(str(out))
    for image in coco.dataset["images"]:
        labels = np.asarray(Image.open(root / "masks" / (Path(image["file_name"]).stem + "_cp_masks.tif")))
        ids = [v for v in np.unique(labels) if v]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
        assert len(anns) == len(ids)
        for ann, value in zip(anns, ids, strict=True):
            assert np.array_equal(coco.annToMask(ann).astype(bool), labels == value)
            assert coco.annToMask(ann).sum() == ann["area"]
