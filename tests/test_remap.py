"""Remap: classes renamed, merged and dropped, with exact counts per class before and after, on every kind of
dataset (class folders re-grouped on disk, YOLO to COCO, points), and every bad map refused in one line."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path

import pytest
import yaml

import cytoconv
from cytoconv.engine.contract import ReadOptions
from cytoconv.errors import FormatError, Report, UsageError
from cytoconv.ir import Category
from cytoconv.ops.remap import as_pairs, parse_map, resolve
from tests.conftest import BALF_SAMPLE, make_image, output_suffix, real, run_cli, write
from tests.test_parallel import _tree

# A BMC-FGCD-like bone-marrow set: 40 fine classes, grouped into lineages (two classes dropped).
LINEAGES: dict[str | None, list[str]] = {
    "myeloid": [
        "myeloblast",
        "promyelocyte",
        "neutrophilic myelocyte",
        "neutrophilic metamyelocyte",
        "neutrophilic band",
        "neutrophilic segmented",
        "eosinophilic myelocyte",
        "eosinophilic metamyelocyte",
        "eosinophilic band",
        "eosinophilic segmented",
        "basophil",
    ],
    "erythroid": [
        "proerythroblast",
        "basophilic erythroblast",
        "polychromatic erythroblast",
        "orthochromatic erythroblast",
        "reticulocyte",
        "erythrocyte",
    ],
    "lymphoid": [
        "lymphoblast",
        "prolymphocyte",
        "lymphocyte",
        "reactive lymphocyte",
        "large granular lymphocyte",
        "plasma cell",
        "plasmablast",
        "hairy cell",
    ],
    "monocytic": ["monoblast", "promonocyte", "monocyte", "macrophage"],
    "megakaryocytic": ["megakaryoblast", "promegakaryocyte", "megakaryocyte", "platelet"],
    "other": ["mast cell", "histiocyte", "osteoblast", "osteoclast", "endothelial cell"],
    None: ["smudge cell", "artifact"],
}
FINE = sorted(name for names in LINEAGES.values() for name in names)  # the folders reader's class order
GROUP_IMAGES = {  # images per lineage: the sums of _images_of over each lineage's classes
    "myeloid": 26,
    "erythroid": 14,
    "lymphoid": 24,
    "monocytic": 10,
    "megakaryocytic": 11,
    "other": 12,
}
DROPPED_IMAGES = 3  # smudge cell 2 + artifact 1


def _images_of(name: str) -> int:
    """1 to 4 images per fine class, fixed by its place in the sorted list."""
    return 1 + (FINE.index(name) * 7) % 4


def _bone_marrow(root: Path) -> Path:
    """The 40 class folders with tiny images named like PBC's (``<CODE>_<n>.png``, unique over the set)."""
    for k, name in enumerate(FINE):
        for n in range(_images_of(name)):
            make_image(root / name / f"C{k:02d}_{n}.png", 4, 3)
    return root


def _lineage_map() -> str:
    return ",".join(f"{fine}={group or '-'}" for group, names in LINEAGES.items() for fine in names)


def _files(root: Path) -> dict[str, int]:
    return {d.name: len(list(d.iterdir())) for d in sorted(root.iterdir()) if d.is_dir()}


def test_the_lineage_counts_add_up() -> None:
    """The expected numbers above are the sums of the fixture's images (checked once, so the tests below can
    assert literal numbers)."""
    assert len(FINE) == 40
    for group, names in LINEAGES.items():
        total = sum(_images_of(n) for n in names)
        assert total == (GROUP_IMAGES[group] if group else DROPPED_IMAGES), group


# --- the map as text ---------------------------------------------------------------------------------------


def test_inline_map() -> None:
    assert parse_map("blast=myeloid, promyelocyte = myeloid ,artifact=-,") == [
        ("blast", "myeloid"),
        ("promyelocyte", "myeloid"),
        ("artifact", None),
    ]
    assert parse_map("Normal cell=normal,Macrocyte=large cell") == [
        ("Normal cell", "normal"),
        ("Macrocyte", "large cell"),
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("blast", "'blast' is not old=new"),
        ("blast=myeloid,promyelocyte", "'promyelocyte' is not old=new"),
        ("=myeloid", "'=myeloid' is not old=new"),
        ("a=b=c", "'a=b=c' is not old=new"),
        ("blast=", "'blast=' gives no new name"),
        ("blast=a,blast=b", "a class given twice: blast"),
        (",", "no old=new pairs"),
        ("missing.yaml", "--map missing.yaml: no such file"),
    ],
)
def test_bad_inline_map(text: str, says: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_map(text)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_yaml_and_json_map_files(tmp_path: Path) -> None:
    expected = [("blast", "myeloid"), ("Normal cell", "normal"), ("artifact", None), ("smudge", None)]
    yaml_file = write(
        tmp_path / "map.yaml", "blast: myeloid\nNormal cell: normal\nartifact: null\nsmudge: '-'\n"
    )
    json_file = write(
        tmp_path / "map.json",
        '{"blast": "myeloid", "Normal cell": "normal", "artifact": null, "smudge": "-"}',
    )
    assert parse_map(str(yaml_file)) == expected
    assert parse_map(str(json_file)) == expected
    assert as_pairs(yaml_file) == expected
    numbered = write(tmp_path / "numbered.yml", "0: zero\n1: ~\n")  # YOLO-like names that YAML reads as ints
    assert parse_map(str(numbered)) == [("0", "zero"), ("1", None)]


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("twice.yaml", "blast: a\nblast: b\n", "a class given twice: blast"),
        ("twice.json", '{"blast": "a", "blast": "b"}', "a class given twice: blast"),
        ("list.yaml", "- blast\n- myeloid\n", "expected one mapping of old: new"),
        ("list.json", '["blast"]', "expected one JSON object"),
        ("bad.json", '{"blast": ', "not JSON"),
        ("bad.yaml", "blast: [myeloid\n", "not YAML"),
        ("nested.yaml", "blast: [a, b]\n", ":1: expected old: new, one name each"),
        ("bool.yaml", "blast: no\n", "the value of 'blast' reads as a yes/no value; quote the name"),
        ("empty.yaml", "{}\n", "the map is empty"),
        ("nullkey.yaml", "~: a\n", "a key is empty or null"),
    ],
)
def test_bad_map_files(tmp_path: Path, name: str, text: str, says: str) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(UsageError) as caught:
        parse_map(str(path))
    assert says in str(caught.value)
    assert str(path) in str(caught.value)


# --- the map against the classes ---------------------------------------------------------------------------

CLASSES = [
    Category(id=1, name="blast", supercategory="wbc"),
    Category(id=2, name="promyelocyte", supercategory="wbc"),
    Category(id=3, name="erythroblast", supercategory="rbc"),
    Category(id=4, name="artifact"),
]


def test_merge_order_and_drop() -> None:
    classes = resolve(
        CLASSES,
        [
            ("erythroblast", "erythroid"),
            ("blast", "myeloid"),
            ("promyelocyte", "myeloid"),
            ("artifact", None),
        ],
    )
    assert [(c.id, c.name, c.supercategory) for c in classes.new] == [
        (1, "erythroid", "rbc"),
        (2, "myeloid", "wbc"),
    ]
    assert classes.new_id == {1: 2, 2: 2, 3: 1, 4: None}
    ordered = resolve(
        CLASSES,
        as_pairs(
            {"erythroblast": "erythroid", "blast": "myeloid", "promyelocyte": "myeloid", "artifact": "-"}
        ),
        order=["myeloid", "erythroid"],
    )
    assert [c.name for c in ordered.new] == ["myeloid", "erythroid"]
    assert ordered.new_id == {1: 1, 2: 1, 3: 2, 4: None}


def test_unmapped_error_keep_drop() -> None:
    pairs = [("promyelocyte", "myeloid")]
    with pytest.raises(UsageError) as caught:
        resolve(CLASSES, pairs)
    assert str(caught.value) == (
        "--map does not say what becomes of 3 class(es): blast, erythroblast, artifact "
        "(map each, or pass --unmapped keep or --unmapped drop)"
    )
    kept = resolve(CLASSES, pairs, unmapped="keep")
    assert [c.name for c in kept.new] == ["myeloid", "blast", "erythroblast", "artifact"]
    assert kept.unmapped == ("blast", "erythroblast", "artifact")
    dropped = resolve(CLASSES, pairs, unmapped="drop")
    assert [c.name for c in dropped.new] == ["myeloid"]
    assert dropped.new_id == {1: None, 2: 1, 3: None, 4: None}
    # a kept class whose name is a new class's joins it
    joined = resolve(CLASSES, [("promyelocyte", "blast"), ("artifact", None)], unmapped="keep")
    assert [c.name for c in joined.new] == ["blast", "erythroblast"]
    assert joined.new_id == {1: 1, 2: 1, 3: 2, 4: None}


def test_unknown_keys_and_bad_order() -> None:
    with pytest.raises(UsageError) as caught:
        resolve(CLASSES, [("blsat", "myeloid"), ("platelet", "-"), ("artifact", None)], unmapped="keep")
    assert str(caught.value) == (
        "--map names 2 class(es) the dataset does not have: 'blsat' (did you mean 'blast'?), 'platelet' "
        "(its classes: blast, promyelocyte, erythroblast, artifact)"
    )
    pairs = [
        ("blast", "myeloid"),
        ("promyelocyte", "myeloid"),
        ("erythroblast", "erythroid"),
        ("artifact", None),
    ]
    with pytest.raises(UsageError) as caught:
        resolve(CLASSES, pairs, order=["myeloid", "lymphoid", "myeloid"])
    assert str(caught.value) == (
        "--order must name every new class once (myeloid, erythroid): it leaves out erythroid; "
        "it names lymphoid, no new class; it names myeloid twice"
    )
    with pytest.raises(UsageError, match="--unmapped must be one of error, keep, drop"):
        resolve(CLASSES, pairs, unmapped="ignore")  # type: ignore[arg-type]


# --- class folders: re-grouped on disk ---------------------------------------------------------------------


def test_forty_classes_into_lineages_as_folders(tmp_path: Path) -> None:
    src = _bone_marrow(tmp_path / "bmc")
    result = cytoconv.remap(src, tmp_path / "lineages", _lineage_map(), jobs=1)
    assert result.unit == "images"
    assert [c.name for c in result.categories] == list(GROUP_IMAGES)
    assert result.images_after == GROUP_IMAGES
    assert result.images_before == {name: _images_of(name) for name in FINE}
    assert result.dropped == {"artifact": 1, "smudge cell": 2}
    assert (result.images_written, result.images_dropped) == (97, 3)
    assert result.summary.labels == Counter({1: 26, 2: 14, 3: 24, 4: 10, 5: 11, 6: 12})
    assert _files(tmp_path / "lineages") == dict(sorted(GROUP_IMAGES.items()))
    assert sorted(p.name for p in (tmp_path / "lineages" / "monocytic").iterdir()) == [
        "C14_0.png",
        "C14_1.png",
        "C14_2.png",
        "C18_0.png",
        "C18_1.png",
        "C18_2.png",
        "C19_0.png",
        "C19_1.png",
        "C35_0.png",
        "C35_1.png",
    ]


def test_forty_classes_linked_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _bone_marrow(tmp_path / "bmc")
    out = tmp_path / "lineages"
    code, stdout, err = run_cli(["remap", str(src), str(out), "--map", _lineage_map(), "--link"], capsys)
    assert code == 0, err
    assert stdout == ""
    assert _files(out) == dict(sorted(GROUP_IMAGES.items()))
    image = out / "erythroid" / f"C{FINE.index('erythrocyte'):02d}_0.png"
    assert os.stat(image).st_ino == os.stat(src / "erythrocyte" / image.name).st_ino
    rows = [line.split("│") for line in err.splitlines() if "│" in line]
    table = {r[0].strip(): [c.strip() for c in r[1:]] for r in rows}
    assert table["basophil"] == ["myeloid", "4", "26"]
    assert table["myeloblast"] == ["", "1", ""]
    assert table["artifact"] == ["(dropped)", "1", "-"]
    assert table["total"] == ["", "100", "97"]
    assert "97 images written; 3 left out, their class dropped" in err
    assert "noticed 2 x classes-dropped (e.g. artifact: 1 images not written (mapped to -))" in err


def test_forty_classes_into_a_manifest(tmp_path: Path) -> None:
    src = _bone_marrow(tmp_path / "bmc")
    result = cytoconv.remap(src, tmp_path / "lineages.csv", _lineage_map(), to="manifest", jobs=1)
    assert result.images_after == GROUP_IMAGES
    with open(tmp_path / "lineages.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert Counter(r["label"] for r in rows) == Counter(GROUP_IMAGES)
    assert sorted(r["file"] for r in rows if r["label"] == "megakaryocytic") == [
        f"{fine}/C{FINE.index(fine):02d}_{n}.png"
        for fine in sorted(LINEAGES["megakaryocytic"])
        for n in range(_images_of(fine))
    ]
    back = cytoconv.read(tmp_path / "lineages.csv", options=ReadOptions(images=src))
    assert Counter(back.category_names()[r.label] for r in back.images if r.label) == Counter(GROUP_IMAGES)


def test_merged_folders_with_one_file_name_clash(tmp_path: Path) -> None:
    """Two classes merged into one folder that both hold ``1.png``: refused, nothing written."""
    make_image(tmp_path / "src" / "blast" / "1.png", 4, 3)
    make_image(tmp_path / "src" / "promyelocyte" / "1.png", 4, 3)

    with pytest.raises(FormatError) as caught:
        cytoconv.remap(tmp_path / "src", tmp_path / "out", "blast=myeloid,promyelocyte=myeloid", jobs=1)
    assert caught.value.code == "name-collision"
    assert not (tmp_path / "out").exists()


# --- YOLO BALF sample to COCO ------------------------------------------------------------------------------

BALF_MAP = (
    "macrophage=macrophage,lymphocyte=leukocyte,neutrophil=leukocyte,eosinophil=leukocyte,"
    "erythrocyte=-,ciliated columnar epithelial=epithelial,squamous epithelial=epithelial"
)


def test_balf_yolo_to_coco(tmp_path: Path) -> None:
    out = tmp_path / "balf.json"
    result = cytoconv.remap(BALF_SAMPLE, out, BALF_MAP, to="coco", jobs=1)
    assert result.objects_before == {
        "erythrocyte": 18,
        "ciliated columnar epithelial": 8,
        "squamous epithelial": 6,
        "macrophage": 41,
        "lymphocyte": 21,
        "neutrophil": 11,
        "eosinophil": 3,
    }
    assert result.objects_after == {"macrophage": 41, "leukocyte": 35, "epithelial": 14}
    assert result.dropped == {"erythrocyte": 18}
    assert (result.images_written, result.images_dropped, result.images_emptied) == (20, 0, 0)
    coco = json.loads(out.read_text())
    assert [(c["id"], c["name"]) for c in coco["categories"]] == [
        (1, "macrophage"),
        (2, "leukocyte"),
        (3, "epithelial"),
    ]
    assert [c["name"] for c in coco["categories"]] == ["macrophage", "leukocyte", "epithelial"]
    assert Counter(a["category_id"] for a in coco["annotations"]) == Counter({1: 41, 2: 35, 3: 14})
    assert len(coco["images"]) == 20


def test_balf_order_to_yolo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "yolo"
    args = [
        "remap",
        str(BALF_SAMPLE),
        str(out),
        "--map",
        BALF_MAP,
        "--order",
        "epithelial,leukocyte,macrophage",
    ]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    names = yaml.safe_load((out / "data.yaml").read_text())["names"]
    assert list(names.values() if isinstance(names, dict) else names) == [
        "epithelial",
        "leukocyte",
        "macrophage",
    ]
    lines = [ln for f in sorted((out / "labels").rglob("*.txt")) for ln in f.read_text().splitlines()]
    assert Counter(ln.split()[0] for ln in lines) == Counter({"0": 14, "1": 35, "2": 41})
    assert "noticed 1 x classes-dropped (e.g. erythrocyte: 18 objects not written (mapped to -))" in err


def test_balf_unmapped_keep_and_drop(tmp_path: Path) -> None:
    keep = cytoconv.remap(
        BALF_SAMPLE,
        tmp_path / "k.json",
        "lymphocyte=wbc,neutrophil=wbc,eosinophil=wbc",
        to="coco",
        unmapped="keep",
        jobs=1,
    )
    assert keep.objects_after == {
        "wbc": 35,
        "erythrocyte": 18,
        "ciliated columnar epithelial": 8,
        "squamous epithelial": 6,
        "macrophage": 41,
    }
    drop = cytoconv.remap(
        BALF_SAMPLE,
        tmp_path / "d.json",
        "lymphocyte=wbc,neutrophil=wbc,eosinophil=wbc",
        to="coco",
        unmapped="drop",
        jobs=1,
    )
    assert drop.objects_after == {"wbc": 35}
    assert drop.dropped == {
        "erythrocyte": 18,
        "ciliated columnar epithelial": 8,
        "squamous epithelial": 6,
        "macrophage": 41,
    }
    assert drop.unmapped == (
        "erythrocyte",
        "ciliated columnar epithelial",
        "squamous epithelial",
        "macrophage",
    )
    assert (drop.images_written, drop.images_emptied, drop.summary.empty_images) == (20, 3, 4)
    coco = json.loads((tmp_path / "d.json").read_text())
    assert len(coco["annotations"]) == 35
    assert len(coco["images"]) == 20


def test_unmapped_error_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    code, _, err = run_cli(
        ["remap", str(BALF_SAMPLE), str(out), "--to", "coco", "--map", "lymphocyte=wbc"], capsys
    )
    assert code == 2
    assert err == (
        "cytoconv: error: --map does not say what becomes of 6 class(es): erythrocyte, ciliated columnar "
        "epithelial, squamous epithelial, macrophage, neutrophil, eosinophil (map each, or pass --unmapped keep "
        "or --unmapped drop)\n"
    )
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--map", "lymphocyte"], "'lymphocyte' is not old=new"),
        (["--map", "lymphocite=wbc", "--unmapped", "keep"], "'lymphocite' (did you mean 'lymphocyte'?)"),
        (["--map", "lymphocyte=wbc", "--unmapped", "keep", "--order", "wbc"], "it leaves out erythrocyte"),
        (["--map", "lymphocyte=wbc", "--unmapped", "maybe"], "Invalid value for '--unmapped'"),
    ],
)
def test_bad_usage_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    code, _, err = run_cli(
        ["remap", str(BALF_SAMPLE), str(tmp_path / "o.json"), "--to", "coco", *args], capsys
    )
    assert code == 2
    assert says in err
    assert not (tmp_path / "o.json").exists()


def test_map_files_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mapping = {
        "lymphocyte": "wbc",
        "neutrophil": "wbc",
        "eosinophil": "wbc",
        "erythrocyte": None,
        "macrophage": "-",
    }
    yaml_map = write(tmp_path / "map.yaml", yaml.safe_dump(mapping, sort_keys=False))
    json_map = write(tmp_path / "map.json", json.dumps(mapping))
    for path in (yaml_map, json_map):
        out = tmp_path / f"out_{path.suffix[1:]}.json"
        code, _, err = run_cli(
            ["remap", str(BALF_SAMPLE), str(out), "--to", "coco", "--map", str(path), "--unmapped", "keep"],
            capsys,
        )
        assert code == 0, err
        coco = json.loads(out.read_text())
        assert [c["name"] for c in coco["categories"]] == [
            "wbc",
            "ciliated columnar epithelial",
            "squamous epithelial",
        ]
        assert Counter(a["category_id"] for a in coco["annotations"]) == Counter({1: 35, 2: 8, 3: 6})
        assert "noticed 2 x classes-dropped" in err


def test_identity_map_is_a_copy(tmp_path: Path) -> None:
    names = [c.name for c in cytoconv.read(BALF_SAMPLE).categories]
    result = cytoconv.remap(BALF_SAMPLE, tmp_path / "same", {n: n for n in names}, jobs=1)
    assert result.objects_after == result.objects_before
    for label in sorted((BALF_SAMPLE / "labels").rglob("*.txt")):
        rel = label.relative_to(BALF_SAMPLE / "labels")
        written = (tmp_path / "same" / "labels" / rel).read_text().split()
        assert [float(v) for v in written] == [float(v) for v in label.read_text().split()]


# --- points whose classes are only numbered ----------------------------------------------------------------


def test_chula_points_numbered_classes(tmp_path: Path) -> None:
    mapping = {"class_0": "normal", **{f"class_{k}": "abnormal" for k in range(1, 12)}, "class_12": None}
    report = Report()
    result = cytoconv.remap(real("chula_rbc12_points"), tmp_path / "chula", mapping, report=report, jobs=1)
    assert result.objects_before == {
        "class_0": 1367,
        "class_1": 4,
        "class_2": 25,
        "class_3": 21,
        "class_4": 25,
        "class_5": 14,
        "class_6": 91,
        "class_7": 7,
        "class_8": 95,
        "class_9": 17,
        "class_10": 5,
        "class_11": 6,
        "class_12": 53,
    }
    assert result.objects_after == {"normal": 1367, "abnormal": 310}
    assert result.dropped == {"class_12": 53}
    assert (result.images_written, result.images_emptied) == (23, 2)
    assert report.notices["classes-dropped"] == 1
    lines = [ln for f in sorted((tmp_path / "chula").rglob("*.txt")) for ln in f.read_text().splitlines()]
    assert Counter(ln.split()[2] for ln in lines if len(ln.split()) == 3) == Counter({"0": 1367, "1": 310})
    images = ReadOptions(images=real("chula_rbc12_points") / "Dataset")
    back = cytoconv.read(tmp_path / "chula", fmt="points-txt", options=images)
    assert [c.name for c in back.categories] == ["normal", "abnormal"]
    assert Counter(i.category_id for r in back.images for i in r.instances) == Counter({1: 1367, 2: 310})


def test_chula_points_to_coco_with_boxes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "chula.json"
    args = [
        "remap",
        str(real("chula_rbc12_points")),
        str(out),
        "--to",
        "coco",
        "--point-box",
        "20",
        "--map",
        "class_0=normal,class_12=-",
        "--unmapped",
        "drop",
    ]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    coco = json.loads(out.read_text())
    assert [c["name"] for c in coco["categories"]] == ["normal"]
    assert len(coco["annotations"]) == 1367
    code, _, err = run_cli([*args[:2], str(tmp_path / "x.json"), *args[3:8], "class_13=-"], capsys)
    assert code == 2
    assert "'class_13'" in err and "its classes: class_0, class_1," in err


# --- every readable format in, every writable format out, the same whatever the number of processes ----------


def _sources(tmp_path: Path) -> list[tuple[str, Path, ReadOptions]]:
    from cytoconv.formats.masks.maskio import parse_class_map

    pbc = real("pbc_classfolders")
    manifest = tmp_path / "pbc.csv"
    cytoconv.convert(pbc, manifest, to="manifest")
    return [
        ("voc", real("bccd_voc"), ReadOptions()),
        ("yolo", real("cell_seg_yolov8_roboflow"), ReadOptions()),
        ("coco", real("rbc_coco_roboflow"), ReadOptions()),
        ("points-txt", real("chula_rbc12_points"), ReadOptions()),
        (
            "points-csv",
            real("cric_classifications_excerpt") / "classifications.csv",
            ReadOptions(image_size=(1376, 1020)),
        ),
        ("folders", pbc, ReadOptions()),
        ("manifest", manifest, ReadOptions(images=pbc / "PBC_dataset_normal_DIB")),
        ("masks", real("segmentation_wbc") / "Dataset 1", ReadOptions(mask_classes=parse_class_map("wbc"))),
        ("instance-masks", real("omnipose_cp_masks") / "docs" / "test_files", ReadOptions()),
        ("object-masks", real("dsb2018_stage1_test_masks") / "stage1_test", ReadOptions()),
    ]


def test_every_readable_format_merged_into_one_class(tmp_path: Path) -> None:
    """Every class of each source merged into ``cell``, written in the source's own format: every object (or
    labelled image) lands in the one class, none lost."""
    for fmt, src, options in _sources(tmp_path):
        classes = cytoconv.read(src, fmt=fmt, options=options).categories
        out = tmp_path / f"out_{fmt}{'.csv' if fmt in ('manifest', 'points-csv') else ''}"
        result = cytoconv.remap(
            src, out, {c.name: "cell" for c in classes}, fmt=fmt, read_options=options, jobs=1
        )
        before = result.images_before if result.unit == "images" else result.objects_before
        after = result.images_after if result.unit == "images" else result.objects_after
        assert list(before) == [c.name for c in classes], fmt
        assert after == {"cell": sum(before.values())}, fmt
        assert sum(before.values()) > 0, fmt
        assert [(c.id, c.name) for c in result.summary.categories] == [(1, "cell")], fmt
        assert out.exists(), fmt


WRITABLE = [
    "yolo",
    "coco",
    "voc",
    "folders",
    "manifest",
    "masks",
    "instance-masks",
    "object-masks",
    "points-txt",
    "points-csv",
    "cvat",
    "labelme",
    "labelstudio",
    "qupath",
    "imagej",
    "cellpose",
    "aperio",
    "asap",
]


@pytest.mark.parametrize("to", WRITABLE)
def test_jobs_do_not_change_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, to: str) -> None:
    from cytoconv.engine import pipeline
    from cytoconv.formats import FORMATS

    monkeypatch.setattr(pipeline, "PARALLEL_MIN_UNITS", 0)  # processes even for 20 images
    assert set(WRITABLE) == {name for name, info in FORMATS.items() if info.writes}
    suffix = ".csv" if to == "manifest" else output_suffix(to)
    if to in ("folders", "manifest"):
        src, mapping = _bone_marrow(tmp_path / "bmc"), _lineage_map()
    elif to.startswith("points-"):
        src, mapping = real("chula_rbc12_points"), "class_0=normal,class_12=-,class_1=abnormal"
    else:
        src, mapping = BALF_SAMPLE, BALF_MAP
    one = cytoconv.remap(src, tmp_path / f"one{suffix}", mapping, to=to, unmapped="keep", jobs=1)
    two = cytoconv.remap(src, tmp_path / f"two{suffix}", mapping, to=to, unmapped="keep", jobs=2)
    assert (one.objects_after, one.images_after) == (two.objects_after, two.images_after)
    tree_one, tree_two = _tree(tmp_path / f"one{suffix}"), _tree(tmp_path / f"two{suffix}")
    assert tree_one == tree_two
    assert tree_one


def test_yolo_remap_copies_or_links_the_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """YOLO -> YOLO with --copy-images / --link-images: the images beside the labels, as convert lays them out;
    for any other output the options are refused (they would do nothing)."""
    out = tmp_path / "copied"
    cli = ["remap", str(BALF_SAMPLE), str(out), "--map", "erythrocyte=-", "--unmapped", "keep", "-q"]
    code, _, err = run_cli([*cli, "--copy-images"], capsys)
    assert code == 0, err
    images = sorted(p.name for p in (out / "images").rglob("*.jpg"))
    assert images == sorted(p.name for p in (BALF_SAMPLE / "images").rglob("*.jpg")) and len(images) == 20
    linked = tmp_path / "linked"
    code, _, err = run_cli(["remap", *cli[1:2], str(linked), *cli[3:], "--link-images"], capsys)
    assert code == 0, err
    first = next((linked / "images").rglob("*.jpg"))
    assert first.stat().st_ino == (next(BALF_SAMPLE.joinpath("images").rglob(first.name))).stat().st_ino
    code, _, err = run_cli(
        [*cli[:2], str(tmp_path / "x.json"), *cli[3:], "--to", "coco", "--copy-images"], capsys
    )
    assert code == 2 and "lays images out for YOLO output, not coco" in err
    assert not (tmp_path / "x.json").exists()
