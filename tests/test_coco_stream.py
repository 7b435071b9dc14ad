"""The streaming COCO reader (``formats/coco/stream.py``): any layout of the JSON reads the same as a whole-file
parse, cut into pieces of any size, in bounded memory; annotations as an object keyed by id (LIVECell) read as
the list; JSON errors placed at their line and column."""

from __future__ import annotations

import json
import random
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest

import cytoconv
from cytoconv.engine import pool as engine_pool
from cytoconv.engine.contract import ReadOptions
from cytoconv.errors import FormatError, Report
from cytoconv.formats.coco import reader, stream, syntax
from cytoconv.formats.coco.stream import Entries, Member, SectionStart, Source, read_back, sections
from cytoconv.formats.coco.syntax import NO_ID, looks_like_coco, scan
from cytoconv.problems.sinks import ReaderSink
from cytoconv.validate import validate
from tests.conftest import write


def _document(n_images: int = 6, seed: int = 1) -> dict[str, Any]:
    """A COCO document with every kind of annotation and the JSON that makes cutting hard: ``},`` inside
    annotations (attributes objects, RLE dicts), and strings holding brackets, commas and escaped quotes."""
    rng = random.Random(seed)
    images = [
        {"id": i + 1, "file_name": "img_" + str(i) + '_},{"x".jpg', "width": 64, "height": 48, "license": 1}
        for i in range(n_images)
    ]
    categories = [
        {"id": 1, "name": 'cell "a"}, [b]', "supercategory": "cell"},
        {"id": 2, "name": "nucleus", "supercategory": "cell"},
    ]
    annotations: list[dict[str, Any]] = []
    for image in images:
        for j in range(rng.randint(0, 5)):
            aid = len(annotations) + 1
            x, y = rng.uniform(1, 30), rng.uniform(1, 20)
            base = {"id": aid, "image_id": image["id"], "category_id": rng.choice([1, 2]), "iscrowd": 0}
            shape = j % 4
            if shape == 0:
                poly = [round(v, 3) for v in (x, y, x + 9.5, y, x + 9.5, y + 7.25, x, y + 7.25)]
                base |= {"segmentation": [poly], "bbox": [x, y, 9.5, 7.25], "area": 68.875}
            elif shape == 1:
                base |= {"segmentation": [], "bbox": [x, y, 5, 4], "area": 20}
            elif shape == 2:
                base |= {
                    "segmentation": {"size": [48, 64], "counts": "PPYo0" + "1O" * (j + 1)},
                    "bbox": [0, 0, 1, 1],
                    "area": 1,
                    "iscrowd": 1,
                }
            else:
                base |= {
                    "segmentation": [[x, y, x + 4, y, x + 4, y + 4], [x + 10, y, x + 14, y, x + 14, y + 4]],
                    "bbox": [x, y, 14, 4],
                    "area": 16,
                    "attributes": {"occluded": False, "note": "},{"},
                    "score": 0.5,
                }
            annotations.append(base)
    return {
        "info": {"description": "stream test", "year": 2026},
        "licenses": [{"id": 1, "name": "x}, {y", "url": ""}],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


def _text(doc: dict[str, Any], order: list[str], indent: int | None, keyed: bool, newline: str = "\n") -> str:
    parts = {}
    for key in order:
        value = doc[key]
        if key == "annotations" and keyed:
            value = {str(a["id"]): a for a in value}
        parts[key] = value
    text = json.dumps(parts, indent=indent)
    return text.replace("\n", newline)


def _records(path: Path, report: Report | None = None) -> list[tuple[Any, ...]]:
    """Every record's file name, size and objects, as comparable values."""
    data = cytoconv.read(path, "coco", report=report)
    out = []
    for record in data.images:
        objects = []
        for inst in record.instances:
            geom = (
                inst.geometry.model_dump(mode="json")
                if hasattr(inst.geometry, "model_dump")
                else inst.geometry
            )
            objects.append((inst.category_id, repr(geom), inst.iscrowd, inst.score, inst.attributes))
        out.append((record.file_name, record.width, record.height, tuple(objects)))
    return out


LAYOUTS = [
    (["info", "licenses", "images", "annotations", "categories"], None, False, "\n"),  # the COCO download
    (["annotations", "categories", "images", "info", "licenses"], 2, False, "\n"),  # annotations first
    (["categories", "images", "annotations"], 4, False, "\r\n"),  # pretty, CRLF
    (["info", "images", "annotations", "categories"], None, True, "\n"),  # LIVECell: keyed by id
    (["annotations", "images", "categories"], 1, True, "\r\n"),
]


@pytest.mark.parametrize("piece", [48, 500, 1 << 20])
@pytest.mark.parametrize(("order", "indent", "keyed", "newline"), LAYOUTS)
def test_every_layout_and_piece_size_reads_as_the_whole_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    piece: int,
    order: list[str],
    indent: int | None,
    keyed: bool,
    newline: str,
) -> None:
    doc = _document()
    reference = write(tmp_path / "ref.json", json.dumps(doc))
    expected = _records(reference)
    assert sum(len(r[3]) for r in expected) == len(doc["annotations"]) > 10
    monkeypatch.setattr(stream, "PIECE", piece)
    monkeypatch.setattr(stream, "WINDOW", max(64, piece))
    src = write(tmp_path / "in.json", _text(doc, order, indent, keyed, newline))
    assert _records(src) == expected


@pytest.mark.parametrize("keyed", [False, True])
def test_offsets_read_back_each_annotation_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keyed: bool
) -> None:
    monkeypatch.setattr(stream, "PIECE", 100)
    monkeypatch.setattr(stream, "WINDOW", 256)
    doc = _document(12, seed=7)
    src = write(tmp_path / "in.json", _text(doc, ["images", "annotations", "categories"], 2, keyed))
    coco = scan(Source(str(src)), str(src), ReaderSink(Report(strict=True), set()))
    assert coco is not None and len(coco.annotations) == len(doc["annotations"])
    cols = coco.annotations
    raws = read_back(Source(str(src)), list(cols.offsets), list(cols.lengths))
    assert [orjson.loads(raw) for raw in raws] == doc["annotations"]
    assert [cols.id_of(k) for k in range(len(cols))] == [a["id"] for a in doc["annotations"]]
    assert list(cols.image_ids) == [a["image_id"] for a in doc["annotations"]]


def test_sections_in_file_order_with_unknown_members(tmp_path: Path) -> None:
    text = (
        '{"type": "instances", "extra": {"a": [1, {"b": "}, {"}], "c": null}, "images": [], '
        '"annotations": {"7": {"image_id": 1}}, "categories": [{"id": 1, "name": "c"}], "n": 3}'
    )
    src = write(tmp_path / "a.json", text)
    events = list(sections(Source(str(src))))
    kinds = [(type(e).__name__, getattr(e, "key", getattr(e, "section", None))) for e in events]
    assert kinds == [
        ("Member", "type"),
        ("Member", "extra"),
        ("SectionStart", "images"),
        ("SectionStart", "annotations"),
        ("Entries", "annotations"),
        ("SectionStart", "categories"),
        ("Entries", "categories"),
        ("Member", "n"),
    ]
    assert isinstance(events[1], Member) and events[1].value == {"a": [1, {"b": "}, {"}], "c": None}
    start = events[3]
    assert isinstance(start, SectionStart) and start.keyed
    entries = events[4]
    assert (
        isinstance(entries, Entries)
        and entries.keys == ["7"]
        and bytes(entries.raws[0]) == b'{"image_id": 1}'
    )
    assert text[entries.offsets[0] :].startswith('{"image_id": 1}')


def test_keyed_annotations_take_their_key_as_id(tmp_path: Path) -> None:
    """LIVECell keys each annotation by its id; one without an ``id`` field takes the key's, so a key given
    twice is two annotations with one id (reported), not one silently lost."""
    image = {"id": 1, "file_name": "a.png", "width": 10, "height": 10}
    boxes = [json.dumps({"image_id": 1, "category_id": 1, "bbox": [x, 1, 2, 2]}) for x in (1, 3, 5)]
    text = (
        '{"images": [' + json.dumps(image) + '], "categories": [{"id": 1, "name": "cell"}], '
        '"annotations": {"5": ' + boxes[0] + ', "9": ' + boxes[1] + ', "5": ' + boxes[2] + "}}"
    )
    src = write(tmp_path / "k.json", text)
    found = validate([src]).findings
    assert [(f.code, f.annotation_id) for f in found if f.severity == "error"] == [("CC602", 5)]
    report = Report(strict=False)
    records = _records(src, report)
    assert len(records[0][3]) == 2 and report.skipped.get("duplicate-annotation-id") == 1


def test_livecell_keyed_file_converts_as_its_list_twin(tmp_path: Path) -> None:
    doc = _document(20, seed=3)
    listed = write(
        tmp_path / "list" / "a.json", _text(doc, ["images", "annotations", "categories"], None, False)
    )
    keyed = write(
        tmp_path / "keyed" / "a.json", _text(doc, ["images", "annotations", "categories"], None, True)
    )
    for target in ("yolo", "coco"):
        outs = []
        for src in (listed, keyed):
            out = tmp_path / f"{src.parent.name}_{target}"
            cytoconv.convert(src, out if target == "yolo" else out / "o.json", to=target, fmt="coco", jobs=1)
            outs.append(out)
        left = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
        right = sorted(p.relative_to(outs[1]) for p in outs[1].rglob("*") if p.is_file())
        assert left == right and left
        for rel in left:
            assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel


def test_memory_stays_bounded_on_a_large_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 13 MB file read with 256 KB pieces: the plan's peak allocation is a small part of the file (a
    whole-file parse takes about eight times the file), and every annotation is there."""
    monkeypatch.setattr(stream, "PIECE", 256 << 10)
    monkeypatch.setattr(stream, "WINDOW", 512 << 10)
    rng = random.Random(5)
    path = tmp_path / "big.json"
    n_images, per_image = 400, 50
    with open(path, "wb") as fh:
        fh.write(b'{"images": [')
        fh.write(
            b",".join(
                orjson.dumps({"id": i, "file_name": f"{i}.jpg", "width": 500, "height": 500})
                for i in range(n_images)
            )
        )
        fh.write(b'], "categories": [{"id": 1, "name": "cell"}], "annotations": [')
        aid = 0
        for i in range(n_images):
            for _ in range(per_image):
                aid += 1
                poly = [round(rng.uniform(0, 499), 3) for _ in range(80)]
                ann = {"id": aid, "image_id": i, "category_id": 1, "segmentation": [poly], "iscrowd": 0}
                fh.write((b"," if aid > 1 else b"") + orjson.dumps(ann))
        fh.write(b"]}")
    size = path.stat().st_size
    assert size > 13 << 20
    tracemalloc.start()
    try:
        plan = reader.plan(path, ReadOptions(), Report())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.4 * size, (peak, size)  # measured: 0.33 (the columns, a few numbers per annotation)
    assert sum(u.stop - u.start for u in plan.units) == n_images * per_image
    record = reader.load(plan.units[-1], ReadOptions(), Report())
    assert len(record.instances) == per_image


def test_truncated_large_file_names_its_last_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "PIECE", 64)
    monkeypatch.setattr(stream, "WINDOW", 128)
    text = json.dumps(_document(10), indent=1)
    cut = text[: len(text) * 2 // 3]
    src = write(tmp_path / "t.json", cut)
    with pytest.raises(FormatError) as error:
        cytoconv.read(src, "coco")
    assert error.value.code == "not-well-formed" and error.value.line == cut.count("\n") + 1
    assert "truncated JSON" in error.value.message


def test_invalid_json_deep_in_the_file_is_placed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "PIECE", 64)
    monkeypatch.setattr(stream, "WINDOW", 128)
    lines = json.dumps(_document(10), indent=1).split("\n")
    target = next(k for k, line in enumerate(lines) if '"iscrowd": 1' in line and k > len(lines) // 2)
    lines[target] = lines[target].replace('"iscrowd": 1', '"iscrowd": 1 2')
    src = write(tmp_path / "bad.json", "\n".join(lines))
    found = [f for f in validate([src]).findings if f.code == "CC002"]
    assert len(found) == 1 and found[0].line == target + 1
    column = lines[target].index(" 2") + 2
    assert found[0].message.endswith(f"(column {column})"), found[0].message


def test_annotations_that_are_not_objects_and_odd_members(tmp_path: Path) -> None:
    text = (
        '{"images": [{"id": 1, "file_name": "a.jpg", "width": 9, "height": 9}], "categories": [{"id": 1, '
        '"name": "c"}], "annotations": [5, "x", null, {"id": 3, "image_id": 1, "category_id": 1, "bbox": '
        "[1, 1, 2, 2]}, [1]]}"
    )
    src = write(tmp_path / "odd.json", text)
    found = validate([src]).findings
    assert [(f.code, f.message) for f in found if f.code == "CC003"] == [
        ("CC003", f"annotations[{k}] is not an object") for k in (0, 1, 2, 4)
    ]
    coco = scan(Source(str(src)), str(src), ReaderSink(Report(strict=False), set()))
    assert coco is not None and coco.annotations.ids[3] == 3 and coco.annotations.ids[0] == NO_ID


def test_a_livecell_file_with_annotations_first_is_found_as_coco(tmp_path: Path) -> None:
    """LIVECell's annotations object may come before the images (beyond the 64 KB the sniffer reads): the
    keyed object is enough for detection and for ``validate`` to check the file."""
    doc = _document(30, seed=2)
    text = _text(doc, ["annotations", "categories", "images"], None, True)
    src = write(tmp_path / "livecell_coco_val.json", text)
    assert looks_like_coco(str(src))
    assert cytoconv.read(src).images and not [f for f in validate([src]).findings if f.severity == "error"]
    other = write(tmp_path / "settings.json", '{"annotations": {"style": {"color": "red"}}}')
    assert not looks_like_coco(str(other))


class _Everything:
    """A sink that wants every problem and keeps (code, message) in order."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []

    def wants(self, code: str) -> bool:
        return True

    def __call__(self, code: str, path: str, message: str, **kwargs: Any) -> None:
        self.found.append((code, message))


@pytest.mark.parametrize("keyed", [False, True])
def test_pieces_decoded_in_workers_give_the_same_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keyed: bool
) -> None:
    """A big file's pieces are decoded by worker processes while the stream reads on: the columns, the
    problems (in order) and the fields counted are those of decoding every piece here."""
    monkeypatch.setattr(stream, "PIECE", 2048)
    monkeypatch.setattr(stream, "WINDOW", 4096)
    doc = _document(300, seed=11)
    doc["annotations"][5]["segmentation"] = [[1, 2, 3]]  # a local problem (CC103)
    doc["annotations"][7]["image_id"] = 999  # a reference problem (CC605)
    doc["annotations"][9]["extra_field"] = {"x": 1}  # counted in field-dropped
    doc["annotations"][-3]["segmentation"] = {"size": [5, 5], "counts": "abc"}  # deferred: RLE size
    src = write(tmp_path / "in.json", _text(doc, ["images", "annotations", "categories"], None, keyed))
    scans = []
    pools: list[Any] = []
    real_pool = engine_pool.side_pool
    monkeypatch.setattr(engine_pool, "side_pool", lambda jobs: pools.append(real_pool(2)) or pools[-1])
    for parallel in (False, True):
        monkeypatch.setattr(syntax, "PARALLEL_BYTES", 0 if parallel else 1 << 60)
        sink = _Everything()
        found = sink.found
        coco = scan(Source(str(src)), str(src), sink, every_problem=True)
        assert coco is not None
        cols = coco.annotations
        arrays = [list(a) for a in (cols.ids, cols.image_ids, cols.kind, cols.offsets, cols.lengths)]
        scans.append((arrays, found, dict(coco.extra_fields), cols.local, cols.deferred))
    assert len(pools) == 1 and pools[0] is not None  # the second scan did use workers
    assert scans[0] == scans[1]
    assert ("CC605", "image id 999 is not in 'images'") in scans[0][1]
    assert scans[0][2] == {("annotations", "extra_field"): 1}


def test_a_bad_number_in_a_piece_decoded_by_a_worker_is_placed_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "PIECE", 2048)
    monkeypatch.setattr(stream, "WINDOW", 4096)
    lines = json.dumps(_document(200, seed=4), indent=1).split("\n")
    target = next(k for k, line in enumerate(lines) if '"image_id": 150' in line)
    lines[target] = lines[target].replace('"image_id": 150', '"image_id": 1e999')
    src = write(tmp_path / "bad.json", "\n".join(lines))
    messages = []
    for threshold in (1 << 60, 0):
        monkeypatch.setattr(syntax, "PARALLEL_BYTES", threshold)
        with pytest.raises(FormatError) as error:
            cytoconv.read(src, "coco")
        messages.append(str(error.value))
    assert messages[0] == messages[1] and "not valid JSON" in messages[0], messages


IMAGE_JSON = '{"id": 1, "file_name": "a.png", "width": 10, "height": 10}'
CATS_JSON = '[{"id": 1, "name": "c"}]'


def _coco_text(annotations: str) -> str:
    return f'{{"images": [{IMAGE_JSON}], "categories": {CATS_JSON}, "annotations": [{annotations}]}}'


@pytest.mark.parametrize("where", ["first", "later"])
def test_a_number_beyond_a_double_in_a_field_kept_raw_is_not_json(tmp_path: Path, where: str) -> None:
    """msgspec passes over ``area`` without decoding it; orjson, which decodes it, refuses 1e999 as a whole-file
    parse did: CC002 at its line and column, from validate and from convert (nothing written)."""
    good = '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "area": 4}'
    bad = '{"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "area": 1e999}'
    text = _coco_text(bad if where == "first" else good + ",\n" + bad)
    src = write(tmp_path / "c.json", text)
    line = text[: text.index("1e999")].count("\n") + 1
    column = text.index("1e999") - (text.rfind("\n", 0, text.index("1e999")) + 1) + 1
    found = [f for f in validate([src]).findings if f.code == "CC002"]
    assert [(f.line, f.message) for f in found] == [
        (line, f"not valid JSON: number is infinity when parsed as double (column {column})")
    ]
    with pytest.raises(FormatError) as error:
        cytoconv.convert(src, tmp_path / "out", to="yolo", fmt="coco", jobs=1)
    assert error.value.line == line and "number is infinity" in error.value.message
    assert not (tmp_path / "out").exists()


def test_bad_utf8_and_bad_keys_are_placed(tmp_path: Path) -> None:
    ann = '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "attributes": {"n": "\xff"}}'
    text = _coco_text(ann).encode("latin-1")
    src = write(tmp_path / "u.json", text)
    found = [f for f in validate([src]).findings if f.code == "CC002"]
    assert len(found) == 1 and "not valid UTF-8" in found[0].message
    column = text.index(b"\xff") + 1
    assert found[0].message.endswith(f"(column {column})")
    key = write(tmp_path / "k.json", '{"info": {}, "bad\\q": 1, "images": [], "categories": []}')
    found = [f for f in validate([key]).findings if f.code == "CC002"]
    assert len(found) == 1 and "escape" in found[0].message


def test_a_section_given_twice_keeps_the_last_as_a_whole_file_parse_does(tmp_path: Path) -> None:
    ann = '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}'
    text = (
        f'{{"annotations": null, "images": [{IMAGE_JSON}], "categories": {CATS_JSON}, '
        f'"annotations": [{ann}], "images": [], "images": [{IMAGE_JSON}]}}'
    )
    src = write(tmp_path / "d.json", text)
    records = _records(src)
    assert len(records) == 1 and len(records[0][3]) == 1
    text = f'{{"images": [{IMAGE_JSON}], "categories": {CATS_JSON}, "annotations": [{ann}], "annotations": null}}'
    found = validate([write(tmp_path / "n.json", text)]).findings
    assert [f.code for f in found if f.severity == "error"] == ["CC003"]


def test_entries_full_of_nested_objects_are_cut_in_linear_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ``},`` inside an entry is a candidate cut that fails: after a few, the piece's entries are found
    one by one, not by trying cut after cut for each entry (which took minutes on 5 MB)."""
    monkeypatch.setattr(stream, "PIECE", 16 << 10)
    monkeypatch.setattr(stream, "WINDOW", 32 << 10)
    rng = random.Random(3)
    anns = [
        {
            "id": k + 1,
            "image_id": 1,
            "category_id": 1,
            "bbox": [1, 1, 2, 2],
            "points": [{"x": rng.randint(0, 9), "y": rng.randint(0, 9)} for _ in range(300)],
        }
        for k in range(400)
    ]
    doc = {"images": [json.loads(IMAGE_JSON)], "categories": json.loads(CATS_JSON), "annotations": anns}
    src = write(tmp_path / "p.json", json.dumps(doc, separators=(",", ":")))
    calls = {"n": 0}
    real = stream._decode

    def counted(piece: bytes, keyed: bool) -> Any:
        calls["n"] += 1
        return real(piece, keyed)

    monkeypatch.setattr(stream, "_decode", counted)
    report = Report(strict=False)
    records = _records(src, report)
    assert len(records[0][3]) == 400 and report.notices.get("field-dropped") == 400
    assert calls["n"] < 5 * (src.stat().st_size // (16 << 10) + 1), calls["n"]


def test_ids_beyond_64_bits_are_named_as_such(tmp_path: Path) -> None:
    big = 1 << 63
    ann = f'{{"id": {big}, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}}'
    found = validate([write(tmp_path / "b.json", _coco_text(ann))]).findings
    assert [f.message for f in found if f.code == "CC003"] == ["annotations[0] has an 'id' beyond 64 bits"]
