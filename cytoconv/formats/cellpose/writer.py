"""Cellpose GUI ``_seg.npy`` writer: one ``<stem>_seg.npy`` per image, which the GUI's ``_load_seg`` opens.

The GUI needs ``outlines`` to be present (it refuses a file without it), takes ``colors`` when there is one per
mask id, ``ismanual`` when there is one flag per mask, and finds the image by ``filename`` (the path as written,
else its base name beside the ``_seg.npy``). Written: ``masks`` (uint16 label image, uint32 past 65,534
objects as the GUI does, objects painted in order, a later one over an earlier one, ids 1..N consecutive),
``outlines`` (the same ids on each object's boundary pixels: those with a 4-neighbour outside the object or
the image), ``colors`` (N x 3 uint8, a fixed golden-ratio hue sequence), ``ismanual`` (N bools, each object's
``ismanual`` attribute, else False) and ``filename`` (the image's path below the image root when it is known,
else the record's file name). ``flows`` is left out: the GUI reads it only when present.

An object others cover entirely, or with no pixel, has no id and is named in a notice (``--overlap error``
refuses it), as the instance-mask writer does; pixels two objects claim are counted (``overlap``).
"""

from __future__ import annotations

import colorsys
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cytoconv.engine.adapt import not_a_point, points_as_boxes
from cytoconv.engine.atomic import atomic_dir
from cytoconv.engine.contract import WriteOptions
from cytoconv.engine.files import safe_relative
from cytoconv.errors import FormatError, Report
from cytoconv.formats.cellpose.syntax import SUFFIX
from cytoconv.formats.masks.semantic import report_covered
from cytoconv.geometry.raster import rasterise
from cytoconv.ir import Category, ImageRecord

GOLDEN = 0.618033988749895


def colours(count: int) -> npt.NDArray[np.uint8]:
    """``count`` well-spread RGB colours, the same for the same index whatever the count (deterministic)."""
    out = np.zeros((count, 3), dtype=np.uint8)
    for k in range(count):
        r, g, b = colorsys.hsv_to_rgb(((k + 1) * GOLDEN) % 1.0, 0.65, 0.95)
        out[k] = (int(r * 255), int(g * 255), int(b * 255))
    return out


def outline_of(labels: npt.NDArray[np.integer]) -> npt.NDArray[np.integer]:
    """The label image kept only on boundary pixels: a labelled pixel one of whose 4-neighbours is another id,
    background or outside the image."""
    padded = np.pad(labels, 1, constant_values=0)
    centre = padded[1:-1, 1:-1]
    edge = (
        (padded[:-2, 1:-1] != centre)
        | (padded[2:, 1:-1] != centre)
        | (padded[1:-1, :-2] != centre)
        | (padded[1:-1, 2:] != centre)
    )
    return np.where(edge & (centre > 0), centre, 0).astype(labels.dtype)


def seg_path(record: ImageRecord) -> str:
    """Where an image's file goes below the output: ``<file name without extension>_seg.npy``."""
    rel = safe_relative(record.file_name, record.file_name)
    return os.path.splitext(rel)[0] + SUFFIX


class CellposeWriter:
    """Writes one ``_seg.npy`` per record into a folder built aside and moved into place at the end."""

    def __init__(
        self, dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions
    ) -> None:
        self.dest = dest
        self.options = options
        self.categories = categories
        self.image_root = image_root
        self.tmp: Path | None = None

    def set_categories(self, categories: list[Category]) -> None:
        """The file has no classes: nothing to name."""
        self.categories = categories

    def encode(self, record: ImageRecord, index: int, report: Report) -> str:
        """Paint, outline and save one record's ``_seg.npy`` (in a worker); returns its relative path."""
        names = {c.id: c.name for c in self.categories}
        record = points_as_boxes(record, self.options.point_box, names, report, "cellpose")
        classes = {inst.category_id for inst in record.instances}
        if len(classes) > 1:
            report.notice(
                "classes-dropped",
                f"{record.file_name}: objects of {len(classes)} classes written as one (a _seg.npy has no classes)",
            )
        size = record.height * record.width
        pixels = [
            np.flatnonzero(rasterise(not_a_point(inst.geometry, record), record.height, record.width))
            for inst in record.instances
        ]
        canvas = np.zeros(size, dtype=np.uint32)
        overlap = 0
        for k, px in enumerate(pixels, start=1):
            overlap += int(np.count_nonzero(canvas[px]))
            canvas[px] = k
        if overlap:
            report.notice(
                "overlap",
                f"{record.file_name}: {overlap} px claimed by two objects (the later one kept)",
                count=overlap,
            )
        shown = [(k, px.size, int(np.count_nonzero(canvas[px] == k))) for k, px in enumerate(pixels, start=1)]
        hidden = report_covered(record, shown, self.options, report, "objects")
        kept = [k for k in range(1, len(pixels) + 1) if k not in hidden]
        lut = np.zeros(len(pixels) + 1, dtype=np.uint32)
        lut[kept] = np.arange(1, len(kept) + 1, dtype=np.uint32)
        dtype = np.uint16 if len(kept) < 2**16 - 1 else np.uint32
        masks = lut[canvas].astype(dtype).reshape(record.height, record.width)
        manual = np.array(
            [bool(record.instances[k - 1].attributes.get("ismanual", False)) for k in kept], dtype=bool
        )
        filename = (
            os.path.join(self.image_root, record.file_name).replace(os.sep, "/")
            if self.image_root
            else record.file_name
        )
        dat: dict[str, Any] = {
            "outlines": outline_of(masks),
            "colors": colours(len(kept)),
            "masks": masks,
            "filename": filename,
            "ismanual": manual,
        }
        rel = seg_path(record)
        assert self.tmp is not None
        target = self.tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as fh:
            np.save(fh, np.array(dat, dtype=object), allow_pickle=True)
        return rel

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:
        """The output folder, built aside and moved into place; two images with one stem are refused."""
        seen: set[str] = set()

        def accept(rel: str) -> None:
            """Refuse a file an earlier image already wrote."""
            if rel in seen:
                raise FormatError(
                    rel, "two images map to this _seg.npy (same stem in one folder)", code="duplicate-stem"
                )
            seen.add(rel)

        with atomic_dir(self.dest, self.options.overwrite) as tmp:
            self.tmp = tmp
            yield accept


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> CellposeWriter:
    """The format's ``WriterFactory``: a folder of Cellpose ``_seg.npy`` files."""
    return CellposeWriter(dest, categories, image_root, options)
