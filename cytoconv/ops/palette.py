"""One colour per class, the same in ``cytoconv draw`` and in the ``stats --plot`` bars.

A class's colour depends only on its rank among the dataset's category ids (sorted), never on
which classes an image or a ``--only`` filter happens to show, so one class keeps one colour
across every picture of a dataset.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable

RGB = tuple[int, int, int]

# Saturated colours that stay apart from each other and from pink/purple stained cells and a
# pale background (tab10-like, reordered so that the first classes differ most).
BASE: tuple[RGB, ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (0, 128, 128),
    (170, 110, 40),
    (128, 0, 0),
    (0, 0, 128),
    (128, 128, 0),
    (255, 225, 25),
    (0, 190, 255),
    (255, 99, 71),
    (46, 139, 87),
    (255, 140, 0),
    (75, 0, 130),
    (107, 142, 35),
)


def colour(rank: int) -> RGB:
    """The colour of the ``rank``-th class: the base list, then hues spaced by the golden angle."""
    if rank < len(BASE):
        return BASE[rank]
    hue = ((rank - len(BASE)) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return round(r * 255), round(g * 255), round(b * 255)


def class_colours(category_ids: Iterable[int]) -> dict[int, RGB]:
    """Colour of each category id, by rank of the id among all of them (sorted)."""
    return {cid: colour(rank) for rank, cid in enumerate(sorted(set(category_ids)))}


def hex_colour(rgb: RGB) -> str:
    """An RGB colour as ``#rrggbb``, the form plotting libraries take."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)
