"""ImageJ ROI set checks for ``cytoconv validate``: the set opens (a zip, CC002), each ``.roi`` entry parses
(CC003), polygons have three vertices (CC104), groups are within the class list (CC202), and objects lie in
the image when it is found by stem (CC305, points CC306). The reading is the reader's (``syntax.py``)."""

from __future__ import annotations

import os
from pathlib import Path

from cytoconv.errors import FormatError
from cytoconv.formats.imagej.syntax import CLASSES_FILE, image_stem, is_roiset, roi_sets, shapes
from cytoconv.ir import Box, Point
from cytoconv.problems.findings import CheckTask, Finding
from cytoconv.problems.settings import Settings

__all__ = ["check", "claims", "discover", "single"]

CODES = ("CC001", "CC002", "CC003", "CC104", "CC202", "CC305", "CC306", "CC404")
_SLUG = {
    "unreadable": "CC001",
    "not-well-formed": "CC002",
    "bad-structure": "CC003",
    "too-few-points": "CC104",
}

TEXT = False  # zips are binary: checked from the file, no --fix
CLASS_LIST = None  # groups are checked against the classes.txt beside the sets


def _image(source: str) -> str | None:
    from cytoconv.engine.files import is_image_name

    folder = os.path.dirname(os.path.abspath(source.rstrip("/")))
    stem = image_stem(source)
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    for name in names:
        if is_image_name(name) and os.path.splitext(name)[0] == stem:
            return os.path.join(folder, name)
    return None


def _names(source: str) -> int | None:
    from cytoconv.engine.classlists import read_names

    for folder in (os.path.dirname(os.path.abspath(source.rstrip("/"))),):
        candidate = Path(folder) / CLASSES_FILE
        if candidate.is_file():
            names, _ = read_names(candidate)
            return len(names) if names is not None else None
    return None


def check_set(path: str, settings: Settings) -> list[Finding]:
    """The findings of one ROI set, sorted."""
    sink = settings.sink()

    def on_error(error: FormatError) -> None:
        sink(_SLUG.get(error.code or "", "CC003"), path, error.message)

    try:
        found = shapes(path, on_error)
    except FormatError as error:
        on_error(error)
        return sorted(sink.findings, key=Finding.sort_key)
    size: tuple[int, int] | None = None
    image = _image(path)
    if image is not None:
        from cytoconv.engine.files import image_size

        try:
            size = image_size(image)
        except FormatError as error:
            sink("CC404", image, error.message)
    n_names = _names(path)
    tol = settings.pixel_tolerance
    for sh in found:
        where = f"ROI {sh.entry!r}"
        if sh.skipped in ("bad-structure", "too-few-points"):
            sink(_SLUG[sh.skipped], path, f"{where}: {sh.detail}")
            continue
        if n_names is not None and sh.group > n_names:
            sink("CC202", path, f"{where}: group {sh.group} is beyond the {n_names} names of {CLASSES_FILE}")
        if size is None:
            continue
        width, height = size
        for g in sh.geometries:
            if isinstance(g, Point):
                if not (0 <= g.x <= width and 0 <= g.y <= height):
                    sink("CC306", path, f"{where}: a point outside the {width}x{height} image")
                continue
            b = g if isinstance(g, Box) else g.bounds()  # type: ignore[union-attr]
            if b.x < -tol or b.y < -tol or b.x + b.w > width + tol or b.y + b.h > height + tol:
                sink("CC305", path, f"{where}: reaches outside the {width}x{height} image")
    return sorted(sink.findings, key=Finding.sort_key)


def claims(path: Path) -> bool:
    """A ``.zip`` of ``.roi`` entries, or a ``.roi`` file, given alone."""
    low = path.name.lower()
    return (low.endswith(".zip") and is_roiset(str(path))) or low.endswith(".roi")


def single(path: Path, fmt: str, settings: Settings) -> CheckTask | None:
    """A ROI set given alone (a lone .roi file is checked as its folder)."""
    return CheckTask("imagej", str(path.parent) if path.name.lower().endswith(".roi") else str(path))


def discover(root: Path, fmt: str, settings: Settings) -> tuple[list[CheckTask], list[Finding]]:
    """The ROI sets below a folder (zips and folders of .roi files)."""
    return [CheckTask("imagej", s) for s in roi_sets(root)], []


def check(task: CheckTask, data: bytes | None, settings: Settings) -> list[Finding]:
    """One ROI set's findings."""
    return check_set(task.path, settings)
