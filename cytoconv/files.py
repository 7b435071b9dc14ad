"""Finding files: image extensions, junk that archives leave behind, image sizes from headers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from cytoconv.errors import FormatError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".jpe", ".jp2", ".pgm", ".ppm"}
)
JUNK_DIRS = frozenset({"__MACOSX", ".git", ".svn", ".ipynb_checkpoints", "__pycache__"})


def is_junk(name: str) -> bool:
    """Files no dataset means to hold: hidden files, AppleDouble ``._x`` forks, ``.DS_Store``, ``Thumbs.db``."""
    return name.startswith(".") or name in ("Thumbs.db", "desktop.ini")


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def walk_files(root: Path, junk: list[str] | None = None) -> Iterator[str]:
    """Every file below ``root`` (as a path string) in sorted order, pruning junk folders; junk seen is
    appended to ``junk``."""
    for dirpath, dirnames, filenames in os.walk(root):
        kept_dirs = []
        for d in sorted(dirnames):
            if d in JUNK_DIRS or d.startswith("."):
                if junk is not None:
                    junk.append(os.path.join(dirpath, d) + "/")
            else:
                kept_dirs.append(d)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            if is_junk(name):
                if junk is not None:
                    junk.append(os.path.join(dirpath, name))
                continue
            yield os.path.join(dirpath, name)


def image_size(path: str | Path, apply_exif_orientation: bool = True) -> tuple[int, int]:
    """``(width, height)`` from the file header only; pixels are never decoded.

    With ``apply_exif_orientation`` a JPEG whose EXIF orientation turns it by 90 degrees (5..8)
    reports the size as displayed, as ultralytics and annotation tools see it.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            width, height = im.size
            if apply_exif_orientation and im.format in ("JPEG", "MPO", "TIFF", "WEBP", "PNG"):
                orientation = im.getexif().get(0x0112) if "exif" in im.info or im.format == "TIFF" else None
                if orientation in (5, 6, 7, 8):
                    width, height = height, width
            return int(width), int(height)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise FormatError(path, f"not a readable image ({exc.__class__.__name__}: {exc})", code="bad-image") from None
    except Image.DecompressionBombError as exc:
        raise FormatError(path, f"image header is implausibly large: {exc}", code="bad-image") from None


def read_text(path: Path) -> str:
    """A label file as text: UTF-8 (a BOM is dropped); a bad byte is an error that names its line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FormatError(path, f"cannot read: {exc.strerror or exc}", code="unreadable") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FormatError(path, f"not UTF-8 text (byte 0x{data[exc.start]:02x})", line=line, code="encoding") from None
    return text[1:] if text.startswith("\ufeff") else text


def safe_relative(name: str, where: str | Path) -> str:
    """A data-derived relative path that must stay inside its output folder: no ``..``, no absolute path."""
    norm = name.replace("\\", "/")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if "\x00" in name or norm.startswith("/") or (len(norm) > 1 and norm[1] == ":") or ".." in parts or not parts:
        raise FormatError(where, f"unsafe file name {name!r}: it would leave the output folder", code="unsafe-path")
    return "/".join(parts)
