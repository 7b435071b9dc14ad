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
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final, TypeGuard

from cytoconv.problems import Fix, ProblemSink

BOM: Final = b"\xef\xbb\xbf"
SNIFF_BYTES: Final = 1 << 16
COCO_LIST: Final = re.compile(rb'"(images|annotations|categories)"\s*:\s*\[')

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
    ``image_id`` keys: datumaro's native JSON nests ``annotations`` lists in its ``items``). The one sniffer of both the reader's ``detect``
    and ``cytoconv validate``: a summary with an ``"images": 12`` count, or a ``package.json``, is not COCO."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return False
    head = head[3:] if head.startswith(BOM) else head
    if head.lstrip()[:1] != b"{":
        return False
    keys = {m.group(1) for m in COCO_LIST.finditer(head)}
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


@dataclass
class Annotations:
    """The ``annotations`` list, one entry per position. Ids are None where they are not integers;
    ``segmentations``, ``bboxes``, ``areas``, ``scores`` and ``attributes`` are the raw JSON values (polygons
    and RLE are kept as they are: the reader makes arrays in its workers); ``kind`` says what the annotation is
    read as (``BOX``, ``POLYGON``, ``RLE``, ``POINT``) or why it cannot be (``UNUSABLE``, ``NOT_AN_OBJECT``)."""

    ids: list[int | None] = field(default_factory=list)
    image_ids: list[int | None] = field(default_factory=list)
    category_ids: list[int | None] = field(default_factory=list)
    iscrowd: list[bool] = field(default_factory=list)
    bboxes: list[Any] = field(default_factory=list)
    segmentations: list[Any] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    areas: list[Any] = field(default_factory=list)
    scores: list[Any] = field(default_factory=list)
    attributes: list[Any] = field(default_factory=list)
    keypoints: list[Any] = field(default_factory=list)  # raw ``keypoints`` [x1, y1, v1, ...] (None: absent)
    num_keypoints: list[Any] = field(default_factory=list)


@dataclass
class Coco:
    """One scanned COCO document. ``sizes``: image id -> (width, height) of its first entry, None when that
    size is unusable. ``rejected_*``: positions of the entries a problem was reported for (to a sink that
    wanted it), which a reader leaves out."""

    images: Images
    categories: Categories
    annotations: Annotations
    info: dict[str, Any]
    sizes: dict[int, tuple[int, int] | None]
    category_set: set[int]
    rejected_images: set[int] = field(default_factory=set)
    rejected_categories: set[int] = field(default_factory=set)
    rejected_annotations: set[int] = field(default_factory=set)
    # ("annotations", "keypoints") -> how many entries hold a field the reader does not keep
    extra_fields: Counter[tuple[str, str]] = field(default_factory=Counter)


def scan(data: bytes, path: str, sink: ProblemSink, *, every_problem: bool = True) -> Coco | None:
    """Parse and scan one COCO file, reporting every problem to ``sink`` in file order; None when there is no
    usable document (not JSON, or not the three lists). ``every_problem=False`` reports only the first problem
    of each entry: a reader needs one reason to leave an entry out, and counts each entry once."""
    gc_was_enabled = gc.isenabled()
    gc.disable()  # the columns are new containers by the hundred thousand: cycle collections would find nothing
    try:
        ok, doc = parse_json(data, path, sink)
        if not ok:
            return None
        if (
            not isinstance(doc, dict)
            or not isinstance(doc.get("images"), list)
            or not isinstance(doc.get("categories"), list)
            or not isinstance(doc.get("annotations", []), list)
        ):
            sink(
                "CC003",
                path,
                "not a COCO file: needs 'images' and 'categories' lists (and 'annotations', a list, "
                "if present)",
            )
            return None
        first = doc["annotations"][0] if doc.get("annotations") else None
        if isinstance(first, dict) and "segments_info" in first:
            sink(
                "CC003",
                path,
                "a COCO panoptic file (PNG masks listed in 'segments_info'): not supported; read the "
                "instances_*.json of the same download instead",
            )
            return None
        return _Scanner(path, sink, every_problem).run(doc)
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

    def run(self, doc: dict[str, Any]) -> Coco:
        """Scan a parsed COCO document into a ``Coco``: images and categories first, since annotations refer
        to both; what is wrong goes to the sink."""
        info = doc.get("info")
        coco = Coco(
            Images(), Categories(), Annotations(), dict(info) if isinstance(info, dict) else {}, {}, set()
        )
        self._images(doc["images"], coco)
        self._categories(doc["categories"], coco)
        annotations = doc.get("annotations", [])
        if not annotations and self.want["CC004"]:
            self.sink("CC004", self.path, "no annotations: every image has no objects")
        self._annotations(annotations, coco)
        return coco

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
            if cid in known:
                self.report("CC603", f"category id {cid} appears twice (categories[{k}])", rejected, k)
            known.add(cid)
            if not good_name:
                self.report("CC003", f"category {cid} has no 'name' (a string)", rejected, k)

    def _annotations(self, annotations: list[Any], coco: Coco) -> None:
        cols, sizes, categories, rejected = (
            coco.annotations,
            coco.sizes,
            coco.category_set,
            coco.rejected_annotations,
        )
        want, report = self.want, self.report
        seen_ids: set[int] = set()
        extra = coco.extra_fields
        known, known_point = ANNOTATION_FIELDS, ANNOTATION_FIELDS | POINT_FIELDS
        for k, ann in enumerate(annotations):
            if not isinstance(ann, dict):
                for column in (
                    cols.ids,
                    cols.image_ids,
                    cols.category_ids,
                    cols.bboxes,
                    cols.segmentations,
                    cols.areas,
                    cols.scores,
                    cols.attributes,
                    cols.keypoints,
                    cols.num_keypoints,
                ):
                    column.append(None)
                cols.iscrowd.append(False)
                cols.kind.append(NOT_AN_OBJECT)
                report("CC003", f"annotations[{k}] is not an object", rejected, k)
                continue
            aid, image_id, category_id = ann.get("id"), ann.get("image_id"), ann.get("category_id")
            seg, bbox, keypoints = ann.get("segmentation"), ann.get("bbox"), ann.get("keypoints")
            crowd = bool(ann.get("iscrowd", 0))
            cols.ids.append(aid if _is_int(aid) else None)
            cols.image_ids.append(image_id if _is_int(image_id) else None)
            cols.category_ids.append(category_id if _is_int(category_id) else None)
            cols.iscrowd.append(crowd)
            cols.bboxes.append(bbox)
            cols.segmentations.append(seg)
            cols.areas.append(ann.get("area"))
            cols.scores.append(ann.get("score"))
            cols.attributes.append(ann.get("attributes"))
            cols.keypoints.append(keypoints)
            cols.num_keypoints.append(ann.get("num_keypoints"))
            ref: int | str = aid if _is_int(aid) else f"#{k}"
            if not _is_int(aid):
                report("CC003", f"annotations[{k}] has no integer 'id'", rejected, k, annotation_id=ref)
            elif aid in seen_ids:
                report(
                    "CC602",
                    f"annotation id {aid} appears twice (annotations[{k}])",
                    rejected,
                    k,
                    annotation_id=aid,
                )
            else:
                seen_ids.add(aid)
                if aid == 0 and want["CC604"]:  # a warning: the annotation is kept
                    self.sink(
                        "CC604",
                        self.path,
                        "annotation id 0: COCOeval takes id 0 for 'no match', so this "
                        "object can never count as found",
                        annotation_id=0,
                    )
            size: tuple[int, int] | None = None
            if not _is_int(image_id):
                report("CC003", "no integer 'image_id'", rejected, k, annotation_id=ref)
            elif image_id not in sizes:
                report("CC605", f"image id {image_id} is not in 'images'", rejected, k, annotation_id=ref)
            else:
                size = sizes[image_id]
            if not _is_int(category_id):
                report("CC003", "no integer 'category_id'", rejected, k, annotation_id=ref)
            elif category_id not in categories:
                report(
                    "CC202",
                    f"category id {category_id} is not in 'categories'",
                    rejected,
                    k,
                    annotation_id=ref,
                )
            if crowd and want["CC608"]:
                self.sink(
                    "CC608",
                    self.path,
                    "a crowd object (iscrowd 1): COCOeval ignores it, and a cell is rarely a crowd",
                    annotation_id=ref,
                )
            kind = self._geometry(seg, bbox, keypoints, size, k, ref, rejected)
            cols.kind.append(kind)
            kept = known_point if kind == POINT else known
            if not kept.issuperset(ann):
                for key in ann.keys() - kept:
                    extra["annotations", key] += 1

    def _geometry(
        self,
        seg: Any,
        bbox: Any,
        keypoints: Any,
        size: tuple[int, int] | None,
        k: int,
        ref: int | str,
        rejected: set[int],
    ) -> int:
        """What the annotation at ``k`` is read as; the problems of that geometry reported."""
        report = self.report
        if seg is None or seg == []:
            if keypoints is not None and keypoints != []:
                kind = self._point(keypoints, size, k, ref, rejected)
                if kind is not None:
                    return kind
            return self._box(bbox, k, ref, rejected)
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
                report(
                    "CC003",
                    "an RLE needs 'size' [h, w] and 'counts' (a string or a list of non-negative integers)",
                    rejected,
                    k,
                    annotation_id=ref,
                )
                return UNUSABLE
            if size is not None and (rle_size[0] != size[1] or rle_size[1] != size[0]):
                report(
                    "CC003",
                    f"RLE size {rle_size} is not the image's [{size[1]}, {size[0]}]",
                    rejected,
                    k,
                    annotation_id=ref,
                )
                return UNUSABLE
            return RLE
        if not isinstance(seg, list):
            report("CC003", "'segmentation' must be polygons, an RLE or []", rejected, k, annotation_id=ref)
            return UNUSABLE
        kind = POLYGON
        several = len(seg) > 1
        for j, part in enumerate(seg):
            if type(part) is not list or not _NUMBER_TYPES.issuperset(map(type, part)):
                where = f"polygon {j + 1} of {len(seg)}" if several else "the polygon"
                report("CC101", f"{where} is not a list of numbers", rejected, k, annotation_id=ref)
                kind = UNUSABLE
                continue
            n = len(part)
            if n >= 6 and not n % 2:
                continue
            where = f"polygon {j + 1} of {len(seg)}" if several else "the polygon"
            if n % 2:
                report(
                    "CC103", f"{where} has an odd number of coordinates ({n})", rejected, k, annotation_id=ref
                )
            elif n == 4:
                report(
                    "CC105",
                    f"{where} has 4 numbers: pycocotools takes it for a box [x, y, w, h]",
                    rejected,
                    k,
                    annotation_id=ref,
                )
            else:
                report(
                    "CC104",
                    f"{where} has {n // 2} point(s): a polygon needs at least 3",
                    rejected,
                    k,
                    annotation_id=ref,
                )
            kind = UNUSABLE
        return kind

    def _point(
        self, keypoints: Any, size: tuple[int, int] | None, k: int, ref: int | str, rejected: set[int]
    ) -> int | None:
        """An annotation without a segmentation but with keypoints: ``POINT`` when exactly one is visible (and
        inside its image), None when none or several are (the bbox is then the object, as before)."""
        problem = keypoints_problem(keypoints)
        if problem is not None:
            self.report("CC003", problem, rejected, k, annotation_id=ref)
            return UNUSABLE
        visible = visible_keypoints(keypoints)
        if len(visible) != 1:
            return None
        x, y = visible[0]
        if size is not None and not (-0.5 <= x <= size[0] - 0.5 and -0.5 <= y <= size[1] - 0.5):
            self.report(
                "CC306",
                f"keypoint ({x:g}, {y:g}) is outside the {size[0]}x{size[1]} image (pixel indices "
                f"0..{size[0] - 1}, 0..{size[1] - 1})",
                rejected,
                k,
                annotation_id=ref,
            )
            return UNUSABLE
        return POINT

    def _box(self, bbox: Any, k: int, ref: int | str, rejected: set[int]) -> int:
        """An annotation without a segmentation: its bbox is the object."""
        if bbox is None:
            self.report("CC003", "no segmentation and no bbox", rejected, k, annotation_id=ref)
            return UNUSABLE
        problem = bbox_problem(bbox)
        if problem is not None:
            self.report(problem[0], problem[1], rejected, k, annotation_id=ref)
            return UNUSABLE if problem[0] != "CC303" else BOX
        return BOX


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
