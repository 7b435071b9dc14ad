"""Outlines drawn on the images, one colour per class, to look for labelling mistakes.

Where a line goes. cytoconv's coordinates are in the corner model: a vertex at ``(x, y)`` is a
point on the pixel grid, and pixel ``(i, j)`` is the square ``[i, i+1) x [j, j+1)``. PIL, on the
other hand, addresses whole pixels by integer ``(i, j)``. So each vertex is drawn on **the pixel that
contains it**, ``(floor(x), floor(y))``, which is also the pixel whose centre is nearest to it. A vertex
exactly on a grid line (an integer coordinate: box corners, outlines traced from masks) lies
between two pixels; it goes to the one on the object's side: towards the ring's centre for an outer
ring, away from it for a hole. The outline of a box or a traced mask is therefore drawn on the
object's own outermost pixels, the ones pycocotools counts in its area (at width 1 never one pixel outside
and never inside a hole): the box ``x=0, y=0, w=10, h=10`` is outlined on pixel columns and rows 0 and 9. The integer pixel coordinates are handed to PIL, so the result does not depend on
how a Pillow version rounds floats. Lines wider than one pixel are centred on that path, so they reach
``(width - 1) // 2`` pixels outside the object (an RLE mask's band, below, stays inside).

What is drawn. Polygon rings (outer rings and holes) and boxes as closed lines; an RLE mask as the
band of its own pixels along its edge (``line_width`` deep), holes included; a point (a cell centre) as a ring
centred on its coordinate: the pixels whose centres lie at a distance ``d`` from it with
``r - w/2 <= d < r + w/2`` (``w`` the line width, ``r`` the point radius, at least ``w + 1`` so that the point's
own pixel stays clear and shows the cell under it), computed with numpy like the fill. The fill, at
``opacity``, covers exactly the pixels of the pycocotools raster (``geometry.raster.union``; a box as
its four-corner polygon, as the mask writers draw it), so a hole shows as a hole and what is filled is
what COCO's ``area`` counts. A legend band under the image names the classes
drawn, with their colours and counts (the image above it keeps its size and coordinates).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from cytoconv.engine.contract import Loader, ReadOptions, ReadPlan
from cytoconv.errors import FormatError, Report, UsageError
from cytoconv.ir import Box, Category, ImageRecord, Instance, Point, Points, Polygon
from cytoconv.ops.palette import RGB, class_colours, colour

Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class DrawStyle:
    """How annotations are drawn: outline width, fill opacity and a legend; checked when made, so a bad value
    fails before any drawing."""

    line_width: int = 2
    opacity: float = 0.25  # fill, 0 (none) .. 1 (opaque)
    legend: bool = True
    point_radius: int = 5  # px: the ring drawn around a point (grown to line_width + 1 for wide lines)

    def __post_init__(self) -> None:
        if self.line_width < 1:
            raise UsageError(f"the line width must be at least 1 pixel, got {self.line_width}")
        if self.point_radius < 1:
            raise UsageError(f"the point radius must be at least 1 pixel, got {self.point_radius}")
        if not 0.0 <= self.opacity <= 1.0:
            raise UsageError(f"the opacity must lie between 0 and 1, got {self.opacity}")


@dataclass(frozen=True)
class DrawResult:
    """What ``draw`` did: the output folder, the images written and read, and the report."""

    dest: Path
    drawn: int  # images written
    read: int  # images read (more than drawn with --only, fewer than the dataset with --limit)
    report: Report


# ---------------------------------------------------------------------------------------------
# Geometry to pixels


def pixel_ring(ring: Points, hole: bool = False) -> npt.NDArray[np.int64]:
    """The pixel of each vertex: the one containing it; on a grid line, the one on the object's side:
    towards the ring's centre for an outer ring, away from it for a hole (whose pixels stay clear)."""
    floor = np.floor(ring)
    centre = (ring.min(axis=0) + ring.max(axis=0)) / 2.0
    on_line = (floor == ring) & ((ring < centre) if hole else (ring > centre))
    pixels: npt.NDArray[np.int64] = (floor - on_line).astype(np.int64)
    return pixels


def point_ring(
    point: Point, radius: int, line_width: int, height: int, width: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The ``(rows, columns)`` of the ring drawn around ``point`` in a ``width`` x ``height`` image: the
    pixels whose centres lie at a distance ``d`` from the point with ``r - w/2 <= d < r + w/2``, where
    ``w = line_width`` and ``r = max(radius, w + 1)`` (so the point's own pixel is never painted)."""
    w = line_width
    r = max(radius, w + 1)
    reach = math.ceil(r + w / 2) + 1
    i, j = math.floor(point.x), math.floor(point.y)
    cols = np.arange(max(0, i - reach), min(width, i + reach + 1), dtype=np.int64)
    rows = np.arange(max(0, j - reach), min(height, j + reach + 1), dtype=np.int64)
    distance = np.hypot(cols[None, :] + 0.5 - point.x, rows[:, None] + 0.5 - point.y)
    v, u = np.nonzero((distance >= r - w / 2) & (distance < r + w / 2))
    return rows[v], cols[u]


def inner_band(mask: Mask, width: int) -> Mask:
    """The pixels of ``mask`` within ``width`` steps of a pixel outside it, diagonal steps included,
    so that the band is a closed 4-connected line like a drawn polygon outline, corners and all."""
    inner = mask.copy()
    for _ in range(width):
        rows = inner.copy()
        rows[1:, :] &= inner[:-1, :]
        rows[:-1, :] &= inner[1:, :]
        shrunk = rows.copy()
        shrunk[:, 1:] &= rows[:, :-1]
        shrunk[:, :-1] &= rows[:, 1:]
        shrunk[0, :] = shrunk[-1, :] = False  # the image border counts as outside
        shrunk[:, 0] = shrunk[:, -1] = False
        inner = shrunk
    band: Mask = mask & ~inner
    return band


# ---------------------------------------------------------------------------------------------
# One image


def _to_rgb(image: Any) -> npt.NDArray[np.uint8]:
    """The pixels as an 8-bit ``(h, w, 3)`` array; 16-bit and float greyscale are stretched from
    their own min..max, so that a microscope's 12-bit TIFF does not come out black."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        grey = (np.zeros_like(arr) if hi <= lo else (arr - lo) * (255.0 / (hi - lo))).round().astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.array(image.convert("RGB") if image.mode != "RGB" else image, dtype=np.uint8)


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size only
        return ImageFont.load_default()


class Painter:
    """Shaped like a format writer: ``encode`` draws one image into the sink's temporary folder (in
    a worker process) and returns its relative output name, or None when nothing is drawn."""

    def __init__(
        self,
        image_root: str | None,
        colours: dict[int, RGB],
        names: dict[int, str],
        only: frozenset[int] | None,
        style: DrawStyle,
        exif: bool,
        fallback_name: Callable[[int], str],
    ):
        self.image_root = image_root
        self.colours = colours
        self.names = names
        self.only = only
        self.style = style
        self.exif = exif
        self.fallback_name = fallback_name
        self.tmp: Path | None = None

    def colour(self, category_id: int) -> RGB:
        """The class's colour; ids without a category (YOLO without names) rank as their YOLO index."""
        found = self.colours.get(category_id)
        if found is not None:
            return found
        return colour(len(self.colours) + abs(category_id) if self.colours else max(0, category_id - 1))

    def name(self, category_id: int) -> str:
        """A class's name for the legend; the caller's fallback for ids without a category."""
        found = self.names.get(category_id)
        return found if found is not None else self.fallback_name(category_id)

    def image_path(self, record: ImageRecord) -> Path:
        """Where a record's image file is: under the image root when there is one."""
        return Path(self.image_root, record.file_name) if self.image_root else Path(record.file_name)

    def output_name(self, record: ImageRecord) -> str:
        """The record's output name: its safe relative path with ``.png`` for its extension (added to the
        whole name when it has no real extension)."""
        from cytoconv.engine.files import safe_relative

        rel = safe_relative(record.file_name, record.file_name)
        stem, dot, ext = rel.rpartition(".")
        keep_whole = not dot or "/" in ext or not stem or stem.endswith("/")
        return (rel if keep_whole else stem) + ".png"

    def encode(self, record: ImageRecord, index: int, report: Report) -> str | None:
        """Draw one record into a PNG in a worker; returns its relative name, or None when --only leaves
        nothing or the image cannot be drawn."""
        instances = record.instances
        if self.only is not None:
            instances = [inst for inst in instances if inst.category_id in self.only]
            if not instances and record.label not in self.only:
                return None
        rel = self.output_name(record)
        picture = self.picture(record, instances, report)
        if picture is None:
            return None
        assert self.tmp is not None, "encode runs inside sink()"
        target = self.tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(target, "xb") as fh:
                picture.save(fh, format="PNG", compress_level=1)
        except FileExistsError:
            raise FormatError(
                record.file_name,
                f"two images would be drawn as {rel} (same name, other extension)",
                code="name-collision",
            ) from None
        return rel

    def picture(self, record: ImageRecord, instances: Sequence[Instance], report: Report) -> Any:
        """The image with its objects drawn, or None (a problem reported in lenient mode)."""
        from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

        from cytoconv.geometry.raster import box_ring, union

        path = self.image_path(record)
        if not path.is_file():
            report.problem(
                FormatError(path, "image not found: cannot draw on it", code="label-without-image")
            )
            return None
        try:
            with Image.open(path) as opened:
                canvas = _to_rgb(ImageOps.exif_transpose(opened) if self.exif else opened)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            report.problem(
                FormatError(path, f"not a readable image ({exc.__class__.__name__}: {exc})", code="bad-image")
            )
            return None
        if canvas.shape[:2] != (record.height, record.width):
            report.problem(
                FormatError(
                    path,
                    f"the image is {canvas.shape[1]}x{canvas.shape[0]} but its annotations are "
                    f"for {record.width}x{record.height}",
                    code="size-mismatch",
                )
            )
            return None
        by_class: dict[int, list[Instance]] = {}
        for inst in instances:
            by_class.setdefault(inst.category_id, []).append(inst)
        alpha = self.style.opacity
        for cid, group in by_class.items():
            rgb = np.array(self.colour(cid), dtype=np.float64)
            shapes = [i.geometry for i in group if not isinstance(i.geometry, Point)]
            if alpha > 0 and shapes:
                filled = union(shapes, record.height, record.width)
                canvas[filled] = (canvas[filled] * (1.0 - alpha) + rgb * alpha).round().astype(np.uint8)
            masks = [g for g in shapes if not isinstance(g, (Polygon, Box))]
            if masks:
                edge = inner_band(union(masks, record.height, record.width), self.style.line_width)
                canvas[edge] = np.array(self.colour(cid), dtype=np.uint8)
            for g in (i.geometry for i in group):
                if isinstance(g, Point):
                    rows, cols = point_ring(
                        g, self.style.point_radius, self.style.line_width, record.height, record.width
                    )
                    canvas[rows, cols] = np.array(self.colour(cid), dtype=np.uint8)
        image = Image.fromarray(canvas)
        pen = ImageDraw.Draw(image)
        width = self.style.line_width
        for inst in instances:
            g = inst.geometry
            if isinstance(g, Polygon):
                rings = list(zip(g.rings, g.holes))
            else:
                rings = [(box_ring(g), False)] if isinstance(g, Box) else []
            for ring, hole in rings:
                pixels = pixel_ring(ring, hole)
                points = [(int(x), int(y)) for x, y in pixels.tolist()]
                pen.line(
                    [*points, points[0]],
                    fill=self.colour(inst.category_id),
                    width=width,
                    joint="curve" if width > 2 else None,
                )
        if self.style.legend:
            image = self.with_legend(image, record, by_class)
        return image

    def with_legend(self, image: Any, record: ImageRecord, by_class: dict[int, list[Instance]]) -> Any:
        """The image above a white band listing the classes drawn (or the image's class label)."""
        from PIL import Image, ImageDraw

        if record.label is not None and not by_class:
            entries = [(self.colour(record.label), f"label: {self.name(record.label)}")]
        else:
            entries = [
                (self.colour(cid), f"{self.name(cid)} ({len(by_class[cid])})") for cid in sorted(by_class)
            ]
        w, h = image.size
        size = max(10, min(28, w // 60))
        font = _font(size)
        pad = max(3, size // 3)
        line_h = size + 2 * pad
        rows: list[list[tuple[RGB, str, int]]] = [[]]
        x = pad
        for rgb, text in entries or [((128, 128, 128), "no objects")]:
            text_w = int(font.getlength(text)) if hasattr(font, "getlength") else 6 * len(text)
            item_w = size + pad + text_w + 3 * pad
            if rows[-1] and x + item_w > w:
                rows.append([])
                x = pad
            rows[-1].append((rgb, text, x))
            x += item_w
        band = Image.new("RGB", (w, h + line_h * len(rows)), (255, 255, 255))
        band.paste(image, (0, 0))
        pen = ImageDraw.Draw(band)
        for r, row in enumerate(rows):
            top = h + r * line_h + pad
            for rgb, text, left in row:
                pen.rectangle([left, top, left + size - 1, top + size - 1], fill=rgb)
                pen.text((left + size + pad, top), text, fill=(0, 0, 0), font=font)
        return band

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:  # the Writer protocol; draw() drives its own loop
        """A sink that takes nothing, for the Writer protocol: ``draw()`` drives its own loop."""
        yield lambda piece: None

    def set_categories(self, categories: list[Category]) -> None:
        """Add the final categories' names, keeping any the caller already gave."""
        self.names = {c.id: c.name for c in categories} | self.names


# ---------------------------------------------------------------------------------------------
# The dataset


def resolve_classes(wanted: Sequence[str], categories: Sequence[Category]) -> frozenset[int]:
    """``--only`` values to category ids: a name (exact, else ignoring case) or an id."""
    by_name = {c.name: c.id for c in categories}
    by_folded: dict[str, list[int]] = {}
    for c in categories:
        by_folded.setdefault(c.name.casefold(), []).append(c.id)
    ids = {c.id for c in categories}
    out = set()
    for value in wanted:
        if value in by_name:
            out.add(by_name[value])
        elif len(by_folded.get(value.casefold(), [])) == 1:
            out.add(by_folded[value.casefold()][0])
        elif value.lstrip("-").isdigit() and (int(value) in ids or not categories):
            out.add(int(value))
        else:
            known = ", ".join(f"{c.id}={c.name}" for c in categories) or "none known"
            raise UsageError(f"--only {value!r}: no such class (classes: {known})")
    return frozenset(out)


def check_limit(limit: int | None) -> None:
    """``--limit`` is a count of images: 0 or more (checked before a dataset is opened)."""
    if limit is not None and limit < 0:
        raise UsageError(f"--limit must be 0 or more, got {limit}")


def draw_images(
    plan: ReadPlan,
    load: Loader,
    dest: str | Path,
    options: ReadOptions,
    report: Report,
    jobs: int = 0,
    *,
    only: Sequence[str] = (),
    limit: int | None = None,
    style: DrawStyle | None = None,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[ReadPlan], Any] | None = None,
) -> DrawResult:
    """Draw every image of ``plan`` (or the first ``limit`` that have something to draw) into ``dest`` as PNG
    files named like the images (``a/b.jpg`` -> ``dest/a/b.png``), atomically.

    Images are found at the plan's image root + ``file_name``; a missing one is a ``FormatError`` naming it
    (skipped and counted in lenient mode). ``only`` keeps the objects of those classes (names or ids), and only
    the images that have any. ``on_plan`` sees the plan once ``limit`` has cut it, so that a progress bar
    counts the images that will be read."""
    from cytoconv.engine.atomic import atomic_dir
    from cytoconv.engine.pipeline import Summary, stream

    check_limit(limit)
    style = style or DrawStyle()
    wanted = resolve_classes(only, plan.categories) if only else None
    if limit is not None and wanted is None:
        plan = replace(plan, units=plan.units[:limit])
    if on_plan is not None:
        on_plan(plan)
    known = plan.categories_known or bool(plan.categories)
    painter = Painter(
        plan.image_root,
        class_colours(c.id for c in plan.categories),
        {c.id: c.name for c in plan.categories},
        wanted,
        style,
        options.apply_exif_orientation,
        (lambda cid: f"id {cid}") if known else (lambda cid: f"class_{cid - 1}"),
    )
    summary = Summary(report=report)
    drawn: list[str] = []
    dest = Path(dest)
    with atomic_dir(dest, overwrite) as tmp:
        painter.tmp = tmp
        if limit != 0:
            chunks = cast(
                Generator[tuple[list[Any], Summary], None, None],
                stream(plan, load, painter, options, report, jobs, progress),
            )
            with closing(chunks):  # leaving early shuts the workers down (they finish their chunk)
                for pieces, part in chunks:
                    summary.merge(part)
                    drawn.extend(p for p in pieces if p is not None)
                    if limit is not None and len(drawn) >= limit:
                        break
        if limit is not None:
            del drawn[limit:]
            _remove_strays(tmp, set(drawn))
    return DrawResult(dest=dest, drawn=len(drawn), read=summary.images, report=report)


def _remove_strays(root: Path, kept: set[str]) -> None:
    """Files that workers still running at a ``--limit`` stop had written, and the folders left empty."""
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and rel not in kept:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
