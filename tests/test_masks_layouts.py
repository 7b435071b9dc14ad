"""Mask layouts as the tools write them (CVAT "Segmentation mask 1.1", datumaro common_semantic_segmentation,
COCO 2017, VOC2012, Cellpose), colour-coded class maps, and objects that overlap in written masks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

import cytoconv
from cytoconv.api import ReadOptions, WriteOptions
from cytoconv.errors import FormatError, Report, UsageError
from cytoconv.formats import CONTENT, GUESS, LAYOUT, detect
from cytoconv.formats.masks import instance, semantic
from cytoconv.formats.masks.maskio import pack, parse_class_map
from tests.conftest import real

# Two classes whose red channel is the same (128): read by --channel R they would merge into one.
NUCLEUS, CYTOPLASM = (128, 0, 0), (128, 128, 0)
LABELMAP = "# label:color_rgb:parts:actions\nbackground:0,0,0::\ncytoplasm:128,128,0::\nnucleus:128,0,0::\n"


def _colour_mask(height: int = 12, width: int = 16) -> np.ndarray:
    """A cell: cytoplasm (8x8 at 2,2) with a nucleus (2x2 at 5,5) inside it, and a lone nucleus (3x3 at 12,1)."""
    arr = np.zeros((height, width, 3), np.uint8)
    arr[2:10, 2:10] = CYTOPLASM
    arr[5:7, 5:7] = NUCLEUS
    arr[1:4, 12:15] = NUCLEUS
    return arr


def _cvat_export(root: Path, palette: bool = False) -> Path:
    """A CVAT "Segmentation mask 1.1" export with images saved: labelmap.txt, ImageSets/Segmentation/
    default.txt, SegmentationClass/ (class colours), SegmentationObject/ (one colour per object), JPEGImages/."""
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "ImageSets" / "Segmentation" / "default.txt").write_text("cell1\n")
    (root / "labelmap.txt").write_text(LABELMAP)
    for folder in ("SegmentationClass", "SegmentationObject", "JPEGImages"):
        (root / folder).mkdir()
    arr = _colour_mask()
    if palette:  # a palette PNG: index 1 shows cytoplasm's colour, index 2 nucleus's
        index = np.zeros(arr.shape[:2], np.uint8)
        index[(arr == CYTOPLASM).all(axis=2)] = 1
        index[(arr == NUCLEUS).all(axis=2)] = 2
        image = Image.fromarray(index, mode="P")
        image.putpalette([0, 0, 0, *CYTOPLASM, *NUCLEUS] + [0] * (253 * 3))
        image.save(root / "SegmentationClass" / "cell1.png")
    else:
        Image.fromarray(arr).save(root / "SegmentationClass" / "cell1.png")
    objects = np.zeros_like(arr)
    objects[2:10, 2:10] = (128, 0, 0)
    objects[1:4, 12:15] = (0, 128, 0)
    Image.fromarray(objects).save(root / "SegmentationObject" / "cell1.png")
    Image.fromarray(np.full((12, 16, 3), 200, np.uint8)).save(root / "JPEGImages" / "cell1.jpg")
    return root


def _counts(ds: cytoconv.Dataset) -> dict[str, int]:
    names = {c.id: c.name for c in ds.categories}
    out: dict[str, int] = {}
    for image in ds.images:
        for inst in image.instances:
            out[names[inst.category_id]] = out.get(names[inst.category_id], 0) + 1
    return out


def _areas(ds: cytoconv.Dataset) -> list[tuple[str, int]]:
    from cytoconv.geometry.raster import rasterise

    names = {c.id: c.name for c in ds.categories}
    return sorted(
        (names[i.category_id], int(rasterise(i.geometry, im.height, im.width).sum()))
        for im in ds.images
        for i in im.instances
    )


# ---------------------------------------------------------------------------------------------
# Colour-coded semantic masks


@pytest.mark.parametrize("palette", [False, True], ids=["rgb", "palette"])
def test_cvat_segmentation_mask_export_reads_by_its_labelmap(tmp_path: Path, palette: bool) -> None:
    root = _cvat_export(tmp_path / "cvat", palette)
    assert semantic.detect(root) == semantic.Evidence(
        LAYOUT, "SegmentationClass/ with the class map labelmap.txt"
    )
    assert detect(root).name == "masks"
    ds = cytoconv.read(root)
    assert [c.name for c in ds.categories] == ["cytoplasm", "nucleus"]  # background is not a class
    assert [im.file_name for im in ds.images] == ["cell1.jpg"]
    # the cytoplasm ring (64 - 4 px, with the nucleus as its hole) and the two nuclei, none merged
    assert _areas(ds) == [("cytoplasm", 60), ("nucleus", 4), ("nucleus", 9)]


def test_channel_is_refused_on_a_colour_mask_rather_than_merging_classes(tmp_path: Path) -> None:
    root = _cvat_export(tmp_path / "cvat")
    with pytest.raises(FormatError, match=r"--channel 0 would merge colours 128,0,0 and 128,128,0") as info:
        cytoconv.read(
            root, fmt="masks", options=ReadOptions(channel=0, mask_classes=parse_class_map("128=x"))
        )
    assert info.value.code == "bad-channel"
    assert "\n" not in str(info.value)


def test_bbbc039_red_channel_class_map_still_reads_with_channel() -> None:
    root = real("bbbc039_deeptrack") / "cell nuclei"
    assert detect(root).name == "masks"
    ds = cytoconv.read(root, fmt="masks", options=ReadOptions(channel=0))
    assert sorted(c.name for c in ds.categories) == ["value_1", "value_2", "value_3"]


def test_datumaro_common_semantic_segmentation_with_colours(tmp_path: Path) -> None:
    root = tmp_path / "css"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    meta = {
        "label_map": {"0": "background", "1": "cytoplasm", "2": "nucleus"},
        "segmentation_colors": [[0, 0, 0], list(CYTOPLASM), list(NUCLEUS)],
        "background_label": "0",
    }
    (root / "dataset_meta.json").write_text(json.dumps(meta))
    Image.fromarray(_colour_mask()).save(root / "masks" / "cell1.png")
    Image.fromarray(np.full((12, 16, 3), 200, np.uint8)).save(root / "images" / "cell1.png")
    assert semantic.detect(root) == semantic.Evidence(LAYOUT, "masks/ with the class map dataset_meta.json")
    ds = cytoconv.read(root)
    assert [c.name for c in ds.categories] == ["cytoplasm", "nucleus"]
    assert _areas(ds) == [("cytoplasm", 60), ("nucleus", 4), ("nucleus", 9)]


def test_datumaro_meta_without_colours_maps_indices(tmp_path: Path) -> None:
    root = tmp_path / "css"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "dataset_meta.json").write_text(
        json.dumps({"label_map": {"0": "background", "1": "a", "2": "b"}})
    )
    index = np.zeros((6, 6), np.uint8)
    index[0:2, 0:2], index[3:6, 3:6] = 1, 2
    Image.fromarray(index).save(root / "masks" / "x.png")
    Image.fromarray(np.zeros((6, 6), np.uint8)).save(root / "images" / "x.png")
    assert _areas(cytoconv.read(root, fmt="masks")) == [("a", 4), ("b", 9)]


def test_colour_classes_on_the_command_line(tmp_path: Path) -> None:
    classes = parse_class_map("128,0,0=nucleus; cytoplasm=128,128,0")
    assert [(c.name, c.values, c.rgb) for c in classes] == [
        ("nucleus", (pack(128, 0, 0),), True),
        ("cytoplasm", (pack(128, 128, 0),), True),
    ]
    assert [c.name for c in parse_class_map("128=cytoplasm,255=nucleus")] == ["cytoplasm", "nucleus"]
    with pytest.raises(UsageError, match="a colour entry looks like 255,0,0=nucleus"):
        parse_class_map("128,0=nucleus;1,2,3=x")
    root = _cvat_export(tmp_path / "cvat")
    (root / "labelmap.txt").unlink()
    report = Report(strict=False)
    ds = cytoconv.read(root, fmt="masks", options=ReadOptions(mask_classes=(classes[0],)), report=report)
    assert _areas(ds) == [("nucleus", 4), ("nucleus", 9)]  # cytoplasm's colour is a stray, counted and named
    assert report.notices["unmapped-pixels"] == 60


def test_stray_colours_are_named_as_colours(tmp_path: Path) -> None:
    root = _cvat_export(tmp_path / "cvat")
    (root / "labelmap.txt").write_text(
        "# label:color_rgb:parts:actions\nbackground:0,0,0::\nnucleus:128,0,0::\n"
    )
    with pytest.raises(FormatError, match=r"values not in the class map: 128,128,0 \(60 px\)"):
        cytoconv.read(root, fmt="masks")


def test_validate_reads_a_cvat_export_by_its_labelmap(tmp_path: Path) -> None:
    from cytoconv.validate import Settings, validate

    root = _cvat_export(tmp_path / "cvat")
    assert validate([root], Settings(), fmt="masks", jobs=1).findings == []
    (root / "labelmap.txt").write_text(
        "# label:color_rgb:parts:actions\nbackground:0,0,0::\nnucleus:128,0,0::\n"
    )
    found = validate([root], Settings(), fmt="masks", jobs=1).findings
    assert [(f.code, f.message) for f in found] == [
        ("CC502", "60 px of the colour 128,128,0 the class map does not know (map: 0,0,0, 128,0,0)")
    ]


# ---------------------------------------------------------------------------------------------
# Detection of real layouts


def test_coco_2017_download_is_not_instance_masks(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    (tmp_path / "train2017").mkdir()
    doc = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "cell"}]}
    for name in ("instances_train2017.json", "instances_val2017.json", "person_keypoints_val2017.json"):
        (tmp_path / "annotations" / name).write_text(json.dumps(doc))
    assert instance.detect(tmp_path) is None
    assert detect(tmp_path).name == "coco"


def test_voc2012_download_is_not_claimed_as_masks_at_layout_strength(tmp_path: Path) -> None:
    for folder in ("Annotations", "JPEGImages", "SegmentationClass", "SegmentationObject", "ImageSets/Main"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "Annotations" / "2007_000032.xml").write_text(
        "<annotation><filename>2007_000032.jpg</filename><size><width>8</width><height>8</height>"
        "<depth>3</depth></size><object><name>aeroplane</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
        "<xmax>4</xmax><ymax>4</ymax></bndbox></object></annotation>"
    )
    Image.fromarray(np.zeros((8, 8), np.uint8), mode="P").save(
        tmp_path / "SegmentationClass" / "2007_000032.png"
    )
    Image.fromarray(np.zeros((8, 8), np.uint8), mode="P").save(
        tmp_path / "SegmentationObject" / "2007_000032.png"
    )
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "JPEGImages" / "2007_000032.jpg")
    found = semantic.detect(tmp_path)
    assert found is not None and found.strength == CONTENT
    assert instance.detect(tmp_path) is None


def test_real_mask_samples_detect_as_before() -> None:
    omnipose = real("omnipose_cp_masks") / "docs" / "test_files"
    assert instance.detect(omnipose) == instance.Evidence(LAYOUT, "Cellpose *_cp_masks images in masks/")
    assert semantic.detect(omnipose) == semantic.Evidence(GUESS, "a masks/ folder of images")
    assert detect(omnipose).name == "instance-masks"  # was a tie, refused
    assert detect(real("segmentation_wbc") / "Dataset 1").name == "masks"
    assert detect(real("bbbc039_deeptrack") / "cell nuclei").name == "masks"


def test_label_images_are_a_guess(tmp_path: Path) -> None:
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "label_001.png").write_bytes(b"")
    (tmp_path / "labels" / "labels.json").write_text("{}")
    assert instance.detect(tmp_path) == instance.Evidence(GUESS, "label*/instance* images in labels/")
    (tmp_path / "labels" / "label_001.png").unlink()
    assert instance.detect(tmp_path) is None  # labels.json is not a label image


# ---------------------------------------------------------------------------------------------
# Overlapping objects in written masks


def _overlapping_coco(root: Path) -> Path:
    """A COCO file of one 20x20 image whose objects overlap: a small cell (1) that the next one (2) covers
    entirely, and a third (3) covering part of the second."""
    root.mkdir()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(root / "a.png")

    def square(x0: int, y0: int, x1: int, y1: int) -> list[list[float]]:
        return [[x0, y0, x1, y0, x1, y1, x0, y1]]

    anns = [((7, 7, 10, 10), 2), ((2, 2, 12, 12), 1), ((6, 6, 16, 16), 1)]
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 20, "height": 20}],
        "annotations": [
            {
                "id": k,
                "image_id": 1,
                "category_id": cat,
                "segmentation": square(*box),
                "area": float((box[2] - box[0]) * (box[3] - box[1])),
                "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                "iscrowd": 0,
            }
            for k, (box, cat) in enumerate(anns, start=1)
        ],
        "categories": [{"id": 1, "name": "cell"}, {"id": 2, "name": "debris"}],
    }
    (root / "c.json").write_text(json.dumps(doc))
    return root / "c.json"


def _masks_of(path: Path) -> list[tuple[int, bytes]]:
    coco = COCO(str(path))
    return sorted((a["category_id"], coco.annToMask(a).tobytes()) for a in coco.loadAnns(coco.getAnnIds()))


def test_hidden_objects_are_counted_named_and_left_out_of_instances_csv(tmp_path: Path) -> None:
    src = _overlapping_coco(tmp_path / "src")
    report = Report()
    cytoconv.convert(src, tmp_path / "im", to="instance-masks", report=report)
    assert report.notices["object-hidden"] == 1
    assert report.notices["object-partly-covered"] == 1
    assert any(
        "a.png: 1 object(s) fully covered by other objects" in m and "object 1" in m
        for m in report.examples["object-hidden"]
    )
    label = np.asarray(Image.open(tmp_path / "im" / "masks" / "a.png"))
    assert sorted(np.unique(label).tolist()) == [0, 2, 3]  # object 1 is nowhere
    rows = list(csv.DictReader((tmp_path / "im" / "instances.csv").open()))
    assert [(r["instance_id"], r["category"]) for r in rows] == [("2", "cell"), ("3", "cell")]
    back = cytoconv.read(tmp_path / "im", options=ReadOptions(images=tmp_path / "src"))
    assert len(back.images[0].instances) == 2  # what the csv says is what the image holds


def test_overlap_error_refuses_naming_the_first_hidden_object(tmp_path: Path) -> None:
    src = _overlapping_coco(tmp_path / "src")
    with pytest.raises(FormatError, match=r"object 1 is fully covered by other objects") as info:
        cytoconv.convert(
            src, tmp_path / "im", to="instance-masks", write_options=WriteOptions(overlap="error")
        )
    assert info.value.code == "covered-object" and "a.png" in str(info.value)
    assert not (tmp_path / "im").exists()  # nothing half-written


def test_layers_round_trip_keeps_every_object_exactly(tmp_path: Path) -> None:
    src = _overlapping_coco(tmp_path / "src")
    report = Report()
    cytoconv.convert(
        src, tmp_path / "im", to="instance-masks", write_options=WriteOptions(layers=True), report=report
    )
    assert "object-hidden" not in report.notices and "object-partly-covered" not in report.notices
    names = sorted(p.name for p in (tmp_path / "im" / "masks").iterdir())
    assert names == ["a.png", "a_layer2.png", "a_layer3.png"]
    for name, ids in (("a.png", [0, 1]), ("a_layer2.png", [0, 2]), ("a_layer3.png", [0, 3])):
        assert np.unique(np.asarray(Image.open(tmp_path / "im" / "masks" / name))).tolist() == ids
    cytoconv.convert(
        tmp_path / "im", tmp_path / "back.json", to="coco", read_options=ReadOptions(images=tmp_path / "src")
    )
    assert _masks_of(tmp_path / "back.json") == _masks_of(src)


def test_semantic_writer_names_an_object_hidden_by_another_class(tmp_path: Path) -> None:
    src = _overlapping_coco(tmp_path / "src")
    report = Report()
    cytoconv.convert(src, tmp_path / "m", to="masks", report=report)
    # debris (category 2) is painted last, on top: no object is hidden, both cells are shown in part
    assert "object-hidden" not in report.notices and report.notices["object-partly-covered"] == 2
    doc = json.loads(src.read_text())
    doc["categories"] = [{"id": 2, "name": "cell"}, {"id": 1, "name": "debris"}]
    for ann in doc["annotations"]:
        ann["category_id"] = 3 - ann["category_id"]
    src.write_text(json.dumps(doc))  # now the debris is under the cells
    report = Report()
    cytoconv.convert(src, tmp_path / "m2", to="masks", report=report)
    assert report.notices["object-hidden"] == 1
    assert any(
        "a.png: 1 object(s) fully covered by other classes" in m and "object 1" in m
        for m in report.examples["object-hidden"]
    )
    with pytest.raises(FormatError, match="object 1 is fully covered by other classes"):
        cytoconv.convert(src, tmp_path / "m3", to="masks", write_options=WriteOptions(overlap="error"))
    with pytest.raises(UsageError, match="--layers is for instance-masks"):
        cytoconv.convert(src, tmp_path / "m4", to="masks", write_options=WriteOptions(layers=True))


def test_colour_masks_written_with_a_labelmap_read_back_identical(tmp_path: Path) -> None:
    src = _overlapping_coco(tmp_path / "src")
    images = ReadOptions(images=tmp_path / "src")
    cytoconv.convert(src, tmp_path / "plain", to="masks")
    classes = parse_class_map("200,0,0=cell;0,0,200=debris")
    options = WriteOptions(mask_colour=True, mask_classes=classes)
    cytoconv.convert(src, tmp_path / "colour", to="masks", write_options=options)
    assert (tmp_path / "colour" / "labelmap.txt").read_text() == (
        "# label:color_rgb:parts:actions\nbackground:0,0,0::\ncell:200,0,0::\ndebris:0,0,200::\n"
    )
    rgb = np.asarray(Image.open(tmp_path / "colour" / "masks" / "a.png"))
    assert (
        rgb.shape == (20, 20, 3) and rgb[8, 8].tolist() == [0, 0, 200] and rgb[3, 3].tolist() == [200, 0, 0]
    )
    assert semantic.detect(tmp_path / "colour") == semantic.Evidence(
        LAYOUT, "masks/ with the class map labelmap.txt"
    )
    plain = cytoconv.read(tmp_path / "plain", options=images)
    colour = cytoconv.read(tmp_path / "colour", options=images)
    assert [c.name for c in colour.categories] == ["cell", "debris"]
    assert (
        _areas(colour) == _areas(plain) == [("cell", 155), ("debris", 9)]
    )  # 100 + 100 - 36 overlap - 9 debris
    palette = WriteOptions(mask_colour=True)  # no colour map: the palette's colours
    cytoconv.convert(src, tmp_path / "palette", to="masks", write_options=palette)
    assert _areas(cytoconv.read(tmp_path / "palette", options=images)) == _areas(plain)
    with pytest.raises(UsageError, match="mask writers write values"):
        cytoconv.convert(src, tmp_path / "x", to="masks", write_options=WriteOptions(mask_classes=classes))


def test_a_labelmap_background_colour_that_is_not_black_is_background(tmp_path: Path) -> None:
    root = _cvat_export(tmp_path / "cvat")
    (root / "labelmap.txt").write_text(LABELMAP.replace("background:0,0,0::", "background:0,128,0::"))
    arr = _colour_mask()
    # background painted in its labelmap colour, as CVAT's docs show it
    arr[(arr == 0).all(axis=2)] = (0, 128, 0)
    Image.fromarray(arr).save(root / "SegmentationClass" / "cell1.png")
    ds = cytoconv.read(root)
    assert [c.name for c in ds.categories] == ["cytoplasm", "nucleus"]
    assert _areas(ds) == [("cytoplasm", 60), ("nucleus", 4), ("nucleus", 9)]


def test_cellpose_save_png_output_beside_its_images_is_instance_masks(tmp_path: Path) -> None:
    """Cellpose's GUI / ``--save_png`` writes ``x_cp_masks.png`` (and ``x_seg.npy``) beside ``x.png``."""
    for k, cells in ((1, 2), (2, 3)):
        Image.new("RGB", (40, 30)).save(tmp_path / f"cells_0{k}.png")
        labels = np.zeros((30, 40), np.uint16)
        for c in range(cells):
            labels[2 + 9 * c : 8 + 9 * c, 3:12] = c + 1
        Image.fromarray(labels).save(tmp_path / f"cells_0{k}_cp_masks.png")
        (tmp_path / f"cells_0{k}_seg.npy").write_bytes(b"\x93NUMPY")
    assert instance.detect(tmp_path) == instance.Evidence(
        LAYOUT, "Cellpose *_cp_masks images beside their images"
    )
    assert detect(tmp_path).name == "instance-masks"
    ds = cytoconv.read(tmp_path)
    assert sorted((r.file_name, len(r.instances)) for r in ds.images) == [
        ("cells_01.png", 2),
        ("cells_02.png", 3),
    ]
