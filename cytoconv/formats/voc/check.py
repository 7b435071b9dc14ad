"""Pascal VOC XML checks: the file, its ``<size>`` against the image, and every ``<object>`` (named by its
number in file order and by the line of its ``<object>`` tag).

Boxes are 1-based and inclusive (``xmin=1, xmax=10`` covers pixels 0..9, FORMATS.md): a box is outside the image
when ``xmin < 1`` or ``xmax > width`` (beyond the pixel tolerance, 1 by default, so 0-based writers pass).
Parsed with defusedxml, DTDs forbidden, as the reader does.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cytoconv.formats.classlists import ClassList
from cytoconv.problems import Fix
from cytoconv.validate.config import Settings
from cytoconv.validate.findings import Finding

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

BOM = b"\xef\xbb\xbf"
ANNOTATIONS = "Annotations"
IMAGE_DIRS = ("JPEGImages", "images")


def looks_like_voc(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return b"<annotation" in fh.read(4096)
    except OSError:
        return False


def _parse(data: bytes) -> tuple[Element, dict[int, int]]:
    """The root element and the line of every ``<object>`` start tag (keyed by ``id(element)``)."""
    from xml.etree.ElementTree import TreeBuilder

    from defusedxml.ElementTree import DefusedXMLParser

    class LineBuilder(TreeBuilder):
        expat: Any = None
        lines: dict[int, int]

        def start(self, tag: str, attrs: dict[str, str]) -> Element:
            element = super().start(tag, attrs)
            if tag == "object":
                self.lines[id(element)] = self.expat.CurrentLineNumber
            return element

    builder = LineBuilder()
    builder.lines = {}
    parser = DefusedXMLParser(target=builder, forbid_dtd=True)
    builder.expat = parser.parser
    parser.feed(data)
    return parser.close(), builder.lines


_listings: dict[tuple[str, int], dict[str, str]] = {}


def _images_in(folder: str) -> dict[str, str]:
    """Image files of a folder by stem and by name: listed once per process while the folder is unchanged
    (50,000 XML files beside one JPEGImages folder: one listing)."""
    try:
        key = (folder, os.stat(folder).st_mtime_ns)
    except OSError:
        return {}
    if key not in _listings:
        from cytoconv.engine.files import is_image_name

        found: dict[str, str] = {}
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            names = []
        for name in names:
            if is_image_name(name) and not name.startswith("."):
                found.setdefault(os.path.splitext(name)[0], os.path.join(folder, name))
                found[name] = os.path.join(folder, name)
        _listings[key] = found
    return _listings[key]


def image_folders(xml_path: str) -> list[str]:
    """Where a VOC file's image may be: ``JPEGImages`` (or ``images``) beside ``Annotations``, or the XML's folder."""
    folder = os.path.dirname(os.path.abspath(xml_path))
    root = os.path.dirname(folder) if os.path.basename(folder) == ANNOTATIONS else folder
    return [*(os.path.join(root, d) for d in IMAGE_DIRS), folder]


def find_image(xml_path: str, filename: str | None) -> str | None:
    stem = os.path.splitext(os.path.basename(xml_path))[0]
    for folder in image_folders(xml_path):
        listing = _images_in(folder)
        for key in ((os.path.basename(filename),) if filename else ()) + (stem,):
            if key in listing:
                return listing[key]
    return None


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def check_file(path: str, settings: Settings, classes: ClassList | None) -> list[Finding]:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return [settings.finding("CC001", path, f"cannot read: {exc.strerror or exc}")] if settings.on("CC001") else []
    return check_bytes(data, path, settings, classes)


def check_bytes(data: bytes, path: str, settings: Settings, classes: ClassList | None) -> list[Finding]:
    out: list[Finding] = []
    on, finding = settings.on, settings.finding
    if data.startswith(BOM) and on("CC006"):
        out.append(finding("CC006", path, "starts with a UTF-8 byte-order mark", line=1, fix=Fix("bom")))
    if b"\r" in data and on("CC005"):
        first = data.count(b"\n", 0, data.index(b"\r")) + 1
        out.append(finding("CC005", path, ("CRLF" if b"\r\n" in data else "CR") + " line endings", line=first,
                           fix=Fix("line-endings")))
    from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
    from defusedxml.ElementTree import ParseError

    try:
        root, lines = _parse(data)
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden) as exc:
        if on("CC002"):
            out.append(finding("CC002", path, f"the XML declares a DTD or an entity ({exc.__class__.__name__}); "
                               "refused, as the reader refuses it"))
        return out
    except ParseError as exc:
        if on("CC002"):
            line = getattr(exc, "position", (None, None))[0]
            out.append(finding("CC002", path, f"not well-formed XML ({str(exc).split(': line')[0]})", line=line))
        return out
    if root.tag != "annotation":
        if on("CC003"):
            out.append(finding("CC003", path, f"not a Pascal VOC file: the root is <{root.tag}>, not <annotation>"))
        return out
    size = _size(root, path, settings, out)
    filename = (root.findtext("filename") or "").strip() or None
    image = find_image(path, filename)
    if image is not None:
        from cytoconv.engine.files import image_size
        from cytoconv.errors import FormatError

        try:
            actual: tuple[int, int] | None = image_size(image)
        except FormatError as error:
            actual = None
            if on("CC404"):
                out.append(finding("CC404", image, error.message))
        if actual is not None and size is not None and actual != size and on("CC405"):
            out.append(finding("CC405", path, f"<size> says {size[0]}x{size[1]} but the image "
                               f"{os.path.basename(image)} is {actual[0]}x{actual[1]}"))
        size = actual or size
    objects = root.findall("object")
    if not objects and on("CC004"):
        out.append(finding("CC004", path, "no <object>: an image with no objects"))
    _objects(objects, lines, size, path, classes, settings, out)
    out.sort(key=Finding.sort_key)
    return out


def _size(root: Element, path: str, settings: Settings, out: list[Finding]) -> tuple[int, int] | None:
    node = root.find("size")
    values = [_number(node.findtext(k)) for k in ("width", "height")] if node is not None else [None, None]
    if all(v is not None and v == int(v) and v > 0 for v in values):
        return int(values[0] or 0), int(values[1] or 0)
    if settings.on("CC701"):
        shown = "missing" if node is None else f"width {node.findtext('width')!r}, height {node.findtext('height')!r}"
        out.append(settings.finding("CC701", path, f"<size> is {shown}: boxes cannot be checked against the image "
                                    "unless the image is found"))
    return None


def _objects(objects: list[Element], lines: dict[int, int], size: tuple[int, int] | None, path: str,
             classes: ClassList | None, settings: Settings, out: list[Finding]) -> None:
    on, finding = settings.on, settings.finding
    known = set(classes.names) if classes is not None and classes.names is not None else None
    seen: dict[tuple[str, tuple[float, ...]], int] = {}
    tol = settings.pixel_tolerance
    for k, obj in enumerate(objects, start=1):
        line = lines.get(id(obj))
        name = (obj.findtext("name") or "").strip()
        box = obj.find("bndbox")
        values = [_number(box.findtext(c)) if box is not None else None for c in ("xmin", "ymin", "xmax", "ymax")]
        label = f" ({name})" if name else ""
        if not name or any(v is None for v in values):
            if on("CC702"):
                what = "no <name>" if not name else "no numeric xmin, ymin, xmax, ymax in <bndbox>"
                out.append(finding("CC702", path, f"{what}{label}", line=line, object_index=k))
            continue
        if known is not None and name not in known and on("CC202"):
            assert classes is not None
            out.append(finding("CC202", path, f"class {name!r} is not among the {len(known)} classes of "
                               f"{classes.source}", line=line, object_index=k))
        xmin, ymin, xmax, ymax = (float(v) for v in values if v is not None)
        corners = f"({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g})"
        if xmax < xmin or ymax < ymin:
            if on("CC304"):
                out.append(finding("CC304", path, f"inverted box {corners}{label}: xmax < xmin or ymax < ymin",
                                   line=line, object_index=k))
        elif xmax == xmin or ymax == ymin:
            if on("CC303"):
                out.append(finding("CC303", path, f"zero-area box {corners}{label}: xmin == xmax or ymin == ymax",
                                   line=line, object_index=k))
        elif size is not None and on("CC305") and (
                xmin < 1 - tol or ymin < 1 - tol or xmax > size[0] + tol or ymax > size[1] + tol):
            out.append(finding("CC305", path, f"box {corners}{label} reaches outside the {size[0]}x{size[1]} image "
                               f"(1-based corners, tolerance {tol:g} px)", line=line, object_index=k))
        if on("CC401"):
            first = seen.setdefault((name, (xmin, ymin, xmax, ymax)), k)
            if first != k:
                out.append(finding("CC401", path, f"the same object as object {first}{label}", line=line,
                                   object_index=k))


def discover(root: Path, settings: Settings) -> tuple[list[str], list[Finding]]:
    """The VOC files below ``root`` (``Annotations/`` when there is one), with images and XML files paired by
    stem: an XML file without its image (CC402), an image without an XML file (CC403)."""
    from cytoconv.engine.files import is_image_name, walk_files

    xml_root = root / ANNOTATIONS if (root / ANNOTATIONS).is_dir() else root
    files = [f for f in walk_files(xml_root) if f.lower().endswith(".xml") and looks_like_voc(f)]
    findings: list[Finding] = []
    stems = {os.path.splitext(os.path.basename(f))[0] for f in files}
    image_dirs = {d for f in files for d in image_folders(f)[:-1] if os.path.isdir(d)} or \
        {os.path.dirname(os.path.abspath(f)) for f in files}
    images = {os.path.splitext(os.path.basename(p))[0]: p for d in sorted(image_dirs) for p in walk_files(Path(d))
              if is_image_name(p)}
    if images:
        if settings.on("CC402"):
            findings += [settings.finding("CC402", f, "no image for this VOC file")
                         for f in files if os.path.splitext(os.path.basename(f))[0] not in images]
        if settings.on("CC403"):
            findings += [settings.finding("CC403", images[s], "no VOC file for this image")
                         for s in sorted(set(images) - stems)]
    return files, findings
