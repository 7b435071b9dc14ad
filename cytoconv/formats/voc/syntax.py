"""Pascal VOC syntax: one XML parse, one sniffer and one scan, shared by the reader and ``cytoconv validate``.

The scan turns the bytes of one ``<annotation>`` file into a ``VocDocument`` (plain dataclasses: file name, size,
and every ``<object>`` with its 1-based number and the line of its tag) and sends every problem it finds to a
``cytoconv.problems.ProblemSink`` by code. The validator's sink makes findings of them; the reader's raises or
skips. Both therefore stop at the same file, line and object with the same code: one parser, one verdict.

Checking happens in two steps because the objects are checked against the image's size, which only the caller
can find (reader and validator look for images differently): ``scan`` (the file, its XML, its root and
``<size>``), then ``check_size`` (``<size>`` against the image) and ``check_objects`` (names, boxes, duplicates).

Every file is parsed with DTDs refused: a ``<!DOCTYPE>`` (which billion-laughs and external-entity attacks need)
is refused before anything is expanded or fetched. A file in an ASCII-compatible encoding without any ``<!``
(so without DTD, comment or CDATA) cannot hold a DTD and goes through the C parser, its ``<object>`` lines found
in the bytes; any other file goes through defusedxml (``forbid_dtd``), its lines recorded by the parser.

This module is imported on every pre-commit run: no pydantic, no dataset model, no image library.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from cytoconv.formats import safexml
from cytoconv.formats.safexml import number
from cytoconv.problems import Fix, ProblemSink

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element, TreeBuilder

ANNOTATIONS = "Annotations"
IMAGES = "JPEGImages"
SETS = ("ImageSets", "Main")
CLASSES_FILE = "classes.txt"
LABELMAP_FILE = "labelmap.txt"  # written beside classes.txt for datumaro and CVAT, which read labels from it
BOM = b"\xef\xbb\xbf"
SNIFF_BYTES = 4096
CORNERS = ("xmin", "ymin", "xmax", "ymax")

Corners = tuple[float, float, float, float]


@dataclass(slots=True)
class VocObject:
    """One ``<object>``: ``index`` is its 1-based number in file order, ``line`` the line of its tag.

    ``box`` is ``(xmin, ymin, xmax, ymax)`` when all four are finite numbers, else None. ``fields`` holds every
    other one-value child (``pose``, ``truncated``, ``difficult``, ...) as stripped text, ``nested`` the tags of
    children with sub-elements (``<part>``), which are not kept."""

    index: int
    line: int | None
    name: str
    box: Corners | None
    fields: dict[str, str]
    nested: list[str]


@dataclass(slots=True)
class VocDocument:
    """One VOC file as written: texts stripped, ``size`` only when width and height are positive integers."""

    path: str
    filename: str | None
    size: tuple[int, int] | None
    depth: int | None
    attributes: dict[str, str] = field(default_factory=dict)  # verified, folder, path, database, segmented
    objects: list[VocObject] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Layout

ANNOTATION_DIRS = (ANNOTATIONS,)  # matched in any case: Kaggle copies of VOC sets use ``annotations/``
IMAGE_DIRS = (IMAGES, "images")  # ``JPEGImages/`` of the download, ``images/`` of the Kaggle copies


def child_dir(folder: Path, names: tuple[str, ...]) -> Path | None:
    """The sub-folder of ``folder`` named one of ``names`` in any case (the first name wins; within one name,
    the sorted first spelling), or None. Downloads write ``Annotations/``, Kaggle copies ``annotations/``."""
    wanted = [name.lower() for name in names]
    try:
        with os.scandir(folder) as entries:  # names first: a folder of 50,000 images is listed, not stat'ed
            matches = sorted(e.name for e in entries if e.name.lower() in wanted and e.is_dir())
    except OSError:
        return None
    for name in wanted:
        for match in matches:
            if match.lower() == name:
                return folder / match
    return None


def is_annotations_dir(folder: str | Path) -> bool:
    """Whether a folder is named like VOC's ``Annotations`` (any case), so that its parent is the root."""
    return os.path.basename(os.path.normpath(str(folder))).lower() in {n.lower() for n in ANNOTATION_DIRS}


def first_xml(folder: Path, limit: int = 50) -> Path | None:
    """The first ``.xml`` file of a folder in sorted order (among its first ``limit`` entries), or None."""
    try:
        names = sorted(os.listdir(folder))[:limit]
    except OSError:
        return None
    found = (folder / n for n in names if n.lower().endswith(".xml") and os.path.isfile(folder / n))
    return next(found, None)


TOP_FOLDERS = (
    8  # a download's top folder holds a few (VOCdevkit: VOC2007, VOC2012); 1,000 class folders are no devkit
)


def dataset_roots(path: Path) -> list[Path]:
    """The VOC roots ``path`` holds: itself when it has an ``Annotations`` folder of VOC XML, else its
    sub-folders that have one (``VOCdevkit/VOC2012``: the download's top folder, one level down; looked for
    only when ``path`` holds at most ``TOP_FOLDERS`` folders, so detection stays cheap on class folders)."""
    if _voc_annotations(path) is not None:
        return [path]
    try:
        with os.scandir(path) as entries:
            below = sorted(Path(e.path) for e in entries if not e.name.startswith(".") and e.is_dir())
    except OSError:
        return []
    if len(below) > TOP_FOLDERS:
        return []
    return [d for d in below if _voc_annotations(d) is not None]


def _voc_annotations(root: Path) -> Path | None:
    """``root``'s ``Annotations`` folder (any case) when its first XML file is VOC, else None (COCO's
    ``annotations/`` holds JSON)."""
    folder = child_dir(root, ANNOTATION_DIRS)
    if folder is None:
        return None
    xml = first_xml(folder)
    return folder if xml is not None and looks_like_voc(xml) else None


# ---------------------------------------------------------------------------------------------
# Sniffing


def looks_like_voc(path: str | Path) -> bool:
    """Whether a file starts like a VOC annotation: the one sniffer of ``detect`` and of ``validate``'s planning
    (cheap: the first 4 KiB, so that sniffing 50,000 files does not parse them)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return False
    return b"<annotation" in head and not (b"<annotations" in head and b"<meta" in head)  # CVAT's


# ---------------------------------------------------------------------------------------------
# Parsing

_DECLARATION = re.compile(rb"\A(?:\xef\xbb\xbf)?<\?xml\s[^>]*?\?>")
_ENCODING = re.compile(rb"encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_ASCII_COMPATIBLE = frozenset(
    {b"utf-8", b"utf8", b"us-ascii", b"ascii", b"iso-8859-1", b"latin-1", b"latin1"}
)
_OBJECT_TAG = re.compile(rb"<object[\s/>]")


def _plain(data: bytes) -> bool:
    """True when the bytes cannot hold a DTD, a comment, CDATA or a processing instruction (other than the XML
    declaration) and are in an encoding where ``<!`` would show as those two bytes."""
    if b"<!" in data or b"\x00" in data[:4] or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return False
    if b"<?" not in data:
        return True
    declaration = _DECLARATION.match(data)
    if declaration is None or b"<?" in data[declaration.end() :]:
        return False
    encoding = _ENCODING.search(declaration.group())
    return encoding is None or encoding.group(1).lower() in _ASCII_COMPATIBLE


def _lines_of(data: bytes, starts: list[int]) -> list[int]:
    """The 1-based line of each offset (ascending), counting LF, CRLF and CR as expat does."""
    lines: list[int] = []
    line, last, cr = 1, 0, b"\r" in data
    for start in starts:
        line += data.count(b"\n", last, start)
        if cr:
            line += data.count(b"\r", last, start) - data.count(b"\r\n", last, start)
        last = start
        lines.append(line)
    return lines


def _fast_parse(data: bytes) -> tuple[Element, dict[int, int]] | None:
    """The C parser, for plain files (``_plain``); object lines from the tags' offsets. None: use the slow path."""
    from xml.etree.ElementTree import XMLParser

    parser = XMLParser(target=_guard_builder()())
    parser.feed(data)
    root: Element = parser.close()
    objects = list(root.iter("object"))
    starts = [m.start() for m in _OBJECT_TAG.finditer(data)]
    if len(starts) != len(objects):
        return None
    return root, {id(obj): line for obj, line in zip(objects, _lines_of(data, starts))}


@cache
def _guard_builder() -> type[TreeBuilder]:
    """The C tree builder with a second lock for the fast path: a DOCTYPE (which ``_plain`` rules out) is
    refused all the same. Made on first use: the module is imported before anything is parsed."""
    from xml.etree.ElementTree import TreeBuilder

    from defusedxml import DTDForbidden

    class GuardBuilder(TreeBuilder):
        """The C tree builder refusing any DOCTYPE, so the fast path refuses what defusedxml refuses."""

        def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
            """Raise ``DTDForbidden``: a DTD could declare entities."""
            raise DTDForbidden(name, system, pubid)

    return GuardBuilder


def parse_xml(data: bytes, path: str, sink: ProblemSink) -> tuple[Element, dict[int, int]] | None:
    """The root element and the line of every ``<object>`` tag (by ``id(element)``); None after reporting
    CC002 (not well-formed, or a DTD or entity, refused) to ``sink``. Plain files take the C parser."""
    return safexml.parse(data, path, sink, ("object",), "VOC files", _fast_parse if _plain(data) else None)


# A fast scan for class names, used only to number the categories before the files are read in the workers.
# Any file where the scan could be wrong (comments, CDATA, DTD, parts, entities, non-ASCII names, a count that
# does not match) is parsed properly instead.
_OBJECT_NAME = re.compile(rb"<object(?:\s[^>]*)?>\s*<name>([^<&]*)</name>")


def scan_names(data: bytes, path: str, sink: ProblemSink) -> list[str] | None:
    """The class name of every ``<object>`` of one VOC file, in file order (None: not XML, reported)."""
    if b"<!" not in data and b"<part" not in data and b"\x00" not in data[:4]:
        found = _OBJECT_NAME.findall(data)
        if len(found) == len(_OBJECT_TAG.findall(data)) and all(n.isascii() for n in found):
            return [n.decode("ascii").strip() for n in found]
    parsed = parse_xml(data, path, sink)
    if parsed is None:
        return None
    return [(obj.findtext("name") or "").strip() for obj in parsed[0].findall("object")]


# ---------------------------------------------------------------------------------------------
# Scanning


def _positive_int(text: str | None) -> int | None:
    value = number(text)
    return int(value) if value is not None and value == int(value) and value > 0 else None


def scan(data: bytes, path: str, sink: ProblemSink) -> VocDocument | None:
    """The document of one VOC file, with the file-level problems reported: BOM (CC006), CR line endings
    (CC005), XML (CC002), the root (CC003), ``<size>`` (CC701), no object (CC004). None when the file cannot be
    read as VOC at all (CC002 or CC003). Objects are then checked by ``check_objects``."""
    wants = sink.wants
    if data.startswith(BOM) and wants("CC006"):
        sink("CC006", path, "starts with a UTF-8 byte-order mark", line=1, fix=Fix("bom"))
    if wants("CC005") and b"\r" in data:
        first = data.count(b"\n", 0, data.index(b"\r")) + 1
        sink(
            "CC005",
            path,
            ("CRLF" if b"\r\n" in data else "CR") + " line endings",
            line=first,
            fix=Fix("line-endings"),
        )
    parsed = parse_xml(data, path, sink)
    if parsed is None:
        return None
    root, lines = parsed
    if root.tag != "annotation":
        if wants("CC003"):
            sink("CC003", path, f"not a Pascal VOC file: the root is <{root.tag}>, not <annotation>")
        return None
    node = root.find("size")
    width, height = (
        (_positive_int(node.findtext(k)) for k in ("width", "height")) if node is not None else (None, None)
    )
    size = (width, height) if width is not None and height is not None else None
    if size is None and wants("CC701"):
        shown = (
            "missing"
            if node is None
            else f"width {node.findtext('width')!r}, height {node.findtext('height')!r}"
        )
        sink(
            "CC701",
            path,
            f"<size> is {shown}: boxes cannot be checked against the image unless the image is found",
        )
    document = VocDocument(
        path,
        (root.findtext("filename") or "").strip() or None,
        size,
        _positive_int(node.findtext("depth")) if node is not None else None,
        _image_attributes(root),
        [_object(obj, k, lines.get(id(obj))) for k, obj in enumerate(root.findall("object"), start=1)],
    )
    if not document.objects and wants("CC004"):
        sink("CC004", path, "no <object>: an image with no objects")
    return document


def _image_attributes(root: Element) -> dict[str, str]:
    attributes: dict[str, str] = {}
    verified = root.get("verified")
    if verified is not None:
        attributes["verified"] = verified
    for key, where in (
        ("folder", "folder"),
        ("path", "path"),
        ("database", "source/database"),
        ("segmented", "segmented"),
    ):
        text = root.findtext(where)
        if text is not None and text.strip():
            attributes[key] = text.strip()
    return attributes


def _object(obj: Element, index: int, line: int | None) -> VocObject:
    name: str | None = None
    bndbox: Element | None = None
    fields: dict[str, str] = {}
    nested: list[str] = []
    for child in obj:
        tag = child.tag
        if tag == "name":
            if name is None:
                name = (child.text or "").strip()
        elif tag == "bndbox":
            if bndbox is None:
                bndbox = child
        elif len(child):
            nested.append(tag)
        else:
            fields[tag] = (child.text or "").strip()
    box: Corners | None = None
    if bndbox is not None:
        xmin, ymin, xmax, ymax = (number(bndbox.findtext(k)) for k in CORNERS)
        if xmin is not None and ymin is not None and xmax is not None and ymax is not None:
            box = (xmin, ymin, xmax, ymax)
    return VocObject(index, line, name or "", box, fields, nested)


def check_size(document: VocDocument, image: str, actual: tuple[int, int], sink: ProblemSink) -> None:
    """``<size>`` against the image's own size (CC405), when both are known."""
    size = document.size
    if size is not None and size != actual and sink.wants("CC405"):
        name = image.replace("\\", "/").rsplit("/", 1)[-1]
        sink(
            "CC405",
            document.path,
            f"<size> says {size[0]}x{size[1]} but the image {name} is {actual[0]}x{actual[1]}",
        )


def check_objects(
    document: VocDocument,
    sink: ProblemSink,
    size: tuple[int, int] | None,
    names: Collection[str] | None = None,
    names_source: str | None = None,
    tolerance: float = 1.0,
) -> None:
    """Every object, in file order: no name or no numeric box (CC702), a class outside ``names`` (CC202), an
    inverted box (CC304, ``xmax < xmin`` or ``ymax < ymin``), a box outside ``size`` by more than ``tolerance``
    px (CC305), the same object twice (CC401), a one-pixel box (CC703, a warning). The codes of one object
    come in ascending order, as the validator sorts them, so a sink that stops at the first error stops where
    the validator's first error is.

    Corners are inclusive (``w = xmax - xmin + 1``, FORMATS.md), so ``xmin == xmax`` is a box one pixel wide,
    not an empty one (BCCD 00338 and 00343): a click rather than a drag, worth a warning, never a refusal. No
    VOC box has zero area: the first corner that would (``xmax = xmin - 1``) is already inverted."""
    path, wants = document.path, sink.wants
    known = frozenset(names) if names is not None and wants("CC202") else None
    outside = size is not None and wants("CC305")
    duplicates = wants("CC401")
    one_pixel = wants("CC703")
    seen: dict[tuple[str, Corners], int] = {}
    low = 1 - tolerance
    for obj in document.objects:
        name, box, k, line = obj.name, obj.box, obj.index, obj.line
        label = f" ({name})" if name else ""
        if not name or box is None:
            if wants("CC702"):
                what = "no <name>" if not name else "no numeric xmin, ymin, xmax, ymax in <bndbox>"
                sink("CC702", path, f"{what}{label}", line=line, object_index=k)
            continue
        if known is not None and name not in known:
            sink(
                "CC202",
                path,
                f"class {name!r} is not among the {len(known)} classes of {names_source}",
                line=line,
                object_index=k,
            )
        xmin, ymin, xmax, ymax = box
        if xmax < xmin or ymax < ymin:
            if wants("CC304"):
                sink(
                    "CC304",
                    path,
                    f"inverted box {_shown(box)}{label}: xmax < xmin or ymax < ymin",
                    line=line,
                    object_index=k,
                )
        elif (
            outside
            and size is not None
            and (xmin < low or ymin < low or xmax > size[0] + tolerance or ymax > size[1] + tolerance)
        ):
            sink(
                "CC305",
                path,
                f"box {_shown(box)}{label} reaches outside the {size[0]}x{size[1]} image "
                f"(1-based corners, tolerance {tolerance:g} px)",
                line=line,
                object_index=k,
            )
        if duplicates:
            first = seen.setdefault((name, box), k)
            if first != k:
                sink("CC401", path, f"the same object as object {first}{label}", line=line, object_index=k)
        if one_pixel and (xmax == xmin or ymax == ymin) and xmax >= xmin and ymax >= ymin:
            w, h = xmax - xmin + 1, ymax - ymin + 1
            sink(
                "CC703",
                path,
                f"box {_shown(box)}{label} is {w:g}x{h:g} px (xmin == xmax or ymin == ymax; corners are "
                "inclusive): a click rather than a drag? kept as it is",
                line=line,
                object_index=k,
            )


def _shown(box: Corners) -> str:
    return f"({box[0]:g}, {box[1]:g}, {box[2]:g}, {box[3]:g})"
