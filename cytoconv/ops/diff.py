"""What changed between two versions of an annotation set, object by object and per class (``cytoconv diff``).

Images are paired by file name: the path relative to each dataset's image root (``by="path"``), or the base
name alone (``by="name"``, for two layouts that keep the same images under different folders). Within a pair
of images, objects are paired one to one by the Hungarian method (``scipy.optimize.linear_sum_assignment``)
maximising the total IoU, and a pair whose IoU is below ``iou`` is no pair: both objects are then "only in A"
and "only in B". The IoU is pycocotools' (``cytoconv.geometry.iou``): polygons and RLEs as their rasters, two
boxes as boxes, a box and a mask as masks. Points (cell centres, which have no area) are paired with points
only, by distance (minimum total distance, pairs farther apart than ``distance`` pixels unpaired). Pairing is
class-agnostic: a pair whose classes differ (classes compared by name, so ids may differ) is *relabelled*; a
pair of one class is *identical* when its IoU is at least ``exact_iou`` (a point: at distance 0), else *moved*.
A relabelled pair is counted under A's class only, with the class it became.

How it runs. A is streamed first: each worker loads its images and reduces each one to its objects' class ids
and fingerprints (boxes and points by their coordinates, polygons and RLEs by a digest of their vertices or
counts), which the parent keeps by file name. B is streamed next over the same pool; its workers (forked after
A's fingerprints are held, so they share them and A's plan) fingerprint each B image and compare it with A's
right there: objects equal in order are identical without a raster (most images of a revised set), and only an
image that differs has its A record loaded again and both rasterised (pycocotools RLEs) and paired. Each
dataset is read once, and only small per-object results cross between processes.
"""

from __future__ import annotations

import hashlib
import math
import posixpath
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cytoconv.engine.contract import Loader, ReadOptions, ReadPlan
from cytoconv.engine.pipeline import Summary, final_categories, stream
from cytoconv.errors import FormatError, Report, UsageError
from cytoconv.ir import Box, Category, ImageRecord, Point, Polygon, Rle

SCHEMA_VERSION = 1
DECIMALS = 6  # IoUs and distances in JSON are rounded to this many decimals

KIND_BOX, KIND_MASK, KIND_POINT = 0, 1, 2
By = Literal["path", "name"]

# One object as a worker reduces it: (category id, kind, data): data is (x, y, w, h) for a box, the
# pycocotools RLE for a polygon or an RLE, (x, y) for a point.
Obj = tuple[int, int, Any]
# One image reduced: (key, unit index, file name, width, height, objects, image-level label).
Side = tuple[str, int, str, int, int, list[Obj], int | None]
# The pairs of one image: [(index in A, index in B, IoU or None, distance or None)], only-in-A and only-in-B.
Pairs = tuple[list[tuple[int, int, float | None, float | None]], list[int], list[int]]


# pycocotools sums the IoU of two equal boxes or masks in floating point: 0.9999999999999997 for identical
# boxes. An IoU within this of --exact-iou counts as reaching it (no real change moves an IoU by 1e-9).
IOU_ROUNDING = 1e-9


@dataclass(frozen=True)
class Opened:
    """One dataset opened for a diff: its plan, its reader's ``load`` and reading options, and the path and
    format the output names."""

    plan: ReadPlan
    load: Loader
    options: ReadOptions
    source: str | None = None
    format: str | None = None


@dataclass(frozen=True)
class DiffSettings:
    """How objects are paired and judged; checked when made, so that a bad threshold fails before reading."""

    iou: float = 0.5  # the least IoU of a pair
    exact_iou: float = 1.0  # the least IoU of an identical pair (below: moved; see IOU_ROUNDING)
    distance: float = 5.0  # px: the farthest two points of a pair lie apart
    by: By = "path"  # how images are paired: their relative path, or their base name

    def __post_init__(self) -> None:
        if not 0.0 < self.iou <= 1.0:
            raise UsageError(f"--iou must lie in (0, 1], got {self.iou}")
        if not 0.0 < self.exact_iou <= 1.0:
            raise UsageError(f"--exact-iou must lie in (0, 1], got {self.exact_iou}")
        if not (self.distance >= 0.0 and math.isfinite(self.distance)):
            raise UsageError(f"--distance must be 0 or more pixels, got {self.distance}")
        if self.by not in ("path", "name"):
            raise UsageError(f"--by must be path or name, got {self.by!r}")


# ---------------------------------------------------------------------------------------------
# Worker side: one image reduced, and a pair of images compared


def image_key(file_name: str, by: By) -> str:
    """The name images are paired by: the relative path (``\\`` as ``/``), or its last part."""
    path = file_name.replace("\\", "/")
    return posixpath.basename(path) if by == "name" else path


def _digest(geometry: Polygon | Rle) -> bytes:
    """A 128-bit fingerprint of a polygon's vertices and hole marks, or of an RLE's size and counts."""
    h = hashlib.blake2b(digest_size=16)
    if isinstance(geometry, Polygon):
        for ring, hole in zip(geometry.rings, geometry.holes):
            h.update(b"h" if hole else b"r")
            h.update(len(ring).to_bytes(8, "little"))
            h.update(np.ascontiguousarray(ring, dtype=np.float64).tobytes())
    else:
        h.update(f"{geometry.height}x{geometry.width}:".encode())
        counts = geometry.counts
        h.update(counts.encode("ascii") if isinstance(counts, str) else repr(counts).encode("ascii"))
    return h.digest()


def _objects(record: ImageRecord, masks: Callable[[list[Polygon | Rle], int, int], list[Any]]) -> list[Obj]:
    """The objects of one image: boxes as ``(x, y, w, h)``, points as ``(x, y)``, polygons and RLEs as what
    ``masks`` makes of all of them at once (``(geometries, height, width)``: one batch per image)."""
    objects: list[Obj] = []
    at: list[int] = []
    shapes: list[Polygon | Rle] = []
    for inst in record.instances:
        g = inst.geometry
        if isinstance(g, Box):
            objects.append((inst.category_id, KIND_BOX, (g.x, g.y, g.w, g.h)))
        elif isinstance(g, Point):
            objects.append((inst.category_id, KIND_POINT, (g.x, g.y)))
        else:
            at.append(len(objects))
            shapes.append(g)
            objects.append((inst.category_id, KIND_MASK, None))
    if shapes:
        for i, value in zip(at, masks(shapes, record.height, record.width)):
            objects[i] = (objects[i][0], KIND_MASK, value)
    return objects


def _digests(shapes: list[Polygon | Rle], height: int, width: int) -> list[bytes]:
    return [_digest(g) for g in shapes]


def fingerprint(record: ImageRecord, index: int, by: By) -> Side:
    """One image as its objects' fingerprints: boxes and points by their coordinates, polygons and RLEs by a
    digest of theirs (``_digest``). Two images whose fingerprints are equal in order hold the same objects,
    and are compared without a raster; any other pair is loaded again and compared as masks."""
    key = image_key(record.file_name, by)
    objects = _objects(record, _digests)
    return key, index, record.file_name, record.width, record.height, objects, record.label


def reduce_record(record: ImageRecord) -> list[Obj]:
    """One image's objects as a comparison needs them: masks as pycocotools RLEs (one-ring polygons in one
    batch), boxes as ``(x, y, w, h)``, points as ``(x, y)``."""
    from cytoconv.geometry.iou import object_rles

    return _objects(record, object_rles)


def same_objects(a: Sequence[Obj], b: Sequence[Obj]) -> Pairs | None:
    """The pairs of two images whose objects are the same, in the same order (the usual case), or None."""
    if len(a) != len(b) or any(x[1] != y[1] or x[2] != y[2] for x, y in zip(a, b)):
        return None
    return [(i, i, None, 0.0) if o[1] == KIND_POINT else (i, i, 1.0, None) for i, o in enumerate(a)], [], []


def _assign(score: Any, keep: Any, maximize: bool) -> list[tuple[int, int]]:
    """The Hungarian pairs of a score matrix restricted to the allowed entries ``keep`` (a boolean matrix)."""
    from scipy.optimize import linear_sum_assignment

    if not keep.any():
        return []
    # forbidden entries: worth nothing when maximising, a prohibitive cost when minimising (so that as many
    # allowed pairs as possible are made first), and dropped afterwards either way
    cost = np.where(keep, score, 0.0 if maximize else 1e12)
    rows, cols = linear_sum_assignment(cost, maximize=maximize)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if keep[r, c]]


def compare(a: Sequence[Obj], b: Sequence[Obj], height: int, width: int, settings: DiffSettings) -> Pairs:
    """Pair the objects of one image in A and in B: boxes and masks by IoU, points by distance."""
    from cytoconv.geometry.iou import box_iou, box_rles, rle_iou

    same = same_objects(a, b)
    if same is not None:  # the same rasters in the same order: no matrix needed
        return same
    pairs: list[tuple[int, int, float | None, float | None]] = []
    area_a = [i for i, o in enumerate(a) if o[1] != KIND_POINT]
    area_b = [i for i, o in enumerate(b) if o[1] != KIND_POINT]
    if area_a and area_b:
        iou = np.zeros((len(area_a), len(area_b)), dtype=np.float64)
        box_a = [k for k, i in enumerate(area_a) if a[i][1] == KIND_BOX]
        box_b = [k for k, i in enumerate(area_b) if b[i][1] == KIND_BOX]
        if box_a and box_b:
            iou[np.ix_(box_a, box_b)] = box_iou(
                [a[area_a[k]][2] for k in box_a], [b[area_b[k]][2] for k in box_b]
            )
        if len(box_a) < len(area_a) or len(box_b) < len(area_b):  # a mask on either side: compare as masks
            rles_a = _rles([a[i] for i in area_a], height, width, box_rles)
            rles_b = _rles([b[i] for i in area_b], height, width, box_rles)
            masks = rle_iou(rles_a, rles_b)
            both_boxes = np.zeros_like(iou, dtype=bool)
            both_boxes[np.ix_(box_a, box_b)] = True
            iou = np.where(both_boxes, iou, masks)
        for r, c in _assign(iou, iou >= settings.iou, maximize=True):
            pairs.append((area_a[r], area_b[c], float(iou[r, c]), None))
    point_a = [i for i, o in enumerate(a) if o[1] == KIND_POINT]
    point_b = [i for i, o in enumerate(b) if o[1] == KIND_POINT]
    if point_a and point_b:
        pa = np.array([a[i][2] for i in point_a], dtype=np.float64).reshape(-1, 2)
        pb = np.array([b[i][2] for i in point_b], dtype=np.float64).reshape(-1, 2)
        dist = np.hypot(pa[:, None, 0] - pb[None, :, 0], pa[:, None, 1] - pb[None, :, 1])
        for r, c in _assign(dist, dist <= settings.distance, maximize=False):
            pairs.append((point_a[r], point_b[c], None, float(dist[r, c])))
    pairs.sort()
    paired_a = {p[0] for p in pairs}
    paired_b = {p[1] for p in pairs}
    return (
        pairs,
        [i for i in range(len(a)) if i not in paired_a],
        [i for i in range(len(b)) if i not in paired_b],
    )


def _rles(objects: Sequence[Obj], height: int, width: int, box_rles: Callable[..., list[Any]]) -> list[Any]:
    """The RLEs of boxes and masks of one side (boxes rasterised as their four-corner polygons)."""
    boxes = [k for k, o in enumerate(objects) if o[1] == KIND_BOX]
    out = [o[2] for o in objects]
    for k, rle in zip(boxes, box_rles([objects[k][2] for k in boxes], height, width)):
        out[k] = rle
    return out


class _Reducer:
    """Shaped like a format writer (``encode`` runs in the workers, as ``cytoconv.ops.draw.Painter`` does): A's
    images reduced to their fingerprints, kept by the parent."""

    def __init__(self, settings: DiffSettings):
        self.settings = settings

    def encode(self, record: ImageRecord, index: int, report: Report) -> Any:
        """One image of A as its fingerprints (``fingerprint``)."""
        return fingerprint(record, index, self.settings.by)

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:  # the Writer protocol; diff drives its own loop
        """A sink that takes nothing: ``diff_plans`` reads the stream itself."""
        yield lambda piece: None

    def set_categories(self, categories: list[Category]) -> None:
        """Nothing to do: the categories are read from the plans."""


class _Comparer(_Reducer):
    """B's images fingerprinted and compared with A's (held in the parent before the workers fork, so shared):
    an image whose objects differ in any way has its A record loaded again, here, and both are rasterised."""

    def __init__(self, settings: DiffSettings, a_side: dict[str, Side], a: Opened):
        super().__init__(settings)
        self.a_side = a_side
        self.a = a

    def encode(self, record: ImageRecord, index: int, report: Report) -> Any:
        """``(key, index, file name, width, height, B's class ids, pairs, label)``; pairs None when A has no
        image of that name, or an image of another size (whose masks cannot be compared)."""
        key, _, name, width, height, objects, label = fingerprint(record, index, self.settings.by)
        a = self.a_side.get(key)
        pairs = None
        if a is not None and (a[3], a[4]) == (width, height):
            pairs = same_objects(a[5], objects)
            if pairs is None:
                record_a = self.a.load(self.a.plan.units[a[1]], self.a.options, report)
                pairs = compare(reduce_record(record_a), reduce_record(record), height, width, self.settings)
        return key, index, name, width, height, [o[0] for o in objects], pairs, label


# ---------------------------------------------------------------------------------------------
# The result


@dataclass
class ClassDiff:
    """One class (by name) of A or B: its objects in each, and what became of them."""

    name: str
    in_a: int = 0
    in_b: int = 0
    identical: int = 0  # paired with an object of its class, IoU >= exact_iou (a point: at distance 0)
    moved: int = 0  # paired with an object of its class, IoU below exact_iou (a point: farther than 0)
    relabelled: int = 0  # paired with an object of another class (counted under A's class)
    only_in_a: int = 0
    only_in_b: int = 0
    relabelled_to: Counter[str] = field(default_factory=Counter)  # B's class of the relabelled objects

    @property
    def changed(self) -> bool:
        return bool(self.moved or self.relabelled or self.only_in_a or self.only_in_b)


@dataclass(frozen=True)
class ObjectPair:
    """Two paired objects of one image: their 0-based places in the image (file order) and classes, the IoU
    (boxes and masks) or the distance in pixels (points)."""

    a: int
    b: int
    class_a: str
    class_b: str
    iou: float | None
    distance: float | None


@dataclass
class ImageDiff:
    """One image of both sets that differs: the objects only on one side (place, class) and the pairs that
    moved or changed class. ``size_a != size_b``: the image changed size, its objects were not compared."""

    file_name: str
    size_a: tuple[int, int]
    size_b: tuple[int, int]
    in_a: int
    in_b: int
    only_in_a: list[tuple[int, str]] = field(default_factory=list)
    only_in_b: list[tuple[int, str]] = field(default_factory=list)
    relabelled: list[ObjectPair] = field(default_factory=list)
    moved: list[ObjectPair] = field(default_factory=list)
    unit_a: int = -1  # the image's unit in each plan (to draw it again for --html)
    unit_b: int = -1
    label_a: str | None = None  # the image-level label (class folders, manifests), by name
    label_b: str | None = None


@dataclass(frozen=True)
class SideInfo:
    """One dataset compared: where, its format, its images and objects read."""

    source: str | None
    format: str | None
    images: int
    objects: int


@dataclass
class DiffResult:
    """Everything ``cytoconv diff`` reports; ``same`` says whether A and B agree."""

    a: SideInfo
    b: SideInfo
    settings: DiffSettings
    classes: list[ClassDiff]
    paired: int  # images in both
    only_in_a: list[str]  # file names of the images only in A (sorted)
    only_in_b: list[str]
    differences: list[ImageDiff]  # paired images that differ, by file name
    report: Report
    label_changes: Counter[str] = field(default_factory=Counter)  # image labels: "A label -> B label"

    @property
    def same(self) -> bool:
        return not (self.only_in_a or self.only_in_b or self.differences)

    def total(self) -> ClassDiff:
        """Every class added up (``relabelled_to`` keyed ``A class -> B class``)."""
        out = ClassDiff(name="total")
        for row in self.classes:
            out.in_a += row.in_a
            out.in_b += row.in_b
            out.identical += row.identical
            out.moved += row.moved
            out.relabelled += row.relabelled
            out.only_in_a += row.only_in_a
            out.only_in_b += row.only_in_b
            out.relabelled_to.update({f"{row.name} -> {k}": v for k, v in row.relabelled_to.items()})
        return out


# ---------------------------------------------------------------------------------------------
# The two datasets


def _names(plan: ReadPlan, summary: Summary) -> dict[int, str]:
    known = plan.categories_known or bool(plan.categories)
    names = {c.id: c.name for c in final_categories(plan, summary)}
    for cid in [*summary.instances, *summary.labels]:
        names.setdefault(cid, f"id {cid}" if known else f"class_{cid - 1}")
    return names


def _class_rows(names_a: dict[int, str], names_b: dict[int, str]) -> dict[str, ClassDiff]:
    """A row per class name: A's classes in A's order, then B's others in B's order (ids sorted)."""
    rows: dict[str, ClassDiff] = {}
    for names in (names_a, names_b):
        for cid in sorted(names):
            rows.setdefault(names[cid], ClassDiff(name=names[cid]))
    return rows


def diff_plans(
    a: Opened,
    b: Opened,
    report: Report,
    jobs: int = 0,
    settings: DiffSettings | None = None,
    progress: Callable[[int], None] | None = None,
) -> DiffResult:
    """Compare two opened datasets (see the module docstring). An image name listed twice on one side cannot be
    paired: a ``FormatError`` (``name-collision``) naming it."""
    settings = settings or DiffSettings()
    summary_a = Summary(report=report)
    a_side: dict[str, Side] = {}
    for pieces, part in stream(a.plan, a.load, _Reducer(settings), a.options, report, jobs, progress):
        summary_a.merge(part)
        for piece in pieces:
            if piece[0] in a_side:
                raise _collision(a.source or "A", piece[0], settings)
            a_side[piece[0]] = piece
    summary_b = Summary(report=Report(strict=report.strict))
    b_results: list[tuple[Any, ...]] = []
    _warm()  # imported once in the parent, so that the forked workers have them
    comparer = _Comparer(settings, a_side, a)
    for pieces, part in stream(b.plan, b.load, comparer, b.options, report, jobs, progress):
        summary_b.merge(part)
        b_results.extend(pieces)
    report.merge(summary_b.report)
    names_a, names_b = _names(a.plan, summary_a), _names(b.plan, summary_b)
    rows = _class_rows(names_a, names_b)
    for cid, n in summary_a.instances.items():
        rows[names_a[cid]].in_a += n
    for cid, n in summary_b.instances.items():
        rows[names_b[cid]].in_b += n

    seen: set[str] = set()
    label_changes: Counter[str] = Counter()
    differences: list[ImageDiff] = []
    only_b: list[str] = []
    for key, unit_b, name, width, height, cats_b, pairs, label_b in b_results:
        if key in seen:
            raise _collision(b.source or "B", key, settings)
        seen.add(key)
        side_a = a_side.get(key)
        if side_a is None:
            only_b.append(name)
            for cid in cats_b:
                rows[names_b[cid]].only_in_b += 1
            continue
        cats_a = [o[0] for o in side_a[5]]
        image = ImageDiff(
            file_name=side_a[2],
            size_a=(side_a[3], side_a[4]),
            size_b=(width, height),
            in_a=len(cats_a),
            in_b=len(cats_b),
        )
        image.unit_a, image.unit_b = side_a[1], unit_b
        image.label_a = None if side_a[6] is None else names_a[side_a[6]]
        image.label_b = None if label_b is None else names_b[label_b]
        if image.label_a != image.label_b:
            label_changes[f"{image.label_a or '(none)'} -> {image.label_b or '(none)'}"] += 1
        matched, lone_a, lone_b = (
            pairs if pairs is not None else ([], list(range(len(cats_a))), list(range(len(cats_b))))
        )
        for ia, ib, iou, dist in matched:
            ca, cb = names_a[cats_a[ia]], names_b[cats_b[ib]]
            if ca != cb:
                rows[ca].relabelled += 1
                rows[ca].relabelled_to[cb] += 1
                image.relabelled.append(ObjectPair(ia, ib, ca, cb, iou, dist))
            elif (iou is not None and iou < settings.exact_iou - IOU_ROUNDING) or (
                dist is not None and dist > 0.0
            ):
                rows[ca].moved += 1
                image.moved.append(ObjectPair(ia, ib, ca, cb, iou, dist))
            else:
                rows[ca].identical += 1
        for ia in lone_a:
            rows[names_a[cats_a[ia]]].only_in_a += 1
            image.only_in_a.append((ia, names_a[cats_a[ia]]))
        for ib in lone_b:
            rows[names_b[cats_b[ib]]].only_in_b += 1
            image.only_in_b.append((ib, names_b[cats_b[ib]]))
        changed = image.only_in_a or image.only_in_b or image.relabelled or image.moved
        if changed or pairs is None or image.label_a != image.label_b:
            differences.append(image)
    only_a: list[str] = []
    for key, side in a_side.items():
        if key not in seen:
            only_a.append(side[2])
            for cid, _, _ in side[5]:
                rows[names_a[cid]].only_in_a += 1
    differences.sort(key=lambda d: d.file_name)
    return DiffResult(
        a=SideInfo(a.source, a.format, summary_a.images, sum(summary_a.instances.values())),
        b=SideInfo(b.source, b.format, summary_b.images, sum(summary_b.instances.values())),
        settings=settings,
        classes=list(rows.values()),
        paired=len(seen) - len(only_b),
        only_in_a=sorted(only_a),
        only_in_b=sorted(only_b),
        differences=differences,
        report=report,
        label_changes=label_changes,
    )


def _warm() -> None:
    from scipy.optimize import linear_sum_assignment  # noqa: F401

    from cytoconv.geometry.iou import warm

    warm()


def _collision(where: str, key: str, settings: DiffSettings) -> FormatError:
    hint = " (pair by relative path: --by path)" if settings.by == "name" else ""
    return FormatError(
        where, f"two images named {key}: diff pairs images by file name{hint}", code="name-collision"
    )


# ---------------------------------------------------------------------------------------------
# Output: text and JSON

CLASS_COLUMNS = (
    ("in_a", "in A"),
    ("in_b", "in B"),
    ("identical", "identical"),
    ("moved", "moved"),
    ("relabelled", "relabelled"),
    ("only_in_a", "only in A"),
    ("only_in_b", "only in B"),
)
TEXT_NAMES = 20  # image names listed per list in the text output (the JSON lists all)


def to_text(result: DiffResult) -> str:
    """The table of classes with a total, what was relabelled into what, and the images; for stdout."""
    total = result.total()
    head = ["class", *(label for _, label in CLASS_COLUMNS)]
    body = [[row.name, *(f"{getattr(row, key):,}" for key, _ in CLASS_COLUMNS)] for row in result.classes]
    body.append(["total", *(f"{getattr(total, key):,}" for key, _ in CLASS_COLUMNS)])
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    out = [line(head), *(line(r) for r in body)]
    if total.relabelled_to:
        out.append("")
        out.append("relabelled:")
        out.extend(f"  {change}: {n:,}" for change, n in sorted(total.relabelled_to.items()))
    out.append("")
    resized = sum(1 for d in result.differences if d.size_a != d.size_b)
    images = (
        f"images: {result.paired:,} in both ({len(result.differences):,} differ"
        + (f", {resized:,} of another size" if resized else "")
        + f"), {len(result.only_in_a):,} only in A, {len(result.only_in_b):,} only in B"
    )
    out.append(images)
    if result.label_changes:
        changed = sum(result.label_changes.values())
        out.append(f"image labels changed: {changed:,}")
        out.extend(f"  {change}: {n:,}" for change, n in sorted(result.label_changes.items()))
    for label, names in (("only in A", result.only_in_a), ("only in B", result.only_in_b)):
        if names:
            shown = ", ".join(names[:TEXT_NAMES])
            more = (
                f" and {len(names) - TEXT_NAMES:,} more (--json lists all)" if len(names) > TEXT_NAMES else ""
            )
            out.append(f"  {label}: {shown}{more}")
    out.append("A and B agree" if result.same else "A and B differ")
    return "\n".join(out) + "\n"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, DECIMALS)


def _pair_dict(pair: ObjectPair) -> dict[str, Any]:
    return {
        "a": pair.a,
        "b": pair.b,
        "class_a": pair.class_a,
        "class_b": pair.class_b,
        "iou": _round(pair.iou),
        "distance": _round(pair.distance),
    }


def _class_dict(row: ClassDiff) -> dict[str, Any]:
    out: dict[str, Any] = {"name": row.name}
    out.update({key: getattr(row, key) for key, _ in CLASS_COLUMNS})
    out["relabelled_to"] = [{"class": k, "count": v} for k, v in sorted(row.relabelled_to.items())]
    return out


def to_dict(result: DiffResult) -> dict[str, Any]:
    """The ``--json`` document (``JSON_SCHEMA``): every list in a fixed order (classes as in the table, images by
    file name, objects by their place in A, then in B)."""
    s = result.settings
    total = result.total()
    return {
        "schema_version": SCHEMA_VERSION,
        "same": result.same,
        "a": result.a.__dict__.copy(),
        "b": result.b.__dict__.copy(),
        "settings": {"iou": s.iou, "exact_iou": s.exact_iou, "distance": s.distance, "by": s.by},
        "total": {key: getattr(total, key) for key, _ in CLASS_COLUMNS},
        "classes": [_class_dict(row) for row in result.classes],
        "images": {
            "in_a": result.a.images,
            "in_b": result.b.images,
            "in_both": result.paired,
            "differ": len(result.differences),
            "labels_changed": sum(result.label_changes.values()),
            "only_in_a": result.only_in_a,
            "only_in_b": result.only_in_b,
        },
        "differences": [
            {
                "file_name": d.file_name,
                "size_a": list(d.size_a),
                "size_b": list(d.size_b),
                "in_a": d.in_a,
                "in_b": d.in_b,
                "label_a": d.label_a,
                "label_b": d.label_b,
                "only_in_a": [{"index": i, "class": c} for i, c in d.only_in_a],
                "only_in_b": [{"index": i, "class": c} for i, c in d.only_in_b],
                "relabelled": [_pair_dict(p) for p in d.relabelled],
                "moved": [_pair_dict(p) for p in d.moved],
            }
            for d in result.differences
        ],
        "skipped": dict(sorted(result.report.skipped.items())),
        "noticed": dict(sorted(result.report.notices.items())),
    }


def to_json(result: DiffResult, indent: bool = True) -> str:
    """The diff as JSON text ending with a newline, for ``diff --json``."""
    import orjson

    return orjson.dumps(to_dict(result), option=orjson.OPT_INDENT_2 if indent else 0).decode() + "\n"


_INT: dict[str, Any] = {"type": "integer", "minimum": 0}
_NAME: dict[str, Any] = {"type": "string"}
_NUMBER_OR_NULL: dict[str, Any] = {"type": ["number", "null"], "minimum": 0}
_SIZE: dict[str, Any] = {
    "type": "array",
    "items": _INT,
    "minItems": 2,
    "maxItems": 2,
    "description": "[width, height]",
}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(properties),
        "properties": properties,
    }


_COUNTS: dict[str, Any] = {key: _INT for key, _ in CLASS_COLUMNS}
_SIDE = _object(
    {
        "source": {"type": ["string", "null"]},
        "format": {"type": ["string", "null"]},
        "images": _INT,
        "objects": _INT,
    }
)
_OBJECT = _object(
    {"index": {**_INT, "description": "0-based place of the object in its image"}, "class": _NAME}
)
_PAIR = _object(
    {
        "a": {**_INT, "description": "the object's place in A's image"},
        "b": {**_INT, "description": "the object's place in B's image"},
        "class_a": _NAME,
        "class_b": _NAME,
        "iou": {**_NUMBER_OR_NULL, "maximum": 1, "description": "boxes and masks; null for points"},
        "distance": {**_NUMBER_OR_NULL, "description": "points, in pixels; null for boxes and masks"},
    }
)
JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "cytoconv diff --json",
    **_object(
        {
            "schema_version": {"const": SCHEMA_VERSION},
            "same": {"type": "boolean", "description": "true when A and B agree (exit status 0)"},
            "a": _SIDE,
            "b": _SIDE,
            "settings": _object(
                {
                    "iou": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                    "exact_iou": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                    "distance": {"type": "number", "minimum": 0},
                    "by": {"enum": ["path", "name"]},
                }
            ),
            "total": _object(_COUNTS),
            "classes": {
                "type": "array",
                "items": _object(
                    {
                        "name": _NAME,
                        **_COUNTS,
                        "relabelled_to": {
                            "type": "array",
                            "items": _object({"class": _NAME, "count": _INT}),
                        },
                    }
                ),
            },
            "images": _object(
                {
                    "in_a": _INT,
                    "in_b": _INT,
                    "in_both": _INT,
                    "differ": _INT,
                    "labels_changed": {
                        **_INT,
                        "description": "images of both whose image-level label differs",
                    },
                    "only_in_a": {"type": "array", "items": _NAME},
                    "only_in_b": {"type": "array", "items": _NAME},
                }
            ),
            "differences": {
                "type": "array",
                "items": _object(
                    {
                        "file_name": _NAME,
                        "size_a": _SIZE,
                        "size_b": _SIZE,
                        "in_a": _INT,
                        "in_b": _INT,
                        "label_a": {
                            "type": ["string", "null"],
                            "description": "image-level label (class folders)",
                        },
                        "label_b": {"type": ["string", "null"]},
                        "only_in_a": {"type": "array", "items": _OBJECT},
                        "only_in_b": {"type": "array", "items": _OBJECT},
                        "relabelled": {"type": "array", "items": _PAIR},
                        "moved": {"type": "array", "items": _PAIR},
                    }
                ),
            },
            "skipped": {"type": "object", "additionalProperties": _INT},
            "noticed": {"type": "object", "additionalProperties": _INT},
        }
    ),
}
