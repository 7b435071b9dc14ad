"""QuPath GeoJSON: files shaped the way QuPath writes them (FeatureCollection, bare array, single Feature;
holes, MultiPolygon, the four classification shapes, cell nuclei, measurements as map and list), read exactly,
converted to COCO with the pycocotools area, round trips COCO -> qupath -> COCO exact, bad input refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_api

import cytoconv
from cytoconv.engine.contract import ReadOptions
from cytoconv.errors import FormatError, Report
from cytoconv.formats.qupath.reader import detect as qupath_detect
from cytoconv.geometry.raster import encode
from cytoconv.ir import Box, Category, Dataset, ImageRecord, Instance, Point, Polygon
from tests.conftest import run_cli
from tests.test_fuzz import _fuzz

W, H = 60, 50
SHELL = [[5.0, 5.0], [40.0, 5.0], [40.0, 40.0], [5.0, 40.0]]
HOLE = [[10.0, 10.0], [10.0, 20.0], [20.5, 20.0], [20.0, 10.0]]
TRI = [[45.25, 2.5], [55.0, 2.5], [50.0, 12.75]]
NUC = [[12.0, 25.0], [18.0, 25.0], [18.0, 32.0], [12.0, 32.0]]


def closed(ring: list[list[float]]) -> list[list[float]]:
    """QuPath closes every ring: the first vertex repeated at the end."""
    return [*ring, ring[0]]


def feature(geometry: dict[str, Any], classification: Any = None, **extra: Any) -> dict[str, Any]:
    """A Feature as QuPath v0.4 exports it (keys in its order)."""
    props: dict[str, Any] = {"objectType": extra.pop("object_type", "annotation")}
    if classification is not None:
        props["classification"] = classification
    props.update(extra.pop("props", {}))
    out: dict[str, Any] = {"type": "Feature", "id": extra.pop("id", "0b6f1c2e-1d1a-4e0e-9b2a-55f1b4a3c001")}
    out["geometry"] = geometry
    out.update(extra)
    out["properties"] = props
    return out


def polygon(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [closed(r) for r in rings]}


def image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (W, H)).save(path)


def sample(root: Path) -> list[Path]:
    """Three images, one per top-level form; every geometry and classification shape QuPath writes."""
    for stem in ("a", "b", "c"):
        image(root / f"{stem}.png")
    a = root / "a.geojson"
    a.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    feature(polygon(SHELL, HOLE), {"name": "Tumor", "color": [200, 0, 0]}, id="t1"),
                    feature(
                        {
                            "type": "MultiPolygon",
                            "coordinates": [[closed(TRI)], [closed(SHELL), closed(HOLE)]],
                        },
                        {"names": ["Immune cells", "CD3"], "color": [1, 2, 3]},
                        id="m1",
                    ),
                    feature({"type": "LineString", "coordinates": [[1, 1], [5, 5]]}, "Tumor", id="l1"),
                ],
            },
            indent=2,
        )
    )
    b = root / "b.json"
    b.write_text(
        json.dumps(
            [
                feature(
                    polygon(SHELL),
                    "Stroma",
                    id="cell-1",
                    object_type="cell",
                    nucleusGeometry=polygon(NUC),
                    props={"measurements": {"Area": 1225.0, "Nucleus: Area": 42}},
                ),
                feature(
                    {"type": "MultiPoint", "coordinates": [[3.5, 4.5], [7.25, 8.0]]},
                    {"name": "Other", "colorRGB": -3670016},
                    id="p1",
                    props={"measurements": [{"name": "Num points", "value": 2}]},
                ),
            ]
        )
    )
    c = root / "c.geojson"
    c.write_text(
        json.dumps(feature({"type": "Point", "coordinates": [10, 20]}, id="x", props={"name": "dot"}))
    )
    return [a, b, c]


def test_reads_every_form_and_shape_exactly(tmp_path: Path) -> None:
    sample(tmp_path)
    report = Report()
    ds = cytoconv.read(tmp_path, fmt="qupath", report=report)
    names = [c.name for c in ds.categories]
    assert names == sorted(
        ["Tumor", "Immune cells: CD3", "Stroma", "Stroma: nucleus", "Other", "unclassified"]
    )
    by = {im.file_name: im for im in ds.images}
    assert set(by) == {"a.png", "b.png", "c.png"} and all((im.width, im.height) == (W, H) for im in ds.images)
    name = ds.category_names()
    a = by["a.png"].instances
    assert [name[i.category_id] for i in a] == ["Tumor", "Immune cells: CD3"]
    g = a[0].geometry
    assert isinstance(g, Polygon) and g.holes == [False, True]
    np.testing.assert_array_equal(g.rings[0], SHELL)
    np.testing.assert_array_equal(g.rings[1], HOLE)
    m = a[1].geometry
    assert isinstance(m, Polygon) and m.holes == [False, False, True]
    for ring, want in zip(m.rings, (TRI, SHELL, HOLE)):
        np.testing.assert_array_equal(ring, want)
    assert report.notices["line-skipped"] == 1
    b = by["b.png"].instances
    assert [name[i.category_id] for i in b] == ["Stroma", "Stroma: nucleus", "Other", "Other"]
    assert b[0].attributes == {
        "id": "cell-1",
        "objectType": "cell",
        "measurements": {"Area": 1225.0, "Nucleus: Area": 42},
    }
    assert b[1].attributes == {"nucleus_of": "cell-1"}
    np.testing.assert_array_equal(b[1].geometry.rings[0], NUC)  # type: ignore[union-attr]
    assert [(p.geometry.x, p.geometry.y) for p in b[2:]] == [(3.5, 4.5), (7.25, 8.0)]  # type: ignore[union-attr]
    assert b[2].attributes["measurements"] == {"Num points": 2}
    (c,) = by["c.png"].instances
    assert name[c.category_id] == "unclassified" and isinstance(c.geometry, Point)
    assert (c.geometry.x, c.geometry.y) == (10.0, 20.0) and c.attributes["name"] == "dot"


def test_to_coco_polygons_and_areas_exact(tmp_path: Path) -> None:
    sample(tmp_path / "src")
    out = tmp_path / "out.json"
    cytoconv.write(cytoconv.read(tmp_path / "src", fmt="qupath"), out, to="coco")
    coco = json.loads(out.read_text())
    images = {im["id"]: im for im in coco["images"]}
    polys = [a for a in coco["annotations"] if a.get("segmentation")]
    wanted = {"a.png": [[SHELL], [TRI, SHELL]], "b.png": [[SHELL], [NUC]]}
    got: dict[str, list[Any]] = {}
    for ann in polys:
        im = images[ann["image_id"]]
        seg = ann["segmentation"]
        h, w = im["height"], im["width"]
        if isinstance(seg, dict):
            rle = seg if isinstance(seg["counts"], str) else mask_api.frPyObjects(seg, h, w)
            area = float(mask_api.area(rle))
        else:
            area = float(mask_api.area(mask_api.merge(mask_api.frPyObjects(seg, h, w))))
            got.setdefault(im["file_name"], []).append(seg)
        assert ann["area"] == pytest.approx(area)
    # holed objects: COCO bridges holes into the outline (exact under the raster); the shells' vertices are kept
    for file_name, objects in wanted.items():
        for seg, rings in zip(got[file_name], objects):
            flat = [v for part in seg for v in part]
            for ring in rings:
                for x, y in ring:
                    assert any(
                        abs(flat[k] - x) < 1e-6 and abs(flat[k + 1] - y) < 1e-6
                        for k in range(0, len(flat), 2)
                    )
    # the holed object's area is the pycocotools raster of its shell less its hole
    holed = next(a for a in polys if images[a["image_id"]]["file_name"] == "a.png")

    def raster(ring: list[list[float]]) -> Any:
        flat = [v for xy in ring for v in xy]
        return mask_api.decode(mask_api.frPyObjects([flat], H, W)[0]).astype(bool)

    assert holed["area"] == int((raster(SHELL) & ~raster(HOLE)).sum())


def _coco_dataset() -> Dataset:
    """A COCO-like dataset: polygons (one with two parts), a box, a mask with a hole, points."""
    ring = np.array([[1.5, 2.25], [20.0, 2.0], [18.125, 17.0], [3.0, 15.0]])
    part2 = np.array([[30.0, 30.0], [40.0, 30.0], [35.0, 45.5]])
    mask = np.zeros((H, W), bool)
    mask[20:30, 40:55] = True
    mask[23:26, 44:48] = False
    instances = [
        Instance(category_id=1, geometry=Polygon(rings=[ring])),
        Instance(category_id=2, geometry=Polygon(rings=[ring, part2])),
        Instance(category_id=2, geometry=Box(x=2, y=3, w=10, h=5)),
        Instance(category_id=3, geometry=encode(mask)),
    ]
    return Dataset(
        categories=[Category(id=1, name="cell"), Category(id=2, name="cluster"), Category(id=3, name="blob")],
        images=[ImageRecord(file_name="x.png", width=W, height=H, instances=instances)],
    )


def test_coco_to_qupath_to_coco_exact(tmp_path: Path) -> None:
    ds = _coco_dataset()
    report = Report()
    cytoconv.write(ds, tmp_path / "q", to="qupath", report=report)
    assert report.notices["box-as-polygon"] == 1 and report.notices["rle-as-polygon"] == 1
    text = (tmp_path / "q" / "x.geojson").read_text()
    doc = json.loads(text)
    assert doc["type"] == "FeatureCollection"
    f0 = doc["features"][0]
    assert (
        f0["properties"]["classification"]["name"] == "cell"
        and f0["properties"]["objectType"] == "annotation"
    )
    assert f0["geometry"]["coordinates"][0][0] == f0["geometry"]["coordinates"][0][-1]  # closed, as QuPath
    assert doc["features"][1]["geometry"]["type"] == "MultiPolygon"
    back = cytoconv.read(tmp_path / "q", fmt="qupath", options=ReadOptions(image_size=(W, H)))
    assert [c.name for c in back.categories] == ["cell", "cluster", "blob"]
    got = back.images[0].instances
    assert [i.category_id for i in got] == [1, 2, 2, 3]
    for a, b in zip(ds.images[0].instances[:2], got[:2]):
        assert isinstance(a.geometry, Polygon) and isinstance(b.geometry, Polygon)
        for r1, r2 in zip(a.geometry.rings, b.geometry.rings):
            np.testing.assert_array_equal(r1, r2)
    from cytoconv.geometry.raster import rasterise

    for a, b in zip(ds.images[0].instances[2:], got[2:]):
        assert np.array_equal(rasterise(a.geometry, H, W), rasterise(b.geometry, H, W))  # type: ignore[arg-type]
    # the bytes do not depend on the run: ids are derived from the file name and index
    cytoconv.write(ds, tmp_path / "q2", to="qupath")
    assert (tmp_path / "q2" / "x.geojson").read_text() == text
    # and qupath -> qupath keeps the nucleus inside its cell
    sample(tmp_path / "s")
    cytoconv.write(cytoconv.read(tmp_path / "s", fmt="qupath"), tmp_path / "s2", to="qupath")
    cell = json.loads((tmp_path / "s2" / "b.geojson").read_text())["features"][0]
    assert cell["id"] == "cell-1" and cell["properties"]["objectType"] == "cell"
    assert cell["nucleusGeometry"] == polygon(NUC)


def test_no_image_and_no_size_names_the_file(tmp_path: Path) -> None:
    sample(tmp_path)
    (tmp_path / "c.png").unlink()
    with pytest.raises(FormatError) as err:
        cytoconv.read(tmp_path, fmt="qupath")
    assert "c.geojson" in str(err.value) and err.value.code == "no-image-size"
    ds = cytoconv.read(tmp_path, fmt="qupath", options=ReadOptions(image_size=(W, H)))
    assert len(ds.images) == 3


BAD = {
    "not-json": ("{", "b.geojson"),
    "bad-geometry": (
        json.dumps([feature(polygon(SHELL)), feature({"type": "Polygon", "coordinates": [[[1, 2]]]})]),
        "feature 1",
    ),
    "unknown-type": (json.dumps([feature({"type": "Circle", "coordinates": [1, 2]})]), "feature 0"),
    "not-a-feature": (json.dumps({"type": "FeatureCollection", "features": [1]}), "feature 0"),
    "nan": ('[{"type": "Feature", "geometry": {"type": "Point", "coordinates": [NaN, 1]}}]', "feature 0"),
    "bad-class": (json.dumps([feature(polygon(SHELL), {"name": 3})]), "feature 0"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_1_nothing_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    text, where = BAD[case]
    src = tmp_path / "src"
    image(src / "a.png")
    image(src / "b.png")
    (src / "a.geojson").write_text(json.dumps([feature(polygon(SHELL), "cell")]))
    bad = src / "b.geojson"
    bad.write_text(text)
    out = tmp_path / "out.json"
    code, _, err = run_cli(["convert", str(src), str(out), "--from", "qupath", "--to", "coco", "-q"], capsys)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert bad.name in lines[0] and where in lines[0]
    assert not out.exists() and not list(tmp_path.glob("out*"))


def test_detect(tmp_path: Path) -> None:
    a, b, c = sample(tmp_path)
    assert qupath_detect(tmp_path) is not None
    for f in (a, b, c):
        assert qupath_detect(f) is not None
    (tmp_path / "coco.json").write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    assert qupath_detect(tmp_path / "coco.json") is None


def test_fuzz(tmp_path: Path) -> None:
    _fuzz(tmp_path, sample, lambda root: cytoconv.read(root, fmt="qupath", report=Report(strict=False)), 21)
    _fuzz(tmp_path / "strict", sample, lambda root: cytoconv.read(root, fmt="qupath"), 22)


def test_validate_names_the_feature(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample(tmp_path)
    code, out, err = run_cli(["validate", str(tmp_path)], capsys)
    out += err
    assert code == 0 and "no findings" in out
    far = [[0.0, 0.0], [100.0, 0.0], [100.0, 5.0]]
    (tmp_path / "c.geojson").write_text(json.dumps([feature(polygon(far), "x"), 5]))
    code, out, err = run_cli(["validate", str(tmp_path)], capsys)
    out += err
    assert code == 1
    assert "c.geojson: CC003 [error] feature 1: not a GeoJSON Feature" in out
    assert "c.geojson: CC305 [warning] feature 0 (x): reaches outside the 60x50 image" in out
