"""Mask files: reading pixel values, class maps (value -> class), and pairing masks with images.

Masks come as ``L``, ``P`` (palette: the index is the value), 16/32-bit integer PNG or TIFF, or
RGB(A) with the class in one channel (``--channel``). A class may take several values
(``cell=128+255``), so classes may overlap.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cytoconv.engine.contract import MaskClass
from cytoconv.engine.files import is_image_name, read_bytes, walk_files
from cytoconv.errors import FormatError, UsageError

PRESETS: dict[str, str] = {
    "wbc": "128=cytoplasm,255=nucleus",
    "wbc-cell": "128=cytoplasm,255=nucleus,cell=128+255",
}
MASK_DIRS = (
    "masks",
    "mask",
    "labels",
    "label",
    "annotations",
    "ground_truth",
    "groundtruth",
    "gt",
    "Masks",
    "SegmentationClass",
    "SegmentationObject",
)
IMAGE_DIRS = ("images", "image", "imgs", "img", "JPEGImages", "Images")
MASK_SUFFIXES = ("_cp_masks", "_masks", "_mask", "-mask", "_labels", "_label", "_seg", "_gt", "_annotation")
CHANNELS = {"r": 0, "g": 1, "b": 2, "a": 3, "red": 0, "green": 1, "blue": 2, "alpha": 3}
CLASS_FILES = ("classes.json", "labelmap.txt", "dataset_meta.json")  # cytoconv's, CVAT's, datumaro's
BACKGROUND = "background"  # CVAT's and datumaro's name of the background label: not a class
RGB_ENTRY = re.compile(
    r"^\s*\d+\s*,\s*\d+\s*,\s*\d+\s*(\+\s*\d+\s*,\s*\d+\s*,\s*\d+\s*)*=|=\s*\d+\s*,\s*\d+\s*,\s*\d+"
)


def pack(r: int, g: int, b: int) -> int:
    """One colour as one integer (``r << 16 | g << 8 | b``): colour masks are compared as packed arrays."""
    return (r << 16) | (g << 8) | b


def colour_name(value: int) -> str:
    """A packed colour as ``r,g,b``, the spelling the class map uses."""
    return f"{value >> 16},{(value >> 8) & 255},{value & 255}"


def _colours(text: str) -> tuple[int, ...] | None:
    """``255,0,0`` or ``255,0,0+0,0,255`` as packed colours; None when not colours (each 0..255)."""
    out = []
    for part in text.split("+"):
        items = part.split(",")
        if len(items) != 3:
            return None
        try:
            rgb = [int(v) for v in items]
        except ValueError:
            return None
        if not all(0 <= v <= 255 for v in rgb):
            return None
        out.append(pack(*rgb))
    return tuple(out)


def _values(text: str) -> tuple[int, ...] | None:
    try:
        values = tuple(int(v) for v in text.split("+"))
    except ValueError:
        return None
    return values if all(v >= 0 for v in values) else None


def parse_class_map(text: str) -> tuple[MaskClass, ...]:
    """``128=cytoplasm,255=nucleus``, ``cell=128+255``, a preset name, or a JSON/YAML file.

    A file maps names to values (``{"cytoplasm": 128, "cell": [128, 255]}``) or values to names."""
    if text in PRESETS:
        return parse_class_map(PRESETS[text])
    if os.path.isfile(text):
        return _class_map_file(Path(text))
    if ";" in text or RGB_ENTRY.search(text):
        return _colour_map(text)
    classes = []
    for entry in (e.strip() for e in text.split(",") if e.strip()):
        left, sep, right = entry.partition("=")
        if not sep:
            raise UsageError(f"--classes entry {entry!r} must look like 128=nucleus or cell=128+255")
        left_values, right_values = _values(left.strip()), _values(right.strip())
        if left_values is not None and right_values is None:
            classes.append(MaskClass(right.strip(), left_values))
        elif right_values is not None and left_values is None:
            classes.append(MaskClass(left.strip(), right_values))
        else:
            raise UsageError(
                f"--classes entry {entry!r}: one side must be values (128 or 128+255), the other a name"
            )
    return _checked(classes, "--classes")


def _colour_map(text: str) -> tuple[MaskClass, ...]:
    """``255,0,0=nucleus;0,255,0=cytoplasm`` (entries split by ``;`` since a colour holds commas; one side
    colours ``r,g,b`` joined by ``+``, the other a name)."""
    classes = []
    for entry in (e.strip() for e in text.split(";") if e.strip()):
        left, sep, right = entry.partition("=")
        left_colours, right_colours = _colours(left.strip()), _colours(right.strip())
        if sep and left_colours is not None and right_colours is None:
            classes.append(MaskClass(right.strip(), left_colours, rgb=True))
        elif sep and right_colours is not None and left_colours is None:
            classes.append(MaskClass(left.strip(), right_colours, rgb=True))
        else:
            raise UsageError(
                f"--classes entry {entry!r}: a colour entry looks like 255,0,0=nucleus (0..255 each), "
                "entries separated by ';'"
            )
    return _checked(classes, "--classes")


def _labelmap(path: Path, text: str) -> tuple[MaskClass, ...]:
    """CVAT's ``labelmap.txt`` ("Segmentation mask 1.1", "PASCAL VOC 1.1" exports): ``# label:color_rgb:parts:
    actions`` then one ``name:r,g,b:parts:actions`` line per label; ``background`` is not a class."""
    classes = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, rest = line.partition(":")
        colours = _colours(rest.partition(":")[0].strip())
        if not name.strip() or colours is None or len(colours) != 1:
            raise UsageError(f"{path}:{number}: expected name:r,g,b:parts:actions, got {line.strip()!r}")
        classes.append(MaskClass(name.strip(), colours, rgb=True))
    return _checked(classes, str(path))


def _dataset_meta(path: Path, data: dict[str, object]) -> tuple[MaskClass, ...]:
    """datumaro's ``dataset_meta.json``: ``label_map`` (index -> name) and, for colour masks,
    ``segmentation_colors`` (one ``[r, g, b]`` per index); without colours the index is the pixel value.
    The ``background_label`` (or a label named background) is not a class."""
    label_map = data.get("label_map")
    if not isinstance(label_map, dict):
        raise UsageError(f"{path}: needs a 'label_map' object (index -> label name)")
    colours = data.get("segmentation_colors") or []
    background = str(data.get("background_label", ""))
    classes = []
    for key, name in label_map.items():
        if not str(key).isdigit() or not isinstance(name, str):
            raise UsageError(f"{path}: label_map maps an index to a name, got {key!r}: {name!r}")
        index = int(key)
        if str(key) == background:
            name = BACKGROUND
        if isinstance(colours, list) and any(colours):
            colour = colours[index] if index < len(colours) else None
            if not (
                isinstance(colour, list) and len(colour) == 3 and all(isinstance(v, int) for v in colour)
            ):
                raise UsageError(f"{path}: segmentation_colors[{index}] must be [r, g, b]")
            classes.append(MaskClass(name, (pack(*colour),), rgb=True))
        elif name.lower() != BACKGROUND:
            classes.append(MaskClass(name, (index,)))
    return _checked(classes, str(path))


def _class_map_file(path: Path) -> tuple[MaskClass, ...]:
    if path.name == "labelmap.txt":
        try:
            return _labelmap(path, path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"{path}: cannot read the class map ({exc})") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read the class map ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: the class map must be a mapping")
    if path.name == "dataset_meta.json" or "label_map" in data:
        return _dataset_meta(path, data)
    classes = []
    for key, value in data.items():
        key_values = _values(str(key))
        if key_values is not None:
            if str(value).lower() == "background":
                continue
            classes.append(MaskClass(str(value), key_values))
        else:
            vals = value if isinstance(value, list) else [value]
            parsed = _values("+".join(str(v) for v in vals))
            if parsed is None:
                raise UsageError(f"{path}: values of {key!r} must be non-negative integers")
            classes.append(MaskClass(str(key), parsed))
    return _checked(classes, str(path))


def _checked(classes: list[MaskClass], where: str) -> tuple[MaskClass, ...]:
    """A class map as read: not empty, no name twice, not colours and values mixed. A colour ``background``
    entry stays in the map (its colour is background, not a stray), black background is dropped."""
    classes = [c for c in classes if not (c.rgb and c.name.lower() == BACKGROUND and c.values == (0,))]
    if len({c.rgb for c in classes}) > 1:
        raise UsageError(f"{where}: mixes colours (r,g,b) and values; a mask is either")
    if not [c for c in classes if c.name.lower() != BACKGROUND]:
        raise UsageError(f"{where}: no classes")
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        raise UsageError(f"{where}: a class name appears twice")
    return tuple(classes)


def parse_channel(text: str | None) -> int | None:
    """--channel as a channel index: R, G, B or A (any case) or a number; None when not given, a usage error
    for anything else."""
    if text is None:
        return None
    if text.lower() in CHANNELS:
        return CHANNELS[text.lower()]
    if text.isdigit():
        return int(text)
    raise UsageError(f"--channel must be R, G, B, A or a channel number, got {text!r}")


def _grey_png(path: str) -> npt.NDArray[np.integer] | None:
    """A greyscale 8/16-bit PNG decoded by OpenCV straight into an array (PIL decodes, then copies:
    a third slower at 10,000 masks). Anything else (palette, colour, odd headers): ``None``."""
    try:
        data = read_bytes(path)
    except OSError:
        return None
    head = data[:26]
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    if head[25] != 0 or head[24] not in (8, 16):  # colour type 0 = grey; bit depth
        return None
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if not 0 < width * height <= 89_478_485:  # PIL's pixel limit: let PIL refuse a bomb in its own words
        return None
    from cytoconv.geometry.outline import decode_unchanged

    arr = decode_unchanged(data)
    if arr is None or arr.ndim != 2 or arr.shape != (height, width):
        return None
    return arr  # type: ignore[return-value,unused-ignore]


def split_background(classes: tuple[MaskClass, ...]) -> tuple[tuple[MaskClass, ...], tuple[int, ...]]:
    """A class map's classes, and the colours of its ``background`` entry (a colour map whose background is
    not black): those pixels are background, neither a class nor strays."""
    background = tuple(v for c in classes if c.rgb and c.name.lower() == BACKGROUND for v in c.values)
    kept = tuple(c for c in classes if not (c.rgb and c.name.lower() == BACKGROUND))
    return kept, background


def read_mask(path: str, channel: int | None, colour: bool = False) -> npt.NDArray[np.integer]:
    """The mask's values as a 2-D integer array (palette masks: the palette index). With ``colour`` (a class
    map keyed by colours) every pixel's colour packed into one integer (palette masks: the palette colour)."""
    if path.lower().endswith(".png") and not colour:
        fast = _grey_png(path)
        if fast is not None:
            return fast
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB")) if colour and im.mode == "P" else np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise FormatError(
            path, f"not a readable mask image ({exc.__class__.__name__}: {exc})", code="bad-image"
        ) from None
    except Image.DecompressionBombError as exc:
        raise FormatError(path, f"mask image is implausibly large: {exc}", code="bad-image") from None
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if colour:
        return _packed(path, arr)
    if arr.ndim == 3:
        if channel is not None:
            if channel >= arr.shape[2]:
                raise FormatError(
                    path,
                    f"has {arr.shape[2]} channels; --channel {channel} does not exist",
                    code="bad-channel",
                )
            _refuse_merging(path, arr, channel)
            return arr[:, :, channel]
        first = arr[:, :, 0]
        if all(np.array_equal(first, arr[:, :, k]) for k in range(1, min(arr.shape[2], 3))):
            return first
        raise FormatError(
            path,
            "a colour mask: give a colour class map (--classes '255,0,0=a;0,255,0=b', labelmap.txt, "
            "dataset_meta.json) or, when one channel holds the class, --channel R|G|B|A",
            code="bad-channel",
        )
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise FormatError(
            path, f"a mask must be an integer image, got {arr.dtype} with shape {arr.shape}", code="bad-image"
        )
    return arr


def _packed(path: str, arr: npt.NDArray[np.integer]) -> npt.NDArray[np.integer]:
    """An 8-bit grey or RGB(A) mask as packed colours (grey ``v`` is ``v,v,v``; alpha is not a colour)."""
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise FormatError(
            path, f"a colour mask must be 8-bit grey or RGB(A), got {arr.dtype} {arr.shape}", code="bad-image"
        )
    rgb = np.repeat(arr[:, :, None], 3, axis=2) if arr.ndim == 2 else arr[:, :, :3]
    if rgb.shape[2] < 3:
        rgb = np.repeat(rgb[:, :, :1], 3, axis=2)
    wide = rgb.astype(np.uint32)
    packed: npt.NDArray[np.integer] = (wide[:, :, 0] << 16) | (wide[:, :, 1] << 8) | wide[:, :, 2]
    return packed


def _refuse_merging(path: str, arr: npt.NDArray[np.integer], channel: int) -> None:
    """``--channel`` reads one channel of a colour mask: refused when two colours share that channel's value
    (two classes would merge into one, and an object be lost without a word)."""
    wide = arr.astype(np.uint64)
    packed = np.zeros(arr.shape[:2], dtype=np.uint64)
    for k in range(arr.shape[2]):
        packed = (packed << np.uint64(16)) | wide[:, :, k]
    colours = np.unique(packed)
    chosen = (colours >> np.uint64(16 * (arr.shape[2] - 1 - channel))) & np.uint64(0xFFFF)
    values, first = np.unique(chosen, return_index=True)
    if values.size == colours.size:
        return
    dup = next(i for i in range(colours.size) if i not in set(first.tolist()))
    value = int(chosen[dup])
    merged = [c for c, v in zip(colours.tolist(), chosen.tolist()) if v == value][:2]

    def spelled(c: int) -> str:
        """A packed colour as the ``r,g,b`` a user writes in ``--classes``."""
        return ",".join(str((c >> (16 * (arr.shape[2] - 1 - k))) & 0xFFFF) for k in range(arr.shape[2]))

    raise FormatError(
        path,
        f"--channel {channel} would merge colours {spelled(merged[0])} and {spelled(merged[1])} into one "
        f"value {value}: a colour mask; give a colour class map (--classes '255,0,0=a;0,255,0=b', "
        "labelmap.txt or dataset_meta.json)",
        code="bad-channel",
    )


def value_counts(arr: npt.NDArray[np.integer]) -> dict[int, int]:
    """Pixels per value; bincount for 8-bit masks (fast), unique otherwise."""
    if arr.dtype == np.uint8:
        counts = np.bincount(arr.ravel(), minlength=256)
        nz = np.flatnonzero(counts)
        return {int(v): int(counts[v]) for v in nz}
    values, counts = np.unique(arr, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts)}


# ---------------------------------------------------------------------------------------------
# Pairing masks with images


LAYER = re.compile(r"_layer(\d+)$")  # instance masks written with --layers: x.png, x_layer2.png, ...


def mask_stem(name: str, layers: bool = False) -> str:
    """The image stem a mask file name stands for: ``x_mask.png`` -> ``x``, ``x_cp_masks.tif`` -> ``x``
    (with ``layers``, instance masks' ``x_layer2.png`` -> ``x`` too)."""
    stem = os.path.splitext(os.path.basename(name))[0]
    if layers:
        stem = LAYER.sub("", stem) or stem
    for suffix in MASK_SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def _mode(path: str) -> str:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return str(im.mode)
    except Exception:
        return ""


SINGLE_CHANNEL = ("1", "L", "P", "I", "I;16", "I;16B", "I;16L", "F")


def _is_mask_dir(name: str) -> bool:
    return name in MASK_DIRS


def _find_subdir(root: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (root / name).is_dir():
            return root / name
    return None


def find_pairs(
    root: Path, images: Path | None, junk: list[str], layers: bool = False
) -> tuple[list[tuple[str, str | None]], str]:
    """(mask, image or None) pairs, sorted, and the folder the images are relative to.

    Layouts: ``root/masks`` + ``root/images`` (or ``--images``); ``root/masks`` beside images in
    ``root`` (Cellpose); or masks and images side by side in one folder, told apart by their pixel
    mode (the WBC set: ``001.bmp`` image, ``001.png`` mask)."""
    root = root.resolve()
    images = images.resolve() if images is not None else None  # one spelling of each path: pairs compare them
    mask_dir = _find_subdir(root, MASK_DIRS)
    image_dir = images or _find_subdir(root, IMAGE_DIRS)
    if root.is_file():
        masks = [str(root)]
        image_dir = images or root.parent
    elif mask_dir is not None:
        masks = [f for f in walk_files(mask_dir, junk) if is_image_name(f)]
        image_dir = image_dir or root
    elif images is not None:
        masks = [f for f in walk_files(root, junk) if is_image_name(f)]
    else:
        return _side_by_side(root, junk)
    assert image_dir is not None
    by_stem: dict[str, list[str]] = {}
    recursive = image_dir != root
    for f in walk_files(image_dir, junk) if recursive else _top_level(image_dir):
        if is_image_name(f):
            by_stem.setdefault(os.path.splitext(os.path.basename(f))[0], []).append(f)

    def image_for(mask: str, stem: str) -> str | None:
        """The image of that stem that is not the mask itself (images and masks may share a folder)."""
        return next((f for f in by_stem.get(stem, ()) if f != mask), None)

    pairs: list[tuple[str, str | None]] = []
    for m in sorted(masks):
        stem = mask_stem(m)
        image = image_for(m, stem)
        if image is None and layers:  # x_layer2.png: a further label image of x
            stem = mask_stem(m, layers)
            image = image_for(m, stem)
        if image is None and stem.startswith("mask"):
            image = image_for(m, "img" + stem[4:]) or image_for(m, "image" + stem[4:])
        pairs.append((m, image))
    used = {image for _, image in pairs if image is not None}
    return [(m, image) for m, image in pairs if m not in used], str(image_dir)


def _top_level(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _side_by_side(root: Path, junk: list[str]) -> tuple[list[tuple[str, str | None]], str]:
    groups: dict[str, list[str]] = {}
    for f in walk_files(root, junk):
        if is_image_name(f):
            groups.setdefault(os.path.join(os.path.dirname(f), mask_stem(f)), []).append(f)
    pairs: list[tuple[str, str | None]] = []
    for key in sorted(groups):
        files = groups[key]
        if len(files) == 1:
            pairs.append((files[0], None))
            continue
        marked = [f for f in files if mask_stem(f) != os.path.splitext(os.path.basename(f))[0]]
        if len(marked) == 1:
            mask = marked[0]
        else:
            single = [f for f in files if _mode(f) in SINGLE_CHANNEL]
            pngs = [f for f in single if f.lower().endswith((".png", ".tif", ".tiff"))]
            if len(single) == 1:
                mask = single[0]
            elif len(pngs) == 1:
                mask = pngs[0]
            else:
                raise FormatError(
                    key,
                    f"cannot tell the mask from the image among {[os.path.basename(f) for f in files]}; "
                    "put masks in a masks/ folder or give --images",
                    code="ambiguous-pair",
                )
        others = [f for f in files if f != mask]
        pairs.append((mask, others[0]))
    return pairs, str(root)


NUMBER = re.compile(r"(\d+)")


def natural_key(name: str) -> list[object]:
    """``x_2.png`` before ``x_10.png``: the order that matches per-image RLE rows in the DSB CSV."""
    return [int(part) if part.isdigit() else part for part in NUMBER.split(name)]
