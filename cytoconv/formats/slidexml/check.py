"""Aperio ImageScope and ASAP XML checks for ``cytoconv validate`` (one checker for both registry entries): the
file (XML, DTDs refused, the root), every shape (named by its annotation and region), class names against a class
list, and vertices against the image's size when the image is found (its stem, beside the XML file or in a folder
beside the XML file's folder, as the reader looks for it).

The checks are the syntax layer's (``cytoconv.formats.slidexml.syntax``), which the readers run too, so that
``validate`` and ``convert`` stop at the same place with the same code. A file given alone is claimed by its
root: ``<Annotations>`` with ``<Annotation><Regions>`` (or ``MicronsPerPixel``) is Aperio, ``<ASAP_Annotations>``
ASAP.
"""

from __future__ import annotations

import os
from pathlib import Path

from cytoconv.engine.classlists import ClassList
from cytoconv.formats.slidexml.syntax import outside, scan, sniff
from cytoconv.problems.findings import CheckTask, Finding
from cytoconv.problems.settings import Settings

__all__ = ["check", "check_bytes", "claims", "discover", "find_image", "single"]

# Every rule a slide XML file can get (the docs' rule table is built from these literals, ``checks: slidexml``).
CODES = ("CC001", "CC002", "CC003", "CC104", "CC202", "CC305", "CC306", "CC402", "CC404")

TEXT = True
CLASS_LIST = "optional"  # class names are checked when a list is found; none is no finding


def image_folders(xml_path: str) -> list[str]:
    """Where the image of a slide XML file may be: its own folder, then the folders beside it (MoNuSeg:
    ``Annotations/`` beside ``Tissue Images/``)."""
    folder = os.path.dirname(os.path.abspath(xml_path))
    parent = os.path.dirname(folder)
    try:
        siblings = sorted(e.path for e in os.scandir(parent) if e.is_dir() and not e.name.startswith("."))
    except OSError:
        siblings = []
    return [folder, *(s for s in siblings if os.path.abspath(s) != folder)]


def find_image(xml_path: str) -> str | None:
    """The image with the XML file's stem, in ``image_folders`` order."""
    from cytoconv.engine.files import is_image_name

    stem = os.path.splitext(os.path.basename(xml_path))[0]
    for folder in image_folders(xml_path):
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            if is_image_name(name) and os.path.splitext(name)[0] == stem:
                return os.path.join(folder, name)
    return None


def check_bytes(
    data: bytes, path: str, settings: Settings, classes: ClassList | None, dialect: str | None = None
) -> list[Finding]:
    """The findings of one Aperio or ASAP file, sorted."""
    sink = settings.sink()
    doc = scan(data, path, sink, dialect)
    if doc is None:
        return sorted(sink.findings, key=Finding.sort_key)
    if classes is not None and classes.names is not None and sink.wants("CC202"):
        for shape in doc.shapes:
            if shape.ok and shape.name not in classes.names:
                sink(
                    "CC202",
                    path,
                    f"{shape.where}: class {shape.name!r} is not in {classes.source or 'the class list'}",
                    line=shape.line,
                    object_index=shape.index,
                )
    image = find_image(path)
    if image is None:
        if sink.wants("CC402"):
            sink("CC402", path, "no image with this file's stem: vertices not checked against the image")
        return sorted(sink.findings, key=Finding.sort_key)
    from cytoconv.engine.files import image_size
    from cytoconv.errors import FormatError

    try:
        size = image_size(image)
    except FormatError as error:
        sink("CC404", image, error.message)
        return sorted(sink.findings, key=Finding.sort_key)
    for shape in doc.shapes:
        off = outside(shape, size, settings.pixel_tolerance) if shape.ok else None
        if off is not None and off[0] > settings.pixel_tolerance:
            code = "CC305" if shape.kind == "polygon" else "CC306"
            if sink.wants(code):
                sink(
                    code,
                    path,
                    f"{shape.where}: a vertex lies {off[0]:g} px outside the {size[0]}x{size[1]} image",
                    line=shape.line,
                    object_index=shape.index,
                )
    return sorted(sink.findings, key=Finding.sort_key)


def claims(path: Path) -> bool:
    """A ``.xml`` file given alone is checked here when its root is Aperio's or ASAP's."""
    return path.suffix.lower() == ".xml" and sniff(str(path)) is not None


def single(path: Path, fmt: str, settings: Settings) -> CheckTask | None:
    """A file given alone, checked as the dialect its root says (the first claimer is ``aperio`` for both)."""
    return CheckTask(sniff(str(path)) or fmt, str(path))


def discover(root: Path, fmt: str, settings: Settings) -> tuple[list[CheckTask], list[Finding]]:
    """The files of ``fmt`` below ``root`` (the readers' ``.xml`` files of that dialect)."""
    from cytoconv.engine.files import walk_files

    files = [f for f in walk_files(root) if f.lower().endswith(".xml") and sniff(f) == fmt]
    return [CheckTask(fmt, f) for f in files], []


def check(task: CheckTask, data: bytes | None, settings: Settings) -> list[Finding]:
    """One file's findings (its class list in ``task.context``)."""
    assert data is not None
    return check_bytes(data, task.path, settings, task.context, task.fmt)
