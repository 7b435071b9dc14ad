"""ImageJ/Fiji ROI sets read into the model (through ``roifile``, BSD-3).

Layouts: a folder (any depth) of ROI sets, one per image: ``<stem>.zip``, ``<stem>_rois.zip`` (Cellpose's
``save_rois``), ``<stem>_RoiSet.zip``, ``RoiSet.zip`` (ImageJ's default name: the image is its folder's name), or
a folder ``<stem>/`` of ``.roi`` files; one such zip or folder given alone. Each set is paired with its image by
stem: below ``--images DIR`` when given, else below the folder read (beside the sets). The size is the image's
header, else ``--image-size``; with neither, ``no-image-size``. Without the image the record is named
``<stem>.tif`` (``filename-guessed``). An empty zip is an image with no objects.

ROIs are read as ``syntax.py`` describes (corner-model polygons, rectangles as boxes, ovals as their exact pixel
outline, points at pixel centres, lines skipped). Classes: the ROI's group, ``1..255``: group ``n`` is the n-th
name of ``--names``, else of a ``classes.txt`` beside the sets (cytoconv writes one), else ``group_<n>``; ROIs
without a group (0) are class ``roi``. With names, ids are 1..N in their order (``roi`` after them when needed);
without, the groups in increasing order, then ``roi``. A group beyond the names is ``unknown-class``. Not
yet options: ``--class-from name:REGEX`` (class from the ROI name), ``--class NAME`` (the name for group 0) and
``--pixel-centres`` (Cellpose's outlines, which are pixel centres, shifted by half a pixel): ROIs are read as
ImageJ means them. The ROI's name is kept as the attribute ``name``, unless it is one made up from the ROI
itself: ImageJ's automatic names (``yyyy-xxxx``, ``ssss-yyyy-xxxx``) and the writer's ``<class>-<n>``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from cytoconv.engine.classlists import read_names
from cytoconv.engine.contract import ReadOptions, ReadPlan
from cytoconv.engine.files import image_size, is_image_name, walk_files
from cytoconv.errors import FormatError, Report, SkipUnit
from cytoconv.formats import CONTENT, Evidence
from cytoconv.formats.imagej.syntax import (
    CLASSES_FILE,
    foreign_zip,
    image_stem,
    is_roi_bytes,
    is_roiset,
    roi_sets,
    shapes,
)
from cytoconv.formats.imagej.writer import writer
from cytoconv.ir import Category, ImageRecord, Instance

__all__ = ["detect", "load", "plan", "writer"]

PEEK = 5  # detection looks at this many ROI sets
UNGROUPED = "roi"
GUESSED_SUFFIX = ".tif"
AUTONAME = re.compile(r"\d{4}(-\d{4,}){1,2}(-\d+)?")  # ImageJ's names from position: [slice-]y-x[-n]
MADE_UP = re.compile(r"(.*)-\d+(\.\d+)?(-\d+)?")  # the writer's <class>-<n>[.part][-dup]


def _kept_name(name: str, label: str) -> dict[str, str]:
    """The attribute ``name`` of a ROI, or nothing when the name is made up from the ROI (see the module
    docstring): such a name would turn up as a new attribute after every round trip."""
    if not name or AUTONAME.fullmatch(name):
        return {}
    made = MADE_UP.fullmatch(name)
    if made is not None and made.group(1) == label:
        return {}
    return {"name": name}


def _peek_roi(folder: str) -> bool:
    try:
        names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".roi"))
    except OSError:
        return False
    for n in names[:PEEK]:
        try:
            with open(os.path.join(folder, n), "rb") as fh:
                if is_roi_bytes(fh.read(4)):
                    return True
        except OSError:
            continue
    return False


def detect(path: Path) -> Evidence | None:
    """``CONTENT`` for a zip whose entries are ImageJ ``.roi`` files, a ``.roi`` file, or a folder holding either
    (its own files, else those one level down): a listing or two and a peek at a few files' first bytes."""
    if path.is_file():
        low = path.name.lower()
        if low.endswith(".zip") and is_roiset(str(path)):
            return Evidence(CONTENT, f"{path.name}: an ImageJ ROI set")
        if low.endswith(".roi"):
            try:
                with open(path, "rb") as fh:
                    ok = is_roi_bytes(fh.read(4))
            except OSError:
                return None
            return Evidence(CONTENT, f"{path.name}: an ImageJ ROI") if ok else None
        return None
    if not path.is_dir():
        return None
    folders = [str(path)]
    try:
        with os.scandir(path) as it:
            folders += sorted(e.path for e in it if e.is_dir() and not e.name.startswith("."))[:8]
    except OSError:
        return None
    for folder in folders:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        zips = [os.path.join(folder, n) for n in names if n.lower().endswith(".zip")]
        for z in zips[:PEEK]:
            if is_roiset(z):
                return Evidence(CONTENT, f"{os.path.relpath(z, path)}: ImageJ ROI sets, one per image")
        if _peek_roi(folder):
            return Evidence(CONTENT, f"{os.path.relpath(folder, path)}: a folder of ImageJ .roi files")
    return None


@dataclass
class _Context:
    """What every unit of one read shares."""

    ids: dict[int, int]  # group -> category id
    labels: dict[str, int]  # class name -> category id
    names: tuple[str, ...] | None
    names_source: str


@dataclass(frozen=True)
class ImagejUnit:
    """One ROI set (zip or folder of .roi files), with its image (None: not found) and record file name."""

    source: str
    image: str | None
    file_name: str
    context: _Context = field(compare=False, repr=False)


def _groups(sets: list[str], report: Report) -> set[int]:
    """The groups used over all sets (an unreadable set is reported when loaded, not here)."""
    used: set[int] = set()
    for s in sets:
        try:
            found = shapes(s, lambda error: None)
        except FormatError:
            continue
        used.update(sh.group for sh in found if sh.geometries)
    return used


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """The ROI sets, their images by stem, the image root and the classes (the groups of all ROIs)."""
    if not path.exists():
        raise FormatError(path, "no such file or folder", code="missing")
    path = path.resolve()
    listed = [] if path.is_file() else [n.lower() for n in os.listdir(path)]
    bare_rois = any(n.endswith(".roi") for n in listed) and not any(n.endswith(".zip") for n in listed)
    if path.is_file() or bare_rois:
        sets, root = [str(path)], path.parent
    else:
        sets, root = roi_sets(path), path
    foreign = [s for s in sets if s.lower().endswith(".zip") and foreign_zip(s)]
    for s in foreign:
        report.notice("file-not-read", f"{s}: a zip without .roi entries, not an ImageJ ROI set")
    sets = [s for s in sets if s not in foreign]
    if not sets:
        raise FormatError(path, "no ImageJ ROI set (.zip of .roi files, or .roi files) found", code="missing")
    image_dir = options.images.resolve() if options.images is not None else root
    by_stem: dict[str, str] = {}
    for f in walk_files(image_dir):
        if is_image_name(f):
            by_stem.setdefault(os.path.splitext(os.path.basename(f))[0], f)
    names: tuple[str, ...] | None
    if options.names is not None:
        names, source = tuple(options.names), "--names"
    elif (root / CLASSES_FILE).is_file():
        given, problem = read_names(root / CLASSES_FILE)
        if given is None:
            raise FormatError(
                root / CLASSES_FILE, problem or "no class names in this file", code="bad-class-list"
            )
        names, source = tuple(given), str(root / CLASSES_FILE)
    else:
        names, source = None, "the ROI groups"
    if names is not None and len(set(names)) != len(names):
        raise FormatError(
            path, "a class name is listed twice in the class names", code="duplicate-class-name"
        )
    groups = _groups(sets, report)
    ids: dict[int, int] = {}
    labels: list[str] = []
    if names is not None:
        labels = list(names)
        ids = {g: g for g in groups if 0 < g <= len(names)}
        if 0 in groups:
            if UNGROUPED in labels:
                ids[0] = labels.index(UNGROUPED) + 1
            else:
                labels.append(UNGROUPED)
                ids[0] = len(labels)
    else:
        for g in sorted(groups - {0}):
            labels.append(f"group_{g}")
            ids[g] = len(labels)
        if 0 in groups:
            labels.append(UNGROUPED)
            ids[0] = len(labels)
    context = _Context(
        ids=ids, labels={n: i + 1 for i, n in enumerate(labels)}, names=names, names_source=source
    )
    units = []
    seen: dict[str, str] = {}
    for s in sets:
        stem = image_stem(s)
        image = by_stem.get(stem)
        if image is not None:
            file_name = os.path.relpath(image, image_dir).replace(os.sep, "/")
        else:
            rel = os.path.relpath(os.path.join(os.path.dirname(s), stem), root).replace(os.sep, "/")
            file_name = rel + GUESSED_SUFFIX
            report.notice("filename-guessed", f"{s}: no image with the stem {stem!r}: named {file_name}")
        if file_name in seen:
            report.notice(
                "duplicate-stem", f"{s}: {seen[file_name]} is read for {file_name}; this one is not"
            )
            continue
        seen[file_name] = s
        units.append(ImagejUnit(s, image, file_name, context))
    return ReadPlan(
        categories=[Category.trusted(id=i + 1, name=n, supercategory=None) for i, n in enumerate(labels)],
        units=units,
        image_root=str(image_dir),
        info={"source": str(path), "names_given": options.names is not None},
        points=True,
    )


def load(unit: ImagejUnit, options: ReadOptions, report: Report) -> ImageRecord:
    """One ROI set to an ``ImageRecord``: a set that cannot be opened skips the image (lenient) or stops the
    run (strict); a ROI that cannot be parsed or used skips the ROI, counted."""
    path = unit.source
    if unit.image is not None:
        try:
            width, height = image_size(unit.image, options.apply_exif_orientation)
        except FormatError as error:
            report.problem(error)
            raise SkipUnit(path) from None
    elif options.image_size is not None:
        width, height = options.image_size
    else:
        report.problem(
            FormatError(
                path,
                "no image found for this ROI set and no --image-size: the image size is unknown "
                "(give --images DIR or --image-size WxH)",
                code="no-image-size",
            )
        )
        raise SkipUnit(path)
    try:
        found = shapes(path, report.problem)
    except FormatError as error:
        report.problem(error)
        raise SkipUnit(path) from None
    ctx = unit.context
    labels = {cid: n for n, cid in ctx.labels.items()}
    instances = []
    skipped: dict[str, int] = {}
    for sh in found:
        if sh.skipped in ("bad-structure", "too-few-points"):
            report.problem(FormatError(path, f"ROI {sh.entry!r}: {sh.detail}", code=sh.skipped))
            continue
        if sh.skipped is not None:
            skipped[sh.skipped] = skipped.get(sh.skipped, 0) + 1
            if not sh.geometries:
                continue
        category = ctx.ids.get(sh.group)
        if category is None:
            shown = f"{len(ctx.names)} names" if ctx.names is not None else "no names"
            report.problem(
                FormatError(
                    path,
                    f"ROI {sh.entry!r}: group {sh.group} is beyond the class names ({shown} in {ctx.names_source})",
                    code="unknown-class",
                )
            )
            continue
        for g in sh.geometries:
            instances.append(
                Instance.trusted(
                    category_id=category,
                    geometry=g,
                    iscrowd=False,
                    score=None,
                    attributes=_kept_name(sh.name, labels[category]),
                )
            )
    for slug, n in skipped.items():
        what = {
            "line-skipped": "line ROI(s), which have no area",
            "annotation-not-read": "composite ROI(s) or ROI(s) without a shape",
            "file-not-read": "zip entries that are not .roi files",
            "empty-mask": "oval ROI(s) round no pixel centre",
        }.get(slug, slug)
        report.notice(slug, f"{path}: {n} {what}, not read", count=n)
    outlines = sum(1 for sh in found if sh.detail == "oval")
    if outlines:
        report.notice(
            "shape-as-outline", f"{path}: {outlines} oval ROI(s) read as their pixel outline", count=outlines
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
