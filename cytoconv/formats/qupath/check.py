"""QuPath GeoJSON checks for ``cytoconv validate``: the file, every feature (named by its 0-based index in the
file), whether its image is beside it, and whether objects reach outside that image.

The checks are the syntax layer's (``cytoconv.formats.qupath.syntax``), which the reader runs too, so that
``validate`` and ``convert`` stop at the same place with the same code; the image is found as the reader finds
it (the file's stem beside it).
"""

from __future__ import annotations

import os
from pathlib import Path

from cytoconv.engine.classlists import ClassList
from cytoconv.formats.qupath.syntax import CLASSES_FILE, SUFFIXES, looks_like_qupath, scan
from cytoconv.problems.findings import CheckTask, Finding
from cytoconv.problems.settings import Settings

__all__ = ["check", "check_bytes", "claims", "discover", "find_image", "single"]

# Every rule a QuPath file can get (the docs' rule table is built from these literals, ``checks: qupath``).
CODES = ("CC001", "CC002", "CC003", "CC004", "CC102", "CC104", "CC202", "CC305", "CC306", "CC402", "CC404")


def find_image(path: str) -> str | None:
    """The image with the GeoJSON file's stem beside it (the first in sorted order)."""
    from cytoconv.engine.files import is_image_name

    folder = os.path.dirname(os.path.abspath(path))
    stem = os.path.splitext(os.path.basename(path))[0]
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    for name in names:
        if is_image_name(name) and os.path.splitext(name)[0] == stem:
            return os.path.join(folder, name)
    return None


def check_bytes(data: bytes, path: str, settings: Settings, classes: ClassList | None) -> list[Finding]:
    """The findings of one GeoJSON file, sorted."""
    sink = settings.sink()
    ids = {n: 1 for n in classes.names} if classes is not None and classes.names is not None else None
    document = scan(data, path, sink, ids=ids, names_source=(classes.source or "") if classes else "")
    if document is None:
        return sorted(sink.findings, key=Finding.sort_key)
    if not document.objects:
        sink("CC004", path, "no objects: an image with nothing annotated")
    image = find_image(path)
    size: tuple[int, int] | None = None
    if image is None:
        sink("CC402", path, "no image with this file's stem beside it")
    else:
        from cytoconv.engine.files import image_size
        from cytoconv.errors import FormatError

        try:
            size = image_size(image)
        except FormatError as error:
            sink("CC404", image, error.message)
    if size is not None:
        width, height = size
        tol = settings.pixel_tolerance
        for obj in document.objects:
            where = f"feature {obj.index} ({obj.class_name})"
            for shape, what in ((obj.shape, ""), (obj.nucleus, " nucleus")):
                if shape is None:
                    continue
                for ring in shape.rings:
                    if (
                        ring[:, 0].min() < -tol
                        or ring[:, 1].min() < -tol
                        or ring[:, 0].max() > width + tol
                        or ring[:, 1].max() > height + tol
                    ):
                        sink("CC305", path, f"{where}{what}: reaches outside the {width}x{height} image")
                        break
                pts = shape.points
                if pts is not None and (
                    pts[:, 0].min() < 0
                    or pts[:, 1].min() < 0
                    or pts[:, 0].max() > width
                    or pts[:, 1].max() > height
                ):
                    sink("CC306", path, f"{where}: a point outside the {width}x{height} image")
    return sorted(sink.findings, key=Finding.sort_key)


TEXT = True
CLASS_LIST = "optional"  # classes are checked against a classes.txt when one is found; none is no finding


def claims(path: Path) -> bool:
    """A ``.geojson`` / ``.json`` file given alone is checked as QuPath when it is a Feature or collection."""
    return path.suffix.lower() in SUFFIXES and looks_like_qupath(path)


def single(path: Path, fmt: str, settings: Settings) -> CheckTask | None:
    """A QuPath file given alone."""
    return CheckTask("qupath", str(path))


def discover(root: Path, fmt: str, settings: Settings) -> tuple[list[CheckTask], list[Finding]]:
    """The QuPath files of a folder (any depth); pairing is checked per file (CC402)."""
    from cytoconv.engine.files import walk_files

    files = [f for f in walk_files(root) if f.lower().endswith(SUFFIXES) and looks_like_qupath(f)]
    return [CheckTask("qupath", f) for f in files], []


_classes: dict[str, ClassList | None] = {}


def classes_near(path: str) -> ClassList | None:
    """The ``classes.txt`` the reader would number classes by (in the file's folder), nucleus classes
    allowed; read once per folder and process."""
    from cytoconv.engine.classlists import read_names

    folder = os.path.dirname(os.path.abspath(path))
    if folder not in _classes:
        candidate = Path(folder) / CLASSES_FILE
        found: ClassList | None = None
        if candidate.is_file():
            names, problem = read_names(candidate)
            found = ClassList(tuple(names) if names is not None else None, str(candidate), problem)
        _classes[folder] = found
    return _classes[folder]


def check(task: CheckTask, data: bytes | None, settings: Settings) -> list[Finding]:
    """One QuPath file's findings, against the class list found for it (``task.context``), else the
    ``classes.txt`` beside it."""
    assert data is not None
    classes = task.context if task.context is not None else classes_near(task.path)
    if classes is not None and (classes.problem is not None or classes.names is None):
        classes = None
    return check_bytes(data, task.path, settings, classes)
