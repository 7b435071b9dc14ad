"""Finding files: image extensions, junk that archives leave behind, image sizes from headers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cytoconv.errors import FormatError, Report

if TYPE_CHECKING:  # the model imports pydantic, which `validate` (a user of this module) must not pay for
    from cytoconv.ir import Category

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".jpe", ".jp2", ".pgm", ".ppm"}
)
JUNK_DIRS = frozenset({"__MACOSX", ".git", ".svn", ".ipynb_checkpoints", "__pycache__"})


def is_junk(name: str) -> bool:
    """Files no dataset means to hold: hidden files, AppleDouble ``._x`` forks, ``.DS_Store``, ``Thumbs.db``."""
    return name.startswith(".") or name in ("Thumbs.db", "desktop.ini")


def is_image_name(name: str) -> bool:
    """Whether a file name has an image extension, by name only (nothing is read): cheap enough for planning
    over big trees."""
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
    plain = _plain_jpeg_size(path)
    if plain is not None:
        return plain
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
        raise FormatError(
            path, f"not a readable image ({exc.__class__.__name__}: {exc})", code="bad-image"
        ) from None
    except Image.DecompressionBombError as exc:
        raise FormatError(path, f"image header is implausibly large: {exc}", code="bad-image") from None


_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_PLAIN_MAX_PIXELS = 89_478_485  # PIL's MAX_IMAGE_PIXELS: above it, let PIL warn or refuse as it does


def _plain_jpeg_size(path: str | Path) -> tuple[int, int] | None:
    """The size in a plain JPEG's SOF marker, from its first 4 KB; ``None``: ask PIL.

    Three times faster than a lazy PIL open (which reads the markers byte by byte), and it matters
    at 50,000 images. Anything unusual goes to PIL: an APP1 segment (EXIF orientation, XMP), no
    SOF within 4 KB, a marker out of place, a zero or huge size."""
    try:
        fd = os.open(path, os.O_RDONLY)  # plain system calls: a buffered open costs more than the parsing
    except OSError:
        return None
    try:
        head = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    if head[:3] != b"\xff\xd8\xff":
        return None
    i, n = 2, len(head)
    while i + 9 <= n:
        marker = head[i + 1]
        if head[i] != 0xFF or marker in (0xE1, 0xDA, 0xFF) or marker < 0xC0 or 0xD0 <= marker <= 0xD9:
            return None
        if marker in _JPEG_SOF:
            height = (head[i + 5] << 8) | head[i + 6]
            width = (head[i + 7] << 8) | head[i + 8]
            return (width, height) if width and height and width * height <= _PLAIN_MAX_PIXELS else None
        i += 2 + ((head[i + 2] << 8) | head[i + 3])
    return None


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
        raise FormatError(
            path, f"not UTF-8 text (byte 0x{data[exc.start]:02x})", line=line, code="unreadable"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def read_bytes(path: str) -> bytes:
    """A file's bytes by plain system calls, in 64 KiB reads: half the time of ``open(...).read()`` on the small
    files a dataset holds by the ten thousand (label files, masks), and no 1 MiB buffer allocated per call."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = [os.read(fd, 65536)]
        while chunks[-1]:  # until end of file: a short read is not one
            chunks.append(os.read(fd, 65536))
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 2 else b"".join(chunks)


def safe_relative(name: str, where: str | Path) -> str:
    """A data-derived relative path that must stay inside its output folder: no ``..``, no absolute path."""
    norm = name.replace("\\", "/")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if (
        "\x00" in name
        or norm.startswith("/")
        or (len(norm) > 1 and norm[1] == ":")
        or ".." in parts
        or not parts
    ):
        raise FormatError(
            where, f"unsafe file name {name!r}: it would leave the output folder", code="unsafe-path"
        )
    return "/".join(parts)


def folder_names(categories: list[Category], report: Report) -> dict[int, str]:
    """A safe folder name per category id: ``/`` and ``\\`` become ``_`` and a leading ``.`` (hidden) becomes
    ``_`` (noticed); NUL, empty, ``.`` and ``..`` are refused; two classes may not end up with one folder.

    Here, beside ``safe_relative``, because two writers of class folders use it: the class-folder format and
    ``crop``, which must not import a format."""
    out: dict[int, str] = {}
    owner: dict[str, str] = {}
    for category in categories:
        out[category.id] = folder_name(category.name, report)
        other = owner.setdefault(out[category.id], category.name)
        if other != category.name:
            raise FormatError(
                category.name,
                f"classes {other!r} and {category.name!r} would share the folder {out[category.id]!r}",
                code="name-collision",
            )
    return out


def folder_name(name: str, report: Report) -> str:
    """One class name as a folder name (see ``folder_names``)."""
    if "\x00" in name or name.strip() in ("", ".", ".."):
        raise FormatError(name, f"class name {name!r} cannot be a folder name", code="unsafe-name")
    safe = name.replace("/", "_").replace("\\", "_")
    if safe.startswith("."):
        safe = "_" + safe[1:]
    if safe != name:
        report.notice("name-sanitised", f"class {name!r} written to the folder {safe!r}")
    return safe


# Leading bytes of the image formats in IMAGE_EXTENSIONS (offset 0 unless said otherwise).
_MAGIC = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "jp2"),
    (b"\xff\x4f\xff\x51", "jp2"),
)


def image_kind(head: bytes) -> str | None:
    """The image format the first bytes of a file announce (``None``: not an image), whatever its name says:
    a ``.DS_Store`` renamed ``x.jpg`` is not an image. 16 bytes are enough."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if len(head) >= 3 and head[:1] == b"P" and head[1:2] in b"1234567" and head[2:3] in b" \t\r\n":
        return "pnm"
    return None


def sniff_image(path: str) -> str | None:
    """``image_kind`` of a file's first 16 bytes; an unreadable file is ``None`` too."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return image_kind(os.read(fd, 16))
    except OSError:
        return None
    finally:
        os.close(fd)
