"""points-csv checks for ``cytoconv validate``: a points CSV's findings (from ``syntax.scan``, the parser the
reader uses too) and, for a dataset folder, the points against the images found below it.

What is checked: the layout (CRIC's header or ``file,x,y,class``; ``missing-column`` otherwise), every row
(``malformed-line``, ``non-finite``, ``bad-class-id``, ``unknown-class``: classes outside the ``names`` setting,
or for CRIC outside the six Bethesda classes), exact duplicates (``duplicate-object``: the same point and class
twice in one image; ``--fix`` drops a row that repeats another whole), CRIC's image id / file name
disagreement (``id-filename-mismatch``, a warning). Given a folder (the CSV beside its images), also: each
point inside its image (``point-outside-image``, the image's size from its header), rows whose image is not
there (``label-without-image``), images no row names in the folders of the images rows do name
(``image-without-label``), unreadable images (``bad-image``). A CSV given alone (as pre-commit passes it) is checked without its images, except that a
point before the first pixel is outside any image.

Nothing here imports the dataset model: this module runs on every pre-commit call.
"""

from __future__ import annotations

import os
from pathlib import Path

from cytoconv.formats.points_csv import syntax
from cytoconv.problems.findings import CheckTask, Finding
from cytoconv.problems.settings import FindingSink, Settings

TEXT = True  # checked from its bytes, so --fix applies (exact duplicate rows)
CLASS_LIST = None  # class names come from the names setting (or CRIC's Bethesda classes), not a class list


def check_bytes(data: bytes, path: str, settings: Settings, images: str | None = None) -> list[Finding]:
    """Every finding of one points CSV, from the scan the reader uses; with ``images`` (the folder its images
    are in), the points against the images too."""
    sink = settings.sink()
    table = syntax.scan(
        data, path, sink, names=settings.names, names_source=settings.names_source or "the names setting"
    )
    if table is not None and images is not None:
        _against_images(table, path, Path(images), settings, sink)
    return sorted(sink.findings, key=Finding.sort_key)


def _against_images(
    table: syntax.Table, path: str, root: Path, settings: Settings, sink: FindingSink
) -> None:
    """Pair the rows with the images below ``root`` by file name, as the reader does: checked only where there
    are images (a repository that keeps the CSV without its images is not flagged row by row)."""
    from cytoconv.engine.files import image_size
    from cytoconv.errors import FormatError

    index = syntax.ImageIndex(root)
    if not index.by_path:
        return
    named: set[str] = set()
    for name, rows in table.groups().items():
        image, candidates = index.find(name)
        if image is None:
            if settings.on("CC402"):
                why = (
                    f"{len(candidates)} images of this name below {root} ({candidates[0]}, {candidates[1]})"
                    if candidates
                    else f"no image of this name below {root}"
                )
                sink("CC402", path, f"{name}: {why}", line=table.lines[rows[0]])
            continue
        named.add(image)
        if not settings.on("CC306"):
            continue
        try:
            width, height = image_size(image)
        except FormatError as error:
            if settings.on("CC404"):
                sink("CC404", image, error.message)
            continue
        base = table.layout.base
        for k in rows:
            if syntax.outside(table.xs[k], table.ys[k], base, width, height):
                message = syntax.outside_message(table.layout, name, table.xs[k], table.ys[k], width, height)
                sink("CC306", path, message, line=table.lines[k])
    if settings.on("CC403"):
        folders = {os.path.dirname(image) for image in named}  # the reader's rule: the named images' folders
        for image in index.all():
            if image not in named and os.path.dirname(image) in folders:
                sink("CC403", image, f"no row of {Path(path).name} names this image")


# ---------------------------------------------------------------------------------------------
# The checker API: what ``cytoconv.validate`` calls through the registry (``FormatInfo.checker``)


def claims(path: Path) -> bool:
    """A file given alone is a points CSV when it is a ``.csv`` whose header is CRIC's or ``file,x,y,class``
    (a peek at its first line): other CSVs are skipped, not flagged."""
    return path.suffix.lower() == ".csv" and syntax.header_kind(syntax.peek_header(path) or []) is not None


def single(path: Path, fmt: str, settings: Settings) -> CheckTask | None:
    """A CSV given alone (or routed here by ``--from points-csv``): its content, without its images."""
    return CheckTask("points-csv", str(path))


def discover(root: Path, fmt: str, settings: Settings) -> tuple[list[CheckTask], list[Finding]]:
    """The points CSVs directly in ``root``, each checked against the images below ``root``; none is a
    ``missing-column`` finding for the folder (nothing here is a points CSV)."""
    found = syntax.points_csvs(root)
    if not found:
        finding = settings.finding(
            "CC805", str(root), "no CSV with CRIC's header or file,x,y,class in this folder"
        )
        return [], [finding] if settings.on("CC805") else []
    return [CheckTask("points-csv", str(p), str(root)) for p in found], []


def check(task: CheckTask, data: bytes | None, settings: Settings) -> list[Finding]:
    """One points CSV's findings (the images' folder in ``task.context``, for a dataset folder)."""
    assert data is not None
    return check_bytes(data, task.path, settings, task.context)
