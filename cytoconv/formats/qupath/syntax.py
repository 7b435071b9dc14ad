"""QuPath GeoJSON syntax: one parse and one sniffer, shared by the reader and ``cytoconv validate``.

``scan`` turns the bytes of one GeoJSON file into a ``QupathDocument`` (plain dataclasses: every feature with its
0-based index in the file, its rings or points, its class name, and what QuPath keeps beside them) and sends
every problem to a ``cytoconv.problems.ProblemSink`` by code, so that reader and validator stop at the same file
and feature with the same code.

What QuPath writes (v0.2 to v0.5): a ``FeatureCollection``, a bare JSON array of ``Feature`` objects ("Export as
array"), or a single ``Feature`` (one selected object). Geometries are GeoJSON with pixel coordinates, origin
at the image's top-left corner: the model's own. Rings are closed (the last vertex repeats the first): the
repeated vertex is dropped. A cell's nucleus is ``nucleusGeometry``, beside ``geometry``.

This module is imported by the validator: no pydantic, no dataset model, no image library.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cytoconv.problems import ProblemSink

Points = npt.NDArray[np.float64]

UNCLASSIFIED = (
    "unclassified"  # the class of an object without a classification (--unclassified is not there yet)
)
NUCLEUS_SUFFIX = ": nucleus"  # a cell's nucleus is an object of class "<class>: nucleus"
SUFFIXES = (".geojson", ".json")
CLASSES_FILE = "classes.txt"
SNIFF_BYTES = 4096
LINE_TYPES = ("LineString", "MultiLineString")
_FEATURE = re.compile(rb'"type"\s*:\s*"Feature(Collection)?"')


@dataclass(slots=True)
class Shape:
    """One area or point set of a feature: ``rings`` with their hole flags (a polygon, several parts of a
    MultiPolygon one after another, each shell followed by its holes), or ``points`` (an ``(n, 2)`` array)."""

    rings: list[Points] = field(default_factory=list)
    holes: list[bool] = field(default_factory=list)
    points: Points | None = None


@dataclass(slots=True)
class QupathObject:
    """One feature: ``index`` is its 0-based place in the file. ``shape`` is None when the geometry has no
    area and no point (a line: counted in ``lines``)."""

    index: int
    class_name: str
    shape: Shape | None
    nucleus: Shape | None
    id: str | None
    object_type: str | None
    name: str | None
    measurements: dict[str, Any] | None
    lines: int = 0


@dataclass(slots=True)
class QupathDocument:
    """One GeoJSON file as written; ``form`` is how its features were given (collection, array, feature)."""

    path: str
    form: str
    objects: list[QupathObject] = field(default_factory=list)


def parse(data: bytes) -> Any:
    """The JSON of one file: orjson (several times faster on 100,000 vertices' worth of floats), else the
    standard parser, which also takes the ``NaN`` and ``Infinity`` QuPath's Gson writes for missing
    measurements. Raises ``UnicodeDecodeError`` or ``json.JSONDecodeError``."""
    import orjson

    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data.decode("utf-8"))


@contextmanager
def no_cycle_collector() -> Iterator[None]:
    """The cycle collector off while one file is parsed and converted. A file is a million small lists and
    arrays: the collector, run every few hundred of them over everything already read, costs more than the work
    (0.6 s against 0.05 s for orjson on a 10 MB file in a process already holding 100,000 objects); none of
    what is made here holds a cycle."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Bad(Exception):
    """A feature that is not what QuPath writes: its code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def looks_like_qupath(path: str | Path) -> bool:
    """A peek at the first bytes: a JSON object or array whose first ``"type"`` is ``Feature`` or
    ``FeatureCollection`` (COCO, LabelMe and Label Studio files have none)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return False
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] not in (b"{", b"["):
        return False
    return _FEATURE.search(head) is not None


def class_name(classification: Any, unclassified: str = UNCLASSIFIED) -> str:
    """The class of ``properties.classification`` in each shape QuPath has written: ``{"name", "color"}``
    (v0.4+), ``{"names": [...]}`` (derived classes, joined by ``: `` as QuPath shows them), a bare string, or
    ``{"name", "colorRGB": <packed int>}`` (v0.2); none is ``unclassified``."""
    if classification is None:
        return unclassified
    if isinstance(classification, str):
        return classification or unclassified
    if isinstance(classification, dict):
        names = classification.get("names")
        if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
            return ": ".join(names)
        name = classification.get("name")
        if isinstance(name, str):
            return name or unclassified
        if name is None and names is None:
            return unclassified
    raise _Bad("CC003", "properties.classification is not a name, {name} or {names: [...]}")


def _xy(value: Any, what: str) -> Points:
    """A list of positions as an ``(n, 2)`` array (a third coordinate, which GeoJSON allows, is dropped)."""
    if not isinstance(value, list) or not value:
        raise _Bad("CC003", f"{what} is not a list of [x, y] positions")
    try:
        arr = np.array(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise _Bad("CC003", f"{what} holds a position that is not [x, y] numbers") from None
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise _Bad("CC003", f"{what} holds a position that is not [x, y] numbers")
    arr = arr[:, :2]
    if not np.isfinite(arr).all():
        raise _Bad("CC102", f"{what} holds NaN or infinity")
    return arr


def _ring(value: Any, what: str) -> Points:
    """One linear ring without the repeated closing vertex (QuPath closes every ring; an open one is read the
    same)."""
    arr = _xy(value, what)
    if len(arr) > 1 and arr[0, 0] == arr[-1, 0] and arr[0, 1] == arr[-1, 1]:
        arr = arr[:-1]
    if len(arr) < 3:
        raise _Bad("CC104", f"{what} has {len(arr)} distinct vertices, a polygon needs 3")
    return np.ascontiguousarray(arr)


def _polygon(coords: Any, shape: Shape, what: str) -> None:
    if not isinstance(coords, list) or not coords:
        raise _Bad("CC003", f"{what} has no rings")
    for k, ring in enumerate(coords):
        shape.rings.append(_ring(ring, f"{what} ring {k}"))
        shape.holes.append(k > 0)


def _geometry(geometry: Any, what: str, shape: Shape) -> int:
    """Add a GeoJSON geometry to ``shape``; returns the number of lines (which have no area) left out."""
    if not isinstance(geometry, dict):
        raise _Bad("CC003", f"{what} is not a GeoJSON geometry object")
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "Polygon":
        _polygon(coords, shape, what)
    elif kind == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise _Bad("CC003", f"{what} (MultiPolygon) has no polygons")
        for k, part in enumerate(coords):
            _polygon(part, shape, f"{what} polygon {k}")
    elif kind in ("Point", "MultiPoint"):
        pts = _xy([coords] if kind == "Point" else coords, what)
        shape.points = pts if shape.points is None else np.concatenate([shape.points, pts])
    elif kind in LINE_TYPES:
        return 1
    elif kind == "GeometryCollection":
        members = geometry.get("geometries")
        if not isinstance(members, list):
            raise _Bad("CC003", f"{what} (GeometryCollection) has no geometries list")
        return sum(_geometry(g, f"{what} member {k}", shape) for k, g in enumerate(members))
    else:
        raise _Bad("CC003", f"{what} has the type {kind!r}, not a GeoJSON geometry")
    return 0


def _measurements(value: Any) -> dict[str, Any] | None:
    """``measurements`` as a map: since v0.4 it is one; before, a list of ``{"name", "value"}``."""
    if value is None:
        return None
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for m in value:
            if not isinstance(m, dict) or not isinstance(m.get("name"), str):
                raise _Bad("CC003", "properties.measurements holds an entry without a name")
            out[m["name"]] = m.get("value")
        return out
    raise _Bad("CC003", "properties.measurements is neither a map nor a list of {name, value}")


def _feature(index: int, feature: Any, unclassified: str) -> QupathObject:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise _Bad("CC003", 'not a GeoJSON Feature (an object with "type": "Feature")')
    properties = feature.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise _Bad("CC003", "properties is not an object")
    name = class_name(properties.get("classification"), unclassified)
    shape = Shape()
    lines = _geometry(feature.get("geometry"), "geometry", shape)
    nucleus_geometry = feature.get("nucleusGeometry", properties.get("nucleusGeometry"))
    nucleus = None
    if nucleus_geometry is not None:
        nucleus = Shape()
        _geometry(nucleus_geometry, "nucleusGeometry", nucleus)
        if not nucleus.rings:
            raise _Bad("CC003", "nucleusGeometry is not a polygon")
    fid = feature.get("id", properties.get("id"))
    object_type = properties.get("objectType", properties.get("object_type"))
    label = properties.get("name")
    return QupathObject(
        index=index,
        class_name=name,
        shape=shape if shape.rings or shape.points is not None else None,
        nucleus=nucleus,
        id=str(fid) if isinstance(fid, (str, int)) and not isinstance(fid, bool) else None,
        object_type=object_type if isinstance(object_type, str) else None,
        name=label if isinstance(label, str) else None,
        measurements=_measurements(properties.get("measurements")),
        lines=lines,
    )


def features_of(top: Any) -> tuple[list[Any], str] | None:
    """The features of a parsed file and its form, or None when it is none of QuPath's three."""
    if isinstance(top, list):
        return top, "array"
    if isinstance(top, dict):
        if top.get("type") == "FeatureCollection" and isinstance(top.get("features"), list):
            return top["features"], "collection"
        if top.get("type") == "Feature":
            return [top], "feature"
    return None


def _scan(
    data: bytes,
    path: str,
    sink: ProblemSink,
    unclassified: str = UNCLASSIFIED,
    ids: dict[str, int] | None = None,
    names_source: str = "",
) -> QupathDocument | None:
    """``scan`` with the cycle collector on (as ``scan`` calls it: off)."""
    try:
        top = parse(data)
    except UnicodeDecodeError as exc:
        sink("CC001", path, f"not UTF-8 text: {exc.reason}")
        return None
    except json.JSONDecodeError as exc:
        sink("CC002", path, f"not well-formed JSON: {exc.msg}", line=exc.lineno)
        return None
    found = features_of(top)
    if found is None:
        sink(
            "CC003",
            path,
            "not QuPath GeoJSON: neither a FeatureCollection, an array of Features nor a Feature",
        )
        return None
    features, form = found
    document = QupathDocument(path, form)
    for index, feature in enumerate(features):
        try:
            obj = _feature(index, feature, unclassified)
        except _Bad as bad:
            sink(bad.code, path, f"feature {index}: {bad.message}")
            continue
        if ids is not None:
            wanted = [obj.class_name] + ([obj.class_name + NUCLEUS_SUFFIX] if obj.nucleus is not None else [])
            missing = [n for n in wanted if n not in ids]
            if missing:
                sink(
                    "CC202",
                    path,
                    f"feature {index}: class {missing[0]!r} is not in {names_source or 'the class names'}",
                )
                continue
        document.objects.append(obj)
    return document


_TOKENS = re.compile(rb'"(classification|nucleusGeometry)"\s*:\s*|"type"\s*:\s*"(Feature|Point|MultiPoint)"')
_VALUE = re.compile(rb'\{[^{}]*\}|"(?:[^"\\]|\\.)*"|null')


def _quick_names(data: bytes, unclassified: str) -> tuple[list[str], bool] | None:
    """``scan_names`` without parsing the coordinates: the ``classification`` values and the point types
    found by a regular expression. None when in doubt (a nucleus, whose class depends on its feature's; a value
    the expression does not take whole), for the full parse to decide."""
    names: set[str] = set()
    points = False
    features = classified = 0
    for m in _TOKENS.finditer(data):
        key, kind = m.group(1), m.group(2)
        if key == b"nucleusGeometry":
            return None
        if kind is not None:
            features += kind == b"Feature"
            points = points or kind != b"Feature"
            continue
        classified += 1
        value = _VALUE.match(data, m.end())
        if value is None:
            return None
        try:
            names.add(class_name(parse(value.group()), unclassified))
        except (_Bad, ValueError):
            return None
    if classified > features:
        return None
    if classified < features:  # a feature without a classification
        names.add(unclassified)
    return sorted(names), points


def _scan_names(data: bytes, unclassified: str) -> tuple[list[str], bool] | None:
    """The class names of one file (nucleus classes included) and whether it holds points, for numbering the
    classes before the files are read; None when the file is not QuPath GeoJSON. Cheap when it can be (no
    coordinate is converted: ``_quick_names``); a feature that ``scan`` would refuse is skipped here (``scan``
    reports it)."""
    quick = _quick_names(data, unclassified) if _FEATURE.search(data, 0, SNIFF_BYTES) else None
    if quick is not None:
        return quick
    try:
        found = features_of(parse(data))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return [], False
    if found is None:
        return None
    names: list[str] = []
    points = False
    for feature in found[0]:
        if not isinstance(feature, dict):
            continue
        geometry = feature.get("geometry")
        points = points or (isinstance(geometry, dict) and geometry.get("type") in ("Point", "MultiPoint"))
        properties = feature.get("properties")
        if not isinstance(properties, dict):
            properties = {}
        try:
            name = class_name(properties.get("classification"), unclassified)
        except _Bad:
            continue
        names.append(name)
        if feature.get("nucleusGeometry", properties.get("nucleusGeometry")) is not None:
            names.append(name + NUCLEUS_SUFFIX)
    return names, points


def scan(
    data: bytes,
    path: str,
    sink: ProblemSink,
    unclassified: str = UNCLASSIFIED,
    ids: dict[str, int] | None = None,
    names_source: str = "",
) -> QupathDocument | None:
    """Parse one file; a problem of the file returns None, one of a feature leaves the feature out (each sent
    to ``sink``, the feature named by its index). ``ids`` (class names known beforehand) makes a class outside
    them ``unknown-class``."""
    with no_cycle_collector():
        return _scan(data, path, sink, unclassified, ids, names_source)


def scan_names(data: bytes, unclassified: str = UNCLASSIFIED) -> tuple[list[str], bool] | None:
    """The class names of one file (nucleus classes included) and whether it holds points, for numbering the
    classes before the files are read; None when the file is not QuPath GeoJSON (see ``_scan_names``)."""
    with no_cycle_collector():
        return _scan_names(data, unclassified)
