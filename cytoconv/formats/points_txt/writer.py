"""points-txt output: ``labels/<split>/<stem>.txt`` per image, one ``x y class`` line per point, and a
``classes.txt`` naming the classes in order (line k is class k).

The layout is YOLO's (``labels/`` beside where ``images/`` would be, split folders as read), which this format's
reader takes back with ``--images``; the images are not copied. ``x y`` are 0-based pixel indices (the model
coordinate - 0.5): integers when the point is a pixel's centre, else the shortest decimal that reads back to the
same coordinate. Class numbers are the category ids as YOLO numbers them (id 1 is class 0, for ids 1..N).
Only points are written: a box's centre is not a cell's centre, so boxes, polygons and masks are refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cytoconv.engine.atomic import atomic_dir
from cytoconv.engine.contract import WriteOptions
from cytoconv.engine.files import safe_relative
from cytoconv.errors import FormatError, Report
from cytoconv.ir import Category, ImageRecord, Point


def format_index(coordinate: float) -> str:
    """The 0-based pixel index of a model coordinate, as written: ``594`` for 594.5; else the shortest decimal
    ``d`` for which ``float(d) + 0.5`` is the coordinate again (``0.1`` for 0.6, where ``0.6 - 0.5`` prints as
    ``0.09999999999999998``), so that reading the file back gives the same point."""
    index = coordinate - 0.5
    if index.is_integer():
        return str(int(index))
    for digits in range(1, 18):
        text = repr(round(index, digits))
        if float(text) + 0.5 == coordinate:
            return text
    return repr(index)


class PointsTxtWriter:
    """Writes ``labels/[<split>/]<stem>.txt`` per image and ``classes.txt``."""

    def __init__(
        self,
        dest: Path,
        categories: list[Category],
        image_root: str | None,
        options: WriteOptions,
        report: Report,
    ) -> None:
        self.dest = dest
        self.options = options
        self.set_categories(categories, report)
        self.tmp: Path | None = None

    def set_categories(self, categories: list[Category], report: Report | None = None) -> None:
        """The class number of each category id and the names in order (also called at the end, when the names
        were made from the ids seen). Ids 1..N (cytoconv's own numbering) or 0..N-1 (a COCO file counting from
        0) are written as their place in order, silently; gaps or another start are compacted, and said."""
        ordered = sorted(categories, key=lambda c: c.id)
        self.index: dict[int, int] | None = {c.id: i for i, c in enumerate(ordered)} if ordered else None
        self.names = [c.name for c in ordered]
        ids = [c.id for c in ordered]
        if report is not None and ids != list(range(1, len(ids) + 1)) and ids != list(range(len(ids))):
            mapping = ", ".join(f"{c.id}->{i}" for i, c in enumerate(ordered))
            report.notice("ids-compacted", f"category ids mapped to points-txt class numbers: {mapping}")

    def label_path(self, record: ImageRecord) -> str:
        """``labels/<split>/<path below the split>/<stem>.txt``: the record's path without an ``images`` folder,
        under its split (not repeated when the path starts with it), as the YOLO writer lays labels out."""
        rel = Path(safe_relative(record.file_name, record.file_name))
        parts = [p for p in rel.parent.parts if p != "images"]
        if record.split is not None:
            if parts and parts[0] == record.split:
                parts = parts[1:]
            parts = [safe_relative(record.split, record.split), *parts]
        return "/".join(["labels", *parts, rel.stem + ".txt"])

    def lines(self, record: ImageRecord) -> list[str]:
        """One ``x y class`` line per point; any other geometry, or an image-level label (class folders), is
        refused, naming the image: written as nothing, it would be lost without a word."""
        if record.label is not None and not record.instances:
            raise FormatError(
                record.file_name,
                "an image-level label (a class folder's) has no point to write to points-txt",
                code="not-a-point",
            )
        out = []
        for k, inst in enumerate(record.instances):
            g = inst.geometry
            if not isinstance(g, Point):
                raise FormatError(
                    record.file_name,
                    f"object {k + 1} is a {g.kind}, and points-txt holds points only (a {g.kind}'s centre is "
                    "not a marked cell centre: convert to a format of boxes or polygons instead)",
                    code="not-a-point",
                )
            cls = self.index.get(inst.category_id) if self.index is not None else inst.category_id - 1
            if cls is None or cls < 0:
                raise FormatError(
                    record.file_name,
                    f"category id {inst.category_id} is not among the categories",
                    code="unknown-class",
                )
            out.append(f"{format_index(g.x)} {format_index(g.y)} {cls}")
        return out

    def encode(self, record: ImageRecord, index: int, report: Report) -> str:
        """Write the record's label file, in a worker; returns its path below the output, for ``sink``."""
        text = "".join(line + "\n" for line in self.lines(record))
        rel = self.label_path(record)
        assert self.tmp is not None
        target = self.tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(target, "x", encoding="utf-8") as fh:
                fh.write(text)
        except FileExistsError:
            raise FormatError(
                rel, "two images map to this label file (same stem in one folder)", code="duplicate-stem"
            ) from None
        return rel

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:
        """The output built in a temporary folder moved into place at the end (none left on error), refusing
        two images with one label file; ``classes.txt`` is written last, when the names are final."""
        seen: set[str] = set()

        def accept(rel: str) -> None:
            """Refuse a label path an earlier image already took (workers cannot see each other's files)."""
            if rel in seen:
                raise FormatError(
                    rel, "two images map to this label file (same stem in one folder)", code="duplicate-stem"
                )
            seen.add(rel)

        with atomic_dir(self.dest, self.options.overwrite) as tmp:
            self.tmp = tmp
            (tmp / "labels").mkdir()
            yield accept
            if self.names:
                text = "".join(name + "\n" for name in self.names)
                (tmp / "classes.txt").write_text(text, encoding="utf-8")


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> PointsTxtWriter:
    """The format's ``WriterFactory``: a ``labels/`` tree of ``x y class`` files and its ``classes.txt``."""
    return PointsTxtWriter(dest, categories, image_root, options, report)
