"""Semantic masks: one PNG (or TIFF) per image whose pixel values are classes.

Read with a value -> class map (``--classes 128=cytoplasm,255=nucleus``, ``cell=128+255``, a preset
such as ``wbc``, or a ``classes.json`` beside the masks); without one, every non-zero value is a class
of its own (``value_128``). Objects are the connected components of each class (default) or one
object per class per image (``--instances per-class``: a lobed nucleus is one cell). Outlines are
traced along pixel edges, so they rasterise back to the mask exactly, holes included.

Written as palette PNGs (``masks/<stem>.png``, value = class, overlaps painted in category order,
the later class on top) plus ``classes.json`` (value -> name), which this reader picks up again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cytoconv.engine.adapt import not_a_point, points_as_boxes
from cytoconv.engine.atomic import atomic_dir
from cytoconv.engine.contract import MaskClass, ReadOptions, ReadPlan, WriteOptions
from cytoconv.engine.files import image_size, is_image_name, safe_relative
from cytoconv.errors import FormatError, Report, SkipUnit, UsageError
from cytoconv.formats import CONTENT, GUESS, LAYOUT, Evidence
from cytoconv.formats.masks.maskio import (
    CLASS_FILES,
    IMAGE_DIRS,
    MASK_DIRS,
    colour_name,
    find_pairs,
    parse_class_map,
    read_mask,
    split_background,
    value_counts,
)
from cytoconv.geometry.outline import components, split_parts, trace, trace_many
from cytoconv.geometry.raster import encode, polygon_to_rle, rasterise
from cytoconv.ir import Category, ImageRecord, Instance, Polygon, Rle

# ---------------------------------------------------------------------------------------------
# Mask -> instances (shared by the three mask formats)


def geometry_of(
    mask: npt.NDArray[np.uint8],
    x0: int,
    y0: int,
    height: int,
    width: int,
    options: ReadOptions,
    report: Report | None = None,
) -> Polygon | Rle | None:
    """One object's geometry from its (cropped) mask: an exact outline (simplified only with
    ``--simplify``), or an RLE of the full image."""
    if options.mask_geometry == "rle":
        full = np.zeros((height, width), dtype=np.uint8, order="F")
        full[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]] = mask
        return encode(full)
    traced = trace(mask, x0, y0)
    if traced is None or options.simplify <= 0:
        return traced
    kept = _simplified([traced], options.simplify, report)
    return kept[0] if kept else None


def instances_from(
    class_masks: Sequence[tuple[int, npt.NDArray[np.bool_] | npt.NDArray[np.uint8]]],
    options: ReadOptions,
    height: int,
    width: int,
    report: Report | None = None,
) -> list[Instance]:
    """The objects of one image's class masks, given as (category id, mask), class after class: the connected
    components of each class, or all of a class as one object.

    With 8-connectivity one trace of a whole class mask gives every component at once (each outer ring with
    its holes), which is several times cheaper than labelling components first; the classes of an image are
    traced together (``trace_many``)."""
    found: list[tuple[int, Polygon | Rle]] = []
    if options.connectivity == 4 and options.instances == "components":
        for category_id, mask in class_masks:
            for piece, x0, y0 in components(mask, 4):
                geometry = geometry_of(piece, x0, y0, height, width, options, report)
                if geometry is not None:
                    found.append((category_id, geometry))
    else:
        for (category_id, _), traced in zip(class_masks, trace_many([m for _, m in class_masks])):
            if traced is None:
                continue
            polygons = [traced] if options.instances == "per-class" else split_parts(traced)
            geometries: list[Polygon | Rle]
            if options.mask_geometry == "rle":
                geometries = [polygon_to_rle(p, height, width) for p in polygons]  # the mask itself
            else:
                geometries = list(polygons)
            if options.simplify > 0:
                geometries = _simplified(geometries, options.simplify, report)
            found.extend((category_id, g) for g in geometries)
    return [
        Instance.trusted(category_id=category_id, geometry=g, iscrowd=False, score=None, attributes={})
        for category_id, g in found
    ]


def _simplified(
    geometries: list[Polygon | Rle], tolerance: float, report: Report | None
) -> list[Polygon | Rle]:
    """``--simplify``: fewer vertices, each moved at most ``tolerance`` px; what went is counted."""
    from cytoconv.geometry.outline import simplify

    out: list[Polygon | Rle] = []
    for g in geometries:
        if not isinstance(g, Polygon):
            out.append(g)
            continue
        smaller, dropped = simplify(g, tolerance)
        if report is not None and dropped:
            report.notice(
                "vertices-simplified", f"--simplify {tolerance:g} dropped {dropped} vertices", count=dropped
            )
        if smaller is None:
            if report is not None:
                report.notice(
                    "object-simplified-away", f"an object smaller than --simplify {tolerance:g} px left out"
                )
            continue
        out.append(smaller)
    return out


def checked_size(
    mask_path: str, mask_shape: tuple[int, ...], image: str | None, options: ReadOptions
) -> None:
    """Refuse (size-mismatch) a mask whose size differs from its image's, which it would not line up with;
    nothing to check without an image."""
    if image is None:
        return
    width, height = image_size(image, options.apply_exif_orientation)
    if (width, height) != (mask_shape[1], mask_shape[0]):
        raise FormatError(
            mask_path,
            f"mask is {mask_shape[1]}x{mask_shape[0]} but its image {image} is {width}x{height}",
            code="size-mismatch",
        )


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class MaskUnit:
    """One class mask to read: the mask, its image when found, its dataset name, and the value -> class map
    (None: every value is a class)."""

    mask: str
    image: str | None
    file_name: str
    classes: tuple[MaskClass, ...] | None


def detect(path: Path) -> Evidence | None:
    """How strongly ``path`` reads as class masks. ``LAYOUT``: a mask folder beside ``images/`` (datumaro's
    common_semantic_segmentation, this writer with images), or a mask folder with a class map
    (``labelmap.txt`` of CVAT's "Segmentation mask 1.1", ``dataset_meta.json``, ``classes.json``). A VOC
    download (``Annotations/*.xml`` beside ``SegmentationClass/``) is VOC's: masks only say ``CONTENT``.
    Anything else (a mask folder alone, images and masks side by side) is a ``GUESS``; an instances.csv
    marks instance masks instead."""
    if path.is_file() or not path.is_dir() or (path / "instances.csv").is_file():
        return None
    mask_dir = next((path / d for d in MASK_DIRS if (path / d).is_dir() and _has_images(path / d)), None)
    if mask_dir is not None:
        if (path / "labels").is_dir() and not _has_images(path / "labels"):
            return None  # YOLO's labels/ of .txt files
        annotations = path / "Annotations"
        if annotations.is_dir() and any(p.suffix.lower() == ".xml" for p in annotations.iterdir()):
            return Evidence(CONTENT, f"{mask_dir.name}/ of a VOC download (Annotations/ is VOC's)")
        class_file = _class_file(path)
        if class_file is not None:
            return Evidence(LAYOUT, f"{mask_dir.name}/ with the class map {class_file.name}")
        if any((path / d).is_dir() for d in IMAGE_DIRS):
            return Evidence(LAYOUT, f"{mask_dir.name}/ beside an image folder")
        return Evidence(GUESS, f"a {mask_dir.name}/ folder of images")
    names = [p.name for p in path.iterdir() if p.is_file()]
    stems = [os.path.splitext(n)[0] for n in names if is_image_name(n)]
    if len(stems) >= 2 and len(set(stems)) < len(stems):
        return Evidence(GUESS, "images and masks side by side (one stem seen twice)")
    return None


def _has_images(folder: Path) -> bool:
    return any(is_image_name(p.name) for p in list(folder.iterdir())[:50])


def _class_file(root: Path) -> Path | None:
    for folder in (root, *(root / d for d in MASK_DIRS)):
        for name in CLASS_FILES:
            if (folder / name).is_file():
                return folder / name
    return None


def paired_masks(
    path: Path, options: ReadOptions, report: Report, what: str, layers: bool = False
) -> tuple[list[tuple[str, str, str]], str]:
    """(mask, image, file name relative to the images' common folder) for every mask with an image;
    a mask without one is a problem (strict stops, lenient counts it)."""
    junk: list[str] = []
    pairs, image_root = find_pairs(path, options.images, junk, layers)
    for item in sorted(set(junk)):
        report.notice("junk-skipped", item)
    images = [img for _, img in pairs if img]
    if images:
        image_root = os.path.commonpath([os.path.dirname(img) for img in images])
    under = os.path.join(image_root, "")  # the images are below it: their names are what follows it
    out = []
    for mask, image in pairs:
        if image is None:
            report.problem(
                FormatError(mask, f"{what} without an image (give --images DIR)", code="label-without-image")
            )
            continue
        relative = image[len(under) :] if image.startswith(under) else os.path.relpath(image, image_root)
        out.append((mask, image, relative.replace(os.sep, "/")))
    return out, image_root


def open_mask(
    mask: str, image: str | None, file_name: str, options: ReadOptions, report: Report, colour: bool = False
) -> tuple[npt.NDArray[np.integer], ImageRecord]:
    """The mask's values and an empty record of its size. An unreadable mask or image, or sizes that
    disagree, are a problem: in lenient mode the image is left out (``SkipUnit``), not read as empty."""
    try:
        arr = read_mask(mask, options.channel, colour)
        checked_size(mask, arr.shape, image, options)
    except FormatError as error:
        report.problem(error)
        raise SkipUnit(mask) from None
    height, width = arr.shape
    return arr, ImageRecord.trusted(
        file_name=file_name, width=width, height=height, split=None, label=None, instances=[], attributes={}
    )


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """Masks paired with their images; classes from --classes or a class file beside the masks, else one per
    value found, named after the value."""
    if not path.exists():
        raise FormatError(path, "no such file or folder", code="missing")
    path = path.resolve()
    classes = options.mask_classes
    if classes is None and path.is_dir():
        found = _class_file(path)
        if found is not None:
            classes = parse_class_map(str(found))
            report.notice("class-map", f"classes from {found}")
    pairs, image_root = paired_masks(path, options, report, "mask")
    units = [MaskUnit(mask, image, file_name, classes) for mask, image, file_name in pairs]
    if classes is None:
        return ReadPlan(
            categories=[],
            units=units,
            image_root=image_root,
            categories_known=False,
            inferred_name="value_{id}",
        )
    named, _ = split_background(classes)
    categories = [Category.trusted(id=i + 1, name=c.name, supercategory=None) for i, c in enumerate(named)]
    return ReadPlan(categories=categories, units=units, image_root=image_root)


def load(unit: MaskUnit, options: ReadOptions, report: Report) -> ImageRecord:
    """The mask's objects, class by class (or value by value without a class map); stray values are looked for
    only when the map leaves pixels over."""
    colour = unit.classes is not None and any(c.rgb for c in unit.classes)
    arr, record = open_mask(unit.mask, unit.image, unit.file_name, options, report, colour)
    height, width = arr.shape
    if unit.classes is None:
        counts = value_counts(arr)
        for value in sorted(
            v for v in counts if v != 0
        ):  # one mask at a time: there may be hundreds of values
            record.instances.extend(instances_from([(value, arr == value)], options, height, width, report))
        return record
    named, background = split_background(unit.classes)
    class_masks = [(k, _class_mask(arr, cls.values)) for k, cls in enumerate(named, start=1)]
    mapped = sum(int(np.count_nonzero(m)) for _, m in class_masks if m is not None)
    if background:
        mapped += int(np.count_nonzero(np.isin(arr, background)))
    overlapping = len({v for c in unit.classes for v in c.values}) < sum(len(c.values) for c in unit.classes)
    if overlapping or mapped != int(np.count_nonzero(arr)):  # pixels left over: only then count every value
        _check_strays(arr, unit, report)
    present = [(category_id, m) for category_id, m in class_masks if m is not None]
    record.instances.extend(instances_from(present, options, height, width, report))
    return record


def _class_mask(arr: npt.NDArray[np.integer], values: tuple[int, ...]) -> npt.NDArray[np.bool_] | None:
    mask = arr == values[0] if len(values) == 1 else np.isin(arr, values)
    return mask if mask.any() else None


def _check_strays(arr: npt.NDArray[np.integer], unit: MaskUnit, report: Report) -> None:
    """Values outside the class map: an error (strict) or counted and read as background (lenient)."""
    assert unit.classes is not None
    mapped = {v for c in unit.classes for v in c.values} | {0}
    stray = {v: n for v, n in value_counts(arr).items() if v not in mapped}
    if stray:
        rgb = any(c.rgb for c in unit.classes)
        shown = ", ".join(f"{colour_name(v) if rgb else v} ({n} px)" for v, n in sorted(stray.items()))
        report.problem(
            FormatError(unit.mask, f"values not in the class map: {shown}", code="unmapped-mask-value")
        )
        report.notice(
            "unmapped-pixels", f"{unit.mask}: {shown} read as background", count=sum(stray.values())
        )


# ---------------------------------------------------------------------------------------------
# Writing


MAX_VALUE = 65535


def report_covered(
    record: ImageRecord,
    shown: list[tuple[int, int, int]],
    options: WriteOptions,
    report: Report,
    what: str,
) -> set[int]:
    """Objects a written mask hides, counted by object and named, never lost without a word. ``shown`` holds
    (object number, pixels it has, pixels the mask shows of it) per object; an object shown nowhere (covered
    by others, or with no pixel at all) is refused with ``--overlap error``, else named in an
    ``object-hidden`` notice; one shown in part is counted. Returns the numbers of the hidden objects."""
    hidden = [k for k, own, visible in shown if visible == 0]
    empty = [k for k, own, _ in shown if own == 0]
    partly = sum(1 for _, own, visible in shown if 0 < visible < own)
    if hidden and options.overlap == "error":
        k = hidden[0]
        why = "has no pixel" if k in empty else f"is fully covered by other {what}"
        raise FormatError(
            record.file_name,
            f"object {k} {why} and would not be in the mask (--overlap error; "
            f"{'--layers keeps it' if what == 'objects' else 'it is lost in a class mask'})",
            code="covered-object",
        )
    covered = [k for k in hidden if k not in empty]
    if covered:
        report.notice(
            "object-hidden",
            f"{record.file_name}: {len(covered)} object(s) fully covered by other {what}, not in the mask: "
            f"object {', '.join(map(str, covered))}",
            count=len(covered),
        )
    if empty:
        report.notice(
            "object-hidden",
            f"{record.file_name}: {len(empty)} object(s) with no pixel, not in the mask: "
            f"object {', '.join(map(str, empty))}",
            count=len(empty),
        )
    if partly:
        report.notice(
            "object-partly-covered",
            f"{record.file_name}: {partly} object(s) shown in part, other {what} painted over them",
            count=partly,
        )
    return set(hidden)


def class_values(categories: list[Category], classes: tuple[MaskClass, ...] | None) -> dict[int, int]:
    """The pixel value of each category: its value in the class map (by name), else its id (1..65535),
    else the smallest value left. A written mask holds one value per pixel, so a class made of several
    values, or two classes with one value, cannot be written."""
    by_name: dict[str, int] = {}
    for cls in classes or ():
        if cls.rgb:
            raise UsageError(
                f"--classes: {cls.name} is a colour; mask writers write values (128=nucleus), not colours"
            )
        if len(cls.values) != 1:
            raise UsageError(
                f"--classes: {cls.name} is made of several values ({'+'.join(map(str, cls.values))}); "
                "a written mask holds one value per pixel: give each class one value"
            )
        by_name[cls.name] = cls.values[0]
    if len(set(by_name.values())) != len(by_name):
        raise UsageError("--classes: two classes have the same value")
    values = {c.id: by_name[c.name] for c in categories if c.name in by_name}
    used = set(values.values()) | {0}
    for c in sorted(categories, key=lambda c: c.id):
        if c.id not in values and 0 < c.id <= MAX_VALUE and c.id not in used:
            values[c.id] = c.id
            used.add(c.id)
    free = (v for v in range(1, MAX_VALUE + 1) if v not in used)
    for c in sorted(categories, key=lambda c: c.id):
        if c.id not in values:
            values[c.id] = next(free)
    return values


def mask_target(folder: Path, record: ImageRecord) -> tuple[str, Path]:
    """Where an image's mask goes: ``masks/<its file name>.png`` below the output, folders made."""
    rel = "masks/" + str(Path(safe_relative(record.file_name, record.file_name)).with_suffix(".png"))
    target = folder / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    return rel, target


def palette_colour(value: int) -> tuple[int, int, int]:
    """The colour ``palette()`` shows for ``value`` (1..255), which ``--colour`` writes it as."""
    flat = palette()
    return flat[3 * value], flat[3 * value + 1], flat[3 * value + 2]


def palette() -> list[int]:
    """A palette with black background and well-spread colours for the class values."""
    import colorsys

    flat = [0, 0, 0]
    for k in range(1, 256):
        r, g, b = colorsys.hsv_to_rgb((k * 0.618033988749895) % 1.0, 0.65, 0.95)
        flat += [int(r * 255), int(g * 255), int(b * 255)]
    return flat


class SemanticMaskWriter:
    """Writes one class mask per record (each class its value; 16-bit past 255) and a classes.json naming the
    values."""

    def __init__(
        self,
        dest: Path,
        categories: list[Category],
        image_root: str | None,
        options: WriteOptions,
        report: Report,
    ) -> None:
        if options.layers:
            raise UsageError("--layers is for instance-masks: a class mask holds one class per pixel")
        self.dest = dest
        self.options = options
        self.set_categories(categories)
        self.tmp: Path | None = None

    def set_categories(self, categories: list[Category]) -> None:
        """Keep the final categories and the pixel value each is written as (from --classes when given); with
        ``--colour`` the colour of each value too (a colour class map's, else the palette's)."""
        self.categories = categories
        classes = self.options.mask_classes
        colour_map = {c.name: c.values[0] for c in classes or () if c.rgb}
        if colour_map and not self.options.mask_colour:
            class_values(categories, classes)  # refuses a colour map, saying why
        self.values = class_values(categories, None if colour_map else classes)
        self.colours: dict[int, tuple[int, int, int]] = {}
        if not self.options.mask_colour:
            return
        for c in categories:
            value = self.values[c.id]
            if c.name in colour_map:
                packed = colour_map[c.name]
                self.colours[value] = (packed >> 16, (packed >> 8) & 255, packed & 255)
            elif value <= 255:
                self.colours[value] = palette_colour(value)
        if len(self.colours) != len(self.values) or len(set(self.colours.values())) != len(self.colours):
            raise UsageError(
                "--colour: each class needs a colour of its own (at most 255 classes without a map)"
            )
        if (0, 0, 0) in self.colours.values():
            raise UsageError("--colour: black is the background's colour, not a class's")
        bad = next((c.name for c in categories if ":" in c.name or "\n" in c.name), None)
        if bad is not None:
            raise FormatError(
                self.dest, f"class {bad!r}: labelmap.txt cannot hold a ':' in a name", code="unsafe-name"
            )

    def colour_of(self, value: int, where: str) -> tuple[int, int, int]:
        """A value's colour (``--colour``); a category unknown when the run started takes the palette's."""
        colour = self.colours.get(value)
        if colour is None:
            if value > 255:
                raise FormatError(where, f"no colour for class value {value}", code="unknown-class")
            colour = palette_colour(value)
        return colour

    def value_of(self, category_id: int, record: ImageRecord) -> int:
        """A category's value; one unknown when the run started (names inferred later) is its id."""
        value = self.values.get(category_id)
        if value is None:
            if not 0 < category_id <= MAX_VALUE or self.categories:
                raise FormatError(
                    record.file_name,
                    f"category id {category_id} is not among the categories",
                    code="unknown-class",
                )
            value = category_id
        return value

    def encode(self, record: ImageRecord, index: int, report: Report) -> str:
        """Paint a record's objects into its class mask in a worker (higher category id on top, overlap
        noticed); returns the mask's relative path."""
        from PIL import Image

        names = {c.id: c.name for c in self.categories}
        record = points_as_boxes(record, self.options.point_box, names, report, "masks")  # painted as boxes
        values = {inst.category_id: self.value_of(inst.category_id, record) for inst in record.instances}
        big = max([*self.values.values(), *values.values()], default=0) > 255
        canvas = np.zeros((record.height, record.width), dtype=np.uint16 if big else np.uint8)
        flat = canvas.reshape(-1)
        overlap = 0
        painted: list[tuple[int, npt.NDArray[np.intp], int]] = []  # object number, its pixels, its value
        order = sorted(enumerate(record.instances, start=1), key=lambda pair: pair[1].category_id)
        for k, inst in order:  # stated order: higher id on top
            pixels = np.flatnonzero(
                rasterise(not_a_point(inst.geometry, record), record.height, record.width)
            )
            taken = flat[pixels]
            overlap += int(np.count_nonzero(taken[taken != values[inst.category_id]]))
            flat[pixels] = values[inst.category_id]
            painted.append((k, pixels, values[inst.category_id]))
        if overlap:
            report.notice(
                "overlap",
                f"{record.file_name}: {overlap} px claimed by two classes (the higher id kept)",
                count=overlap,
            )
        shown = [
            (k, px.size, int(np.count_nonzero(flat[px] == v)))
            for k, px, v in sorted(painted, key=lambda t: t[0])
        ]
        report_covered(record, shown, self.options, report, "classes")
        assert self.tmp is not None
        rel, target = mask_target(self.tmp, record)
        if self.options.mask_colour:
            lut = np.zeros((max(values.values(), default=0) + 1, 3), dtype=np.uint8)
            for value in values.values():
                lut[value] = self.colour_of(value, record.file_name)
            Image.fromarray(lut[canvas]).save(target)
        elif big:
            Image.fromarray(canvas).save(target)
        else:
            image = Image.fromarray(canvas, mode="P")
            image.putpalette(palette())
            image.save(target, optimize=False)
        return rel

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:
        """The output built in a temporary folder moved into place at the end, refusing two images with one
        mask name; classes.json is written last."""
        seen: set[str] = set()

        def accept(rel: str) -> None:
            """Refuse a mask path an earlier image already took."""
            if rel in seen:
                raise FormatError(
                    rel, "two images map to this mask file (same stem in one folder)", code="duplicate-stem"
                )
            seen.add(rel)

        with atomic_dir(self.dest, self.options.overwrite) as tmp:
            self.tmp = tmp
            yield accept
            names = {c.id: c.name for c in self.categories}
            if self.options.mask_colour:  # CVAT's labelmap.txt ("Segmentation mask 1.1"), read back by colour
                lines = ["# label:color_rgb:parts:actions", "background:0,0,0::"]
                for cid, v in sorted(self.values.items()):
                    r, g, b = self.colour_of(v, str(self.dest))
                    lines.append(f"{names[cid]}:{r},{g},{b}::")
                (tmp / "labelmap.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
                (tmp / "masks").mkdir(exist_ok=True)
                return
            doc = {"0": "background", **{str(v): names[cid] for cid, v in sorted(self.values.items())}}
            (tmp / "masks" / "classes.json").parent.mkdir(parents=True, exist_ok=True)
            (tmp / "masks" / "classes.json").write_text(
                json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
            )


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> SemanticMaskWriter:
    """The format's ``WriterFactory``: class masks and the classes.json that names their values."""
    return SemanticMaskWriter(dest, categories, image_root, options, report)
