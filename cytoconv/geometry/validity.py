"""Polygon validity through shapely (GEOS), many polygons per call; shapely is imported on the first call only,
so files without polygons (box-only YOLO, VOC) never pay for it."""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

_REASON = re.compile(r"^(.*?)\s*\[(\S+) (\S+)\]$")


def reason_text(reason: str) -> str:
    """``Self-intersection[0.4 0.5]`` -> ``self-intersection at (0.4, 0.5)``."""
    match = _REASON.match(reason)
    if match is None:
        return reason[:1].lower() + reason[1:]
    what, x, y = match.groups()
    try:
        where = f"({float(x):.6g}, {float(y):.6g})"
    except ValueError:
        where = f"({x}, {y})"
    return f"{what[:1].lower()}{what[1:]} at {where}"


def invalid_reasons(rings: list[npt.NDArray[np.float64]]) -> list[str | None]:
    """For each ring, an ``(n, 2)`` array of an unclosed (or closed) outline: ``None`` when it is a valid
    polygon, else why not, in shapely's words (``explain_validity``)."""
    out: list[str | None] = [None] * len(rings)
    todo = []
    for k, ring in enumerate(rings):
        distinct = len(ring) - (1 if 1 < len(ring) <= 3 and np.array_equal(ring[0], ring[-1]) else 0)
        if (
            distinct < 3
        ):  # (only rings of 3 points or fewer can have fewer than 3 once a closing repeat is off)
            out[k] = f"too few points ({distinct} distinct)"
        else:
            todo.append(k)
    if not todo:
        return out
    import shapely

    try:
        coords = np.concatenate([rings[k] for k in todo])
        indices = np.repeat(np.arange(len(todo)), [len(rings[k]) for k in todo])
        polygons = shapely.polygons(shapely.linearrings(coords, indices=indices))
        valid = shapely.is_valid(polygons)
        bad = np.flatnonzero(~valid)
        reasons = shapely.is_valid_reason(polygons[bad]) if bad.size else []
        for j, reason in zip(bad, reasons):
            out[todo[int(j)]] = reason_text(str(reason))
    except (shapely.errors.GEOSException, ValueError):  # one odd ring spoils a batch: ask one by one
        for k in todo:
            try:
                polygon = shapely.Polygon(rings[k])
                if not shapely.is_valid(polygon):
                    out[k] = reason_text(str(shapely.is_valid_reason(polygon)))
            except (shapely.errors.GEOSException, ValueError) as exc:
                out[k] = str(exc)
    return out
