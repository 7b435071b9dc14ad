"""Clipping outlines to the image frame, exactly, with shapely (GEOS); imported on the first clip only."""

from __future__ import annotations

from typing import Any

import numpy as np

from cytoconv.geometry.outline import part_groups
from cytoconv.ir import Points, Polygon


def clip_polygon(polygon: Polygon, width: int, height: int) -> Polygon | None:
    """The part of ``polygon`` inside the image ``[0, width] x [0, height]``, holes kept, or ``None`` when
    nothing with an area is left.

    Each part (an outer ring with its holes) is made valid first, so that a self-touching outline is clipped
    as the region it draws rather than refused; a part cut in two by the frame becomes two parts."""
    import shapely
    from shapely.geometry import Polygon as ShapelyPolygon
    from shapely.geometry import box as shapely_box

    frame = shapely_box(0, 0, width, height)
    rings: list[Points] = []
    holes: list[bool] = []
    for outer, inner in part_groups(polygon):
        piece: Any = shapely.make_valid(ShapelyPolygon(outer, inner)).intersection(frame)
        for part in getattr(piece, "geoms", [piece]):
            if part.geom_type != "Polygon" or part.is_empty or part.area == 0:
                continue
            rings.append(np.asarray(part.exterior.coords[:-1], dtype=np.float64))
            holes.append(False)
            for interior in part.interiors:
                rings.append(np.asarray(interior.coords[:-1], dtype=np.float64))
                holes.append(True)
    if not rings:
        return None
    return Polygon.trusted(kind="polygon", rings=rings, holes=holes)
