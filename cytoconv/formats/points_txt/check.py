"""points-txt checks for ``cytoconv validate``: a label file's findings (from ``syntax.scan``, the parser the
reader uses too) with its image's size when the image is found, and, for folders, the pairing of label files
with images (``layout``, as the reader pairs them).

Nothing here imports the dataset model: this module runs on every pre-commit call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cytoconv.formats.points_txt.layout import (
    IMAGE_DIR_OF,
    Layout,
    class_list,
    find_layout,
    image_files,
    label_files,
    pair,
)
from cytoconv.formats.points_txt.syntax import in_yolo_dataset, is_label_name, peek, scan
from cytoconv.problems.findings import CheckTask, Finding
from cytoconv.problems.settings import Settings


@dataclass(frozen=True)
class Context:
    """What checking one label file needs besides its bytes: its class names (and where they come from) and
    its image, whose header gives the size points must lie inside (``None``: not found, bounds unchecked)."""

    names: tuple[str, ...] | None
    source: str | None
    image: str | None


def check_bytes(data: bytes, path: str, context: Context, settings: Settings) -> list[Finding]:
    """Every finding of one label file's content, from the same scan the reader uses (0-based indices: a
    1-based set is checked with ``convert --index-base 1``, which validate has no option for)."""
    sink = settings.sink()
    size: tuple[int, int] | None = None
    if context.image is not None:
        from cytoconv.engine.files import image_size
        from cytoconv.errors import FormatError

        try:
            size = image_size(context.image)
        except FormatError as exc:
            if settings.on("CC404"):
                sink.findings.append(settings.finding("CC404", context.image, exc.message))
    names = context.names if settings.names is None else settings.names
    source = context.source if settings.names is None else settings.names_source
    scan(data, path, sink, len(names) if names is not None else None, source, size)
    return sorted(sink.findings, key=Finding.sort_key)


def _context(layout: Layout, image: str | None, settings: Settings) -> Context:
    names, source, _ = class_list(layout)
    return Context(tuple(names) if names is not None else None, source, image)


def _list_problem(layout: Layout, settings: Settings) -> list[Finding]:
    """CC203 for a class list of the dataset that cannot be read (its ids then go unchecked)."""
    _, source, problem = class_list(layout)
    if problem is None or source is None or not settings.on("CC203"):
        return []
    return [settings.finding("CC203", source, problem)]


# ---------------------------------------------------------------------------------------------
# A file given alone: its labels folder and its image


def _label_folder(path: Path) -> Path:
    """The labels folder a label file is in: the nearest ``Label`` or ``labels`` above it (split folders may sit
    between), else its own folder."""
    for parent in list(path.parents)[:4]:
        if parent.name.lower() in IMAGE_DIR_OF:
            return parent
    return path.parent


def _image_of(path: Path, layout: Layout) -> str | None:
    """The image of one label file: the file of the same path and stem, any image extension, in the image
    folder the layout names."""
    from cytoconv.engine.files import is_image_name

    if layout.images is None:
        return None
    rel = os.path.relpath(path.parent, layout.labels)
    folder = os.path.normpath(os.path.join(layout.images, rel))
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    stem = path.stem
    found = [n for n in names if os.path.splitext(n)[0] == stem and is_image_name(n)]
    return os.path.join(folder, found[0]) if found else None


# ---------------------------------------------------------------------------------------------
# The checker API: what ``cytoconv.validate`` calls through the registry (``FormatInfo.checker``)

TEXT = True  # label files checked from their bytes, with --fix (duplicate lines, BOM, CRLF)
CLASS_LIST = None  # the class list travels in the task's context, beside the image (see ``Context``)


def claims(path: Path) -> bool:
    """A ``.txt`` given alone is a points file when it sits in a ``Label`` folder beside ``Dataset`` (the Chula
    layout), or when its first lines hold three numbers each: such a line is never a YOLO line (which needs
    five or more), so YOLO's checker leaves these files to this one."""
    if not is_label_name(path.name):
        return False
    label = path.parent
    if label.name.lower() == "label" and any(
        p.is_dir() and p.name.lower() == "dataset" for p in label.parent.iterdir()
    ):
        return True
    return peek(str(path)) is True and not in_yolo_dataset(str(path.parent))


def single(path: Path, fmt: str, settings: Settings) -> CheckTask | None:
    """A label file given alone, with its class list and image found as the reader finds them."""
    if not is_label_name(path.name):
        return None
    folder = _label_folder(path.resolve())
    layout = find_layout(folder)
    return CheckTask(fmt, str(path), _context(layout, _image_of(path.resolve(), layout), settings))


def discover(root: Path, fmt: str, settings: Settings) -> tuple[list[CheckTask], list[Finding]]:
    """The label files of a dataset folder, each with its image, and the pairing findings: a label file
    without an image (CC402) and an image without a label file (CC403), where images are at hand."""
    layout = find_layout(root.resolve())
    labels = label_files(layout)
    images = image_files(layout)
    findings = _list_problem(layout, settings)
    tasks: list[CheckTask] = []
    context = _context(layout, None, settings)
    for _, label, image in pair(labels, images):
        if label is None:
            if settings.on("CC403"):
                findings.append(
                    settings.finding("CC403", str(image), f"no label file for this image in {layout.labels}")
                )
            continue
        if image is None and images and settings.on("CC402"):
            findings.append(
                settings.finding("CC402", label, f"no image for this label file in {layout.images}")
            )
        tasks.append(CheckTask(fmt, label, Context(context.names, context.source, image)))
    return tasks, findings


def check(task: CheckTask, data: bytes | None, settings: Settings) -> list[Finding]:
    """One label file's findings (its class list and image in ``task.context``)."""
    assert data is not None
    context = task.context if isinstance(task.context, Context) else Context(None, None, None)
    return check_bytes(data, task.path, context, settings)
