"""Pascal VOC XML: one ``<annotation>`` file per image, integer boxes that are 1-based and inclusive.

``xmin=1, xmax=10`` covers pixels 0..9, i.e. ``x = xmin - 1, w = xmax - xmin + 1`` in the corner model, and the
writer inverts that exactly (FORMATS.md). Layouts read: a dataset root holding ``Annotations/``,
``JPEGImages/`` and ``ImageSets/Main/<split>.txt``; the ``Annotations`` folder itself; a bare folder of XML
files (images beside them, or ``--images``); one XML file.

Decisions where VOC is silent:

- Category ids are 1..N in the order of ``--names``, else of a ``classes.txt`` at the dataset root (cytoconv
  writes one), else of the sorted class names: sorted order does not change when files are added or removed.
- A box with ``xmin == xmax`` or ``ymin == ymax`` is a click, not a box (BCCD 00338 and 00343): an
  ``empty-box`` problem (strict: the run stops, naming the file; lenient: the object is dropped and counted).
- An image listed in several ``ImageSets/Main`` lists takes the split of the shortest list that holds it
  (``train`` or ``val`` rather than ``trainval``; equal lengths: the first name in sorted order). Ids listed
  but absent are not errors. Per-class lists (``<class>_<split>.txt``, two columns) are ignored, with a notice.
- ``difficult``, ``truncated``, ``occluded`` (integers), ``pose`` and any other one-value child of
  ``<object>`` are kept as instance attributes and written back; image-level ``folder``, ``path``,
  ``database``, ``segmented`` and ``depth`` as image attributes.
- ``<size>`` is checked against the image header when the image is at hand: a mismatch is a ``size-mismatch``
  problem (lenient: the image's own size is used, boxes as written).

Every XML file is parsed with defusedxml with DTDs forbidden: a ``<!DOCTYPE>`` (which billion-laughs and
external-entity attacks need) is refused before anything is expanded or fetched.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cytoconv.engine.atomic import atomic_dir
from cytoconv.engine.contract import ReadOptions, ReadPlan, WriteOptions, label_as_box
from cytoconv.engine.files import image_size, is_image_name, read_text, safe_relative, walk_files
from cytoconv.errors import FormatError, Report, SkipUnit
from cytoconv.ir import Box, Category, ImageRecord, Instance, Polygon

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

ANNOTATIONS = "Annotations"
IMAGES = "JPEGImages"
SETS = ("ImageSets", "Main")
CLASSES_FILE = "classes.txt"
INT_FLAGS = ("truncated", "difficult", "occluded")
INTEGER_TOLERANCE = 1e-3  # px: a box edge this close to an integer is not counted as rounded
def escape(text: str) -> str:
    """XML character data: ``&``, ``<`` and ``>`` escaped (xml.sax.saxutils costs 8 ms of imports)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quoteattr(text: str) -> str:
    return '"' + escape(text).replace('"', "&quot;") + '"'


_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
_DEFAULT_FLAGS = "\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n"
_BNDBOX = ("\t\t<bndbox>\n\t\t\t<xmin>%d</xmin>\n\t\t\t<ymin>%d</ymin>\n\t\t\t<xmax>%d</xmax>\n"
           "\t\t\t<ymax>%d</ymax>\n\t\t</bndbox>\n\t</object>\n")

# ---------------------------------------------------------------------------------------------
# Parsing


def parse_xml(data: bytes, path: str | Path) -> Element:
    """Parse with defusedxml, DTDs forbidden: a ``<!DOCTYPE>`` (the carrier of entity expansion and external
    entities; no VOC file needs one), any entity and malformed XML become a FormatError naming the file."""
    from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        return fromstring(data, forbid_dtd=True)
    except DTDForbidden as exc:
        raise FormatError(path, f"the XML declares a DTD (<!DOCTYPE {exc.name}>); refused: DTDs carry entity "
                          "expansion (billion laughs) and external entities, and VOC files need none",
                          code="xml-dtd") from None
    except EntitiesForbidden as exc:
        raise FormatError(path, f"the XML declares an entity ({exc.name!r}); refused: no entity expansion",
                          code="xml-entity") from None
    except ExternalReferenceForbidden:
        raise FormatError(path, "the XML refers to an external entity; refused (nothing is fetched)",
                          code="xml-external") from None
    except ParseError as exc:
        line, _column = getattr(exc, "position", (None, None))
        reason = str(exc).split(": line")[0]
        raise FormatError(path, f"not well-formed XML ({reason})", line=line, code="bad-xml") from None


# A fast scan for class names, used only to number the categories before the files are read in the workers.
# Any file where the scan could be wrong (comments, CDATA, DTD, parts, entities, non-ASCII names, a count that
# does not match) is parsed properly instead.
_OBJECT_OPEN = re.compile(rb"<object[\s>/]")
_OBJECT_NAME = re.compile(rb"<object(?:\s[^>]*)?>\s*<name>([^<&]*)</name>")


def scan_names(data: bytes, path: str | Path) -> list[str]:
    """The class name of every ``<object>`` of one VOC file, in file order."""
    if b"<!" not in data and b"<part" not in data and b"\x00" not in data[:4]:
        found = _OBJECT_NAME.findall(data)
        if len(found) == len(_OBJECT_OPEN.findall(data)) and all(n.isascii() for n in found):
            return [n.decode("ascii").strip() for n in found]
    root = parse_xml(data, path)
    return [(obj.findtext("name") or "").strip() for obj in root.findall("object")]


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _int_or_text(text: str) -> int | str:
    stripped = text.strip()
    return int(stripped) if re.fullmatch(r"[+-]?\d+", stripped) else stripped


def box_from_voc(xmin: float, ymin: float, xmax: float, ymax: float) -> Box:
    """1-based inclusive VOC corners -> corner-model box: ``x = xmin - 1, w = xmax - xmin + 1``."""
    return Box.trusted(kind="box", x=xmin - 1, y=ymin - 1, w=xmax - xmin + 1, h=ymax - ymin + 1)


def voc_corners(box: Box, contain: bool) -> tuple[tuple[int, int, int, int], bool]:
    """Corner-model box -> integer ``(xmin, ymin, xmax, ymax)``, and whether an edge had to be rounded.

    ``contain`` (boxes of polygons and masks) gives the smallest integer box holding the shape; otherwise each
    edge goes to the nearest integer, which inverts ``box_from_voc`` exactly for integer boxes."""
    x0, y0 = box.x, box.y
    x1, y1 = x0 + box.w, y0 + box.h
    n0, m0, n1, m1 = math.floor(x0 + 0.5), math.floor(y0 + 0.5), math.floor(x1 + 0.5), math.floor(y1 + 0.5)
    tol = INTEGER_TOLERANCE
    rounded = abs(x0 - n0) > tol or abs(y0 - m0) > tol or abs(x1 - n1) > tol or abs(y1 - m1) > tol
    if contain and rounded:
        n0, m0 = math.floor(x0 + tol), math.floor(y0 + tol)
        n1, m1 = math.ceil(x1 - tol), math.ceil(y1 - tol)
    return (n0 + 1, m0 + 1, n1, m1), rounded


# ---------------------------------------------------------------------------------------------
# Finding the dataset


@dataclass
class _Context:
    """What every unit of one read shares (one object, so it is sent to the workers once)."""

    ids: dict[str, int]
    image_dir: str | None
    image_root: str


@dataclass(frozen=True)
class VocUnit:
    xml: str
    xml_id: str
    image: str | None
    split: str | None
    context: _Context = field(compare=False, repr=False)


def _is_voc_file(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return b"<annotation" in head


def detect(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".xml" and _is_voc_file(path)
    if not path.is_dir():
        return False
    folder = path / ANNOTATIONS if (path / ANNOTATIONS).is_dir() else path
    for entry in sorted(folder.iterdir())[:50]:
        if entry.suffix.lower() == ".xml" and entry.is_file():
            return _is_voc_file(entry)
    return False


def _layout(path: Path, options: ReadOptions) -> tuple[list[str], str, Path | None, Path | None, Path]:
    """(XML files, their folder, image folder, ImageSets/Main folder, dataset root)."""
    if path.is_file():
        xml_dir, xmls = path.parent, [str(path)]
    else:
        xml_dir = path / ANNOTATIONS if (path / ANNOTATIONS).is_dir() else path
        xmls = []
    root = xml_dir.parent if xml_dir.name == ANNOTATIONS else xml_dir
    if options.images is not None:
        image_dir: Path | None = options.images.resolve()
    elif (root / IMAGES).is_dir():
        image_dir = root / IMAGES
    else:
        image_dir = xml_dir
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
            report.notice("duplicate-stem", f"{f}: another image has the stem {rel!r} ({by_rel[rel]}); using that one")
            continue
        by_rel[rel] = f
        stem = os.path.basename(rel)
        by_stem[stem] = None if stem in by_stem else f
    return by_rel, {k: v for k, v in by_stem.items() if v is not None}


def _read_splits(sets: Path, report: Report) -> dict[str, str]:
    """Image id -> split from ``ImageSets/Main/<split>.txt``; the shortest list holding an id wins."""
    lists: dict[str, list[str]] = {}
    for f in sorted(sets.glob("*.txt")):
        if f.name.startswith("."):
            continue
        lines = [ln.split() for ln in read_text(f).splitlines() if ln.strip()]
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


def _category_names(root: Path, xmls: list[str], options: ReadOptions, report: Report,
                    unreadable: set[str]) -> tuple[list[str], bool]:
    """Class names in id order, and whether they were given (``--names`` or ``classes.txt``)."""
    if options.names is not None:
        return list(options.names), True
    if (root / CLASSES_FILE).is_file():
        return [ln.strip() for ln in read_text(root / CLASSES_FILE).splitlines() if ln.strip()], True
    found: set[str] = set()
    for xml in xmls:
        try:
            data = Path(xml).read_bytes()
            found.update(n for n in scan_names(data, xml) if n)
        except OSError as exc:
            report.problem(FormatError(xml, f"cannot read: {exc.strerror or exc}", code="unreadable"))
            unreadable.add(xml)
        except FormatError as error:
            report.problem(error)
            unreadable.add(xml)
    return sorted(found), False


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
    names, given = _category_names(root, xmls, options, report, unreadable)
    if len(set(names)) != len(names):
        raise FormatError(path, "a class name is listed twice in the class names", code="duplicate-name")
    by_rel, by_stem = _index_images(image_dir, junk, report) if image_dir and image_dir.is_dir() else ({}, {})
    splits = _read_splits(sets, report) if sets is not None and not path.is_file() else {}
    for item in sorted(set(junk)):
        report.notice("junk-skipped", item)
    image_root = str(image_dir) if image_dir is not None else xml_dir
    context = _Context(ids={n: i + 1 for i, n in enumerate(names)}, image_dir=str(image_dir) if image_dir else None,
                       image_root=image_root)
    units = []
    unlisted = 0
    for xml in xmls:
        if xml in unreadable:
            continue
        xml_id = os.path.splitext(os.path.relpath(xml, xml_dir))[0].replace(os.sep, "/")
        image = by_rel.get(xml_id) or by_stem.get(os.path.basename(xml_id))
        split = splits.get(os.path.basename(xml_id))
        if splits and split is None:
            unlisted += 1
        units.append(VocUnit(xml, xml_id, image, split, context))
    if unlisted:
        report.notice("not-in-split", f"{unlisted} image(s) are in no ImageSets/Main list", count=unlisted)
    categories = [Category.trusted(id=i + 1, name=n, supercategory=None) for i, n in enumerate(names)]
    return ReadPlan(categories=categories, units=units, image_root=image_root,
                    info={"source": str(path), "names_given": given})


# ---------------------------------------------------------------------------------------------
# Reading one file


def _skip(report: Report, error: FormatError) -> SkipUnit:
    """Report a problem that makes the whole image unreadable; strict raises it, lenient skips the image."""
    report.problem(error)
    return SkipUnit(str(error))


def _size(root: Element) -> tuple[int, int, int | None]:
    size = root.find("size")
    if size is None:
        return 0, 0, None
    values = [_number(size.findtext(k)) for k in ("width", "height", "depth")]
    width, height, depth = (int(v) if v is not None and v == int(v) and v > 0 else 0 for v in values)
    return width, height, depth or None


def _image_attributes(root: Element, depth: int | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if root.get("verified") is not None:
        attributes["verified"] = root.get("verified")
    for key, where in (("folder", "folder"), ("path", "path"), ("database", "source/database")):
        text = root.findtext(where)
        if text is not None and text.strip():
            attributes[key] = text.strip()
    segmented = root.findtext("segmented")
    if segmented is not None and segmented.strip():
        attributes["segmented"] = _int_or_text(segmented)
    if depth is not None:
        attributes["depth"] = depth
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
    """Parse one XML file into an ``ImageRecord``; sizes checked against the image header."""
    path = unit.xml
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise _skip(report, FormatError(path, f"cannot read: {exc.strerror or exc}", code="unreadable")) from None
    try:
        root = parse_xml(data, path)
    except FormatError as error:
        raise _skip(report, error) from None
    if root.tag != "annotation":
        raise _skip(report, FormatError(path, f"not a Pascal VOC file: the root is <{root.tag}>, not <annotation>",
                                        code="not-voc"))
    filename = (root.findtext("filename") or "").strip() or None
    xml_width, xml_height, depth = _size(root)
    image = _find_image(unit, filename)
    if image is not None:
        try:
            width, height = image_size(image, options.apply_exif_orientation)
        except FormatError as error:
            raise _skip(report, error) from None
        if xml_width and xml_height and (xml_width, xml_height) != (width, height):
            message = f"<size> says {xml_width}x{xml_height} but the image {image} is {width}x{height}"
            if report.strict:
                raise FormatError(path, message, code="size-mismatch")
            report.notice("size-mismatch", f"{path}: {message}; using the image's size, boxes as written")
        file_name = os.path.relpath(image, unit.context.image_root).replace(os.sep, "/")
        if filename and os.path.basename(filename) != os.path.basename(image):
            report.notice("filename-mismatch", f"{path}: <filename> is {filename!r}, the image found is {image}")
    elif xml_width and xml_height:
        width, height = xml_width, xml_height
        report.notice("size-from-xml", f"{path}: no image found; the size is taken from <size>")
        file_name = filename or unit.xml_id + ".jpg"
        if filename is None:
            report.notice("filename-guessed", f"{path}: no <filename> and no image: named {file_name}")
    else:
        raise _skip(report, FormatError(path, "no image found and no usable <size> (give --images DIR)",
                                        code="no-size"))
    instances = [inst for k, obj in enumerate(root.findall("object"))
                 if (inst := _instance(obj, k + 1, path, unit.context.ids, width, height, report)) is not None]
    return ImageRecord.trusted(file_name=file_name, width=width, height=height, split=unit.split, label=None,
                               instances=instances, attributes=_image_attributes(root, depth))


def _instance(obj: Element, number: int, path: str, ids: dict[str, int], width: int, height: int,
              report: Report) -> Instance | None:
    """One ``<object>``; problems go to the report (strict raises, lenient drops the object)."""
    name = (obj.findtext("name") or "").strip()
    where = f"object {number}" + (f" ({name})" if name else "")
    if not name:
        report.problem(FormatError(path, f"{where} has no <name>", code="bad-object"))
        return None
    category_id = ids.get(name)
    if category_id is None:
        report.problem(FormatError(path, f"{where}: class {name!r} is not among the class names",
                                   code="unknown-category"))
        return None
    bndbox = obj.find("bndbox")
    values = [_number(bndbox.findtext(k)) if bndbox is not None else None for k in ("xmin", "ymin", "xmax", "ymax")]
    if any(v is None for v in values):
        report.problem(FormatError(path, f"{where}: <bndbox> needs numeric xmin, ymin, xmax, ymax", code="bad-box"))
        return None
    xmin, ymin, xmax, ymax = (float(v) for v in values if v is not None)
    if xmax < xmin or ymax < ymin:
        report.problem(FormatError(path, f"{where}: inverted box ({xmin:g},{ymin:g},{xmax:g},{ymax:g})",
                                   code="bad-box"))
        return None
    if xmax == xmin or ymax == ymin:
        report.problem(FormatError(path, f"{where}: zero-area box ({xmin:g},{ymin:g},{xmax:g},{ymax:g}): "
                                   "xmin == xmax or ymin == ymax", code="empty-box"))
        return None
    if any(v != int(v) for v in (xmin, ymin, xmax, ymax)):
        report.notice("fractional-box", f"{path}: {where} has fractional corners (kept; VOC expects integers)")
    if xmin < 1 or ymin < 1 or xmax > width or ymax > height:
        report.notice("box-outside-image", f"{path}: {where} reaches outside the {width}x{height} image (kept)")
    return Instance.trusted(category_id=category_id, geometry=box_from_voc(xmin, ymin, xmax, ymax), iscrowd=False,
                            score=None, attributes=_object_attributes(obj, path, report))


def _object_attributes(obj: Element, path: str, report: Report) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for child in obj:
        tag = child.tag
        if tag in ("name", "bndbox"):
            continue
        if len(child):
            report.notice("element-ignored", f"{path}: <{tag}> inside <object> has sub-elements; not kept")
            continue
        text = (child.text or "").strip()
        attributes[tag] = _int_or_text(text) if tag in INT_FLAGS else text
    return attributes


# ---------------------------------------------------------------------------------------------
# Writing


def _xml_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (str, int, float)):
        return escape(str(value))
    return None


class VocWriter:
    """``Annotations/<id>.xml`` per image, ``ImageSets/Main/<split>.txt`` when splits exist, ``classes.txt``."""

    def __init__(self, dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions,
                 report: Report) -> None:
        self.dest = dest
        self.options = options
        self.names = {c.id: c.name for c in categories}
        self._heads: dict[int, str] = {}  # category id -> "<object><name>...</name>" text
        self.tmp: Path | None = None

    def set_categories(self, categories: list[Category]) -> None:
        self.names = {c.id: c.name for c in categories}
        self._heads = {}

    def name_of(self, category_id: int) -> str:
        return self.names.get(category_id) or f"class_{category_id - 1}"

    def encode(self, record: ImageRecord, index: int, report: Report) -> tuple[str, str | None]:
        rel = safe_relative(record.file_name, record.file_name)
        image_name = rel.rsplit("/", 1)[-1]
        xml_id = os.path.splitext(image_name)[0]
        assert self.tmp is not None
        data = self.xml(record, image_name, report).encode("utf-8")
        try:
            fd = os.open(f"{self.tmp}/{ANNOTATIONS}/{xml_id}.xml", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise FormatError(record.file_name, f"another image has the stem {xml_id!r}: VOC needs one XML file "
                              "per image id", code="duplicate-stem") from None
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        return xml_id, record.split

    def xml(self, record: ImageRecord, image_name: str, report: Report) -> str:
        """The XML text of one image."""
        attrs = record.attributes
        verified = attrs.get("verified")
        head = "<annotation>\n" if verified is None else f"<annotation verified={quoteattr(str(verified))}>\n"
        parts = [head, f"\t<folder>{escape(str(attrs.get('folder', IMAGES)))}</folder>\n",
                 f"\t<filename>{escape(image_name)}</filename>\n"]
        if attrs.get("path"):
            parts.append(f"\t<path>{escape(str(attrs['path']))}</path>\n")
        parts.append(f"\t<source>\n\t\t<database>{escape(str(attrs.get('database', 'Unknown')))}</database>\n"
                     "\t</source>\n")
        depth = attrs.get("depth", 3)
        parts.append(f"\t<size>\n\t\t<width>{record.width}</width>\n\t\t<height>{record.height}</height>\n"
                     f"\t\t<depth>{depth}</depth>\n\t</size>\n")
        parts.append(f"\t<segmented>{_xml_value(attrs.get('segmented', 0))}</segmented>\n")
        rounded = 0
        heads = self._heads
        for k, inst in enumerate(label_as_box(record, report).instances):
            g = inst.geometry
            if isinstance(g, Box):
                box, contain = g, False
            elif isinstance(g, Polygon):
                box, contain = g.bounds(), True
                report.notice("polygon-as-box", f"{record.file_name}: polygon written as its box")
            else:
                from cytoconv.geometry.shapes import rle_bounds

                box, contain = rle_bounds(g), True
                report.notice("mask-as-box", f"{record.file_name}: RLE mask written as its box")
            corners, was_rounded = voc_corners(box, contain)
            if corners[2] <= corners[0] or corners[3] <= corners[1]:
                report.problem(FormatError(record.file_name, f"object {k + 1}: box {box.w:g}x{box.h:g} px is too "
                                           "small for a VOC box (needs xmin < xmax and ymin < ymax)",
                                           code="empty-box"))
                continue
            rounded += was_rounded
            head = heads.get(inst.category_id) or self._head(inst.category_id)
            flags = _DEFAULT_FLAGS if not inst.attributes else self._attributes(inst, record.file_name, report)
            parts.append(head + flags + _BNDBOX % corners)
        if rounded:
            report.notice("box-rounded", f"{record.file_name}: {rounded} box(es) rounded to integer pixels",
                          count=rounded)
        parts.append("</annotation>\n")
        return "".join(parts)

    def _head(self, category_id: int) -> str:
        text = self._heads[category_id] = f"\t<object>\n\t\t<name>{escape(self.name_of(category_id))}</name>\n"
        return text

    @staticmethod
    def _attributes(inst: Instance, where: str, report: Report) -> str:
        """``pose``, ``truncated``, ``difficult`` (defaults when absent) and any other attribute, as elements."""
        attrs = {"pose": "Unspecified", "truncated": 0, "difficult": 0, **inst.attributes}
        lines = []
        for key, value in attrs.items():
            text = _xml_value(value)
            if text is None or not _XML_NAME.match(key) or key in ("name", "bndbox"):
                report.notice("attribute-dropped", f"{where}: attribute {key!r} cannot be a VOC element")
                continue
            lines.append(f"\t\t<{key}>{text}</{key}>\n")
        return "".join(lines)

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:
        seen: set[str] = set()
        splits: dict[str, list[str]] = {}

        def accept(fragment: tuple[str, str | None]) -> None:
            xml_id, split = fragment
            if xml_id in seen:
                raise FormatError(xml_id, "two images have this stem: VOC needs one XML file per image id",
                                  code="duplicate-stem")
            seen.add(xml_id)
            if split is not None:
                splits.setdefault(split, []).append(xml_id)

        with atomic_dir(self.dest, self.options.overwrite) as tmp:
            (tmp / ANNOTATIONS).mkdir()
            self.tmp = tmp
            yield accept
            if splits:
                sets = tmp.joinpath(*SETS)
                sets.mkdir(parents=True)
                for split, ids in splits.items():
                    name = safe_relative(split, split).replace("/", "_")
                    (sets / f"{name}.txt").write_text("".join(i + "\n" for i in ids), encoding="utf-8")
            names = [self.names[k] for k in sorted(self.names)]
            if names:
                (tmp / CLASSES_FILE).write_text("".join(n + "\n" for n in names), encoding="utf-8")


def writer(dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions,
           report: Report) -> VocWriter:
    return VocWriter(dest, categories, image_root, options, report)
