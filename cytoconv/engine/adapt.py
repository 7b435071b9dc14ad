"""What a writer does to a record its format cannot hold as read: an image-level label as a whole-image box
(class folders -> detection formats), points as boxes of the size the user gives (``--point-box``).

A point has no extent, so no box size is right for every dataset: a red cell is 16 px across in one set and
a lymphocyte 40 px in another. Writers of boxes, polygons or masks therefore refuse points unless given a size
(``PointBoxes``), and every box that reaches past its image is counted, clipped or kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cytoconv.errors import FormatError, Report, UsageError
from cytoconv.ir import Box, Geometry, ImageRecord, Instance, Point, Polygon, Rle

POINT_BOX_HELP = "--point-box S (pixels), WxH, or per class name=S,name=WxH"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?)(?:\s*[xX]\s*(\d+(?:\.\d*)?))?\s*$")


def _size(text: str, option: str) -> tuple[float, float]:
    match = _SIZE.match(text)
    if match is None:
        raise UsageError(f"{option}: {text!r} is not a size (S or WxH in pixels)")
    w = float(match.group(1))
    h = float(match.group(2)) if match.group(2) is not None else w
    if w <= 0 or h <= 0:
        raise UsageError(f"{option}: a box size must be positive, got {text!r}")
    return w, h


@dataclass(frozen=True)
class PointBoxes:
    """The box each point becomes: one size for all (``32``, ``32x24``) and/or one per class name
    (``lymphocyte=24,erythrocyte=16``), in pixels, centred on the point; ``clip`` cuts boxes at the image
    edge (else they are kept as they are); both are counted."""

    default: tuple[float, float] | None = None
    per_class: tuple[tuple[str, tuple[float, float]], ...] = ()
    clip: bool = False
    # the names of classes a reader only numbers (ReadPlan.inferred_name: class_0 is category id 1), so that
    # "class_0=24" sizes the class the summary and the output call class_0
    inferred_name: str = "class_{index}"

    def name_of(self, category_id: int, names: dict[int, str]) -> str:
        """The class name per-class sizes are looked up by: the category's name, else the name the reader
        infers for its id."""
        name = names.get(category_id)
        return name if name is not None else self.inferred_name.format(index=category_id - 1, id=category_id)

    @classmethod
    def parse(cls, text: str, clip: bool = False, option: str = "--point-box") -> PointBoxes:
        """``S``, ``WxH``, ``name=S``, ``name=WxH``, comma-separated (at most one size without a name)."""
        default: tuple[float, float] | None = None
        per_class: dict[str, tuple[float, float]] = {}
        for item in (part for part in text.split(",") if part.strip()):
            name, sep, size = item.rpartition("=")
            if not sep:
                if default is not None:
                    raise UsageError(f"{option}: two sizes for every class in {text!r}")
                default = _size(item, option)
            elif not name.strip():
                raise UsageError(f"{option}: a class name is missing before '=' in {text!r}")
            else:
                per_class[name.strip()] = _size(size, option)
        if default is None and not per_class:
            raise UsageError(f"{option}: no size given (S, WxH or name=S)")
        return cls(default, tuple(per_class.items()), clip)

    def size_of(self, name: str) -> tuple[float, float] | None:
        """The box size of the class named ``name`` (its own, else the default; None: no size for it)."""
        for class_name, size in self.per_class:
            if class_name == name:
                return size
        return self.default

    def check_names(self, names: set[str]) -> None:
        """Refuse per-class sizes for classes the dataset does not have (a typo would else be ignored)."""
        unknown = sorted(n for n, _ in self.per_class if n not in names)
        if unknown:
            known = ", ".join(sorted(names))
            raise UsageError(
                f"--point-box names classes the dataset does not have: {', '.join(unknown)} ({known})"
            )

    def check_inferred(self) -> None:
        """Refuse per-class sizes that cannot name a class of a dataset whose classes are only numbered (names
        made as ``inferred_name`` says: class_0, class_1, ...)."""
        import string

        fields = [f for _, f, _, _ in string.Formatter().parse(self.inferred_name) if f]
        head, _, tail = self.inferred_name.partition("{" + fields[0] + "}") if fields else ("", "", "")
        unknown = [
            n
            for n, _ in self.per_class
            if not (n.startswith(head) and n.endswith(tail) and n[len(head) : len(n) - len(tail)].isdigit())
        ]
        if unknown:
            example = self.inferred_name.format(index=0, id=1)
            raise UsageError(
                f"--point-box names classes the dataset does not have: {', '.join(unknown)} (its classes are "
                f"only numbered, named like {example}; or give --names)"
            )

    def box(self, point: Point, name: str, width: int, height: int) -> tuple[Box, bool]:
        """The box of ``point`` (of class ``name``) in an image of ``width`` x ``height``, and whether it
        reached past the image's edge (clipped when ``clip``)."""
        size = self.size_of(name)
        if size is None:
            raise UsageError(f"--point-box gives no size for class {name!r}: add {name}=S or a size for all")
        w, h = size
        x0, y0 = point.x - w / 2, point.y - h / 2
        x1, y1 = x0 + w, y0 + h
        outside = x0 < 0 or y0 < 0 or x1 > width or y1 > height
        if outside and self.clip:
            x0, y0, x1, y1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height))
        return Box.trusted(kind="box", x=x0, y=y0, w=max(x1 - x0, 0.0), h=max(y1 - y0, 0.0)), outside


def label_as_box(record: ImageRecord, report: Report) -> ImageRecord:
    """A classification image (an image-level label, no objects) as one whole-image box of its class, for
    detection formats (folders -> COCO/YOLO/VOC); any other record is returned as it is."""
    if record.instances or record.label is None:
        return record
    report.notice("label-as-box", f"{record.file_name}: image label written as a whole-image box")
    box = Box.trusted(kind="box", x=0.0, y=0.0, w=float(record.width), h=float(record.height))
    instance = Instance.trusted(
        category_id=record.label, geometry=box, iscrowd=False, score=None, attributes={}
    )
    return ImageRecord.trusted(**{**record.__dict__, "instances": [instance]})


def point_boxes(
    record: ImageRecord, boxes: PointBoxes, names: dict[int, str], report: Report
) -> list[Box | None]:
    """The box of each instance of ``record`` that is a point (None for the others), sized by ``boxes``
    (``names``: category id -> class name, for per-class sizes); those reaching past the image are counted
    (``point-box-clipped`` or ``point-box-outside``). Shared by the writers that replace points by boxes and by
    COCO's, which keeps the point and writes its box as the ``bbox``."""
    out: list[Box | None] = []
    outside = 0
    for inst in record.instances:
        g = inst.geometry
        if isinstance(g, Point):
            box, past_edge = boxes.box(g, boxes.name_of(inst.category_id, names), record.width, record.height)
            outside += past_edge
            out.append(box)
        else:
            out.append(None)
    if outside:
        code = "point-box-clipped" if boxes.clip else "point-box-outside"
        how = "clipped to the image" if boxes.clip else "kept reaching past the image edge"
        report.notice(code, f"{record.file_name}: {outside} point boxes {how}", outside)
    return out


def not_a_point(geometry: Geometry, record: ImageRecord) -> Box | Polygon | Rle:
    """A geometry of a record ``points_as_boxes`` went through: never a point (one here is a writer's bug)."""
    if isinstance(geometry, Point):
        raise AssertionError(f"{record.file_name}: a point left after points_as_boxes")
    return geometry


def refuse_points(record: ImageRecord, target: str) -> FormatError:
    """The error of a point bound for ``target`` without a box size: it names the option."""
    return FormatError(
        record.file_name,
        f"points have no size to be written as {target}: give {POINT_BOX_HELP}",
        code="point-needs-box",
    )


def points_as_boxes(
    record: ImageRecord,
    boxes: PointBoxes | None,
    names: dict[int, str],
    report: Report,
    target: str,
) -> ImageRecord:
    """The record with each point replaced by its box (``boxes``), for a writer of ``target`` that holds no
    points; without ``boxes`` a point is refused, naming the option. Records without points come back as
    they are (no copy)."""
    if not any(isinstance(inst.geometry, Point) for inst in record.instances):
        return record
    if boxes is None:
        raise refuse_points(record, target)
    converted = sum(isinstance(inst.geometry, Point) for inst in record.instances)
    report.notice("point-as-box", f"{record.file_name}: {converted} points written as boxes", converted)
    instances = [
        inst if box is None else Instance.trusted(**{**inst.__dict__, "geometry": box})
        for inst, box in zip(record.instances, point_boxes(record, boxes, names, report))
    ]
    return ImageRecord.trusted(**{**record.__dict__, "instances": instances})
