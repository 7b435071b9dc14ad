"""Pascal VOC XML: one ``<annotation>`` file per image, integer boxes that are 1-based and inclusive.

``xmin=1, xmax=10`` covers pixels 0..9, i.e. ``x = xmin - 1, w = xmax - xmin + 1`` in the corner model, and the
writer (``writer.py``) inverts that exactly (FORMATS.md). Layouts read: a dataset root holding ``Annotations/``,
``JPEGImages/`` and ``ImageSets/Main/<split>.txt``; the ``Annotations`` folder itself; a bare folder of XML
files (images beside them, or ``--images``); one XML file; Roboflow's "Pascal VOC" export, split folders
(``train/``, ``valid/``, ``test/``) of images with their XML beside them, each image's split its folder's name.

Each file is read by the syntax layer (``syntax.py``) that ``cytoconv validate`` runs too, so a reader stops
where the validator's first error is, with the same problem (``FormatError.code`` is the vocabulary's slug,
``cytoconv.problems``). Strict: the run stops, naming the file, line and object; lenient: the object (or, for
a file-level problem, the file) is left out and counted by slug.

Decisions where VOC is silent:

- Category ids are 1..N in the order of ``--names``, else of a ``classes.txt`` at the dataset root (cytoconv
  writes one), else of the sorted class names: sorted order does not change when files are added or removed.
- A box with ``xmin == xmax`` or ``ymin == ymax`` is one pixel wide or high (corners are inclusive; BCCD 00338
  and 00343): a box, read as it is (``validate`` warns, ``one-pixel-box``). An object without ``<name>`` or
  numeric ``<bndbox>`` is ``bad-voc-object``, an inverted box (``xmax < xmin``) ``negative-box``, a class
  outside given names ``unknown-class``, the same name and box twice in one file ``duplicate-object`` (the
  later copy), as ``validate`` has them.
- An image listed in several ``ImageSets/Main`` lists takes the split of the shortest list that holds it
  (``train`` or ``val`` rather than ``trainval``; equal lengths: the first name in sorted order). Ids listed
  but absent are not errors; blank and ``#`` comment lines are not ids. Per-class lists
  (``<class>_<split>.txt``, two columns) are ignored, with a notice.
- ``difficult``, ``truncated``, ``occluded`` (integers), ``pose`` and any other one-value child of
  ``<object>`` are kept as instance attributes and written back; image-level ``folder``, ``path``,
  ``database``, ``segmented`` and ``depth`` as image attributes.
- ``<size>`` is checked against the image header when the image is at hand: a mismatch is a ``size-mismatch``
  problem (lenient: the image's own size is used, boxes as written). Without the image, ``<size>`` is used,
  else ``--image-size`` (a file's own ``<size>`` wins over it); with neither, ``no-image-size`` (CC704).
- Layouts are found in any case (``Annotations/`` or Kaggle's ``annotations/``, ``JPEGImages/`` or
  ``images/``), and a download's top folder (``VOCdevkit/``) is read through its one VOC root
  (``VOCdevkit/VOC2012``).

Every XML file is parsed with DTDs forbidden: a ``<!DOCTYPE>`` (which billion-laughs and external-entity
attacks need) is refused (``not-well-formed``) before anything is expanded or fetched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cytoconv.engine.classlists import read_names
from cytoconv.engine.contract import ReadOptions, ReadPlan
from cytoconv.engine.files import image_size, is_image_name, read_text, safe_relative, walk_files
from cytoconv.errors import FormatError, Report, SkipUnit
from cytoconv.formats import CONTENT, LAYOUT, REFUSED, Evidence
from cytoconv.formats.voc.syntax import (
    ANNOTATION_DIRS,
    CLASSES_FILE,
    IMAGE_DIRS,
    SETS,
    VocDocument,
    check_objects,
    check_size,
    child_dir,
    dataset_roots,
    first_xml,
    is_annotations_dir,
    looks_like_voc,
    scan,
    scan_names,
)
from cytoconv.formats.voc.writer import writer
from cytoconv.ir import Box, Category, ImageRecord, Instance
from cytoconv.problems.sinks import ReaderSink

if TYPE_CHECKING:
    from cytoconv.problems import Fix

__all__ = ["box_from_voc", "detect", "load", "plan", "writer"]

INT_FLAGS = ("truncated", "difficult", "occluded")
FILE_FATAL = ("CC002", "CC003")  # the file is not VOC XML: the whole image is left out
OBJECT_FATAL = ("CC702", "CC202", "CC304", "CC401")  # the object is left out (a 1-px box, CC703, is kept)
OBJECT_NOTICES = {"CC305": "box-outside-image"}
OUTSIDE_TOLERANCE = 0.0  # px: the reader notices every box reaching outside (validate warns beyond 1 px)


def _int_or_text(text: str) -> int | str:
    """``difficult`` and the other integer flags as integers when they are (``[+-]digits``), else as written."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    return int(text) if digits.isdecimal() else text


def box_from_voc(xmin: float, ymin: float, xmax: float, ymax: float) -> Box:
    """1-based inclusive VOC corners -> corner-model box: ``x = xmin - 1, w = xmax - xmin + 1``."""
    return Box.trusted(kind="box", x=xmin - 1, y=ymin - 1, w=xmax - xmin + 1, h=ymax - ymin + 1)


class _ObjectSink(ReaderSink):
    """A ``ReaderSink`` that remembers rejected objects by number (lines are shared when a file is on one line)
    and counts each object once, by its first problem: later problems of a rejected object are not reported."""

    def __init__(self, report: Report, fatal: tuple[str, ...], notices: dict[str, str]) -> None:
        super().__init__(report, fatal, notices)
        self.bad: set[int] = set()

    def __call__(
        self,
        code: str,
        path: str,
        message: str,
        *,
        line: int | None = None,
        image_id: int | str | None = None,
        annotation_id: int | str | None = None,
        object_index: int | None = None,
        fix: Fix | None = None,
    ) -> None:
        if object_index is not None and object_index in self.bad:
            return
        super().__call__(
            code,
            path,
            message,
            line=line,
            image_id=image_id,
            annotation_id=annotation_id,
            object_index=object_index,
            fix=fix,
        )
        if object_index is not None and code in self.fatal:
            self.bad.add(object_index)


# ---------------------------------------------------------------------------------------------
# Finding the dataset


@dataclass
class _Context:
    """What every unit of one read shares (one object, so it is sent to the workers once)."""

    ids: dict[str, int]
    image_dir: str | None
    image_root: str
    names_source: str  # where the class names came from, for messages


@dataclass(frozen=True)
class VocUnit:
    """One XML file to read, with its image (when found by stem) and split."""

    xml: str
    xml_id: str
    image: str | None
    split: str | None
    context: _Context = field(compare=False, repr=False)


def detect(path: Path) -> Evidence | None:
    """How ``path`` is VOC, judged by the first XML file (``looks_like_voc``, the sniffer ``validate`` uses too):
    ``LAYOUT`` for an ``Annotations/`` folder (any case) of VOC XML, at ``path``, one level down (a
    ``VOCdevkit/`` holding ``VOC2012/``) or given itself; ``CONTENT`` for one VOC file or a bare folder of them;
    ``REFUSED`` (never chosen, shown) for a ``VOCdevkit/`` holding several roots. ``LAYOUT`` too for split
    folders of VOC XML beside their images (``split_folders``: Roboflow's "Pascal VOC" export)."""
    if path.is_file():
        if path.suffix.lower() == ".xml" and looks_like_voc(path):
            return Evidence(CONTENT, f"{path.name}: a Pascal VOC <annotation> file")
        return None
    if not path.is_dir():
        return None
    roots = dataset_roots(path)
    if len(roots) > 1:
        shown = ", ".join(f"{r.name}/" for r in roots)
        return Evidence(REFUSED, f"several VOC roots ({shown}): give one of them")
    if roots:
        folder = child_dir(roots[0], ANNOTATION_DIRS)
        assert folder is not None
        xml = first_xml(folder)
        assert xml is not None
        return Evidence(LAYOUT, f"{xml.relative_to(path).as_posix()}: Pascal VOC XML in the VOC layout")
    xml = first_xml(path)
    if xml is None:
        splits = split_folders(path)
        if splits:
            shown = ", ".join(f"{d.name}/" for d in splits)
            return Evidence(
                LAYOUT, f"{shown}: Pascal VOC XML beside the images of each split (Roboflow's layout)"
            )
        return None
    if not looks_like_voc(xml):
        return None
    if is_annotations_dir(path):
        return Evidence(LAYOUT, f"{path.name}/{xml.name}: Pascal VOC XML in the VOC layout")
    return Evidence(CONTENT, f"{xml.name}: Pascal VOC XML")


SPLIT_FOLDERS = ("train", "val", "valid", "validation", "test")  # Roboflow writes train/, valid/, test/


def split_folders(path: Path) -> list[Path]:
    """The split folders (``SPLIT_FOLDERS``, any case) of ``path`` whose first XML file is VOC with its image
    beside it (same stem): Roboflow's "Pascal VOC" export, ``train/x_jpg.rf.<hash>.jpg`` + ``.xml``. A listing
    of each split folder and one file's first bytes: cheap enough for detection."""
    try:
        with os.scandir(path) as entries:
            named = sorted(
                Path(e.path)
                for e in entries
                if e.name.lower() in SPLIT_FOLDERS and e.is_dir(follow_symlinks=True)
            )
    except OSError:
        return []
    found = []
    for folder in named:
        xml = first_xml(folder)
        if xml is None or not looks_like_voc(xml):
            continue
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        if any(is_image_name(n) and os.path.splitext(n)[0] == xml.stem for n in names):
            found.append(folder)
    return found


def _layout(path: Path, options: ReadOptions) -> tuple[list[str], str, Path | None, Path | None, Path]:
    """(XML files, their folder, image folder, ImageSets/Main folder, dataset root).

    A folder holding several VOC roots (``VOCdevkit/`` with ``VOC2007/`` and ``VOC2012/``) is refused: which
    one is meant is the user's choice, and merging two years would number their ids twice."""
    if path.is_file():
        xml_dir, xmls = path.parent, [str(path)]
    else:
        roots = dataset_roots(path)
        if len(roots) > 1:
            shown = ", ".join(f"{r.name}/" for r in roots)
            raise FormatError(path, f"holds several VOC roots ({shown}): give one of them", code="usage")
        top = roots[0] if roots else path
        xml_dir = child_dir(top, ANNOTATION_DIRS) or path
        xmls = []
    root = xml_dir.parent if is_annotations_dir(xml_dir) else xml_dir
    if options.images is not None:
        image_dir: Path | None = options.images.resolve()
    else:
        image_dir = child_dir(root, IMAGE_DIRS) or xml_dir
    sets = root.joinpath(*SETS)
    return xmls, str(xml_dir), image_dir, sets if sets.is_dir() else None, root


def _index_images(image_dir: Path, junk: list[str], report: Report) -> tuple[dict[str, str], dict[str, str]]:
    """Images by path without extension (below ``image_dir``) and by bare stem (when that is unique)."""
    by_rel: dict[str, str] = {}
    by_stem: dict[str, str | None] = {}
    base = str(image_dir)
    for f in walk_files(image_dir, junk):
        if not is_image_name(f):
            continue
        rel = os.path.splitext(os.path.relpath(f, base))[0].replace(os.sep, "/")
        if rel in by_rel:
            report.notice(
                "duplicate-stem", f"{f}: another image has the stem {rel!r} ({by_rel[rel]}); using that one"
            )
            continue
        by_rel[rel] = f
        stem = os.path.basename(rel)
        by_stem[stem] = None if stem in by_stem else f
    return by_rel, {k: v for k, v in by_stem.items() if v is not None}


def _read_splits(sets: Path, report: Report) -> dict[str, str]:
    """Image id -> split from ``ImageSets/Main/<split>.txt``; the shortest list holding an id wins. Blank lines
    and ``#`` comment lines are not ids (so a commented list is still a split list, not a per-class one)."""
    lists: dict[str, list[str]] = {}
    for f in sorted(sets.glob("*.txt")):
        if f.name.startswith("."):
            continue
        lines = [
            ln.split() for ln in read_text(f).splitlines() if ln.strip() and not ln.lstrip().startswith("#")
        ]
        if any(len(tokens) != 1 for tokens in lines):
            report.notice("class-list-ignored", f"{f}: a per-class list (id and flag), not a split; ignored")
            continue
        lists[f.stem] = [tokens[0] for tokens in lines]
    chosen: dict[str, tuple[int, str]] = {}
    for split, ids in lists.items():
        for image_id in ids:
            key = (len(ids), split)
            if image_id not in chosen or key < chosen[image_id]:
                chosen[image_id] = key
    return {image_id: split for image_id, (_, split) in chosen.items()}


def _category_names(
    root: Path, xmls: list[str], options: ReadOptions, report: Report, unreadable: set[str]
) -> tuple[list[str], str | None]:
    """Class names in id order, and where they were given (``--names`` or ``classes.txt``; None: scanned)."""
    if options.names is not None:
        return list(options.names), "--names"
    if (root / CLASSES_FILE).is_file():
        names, problem = read_names(root / CLASSES_FILE)
        if names is None:
            raise FormatError(
                root / CLASSES_FILE, problem or "no class names in this file", code="bad-class-list"
            )
        return names, str(root / CLASSES_FILE)
    found: set[str] = set()
    sink = ReaderSink(report, FILE_FATAL)
    for xml in xmls:
        try:
            data = Path(xml).read_bytes()
        except OSError as exc:
            report.problem(FormatError(xml, f"cannot read: {exc.strerror or exc}", code="unreadable"))
            unreadable.add(xml)
            continue
        scanned = scan_names(data, xml, sink)
        if scanned is None:
            unreadable.add(xml)
        else:
            found.update(n for n in scanned if n)
    return sorted(found), None


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """Find the XML files, their images and splits; number the classes (names scanned, not parsed)."""
    if not path.exists():
        raise FormatError(path, "no such file or folder", code="missing")
    path = path.resolve()
    xmls, xml_dir, image_dir, sets, root = _layout(path, options)
    junk: list[str] = []
    if not xmls:
        xmls = [f for f in walk_files(Path(xml_dir), junk) if f.lower().endswith(".xml")]
    if not xmls:
        raise FormatError(path, "no Pascal VOC XML file found", code="missing")
    unreadable: set[str] = set()
    names, source = _category_names(root, xmls, options, report, unreadable)
    if len(set(names)) != len(names):
        raise FormatError(
            path, "a class name is listed twice in the class names", code="duplicate-class-name"
        )
    by_rel, by_stem = _index_images(image_dir, junk, report) if image_dir and image_dir.is_dir() else ({}, {})
    splits = _read_splits(sets, report) if sets is not None and not path.is_file() else {}
    # Roboflow's export: no ImageSets, the split is the folder each XML sits in (train/, valid/, test/)
    folder_splits = (
        {d.name for d in split_folders(path)}
        if not splits and path.is_dir() and Path(xml_dir) == path
        else set()
    )
    for item in sorted(set(junk)):
        report.notice("junk-skipped", item)
    image_root = str(image_dir) if image_dir is not None else xml_dir
    context = _Context(
        ids={n: i + 1 for i, n in enumerate(names)},
        image_dir=str(image_dir) if image_dir else None,
        image_root=image_root,
        names_source=source or "the XML files",
    )
    units = []
    unlisted = 0
    for xml in xmls:
        if xml in unreadable:
            continue
        xml_id = os.path.splitext(os.path.relpath(xml, xml_dir))[0].replace(os.sep, "/")
        image = by_rel.get(xml_id) or by_stem.get(os.path.basename(xml_id))
        split = splits.get(os.path.basename(xml_id))
        top = xml_id.split("/", 1)[0]
        if folder_splits and "/" in xml_id and top in folder_splits:
            split = top
        if splits and split is None:
            unlisted += 1
        units.append(VocUnit(xml, xml_id, image, split, context))
    if unlisted:
        report.notice("not-in-split", f"{unlisted} image(s) are in no ImageSets/Main list", count=unlisted)
    categories = [Category.trusted(id=i + 1, name=n, supercategory=None) for i, n in enumerate(names)]
    return ReadPlan(
        categories=categories,
        units=units,
        image_root=image_root,
        info={"source": str(path), "names_given": source is not None},
    )


# ---------------------------------------------------------------------------------------------
# Reading one file


def _image_attributes(document: VocDocument) -> dict[str, Any]:
    attributes: dict[str, Any] = dict(document.attributes)
    if "segmented" in attributes:
        attributes["segmented"] = _int_or_text(attributes["segmented"])
    if document.depth is not None:
        attributes["depth"] = document.depth
    return attributes


def _find_image(unit: VocUnit, filename: str | None) -> str | None:
    if unit.image is not None:
        return unit.image
    if filename and unit.context.image_dir:
        candidate = os.path.join(unit.context.image_dir, safe_relative(filename, unit.xml))
        if os.path.isfile(candidate):
            return candidate
    return None


def load(unit: VocUnit, options: ReadOptions, report: Report) -> ImageRecord:
    """Parse one XML file into an ``ImageRecord`` with the syntax layer ``validate`` uses; sizes checked against
    the image header. A problem of the file skips the image (lenient) or stops the run (strict), one of an
    object skips the object."""
    path = unit.xml
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        report.problem(FormatError(path, f"cannot read: {exc.strerror or exc}", code="unreadable"))
        raise SkipUnit(path) from None
    sink = _ObjectSink(report, (*FILE_FATAL, *OBJECT_FATAL), OBJECT_NOTICES)
    document = scan(data, path, sink)
    if document is None:
        raise SkipUnit(path)
    filename = document.filename
    image = _find_image(unit, filename)
    if image is not None:
        try:
            width, height = image_size(image, options.apply_exif_orientation)
        except FormatError as error:
            report.problem(error)
            raise SkipUnit(path) from None
        if report.strict:
            check_size(document, image, (width, height), ReaderSink(report, ("CC405",)))
        else:
            check_size(document, image, (width, height), ReaderSink(report, (), {"CC405": "size-mismatch"}))
        file_name = os.path.relpath(image, unit.context.image_root).replace(os.sep, "/")
        if filename and os.path.basename(filename) != os.path.basename(image):
            report.notice(
                "filename-mismatch", f"{path}: <filename> is {filename!r}, the image found is {image}"
            )
    elif document.size is not None or options.image_size is not None:
        if document.size is not None:
            width, height = document.size
            report.notice("size-from-xml", f"{path}: no image found; the size is taken from <size>")
        else:
            assert options.image_size is not None
            width, height = options.image_size  # given by the user for exactly this case: no notice
        file_name = filename or unit.xml_id + ".jpg"
        if filename is None:
            report.notice("filename-guessed", f"{path}: no <filename> and no image: named {file_name}")
    else:
        ReaderSink(report, ("CC704",))(
            "CC704",
            path,
            "no usable <size> and no image found: the image size is unknown (convert needs "
            "--images DIR or --image-size WxH)",
        )
        raise SkipUnit(path)
    context = unit.context
    check_objects(document, sink, (width, height), context.ids, context.names_source, OUTSIDE_TOLERANCE)
    ids, bad = context.ids, sink.bad
    instances = []
    for obj in document.objects:
        if obj.index in bad:
            continue
        assert obj.box is not None  # an object without a numeric box is bad-voc-object
        xmin, ymin, xmax, ymax = obj.box
        where = f"object {obj.index}" + (f" ({obj.name})" if obj.name else "")
        if xmin != int(xmin) or ymin != int(ymin) or xmax != int(xmax) or ymax != int(ymax):
            report.notice(
                "fractional-box", f"{path}: {where} has fractional corners (kept; VOC expects integers)"
            )
        for tag in obj.nested:
            report.notice("element-ignored", f"{path}: <{tag}> inside <object> has sub-elements; not kept")
        attributes: dict[str, Any] = {
            tag: _int_or_text(text) if tag in INT_FLAGS else text for tag, text in obj.fields.items()
        }
        instances.append(
            Instance.trusted(
                category_id=ids[obj.name],
                geometry=box_from_voc(xmin, ymin, xmax, ymax),
                iscrowd=False,
                score=None,
                attributes=attributes,
            )
        )
    return ImageRecord.trusted(
        file_name=file_name,
        width=width,
        height=height,
        split=unit.split,
        label=None,
        instances=instances,
        attributes=_image_attributes(document),
    )
