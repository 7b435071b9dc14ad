"""LabelMe checks for ``cytoconv validate``: the file and every shape (named by its place in ``shapes``), its
declared size against the image (or ``imageData``), and which JSON files of a folder have no image.

The checks are the syntax layer's (``cytoconv.formats.labelme.syntax``), which the reader runs too, so that
``validate`` and ``convert`` stop at the same place with the same code; the image is found as the reader finds
it (``imagePath`` relative to the JSON file's folder, else an image with the file's stem beside it).
"""

from __future__ import annotations

import os
from pathlib import Path

from cytoconv.engine.classlists import ClassList
from cytoconv.formats.labelme.syntax import (
    IGNORED_LABELS,
    LABELS_FILE,
    LINE_TYPES,
    image_data_size,
    looks_like_labelme,
    scan,
)
from cytoconv.problems.findings import CheckTask, Finding
from cytoconv.problems.settings import Settings

__all__ = ["check", "check_bytes", "claims", "discover", "find_image", "single"]

# Every rule a LabelMe file can get (the docs' rule table is built from these literals, ``checks: labelme``).
CODES = ("CC001", "CC002", "CC003", "CC104", "CC202", "CC305", "CC402", "CC404", "CC405")


def find_image(json_path: str, image_path: str | None) -> str | None:
    """The image of a LabelMe file: ``imagePath`` relative to its folder, else its stem beside it."""
    folder = os.path.dirname(os.path.abspath(json_path))
    if image_path:
        candidate = os.path.normpath(os.path.join(folder, image_path.replace("\\", "/")))
        if os.path.isfile(candidate):
            return candidate
    from cytoconv.engine.files import is_image_name

    stem = os.path.splitext(os.path.basename(json_path))[0]
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    for name in names:
        if is_image_name(name) and os.path.splitext(name)[0] == stem:
            return os.path.join(folder, name)
    return None


def check_bytes(data: bytes, path: str, settings: Settings, classes: ClassList | None) -> list[Finding]:
    """The findings of one LabelMe file, sorted."""
    sink = settings.sink()
    names = classes.names if classes is not None else None
    doc = scan(data, path, sink, names, (classes.source or "") if classes is not None else "")
    if doc is None:
        return sorted(sink.findings, key=Finding.sort_key)
    declared = (doc.width, doc.height)
    image = find_image(path, doc.image_path)
    actual: tuple[int, int] | None = None
    what = ""
    if image is not None:
        from cytoconv.engine.files import image_size
        from cytoconv.errors import FormatError

        try:
            actual, what = image_size(image), image
        except FormatError as error:
            sink("CC404", image, error.message)
    else:
        sink("CC402", path, f"no image for this LabelMe file (imagePath {doc.image_path!r})")
        if doc.image_data is not None:
            actual, what = image_data_size(doc.image_data), "imageData"
            if actual is None:
                sink("CC003", path, "imageData is not a base64 image")
    if actual is not None and actual != declared:
        sink(
            "CC405",
            path,
            f"imageWidth x imageHeight is {declared[0]}x{declared[1]}, {what} is {actual[0]}x{actual[1]}",
        )
    width, height = actual or declared
    tol = settings.pixel_tolerance
    for shape in doc.shapes:
        if not shape.ok or shape.shape_type in LINE_TYPES:
            continue
        where = f"shapes[{shape.index}] ({shape.label})"
        pts = shape.points
        if shape.shape_type == "circle":
            continue
        reach = 1 if shape.shape_type == "mask" else 0  # a mask's points are its last pixel, not its edge
        if (
            pts[:, 0].min() < -tol
            or pts[:, 1].min() < -tol
            or pts[:, 0].max() + reach > width + tol
            or pts[:, 1].max() + reach > height + tol
        ):
            sink("CC305", path, f"{where}: reaches outside the {width}x{height} image")
    return sorted(sink.findings, key=Finding.sort_key)


TEXT = True
CLASS_LIST = "optional"  # labels are checked against a class list when one is found; none is no finding


def claims(path: Path) -> bool:
    """A ``.json`` file given alone is checked as LabelMe when it is a LabelMe object (COCO files are not)."""
    return path.suffix.lower() == ".json" and looks_like_labelme(path)


def single(path: Path, fmt: str, settings: Settings) -> CheckTask | None:
    """A LabelMe file given alone."""
    return CheckTask("labelme", str(path))


def discover(root: Path, fmt: str, settings: Settings) -> tuple[list[CheckTask], list[Finding]]:
    """The LabelMe files of a folder (any depth); pairing is checked per file (CC402)."""
    from cytoconv.engine.files import walk_files

    files = [f for f in walk_files(root) if f.lower().endswith(".json") and looks_like_labelme(f)]
    return [CheckTask("labelme", f) for f in files], []


_labels: dict[str, ClassList | None] = {}


def labels_near(json_path: str) -> ClassList | None:
    """The ``labels.txt`` the reader would number classes by: in the JSON file's folder or the one above it
    (``ann/`` below the dataset root); ``__ignore__`` and ``_background_`` are not classes. Read once per
    folder and process."""
    from cytoconv.engine.classlists import read_names

    folder = os.path.dirname(os.path.abspath(json_path))
    if folder not in _labels:
        found: ClassList | None = None
        for where in (folder, os.path.dirname(folder)):
            candidate = Path(where) / LABELS_FILE
            if candidate.is_file():
                names, problem = read_names(candidate)
                kept = tuple(n for n in names if n not in IGNORED_LABELS) if names is not None else None
                found = ClassList(kept, str(candidate), problem)
                break
        _labels[folder] = found
    return _labels[folder]


def check(task: CheckTask, data: bytes | None, settings: Settings) -> list[Finding]:
    """One LabelMe file's findings: against the class list found for it (``task.context``), else the
    ``labels.txt`` beside it or one folder up."""
    assert data is not None
    classes = task.context if task.context is not None else labels_near(task.path)
    if classes is not None and classes.problem is not None:
        classes = None
    return check_bytes(data, task.path, settings, classes)
