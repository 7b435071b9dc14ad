"""One mask PNG per object (the Data Science Bowl 2018 layout).

``<root>/<id>/images/<id>.png`` with ``<root>/<id>/masks/*.png``, one binary mask per object. Objects
are numbered in natural order of their file names (``x_2`` before ``x_10``): the order in which the
k-th mask matches the k-th row of the DSB RLE CSV. One category (``--names``; default ``object``).
Written back in the same layout (``<stem>/masks/<stem>_<k>.png``, k from 0).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cytoconv.engine.adapt import not_a_point, points_as_boxes
from cytoconv.engine.atomic import atomic_dir
from cytoconv.engine.contract import ReadOptions, ReadPlan, WriteOptions
from cytoconv.engine.files import image_size, is_image_name, safe_relative
from cytoconv.errors import FormatError, Report, SkipUnit
from cytoconv.formats import CONTENT, REFUSED, Evidence
from cytoconv.formats.masks.maskio import natural_key, read_mask
from cytoconv.formats.masks.semantic import geometry_of
from cytoconv.geometry.raster import rasterise
from cytoconv.ir import Category, ImageRecord, Instance

DEFAULT_NAME = "object"


@dataclass(frozen=True)
class ObjectUnit:
    """One sample of the per-object layout: its image, one binary mask file per object, and its name in the
    dataset."""

    image: str
    masks: tuple[str, ...]
    file_name: str


def _samples(root: Path) -> list[Path]:
    return sorted(
        d for d in root.iterdir() if d.is_dir() and (d / "images").is_dir() and (d / "masks").is_dir()
    )


SAMPLED = 8  # samples whose images/ and masks/ detection lists


def detect(path: Path) -> Evidence | None:
    """A folder of samples that each hold ``images/`` with one image and ``masks/`` (the Data Science Bowl
    layout): ``CONTENT`` when a clear majority (more than half) of the first ``SAMPLED`` samples are of that
    shape. A folder whose ``images/`` + ``masks/`` pairs hold several images each is one dataset of masks beside
    images (BBBC039's ``cell nuclei/``), not samples: ``REFUSED``, naming it, so that its objects are not lost
    to "expected one image" per sample."""
    if not path.is_dir():
        return None
    samples = _samples(path)
    if not samples:
        return None
    sampled = samples[:SAMPLED]
    shaped = 0
    wrong: tuple[Path, int] | None = None
    for sample in sampled:
        count = _count_images(sample / "images")
        if count == 1:
            shaped += 1
        elif wrong is None:
            wrong = (sample, count)
    if 2 * shaped > len(sampled):
        return Evidence(
            CONTENT,
            f"{shaped} of {len(sampled)} sample(s) hold one image in images/ and masks/ (Data Science Bowl)",
        )
    assert wrong is not None
    sample, count = wrong
    return Evidence(
        REFUSED,
        f"{sample.name}/images/ holds {count} images (a Data Science Bowl sample holds one): {sample.name}/ is one "
        "dataset of masks beside images, not samples; give that folder",
    )


def _count_images(folder: Path, limit: int = 50) -> int:
    """How many image files a folder holds, counted to ``limit`` (a listing, no file opened)."""
    count = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.startswith(".") and is_image_name(entry.name) and entry.is_file():
                count += 1
                if count >= limit:
                    break
    return count


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """One unit per sample folder with exactly one image; a sample with none or several is reported and left
    out."""
    if not path.is_dir():
        raise FormatError(path, "expected a folder of <id>/images and <id>/masks folders", code="missing")
    root = path.resolve()
    units = []
    for sample in _samples(root):
        images = sorted(p for p in (sample / "images").iterdir() if is_image_name(p.name))
        if len(images) != 1:
            report.problem(
                FormatError(
                    sample / "images", f"expected one image, found {len(images)}", code="label-without-image"
                )
            )
            continue
        masks = sorted(
            (
                str(p)
                for p in (sample / "masks").iterdir()
                if is_image_name(p.name) and not p.name.startswith(".")
            ),
            key=lambda m: natural_key(m),
        )
        units.append(ObjectUnit(str(images[0]), tuple(masks), images[0].relative_to(root).as_posix()))
    name = options.names[0] if options.names else DEFAULT_NAME
    return ReadPlan(
        categories=[Category.trusted(id=1, name=name, supercategory=None)], units=units, image_root=str(root)
    )


def load(unit: ObjectUnit, options: ReadOptions, report: Report) -> ImageRecord:
    """The sample's record: the image's size and one object per mask; an unreadable, mis-sized or empty mask
    leaves that object out, with a report."""
    try:
        width, height = image_size(unit.image, options.apply_exif_orientation)
    except FormatError as error:
        report.problem(error)
        raise SkipUnit(unit.image) from None
    record = ImageRecord.trusted(
        file_name=unit.file_name,
        width=width,
        height=height,
        split=None,
        label=None,
        instances=[],
        attributes={},
    )
    for mask_path in unit.masks:
        try:
            arr = read_mask(mask_path, options.channel)
        except FormatError as error:  # lenient: this object is left out and counted
            report.problem(error)
            continue
        if arr.shape != (height, width):
            report.problem(
                FormatError(
                    mask_path,
                    f"mask is {arr.shape[1]}x{arr.shape[0]} but the image is {width}x{height}",
                    code="size-mismatch",
                )
            )
            continue
        geometry = geometry_of((arr != 0).astype(np.uint8), 0, 0, height, width, options, report)
        if geometry is None:
            report.notice("empty-mask", mask_path)
            continue
        record.instances.append(
            Instance.trusted(
                category_id=1,
                geometry=geometry,
                iscrowd=False,
                score=None,
                attributes={"source": os.path.basename(mask_path)},
            )
        )
    return record


class ObjectMaskWriter:
    """Writes the per-object layout: ``<stem>/images/`` with the image and ``<stem>/masks/`` with one binary
    PNG per object."""

    def __init__(
        self,
        dest: Path,
        categories: list[Category],
        image_root: str | None,
        options: WriteOptions,
        report: Report,
    ) -> None:
        self.dest = dest
        self.options = options
        self.image_root = image_root
        self.report = report
        self.names = {c.id: c.name for c in categories}  # per-class --point-box sizes
        self.tmp: Path | None = None

    def set_categories(self, categories: list[Category]) -> None:
        """Categories are not stored in this layout: say so when there was more than one."""
        if len(categories) > 1:
            self.report.notice(
                "classes-dropped",
                f"{len(categories)} classes: one PNG per object keeps no "
                "class (write instance-masks or COCO to keep them)",
            )

    def _place_image(self, record: ImageRecord, folder: Path, report: Report) -> None:
        """The layout keeps the image beside its masks: hard-linked (or copied) when it is at hand."""
        source = Path(self.image_root or "", record.file_name)
        if not source.is_file():
            report.notice("image-not-copied", f"{source}: not found; {folder} has masks only")
            return
        folder.mkdir(parents=True)
        try:
            os.link(source, folder / source.name)
        except OSError:
            shutil.copy2(source, folder / source.name)

    def encode(self, record: ImageRecord, index: int, report: Report) -> str:
        """Write one sample folder in a worker, refusing a stem another image already took; returns the
        stem."""
        from PIL import Image

        record = points_as_boxes(record, self.options.point_box, self.names, report, "object-masks")
        stem = Path(safe_relative(record.file_name, record.file_name)).stem
        assert self.tmp is not None
        folder = self.tmp / stem / "masks"
        if folder.exists():
            raise FormatError(record.file_name, f"two images with the stem {stem!r}", code="duplicate-stem")
        folder.mkdir(parents=True)
        self._place_image(record, folder.parent / "images", report)
        for k, inst in enumerate(record.instances):
            pixels = rasterise(not_a_point(inst.geometry, record), record.height, record.width)
            Image.fromarray(pixels.astype(np.uint8) * 255).save(folder / f"{stem}_{k}.png")
        return stem

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:
        """The output built in a temporary folder moved into place at the end; the pieces need no gathering,
        ``encode`` writes each sample whole."""
        with atomic_dir(self.dest, self.options.overwrite) as tmp:
            self.tmp = tmp
            yield lambda stem: None


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> ObjectMaskWriter:
    """The format's ``WriterFactory``: one sample folder per image, one mask per object."""
    return ObjectMaskWriter(dest, categories, image_root, options, report)
