"""CVAT for images 1.1 XML checks for ``cytoconv validate``: the file, its ``<meta>`` labels, every image and
every shape (named by image name and id, and by the shape's number in its image and the line of its tag).

The checks are the syntax layer's (``cytoconv.formats.cvat.syntax.scan``), which the reader runs too, so that
``validate`` and ``convert`` stop at the same place with the same code. Given a folder (CVAT's export:
``annotations.xml`` beside ``images/``), the images the XML names are looked for there too
(``label-without-image``), when that folder holds images at all.

Nothing here imports the dataset model: this module runs on every pre-commit call.
"""

from __future__ import annotations

import os
from pathlib import Path

from cytoconv.formats.cvat.syntax import find_xml, looks_like_cvat, scan
from cytoconv.problems.findings import CheckTask, Finding
from cytoconv.problems.settings import Settings

__all__ = ["CODES", "check", "check_bytes", "claims", "discover", "single"]

# Every rule a CVAT file can get (the docs' rule table for CVAT is built from the code literals of this module,
# docs/hooks.py, ``checks: cvat``).
CODES = ("CC001", "CC002", "CC003", "CC102", "CC104", "CC202", "CC304", "CC305", "CC306", "CC402")


def check_bytes(data: bytes, path: str, settings: Settings, images: str | None = None) -> list[Finding]:
    """The findings of one CVAT file, sorted; with ``images`` (a folder holding images), each ``<image>``
    whose file is not there is ``label-without-image``."""
    sink = settings.sink()
    document = scan(data, path, sink, tolerance=settings.pixel_tolerance)
    if document is not None and images is not None and settings.on("CC402"):
        for image in document.images:
            if image.name and not os.path.isfile(os.path.join(images, image.name)):
                sink("CC402", path, f"{image.where()}: no image {image.name!r} in {images}", line=image.line)
    return sorted(sink.findings, key=Finding.sort_key)


def _image_folder(xml: Path) -> str | None:
    from cytoconv.engine.files import is_image_name, walk_files

    for folder in (xml.parent / "images", xml.parent):
        if folder.is_dir() and any(is_image_name(f) for f in walk_files(folder)):
            return str(folder)
    return None


# ---------------------------------------------------------------------------------------------
# The checker API: what ``cytoconv.validate`` calls through the registry (``FormatInfo.checker``)

TEXT = True
CLASS_LIST = None  # the labels are the file's own <meta>


def claims(path: Path) -> bool:
    """A ``.xml`` file given alone is CVAT when its root is ``<annotations>`` with ``<version>`` and
    ``<meta>`` (a peek at its first bytes)."""
    return path.suffix.lower() == ".xml" and looks_like_cvat(path)


def single(path: Path, fmt: str, settings: Settings) -> CheckTask | None:
    """A CVAT file given alone: its content, without its images."""
    return CheckTask("cvat", str(path))


def discover(root: Path, fmt: str, settings: Settings) -> tuple[list[CheckTask], list[Finding]]:
    """The CVAT file of a folder (``annotations.xml``, or its one CVAT XML file), checked with its images."""
    xml, _ = find_xml(root)
    if xml is None:
        return [], []
    return [CheckTask("cvat", str(xml), _image_folder(xml))], []


def check(task: CheckTask, data: bytes | None, settings: Settings) -> list[Finding]:
    """One CVAT file's findings (``task.context``: the folder of its images, or None)."""
    assert data is not None
    return check_bytes(data, task.path, settings, task.context)
