"""Label Studio JSON writer: the export Label Studio imports (Import -> JSON, or as pre-annotated tasks).

One task per image, in dataset order: ``{"id": k, "data": {"image": <file_name>}, "annotations": [{"id": k,
"result": [...], "was_cancelled": false, "ground_truth": false}], "predictions": []}``. ``data.image`` is the
record's file name, relative to the image root (prefix it in Label Studio's storage settings, or give
``image_prefix``). Each object is one result with ``original_width`` / ``original_height``, ``image_rotation``
0, ``to_name`` ``image`` and ``from_name`` its type (the labeling config on the format's page declares those
names), its id ``<task>-<k>`` (deterministic):

- a polygon of one outline without holes: ``polygonlabels``, its points in percent (``x% = x * 100 / W``);
- a polygon with holes or several parts: ``brushlabels``, its pycocotools raster as a brush RLE (one region,
  so that the object stays one), counted (``polygon-as-rle``);
- a box: ``rectanglelabels`` (``rotation`` 0); a point: ``keypointlabels``; an RLE mask: ``brushlabels``.

The class list (``[{"id", "name"}]`` in id order) is the last task's ``meta.categories``: Label Studio keeps a task's
``meta`` and the labels themselves are names, so the reader takes the class order (and classes no object uses)
from there; an image without objects has its size in ``meta.original_width`` / ``original_height``. Label Studio has no crowd flag and no free attributes: those are counted (``attribute-dropped``). A score is
kept as the result's ``score``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cytoconv.engine.adapt import label_as_box
from cytoconv.engine.atomic import atomic_file
from cytoconv.engine.contract import WriteOptions
from cytoconv.errors import Report
from cytoconv.formats.labelstudio.syntax import pixels
from cytoconv.ir import Box, Category, ImageRecord, Point, Polygon, Rle


def percent(values: npt.ArrayLike, size: int) -> list[float]:
    """Pixels as percent of ``size``: for each, the float nearest ``x * 100 / size`` that the reader's formula
    (``syntax.pixels``) turns back into ``x`` exactly, searched 16 ulps either side; short pixel values always
    come back exactly, a 17-digit one may come back off by its last bits (under 1e-11 px)."""
    x = np.asarray(values, dtype=np.float64)
    first = x * 100.0 / size
    best = first.copy()
    found = pixels(first, size) == x
    up, down = first.copy(), first.copy()
    for _ in range(16):  # the floats on either side, nearest first
        if found.all():
            break
        up, down = np.nextafter(up, np.inf), np.nextafter(down, -np.inf)
        for candidate in (up, down):
            hit = ~found & (pixels(candidate, size) == x)
            best = np.where(hit, candidate, best)
            found |= hit
    return best.tolist()  # type: ignore[no-any-return]


class LabelStudioWriter:
    """One export file: ``encode`` makes each task's JSON (in workers), ``sink`` writes them in order."""

    def __init__(
        self,
        dest: Path,
        categories: list[Category],
        image_root: str | None,
        options: WriteOptions,
        report: Report,
    ) -> None:
        self.dest = dest
        self.options = options
        self.names = {c.id: c.name for c in categories}
        self.prefix = str(getattr(options, "image_prefix", "") or "")

    def set_categories(self, categories: list[Category]) -> None:
        """Keep the final names (the tasks already written used the same ids)."""
        self.names = {c.id: c.name for c in categories}

    def _name(self, category_id: int) -> str:
        return self.names.get(category_id) or f"class_{category_id - 1}"

    def encode(self, record: ImageRecord, index: int, report: Report) -> bytes:
        """One task's JSON bytes."""
        import orjson

        from cytoconv.formats.labelstudio import brush
        from cytoconv.geometry import raster as geo

        record = label_as_box(record, report)
        width, height = record.width, record.height
        results: list[dict[str, Any]] = []
        for k, inst in enumerate(record.instances):
            g = inst.geometry
            name = self._name(inst.category_id)
            type_: str
            value: dict[str, Any]
            if isinstance(g, Polygon) and len(g.rings) == 1:
                type_ = "polygonlabels"
                ring = g.rings[0]
                value = {
                    "points": [list(p) for p in zip(percent(ring[:, 0], width), percent(ring[:, 1], height))]
                }
            elif isinstance(g, Box):
                type_ = "rectanglelabels"
                (x, w), (y, h) = percent([g.x, g.w], width), percent([g.y, g.h], height)
                value = {"x": x, "y": y, "width": w, "height": h, "rotation": 0}
            elif isinstance(g, Point):
                type_ = "keypointlabels"
                value = {"x": percent([g.x], width)[0], "y": percent([g.y], height)[0]}
            else:
                if isinstance(g, Polygon):
                    report.notice(
                        "polygon-as-rle",
                        f"{record.file_name}: an object with holes or several parts written as a brush mask",
                    )
                assert isinstance(g, (Polygon, Rle))
                mask = geo.rasterise(g, height, width)
                type_ = "brushlabels"
                value = {"format": "rle", "rle": brush.encode_mask(mask)}
            value[type_] = [name]
            if inst.iscrowd or inst.attributes:
                report.notice(
                    "attribute-dropped",
                    f"{record.file_name}: crowd flag or attributes ({', '.join(sorted(inst.attributes))}) not kept",
                )
            result: dict[str, Any] = {
                "id": f"{index + 1}-{k + 1}",
                "type": type_,
                "from_name": type_,
                "to_name": "image",
                "original_width": width,
                "original_height": height,
                "image_rotation": 0,
                "value": value,
            }
            if inst.score is not None:
                result["score"] = inst.score
            results.append(result)
        task = {
            "id": index + 1,
            "data": {"image": self.prefix + record.file_name},
            "annotations": [
                {"id": index + 1, "result": results, "was_cancelled": False, "ground_truth": False}
            ],
            "predictions": [],
        }
        if not results:  # no result to carry the image's size
            task["meta"] = {"original_width": width, "original_height": height}
        return orjson.dumps(task, option=orjson.OPT_INDENT_2 if self.options.indent else 0)

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:
        """Write the list atomically, one task per line (or indented with ``--indent``)."""
        with atomic_file(self.dest, self.options.overwrite) as fh:
            import orjson

            fh.write(b"[")
            count = [0]
            held: list[bytes] = []  # the last task, written at the end with the class list in its meta

            def accept(piece: bytes) -> None:
                """Write the task before this one, and hold this one."""
                if held:
                    fh.write((b",\n" if count[0] else b"\n") + held.pop())
                    count[0] += 1
                held.append(piece)

            yield accept
            if held:
                last = orjson.loads(held.pop())
                last.setdefault("meta", {})["categories"] = [
                    {"id": k, "name": self.names[k]} for k in sorted(self.names)
                ]
                option = orjson.OPT_INDENT_2 if self.options.indent else 0
                fh.write((b",\n" if count[0] else b"\n") + orjson.dumps(last, option=option))
            fh.write(b"\n]\n")


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> LabelStudioWriter:
    """The registry's writer factory: one Label Studio JSON export at ``dest``."""
    return LabelStudioWriter(dest, categories, image_root, options, report)
