"""Class-folder checks: every file in a class folder must be an image by its content and readable (CC404), a
class folder must hold images (CC004), and its name must be a known class when a class list is configured (CC202).

Layouts as the reader has them: ``ROOT/<class>/...`` or, when every top folder is a split name,
``ROOT/<split>/<class>/...``. Hidden files and ``__MACOSX`` are junk, not findings.
"""

from __future__ import annotations

import os
from pathlib import Path

from cytoconv.problems.findings import CheckTask, Finding
from cytoconv.problems.settings import Settings

SPLIT_NAMES = frozenset({"train", "val", "valid", "validation", "test"})


def _subdirs(folder: Path) -> list[Path]:
    from cytoconv.engine.files import JUNK_DIRS

    return sorted(
        p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in JUNK_DIRS
    )


def class_folders(root: Path) -> list[Path]:
    """The class folders under ``root``: its subfolders, or those one level down when the top level is split
    folders (train/val/...)."""
    top = _subdirs(root)
    if top and all(d.name.lower() in SPLIT_NAMES for d in top) and any(_subdirs(d) for d in top):
        return [c for d in top for c in _subdirs(d)]
    return top


def _discover_files(root: Path, settings: Settings) -> tuple[list[str], list[Finding]]:
    """The files to check (one per image), and the folder-level findings."""
    from cytoconv.engine.files import walk_files

    files: list[str] = []
    findings: list[Finding] = []
    known = set(settings.names) if settings.names is not None else None
    for folder in class_folders(root):
        if known is not None and folder.name not in known and settings.on("CC202"):
            findings.append(
                settings.finding(
                    "CC202",
                    str(folder),
                    f"class folder {folder.name!r} is not among the "
                    f"{len(known)} classes of {settings.names_source}",
                )
            )
        inside = list(walk_files(folder))
        if not inside and settings.on("CC004"):
            findings.append(settings.finding("CC004", str(folder), "a class folder without images"))
        files.extend(inside)
    return files, findings


def check_image(path: str, settings: Settings) -> list[Finding]:
    """CC404 for a file in a class folder that is not a readable image, judged by content, not name; empty
    when the rule is off."""
    from cytoconv.engine.files import image_size, sniff_image
    from cytoconv.errors import FormatError

    if not settings.on("CC404"):
        return []
    if sniff_image(path) is None:
        kind = "named like an image but" if os.path.splitext(path)[1] else "a file that"
        return [settings.finding("CC404", path, f"{kind} is not an image by its content")]
    try:
        image_size(path)
    except FormatError as error:
        return [settings.finding("CC404", path, error.message)]
    return []


# ---------------------------------------------------------------------------------------------
# The checker API: what ``cytoconv.validate`` calls through the registry (``FormatInfo.checker``)

TEXT = False  # images: measured and decoded, never fixed
CLASS_LIST = None


def claims(path: Path) -> bool:
    """An image given alone is never taken for a class-folder dataset without ``--from folders``."""
    return False


def single(path: Path, fmt: str, settings: Settings) -> CheckTask | None:
    """An image given alone with ``--from folders``."""
    return CheckTask(fmt, str(path))


def discover(root: Path, fmt: str, settings: Settings) -> tuple[list[CheckTask], list[Finding]]:
    """One task per image of the class folders, and the folder-level findings."""
    files, findings = _discover_files(root, settings)
    return [CheckTask(fmt, f) for f in files], findings


def check(task: CheckTask, data: bytes | None, settings: Settings) -> list[Finding]:
    """One image's findings."""
    return check_image(task.path, settings)
