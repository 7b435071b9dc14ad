"""Mask checks: semantic masks (value -> class), instance label images and one-mask-per-object folders.

A mask must have its image's size (CC501), hold only values of the class map when there is one (CC502, one
finding per stray value, with its pixel count), and hold something (an all-background mask is CC004, like an
empty label file). Masks are decoded here (values need pixels); images are only measured from their headers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cytoconv.problems.findings import CheckTask, Finding
from cytoconv.problems.settings import Settings

SEMANTIC, INSTANCE, OBJECT = "semantic", "instance", "object"


@dataclass(frozen=True)
class MaskTask:
    """One unit of mask validation: the mask file(s) of one image, the image when found, the layout kind, and
    the class map's values."""

    masks: tuple[str, ...]
    image: str | None
    kind: str
    values: frozenset[int] | None = None  # the class map's values (semantic masks), 0 included
    colour: bool = False  # the values are packed colours: the masks are read by colour


def class_values(spec: str | None, root: Path | None) -> tuple[frozenset[int] | None, bool]:
    """The values a semantic class map allows (background 0 included), and whether they are colours: from
    ``spec`` (``--classes`` syntax, a preset or a file), else a class file beside the masks (``classes.json``,
    CVAT's ``labelmap.txt``, datumaro's ``dataset_meta.json``), else ``None`` (every value is a class)."""
    from cytoconv.formats.masks.maskio import CLASS_FILES, MASK_DIRS, parse_class_map

    if spec is None and root is not None and root.is_dir():
        for folder in (root, *(root / d for d in MASK_DIRS)):
            for name in CLASS_FILES:
                if (folder / name).is_file():
                    spec = str(folder / name)
                    break
            if spec is not None:
                break
    if spec is None:
        return None, False
    classes = parse_class_map(spec)
    return frozenset({0, *(v for c in classes for v in c.values)}), any(c.rgb for c in classes)


def _discover_masks(root: Path, kind: str, settings: Settings) -> tuple[list[MaskTask], list[Finding]]:
    """Masks paired with their images (cytoconv.formats.masks.maskio's pairing, as the readers pair them); a mask without
    an image is CC402."""
    if kind == OBJECT:
        return _object_samples(root), []
    from cytoconv.formats.masks.maskio import find_pairs

    values, colour = class_values(settings.mask_classes, root) if kind == SEMANTIC else (None, False)
    pairs, _ = find_pairs(root.resolve(), None, [])
    tasks, findings = [], []
    for mask, image in pairs:
        if image is None and settings.on("CC402"):
            findings.append(settings.finding("CC402", mask, "no image for this mask"))
        tasks.append(MaskTask((mask,), image, kind, values, colour))
    return tasks, findings


def single_mask(path: Path, kind: str, settings: Settings) -> MaskTask:
    """One mask file given on its own, with its image looked for beside it (or, for a mask in a ``masks``
    folder, in the folder above and its ``images``): same stem without a mask suffix (``x_mask.png``,
    ``x_cp_masks.tif``), or ``img...`` for ``mask...`` (StarDist); never the mask itself."""
    from cytoconv.engine.files import is_image_name
    from cytoconv.formats.masks.maskio import IMAGE_DIRS, MASK_DIRS, mask_stem

    stem = mask_stem(path.name)
    wanted = {stem, *((f"img{stem[4:]}", f"image{stem[4:]}") if stem.startswith("mask") else ())}
    folders = [path.parent]
    if path.parent.name in MASK_DIRS:
        folders += [path.parent.parent, *(path.parent.parent / d for d in IMAGE_DIRS)]
    image = None
    for folder in folders:
        if image is None and folder.is_dir():
            image = next(
                (
                    str(p)
                    for p in sorted(folder.iterdir())
                    if p != path and is_image_name(p.name) and os.path.splitext(p.name)[0] in wanted
                ),
                None,
            )
    values, colour = class_values(settings.mask_classes, path.parent) if kind == SEMANTIC else (None, False)
    if (
        kind == SEMANTIC and values is None and path.parent.name in MASK_DIRS
    ):  # CVAT's labelmap.txt at the root
        values, colour = class_values(None, path.parent.parent)
    return MaskTask((str(path),), image, kind, values, colour)


def _object_samples(root: Path) -> list[MaskTask]:
    from cytoconv.engine.files import is_image_name

    tasks = []
    for sample in sorted(
        d for d in root.iterdir() if d.is_dir() and (d / "images").is_dir() and (d / "masks").is_dir()
    ):
        images = sorted(str(p) for p in (sample / "images").iterdir() if is_image_name(p.name))
        masks = tuple(
            sorted(
                str(p)
                for p in (sample / "masks").iterdir()
                if is_image_name(p.name) and not p.name.startswith(".")
            )
        )
        tasks.append(MaskTask(masks, images[0] if len(images) == 1 else None, OBJECT))
    return tasks


def check_mask(task: MaskTask, settings: Settings) -> list[Finding]:
    """The findings for one task (unreadable files, size against the image, empty masks, values the class
    map does not know); one task per image, so that validation fans out."""
    import numpy as np

    from cytoconv.engine.files import image_size
    from cytoconv.errors import FormatError
    from cytoconv.formats.masks.maskio import colour_name, parse_channel, read_mask, value_counts

    out: list[Finding] = []
    on, finding = settings.on, settings.finding
    size: tuple[int, int] | None = None
    if task.image is not None:
        try:
            size = image_size(task.image)
        except FormatError as error:
            if on("CC404"):
                out.append(finding("CC404", task.image, error.message))
    channel = parse_channel(settings.channel)
    for mask in task.masks:
        try:
            arr = read_mask(mask, channel, task.colour)
        except FormatError as error:
            code = "CC003" if error.code == "bad-channel" else "CC001"
            if on(code):
                out.append(finding(code, mask, error.message))
            continue
        if size is not None and (arr.shape[1], arr.shape[0]) != size and on("CC501"):
            out.append(
                finding(
                    "CC501",
                    mask,
                    f"mask is {arr.shape[1]}x{arr.shape[0]} but its image "
                    f"{os.path.basename(task.image or '')} is {size[0]}x{size[1]}",
                )
            )
        if not np.any(arr):
            if on("CC004"):
                out.append(finding("CC004", mask, "the mask is all background: an image with no objects"))
            continue
        if task.values is not None and on("CC502"):
            spell = colour_name if task.colour else str
            for value, count in sorted(value_counts(arr).items()):
                if value not in task.values:
                    known = ", ".join(spell(v) for v in sorted(task.values))
                    what = f"the colour {colour_name(value)}" if task.colour else "a value"
                    out.append(
                        finding(
                            "CC502",
                            mask,
                            f"{count} px of {what} the class map does not know (map: {known})",
                            pixel_value=None if task.colour else value,  # a colour: named above
                        )
                    )
    return out


# ---------------------------------------------------------------------------------------------
# The checker API: what ``cytoconv.validate`` calls through the registry (``FormatInfo.checker``)

TEXT = False
CLASS_LIST = None
_KINDS = {"instance-masks": INSTANCE, "object-masks": OBJECT}


def claims(path: Path) -> bool:
    """A mask given alone is never taken for one without ``--from``: any PNG could be a mask."""
    return False


def single(path: Path, fmt: str, settings: Settings) -> CheckTask | None:
    """A mask given alone with ``--from masks`` (or instance-masks, object-masks)."""
    return CheckTask(fmt, str(path), single_mask(path, _KINDS.get(fmt, SEMANTIC), settings))


def discover(root: Path, fmt: str, settings: Settings) -> tuple[list[CheckTask], list[Finding]]:
    """One task per mask (or per object-mask sample) of a dataset folder, and the pairing findings."""
    tasks, findings = _discover_masks(root, _KINDS.get(fmt, SEMANTIC), settings)
    return [CheckTask(fmt, t.masks[0] if t.masks else (t.image or str(root)), t) for t in tasks], findings


def check(task: CheckTask, data: bytes | None, settings: Settings) -> list[Finding]:
    """One mask's findings."""
    return check_mask(task.context, settings)
