"""The one typed intermediate representation every reader produces and every writer consumes.

Coordinates are absolute pixels in the corner model (FORMATS.md): pixel (i, j) is the square
[i, i+1) x [j, j+1), so a box over exactly the first pixel is ``Box(x=0, y=0, w=1, h=1)``.
Normalisation, 1-based boxes and the like live only in the format module that needs them.

Polygon vertices are held as numpy arrays (one ``(n, 2)`` float64 array per ring), never as one
object per point: a 50,000-image dataset has 22 million vertices.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    model_validator,
)
from typing_extensions import Self

Points = npt.NDArray[np.float64]


def _as_points(value: Any) -> Points:
    """Accept an ``(n, 2)`` array or a flat ``[x1, y1, x2, y2, ...]`` sequence; check shape only."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 1:
        if arr.size % 2:
            raise ValueError(f"a flat ring needs an even number of coordinates, got {arr.size}")
        arr = arr.reshape(-1, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"a ring must have shape (n, 2), got {arr.shape}")
    if arr.shape[0] < 3:
        raise ValueError(f"a ring needs at least 3 points, got {arr.shape[0]}")
    if not np.isfinite(arr).all():
        raise ValueError("a ring has a coordinate that is NaN or infinite")
    return arr


Ring = Annotated[
    Points,
    PlainValidator(_as_points),
    PlainSerializer(lambda a: a.reshape(-1).tolist(), return_type=list),
]


_PRIVATE_DEFAULTS: dict[type, dict[str, Any]] = {}  # per model class: its private attributes' defaults


class _Model(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid", defer_build=True)

    @classmethod
    def trusted(cls, **fields: Any) -> Self:
        """Build without validation, for readers that have already checked their data in bulk.

        Every field must be given. Several times cheaper than ``model_construct``, which matters
        at 315,000 objects; anything from outside cytoconv should use the validating constructor."""
        obj = cls.__new__(cls)
        _set = object.__setattr__
        _set(obj, "__dict__", fields)
        _set(obj, "__pydantic_fields_set__", set(fields))
        _set(obj, "__pydantic_extra__", None)
        private = _PRIVATE_DEFAULTS.get(cls)
        if private is None:  # read off pydantic once per class: its get_default was a fifth of this call
            private = _PRIVATE_DEFAULTS[cls] = {
                k: a.get_default() for k, a in cls.__private_attributes__.items()
            }
        _set(obj, "__pydantic_private__", dict(private) if private else None)
        return obj


class Box(_Model):
    """An axis-aligned box, corner model: ``x, y`` is the top-left corner, ``w, h`` the size in pixels."""

    kind: Literal["box"] = "box"
    x: float
    y: float
    w: float
    h: float

    @property
    def area(self) -> float:
        """The box's area in square pixels (COCO's ``area`` of a box)."""
        return self.w * self.h


class Polygon(_Model):
    """One or more rings. A ring marked as a hole belongs to the nearest outer ring before it and is
    cut out of that part; the parts are then united (an island inside a hole is a part of its own,
    listed after the hole). This is what pixel-edge tracing of a mask gives, and what COCO's union of
    polygons and a bridged outline both rasterise to.

    COCO keeps several parts but no holes; YOLO keeps one part and no holes. The writers decide
    what to do with what their format cannot hold, and say so.
    """

    kind: Literal["polygon"] = "polygon"
    rings: list[Ring]
    holes: list[bool] = Field(default_factory=list)
    # Not data (never written): set only on the outlines the tracer makes, and kept by ``split_parts``. The rings
    # are then the exact pixel-edge outline of a set of pixels, so that COCO's area is their shoelace area and
    # needs no raster. Polygons are never changed in place: whatever moves, scales, clips or simplifies an
    # outline builds a new polygon, which does not have the mark.
    _pixel_exact: bool = PrivateAttr(default=False)

    @classmethod
    def traced(cls, rings: list[Points], holes: list[bool]) -> Polygon:
        """A polygon the tracer made: its rings outline a set of pixels exactly (``pixel_exact``)."""
        polygon = cls.trusted(kind="polygon", rings=rings, holes=holes)
        polygon.__pydantic_private__["_pixel_exact"] = True  # type: ignore[index]
        return polygon

    @property
    def pixel_exact(self) -> bool:
        """Whether the rings are a traced mask's exact outline (see ``traced``), as made, unchanged since."""
        return bool(self._pixel_exact)

    @model_validator(mode="after")
    def _holes_match_rings(self) -> Polygon:
        if not self.holes:
            self.holes = [False] * len(self.rings)
        if len(self.holes) != len(self.rings):
            raise ValueError("holes must have one flag per ring")
        if not self.rings:
            raise ValueError("a polygon needs at least one ring")
        if all(self.holes):
            raise ValueError("a polygon needs at least one outer ring")
        return self

    @property
    def parts(self) -> list[Points]:
        """The outer rings without the holes: one per part of the object."""
        return [r for r, hole in zip(self.rings, self.holes) if not hole]

    def bounds(self) -> Box:
        """The smallest box holding every ring, in pixels."""
        pts = np.concatenate(self.rings)
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        return Box(x=float(x0), y=float(y0), w=float(x1 - x0), h=float(y1 - y0))


class Rle(_Model):
    """A run-length encoded mask, column-major as in COCO; ``counts`` compressed (str) or not (list)."""

    kind: Literal["rle"] = "rle"
    height: int = Field(gt=0)
    width: int = Field(gt=0)
    counts: str | list[int]


class Point(_Model):
    """A point: a cell marked by its centre only (CRIC, Chula RBC-12, COCO keypoints), in the corner model like
    everything else. The centre of pixel index ``i`` (0-based) is the coordinate ``i + 0.5``; a 1-based index
    ``k`` is ``k - 0.5``. A point has no area and no extent: formats of boxes, polygons or masks take it only as
    a box of a size the user gives (``--point-box``)."""

    kind: Literal["point"] = "point"
    x: float
    y: float

    @classmethod
    def at_pixel(cls, i: float, j: float, base: int = 0) -> Point:
        """The point at the centre of pixel (i, j), numbered from ``base`` (0, or 1 as in CRIC's CSV)."""
        return cls.trusted(kind="point", x=float(i) - base + 0.5, y=float(j) - base + 0.5)

    def pixel(self, base: int = 0) -> tuple[float, float]:
        """The pixel index (i, j) whose centre this is, numbered from ``base``: the inverse of ``at_pixel``
        (a whole number for a point read from whole pixel indices)."""
        return self.x - 0.5 + base, self.y - 0.5 + base

    def bounds(self) -> Box:
        """The point's box: zero size, at the point."""
        return Box.trusted(kind="box", x=self.x, y=self.y, w=0.0, h=0.0)


Geometry = Annotated[Box | Polygon | Rle | Point, Field(discriminator="kind")]


class Category(_Model):
    """A class: its id (what ``category_id`` refers to), its name, and an optional supercategory (COCO)."""

    id: int
    name: str
    supercategory: str | None = None


class Instance(_Model):
    """One annotated object. ``attributes`` carries what a format has and others do not
    (VOC ``difficult``, ``truncated``; COCO extra keys), so that a round trip keeps it."""

    category_id: int
    geometry: Geometry
    iscrowd: bool = False
    score: float | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class ImageRecord(_Model):
    """One image: its path relative to the dataset's image root, its size, split and objects."""

    file_name: str
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    split: str | None = None
    label: int | None = None
    instances: list[Instance] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)


class Dataset(_Model):
    """A whole dataset in memory: the categories, the image records, where the images are, and the source's
    info."""

    categories: list[Category]
    images: list[ImageRecord] = Field(default_factory=list)
    image_root: str | None = None
    info: dict[str, Any] = Field(default_factory=dict)

    def category_names(self) -> dict[int, str]:
        """Category id -> name, for writers and messages."""
        return {c.id: c.name for c in self.categories}
