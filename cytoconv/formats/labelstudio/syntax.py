"""The one parser of a Label Studio JSON export, shared by the reader and ``cytoconv validate``.

An export is a list of tasks ``{"id", "data": {"image": ...}, "annotations": [{"id", "result": [...],
"was_cancelled"}], "predictions": [{"result": [...], "score"}]}``. Each result is one region:
``{"id", "type", "value", "original_width", "original_height", "from_name", "to_name", "image_rotation"}``,
its coordinates in **percent** of ``original_width`` / ``original_height`` (``x_px = x% * W / 100``, the
corner model: 0% is the image's left edge, 100% its right edge):

- ``polygonlabels``: ``value.points`` ``[[x%, y%], ...]``;
- ``rectanglelabels``: ``value.x, y, width, height`` (the top-left corner and the size) and ``rotation``
  (degrees, clockwise on screen, about the top-left corner);
- ``keypointlabels``: ``value.x, y``, a point;
- ``brushlabels``: ``value.format == "rle"``, ``value.rle`` the brush RLE of the RGBA canvas (``brush.py``).

The label is ``value[<type>][0]``. The classes are a task's ``meta.categories`` (``[{"id", "name"}]`` or a list of
names: cytoconv writes it in the last task, Label Studio keeps a task's ``meta``; cytoconv also writes the size of an image
without objects there, as ``meta.original_width`` / ``original_height``), then the labels not in it in order of
first appearance. Which regions of a task are read: those of its first annotation that is not
cancelled (``was_cancelled``); the other annotations (another annotator's, cancelled ones) and the
predictions are counted, not read. With ``predictions`` the task's first prediction is read instead (its
``score``, or the result's, is the objects' score). Other result types (``choices``, ``textarea``,
``relation``, ``ellipselabels``, ...) are counted, not read.

Every problem goes to a problem sink by code, so that the reader stops (or skips) where ``validate`` reports:
a percent outside [0, 100] beyond the tolerance (CC301), a polygon of fewer than 3 points (CC104), a box of
zero or negative size (CC303, CC304), a brush RLE that does not decode to ``W x H x 4`` values (CC501), results
of one task that disagree on the image size (CC405), a label outside ``names`` (CC202), anything else of the
wrong shape (CC003). A problem makes its result unreadable (``rejected``); one at the task level (no image,
no list), its task.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import numpy as np
import numpy.typing as npt

from cytoconv.formats.coco.syntax import parse_json
from cytoconv.formats.labelstudio import brush
from cytoconv.problems import ProblemSink

# result type -> the model's kind
TYPES = {
    "polygonlabels": "polygon",
    "rectanglelabels": "box",
    "keypointlabels": "point",
    "brushlabels": "brush",
}
KIND_TYPE = {kind: type_ for type_, kind in TYPES.items()}
UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")  # Label Studio's upload hash: /data/upload/1/3f2a9c1b-cells.png
CODES = ("CC001", "CC002", "CC003", "CC104", "CC202", "CC301", "CC303", "CC304", "CC405", "CC501")


@dataclass(frozen=True)
class Region:
    """One readable result: its id, kind (``polygon``, ``box``, ``point``, ``brush``), label, the numbers in
    percent as written (polygon: flat x y ...; box: x y width height; point: x y), the box's rotation, the
    brush RLE bytes, the score."""

    rid: str
    kind: str
    label: str
    numbers: tuple[float, ...]
    rotation: float = 0.0
    rle: bytes | None = None
    score: float | None = None


@dataclass(frozen=True)
class Task:
    """One task: its position, id, ``data.image`` as written, the size its results give (None: none does),
    and its readable regions."""

    index: int
    tid: str
    image: str
    width: int | None
    height: int | None
    regions: tuple[Region, ...]


@dataclass
class Export:
    """What a scan found: the readable tasks, the labels in order of first appearance, and the counts of what
    was left unread (``ignored`` by result type, ``not_read`` annotations, ``extra_labels`` beyond the first)."""

    tasks: list[Task] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)
    not_read: int = 0
    extra_labels: int = 0
    declared: list[tuple[int, str]] | None = None  # a task's ``meta.categories`` (cytoconv writes it)


def pixels(percent: npt.ArrayLike, size: int) -> npt.NDArray[np.float64]:
    """Percent of ``size`` as pixels, ``p * size / 100``, snapped to 9 decimals when within 4 ulps of them: a
    percent has too few bits to hit every pixel value, and the snap gives back whole, half and other short
    pixel values exactly (a 0.5 px point, an integer outline) at a cost below 1e-11 px. The reader's formula;
    the writer picks each percent so that this gives its pixel back."""
    value = np.asarray(percent, dtype=np.float64) * size / 100.0
    short = np.round(value, 9)
    return np.where(np.abs(value - short) <= 4 * np.spacing(np.abs(value)), short, value)


def image_name(image: str) -> tuple[str, bool]:
    """The file name a task's ``data.image`` points at, and whether it is a relative path kept as it is.

    A URL, an upload (``/data/upload/1/3f2a9c1b-cells.png``), local storage (``/data/local-files/?d=a/b.png``)
    or an absolute path gives its base name (percent-decoded); a plain relative path (what cytoconv writes) is
    kept, folders and all."""
    text = image
    if "?d=" in text:
        text = text.split("?d=", 1)[1]
    text = unquote(text.split("#", 1)[0])
    absolute = "://" in image or image.startswith("/") or "?d=" in image or "\\" in text or ":" in text[:3]
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts:
        return "", False
    if absolute or ".." in parts:
        return parts[-1], False
    return "/".join(parts), True


def strip_upload_prefix(name: str) -> str | None:
    """The name without Label Studio's 8-hex upload hash and dash, or None when it has none."""
    base = name.rsplit("/", 1)[-1]
    if UPLOAD_PREFIX.match(base) and len(base) > 9:
        return name[: len(name) - len(base)] + base[9:]
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _declared(value: Any) -> list[tuple[int, str]] | None:
    """``meta.categories`` as (id, name) pairs: a list of names (ids 1..N) or of ``{"id", "name"}`` objects,
    ids and names unique; anything else is someone else's ``meta`` and is left alone (None)."""
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(n, str) and n for n in value):
        pairs = [(k + 1, n) for k, n in enumerate(value)]
    elif all(
        isinstance(c, dict)
        and _size(c.get("id")) is not None
        and isinstance(c.get("name"), str)
        and c["name"]
        for c in value
    ):
        pairs = [(c["id"], c["name"]) for c in value]
    else:
        return None
    ids, names = {i for i, _ in pairs}, {n for _, n in pairs}
    return pairs if len(ids) == len(names) == len(pairs) else None


def _task_image(data: Any) -> str | None:
    """``data.image``, else the first string value of ``data`` (a labeling config naming it otherwise)."""
    if not isinstance(data, dict):
        return None
    image = data.get("image")
    if isinstance(image, str) and image:
        return image
    for value in data.values():
        if isinstance(value, str) and value and "." in value.rsplit("/", 1)[-1]:
            return value
    return None


class _Scan:
    def __init__(self, path: str, sink: ProblemSink, names: tuple[str, ...] | None, tolerance: float) -> None:
        self.path = path
        self.sink = sink
        self.names = set(names) if names is not None else None
        self.tolerance = tolerance
        self.export = Export()
        self.seen: set[str] = set()

    def problem(self, code: str, where: str, message: str) -> None:
        self.sink(code, self.path, f"{where}: {message}")

    def percent(self, where: str, what: str, value: float) -> bool:
        if not math.isfinite(value):
            self.problem("CC003", where, f"{what} is not a finite number")
            return False
        if value < -self.tolerance or value > 100 + self.tolerance:
            self.problem("CC301", where, f"{what} {value:g}% is outside 0..100%")
            return False
        return True

    def region(self, where: str, result: dict[str, Any], score: float | None) -> Region | None:
        """One result as a region (None: a problem, reported; or a type not read, counted)."""
        type_ = result.get("type")
        value = result.get("value")
        rid = result.get("id")
        rid_text = str(rid) if isinstance(rid, (str, int)) and not isinstance(rid, bool) else ""
        if type_ not in TYPES:
            self.export.ignored[str(type_)] += 1
            return None
        if not isinstance(value, dict):
            self.problem("CC003", where, f"{type_} without a 'value' object")
            return None
        labels = value.get(type_)
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
            self.problem("CC003", where, f"no label: value.{type_} is not a list of names")
            return None
        label = labels[0]
        self.export.extra_labels += len(labels) - 1
        if self.names is not None and label not in self.names:
            self.problem("CC202", where, f"label {label!r} is not in the class list")
            return None
        if isinstance(result.get("score"), (int, float)) and not isinstance(result.get("score"), bool):
            score = float(result["score"])
        kind = TYPES[type_]
        numbers: tuple[float, ...] = ()
        rotation = 0.0
        rle: bytes | None = None
        if kind == "polygon":
            points = value.get("points")
            if not isinstance(points, list) or not all(
                isinstance(p, list) and len(p) == 2 and _number(p[0]) and _number(p[1]) for p in points
            ):
                self.problem("CC003", where, "value.points is not a list of [x%, y%] pairs")
                return None
            if len(points) < 3:
                self.problem("CC104", where, f"a polygon of {len(points)} point(s)")
                return None
            flat = tuple(float(c) for p in points for c in p)
            for k, c in enumerate(flat):
                if not self.percent(where, "x" if k % 2 == 0 else "y", c):
                    return None
            numbers = flat
        elif kind in ("box", "point"):
            keys = ("x", "y", "width", "height") if kind == "box" else ("x", "y")
            if not all(_number(value.get(k)) for k in keys):
                self.problem("CC003", where, f"value needs numbers {', '.join(keys)}")
                return None
            numbers = tuple(float(value[k]) for k in keys)
            if kind == "box":
                rot = value.get("rotation", 0)
                rotation = float(rot) if _number(rot) and math.isfinite(float(rot)) else 0.0
                x, y, w, h = numbers
                if not all(math.isfinite(n) for n in numbers):
                    self.problem("CC003", where, "a box coordinate is not a finite number")
                    return None
                if w < 0 or h < 0:
                    self.problem("CC304", where, f"a box of negative size {w:g}% x {h:g}%")
                    return None
                if w == 0 or h == 0:
                    self.problem("CC303", where, f"a box of zero size {w:g}% x {h:g}%")
                    return None
                if rotation % 360 == 0:
                    rotation = 0.0
                    checks = (("x", x), ("y", y), ("x + width", x + w), ("y + height", y + h))
                    if not all(self.percent(where, what, c) for what, c in checks):
                        return None
                elif not (self.percent(where, "x", x) and self.percent(where, "y", y)):
                    return None
            elif not (self.percent(where, "x", numbers[0]) and self.percent(where, "y", numbers[1])):
                return None
        else:
            if value.get("format") != "rle" or not isinstance(value.get("rle"), list):
                self.problem("CC003", where, "a brush without format 'rle' and an 'rle' list")
                return None
            try:
                rle = bytes(value["rle"])
            except (TypeError, ValueError):
                self.problem("CC003", where, "value.rle holds something other than bytes 0..255")
                return None
        return Region(rid_text, kind, label, numbers, rotation, rle, score)

    def task(self, index: int, task: Any) -> None:
        if not isinstance(task, dict):
            self.problem("CC003", f"task #{index + 1}", "not an object")
            return
        tid_raw = task.get("id")
        tid = (
            str(tid_raw)
            if isinstance(tid_raw, (int, str)) and not isinstance(tid_raw, bool)
            else f"#{index + 1}"
        )
        where = f"task {tid}"
        meta = task.get("meta")
        declared = _declared(meta.get("categories")) if isinstance(meta, dict) else None
        if declared is not None:
            self.export.declared = declared
        image = _task_image(task.get("data"))
        if image is None:
            self.problem("CC003", where, "no data.image")
            return
        chosen, score = self.chosen(where, task)
        if chosen is None:
            return
        regions: list[Region] = []
        size: tuple[int, int] | None = None
        for k, result in enumerate(chosen):
            if not isinstance(result, dict):
                self.problem("CC003", f"{where}, result #{k + 1}", "not an object")
                continue
            rid = result.get("id")
            here = f"{where}, result {rid if isinstance(rid, (str, int)) else '#' + str(k + 1)}"
            region = self.region(here, result, score)
            if region is None:
                continue
            w, h = _size(result.get("original_width")), _size(result.get("original_height"))
            given = result.get("original_width") is not None or result.get("original_height") is not None
            if w is not None and h is not None:
                if size is None:
                    size = (w, h)
                elif size != (w, h):
                    self.problem("CC405", here, f"original size {w}x{h}, but {size[0]}x{size[1]} before")
                    continue
            elif given or region.kind == "brush":
                self.problem("CC003", here, "original_width/original_height are not positive integers")
                continue
            if region.kind == "brush" and w is not None and h is not None:
                try:
                    brush.decode(region.rle or b"", w * h * 4)
                except brush.BrushError as exc:
                    self.problem("CC501", here, f"brush: {exc}")
                    continue
            regions.append(region)
        for region in regions:
            if region.label not in self.seen:
                self.seen.add(region.label)
                self.export.labels.append(region.label)
        if size is None and isinstance(meta, dict):  # cytoconv writes an image without objects' size there
            w, h = _size(meta.get("original_width")), _size(meta.get("original_height"))
            size = (w, h) if w is not None and h is not None else None
        self.export.tasks.append(
            Task(index, tid, image, size[0] if size else None, size[1] if size else None, tuple(regions))
        )

    def chosen(self, where: str, task: dict[str, Any]) -> tuple[list[Any] | None, float | None]:
        """The results to read: the first annotation not cancelled (or, with predictions, the first
        prediction); the others counted in ``not_read``."""
        annotations = task.get("annotations", [])
        predictions = task.get("predictions", [])
        if not isinstance(annotations, list) or not isinstance(predictions, list):
            self.problem("CC003", where, "annotations/predictions are not lists")
            return None, None
        pool = predictions if self.predictions else annotations
        others = annotations if self.predictions else predictions
        self.export.not_read += sum(1 for a in others if isinstance(a, dict) and a.get("result"))
        first: dict[str, Any] | None = None
        for entry in pool:
            if not isinstance(entry, dict):
                self.problem("CC003", where, "an annotation that is not an object")
                return None, None
            if entry.get("was_cancelled") is True or first is not None:
                self.export.not_read += 1
                continue
            first = entry
        if first is None:
            return [], None
        result = first.get("result", [])
        if not isinstance(result, list):
            self.problem("CC003", where, "result is not a list")
            return None, None
        score = first.get("score")
        return result, float(score) if isinstance(score, (int, float)) and not isinstance(
            score, bool
        ) else None

    predictions = False


def scan(
    data: bytes,
    path: str,
    sink: ProblemSink,
    *,
    names: tuple[str, ...] | None = None,
    tolerance: float = 1.0,
    predictions: bool = False,
) -> Export | None:
    """An export's tasks and labels, every problem reported to ``sink``; None when the file is not a readable
    JSON list. ``tolerance``: how far outside 0..100 a percent may be (in percent)."""
    ok, doc = parse_json(data, path, sink)
    if not ok:
        return None
    if not isinstance(doc, list):
        sink("CC003", path, "not a Label Studio export: the JSON is not a list of tasks")
        return None
    state = _Scan(path, sink, names, tolerance)
    state.predictions = predictions
    for index, task in enumerate(doc):
        state.task(index, task)
    return state.export


def looks_like_labelstudio(head: bytes) -> bool:
    """A cheap peek at a file's first bytes: a JSON list whose first task has ``data`` and ``annotations`` or
    ``predictions`` (a COCO file is an object, a LabelMe file an object with ``shapes``)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"["):
        return False
    body = text[1:].lstrip()
    if body.startswith(b"]"):
        return False
    if not body.startswith(b"{"):
        return False
    return b'"data"' in text and (b'"annotations"' in text or b'"predictions"' in text)
