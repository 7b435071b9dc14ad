"""COCO JSON syntax: one JSON load, one sniffer, and one scan of the document into columns.

Shared by the reader (``reader.plan``) and the validator (``check.check_bytes``): both see the same problems,
with the same codes (``cytoconv.problems``), in the same order, because there is one scan. The scan checks what
the reader reads: structure, ids and references, and the geometry an annotation is read as (its segmentation,
or its bbox when it has none). What the reader does not read (``area``, a bbox beside a segmentation) and what
needs geometry libraries or the image files is checked by the validator alone, after the scan (``check.py``).

The document is kept as columns (one list per field, indexed by position in the file) rather than as objects:
a later streaming reader of multi-GB files fills the same columns. Pydantic-free and standard library plus
orjson: ``cytoconv validate`` imports this on every pre-commit run.
"""

from __future__ import annotations

import gc
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeGuard

import msgspec
import numpy as np

from cytoconv.formats.coco.stream import (
    SECTIONS,
    Entries,
    JsonError,
    Member,
    SectionStart,
    Source,
    read_back,
    sections,
)
from cytoconv.problems import Fix, ProblemSink

BOM: Final = b"\xef\xbb\xbf"
SNIFF_BYTES: Final = 1 << 16
COCO_LIST: Final = re.compile(rb'"(images|annotations|categories)"\s*:\s*\[')
# annotations as an object keyed by id (LIVECell): "annotations": {"1": {... (only annotations: an "images" or
# "categories" object is as likely some other JSON's)
COCO_KEYED: Final = re.compile(rb'"(annotations)"\s*:\s*\{\s*"[^"]*"\s*:\s*\{')

# what an annotation is read as (``Annotations.kind``)
NOT_AN_OBJECT: Final = -2  # the entry is not a JSON object
UNUSABLE: Final = -1  # its geometry cannot be read (a problem was found)
BOX: Final = 0  # no segmentation: the bbox is the object
POLYGON: Final = 1
RLE: Final = 2
POINT: Final = 3  # no segmentation, one visible keypoint: a point (a cell centre), read at keypoint x y + 0.5

_NUMBER_TYPES: Final = frozenset((int, float))  # not bool: type(True) is bool
# the object fields the reader keeps (``area`` is recomputed by the writers); any other field of an annotation
# or a category is counted in ``Coco.extra_fields``, so that a reader says what data it leaves behind
# (keypoints beside a segmentation, skeleton). Image metadata (license, coco_url, date_captured) is not counted.
# An annotation read as a point keeps its keypoints (the point) and num_keypoints; a category of one keypoint
# and no skeleton (``"keypoints": ["center"]``, what the writer gives a class of points) keeps both.
CATEGORY_FIELDS: Final = frozenset(("id", "name", "supercategory"))
ANNOTATION_FIELDS: Final = frozenset(
    ("id", "image_id", "category_id", "segmentation", "bbox", "area", "iscrowd", "score", "attributes")
)
VISIBILITY: Final = "keypoint_visibility"  # a point's attribute when its keypoint says v = 1 (not visible)
POINT_FIELDS: Final = frozenset(("keypoints", "num_keypoints"))
POINT_CATEGORY_FIELDS: Final = frozenset(("keypoints", "skeleton"))
# every code the scan can report; the reader stops on those at error level (see reader.FATAL)
CODES: Final = (
    "CC002",
    "CC003",
    "CC004",
    "CC005",
    "CC006",
    "CC101",
    "CC103",
    "CC104",
    "CC105",
    "CC202",
    "CC303",
    "CC304",
    "CC306",
    "CC601",
    "CC602",
    "CC603",
    "CC604",
    "CC605",
    "CC608",
)


def _is_int(value: Any) -> TypeGuard[int]:
    return type(value) is int


def looks_like_coco(path: str) -> bool:
    """Whether a file is COCO, from its first 64 KB: a JSON object (after a byte-order mark, if any) in which
    ``images``, ``annotations`` or ``categories`` holds a list (an ``annotations`` list alone must hold
    ``image_id`` keys: datumaro's native JSON nests ``annotations`` lists in its ``items``), ``annotations`` also as
    an object keyed by id (LIVECell). The one sniffer of both the reader's ``detect``
    and ``cytoconv validate``: a summary with an ``"images": 12`` count, or a ``package.json``, is not COCO."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return False
    head = head[3:] if head.startswith(BOM) else head
    if head.lstrip()[:1] != b"{":
        return False
    keys = {m.group(1) for m in COCO_LIST.finditer(head)} | {m.group(1) for m in COCO_KEYED.finditer(head)}
    if keys == {b"annotations"}:  # only a list named annotations: COCO's entries name their image_id
        return b'"image_id"' in head  # (datumaro's own JSON has "items": [{"annotations": [...]}] instead)
    return bool(keys)


def parse_json(data: bytes, path: str, sink: ProblemSink) -> tuple[bool, Any]:
    """``(True, document)``, or ``(False, None)`` after reporting CC002 with the line and column. A byte-order
    mark (CC006) is skipped and CRLF line endings (CC005) are fine, both reported when the sink wants them."""
    if data.startswith(BOM):
        if sink.wants("CC006"):
            sink("CC006", path, "starts with a UTF-8 byte-order mark", line=1, fix=Fix("bom"))
        data = data[3:]
    if sink.wants("CC005") and b"\r" in data:
        first = data.count(b"\n", 0, data.index(b"\r")) + 1
        sink(
            "CC005",
            path,
            ("CRLF" if b"\r\n" in data else "CR") + " line endings",
            line=first,
            fix=Fix("line-endings"),
        )
    import orjson

    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of new lists and floats would trigger cycle collections that find nothing
    try:
        return True, orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if exc.pos >= len(data.rstrip()):
            message = "truncated JSON (the file ends too early)"
        else:
            message = "not valid JSON: " + (exc.msg.split(":")[0] if exc.msg else "invalid JSON")
        sink("CC002", path, f"{message} (column {exc.colno})", line=exc.lineno)
        return False, None
    finally:
        if gc_was_enabled:
            gc.enable()


@dataclass
class Images:
    """The ``images`` list, one entry per position. ``ids`` is None where the entry has no integer id;
    ``widths``/``heights`` are None where the size is not two positive integers."""

    ids: list[int | None] = field(default_factory=list)
    file_names: list[str | None] = field(default_factory=list)
    widths: list[int | None] = field(default_factory=list)
    heights: list[int | None] = field(default_factory=list)


@dataclass
class Categories:
    """The ``categories`` list, one entry per position (``ids`` None: no integer id; ``names`` None: no name)."""

    ids: list[int | None] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)
    supercategories: list[str | None] = field(default_factory=list)


NO_ID: Final = -(1 << 63)  # an id column's value where the entry has no integer id (or one beyond 64 bits)
_INT64: Final = (-(1 << 63) + 1, (1 << 63) - 1)


def _id(value: Any) -> int:
    """An id for an int64 column: the integer, or ``NO_ID`` (also for an integer beyond 64 bits, which no COCO
    tool reads: it is then reported as no integer id)."""
    return value if type(value) is int and _INT64[0] <= value <= _INT64[1] else NO_ID


@dataclass
class Annotations:
    """The ``annotations`` section, one entry per position in file order, in compact columns: ids (``NO_ID``
    where not an integer), ``kind`` (what the annotation is read as: ``BOX``, ``POLYGON``, ``RLE``, ``POINT``,
    or why it cannot be: ``UNUSABLE``, ``NOT_AN_OBJECT``), and where each entry's JSON is in the file
    (``offsets``, ``lengths``), which is how the reader's workers and the validator read the geometry back
    (``stream.read_back``) instead of keeping it."""

    ids: array[int] = field(default_factory=lambda: array("q"))
    image_ids: array[int] = field(default_factory=lambda: array("q"))
    category_ids: array[int] = field(default_factory=lambda: array("q"))
    iscrowd: array[int] = field(default_factory=lambda: array("b"))
    kind: array[int] = field(default_factory=lambda: array("b"))
    offsets: array[int] = field(default_factory=lambda: array("q"))
    lengths: array[int] = field(default_factory=lambda: array("q"))
    # position -> the problems found in the entry alone (code, message), in order; reported with the others
    local: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    # position -> a check that needs the image's size: ("rle", [h, w]) or ("point", x, y)
    deferred: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    # position -> the id fields that hold an integer beyond 64 bits (stored as NO_ID)
    wide: dict[int, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.kind)

    def arrays(self) -> tuple[array[int], ...]:
        """The seven columns, in one order (a worker's piece travels back as their bytes)."""
        return (
            self.ids,
            self.image_ids,
            self.category_ids,
            self.iscrowd,
            self.kind,
            self.offsets,
            self.lengths,
        )

    def id_of(self, k: int) -> int | None:
        """The annotation id at position ``k``, None when it has none."""
        value = self.ids[k]
        return None if value == NO_ID else value


@dataclass
class Coco:
    """One scanned COCO document. ``sizes``: image id -> (width, height) of its first entry, None when that
    size is unusable. ``rejected_*``: positions of the entries a problem was reported for (to a sink that
    wanted it), which a reader leaves out. ``source``: where the entries' JSON can be read back."""

    images: Images
    categories: Categories
    annotations: Annotations
    info: dict[str, Any]
    sizes: dict[int, tuple[int, int] | None]
    category_set: set[int]
    source: Source
    rejected_images: set[int] = field(default_factory=set)
    rejected_categories: set[int] = field(default_factory=set)
    rejected_annotations: set[int] = field(default_factory=set)
    # ("annotations", "keypoints") -> how many entries hold a field the reader does not keep
    extra_fields: Counter[tuple[str, str]] = field(default_factory=Counter)

    def read_back(self, positions: Sequence[int] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(position, annotation)`` for the annotations at ``positions`` (ascending; all when None), decoded
        from the file again: the full JSON of each, which the scan kept only the offsets of. ``JsonError``
        where one holds what the scan did not decode and JSON does not allow (a number beyond a double)."""
        cols = self.annotations
        todo = (
            [k for k in range(len(cols)) if cols.kind[k] != NOT_AN_OBJECT] if positions is None else positions
        )
        import orjson

        for start in range(0, len(todo), 4096):
            part = todo[start : start + 4096]
            raws = read_back(self.source, [cols.offsets[k] for k in part], [cols.lengths[k] for k in part])
            for k, raw in zip(part, raws):
                try:
                    value = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:  # what the scan kept raw: 1e999, "\ud800"
                    raise JsonError(cols.offsets[k] + exc.pos, exc.msg) from None
                yield k, value


class _Ann(msgspec.Struct, forbid_unknown_fields=True):
    """The fields of an annotation the scan reads; the others are kept as raw JSON (not decoded). An annotation
    with any other field is decoded as a dict instead, so that the field is counted (``extra_fields``)."""

    id: Any = None
    image_id: Any = None
    category_id: Any = None
    iscrowd: Any = 0
    segmentation: msgspec.Raw = msgspec.Raw()
    bbox: msgspec.Raw = msgspec.Raw()
    area: msgspec.Raw = msgspec.Raw()
    score: msgspec.Raw = msgspec.Raw()
    attributes: msgspec.Raw = msgspec.Raw()
    keypoints: msgspec.Raw = msgspec.Raw()
    num_keypoints: msgspec.Raw = msgspec.Raw()


_ANN: Final = msgspec.json.Decoder(_Ann)
_NUMBER_BYTES: Final = b"0123456789.-+eE \t\r\n"
_POLYGONS_SHAPE: Final = re.compile(rb"\[\[,*\](?:,\[,*\])*\]")


_RAW_ROWS: Final = msgspec.json.Decoder(list[msgspec.Raw])
_RAW_TABLE: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ANN_LIST: Final = msgspec.json.Decoder(list[_Ann])
_ANN_TABLE: Final = msgspec.json.Decoder(dict[str, _Ann])


def _decoded(entries: Entries) -> list[_Ann] | None:
    """A piece's annotations decoded together (one call, not one per entry); None when one of them is not an
    object or has a field the struct does not name (each entry is then decoded alone)."""
    if entries.document is None:
        return None
    try:
        if entries.keys is not None:
            return list(_ANN_TABLE.decode(entries.document).values())
        return _ANN_LIST.decode(entries.document)
    except msgspec.ValidationError:
        return None
    except msgspec.DecodeError:  # not UTF-8 somewhere: entry by entry says where
        return None


def _check_utf8(entries: Entries) -> None:
    """Strings msgspec passed over (``attributes``, anything kept raw) must be UTF-8, as a whole-file parse
    would insist: a piece that is not all ASCII is decoded, and the first bad byte is a JsonError."""
    if entries.document is not None and entries.document.isascii():
        return
    for raw, offset in zip(entries.raws, entries.offsets):
        text = bytes(raw)
        if text.isascii():
            continue
        try:
            text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonError(offset + exc.start, "str is not valid UTF-8") from None


def _raw_value(raw: msgspec.Raw) -> Any:
    """The decoded value of a raw field (None when absent or null)."""
    import orjson

    return orjson.loads(bytes(raw)) if len(raw) else None


def _polygon_lengths(raw: bytes) -> list[int] | None:
    """How many numbers each polygon of a segmentation holds, read off its JSON without making a float of each:
    when the JSON (valid, as msgspec checked) holds only numbers in lists in one list and no empty list, its
    skeleton of brackets and commas says it all. None for anything else (decoded and checked in full), and for
    a polygon without a comma (``[5]`` and ``[]`` have the same skeleton)."""
    if b"e" in raw or b"E" in raw:  # an exponent: 1e999 is valid JSON syntax that orjson refuses, so decode
        return None
    skeleton = raw.translate(None, _NUMBER_BYTES)
    if not _POLYGONS_SHAPE.fullmatch(skeleton):
        return None
    lengths = [len(part) + 1 for part in skeleton[2:-2].split(b"],[")]
    return None if 1 in lengths else lengths  # no comma: one number or none, which only decoding tells


def scan(source: Source | bytes, path: str, sink: ProblemSink, *, every_problem: bool = True) -> Coco | None:
    """Read and scan one COCO file in bounded memory (``stream``), reporting every problem to ``sink`` in the
    order of a file with images, categories, then annotations; None when there is no usable document (not JSON,
    or not the three sections). ``every_problem=False`` reports only the first problem of each entry: a reader
    needs one reason to leave an entry out, and counts each entry once. ``source`` as bytes: a file already
    read (``cytoconv validate``)."""
    if isinstance(source, bytes):
        source = Source(path, source)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # the columns are new containers by the hundred thousand: cycle collections would find nothing
    try:
        return _Scanner(path, sink, every_problem).run(source)
    finally:
        if gc_was_enabled:
            gc.enable()


class _Scanner:
    """The state of one scan: the sink, which checks it wants, and the entries rejected so far."""

    def __init__(self, path: str, sink: ProblemSink, every_problem: bool) -> None:
        self.path = path
        self.sink = sink
        self.every = every_problem
        self.want = {code: sink.wants(code) for code in CODES}

    def report(
        self,
        code: str,
        message: str,
        rejected: set[int],
        index: int,
        *,
        image_id: int | None = None,
        annotation_id: int | str | None = None,
    ) -> None:
        """Report ``code`` for the entry at ``index`` (when wanted, and, for a reader, when it is the entry's
        first problem) and remember the entry as rejected."""
        if not self.want[code] or (not self.every and index in rejected):
            return
        rejected.add(index)
        self.sink(code, self.path, message, image_id=image_id, annotation_id=annotation_id)

    def run(self, source: Source) -> Coco | None:
        """Stream the file: the annotations into columns as they come (each checked alone), images and
        categories kept as they are (they are small); then everything reported in document order, the checks
        that need other sections (ids, references, sizes) done once all of it is read."""
        images: list[Any] | None = None
        categories: list[Any] | None = None
        keys: dict[str, list[str] | None] = {}
        members: dict[str, Any] = {}
        annotations = Annotations()
        extra: Counter[tuple[str, str]] = Counter()
        first_annotation: Any = None
        source.lines = self.want["CC005"]
        annotator: _Annotator | None = None

        def forget_annotations() -> None:
            """A later ``annotations`` member replaces what an earlier one held, as in a whole-file parse."""
            nonlocal annotations, annotator, first_annotation
            if annotator is not None:
                annotator.close()
                annotator = None
            annotations, first_annotation = Annotations(), None
            extra.clear()

        try:
            for event in sections(source):
                if isinstance(event, SectionStart):  # a key given twice: the last one counts
                    members.pop(event.section, None)
                    keys[event.section] = [] if event.keyed else None
                    if event.section == "images":
                        images = []
                    elif event.section == "categories":
                        categories = []
                    elif len(annotations) or annotator is not None:
                        forget_annotations()
                elif isinstance(event, Entries):
                    section_keys = keys[event.section]
                    if section_keys is not None and event.keys is not None:
                        section_keys.extend(event.keys)
                    if event.section == "annotations":
                        if event.first == 0 and event.raws:
                            first_annotation = event.raws[0]
                        if annotator is None:
                            annotator = _Annotator(self, annotations, extra, source)
                        annotator.add(event)
                    else:
                        import orjson

                        target = images if event.section == "images" else categories
                        assert target is not None
                        for raw, offset in zip(event.raws, event.offsets):
                            try:
                                target.append(orjson.loads(bytes(raw)))
                            except orjson.JSONDecodeError as exc:  # what msgspec let by (1e999)
                                raise JsonError(offset + exc.pos, exc.msg) from None
                elif isinstance(event, Member):
                    members[event.key] = event.value
                    if event.key == "images":
                        images = None
                    elif event.key == "categories":
                        categories = None
                    elif event.key == "annotations":
                        forget_annotations()
            if annotator is not None:
                annotator.finish()
        except msgspec.DecodeError as exc:  # anything the stream did not place (it names no byte)
            self._line_endings(source, finish=True)
            self._json_error(source, JsonError(0, str(exc).split(" - at ")[0]))
            return None
        except RecursionError:  # msgspec's limit on nesting (a hostile file of brackets)
            self._line_endings(source, finish=True)
            self._json_error(source, JsonError(0, "nested too deeply"))
            return None
        except JsonError as error:
            if annotator is not None:  # an error in a piece still being decoded comes first in the file
                error = annotator.first_error(error)
            self._line_endings(source, finish=True)
            self._json_error(source, error)
            return None
        finally:
            if annotator is not None:
                annotator.close()
        self._line_endings(source)
        # the document is an object, and no section is something other than a list or an object
        document = "" not in members and not SECTIONS & members.keys()
        if not document or images is None or categories is None:
            self.sink(
                "CC003",
                self.path,
                "not a COCO file: needs 'images' and 'categories' lists (and 'annotations', a list, if present)",
            )
            return None
        if first_annotation is not None:
            import orjson

            try:
                first = _raw_value(first_annotation)
            except orjson.JSONDecodeError as exc:  # a number a double cannot hold, kept raw by the scan
                self._json_error(source, JsonError(annotations.offsets[0] + exc.pos, exc.msg))
                return None
            if isinstance(first, dict) and "segments_info" in first:
                self.sink(
                    "CC003",
                    self.path,
                    "a COCO panoptic file (PNG masks listed in 'segments_info'): not supported; read the "
                    "instances_*.json of the same download instead",
                )
                return None
        info = members.get("info")
        coco = Coco(
            Images(),
            Categories(),
            annotations,
            dict(info) if isinstance(info, dict) else {},
            {},
            set(),
            source,
        )
        coco.extra_fields = extra
        self._images(_keyed(images, keys.get("images")), coco)
        self._categories(_keyed(categories, keys.get("categories")), coco)
        if not len(annotations) and self.want["CC004"]:
            self.sink("CC004", self.path, "no annotations: every image has no objects")
        self._references(coco, keys.get("annotations"))
        return coco

    def _line_endings(self, source: Source, finish: bool = False) -> None:
        """CC006 (a byte-order mark) and CC005 (CR line endings), reported first as a whole-file parse would;
        ``finish``: the stream stopped early, so the rest of the file is looked through for a CR."""
        if source.bom and self.want["CC006"]:
            self.sink("CC006", self.path, "starts with a UTF-8 byte-order mark", line=1, fix=Fix("bom"))
        if not self.want["CC005"]:
            return
        if finish and (source.cr_line is None or not source.crlf):
            source.rewatch()
        if source.cr_line is not None:
            self.sink(
                "CC005",
                self.path,
                ("CRLF" if source.crlf else "CR") + " line endings",
                line=source.cr_line,
                fix=Fix("line-endings"),
            )

    def _json_error(self, source: Source, error: JsonError) -> None:
        """CC002 with the line and column of the byte where the file stops being JSON."""
        line, column = source.line_column(source.size() if error.truncated else error.offset)
        if error.truncated:
            message = "truncated JSON (the file ends too early)"
        else:
            message = f"not valid JSON: {error.reason}"
        self.sink("CC002", self.path, f"{message} (column {column})", line=line)

    def _images(self, images: list[Any], coco: Coco) -> None:
        cols, sizes, rejected = coco.images, coco.sizes, coco.rejected_images
        for k, image in enumerate(images):
            if not isinstance(image, dict):
                image = {}
            image_id: Any = image.get("id")
            file_name: Any = image.get("file_name")
            width: Any = image.get("width")
            height: Any = image.get("height")
            good_size = _is_int(width) and _is_int(height) and width > 0 and height > 0
            cols.ids.append(image_id if _is_int(image_id) else None)
            cols.file_names.append(file_name if isinstance(file_name, str) else None)
            cols.widths.append(width if good_size else None)
            cols.heights.append(height if good_size else None)
            if not _is_int(image_id):
                self.report("CC003", f"images[{k}] has no integer 'id'", rejected, k)
                continue
            if _id(image_id) == NO_ID:
                self.report("CC003", f"images[{k}]: id {image_id} is beyond 64 bits", rejected, k)
                continue
            if image_id in sizes:
                self.report(
                    "CC601",
                    f"image id {image_id} appears twice (images[{k}])",
                    rejected,
                    k,
                    image_id=image_id,
                )
                continue
            sizes[image_id] = (width, height) if good_size else None
            if not good_size:
                self.report(
                    "CC003",
                    f"'width' and 'height' must be positive integers, got {width!r} x {height!r}",
                    rejected,
                    k,
                    image_id=image_id,
                )
            if not isinstance(file_name, str):
                self.report("CC003", "no 'file_name' string", rejected, k, image_id=image_id)

    def _categories(self, categories: list[Any], coco: Coco) -> None:
        cols, known, rejected = coco.categories, coco.category_set, coco.rejected_categories
        for k, category in enumerate(categories):
            if not isinstance(category, dict):
                category = {}
            else:
                extra = category.keys() - CATEGORY_FIELDS
                if extra and is_point_category(category):
                    extra -= POINT_CATEGORY_FIELDS
                for key in extra:
                    coco.extra_fields["categories", key] += 1
            cid, name, sup = category.get("id"), category.get("name"), category.get("supercategory")
            good_name = isinstance(name, str) or _is_int(name)
            cols.ids.append(cid if _is_int(cid) else None)
            cols.names.append(str(name) if good_name else None)
            cols.supercategories.append(str(sup) if sup is not None else None)
            if not _is_int(cid):
                self.report("CC003", f"categories[{k}] has no integer 'id'", rejected, k)
                continue
            if _id(cid) == NO_ID:
                self.report("CC003", f"categories[{k}]: id {cid} is beyond 64 bits", rejected, k)
                continue
            if cid in known:
                self.report("CC603", f"category id {cid} appears twice (categories[{k}])", rejected, k)
            known.add(cid)
            if not good_name:
                self.report("CC003", f"category {cid} has no 'name' (a string)", rejected, k)

    def _annotations(self, entries: Entries, cols: Annotations, extra: Counter[tuple[str, str]]) -> None:
        """Phase one, as the entries stream by: each annotation's ids, what it is read as, and the problems it
        has on its own, into the columns; nothing reported yet (references need the other sections)."""
        import orjson

        _check_utf8(entries)
        cols.offsets.extend(entries.offsets)
        cols.lengths.extend(len(raw) for raw in entries.raws)
        keys = entries.keys
        decoded = _decoded(entries)
        j = 0
        try:
            if decoded is not None:  # every entry an annotation of known fields: decoded in one call
                for j, ann in enumerate(decoded):
                    self._fields(ann, keys[j] if keys is not None else None, None, cols, extra)
                return
            for j, raw in enumerate(entries.raws):
                self._annotation(raw, keys[j] if keys is not None else None, cols, extra)
        except orjson.JSONDecodeError as exc:  # a number msgspec passed over and orjson refuses (1e999)
            raise JsonError(entries.offsets[j], exc.msg) from None
        except msgspec.DecodeError as exc:  # what skipping did not look at (a string that is not UTF-8)
            raise JsonError(entries.offsets[j], str(exc).split(" - at ")[0]) from None

    def _annotation(
        self, raw: msgspec.Raw, key: str | None, cols: Annotations, extra: Counter[tuple[str, str]]
    ) -> None:
        """One annotation into the columns (phase one). One with a field the struct does not name is decoded
        as a dict, so that the field is counted."""
        fields: Iterable[str] | None = None
        try:
            ann = _ANN.decode(raw)
        except msgspec.ValidationError:
            value = _raw_value(raw)
            if not isinstance(value, dict):
                cols.ids.append(NO_ID)
                cols.image_ids.append(NO_ID)
                cols.category_ids.append(NO_ID)
                cols.iscrowd.append(0)
                cols.kind.append(NOT_AN_OBJECT)
                return
            fields = value.keys()
            ann = _Ann(
                **{
                    name: (msgspec.Raw(orjson_dumps(value[name])) if name in _RAW_FIELDS else value[name])
                    for name in _ANN_FIELDS
                    if name in value
                }
            )
        self._fields(ann, key, fields, cols, extra)

    def _fields(
        self,
        ann: _Ann,
        key: str | None,
        fields: Iterable[str] | None,
        cols: Annotations,
        extra: Counter[tuple[str, str]],
    ) -> None:
        """An annotation's fields into the columns; ``fields``: the keys it has, when it has one the struct
        does not name (None: only those it names)."""
        k = len(cols.kind)
        aid = ann.id
        if aid is None and key is not None and key.lstrip("-").isdigit():  # keyed by id (LIVECell): the key
            aid = int(key)
        values = (aid, ann.image_id, ann.category_id)
        ids = (_id(aid), _id(ann.image_id), _id(ann.category_id))
        if NO_ID in ids:  # an integer beyond 64 bits is said as such, not as "no integer"
            wide = [name for name, v, got in zip(_ID_FIELDS, values, ids) if got == NO_ID and _is_int(v)]
            if wide:
                cols.wide[k] = wide
        cols.ids.append(ids[0])
        cols.image_ids.append(ids[1])
        cols.category_ids.append(ids[2])
        cols.iscrowd.append(1 if ann.iscrowd else 0)
        found: list[tuple[str, str]] = []
        kind = self._geometry(ann, k, found, cols.deferred)
        if found:
            cols.local[k] = found
        cols.kind.append(kind)
        if fields is not None:
            kept = ANNOTATION_FIELDS | POINT_FIELDS if kind == POINT else ANNOTATION_FIELDS
            for name in fields:
                if name not in kept:
                    extra["annotations", name] += 1
        elif kind != POINT:
            if len(ann.keypoints):
                extra["annotations", "keypoints"] += 1
            if len(ann.num_keypoints):
                extra["annotations", "num_keypoints"] += 1

    def _references(self, coco: Coco, keys: list[str] | None) -> None:
        """Phase two: the annotations checked against each other and the other sections, then their own
        problems, entry by entry in file order (only the entries with something to say are visited)."""
        cols, sizes, categories, rejected = (
            coco.annotations,
            coco.sizes,
            coco.category_set,
            coco.rejected_annotations,
        )
        n = len(cols)
        if not n:
            return
        ids = np.frombuffer(cols.ids, dtype=np.int64)
        image_ids = np.frombuffer(cols.image_ids, dtype=np.int64)
        category_ids = np.frombuffer(cols.category_ids, dtype=np.int64)
        kind = np.frombuffer(cols.kind, dtype=np.int8)
        flagged = (ids == NO_ID) | (ids == 0) | (kind == NOT_AN_OBJECT)
        flagged |= np.frombuffer(cols.iscrowd, dtype=np.int8) != 0
        has_id = np.flatnonzero(ids != NO_ID)
        order = np.argsort(ids[has_id], kind="stable")
        ordered = ids[has_id][order]
        repeat = np.zeros(len(ordered), dtype=bool)
        repeat[1:] = ordered[1:] == ordered[:-1]
        flagged[has_id[order][repeat]] = True
        flagged |= ~np.isin(image_ids, np.fromiter(sizes, dtype=np.int64, count=len(sizes)))
        flagged |= ~np.isin(category_ids, np.fromiter(categories, dtype=np.int64, count=len(categories)))
        if cols.local:
            flagged[np.fromiter(cols.local, dtype=np.int64, count=len(cols.local))] = True
        if cols.deferred:
            flagged[np.fromiter(cols.deferred, dtype=np.int64, count=len(cols.deferred))] = True
        seen_ids = set(ordered.tolist()) if flagged.any() else set()
        first_of: dict[int, int] = {}
        if repeat.any():
            for position, value in zip(has_id[order].tolist(), ordered.tolist()):
                first_of.setdefault(value, position)
        want, report = self.want, self.report
        for k in np.flatnonzero(flagged).tolist():
            if cols.kind[k] == NOT_AN_OBJECT:
                report("CC003", f"annotations[{k}] is not an object", rejected, k)
                continue
            aid, image_id, category_id = cols.ids[k], cols.image_ids[k], cols.category_ids[k]
            ref: int | str = aid if aid != NO_ID else f"#{k}"
            wide = cols.wide.get(k, ())
            if aid == NO_ID:
                said = "has an 'id' beyond 64 bits" if "id" in wide else "has no integer 'id'"
                report("CC003", f"annotations[{k}] {said}", rejected, k, annotation_id=ref)
            elif aid in seen_ids and first_of.get(aid, k) != k:
                report(
                    "CC602",
                    f"annotation id {aid} appears twice (annotations[{k}])",
                    rejected,
                    k,
                    annotation_id=aid,
                )
            elif aid == 0 and want["CC604"]:  # a warning: the annotation is kept
                self.sink(
                    "CC604",
                    self.path,
                    "annotation id 0: COCOeval takes id 0 for 'no match', so this "
                    "object can never count as found",
                    annotation_id=0,
                )
            size: tuple[int, int] | None = None
            if image_id == NO_ID:
                said = "an 'image_id' beyond 64 bits" if "image_id" in wide else "no integer 'image_id'"
                report("CC003", said, rejected, k, annotation_id=ref)
            elif image_id not in sizes:
                report("CC605", f"image id {image_id} is not in 'images'", rejected, k, annotation_id=ref)
            else:
                size = sizes[image_id]
            if category_id == NO_ID:
                said = (
                    "a 'category_id' beyond 64 bits" if "category_id" in wide else "no integer 'category_id'"
                )
                report("CC003", said, rejected, k, annotation_id=ref)
            elif category_id not in categories:
                report(
                    "CC202",
                    f"category id {category_id} is not in 'categories'",
                    rejected,
                    k,
                    annotation_id=ref,
                )
            if cols.iscrowd[k] and want["CC608"]:
                self.sink(
                    "CC608",
                    self.path,
                    "a crowd object (iscrowd 1): COCOeval ignores it, and a cell is rarely a crowd",
                    annotation_id=ref,
                )
            for code, message in cols.local.get(k, ()):
                report(code, message, rejected, k, annotation_id=ref)
            check = cols.deferred.get(k)
            if check is not None and size is not None and not self._sized(check, size, k, ref, rejected):
                cols.kind[k] = UNUSABLE

    def _sized(
        self, check: tuple[Any, ...], size: tuple[int, int], k: int, ref: int | str, rejected: set[int]
    ) -> bool:
        """The checks of an annotation that need its image's size: an RLE's size, a point inside the image."""
        if check[0] == "rle":
            rle_size = check[1]
            if rle_size[0] != size[1] or rle_size[1] != size[0]:
                self.report(
                    "CC003",
                    f"RLE size {rle_size} is not the image's [{size[1]}, {size[0]}]",
                    rejected,
                    k,
                    annotation_id=ref,
                )
                return False
            return True
        x, y = check[1], check[2]
        if not (-0.5 <= x <= size[0] - 0.5 and -0.5 <= y <= size[1] - 0.5):
            self.report(
                "CC306",
                f"keypoint ({x:g}, {y:g}) is outside the {size[0]}x{size[1]} image (pixel indices "
                f"0..{size[0] - 1}, 0..{size[1] - 1})",
                rejected,
                k,
                annotation_id=ref,
            )
            return False
        return True

    def _geometry(
        self, ann: _Ann, k: int, found: list[tuple[str, str]], deferred: dict[int, tuple[Any, ...]]
    ) -> int:
        """What the annotation at ``k`` is read as; the problems of that geometry found, those that need the
        image's size left in ``deferred``."""
        raw = bytes(ann.segmentation)
        if raw and raw[:2] == b"[[":
            lengths = _polygon_lengths(raw)
            if lengths is not None:
                return _polygon_problems(lengths, found)
        seg = _raw_value(ann.segmentation) if raw else None
        if seg is None or seg == []:
            keypoints = _raw_value(ann.keypoints)
            if keypoints is not None and keypoints != []:
                kind = _point(keypoints, k, found, deferred)
                if kind is not None:
                    return kind
            return _box(_raw_value(ann.bbox), found)
        if isinstance(seg, dict):
            counts, rle_size = seg.get("counts"), seg.get("size")
            if not (
                isinstance(rle_size, list)
                and len(rle_size) == 2
                and all(_is_int(v) for v in rle_size)
                and (
                    isinstance(counts, str)
                    or (isinstance(counts, list) and all(_is_int(c) and c >= 0 for c in counts))
                )
            ):
                found.append(
                    (
                        "CC003",
                        "an RLE needs 'size' [h, w] and 'counts' (a string or a list of non-negative integers)",
                    )
                )
                return UNUSABLE
            deferred[k] = ("rle", rle_size)
            return RLE
        if not isinstance(seg, list):
            found.append(("CC003", "'segmentation' must be polygons, an RLE or []"))
            return UNUSABLE
        return _polygon_problems(
            [
                len(part) if type(part) is list and _NUMBER_TYPES.issuperset(map(type, part)) else -1
                for part in seg
            ],
            found,
        )


PARALLEL_BYTES: Final = 64 << 20  # a file this big has its annotations decoded beside the reading


class _Silent:
    """The sink of phase one in a worker: phase one reports nothing (its findings are kept in the columns)."""

    def wants(self, code: str) -> bool:
        return False

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        return None


# (ids, image ids, category ids, iscrowd, kind, offsets, lengths as array bytes; local; deferred; extra fields;
# wide)
PieceColumns = tuple[
    bytes,
    bytes,
    bytes,
    bytes,
    bytes,
    bytes,
    bytes,
    dict[int, Any],
    dict[int, Any],
    Counter[Any],
    dict[int, Any],
]


def _phase_one(
    path: str, span: tuple[int, int], keys: list[str] | None, offsets: list[int]
) -> PieceColumns | tuple[int, str]:
    """Phase one of one piece of annotations, in a worker, which reads the piece from the file itself (cheaper
    than sending it): its columns, or (offset, reason) where it is not JSON (an exception does not travel back
    intact)."""
    with open(path, "rb") as fh:
        fh.seek(span[0])
        text = fh.read(span[1] - span[0])
    document = b"{" + text + b"}" if keys is not None else b"[" + text + b"]"
    raws = list(_RAW_TABLE.decode(document).values()) if keys is not None else _RAW_ROWS.decode(document)
    entries = Entries("annotations", 0, raws, offsets, keys, document)
    cols = Annotations()
    extra: Counter[tuple[str, str]] = Counter()
    gc.disable()
    try:
        _Scanner("", _Silent(), True)._annotations(entries, cols, extra)
    except JsonError as error:
        return error.offset, error.reason
    finally:
        gc.enable()
    arrays = (a.tobytes() for a in cols.arrays())
    return (*arrays, cols.local, cols.deferred, extra, cols.wide)  # type: ignore[return-value]


class _Annotator:
    """Phase one of the annotations as the pieces come: here, or, for a big file, in worker processes while the
    stream reads on (two pieces per worker in flight, so memory stays a few pieces), applied in file order."""

    def __init__(
        self, scanner: _Scanner, cols: Annotations, extra: Counter[tuple[str, str]], source: Source
    ) -> None:
        from collections import deque

        self.scanner, self.cols, self.extra, self.path = scanner, cols, extra, source.path
        self.pending: deque[Any] = deque()  # futures, in file order
        self.pool = None
        self.jobs = 1
        if source.data is None and source.size() >= PARALLEL_BYTES:
            from cytoconv.engine.pool import default_jobs, side_pool

            self.jobs = default_jobs()
            self.pool = side_pool(self.jobs)

    def add(self, entries: Entries) -> None:
        """One piece: decoded here (a small file, or a piece cut entry by entry) or sent to a worker."""
        if self.pool is None or entries.span is None:
            self.finish()
            self.scanner._annotations(entries, self.cols, self.extra)
            return
        self.pending.append(
            self.pool.submit(_phase_one, self.path, entries.span, entries.keys, entries.offsets)
        )
        while len(self.pending) > 2 * self.jobs:
            self._apply()

    def _apply(self) -> None:
        result = self.pending.popleft().result()
        if len(result) == 2:
            raise JsonError(result[0], result[1])
        cols, base = self.cols, len(self.cols.kind)
        for column, data in zip(
            cols.arrays(),
            result[:7],
        ):
            column.frombytes(data)
        cols.local.update({base + k: v for k, v in result[7].items()})
        cols.deferred.update({base + k: v for k, v in result[8].items()})
        cols.wide.update({base + k: v for k, v in result[10].items()})
        self.extra.update(result[9])

    def finish(self) -> None:
        """Every piece sent out applied, in order."""
        while self.pending:
            self._apply()

    def first_error(self, error: JsonError) -> JsonError:
        """The stream stopped at ``error``: a piece before it that is not JSON either comes first."""
        try:
            self.finish()
        except JsonError as earlier:
            return earlier
        return error

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def _keyed(entries: list[Any], keys: list[str] | None) -> list[Any]:
    """A section's entries; for an object keyed by id, each entry without an ``id`` takes its key's."""
    if keys is None:
        return entries
    out = []
    for entry, key in zip(entries, keys):
        if isinstance(entry, dict) and "id" not in entry and key.lstrip("-").isdigit():
            entry = {**entry, "id": int(key)}
        out.append(entry)
    return out


def _polygon_problems(lengths: list[int], found: list[tuple[str, str]]) -> int:
    """The problems of polygons with these numbers of coordinates (-1: a part that is not a list of numbers),
    polygon by polygon."""
    kind = POLYGON
    several = len(lengths) > 1
    for j, n in enumerate(lengths):
        if n >= 6 and not n % 2:
            continue
        where = f"polygon {j + 1} of {len(lengths)}" if several else "the polygon"
        if n < 0:
            found.append(("CC101", f"{where} is not a list of numbers"))
        elif n % 2:
            found.append(("CC103", f"{where} has an odd number of coordinates ({n})"))
        elif n == 4:
            found.append(("CC105", f"{where} has 4 numbers: pycocotools takes it for a box [x, y, w, h]"))
        else:
            found.append(("CC104", f"{where} has {n // 2} point(s): a polygon needs at least 3"))
        kind = UNUSABLE
    return kind


def _point(
    keypoints: Any, k: int, found: list[tuple[str, str]], deferred: dict[int, tuple[Any, ...]]
) -> int | None:
    """An annotation without a segmentation but with keypoints: ``POINT`` when exactly one is visible (whether
    it is inside its image is checked with the size), None when none or several are (the bbox is then the
    object, as before)."""
    problem = keypoints_problem(keypoints)
    if problem is not None:
        found.append(("CC003", problem))
        return UNUSABLE
    visible = visible_keypoints(keypoints)
    if len(visible) != 1:
        return None
    deferred[k] = ("point", visible[0][0], visible[0][1])
    return POINT


def _box(bbox: Any, found: list[tuple[str, str]]) -> int:
    """An annotation without a segmentation: its bbox is the object."""
    if bbox is None:
        found.append(("CC003", "no segmentation and no bbox"))
        return UNUSABLE
    problem = bbox_problem(bbox)
    if problem is not None:
        found.append(problem)
        return UNUSABLE if problem[0] != "CC303" else BOX
    return BOX


_ANN_FIELDS: Final = tuple(_Ann.__struct_fields__)
_ID_FIELDS: Final = ("id", "image_id", "category_id")
_RAW_FIELDS: Final = frozenset(
    ("segmentation", "bbox", "area", "score", "attributes", "keypoints", "num_keypoints")
)


def orjson_dumps(value: Any) -> bytes:
    """JSON of a value decoded from the file, for a field kept raw (an annotation that was decoded as a dict)."""
    import orjson

    return orjson.dumps(value)


def bbox_problem(bbox: Any) -> tuple[str, str] | None:
    """What is wrong with a bbox (code, message), or None: 4 finite numbers [x, y, w, h], w and h positive.
    Shared with the validator's check of a bbox beside a segmentation, so that both say the same."""
    if not (type(bbox) is list and len(bbox) == 4 and _NUMBER_TYPES.issuperset(map(type, bbox))):
        return "CC003", f"'bbox' must be 4 finite numbers [x, y, w, h], got {bbox!r}"
    w, h = float(bbox[2]), float(bbox[3])
    if w < 0 or h < 0:
        return "CC304", f"bbox of negative size ({w:g} x {h:g})"
    if w == 0 or h == 0:
        return "CC303", f"bbox of zero size ({w:g} x {h:g})"
    return None


def keypoints_problem(keypoints: Any) -> str | None:
    """What is wrong with a ``keypoints`` array (a message), or None: a list of numbers ``[x1, y1, v1, ...]``,
    its length a multiple of 3. Shared with the validator's check of keypoints beside a segmentation."""
    if type(keypoints) is not list or not _NUMBER_TYPES.issuperset(map(type, keypoints)):
        return f"'keypoints' must be a list of numbers [x1, y1, v1, ...], got {_shown(keypoints)}"
    if len(keypoints) % 3:
        return f"'keypoints' must hold triples [x, y, v]: {len(keypoints)} numbers is not a multiple of 3"
    return None


def visible_keypoints(keypoints: list[Any]) -> list[tuple[float, float]]:
    """The pixel indices ``(x, y)`` of the keypoints marked visible or labelled (v > 0) of a well-formed array;
    COCO marks a keypoint not labelled with v = 0 (and x = y = 0)."""
    return [(keypoints[n], keypoints[n + 1]) for n in range(0, len(keypoints) - 2, 3) if keypoints[n + 2] > 0]


def point_visibility(keypoints: list[Any]) -> int:
    """The ``v`` of the one visible or labelled keypoint of a point annotation: 2 (visible) or 1 (labelled, not
    visible), which the reader keeps so that writing the point back does not turn a 1 into a 2."""
    return next(int(keypoints[n + 2]) for n in range(0, len(keypoints) - 2, 3) if keypoints[n + 2] > 0)


def is_point_category(category: dict[str, Any]) -> bool:
    """A category of points, as the writer makes it: one keypoint name and no skeleton (``"keypoints":
    ["center"], "skeleton": []``); the 17 keypoints of COCO's person are not."""
    names, skeleton = category.get("keypoints"), category.get("skeleton")
    return type(names) is list and len(names) == 1 and isinstance(names[0], str) and skeleton in (None, [])


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
