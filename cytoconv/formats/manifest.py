"""A manifest: one row per image with its image-level label, as CSV or JSON (chosen by the file's suffix).

- ``.csv``: a header, then ``file,label,width,height`` and a ``split`` column when any image has a split.
  ``label`` is the class *name* (empty: no label). Read back, the columns may be in any order and ``file``
  may be called ``file_name``, ``filename``, ``path`` or ``image``; ``label`` may be ``class``; ``width``,
  ``height`` and ``split`` are optional (without sizes, the images' headers are read).
- ``.json`` (any other suffix too): ``{"info", "image_root", "images": [{"id", "file_name", "label", "width",
  "height"[, "split"]}], "categories": [{"id", "name"}]}``, the COCO-like shape other tools read; ``label``
  is a category *id* (``null``: no label).

File names are relative to the dataset's image root (the class-folder root for ``folders``). Reading, the
images are looked for under ``--images``, else the JSON's ``image_root`` when it exists, else the manifest's
folder. CSV class ids are 1..N in sorted name order unless ``--names`` gives the order.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from cytoconv.engine.atomic import atomic_file
from cytoconv.engine.contract import ReadOptions, ReadPlan, WriteOptions
from cytoconv.engine.files import image_size, read_text
from cytoconv.errors import FormatError, Report, SkipUnit
from cytoconv.ir import Category, ImageRecord

FORMAT_MARK = "cytoconv-manifest"
FILE_COLUMNS = ("file", "file_name", "filename", "path", "image")
LABEL_COLUMNS = ("label", "class", "class_name")
POINT_COLUMNS = frozenset({"x", "y", "cx", "cy", "nucleus_x", "nucleus_y"})  # a points CSV, not image labels


class ManifestUnit(NamedTuple):
    """One manifest row: the image's name and label, its size when the manifest gives it, its split, the image
    file, and ``where`` for messages."""

    file_name: str
    label: int | None
    width: int | None
    height: int | None
    split: str | None
    image: str
    where: str  # manifest path and line, for messages


def is_csv(path: Path) -> bool:
    """Whether a manifest is the CSV/TSV kind (else JSON), by its extension."""
    return path.suffix.lower() in (".csv", ".tsv")


# ---------------------------------------------------------------------------------------------
# Reading


def detect(path: Path) -> bool:
    """A CSV whose header has a file and a label column, or a JSON file of images with labels and no
    annotations; reads the first 16 KiB only."""
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 14)
    except OSError:
        return False
    if is_csv(path):
        first = head.split(b"\n", 1)[0].decode("utf-8", "replace").lower()
        columns = {c.strip().strip('"') for c in first.split(",")}
        wanted = bool(columns & set(FILE_COLUMNS)) and bool(columns & set(LABEL_COLUMNS))
        return wanted and not columns & POINT_COLUMNS
    return (
        path.suffix.lower() == ".json"
        and b'"images"' in head
        and b'"label"' in head
        and b'"annotations"' not in head
    )


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            return None
        value = int(value)
    return value if isinstance(value, int) and value > 0 else None


def _read_csv(path: Path, options: ReadOptions, report: Report) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Rows ``(file, label name, width, height, split, line)`` and the class names in id order."""
    text = read_text(path)
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter="\t" if path.suffix.lower() == ".tsv" else ","
    )
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise FormatError(path, "empty manifest", code="bad-manifest") from None
    col = {name: header.index(name) for name in header if name}
    file_col = next((col[c] for c in FILE_COLUMNS if c in col), None)
    label_col = next((col[c] for c in LABEL_COLUMNS if c in col), None)
    if file_col is None or label_col is None:
        raise FormatError(
            path, f"the header needs a file and a label column, got {header}", line=1, code="bad-manifest"
        )
    rows: list[tuple[Any, ...]] = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            report.problem(
                FormatError(
                    path, f"{len(row)} columns, the header has {len(header)}", line=line, code="bad-row"
                )
            )
            continue

        def cell(name: str, row: list[str] = row) -> str | None:
            """The row's stripped value in column ``name``, None when the manifest has no such column (``row``
            bound now, not when called)."""
            return row[col[name]].strip() if name in col else None

        width, height = cell("width"), cell("height")
        w, h = _positive_int(width), _positive_int(height)
        if (width and w is None) or (height and h is None):
            report.problem(
                FormatError(
                    path,
                    f"width/height must be positive integers, got {width!r}, {height!r}",
                    line=line,
                    code="bad-row",
                )
            )
            continue
        rows.append(
            (row[file_col].strip(), row[label_col].strip() or None, w, h, cell("split") or None, line)
        )
    if options.names is not None:
        names = list(options.names)
    else:
        names = sorted({r[1] for r in rows if r[1] is not None})
    return rows, names


def _read_json(path: Path, report: Report) -> tuple[list[tuple[Any, ...]], list[Category], str | None]:
    from cytoconv.formats.coco.reader import load_json

    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise FormatError(path, "a JSON manifest needs an 'images' list", code="bad-manifest")
    categories = []
    for k, cat in enumerate(data.get("categories") or []):
        if not (
            isinstance(cat, dict) and isinstance(cat.get("id"), int) and isinstance(cat.get("name"), str)
        ):
            raise FormatError(path, f"category {k}: needs an integer 'id' and a 'name'", code="bad-manifest")
        categories.append(Category.trusted(id=cat["id"], name=cat["name"], supercategory=None))
    rows: list[tuple[Any, ...]] = []
    for k, image in enumerate(data["images"]):
        if not isinstance(image, dict) or not isinstance(image.get("file_name"), str):
            report.problem(FormatError(path, f"image {k}: needs a 'file_name'", code="bad-row"))
            continue
        label = image.get("label")
        if label is not None and (not isinstance(label, int) or isinstance(label, bool)):
            report.problem(
                FormatError(
                    path, f"image {k} ({image['file_name']}): 'label' must be a category id", code="bad-row"
                )
            )
            continue
        split = image.get("split")
        rows.append(
            (
                image["file_name"],
                label,
                _positive_int(image.get("width")),
                _positive_int(image.get("height")),
                split if isinstance(split, str) else None,
                None,
            )
        )
    root = data.get("image_root")
    return rows, categories, root if isinstance(root, str) else None


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """The manifest read whole: categories from its class names, one unit per row with a known label, and the
    image root from --images, the manifest or its folder."""
    if not path.is_file():
        raise FormatError(path, "no such manifest file", code="missing")
    path = path.resolve()
    if is_csv(path):
        rows, names = _read_csv(path, options, report)
        categories = [Category.trusted(id=i + 1, name=n, supercategory=None) for i, n in enumerate(names)]
        stored_root = None
    else:
        rows, categories, stored_root = _read_json(path, report)
    if len({c.name for c in categories}) != len(categories):
        raise FormatError(path, "a class name appears twice", code="duplicate-class-name")
    if options.images is not None:
        image_root = str(options.images.resolve())
    elif stored_root is not None and os.path.isdir(stored_root):
        image_root = stored_root
    else:
        image_root = str(path.parent)
    by_name = {c.name: c.id for c in categories}
    known_ids = set(by_name.values())
    units = []
    for file_name, label, width, height, split, line in rows:
        where = f"{path}:{line}" if line else str(path)
        if isinstance(label, str):
            label_id = by_name.get(label)
            if label_id is None:
                report.problem(
                    FormatError(
                        path, f"class {label!r} is not among the class names", line=line, code="unknown-class"
                    )
                )
                continue
            label = label_id
        elif label is not None and label not in known_ids:
            report.problem(
                FormatError(
                    path, f"{file_name}: label {label} is not a category id", line=line, code="unknown-class"
                )
            )
            continue
        units.append(
            ManifestUnit(file_name, label, width, height, split, os.path.join(image_root, file_name), where)
        )
    return ReadPlan(categories=categories, units=units, image_root=image_root, info={"source": str(path)})


def load(unit: ManifestUnit, options: ReadOptions, report: Report) -> ImageRecord:
    """The row's record: its size from the manifest, else from the image file (a missing or unreadable image
    then skips the row)."""
    width, height = unit.width, unit.height
    if width is None or height is None:
        try:
            width, height = image_size(unit.image, options.apply_exif_orientation)
        except FormatError as error:
            report.problem(
                FormatError(
                    unit.where, f"no width/height given and {error.message} ({unit.image})", code=error.code
                )
            )
            raise SkipUnit(str(error)) from None
    return ImageRecord.trusted(
        file_name=unit.file_name,
        width=width,
        height=height,
        split=unit.split,
        label=unit.label,
        instances=[],
        attributes={},
    )


# ---------------------------------------------------------------------------------------------
# Writing


class ManifestWriter:
    """CSV rows or JSON image entries, one per image, in dataset order."""

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
        self.image_root = image_root
        self.csv = is_csv(dest)
        self.set_categories(categories)

    def set_categories(self, categories: list[Category]) -> None:
        """Keep the final categories and their names (the JSON manifest lists the categories after the
        images)."""
        self.categories = categories
        self.names = {c.id: c.name for c in categories}

    def encode(self, record: ImageRecord, index: int, report: Report) -> Any:
        """One record as a CSV row (label by name) or a JSON entry; an image without a label is kept, written
        empty and noticed."""
        if record.label is None:
            report.notice("no-label", f"{record.file_name}: no image-level label (written empty)")
        if self.csv:
            label = "" if record.label is None else self.names.get(record.label, f"class_{record.label - 1}")
            return record.file_name, label, record.width, record.height, record.split
        import orjson

        entry: dict[str, Any] = {
            "id": index + 1,
            "file_name": record.file_name,
            "label": record.label,
            "width": record.width,
            "height": record.height,
        }
        if record.split is not None:
            entry["split"] = record.split
        return orjson.dumps(entry)

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:
        """Write the manifest atomically: JSON entries streamed as they come, CSV rows at the end (with a
        split column only if some image has a split)."""
        if self.csv:
            with self._csv_sink() as accept:
                yield accept
            return
        import orjson

        from cytoconv._version import __version__

        with atomic_file(self.dest, self.options.overwrite) as fh:
            info = {"description": f"written by cytoconv {__version__}", "format": FORMAT_MARK}
            fh.write(
                b'{"info":'
                + orjson.dumps(info)
                + b',"image_root":'
                + orjson.dumps(self.image_root)
                + b',"images":['
            )
            first = [True]

            def accept(entry: bytes) -> None:
                """Append one image entry to the JSON array, with a comma before all but the first."""
                fh.write(entry if first[0] else b"," + entry)
                first[0] = False

            yield accept
            categories = [{"id": c.id, "name": c.name} for c in self.categories]
            fh.write(b'],"categories":' + orjson.dumps(categories) + b"}\n")

    @contextmanager
    def _csv_sink(self) -> Iterator[Callable[[Any], None]]:
        rows: list[tuple[str, str, int, int, str | None]] = []
        with atomic_file(self.dest, self.options.overwrite) as fh:
            yield rows.append
            with_split = any(r[4] is not None for r in rows)
            text = io.StringIO(newline="")
            out = csv.writer(text, lineterminator="\n")
            out.writerow(["file", "label", "width", "height", *(["split"] if with_split else [])])
            out.writerows(r if with_split else r[:4] for r in rows)
            fh.write(text.getvalue().encode("utf-8"))


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> ManifestWriter:
    """The format's ``WriterFactory``: a CSV or JSON manifest of image-level labels, by the destination's
    extension."""
    return ManifestWriter(dest, categories, image_root, options, report)
