"""QuPath GeoJSON: a folder of ``<stem>.geojson`` (or ``<stem>.json``) files, one per image, paired with the
images by stem (written from the GeoJSON specification and QuPath's documented export; no QuPath code is used).

Coordinates are pixels with the origin at the image's top-left corner, the model's own: read as they are.

- Top level: a ``FeatureCollection``, a bare JSON array of ``Feature`` objects, or a single ``Feature``.
- ``Polygon``: ring 0 the shell, further rings its holes; ``MultiPolygon``: its polygons as the parts of one
  object, each with its holes. QuPath closes every ring: the repeated last vertex is dropped.
- ``Point`` and ``MultiPoint``: one point object per position, as written.
- ``LineString`` and ``MultiLineString`` have no area: not read, counted (``line-skipped``).
- A cell's ``nucleusGeometry`` becomes a second object of class ``<class>: nucleus``, after its cell, with the
  attribute ``nucleus_of`` holding the cell's ``id`` (or its feature index when it has none).
- Class: ``properties.classification`` in each shape QuPath has written (see ``syntax.class_name``);
  an object without one is of class ``unclassified``.
- Kept as attributes: ``id``, ``objectType``, ``name`` and ``measurements`` (always a map; the list of
  ``{name, value}`` of QuPath before v0.4 is turned into one).

Images: the image beside the file with its stem, or below ``--images DIR`` by relative path or stem. The size
comes from the image header, else ``--image-size``; with neither, ``no-image-size`` naming the file. Classes:
``--names``, else a ``classes.txt`` beside the files (cytoconv writes one), else the names found, sorted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cytoconv.engine.classlists import read_names
from cytoconv.engine.contract import ReadOptions, ReadPlan
from cytoconv.engine.files import image_size, is_image_name, walk_files
from cytoconv.errors import FormatError, Report, SkipUnit
from cytoconv.formats import CONTENT, Evidence
from cytoconv.formats.qupath.syntax import (
    CLASSES_FILE,
    NUCLEUS_SUFFIX,
    SUFFIXES,
    QupathObject,
    Shape,
    looks_like_qupath,
    scan,
    scan_names,
)
from cytoconv.formats.qupath.writer import writer
from cytoconv.ir import Category, ImageRecord, Instance, Point, Polygon
from cytoconv.problems.sinks import ReaderSink

__all__ = ["detect", "load", "plan", "writer"]

FATAL = ("CC001", "CC002", "CC003", "CC102", "CC104", "CC202")
PEEK_FILES = 5


def _label_files(folder: Path) -> list[str]:
    return [f for f in walk_files(folder) if f.lower().endswith(SUFFIXES)]


def detect(path: Path) -> Evidence | None:
    """``CONTENT`` for one QuPath GeoJSON file, or a folder one of whose first ``.geojson`` / ``.json`` files
    is (a peek at its first bytes: ``"type": "Feature..."``)."""
    if path.is_file():
        if path.suffix.lower() in SUFFIXES and looks_like_qupath(path):
            return Evidence(CONTENT, f"{path.name}: QuPath GeoJSON")
        return None
    if not path.is_dir():
        return None
    try:
        names = sorted(n for n in os.listdir(path) if n.lower().endswith(SUFFIXES) and not n.startswith("."))
    except OSError:
        return None
    for n in names[:PEEK_FILES]:
        if looks_like_qupath(path / n):
            return Evidence(CONTENT, f"{n}: QuPath GeoJSON, one file per image")
    return None


@dataclass
class _Context:
    ids: dict[str, int]
    names_source: str


@dataclass(frozen=True)
class QupathUnit:
    """One GeoJSON file, with its image (None: not found) and the record's file name."""

    geojson: str
    image: str | None
    file_name: str
    context: _Context = field(compare=False, repr=False)


def _images(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The images below ``folder`` by relative path without suffix and by stem (the first in sorted order)."""
    by_rel: dict[str, str] = {}
    by_stem: dict[str, str] = {}
    for f in walk_files(folder):
        if is_image_name(f):
            rel = os.path.splitext(os.path.relpath(f, folder))[0].replace(os.sep, "/")
            by_rel.setdefault(rel, f)
            by_stem.setdefault(os.path.basename(rel), f)
    return by_rel, by_stem


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """The GeoJSON files, their images and the classes (the files' class names scanned unless given)."""
    if not path.exists():
        raise FormatError(path, "no such file or folder", code="missing")
    path = path.resolve()
    top = path.parent if path.is_file() else path
    junk: list[str] = []
    files = (
        [str(path)] if path.is_file() else [f for f in walk_files(path, junk) if f.lower().endswith(SUFFIXES)]
    )
    for item in sorted(set(junk)):
        report.notice("junk-skipped", item)
    readable: list[tuple[str, list[str]]] = []
    points = False
    for f in files:
        try:
            data = Path(f).read_bytes()
        except OSError as exc:
            report.problem(FormatError(f, f"cannot read: {exc.strerror or exc}", code="unreadable"))
            continue
        scanned = scan_names(data)
        if scanned is None:  # a JSON file that is not GeoJSON (a config) beside the files
            report.notice("file-not-read", f"{f}: not QuPath GeoJSON (no Feature or FeatureCollection)")
            continue
        readable.append((f, scanned[0]))
        points = points or scanned[1]
    if not readable:
        raise FormatError(path, "no QuPath GeoJSON file found", code="missing")
    classes_file = top / CLASSES_FILE
    if options.names is not None:
        names, source = list(options.names), "--names"
    elif classes_file.is_file():
        listed, problem = read_names(classes_file)
        if listed is None:
            raise FormatError(classes_file, problem or "no class names in this file", code="bad-class-list")
        names, source = listed, str(classes_file)
    else:
        names, source = sorted({n for _, found in readable for n in found}), "the GeoJSON files"
    if len(set(names)) != len(names):
        raise FormatError(
            path, "a class name is listed twice in the class names", code="duplicate-class-name"
        )
    image_dir = options.images.resolve() if options.images is not None else None
    by_rel, by_stem = _images(image_dir) if image_dir is not None and image_dir.is_dir() else ({}, {})
    listings: dict[str, dict[str, str]] = {}
    found: list[tuple[str, str | None, str]] = []
    for f, _ in readable:
        rel = os.path.splitext(os.path.relpath(f, top))[0].replace(os.sep, "/")
        stem = os.path.basename(rel)
        if image_dir is not None:
            image = by_rel.get(rel) or by_stem.get(stem)
        else:
            folder = os.path.dirname(f)
            if folder not in listings:
                listing: dict[str, str] = {}
                for n in sorted(os.listdir(folder)):
                    if is_image_name(n):
                        listing.setdefault(os.path.splitext(n)[0], os.path.join(folder, n))
                listings[folder] = listing
            image = listings[folder].get(stem)
        found.append((f, image, rel))
    image_root = str(image_dir) if image_dir is not None else str(top)
    guessed = sum(image is None for _, image, _ in found)
    if guessed and options.image_size is not None:
        report.notice(
            "filename-guessed", f"{guessed} GeoJSON file(s) without an image: named <stem>.png", count=guessed
        )
    context = _Context({n: i + 1 for i, n in enumerate(names)}, source)
    units = [
        QupathUnit(
            f,
            image,
            os.path.relpath(image, image_root).replace(os.sep, "/") if image is not None else rel + ".png",
            context,
        )
        for f, image, rel in found
    ]
    return ReadPlan(
        categories=[Category.trusted(id=i + 1, name=n, supercategory=None) for i, n in enumerate(names)],
        units=units,
        image_root=image_root,
        info={"source": str(path), "names_given": options.names is not None},
        points=points,
    )


def _polygon(shape: Shape) -> Polygon:
    return Polygon.trusted(kind="polygon", rings=shape.rings, holes=shape.holes)


def _attributes(obj: QupathObject) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if obj.id is not None:
        attributes["id"] = obj.id
    if obj.object_type is not None:
        attributes["objectType"] = obj.object_type
    if obj.name is not None:
        attributes["name"] = obj.name
    if obj.measurements is not None:
        attributes["measurements"] = obj.measurements
    return attributes


def _size(unit: QupathUnit, options: ReadOptions, report: Report) -> tuple[int, int]:
    if unit.image is not None:
        try:
            return image_size(unit.image, options.apply_exif_orientation)
        except FormatError as error:
            report.problem(error)
            raise SkipUnit(unit.geojson) from None
    if options.image_size is not None:
        return options.image_size
    report.problem(
        FormatError(
            unit.geojson,
            "no image with this file's stem, so the image size is unknown (give --images DIR or --image-size WxH)",
            code="no-image-size",
        )
    )
    raise SkipUnit(unit.geojson)


def load(unit: QupathUnit, options: ReadOptions, report: Report) -> ImageRecord:
    """One GeoJSON file to an ``ImageRecord`` through the syntax layer ``validate`` uses: a problem of the file
    skips the image (lenient) or stops the run (strict), one of a feature skips the feature."""
    path = unit.geojson
    width, height = _size(unit, options, report)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        report.problem(FormatError(path, f"cannot read: {exc.strerror or exc}", code="unreadable"))
        raise SkipUnit(path) from None
    ids = unit.context.ids
    document = scan(data, path, ReaderSink(report, FATAL), ids=ids, names_source=unit.context.names_source)
    if document is None:
        raise SkipUnit(path)
    instances: list[Instance] = []
    lines = 0
    for obj in document.objects:
        lines += obj.lines
        attributes = _attributes(obj)
        category = ids[obj.class_name]
        shape = obj.shape
        if shape is not None and shape.rings:
            instances.append(
                Instance.trusted(
                    category_id=category,
                    geometry=_polygon(shape),
                    iscrowd=False,
                    score=None,
                    attributes=attributes,
                )
            )
        if shape is not None and shape.points is not None:
            for x, y in shape.points.tolist():
                instances.append(
                    Instance.trusted(
                        category_id=category,
                        geometry=Point.trusted(kind="point", x=x, y=y),
                        iscrowd=False,
                        score=None,
                        attributes=dict(attributes),
                    )
                )
        if obj.nucleus is not None:
            instances.append(
                Instance.trusted(
                    category_id=ids[obj.class_name + NUCLEUS_SUFFIX],
                    geometry=_polygon(obj.nucleus),
                    iscrowd=False,
                    score=None,
                    attributes={"nucleus_of": obj.id if obj.id is not None else obj.index},
                )
            )
    if lines:
        report.notice(
            "line-skipped", f"{path}: {lines} LineString geometry(ies), which have no area", count=lines
        )
    return ImageRecord.trusted(
        file_name=unit.file_name,
        width=width,
        height=height,
        split=None,
        label=None,
        instances=instances,
        attributes={},
    )
