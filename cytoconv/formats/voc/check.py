"""Pascal VOC checks for ``cytoconv validate``: the file, its ``<size>`` against the image, and every
``<object>`` (named by its number in file order and by the line of its ``<object>`` tag).

The checks themselves are the syntax layer's (``cytoconv.formats.voc.syntax``), which the reader runs too, so
that ``validate`` and ``convert`` stop at the same place with the same code. What is left here is the
validator's own: where a VOC file's image is (``find_image``) and which files belong to a dataset
(``discover``). Boxes are 1-based and inclusive (``xmin=1, xmax=10`` covers pixels 0..9, FORMATS.md): a box is
outside the image when ``xmin < 1`` or ``xmax > width`` (beyond the pixel tolerance, 1 by default, so 0-based
writers pass).
"""

from __future__ import annotations

import os
from pathlib import Path

from cytoconv.engine.classlists import ClassList
from cytoconv.formats.voc.syntax import (
    ANNOTATION_DIRS,
    IMAGE_DIRS,
    check_objects,
    check_size,
    child_dir,
    is_annotations_dir,
    looks_like_voc,
    scan,
)
from cytoconv.problems.findings import CheckTask, Finding
from cytoconv.problems.settings import Settings

__all__ = ["check_bytes", "check_file", "discover", "find_image", "image_folders", "looks_like_voc"]

# Every rule a VOC file can get: the syntax layer's (scan, check_size, check_objects) and the pairing's here. The
# docs' rule table for VOC is built from the code literals of this module (docs/hooks.py, ``checks: voc``).
CODES = (
    *("CC001", "CC002", "CC003", "CC004", "CC005", "CC006", "CC202", "CC304", "CC305", "CC401"),
    *("CC402", "CC403", "CC404", "CC405", "CC701", "CC702", "CC703", "CC704"),
)

_listings: dict[tuple[str, int], dict[str, str]] = {}


def _images_in(folder: str) -> dict[str, str]:
    """Image files of a folder by stem and by name: listed once per process while the folder is unchanged
    (50,000 XML files beside one JPEGImages folder: one listing)."""
    try:
        key = (folder, os.stat(folder).st_mtime_ns)
    except OSError:
        return {}
    if key not in _listings:
        from cytoconv.engine.files import is_image_name

        found: dict[str, str] = {}
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            names = []
        for name in names:
            if is_image_name(name) and not name.startswith("."):
                found.setdefault(os.path.splitext(name)[0], os.path.join(folder, name))
                found[name] = os.path.join(folder, name)
        _listings[key] = found
    return _listings[key]


def image_folders(xml_path: str) -> list[str]:
    """Where a VOC file's image may be: ``JPEGImages`` (or ``images``) beside ``Annotations``, in any case
    (Kaggle's ``annotations/`` + ``images/``), or the XML's folder."""
    folder = os.path.dirname(os.path.abspath(xml_path))
    root = os.path.dirname(folder) if is_annotations_dir(folder) else folder
    found = child_dir(Path(root), IMAGE_DIRS)
    named = [os.path.join(root, d) for d in IMAGE_DIRS]
    return [*([str(found)] if found is not None and str(found) not in named else []), *named, folder]


def find_image(xml_path: str, filename: str | None) -> str | None:
    """The image of a VOC file: its ``<filename>``, else the XML file's stem, in ``image_folders`` order."""
    stem = os.path.splitext(os.path.basename(xml_path))[0]
    for folder in image_folders(xml_path):
        listing = _images_in(folder)
        for key in ((os.path.basename(filename),) if filename else ()) + (stem,):
            if key in listing:
                return listing[key]
    return None


def check_file(path: str, settings: Settings, classes: ClassList | None) -> list[Finding]:
    """``check_bytes`` on a file by its path; a file that cannot be read is CC001."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return (
            [settings.finding("CC001", path, f"cannot read: {exc.strerror or exc}")]
            if settings.on("CC001")
            else []
        )
    return check_bytes(data, path, settings, classes)


def check_bytes(data: bytes, path: str, settings: Settings, classes: ClassList | None) -> list[Finding]:
    """The findings of one VOC file, sorted: the syntax layer's scan and object checks, with the image (when
    one is found beside the file) supplying the size the boxes are checked against."""
    sink = settings.sink()
    document = scan(data, path, sink)
    if document is None:
        return sorted(sink.findings, key=Finding.sort_key)
    size = document.size
    image = find_image(path, document.filename)
    if image is not None:
        from cytoconv.engine.files import image_size
        from cytoconv.errors import FormatError

        try:
            actual: tuple[int, int] | None = image_size(image)
        except FormatError as error:
            actual = None
            sink("CC404", image, error.message)
        if actual is not None:
            check_size(document, image, actual, sink)
        size = actual or size
    if document.size is None and image is None:
        sink(
            "CC704",
            path,
            "no usable <size> and no image found: the image size is unknown (convert needs "
            "--images DIR or --image-size WxH)",
        )
    names = classes.names if classes is not None else None
    check_objects(
        document, sink, size, names, classes.source if classes is not None else None, settings.pixel_tolerance
    )
    return sorted(sink.findings, key=Finding.sort_key)


def _discover_files(root: Path, settings: Settings) -> tuple[list[str], list[Finding]]:
    """The VOC files below ``root`` (``Annotations/`` when there is one), with images and XML files paired by
    stem: an XML file without its image (CC402), an image without an XML file (CC403)."""
    from cytoconv.engine.files import is_image_name, walk_files

    xml_root = child_dir(root, ANNOTATION_DIRS) or root
    files = [f for f in walk_files(xml_root) if f.lower().endswith(".xml") and looks_like_voc(f)]
    findings: list[Finding] = []
    stems = {os.path.splitext(os.path.basename(f))[0] for f in files}
    image_dirs = {d for f in files for d in image_folders(f)[:-1] if os.path.isdir(d)} or {
        os.path.dirname(os.path.abspath(f)) for f in files
    }
    images = {
        os.path.splitext(os.path.basename(p))[0]: p
        for d in sorted(image_dirs)
        for p in walk_files(Path(d))
        if is_image_name(p)
    }
    if images:
        if settings.on("CC402"):
            findings += [
                settings.finding("CC402", f, "no image for this VOC file")
                for f in files
                if os.path.splitext(os.path.basename(f))[0] not in images
            ]
        if settings.on("CC403"):
            findings += [
                settings.finding("CC403", images[s], "no VOC file for this image")
                for s in sorted(set(images) - stems)
            ]
    return files, findings


# ---------------------------------------------------------------------------------------------
# The checker API: what ``cytoconv.validate`` calls through the registry (``FormatInfo.checker``)

TEXT = True
CLASS_LIST = "optional"  # class names are checked when a list is found; none is no finding


def claims(path: Path) -> bool:
    """A ``.xml`` file given alone is checked as Pascal VOC only when its root is ``<annotation>``."""
    return path.suffix.lower() == ".xml" and looks_like_voc(str(path))


def single(path: Path, fmt: str, settings: Settings) -> CheckTask | None:
    """A VOC file given alone."""
    return CheckTask("voc", str(path))


def discover(root: Path, fmt: str, settings: Settings) -> tuple[list[CheckTask], list[Finding]]:
    """The VOC files of a dataset folder and the pairing findings."""
    files, findings = _discover_files(root, settings)
    return [CheckTask("voc", f) for f in files], findings


def check(task: CheckTask, data: bytes | None, settings: Settings) -> list[Finding]:
    """One VOC file's findings (its class list in ``task.context``)."""
    assert data is not None
    return check_bytes(data, task.path, settings, task.context)
