"""Instance label images: one integer image per image, 0 = background, each object its own id.

Ids may be sparse (StarDist's sample: 125 objects, max id 183) and 8, 16 or 32 bits (Cellpose writes
``masks/<stem>_cp_masks.tif``). One category (``--names``; default ``object``). Written as PNG with ids
1..N in instance order (16-bit when there are more than 255 objects) plus ``instances.csv`` telling
the class of every id.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cytoconv.engine.adapt import not_a_point, points_as_boxes
from cytoconv.engine.atomic import atomic_dir
from cytoconv.engine.contract import ReadOptions, ReadPlan, WriteOptions
from cytoconv.errors import FormatError, Report
from cytoconv.formats import GUESS, LAYOUT, Evidence
from cytoconv.formats.masks.maskio import LAYER, MASK_DIRS
from cytoconv.formats.masks.semantic import geometry_of, mask_target, open_mask, paired_masks, report_covered
from cytoconv.geometry.raster import rasterise
from cytoconv.ir import Category, ImageRecord, Instance

DEFAULT_NAME = "object"


@dataclass(frozen=True)
class LabelUnit:
    """One instance label image to read: the mask, its image when found, its dataset name, and its labels'
    classes from instances.csv (None: one class)."""

    mask: str
    image: str | None
    file_name: str
    classes: tuple[tuple[int, int], ...] | None = None  # (label id, category id) from instances.csv
    layers: tuple[str, ...] = ()  # further label images of this image (x_layer2.png, ...: --layers)


MARKER = "instances.csv"


def detect(path: Path) -> Evidence | None:
    """Label images are told apart from semantic masks by name, not by content (both are integer images):
    the ``instances.csv`` this writer leaves, or Cellpose's ``*_cp_masks`` images, are this layout's own
    (``LAYOUT``); ``label*`` / ``instance*`` images in a mask folder are a ``GUESS``. Only PNG/TIFF images
    count: ``annotations/instances_train2017.json`` is COCO's, not a label image."""
    if path.is_dir() and (path / MARKER).is_file():
        return Evidence(LAYOUT, MARKER)
    folder = next((path / d for d in MASK_DIRS if (path / d).is_dir()), None) if path.is_dir() else None
    names = [p.name for p in folder.iterdir() if p.suffix.lower() in LABEL_SUFFIXES] if folder else []
    if any("_cp_masks" in n for n in names):
        return Evidence(LAYOUT, f"Cellpose *_cp_masks images in {folder.name}/" if folder else "")
    if folder is None and path.is_dir():  # Cellpose's own --save_png output: x.png beside x_cp_masks.png
        beside = [p.name for p in islice(path.iterdir(), 2000) if p.suffix.lower() in LABEL_SUFFIXES]
        if any(n.rsplit(".", 1)[0].endswith("_cp_masks") for n in beside):
            return Evidence(LAYOUT, "Cellpose *_cp_masks images beside their images")
    if any(n.lower().startswith(("label", "instance")) for n in names):
        return Evidence(GUESS, f"label*/instance* images in {folder.name}/" if folder else "")
    return None


LABEL_SUFFIXES = (".png", ".tif", ".tiff")


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """Label images paired with their images; classes from ``instances.csv`` when there is one, else one class
    named by --names (or the default name)."""
    if not path.exists():
        raise FormatError(path, "no such file or folder", code="missing")
    pairs, image_root = paired_masks(path.resolve(), options, report, "label image", layers=True)
    grouped = _grouped(pairs)
    table = path / MARKER if path.is_dir() else None
    if table is None or not table.is_file():
        units = [
            LabelUnit(mask, image, file_name, None, layers) for mask, image, file_name, layers in grouped
        ]
        name = options.names[0] if options.names else DEFAULT_NAME
        return ReadPlan(
            categories=[Category.trusted(id=1, name=name, supercategory=None)],
            units=units,
            image_root=image_root,
        )
    categories, by_file = read_class_table(table)
    units = [
        LabelUnit(mask, image, file_name, tuple(sorted(by_file.get(file_name, {}).items())), layers)
        for mask, image, file_name, layers in grouped
    ]
    report.notice("class-table", f"classes of the objects from {table}")
    return ReadPlan(categories=categories, units=units, image_root=image_root)


def _grouped(pairs: list[tuple[str, str, str]]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(mask, image, file name, further layers): the label images of one image as one unit, ``x.png`` first
    and ``x_layer2.png``, ``x_layer3.png``... after it in layer order."""
    by_name: dict[str, list[tuple[str, str]]] = {}
    for mask, image, file_name in pairs:
        by_name.setdefault(file_name, []).append((mask, image))

    def layer(mask: str) -> int:
        """Which overlap layer a label image is (``x_layer2.png`` is 2; ``x.png`` is the first)."""
        found = LAYER.search(Path(mask).stem)
        return int(found.group(1)) if found else 1

    out = []
    for file_name, masks in by_name.items():
        ordered = sorted(masks, key=lambda pair: (layer(pair[0]), pair[0]))
        out.append((ordered[0][0], ordered[0][1], file_name, tuple(m for m, _ in ordered[1:])))
    return out


def read_class_table(path: Path) -> tuple[list[Category], dict[str, dict[int, int]]]:
    """``instances.csv`` (file_name, instance_id, category_id, category): the categories, and per image
    which category each label id has."""
    from cytoconv.engine.files import read_text

    names: dict[int, str] = {}
    by_file: dict[str, dict[int, int]] = {}
    rows = csv.DictReader(read_text(path).splitlines())
    for number, row in enumerate(rows, start=2):
        try:
            label, category = int(row["instance_id"]), int(row["category_id"])
            by_file.setdefault(row["file_name"], {})[label] = category
        except (KeyError, TypeError, ValueError):
            raise FormatError(
                path,
                "needs columns file_name, instance_id, category_id (integers)",
                line=number,
                code="bad-class-table",
            ) from None
        names.setdefault(category, row.get("category") or f"class_{category}")
    categories = [
        Category.trusted(id=cid, name=name, supercategory=None) for cid, name in sorted(names.items())
    ]
    return categories, by_file


def load(unit: LabelUnit, options: ReadOptions, report: Report) -> ImageRecord:
    """Every non-zero id becomes one object, in id order over all the image's label images (``--layers``
    output: ``x.png``, ``x_layer2.png``...); pixels are grouped by id with one sort, not one scan per id."""
    arr, record = open_mask(unit.mask, unit.image, unit.file_name, options, report)
    found = _objects(arr, unit.mask, unit, options, report)
    for extra in unit.layers:
        more, _ = open_mask(extra, unit.image, unit.file_name, options, report)
        if more.shape != arr.shape:
            report.problem(
                FormatError(
                    extra,
                    f"layer is {more.shape[1]}x{more.shape[0]}, {unit.mask} is not",
                    code="size-mismatch",
                )
            )
            continue
        found.extend(_objects(more, extra, unit, options, report))
    record.instances.extend(inst for _, inst in sorted(found, key=lambda pair: pair[0]))
    return record


def _objects(
    arr: npt.NDArray[np.integer], mask: str, unit: LabelUnit, options: ReadOptions, report: Report
) -> list[tuple[int, Instance]]:
    """(label id, object) for every non-zero id of one label image."""
    height, width = arr.shape
    flat = arr.ravel()
    where = np.flatnonzero(flat)
    if where.size == 0:
        return []
    order = np.argsort(flat[where], kind="stable")
    where = where[order]
    ids, starts = np.unique(flat[where], return_index=True)
    ends = np.append(starts[1:], where.size)
    classes = dict(unit.classes) if unit.classes is not None else None
    out = []
    for label, start, end in zip(ids.tolist(), starts, ends):
        category_id = 1 if classes is None else classes.get(label)
        if category_id is None:
            report.problem(
                FormatError(mask, f"label id {label} has no row in {MARKER}", code="unknown-class")
            )
            continue
        ys, xs = np.divmod(where[start:end], width)
        y0, x0 = int(ys.min()), int(xs.min())
        crop = np.zeros((int(ys.max()) - y0 + 1, int(xs.max()) - x0 + 1), dtype=np.uint8)
        crop[ys - y0, xs - x0] = 1
        geometry = geometry_of(crop, x0, y0, height, width, options, report)
        if geometry is not None:
            out.append(
                (
                    int(label),
                    Instance.trusted(
                        category_id=category_id, geometry=geometry, iscrowd=False, score=None, attributes={}
                    ),
                )
            )
    return out


class InstanceMaskWriter:
    """Writes one label image per record (object k has value k; 16-bit past 255 objects) and ``instances.csv``
    giving each object's class."""

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
        self.categories = categories
        self.tmp: Path | None = None

    def set_categories(self, categories: list[Category]) -> None:
        """Keep the final categories: ``sink`` names them in the class table it writes last."""
        self.categories = categories

    def encode(
        self, record: ImageRecord, index: int, report: Report
    ) -> tuple[str, list[tuple[str, int, int]]]:
        """Paint a record's objects into its label image in a worker (object k has id k, a later object over an
        earlier one); returns its path and class-table rows. An object others cover entirely is named in a
        notice and left out of ``instances.csv`` (or refused, ``--overlap error``); with ``--layers`` an
        object that overlaps one already painted goes to the next label image instead, so none is hidden."""
        from PIL import Image

        names = {c.id: c.name for c in self.categories}
        record = points_as_boxes(record, self.options.point_box, names, report, "instance-masks")
        count = len(record.instances)
        size = record.height * record.width
        dtype = np.uint16 if count > 255 else np.uint8
        pixels = [
            np.flatnonzero(rasterise(not_a_point(inst.geometry, record), record.height, record.width))
            for inst in record.instances
        ]
        layer_of = assign_layers(pixels, size) if self.options.layers else [0] * count
        canvases = [np.zeros(size, dtype=dtype) for _ in range(max(layer_of, default=0) + 1)]
        overlap = 0
        for k, (px, layer) in enumerate(zip(pixels, layer_of), start=1):
            overlap += int(np.count_nonzero(canvases[layer][px]))
            canvases[layer][px] = k
        if overlap:
            report.notice(
                "overlap",
                f"{record.file_name}: {overlap} px claimed by two objects (the later one kept)",
                count=overlap,
            )
        shown = [
            (k, px.size, int(np.count_nonzero(canvases[layer][px] == k)))
            for k, (px, layer) in enumerate(zip(pixels, layer_of), start=1)
        ]
        hidden = report_covered(record, shown, self.options, report, "objects")
        rows = [
            (record.file_name, k, inst.category_id)
            for k, inst in enumerate(record.instances, start=1)
            if k not in hidden
        ]
        assert self.tmp is not None
        rel, target = mask_target(self.tmp, record)
        for layer, canvas in enumerate(canvases):
            path = (
                target if layer == 0 else target.with_name(f"{target.stem}_layer{layer + 1}{target.suffix}")
            )
            Image.fromarray(canvas.reshape(record.height, record.width)).save(path)
        return rel, rows

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:
        """The output built in a temporary folder moved into place at the end, refusing two images with one
        mask name; ``instances.csv`` is written last."""
        seen: set[str] = set()
        table: list[tuple[str, int, int]] = []

        def accept(fragment: tuple[str, list[tuple[str, int, int]]]) -> None:
            """Refuse a mask path an earlier image already took, and keep the image's rows of the class
            table."""
            rel, rows = fragment
            if rel in seen:
                raise FormatError(
                    rel, "two images map to this mask file (same stem in one folder)", code="duplicate-stem"
                )
            seen.add(rel)
            table.extend(rows)

        with atomic_dir(self.dest, self.options.overwrite) as tmp:
            self.tmp = tmp
            yield accept
            names = {c.id: c.name for c in self.categories}
            with open(tmp / MARKER, "w", encoding="utf-8", newline="") as fh:
                out = csv.writer(fh, lineterminator="\n")
                out.writerow(["file_name", "instance_id", "category_id", "category"])
                out.writerows((name, k, cid, names.get(cid, "")) for name, k, cid in table)


def assign_layers(pixels: list[npt.NDArray[np.intp]], size: int) -> list[int]:
    """The label image (0 = ``x.png``, 1 = ``x_layer2.png``, ...) of each object: the first one where it
    overlaps no object already there, so that every object keeps all its pixels."""
    taken: list[npt.NDArray[np.bool_]] = []
    out = []
    for px in pixels:
        layer = next((i for i, used in enumerate(taken) if not used[px].any()), len(taken))
        if layer == len(taken):
            taken.append(np.zeros(size, dtype=bool))
        taken[layer][px] = True
        out.append(layer)
    return out


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> InstanceMaskWriter:
    """The format's ``WriterFactory``: instance label images and their class table."""
    return InstanceMaskWriter(dest, categories, image_root, options, report)
