"""The reader both slide XML formats share (``aperio.py`` and ``asap.py`` name their dialect): a folder of
``<stem>.xml``, one per image, paired with the images by stem.

Images are looked for, by stem, below ``--images DIR`` when given, else beside the XML files and in the folders
beside the XML files' folder (MoNuSeg ships ``Annotations/*.xml`` beside ``Tissue Images/*.tif``). The size is
the image header's; without an image, ``--image-size WxH``; without either the file is CC704 (no-image-size).

Coordinates are read as they are (pixels of the full-resolution image, origin at its top-left corner: the
model's own). A vertex outside the image by at most ``--tolerance`` (a fraction of the image's larger side,
1% by default) is clipped to the image, counted (``clipped``); one farther out makes the shape
``outside-image`` (lenient: the shape is skipped; strict: the run stops). Consecutive repeated vertices are
dropped and counted (``duplicate-vertex``); a ring that repeats its first vertex at the end reads as one that
does not.

Aperio: regions are read in file order, or in the order of their ``Id``s when those are integers unique
across the file (as cytoconv writes them: one ``<Annotation>`` per class, objects numbered across classes). A
``NegativeROA="1"`` region is a hole of the nearest region before it (in file order) whose outline
holds the hole's first vertex, else of any later one that does; a negative region inside no region is not read,
counted (``element-ignored``). ``MicronsPerPixel`` is kept as the image attribute ``microns_per_pixel``.
ASAP: ``Polygon`` and ``Rectangle`` are polygons of their coordinates (sorted by ``Order``), ``Spline`` the
polygon of its control points (counted, ``spline-as-polygon``), ``Dot`` a point, ``PointSet`` one point per
coordinate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cytoconv.engine.contract import ReadOptions, ReadPlan
from cytoconv.engine.files import image_size, is_image_name, walk_files
from cytoconv.errors import FormatError, Report, SkipUnit
from cytoconv.formats import CONTENT, LAYOUT, Evidence
from cytoconv.formats.slidexml.syntax import APERIO, Shape, SlideDocument, outside, scan, sniff, tolerance_px
from cytoconv.ir import Category, Geometry, ImageRecord, Instance, Point, Polygon
from cytoconv.problems.sinks import ReaderSink

FATAL = ("CC002", "CC003", "CC104", "CC202")
PEEK_FILES = 5
TOP_FOLDERS = 8
TITLES = {APERIO: "Aperio ImageScope XML", "asap": "ASAP XML"}


def _xml_files(folder: str) -> tuple[list[str], list[str]]:
    """A folder's ``.xml`` files and its sub-folders, sorted (one listing)."""
    try:
        with os.scandir(folder) as entries:
            listed = sorted((e.name, e.is_dir()) for e in entries if not e.name.startswith("."))
    except OSError:
        return [], []
    files = [os.path.join(folder, n) for n, d in listed if not d and n.lower().endswith(".xml")]
    return files, [os.path.join(folder, n) for n, d in listed if d]


def detect(path: Path, dialect: str) -> Evidence | None:
    """``CONTENT`` for one file of the dialect or a folder whose first XML files are; ``LAYOUT`` for a folder
    one of whose first ``TOP_FOLDERS`` sub-folders holds them (MoNuSeg's ``Annotations/`` beside
    ``Tissue Images/``). Cheap: a few listings and at most ``PEEK_FILES`` peeks of 4 KiB."""
    title = TITLES[dialect]
    if path.is_file():
        if path.suffix.lower() == ".xml" and sniff(path) == dialect:
            return Evidence(CONTENT, f"{path.name}: an {title} file")
        return None
    if not path.is_dir():
        return None
    files, folders = _xml_files(str(path))
    strength = CONTENT
    if not files:
        strength = LAYOUT
        for sub in folders[:TOP_FOLDERS]:
            files.extend(_xml_files(sub)[0][:PEEK_FILES])
    for f in files[:PEEK_FILES]:
        found = sniff(f)
        if found == dialect:
            return Evidence(strength, f"{os.path.relpath(f, path)}: {title}, one file per image")
        if found is not None:
            return None
    return None


@dataclass
class _Context:
    """What every unit of one read shares."""

    dialect: str
    ids: dict[str, int]
    names_source: str


@dataclass(frozen=True)
class SlideUnit:
    """One XML file, with its image (None: not found) and the record's file name."""

    xml: str
    image: str | None
    file_name: str
    context: _Context = field(compare=False, repr=False)


def _index(folders: list[str]) -> dict[str, str]:
    """Images by stem below the folders, the first in folder then sorted order winning."""
    by_stem: dict[str, str] = {}
    for folder in folders:
        for f in walk_files(Path(folder)):
            if is_image_name(f):
                by_stem.setdefault(os.path.splitext(os.path.basename(f))[0], f)
    return by_stem


def plan(path: Path, options: ReadOptions, report: Report, dialect: str) -> ReadPlan:
    """The XML files (parsed here for their class names), their images and the categories."""
    if not path.exists():
        raise FormatError(path, "no such file or folder", code="missing")
    path = path.resolve()
    junk: list[str] = []
    if path.is_file():
        files = [str(path)]
    else:
        files = []
        for f in walk_files(path, junk):
            if not f.lower().endswith(".xml"):
                continue
            seen = sniff(f)
            if seen is None or seen == dialect:  # not recognised: parsed, so that what is wrong is said
                files.append(f)
            else:
                report.notice("file-not-read", f"{f}: a {TITLES[seen]} file, not {TITLES[dialect]}")
    for item in sorted(set(junk)):
        report.notice("junk-skipped", item)
    if not files:
        raise FormatError(path, f"no {TITLES[dialect]} file found", code="missing")
    names_seen: dict[str, None] = {}
    points = False
    readable = []
    sink = ReaderSink(report, ("CC002", "CC003"))
    for f in files:
        try:
            data = Path(f).read_bytes()
        except OSError as exc:
            report.problem(FormatError(f, f"cannot read: {exc.strerror or exc}", code="unreadable"))
            continue
        doc = scan(data, f, _FileLevel(sink), dialect)
        if doc is None:
            continue
        names_seen.update(dict.fromkeys(doc.names))
        points = points or any(s.kind != "polygon" for s in doc.shapes)
        readable.append(f)
    if options.names is not None:
        names, source = list(options.names), "--names"
    else:
        names, source = list(names_seen), "the XML files"
    if len(set(names)) != len(names):
        raise FormatError(
            path, "a class name is listed twice in the class names", code="duplicate-class-name"
        )
    if options.images is not None:
        folders = [str(options.images.resolve())]
    else:
        xml_dirs = sorted({os.path.dirname(f) for f in readable})
        folders = [*xml_dirs]
        for d in xml_dirs:
            parent = os.path.dirname(d)
            _, siblings = _xml_files(parent)
            folders.extend(s for s in siblings if s not in folders and not os.path.samefile(s, d))
    by_stem = _index([f for f in folders if os.path.isdir(f)])
    found = []
    for f in readable:
        stem = os.path.splitext(os.path.basename(f))[0]
        image = by_stem.get(stem)
        found.append((f, image, image or os.path.join(os.path.dirname(f), stem + ".tif")))
    image_root = (
        str(options.images.resolve())
        if options.images is not None
        else os.path.commonpath([os.path.dirname(t) for _, _, t in found])
        if found
        else str(path)
    )
    context = _Context(dialect, {n: i + 1 for i, n in enumerate(names)}, source)
    units = [
        SlideUnit(f, image, os.path.relpath(target, image_root).replace(os.sep, "/"), context)
        for f, image, target in found
    ]
    return ReadPlan(
        categories=[Category.trusted(id=i + 1, name=n, supercategory=None) for i, n in enumerate(names)],
        units=units,
        image_root=image_root,
        info={"source": str(path), "names_given": options.names is not None},
        points=points,
    )


class _FileLevel:
    """``plan``'s sink: the problems of a whole file (XML, root) are reported there, once; those of a shape
    are left to ``load``, which reports them with the image's size at hand."""

    def __init__(self, sink: ReaderSink) -> None:
        self.sink = sink

    def wants(self, code: str) -> bool:
        """The XML and the root (CC003 is also a shape's bad coordinate, which ``__call__`` passes over)."""
        return code in ("CC002", "CC003")

    def __call__(self, code: str, path: str, message: str, **kwargs: Any) -> None:
        """Forward a file's problem (no ``object_index``); a shape's is ``load``'s to report."""
        if kwargs.get("object_index") is None:
            self.sink(code, path, message, **kwargs)


def _size(unit: SlideUnit, options: ReadOptions, report: Report) -> tuple[int, int]:
    if unit.image is not None:
        try:
            return image_size(unit.image, options.apply_exif_orientation)
        except FormatError as error:
            report.problem(error)
            raise SkipUnit(unit.xml) from None
    if options.image_size is not None:
        return options.image_size
    report.problem(
        FormatError(
            unit.xml,
            "no image found with this file's stem: the image size is unknown (give --images DIR or "
            "--image-size WxH)",
            code="no-image-size",
        )
    )
    raise SkipUnit(unit.xml)


def _contains(ring: np.ndarray[Any, Any], x: float, y: float) -> bool:
    """Even-odd point in polygon (a hole's first vertex in a region's outline)."""
    xs, ys = ring[:, 0], ring[:, 1]
    xn, yn = np.roll(xs, -1), np.roll(ys, -1)
    crosses = (ys > y) != (yn > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = xs + (y - ys) * (xn - xs) / (yn - ys)
    return bool(np.count_nonzero(crosses & (x < at)) % 2)


def load(unit: SlideUnit, options: ReadOptions, report: Report) -> ImageRecord:
    """One XML file to an ``ImageRecord`` through the syntax layer ``validate`` uses: a problem of the file
    skips the image (lenient) or stops the run (strict), one of a shape skips the shape."""
    path = unit.xml
    context = unit.context
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        report.problem(FormatError(path, f"cannot read: {exc.strerror or exc}", code="unreadable"))
        raise SkipUnit(path) from None
    sink = ReaderSink(report, FATAL)
    doc = scan(data, path, sink, context.dialect)
    if doc is None:
        raise SkipUnit(path)
    width, height = _size(unit, options, report)
    ids = context.ids
    for shape in doc.shapes:
        if shape.ok and shape.name not in ids:
            shape.ok = False
            sink(
                "CC202",
                path,
                f"{shape.where}: class {shape.name!r} is not in {context.names_source}",
                line=shape.line,
                object_index=shape.index,
            )
    repeats = sum(s.repeats for s in doc.shapes if s.ok)
    if repeats:
        report.notice(
            "duplicate-vertex", f"{path}: {repeats} repeated consecutive vertex(es) dropped", count=repeats
        )
    tol = tolerance_px(options.coordinate_tolerance, (width, height))
    clipped = 0
    for shape in doc.shapes:
        if not shape.ok:
            continue
        off = outside(shape, (width, height), tol)
        if off is None:
            continue
        worst, vertices = off
        if worst > tol:
            shape.ok = False
            report.problem(
                FormatError(
                    path,
                    f"{shape.where}: a vertex lies {worst:g} px outside the {width}x{height} image (the "
                    f"tolerance is {tol:g} px)",
                    line=shape.line,
                    code="point-outside-image" if shape.kind != "polygon" else "outside-image",
                )
            )
            continue
        shape.vertices = vertices
        clipped += 1
    if clipped:
        report.notice(
            "clipped",
            f"{path}: {clipped} shape(s) with vertices just outside the image clipped",
            count=clipped,
        )
    instances = (
        _aperio_instances(doc, ids, path, report)
        if doc.dialect == APERIO
        else _asap_instances(doc, ids, path, report)
    )
    attributes: dict[str, Any] = {}
    if doc.microns_per_pixel is not None:
        attributes["microns_per_pixel"] = doc.microns_per_pixel
    return ImageRecord.trusted(
        file_name=unit.file_name,
        width=width,
        height=height,
        split=None,
        label=None,
        instances=instances,
        attributes=attributes,
    )


def _instance(category_id: int, geometry: Geometry, shape: Shape) -> Instance:
    return Instance.trusted(
        category_id=category_id,
        geometry=geometry,
        iscrowd=False,
        score=None,
        attributes=dict(shape.attributes),
    )


def _ring(shape: Shape) -> np.ndarray[Any, Any]:
    return np.asarray(shape.vertices, dtype=np.float64).reshape(-1, 2)


def _aperio_instances(doc: SlideDocument, ids: dict[str, int], path: str, report: Report) -> list[Instance]:
    """Positive regions as polygons, each negative one a hole of the region holding it."""
    positives: list[tuple[Shape, list[np.ndarray[Any, Any]]]] = []
    negatives: list[tuple[int, Shape]] = []
    for shape in doc.shapes:
        if not shape.ok:
            continue
        if shape.negative:
            negatives.append((len(positives), shape))
        else:
            positives.append((shape, [_ring(shape)]))
    lost = 0
    for before, hole in negatives:
        x, y = hole.vertices[0]
        order = [*range(before - 1, -1, -1), *range(before, len(positives))]
        owner = next((k for k in order if _contains(positives[k][1][0], x, y)), None)
        if owner is None:
            lost += 1
            continue
        positives[owner][1].append(_ring(hole))
    if lost:
        report.notice(
            "element-ignored", f"{path}: {lost} NegativeROA region(s) inside no region, not read", count=lost
        )
    ranks = [shape.region_id for shape, _ in positives]
    if None not in ranks and len(set(ranks)) == len(ranks):  # Ids unique across the file: the objects' order
        positives.sort(key=lambda pair: pair[0].region_id or 0)
    return [
        _instance(
            ids[shape.name],
            Polygon.trusted(kind="polygon", rings=rings, holes=[False] + [True] * (len(rings) - 1)),
            shape,
        )
        for shape, rings in positives
    ]


def _asap_instances(doc: SlideDocument, ids: dict[str, int], path: str, report: Report) -> list[Instance]:
    instances = []
    splines = 0
    for shape in doc.shapes:
        if not shape.ok:
            continue
        cid = ids[shape.name]
        if shape.kind == "polygon":
            splines += shape.source_type.lower() == "spline"
            geometry: Geometry = Polygon.trusted(kind="polygon", rings=[_ring(shape)], holes=[False])
            instances.append(_instance(cid, geometry, shape))
        else:
            for x, y in shape.vertices:
                instances.append(_instance(cid, Point.trusted(kind="point", x=x, y=y), shape))
    if splines:
        report.notice(
            "spline-as-polygon",
            f"{path}: {splines} Spline(s) read as the polygon of their control points",
            count=splines,
        )
    return instances
