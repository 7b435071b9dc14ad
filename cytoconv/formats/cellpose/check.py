"""Cellpose ``_seg.npy`` checks for ``cytoconv validate``: the file loads safely (CC001 otherwise: not a .npy,
truncated, or a pickle asking for anything but arrays, which is refused unrun), holds a dict with a 2-d integer
``masks`` (CC003), and has at least one object (CC004); its image, when one is beside it, has the mask's size
(CC501). A ``_seg.npy`` has no classes, so no class check applies.
"""

from __future__ import annotations

import os
from pathlib import Path

from cytoconv.formats.cellpose.syntax import SUFFIX, SegError, parse_seg
from cytoconv.problems.findings import CheckTask, Finding
from cytoconv.problems.settings import Settings

__all__ = ["check", "check_bytes", "claims", "discover", "single"]

# Every rule a _seg.npy can get; the docs' rule table is built from these code literals (``checks: cellpose``).
CODES = ("CC001", "CC003", "CC004", "CC501")

TEXT = False
CLASS_LIST = None


def _is_seg(name: str) -> bool:
    """``<stem>_seg.npy``, the stem not empty."""
    return name.endswith(SUFFIX) and len(name) > len(SUFFIX) and not name.startswith(".")


def _image_beside(path: str) -> str | None:
    """The image named ``<stem>.<ext>`` beside a ``_seg.npy``."""
    from cytoconv.engine.files import is_image_name

    folder = os.path.dirname(os.path.abspath(path))
    stem = os.path.basename(path)[: -len(SUFFIX)]
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    return next(
        (os.path.join(folder, n) for n in names if is_image_name(n) and os.path.splitext(n)[0] == stem), None
    )


def check_bytes(data: bytes, path: str, settings: Settings) -> list[Finding]:
    """The findings of one ``_seg.npy``."""
    out: list[Finding] = []
    try:
        seg = parse_seg(data)
    except SegError as error:
        code = "CC003" if error.code == "bad-structure" else "CC001"
        return [settings.finding(code, path, error.message)] if settings.on(code) else []
    if settings.on("CC004") and not seg.masks.any():
        out.append(settings.finding("CC004", path, "'masks' is all background: an image with no objects"))
    image = _image_beside(path)
    if image is not None and settings.on("CC501"):
        from cytoconv.engine.files import image_size
        from cytoconv.errors import FormatError

        try:
            width, height = image_size(image)
        except FormatError:
            return out
        if (width, height) != (seg.masks.shape[1], seg.masks.shape[0]):
            out.append(
                settings.finding(
                    "CC501",
                    path,
                    f"'masks' is {seg.masks.shape[1]}x{seg.masks.shape[0]} but its image {image} is "
                    f"{width}x{height}",
                )
            )
    return sorted(out, key=Finding.sort_key)


# ---------------------------------------------------------------------------------------------
# The checker API: what ``cytoconv.validate`` calls through the registry (``FormatInfo.checker``)


def claims(path: Path) -> bool:
    """A ``<stem>_seg.npy`` given alone is Cellpose's."""
    return _is_seg(path.name)


def single(path: Path, fmt: str, settings: Settings) -> CheckTask | None:
    """A ``_seg.npy`` given alone."""
    return CheckTask("cellpose", str(path))


def discover(root: Path, fmt: str, settings: Settings) -> tuple[list[CheckTask], list[Finding]]:
    """Every ``_seg.npy`` below a folder."""
    from cytoconv.engine.files import walk_files

    return [CheckTask("cellpose", f) for f in walk_files(root) if _is_seg(os.path.basename(f))], []


def check(task: CheckTask, data: bytes | None, settings: Settings) -> list[Finding]:
    """One ``_seg.npy``'s findings (read here: ``TEXT`` is False, the file is binary)."""
    if data is None:
        try:
            with open(task.path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            return (
                [settings.finding("CC001", task.path, f"cannot read: {exc.strerror or exc}")]
                if settings.on("CC001")
                else []
            )
    return check_bytes(data, task.path, settings)
