"""Resampling: move annotations (and, when asked, images) to another resolution, per axis, exactly.

In the corner model a point maps as ``x' = x * W'/W`` and ``y' = y * H'/H``. The two factors differ in
general: the BALF originals are 4912x3684 and the annotated copies 853x640, so ``sx = 0.1736564`` but
``sy = 0.1737242``, and one factor for both axes is wrong by up to 1.4 px on the originals. Polygons and
boxes scale exactly; an RLE mask is traced to its exact pixel-edge outline, scaled, and rasterised
again at the new size (nearest-neighbour resizing at 0.17x erases thin structures), or resized with
OpenCV when ``rle_method="nearest"`` is asked for. Normalised formats (YOLO) do not change. A point (a cell
centre) maps like any vertex, ``(x * W'/W, y * H'/H)``: the centre of pixel ``i`` is ``i + 0.5`` before and
``(i + 0.5) * W'/W`` after, which a points format writes back as the pixel index that holds it. With ``clip``
a point outside the new image (``x`` not in ``[0, W')`` or ``y`` not in ``[0, H')``) is dropped and counted as
``vanished``; a point has nothing to clip.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cytoconv.engine.contract import Loader, ReadOptions
from cytoconv.engine.files import image_size, is_image_name, walk_files
from cytoconv.errors import FormatError, Report, SkipUnit, UsageError
from cytoconv.ir import Box, ImageRecord, Instance, Point, Polygon, Rle

RESAMPLING_FILTERS = ("lanczos", "bicubic", "bilinear", "box", "hamming", "nearest")


@dataclass(frozen=True)
class TargetSize:
    """How the new size of each image is chosen: exactly one of the fields is set."""

    size: tuple[int, int] | None = None  # every image to W x H
    scale: float | None = None  # both sides times s, rounded
    max_side: int | None = None  # the longer side to N, keeping the aspect
    sizes_from: dict[str, str] | None = None  # stem -> image file whose size to take

    def for_image(self, record: ImageRecord, options: ReadOptions) -> tuple[int, int] | None:
        """The new (width, height) of a record's image; None under --sizes-from when no image there has its
        stem."""
        if self.size is not None:
            return self.size
        if self.scale is not None:
            return max(1, round(record.width * self.scale)), max(1, round(record.height * self.scale))
        if self.max_side is not None:
            factor = self.max_side / max(record.width, record.height)
            return max(1, round(record.width * factor)), max(1, round(record.height * factor))
        assert self.sizes_from is not None
        partner = self.sizes_from.get(Path(record.file_name).stem)
        if partner is None:
            return None
        return image_size(partner, options.apply_exif_orientation)


def sizes_from_folder(folder: Path) -> dict[str, str]:
    """Every image below ``folder`` by stem; a stem found twice is an error (which size would it be?)."""
    if not folder.is_dir():
        raise UsageError(f"--sizes-from {folder}: not a folder")
    found: dict[str, str] = {}
    for path in walk_files(folder):
        if is_image_name(path):
            stem = os.path.splitext(os.path.basename(path))[0]
            if stem in found:
                raise FormatError(
                    path, f"two images with the stem {stem!r} ({found[stem]})", code="duplicate-stem"
                )
            found[stem] = path
    return found


def scale_instance(
    inst: Instance, sx: float, sy: float, height: int, width: int, rle_method: Literal["outline", "nearest"]
) -> Instance:
    """One object at the new scale (``height, width``: the new image size, for masks)."""
    g = inst.geometry
    new: Box | Polygon | Rle | Point
    if isinstance(g, Point):
        new = Point.trusted(kind="point", x=g.x * sx, y=g.y * sy)
    elif isinstance(g, Polygon):
        factor = np.array([sx, sy])
        new = Polygon.trusted(kind="polygon", rings=[r * factor for r in g.rings], holes=list(g.holes))
    elif isinstance(g, Box):
        new = Box.trusted(kind="box", x=g.x * sx, y=g.y * sy, w=g.w * sx, h=g.h * sy)
    else:
        new = _scale_rle(g, sx, sy, height, width, rle_method)
    return Instance.trusted(
        category_id=inst.category_id,
        geometry=new,
        iscrowd=inst.iscrowd,
        score=inst.score,
        attributes=dict(inst.attributes),
    )


def _scale_rle(rle: Rle, sx: float, sy: float, height: int, width: int, method: str) -> Rle:
    from cytoconv.geometry import raster
    from cytoconv.geometry.outline import trace

    if method == "nearest":
        return raster.resize_nearest(rle, height, width)
    outline = trace(raster.rasterise(rle, rle.height, rle.width))
    if outline is None:
        return raster.encode(np.zeros((height, width), dtype=np.uint8))
    factor = np.array([sx, sy])
    scaled = Polygon.trusted(
        kind="polygon", rings=[r * factor for r in outline.rings], holes=list(outline.holes)
    )
    return raster.polygon_to_rle(scaled, height, width)


def _clip(inst: Instance, width: int, height: int) -> Instance | None:
    """The part of an object inside the image, or None when nothing is left (a point outside)."""
    g = inst.geometry
    if isinstance(g, Point):
        return None if _point_outside(g, width, height) else inst
    if isinstance(g, Box):
        x0, y0 = max(g.x, 0.0), max(g.y, 0.0)
        x1, y1 = min(g.x + g.w, float(width)), min(g.y + g.h, float(height))
        if x1 <= x0 or y1 <= y0:
            return None
        box = Box.trusted(kind="box", x=x0, y=y0, w=x1 - x0, h=y1 - y0)
        return Instance.trusted(
            category_id=inst.category_id,
            geometry=box,
            iscrowd=inst.iscrowd,
            score=inst.score,
            attributes=inst.attributes,
        )
    if isinstance(g, Polygon):
        from cytoconv.geometry.clip import clip_polygon

        clipped = clip_polygon(g, width, height)
        if clipped is None:
            return None
        return Instance.trusted(
            category_id=inst.category_id,
            geometry=clipped,
            iscrowd=inst.iscrowd,
            score=inst.score,
            attributes=inst.attributes,
        )
    return inst  # an RLE is rasterised inside its image already


def _point_outside(point: Point, width: int, height: int) -> bool:
    """Whether no pixel of a ``width`` x ``height`` image holds the point (``[0, W) x [0, H)``)."""
    return not (0.0 <= point.x < width and 0.0 <= point.y < height)


def _outside(inst: Instance, width: int, height: int) -> bool:
    g = inst.geometry
    if isinstance(g, Point):
        return _point_outside(g, width, height)
    if isinstance(g, Box):
        return g.x < 0 or g.y < 0 or g.x + g.w > width or g.y + g.h > height
    if isinstance(g, Polygon):
        pts = np.concatenate(g.rings)
        return bool((pts < 0).any() or (pts[:, 0] > width).any() or (pts[:, 1] > height).any())
    return False


@dataclass(frozen=True)
class Resample:
    """A picklable transform applied to every record in the workers, after it is read."""

    target: TargetSize
    rle_method: Literal["outline", "nearest"] = "outline"
    clip: bool = False
    images_out: str | None = None  # write resized images here (same relative names)
    image_root: str | None = None  # where the source images are
    image_filter: str = "lanczos"
    options: ReadOptions = field(default_factory=ReadOptions)

    def __call__(self, record: ImageRecord, report: Report) -> ImageRecord:
        size = self.target.for_image(record, self.options)
        if size is None:
            report.problem(
                FormatError(record.file_name, "no image of the same stem in --sizes-from", code="no-partner")
            )
            raise SkipUnit(record.file_name)
        width, height = size
        sx, sy = width / record.width, height / record.height
        instances = []
        for inst in record.instances:
            scaled = scale_instance(inst, sx, sy, height, width, self.rle_method)
            if self.clip and _outside(scaled, width, height):
                clipped = _clip(scaled, width, height)
                if clipped is None:
                    report.notice("vanished", f"{record.file_name}: an object left the image and was dropped")
                    continue
                report.notice("clipped", f"{record.file_name}: an object clipped to the image")
                scaled = clipped
            instances.append(scaled)
        if self.images_out is not None:
            self._write_image(record, width, height, report)
        return ImageRecord.trusted(
            file_name=record.file_name,
            width=width,
            height=height,
            split=record.split,
            label=record.label,
            instances=instances,
            attributes=dict(record.attributes),
        )

    def _write_image(self, record: ImageRecord, width: int, height: int, report: Report) -> None:
        """The image at its new size; EXIF orientation applied first (the written image is upright)."""
        from PIL import Image, ImageOps

        from cytoconv.engine.files import safe_relative

        assert self.images_out is not None
        source = Path(self.image_root or "", record.file_name)
        target = Path(self.images_out, safe_relative(record.file_name, record.file_name))
        try:
            with Image.open(source) as im:
                upright = ImageOps.exif_transpose(im) if self.options.apply_exif_orientation else im
                resized = upright.resize(
                    (width, height), getattr(Image.Resampling, self.image_filter.upper())
                )
                target.parent.mkdir(parents=True, exist_ok=True)
                extra: dict[str, Any] = {"quality": 95} if target.suffix.lower() in (".jpg", ".jpeg") else {}
                resized.save(target, **extra)
        except (OSError, ValueError) as exc:
            report.problem(FormatError(source, f"cannot resize the image ({exc})", code="bad-image"))


@dataclass(frozen=True)
class TransformedLoader:
    """``load`` followed by a transform (a ``Resample``, a ``cytoconv.ops.filter.FilterStep``): picklable when
    the transform is, so that it crosses into worker processes."""

    load: Loader
    transform: Callable[[ImageRecord, Report], ImageRecord]

    def __call__(self, unit: Any, options: ReadOptions, report: Report) -> ImageRecord:
        return self.transform(self.load(unit, options, report), report)
