"""Dataset statistics on a columnar view: counts per class, object sizes, objects per image, image sizes.

Nothing is held per object but a few numbers. Each image is read in a worker process, reduced
there to one small array (category id, raster area, vertex count and geometry kind of each object)
plus its size, split and label, and the parent only appends those arrays; every figure is then
computed with numpy on the concatenated columns. Memory therefore grows by about 40 bytes an object, and
image pixels are never decoded (sizes come from the headers, as in every reader).

Areas are what COCO calls ``area``: the pycocotools raster of a polygon (holes cut out) or an RLE,
``w * h`` for a box. The equivalent diameter of an object is ``2 * sqrt(area / pi)``, the diameter
of the disc of the same area; the table gives the mean and the median of the per-object values.
A point (a cell centre) has no area: it counts as an object of its class (``count``, ``images``, objects per
image) and in the class's ``points``, never in the sizes, so a class of points only has no sizes (``None``).

    import cytoconv
    from cytoconv.ops.stats import to_json
    stats = cytoconv.stats("balf/labels", pixel_size=0.25)
    stats.total.classes[0].share_percent
    print(to_json(stats))
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from cytoconv.engine.contract import Loader, ReadOptions, ReadPlan
from cytoconv.errors import Report, UsageError
from cytoconv.ir import Box, Category, ImageRecord, Point, Polygon, Rle

SCHEMA_VERSION = 2  # 2: points (``geometry.point`` of a section, ``points`` of a class)
DECIMALS = 4  # floats in JSON and CSV are rounded to this many decimals

KIND_POLYGON, KIND_BOX, KIND_RLE, KIND_POINT = 0, 1, 2, 3
_NO_LABEL = np.iinfo(np.int64).min

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# One image, as a worker sends it: a (4, n) float64 array of [category id, area, vertices, kind]
# per object (ids and counts are exact in float64), then width, height, split and label.
Piece = tuple[FloatArray, int, int, str | None, int | None]


# ---------------------------------------------------------------------------------------------
# Worker side: one image -> one small array


def image_columns(record: ImageRecord) -> Piece:
    """The per-object numbers of one image; polygon and RLE areas from the pycocotools raster
    (``geometry.raster.areas``: COCO's ``area``, one-ring polygons and RLEs in one batch each); a point's
    area is 0 and its kind ``KIND_POINT``, which keeps it out of the sizes."""
    from cytoconv.geometry.raster import areas

    instances = record.instances
    n = len(instances)
    vertices = [0] * n
    kind = [KIND_POLYGON] * n
    area = [0.0] * n
    shapes: list[int] = []
    geometries: list[Box | Polygon | Rle] = []
    for i, inst in enumerate(instances):
        g = inst.geometry
        if isinstance(g, Point):
            kind[i] = KIND_POINT
            continue
        shapes.append(i)
        geometries.append(g)
        if isinstance(g, Polygon):
            vertices[i] = sum(len(r) for r in g.rings)
        elif isinstance(g, Box):
            kind[i] = KIND_BOX
        else:
            kind[i] = KIND_RLE
    if shapes:
        for i, value in zip(shapes, areas(geometries, record.height, record.width)):
            area[i] = value
    out = np.array([[inst.category_id for inst in instances], area, vertices, kind], dtype=np.float64)
    return out.reshape(4, n), record.width, record.height, record.split, record.label


@dataclass
class Columns:
    """The whole dataset as columns: one entry per image, one per object (``image`` links them)."""

    width: IntArray
    height: IntArray
    split: IntArray  # index into split_names; -1: no split
    split_names: list[str]
    label: IntArray  # image-level category id; _NO_LABEL when there is none
    objects: IntArray  # objects per image
    image: IntArray  # per object: index of its image
    category: IntArray
    area: FloatArray
    vertices: IntArray
    kind: npt.NDArray[np.int8]

    @property
    def has_label(self) -> npt.NDArray[np.bool_]:
        """Which images have an image-level label."""
        return np.not_equal(self.label, _NO_LABEL)

    @property
    def diameter(self) -> FloatArray:
        """Each object's equivalent diameter (the circle of the same area): the usual size figure of a
        cell."""
        return 2.0 * np.sqrt(self.area / math.pi)


class StatsCollector:
    """Shaped like a format writer so that ``pipeline.run`` drives it: ``encode`` runs in the
    workers, ``accept`` (from ``sink``) in the parent, which only appends."""

    def __init__(self) -> None:
        self.arrays: list[FloatArray] = []
        self.sizes: list[tuple[int, int]] = []
        self.splits: list[str | None] = []
        self.labels: list[int | None] = []
        self.categories: list[Category] = []

    def encode(self, record: ImageRecord, index: int, report: Report) -> Piece:
        """An image's columns (size, split, label, per-object figures), in a worker."""
        return image_columns(record)

    def accept(self, piece: Piece) -> None:
        """Keep one image's columns, in dataset order."""
        arr, width, height, split, label = piece
        self.arrays.append(arr)
        self.sizes.append((width, height))
        self.splits.append(split)
        self.labels.append(label)

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:
        """Nothing to open or finish: the pieces are kept in memory."""
        yield self.accept

    def set_categories(self, categories: list[Category]) -> None:
        """Keep the final categories for the per-class figures."""
        self.categories = categories

    def columns(self) -> Columns:
        """Everything collected as one ``Columns``, the per-image arrays joined (and released)."""
        n = len(self.arrays)
        objects = np.fromiter((a.shape[1] for a in self.arrays), dtype=np.int64, count=n)
        flat = np.concatenate(self.arrays, axis=1) if n else np.zeros((4, 0))
        self.arrays = []
        names = sorted({s for s in self.splits if s is not None})
        code = {s: k for k, s in enumerate(names)}
        sizes = np.asarray(self.sizes, dtype=np.int64).reshape(-1, 2)
        return Columns(
            width=sizes[:, 0].copy(),
            height=sizes[:, 1].copy(),
            split=np.fromiter((-1 if s is None else code[s] for s in self.splits), dtype=np.int64, count=n),
            split_names=names,
            label=np.fromiter((_NO_LABEL if v is None else v for v in self.labels), dtype=np.int64, count=n),
            objects=objects,
            image=np.repeat(np.arange(n, dtype=np.int64), objects),
            category=flat[0].astype(np.int64),
            area=flat[1].copy(),
            vertices=flat[2].astype(np.int64),
            kind=flat[3].astype(np.int8),
        )


# ---------------------------------------------------------------------------------------------
# The typed result


@dataclass(frozen=True)
class ClassStats:
    """One row of the per-class table. ``count`` is objects, or images for a classification set.

    Sizes are ``None`` where they do not apply (no objects of the class, a classification set,
    or the micrometre columns without a pixel size)."""

    id: int
    name: str
    count: int
    share_percent: float | None
    images: int
    area_mean_px: float | None = None
    area_median_px: float | None = None
    diameter_mean_px: float | None = None
    diameter_median_px: float | None = None
    area_mean_um2: float | None = None
    area_median_um2: float | None = None
    diameter_mean_um: float | None = None
    diameter_median_um: float | None = None
    points: int = 0  # of ``count``, the points (no area: left out of the sizes)


@dataclass(frozen=True)
class PerImage:
    """Objects per image: extremes, centre and the exact histogram ``(objects, images)``."""

    min: int | None
    median: float | None
    mean: float | None
    max: int | None
    histogram: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ImageSize:
    """One image size and how many images have it."""

    width: int
    height: int
    images: int


@dataclass(frozen=True)
class SectionStats:
    """The figures of the whole dataset or of one split (``split`` is None for images that have none)."""

    split: str | None
    images: int
    images_without_objects: int
    images_with_label: int
    instances: int
    polygons: int
    boxes: int
    rles: int
    vertices: int
    points: int  # objects that are points (cell centres): counted, never sized
    classes: tuple[ClassStats, ...]
    instances_per_image: PerImage
    image_sizes: tuple[ImageSize, ...]


@dataclass(frozen=True)
class DatasetStats:
    """Everything ``stats`` reports: the whole and each split, what was skipped or noticed, and the raw
    columns for plots (not compared or shown)."""

    source: str | None
    format: str | None
    counted: Literal["instances", "images"]
    pixel_size_um: float | None
    total: SectionStats
    splits: tuple[SectionStats, ...]
    skipped: dict[str, int]
    noticed: dict[str, int]
    categories: tuple[Category, ...] = ()
    columns: Columns | None = field(default=None, repr=False, compare=False)


# ---------------------------------------------------------------------------------------------
# Computing


def check_pixel_size(pixel_size: float | None) -> None:
    """A pixel size is a positive, finite number of micrometres; checked before a large dataset is read."""
    if pixel_size is not None and not (pixel_size > 0 and math.isfinite(pixel_size)):
        raise UsageError(f"the pixel size must be a positive number of micrometres, got {pixel_size}")


def dataset_stats(
    plan: ReadPlan,
    load: Loader,
    options: ReadOptions,
    report: Report,
    jobs: int = 0,
    pixel_size: float | None = None,
    progress: Callable[[int], None] | None = None,
    source: str | None = None,
    fmt: str | None = None,
) -> DatasetStats:
    """Statistics of the images of ``plan``, each loaded by ``load`` over ``jobs`` processes (0: all cores) and
    reduced to a few numbers in its worker; items a lenient ``report`` skipped are left out of the figures and
    counted in ``skipped``. ``source`` and ``fmt`` only label the result (``cytoconv.api.stats`` opens a path)."""
    from cytoconv.engine.pipeline import run

    check_pixel_size(pixel_size)
    collector = StatsCollector()
    run(plan, load, collector, options, report, jobs, progress)
    return stats_of(
        collector.columns(),
        collector.categories,
        pixel_size=pixel_size,
        source=source,
        fmt=fmt,
        report=report,
    )


def stats_of(
    columns: Columns,
    categories: Sequence[Category],
    pixel_size: float | None = None,
    source: str | None = None,
    fmt: str | None = None,
    report: Report | None = None,
) -> DatasetStats:
    """Every figure from the columns. A dataset with no objects but image labels is a
    classification set: its class table counts images."""
    counted: Literal["instances", "images"] = (
        "images" if columns.category.size == 0 and bool(columns.has_label.any()) else "instances"
    )
    seen = np.unique(columns.label[columns.has_label] if counted == "images" else columns.category)
    ids = np.union1d(np.array([c.id for c in categories], dtype=np.int64), seen.astype(np.int64))
    names = {c.id: c.name for c in categories}
    every = np.ones(columns.width.size, dtype=bool)
    total = _section(columns, every, None, ids, names, counted, pixel_size)
    splits: tuple[SectionStats, ...] = ()
    if (columns.split >= 0).any():
        parts: list[tuple[int, str | None]] = list(enumerate(columns.split_names))
        if (columns.split < 0).any():
            parts.append((-1, None))
        splits = tuple(
            _section(columns, columns.split == k, s, ids, names, counted, pixel_size) for k, s in parts
        )
    report = report or Report()
    return DatasetStats(
        source=source,
        format=fmt,
        counted=counted,
        pixel_size_um=pixel_size,
        total=total,
        splits=splits,
        skipped=dict(sorted(report.skipped.items())),
        noticed=dict(sorted(report.notices.items())),
        categories=tuple(categories),
        columns=columns,
    )


def _median_sorted(values: FloatArray, starts: IntArray, counts: IntArray) -> FloatArray:
    """Median of each group of ``values`` (sorted within groups that start at ``starts``); NaN if empty."""
    out = np.full(counts.size, np.nan)
    ok = counts > 0
    lo = starts[ok] + (counts[ok] - 1) // 2
    hi = starts[ok] + counts[ok] // 2
    out[ok] = (values[lo] + values[hi]) / 2.0
    return out


def _opt(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _section(
    cols: Columns,
    images: npt.NDArray[np.bool_],
    split: str | None,
    ids: IntArray,
    names: dict[int, str],
    counted: str,
    pixel_size: float | None,
) -> SectionStats:
    k = ids.size
    objs = images[cols.image]
    category = cols.category[objs]
    kind = cols.kind[objs]
    per_image = cols.objects[images]
    labelled = images & cols.has_label
    if counted == "images":
        dense = np.searchsorted(ids, cols.label[labelled])
        counts = np.bincount(dense, minlength=k)
        with_class = counts
        total = int(labelled.sum())
        sizes: dict[str, FloatArray] = {}
        point_counts = np.zeros(k, dtype=np.int64)
    else:
        dense = np.searchsorted(ids, category)
        counts = np.bincount(dense, minlength=k)
        pairs = np.unique(cols.image[objs] * k + dense) if k else np.zeros(0, dtype=np.int64)
        with_class = np.bincount(pairs % k, minlength=k) if k else counts
        total = int(category.size)
        point = kind == KIND_POINT
        point_counts = np.bincount(dense[point], minlength=k)
        sized = ~point
        sizes = _sizes(
            cols.area[objs][sized],
            cols.diameter[objs][sized],
            dense[sized],
            np.bincount(dense[sized], minlength=k),
        )
    rows = []
    for j, cid in enumerate(ids.tolist()):
        px = {key: _opt(values[j]) for key, values in sizes.items()}
        um: dict[str, float | None] = {}
        if pixel_size is not None and px:
            for key, value in px.items():
                scale = pixel_size**2 if key.startswith("area") else pixel_size
                um[key[:-3] + ("_um2" if key.startswith("area") else "_um")] = (
                    None if value is None else value * scale
                )
        rows.append(
            ClassStats(
                id=int(cid),
                name=names.get(int(cid), "?"),
                count=int(counts[j]),
                share_percent=100.0 * int(counts[j]) / total if total else None,
                images=int(with_class[j]),
                **px,
                **um,
                points=int(point_counts[j]),
            )
        )
    hist = np.bincount(per_image) if per_image.size else np.zeros(0, dtype=np.int64)
    empty = per_image.size == 0
    size_keys, size_counts = np.unique(
        cols.width[images] * (1 << 32) + cols.height[images], return_counts=True
    )
    image_sizes = sorted(
        (
            ImageSize(int(s >> 32), int(s & 0xFFFFFFFF), int(n))
            for s, n in zip(size_keys.tolist(), size_counts.tolist())
        ),
        key=lambda s: (-s.images, s.width, s.height),
    )
    return SectionStats(
        split=split,
        images=int(images.sum()),
        images_without_objects=int((per_image == 0).sum()),
        images_with_label=int(labelled.sum()),
        instances=int(category.size),
        polygons=int((kind == KIND_POLYGON).sum()),
        boxes=int((kind == KIND_BOX).sum()),
        rles=int((kind == KIND_RLE).sum()),
        vertices=int(cols.vertices[objs].sum()),
        points=int((kind == KIND_POINT).sum()),
        classes=tuple(rows),
        instances_per_image=PerImage(
            min=None if empty else int(per_image.min()),
            median=None if empty else float(np.median(per_image)),
            mean=None if empty else float(per_image.mean()),
            max=None if empty else int(per_image.max()),
            histogram=tuple((n, int(c)) for n, c in enumerate(hist.tolist()) if c),
        ),
        image_sizes=tuple(image_sizes),
    )


def _sizes(
    area: FloatArray, diameter: FloatArray, dense: IntArray, counts: IntArray
) -> dict[str, FloatArray]:
    """Mean and median area and equivalent diameter per class, from one sort of all objects."""
    k = counts.size
    with np.errstate(invalid="ignore", divide="ignore"):
        area_mean = np.bincount(dense, weights=area, minlength=k) / counts
        diameter_mean = np.bincount(dense, weights=diameter, minlength=k) / counts
    order = np.lexsort((area, dense))  # by class, then by area (and so by diameter)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return {
        "area_mean_px": area_mean,
        "area_median_px": _median_sorted(area[order], starts, counts),
        "diameter_mean_px": diameter_mean,
        "diameter_median_px": _median_sorted(diameter[order], starts, counts),
    }


# ---------------------------------------------------------------------------------------------
# JSON and CSV

CLASS_KEYS = (
    "id",
    "name",
    "count",
    "share_percent",
    "images",
    "area_mean_px",
    "area_median_px",
    "diameter_mean_px",
    "diameter_median_px",
    "area_mean_um2",
    "area_median_um2",
    "diameter_mean_um",
    "diameter_median_um",
    "points",
)

_NUM_OR_NULL = {"type": ["number", "null"]}
_INT = {"type": "integer", "minimum": 0}
_INT_OR_NULL = {"type": ["integer", "null"], "minimum": 0}

_CLASS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": list(CLASS_KEYS),
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "count": _INT,
        "share_percent": _NUM_OR_NULL,
        "images": _INT,
        **{key: _NUM_OR_NULL for key in CLASS_KEYS[5:13]},
        "points": _INT,
    },
}
_SECTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "split",
        "images",
        "images_without_objects",
        "images_with_label",
        "instances",
        "geometry",
        "vertices",
        "classes",
        "instances_per_image",
        "image_sizes",
    ],
    "properties": {
        "split": {"type": ["string", "null"]},
        "images": _INT,
        "images_without_objects": _INT,
        "images_with_label": _INT,
        "instances": _INT,
        "geometry": {
            "type": "object",
            "additionalProperties": False,
            "required": ["polygon", "box", "rle", "point"],
            "properties": {"polygon": _INT, "box": _INT, "rle": _INT, "point": _INT},
        },
        "vertices": _INT,
        "classes": {"type": "array", "items": _CLASS_SCHEMA},
        "instances_per_image": {
            "type": "object",
            "additionalProperties": False,
            "required": ["min", "median", "mean", "max", "histogram"],
            "properties": {
                "min": _INT_OR_NULL,
                "median": _NUM_OR_NULL,
                "mean": _NUM_OR_NULL,
                "max": _INT_OR_NULL,
                "histogram": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["instances", "images"],
                        "properties": {"instances": _INT, "images": _INT},
                    },
                },
            },
        },
        "image_sizes": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["width", "height", "images"],
                "properties": {"width": _INT, "height": _INT, "images": _INT},
            },
        },
    },
}
JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "cytoconv stats --json",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema_version",
        "source",
        "format",
        "counted",
        "pixel_size_um",
        "total",
        "splits",
        "skipped",
        "noticed",
    ],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "source": {"type": ["string", "null"]},
        "format": {"type": ["string", "null"]},
        "counted": {"enum": ["instances", "images"]},
        "pixel_size_um": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "total": _SECTION_SCHEMA,
        "splits": {"type": "array", "items": _SECTION_SCHEMA},
        "skipped": {"type": "object", "additionalProperties": _INT},
        "noticed": {"type": "object", "additionalProperties": _INT},
    },
}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, DECIMALS)


def _class_dict(row: ClassStats) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in CLASS_KEYS:
        value = getattr(row, key)
        out[key] = _round(value) if isinstance(value, float) else value
    return out


def _section_dict(section: SectionStats) -> dict[str, Any]:
    per = section.instances_per_image
    return {
        "split": section.split,
        "images": section.images,
        "images_without_objects": section.images_without_objects,
        "images_with_label": section.images_with_label,
        "instances": section.instances,
        "geometry": {
            "polygon": section.polygons,
            "box": section.boxes,
            "rle": section.rles,
            "point": section.points,
        },
        "vertices": section.vertices,
        "classes": [_class_dict(row) for row in section.classes],
        "instances_per_image": {
            "min": per.min,
            "median": _round(per.median),
            "mean": _round(per.mean),
            "max": per.max,
            "histogram": [{"instances": n, "images": c} for n, c in per.histogram],
        },
        "image_sizes": [
            {"width": s.width, "height": s.height, "images": s.images} for s in section.image_sizes
        ],
    }


def to_dict(stats: DatasetStats) -> dict[str, Any]:
    """The ``--json`` document (see ``JSON_SCHEMA``); floats rounded to ``DECIMALS`` decimals."""
    return {
        "schema_version": SCHEMA_VERSION,
        "source": stats.source,
        "format": stats.format,
        "counted": stats.counted,
        "pixel_size_um": stats.pixel_size_um,
        "total": _section_dict(stats.total),
        "splits": [_section_dict(s) for s in stats.splits],
        "skipped": stats.skipped,
        "noticed": stats.noticed,
    }


def to_json(stats: DatasetStats, indent: bool = True) -> str:
    """The stats as JSON text ending with a newline, for ``stats --json``."""
    import orjson

    return orjson.dumps(to_dict(stats), option=orjson.OPT_INDENT_2 if indent else 0).decode() + "\n"


def to_csv(stats: DatasetStats) -> str:
    """The whole dataset's per-class table, one row per class, columns ``CLASS_KEYS`` (empty: not applicable);
    the last, ``points``, only when the dataset holds points, so that the CSV of any other dataset keeps the
    columns it had before points existed (the CSV has no version to announce a new column)."""
    keys = CLASS_KEYS if stats.total.points else CLASS_KEYS[:-1]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(keys)
    for row in stats.total.classes:
        values = _class_dict(row)
        writer.writerow(["" if values[k] is None else values[k] for k in keys])
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# The human report (rich)


def display_bins(histogram: Sequence[tuple[int, int]], max_rows: int = 12) -> list[tuple[int, int, int]]:
    """The exact histogram, from its lowest to its highest count, in at most ``max_rows`` equal bins
    ``(first, last, images)``."""
    if not histogram:
        return []
    low, top = histogram[0][0], histogram[-1][0]
    width = max(1, math.ceil((top - low + 1) / max_rows))
    bins: dict[int, int] = {}
    for n, c in histogram:
        bins[(n - low) // width] = bins.get((n - low) // width, 0) + c
    return [
        (low + b * width, min(top, low + b * width + width - 1), bins.get(b, 0))
        for b in range((top - low) // width + 1)
    ]


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


# ---------------------------------------------------------------------------------------------
# The figure (matplotlib, optional)


def plot(stats: DatasetStats, dest: str | Path, overwrite: bool = False, dpi: int = 100) -> None:
    """A PNG with the class bars (top, one bar per class with a count, in the class colours of
    ``cytoconv draw``), the distribution of equivalent diameters per class, the image sizes and the
    objects per image (bottom). Needs matplotlib: ``pip install 'cytoconv[plot]'``."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib, which is not installed: pip install 'cytoconv[plot]'"
        ) from None
    from cytoconv.engine.atomic import atomic_file
    from cytoconv.ops.palette import class_colours, hex_colour

    section = stats.total
    colours = class_colours(row.id for row in section.classes)
    fig = Figure(figsize=(13, 8.5), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 3, height_ratios=[1.1, 1])
    bars = fig.add_subplot(grid[0, :])
    rows = list(section.classes)
    xs = np.arange(len(rows))
    bars.bar(
        xs,
        [r.count for r in rows],
        width=0.7,
        color=[hex_colour(colours[r.id]) for r in rows],
        antialiased=False,
    )
    bars.set_xticks(
        xs,
        [r.name for r in rows],
        rotation=20 if len(rows) > 6 else 0,
        ha="right" if len(rows) > 6 else "center",
    )
    for x, r in zip(xs, rows):
        if r.count:
            bars.annotate(
                f"{r.count:,}\n{r.share_percent:.2f}%",
                (x, r.count),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 2),
                textcoords="offset points",
            )
    bars.set_ylabel("images" if stats.counted == "images" else "objects")
    bars.set_title(
        f"{stats.source or 'dataset'}: {section.images:,} images, "
        + (
            f"{section.images_with_label:,} labelled"
            if stats.counted == "images"
            else f"{section.instances:,} objects"
        )
    )
    bars.margins(y=0.15)

    sizes = fig.add_subplot(grid[1, 0])
    cols = stats.columns
    unit = "um" if stats.pixel_size_um is not None else "px"
    shaped = None if cols is None else cols.kind != KIND_POINT  # points have no size
    if cols is not None and shaped is not None and shaped.any():
        diameter = cols.diameter * (stats.pixel_size_um or 1.0)
        edges = np.histogram_bin_edges(diameter[shaped], bins=40).tolist()
        for r in rows:
            values = diameter[(cols.category == r.id) & shaped]
            if values.size:
                sizes.hist(
                    values,
                    bins=edges,
                    histtype="step",
                    color=hex_colour(colours[r.id]),
                    label=r.name,
                    linewidth=1.4,
                )
        sizes.set_xlabel(f"equivalent diameter ({unit})")
        sizes.set_ylabel("objects")
        if len(rows) <= 12:
            sizes.legend(fontsize=7)
    else:
        sizes.text(
            0.5,
            0.5,
            "no objects" + (" (classification set)" if stats.counted == "images" else ""),
            ha="center",
            va="center",
            transform=sizes.transAxes,
        )
        sizes.set_axis_off()
    sizes.set_title("object sizes")

    shapes = fig.add_subplot(grid[1, 1])
    top = list(section.image_sizes[:10])
    shapes.barh(np.arange(len(top)), [s.images for s in top], height=0.6, color="#7f7f7f")
    shapes.set_ylim(len(top) - 0.5 if len(top) > 1 else 1.5, -0.5 if len(top) > 1 else -1.5)
    shapes.set_yticks(np.arange(len(top)), [f"{s.width}x{s.height}" for s in top])
    shapes.set_xlabel("images")
    shapes.set_title(
        "image sizes" + (f" (10 of {len(section.image_sizes)})" if len(section.image_sizes) > 10 else "")
    )

    per = fig.add_subplot(grid[1, 2])
    hist = section.instances_per_image.histogram
    if hist and stats.counted == "instances":
        per.bar([n for n, _ in hist], [c for _, c in hist], width=0.85, color="#7f7f7f")
        per.set_xlabel("objects in the image")
        per.set_ylabel("images")
    else:
        per.text(0.5, 0.5, "no objects", ha="center", va="center", transform=per.transAxes)
        per.set_axis_off()
    per.set_title("objects per image")
    with atomic_file(Path(dest), overwrite) as fh:
        fig.savefig(fh, format="png")
