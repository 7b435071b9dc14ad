"""YOLO txt output: ``labels/<split>/<stem>.txt`` per image (boxes or polygons, normalised, class indices from 0)
and a ``data.yaml`` naming the classes in order, optionally with the images placed beside the labels where
ultralytics looks for them (``images/<split>/``).

Points (cell centres) have no YOLO form: with ``--point-box`` each is the box of that size centred on it
(``adapt.points_as_boxes``), written as any box is (a box line, or its 4 corners with ``--task segment``);
without, they are refused (``point-needs-box``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cytoconv.engine.adapt import label_as_box, not_a_point, points_as_boxes
from cytoconv.engine.atomic import atomic_dir
from cytoconv.engine.contract import WriteOptions
from cytoconv.engine.files import safe_relative
from cytoconv.errors import FormatError, Report
from cytoconv.formats.yolo.reader import format_line
from cytoconv.ir import Box, Category, ImageRecord, Polygon, Rle


def _label_of(image: str) -> str:
    """The label file of an image path ``images/...``: ``labels/...`` with the suffix made ``.txt``."""
    name = image.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    suffix = name[dot:] if 0 < dot < len(name) - 1 else ""  # as pathlib's suffix: "a." has none
    return "labels" + image[len("images") : -len(suffix) or None] + ".txt"


class YoloWriter:
    """Writes ``labels/<dir>/<stem>.txt`` per image and a ``data.yaml`` whose ``names`` keep the class order."""

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
        ordered = sorted(categories, key=lambda c: c.id)
        self.index: dict[int, int] | None = {c.id: i for i, c in enumerate(ordered)} if ordered else None
        self.names = [c.name for c in ordered]
        self.category_names = {c.id: c.name for c in ordered}  # per-class --point-box sizes
        # ids 1..N (cytoconv's own numbering) or 0..N-1 (a COCO file counting from 0) are each index + 1 or the
        # index itself: no renumbering worth a word. Only gaps or another start are.
        ids = [c.id for c in ordered]
        if ids != list(range(1, len(ids) + 1)) and ids != list(range(len(ids))):
            mapping = ", ".join(f"{c.id}->{i}" for i, c in enumerate(ordered))
            report.notice("ids-compacted", f"category ids mapped to YOLO class indices: {mapping}")
        self.image_root = image_root
        self.report_to = report  # data.yaml's notices (split names), said in the parent at the end
        if options.place_images != "none" and image_root is None:
            raise FormatError(
                dest,
                "the dataset does not say where its images are, so none can be placed (give --images)",
                code="label-without-image",
            )
        self.tmp: Path | None = None
        self.made: set[str] = set()  # the label folders this process has made

    def set_categories(self, categories: list[Category]) -> None:
        """Names found only at the end (classes inferred from the ids seen)."""
        self.names = [c.name for c in sorted(categories, key=lambda c: c.id)]

    def image_path(self, record: ImageRecord) -> tuple[str, str | None]:
        """Where the record's image belongs, ``images/<split>/<path below the split>`` (its label is the same
        path with ``images`` made ``labels`` and ``.txt``, as ultralytics' ``img2label_paths`` finds it), and
        the split name as read (``None``: no split)."""
        *folders, name = safe_relative(record.file_name, record.file_name).split("/")
        parts = [p for p in folders if p != "images"]
        raw = record.split or (parts[0] if parts else None)
        if parts and raw is not None and parts[0] == raw:
            parts = parts[1:]  # the split's own folder (Roboflow's valid/images/, COCO's train2017/)
        if raw is not None:
            parts = [safe_relative(split_key(raw), raw), *parts]
        return "/".join(["images", *parts, name]), raw

    def label_path(self, record: ImageRecord) -> str:
        """The record's label file, where YOLO looks for it beside ``image_path``."""
        return _label_of(self.image_path(record)[0])

    def encode(self, record: ImageRecord, index: int, report: Report) -> tuple[str, str | None]:
        """Write the record's label file (and, with --copy-images / --link-images, place its image) in a
        worker; returns the label's path and the split as read (for data.yaml)."""
        lines = self.lines(record, report)
        image, raw = self.image_path(record)
        rel = _label_of(image)
        assert self.tmp is not None
        target = os.path.join(self.tmp, rel)
        folder = os.path.dirname(target)
        if folder not in self.made:  # one mkdir per folder, not per file (50,000 files: half a second)
            os.makedirs(folder, exist_ok=True)
            self.made.add(folder)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # as open(target, "x") does
        try:
            os.write(fd, "".join(line + "\n" for line in lines).encode())
        finally:
            os.close(fd)
        if self.options.place_images != "none":
            assert self.image_root is not None
            source = os.path.join(self.image_root, safe_relative(record.file_name, record.file_name))
            place_file(source, self.tmp / image, self.options.place_images == "link", report)
        return rel, raw

    def lines(self, record: ImageRecord, report: Report) -> list[str]:
        """The record's label lines: each object as a box or a polygon as --task says, classes as 0-based
        indices; an image-level label is a whole-image box, a point the box --point-box gives it."""
        from cytoconv.geometry.raster import rasterise, rle_bounds

        record = label_as_box(record, report)  # folders -> YOLO: one whole-image box per image
        record = points_as_boxes(record, self.options.point_box, self.category_names, report, "yolo")
        scale = np.array([record.width, record.height], dtype=np.float64)
        out = []
        task = self.options.task
        crowds = 0
        for inst in record.instances:
            if inst.iscrowd and self.options.crowd == "skip":
                crowds += 1  # a crowd region is not one object: training on it as one teaches the wrong thing
                continue
            cls = self.index.get(inst.category_id) if self.index is not None else inst.category_id - 1
            if cls is None or cls < 0:
                raise FormatError(
                    record.file_name,
                    f"category id {inst.category_id} is not among the categories",
                    code="unknown-class",
                )
            g = not_a_point(inst.geometry, record)
            if isinstance(g, Rle) and task != "detect":
                from cytoconv.geometry.outline import trace

                traced = trace(rasterise(g, g.height, g.width), 0, 0)
                if traced is None:
                    report.notice("empty-mask", f"{record.file_name}: an empty RLE mask written as nothing")
                    continue
                g = traced
            if isinstance(g, Polygon) and task != "detect":
                for ring in self.polygon_rings(g, record, report):
                    out.append(format_line(cls, (ring / scale).reshape(-1), self.options.precision))
                continue
            if isinstance(g, Polygon):
                box = g.bounds()
            elif isinstance(g, Box):
                box = g
            else:
                box = rle_bounds(g)
            if task == "segment":
                corners = (
                    np.array(
                        [
                            box.x,
                            box.y,
                            box.x + box.w,
                            box.y,
                            box.x + box.w,
                            box.y + box.h,
                            box.x,
                            box.y + box.h,
                        ]
                    ).reshape(-1, 2)
                    / scale
                )
                report.notice("box-as-polygon", f"{record.file_name}: box written as a 4-corner polygon")
                out.append(format_line(cls, corners.reshape(-1), self.options.precision))
            else:
                values = np.array(
                    [
                        (box.x + box.w / 2) / scale[0],
                        (box.y + box.h / 2) / scale[1],
                        box.w / scale[0],
                        box.h / scale[1],
                    ]
                )
                out.append(format_line(cls, values, self.options.precision))
        if crowds:
            report.notice(
                "crowd-skipped",
                f"{record.file_name}: {crowds} crowd object(s) (iscrowd 1) not written (--crowd keep writes them)",
                count=crowds,
            )
        return out

    def polygon_rings(self, g: Polygon, record: ImageRecord, report: Report) -> list[npt.NDArray[np.float64]]:
        """The lines an object becomes: a YOLO line holds one outline, no hole and no second part, so
        holes are bridged (``--holes``) and parts split or bridged (``--parts``), and each is counted."""
        from cytoconv.geometry.outline import bridge_holes, bridge_parts

        rings = g.rings
        if any(g.holes):
            if self.options.holes == "fill":
                rings = g.parts
                report.notice("holes-filled", f"{record.file_name}: holes filled", count=sum(g.holes))
            elif self.options.holes == "bridge":
                rings = bridge_holes(g)
                report.notice(
                    "holes-bridged",
                    f"{record.file_name}: holes joined to their outline by zero-width cuts",
                    count=sum(g.holes),
                )
            else:
                raise FormatError(
                    record.file_name,
                    "an object with a hole cannot be one YOLO line (--holes bridge or fill)",
                    code="hole",
                )
        if len(rings) > 1:
            if self.options.parts == "error":
                raise FormatError(
                    record.file_name,
                    f"an object in {len(rings)} parts cannot be one YOLO line (--parts split or bridge)",
                    code="parts",
                )
            if self.options.parts == "bridge":
                report.notice(
                    "parts-bridged",
                    f"{record.file_name}: {len(rings)} parts joined by zero-width cuts",
                    count=len(rings) - 1,
                )
                return [bridge_parts(list(rings))]
            report.notice(
                "parts-split",
                f"{record.file_name}: an object of {len(rings)} parts written as one line per part",
                count=len(rings) - 1,
            )
        return list(rings)

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:
        """The output built in a temporary folder moved into place at the end, refusing two images with one
        label file; data.yaml is written last."""
        seen: set[str] = set()
        splits: dict[str, None] = {}

        def accept(fragment: tuple[str, str | None]) -> None:
            """Refuse a label path an earlier image already took, and note the split it is under."""
            rel, raw = fragment
            if rel in seen:
                raise FormatError(
                    rel, "two images map to this label file (same stem in one folder)", code="duplicate-stem"
                )
            seen.add(rel)
            splits[raw or ""] = None

        with atomic_dir(self.dest, self.options.overwrite) as tmp:
            self.tmp = tmp
            yield accept
            text = self.data_yaml(list(splits), self.report_to)
            (tmp / "data.yaml").write_text(text, encoding="utf-8")

    def data_yaml(self, splits: list[str], report: Report | None = None) -> str:
        """Ultralytics' data.yaml, as ``check_det_dataset`` reads it: ``path`` null, so that the dataset root
        is the YAML's own folder wherever it is moved and whatever the working directory (a relative ``path``,
        even ``.``, is resolved against the working directory or ultralytics' datasets folder, and an
        absolute one breaks when the folder moves or differs with the destination); ``train`` and ``val`` (both required) and ``test`` as
        folders of ``images/`` below it, ``names`` by index. Split names are normalised (``val2017`` -> ``val``); a
        split that is none of train/val/test trains; a missing ``val`` points at ``train`` (and the reverse),
        each said in a notice. Strings are JSON-quoted, which is valid YAML for any name."""
        report = report if report is not None else Report()
        roles: dict[str, list[str]] = {"train": [], "val": [], "test": []}
        other: list[str] = []
        for raw in splits or [""]:
            folder = ("images/" + split_key(raw)).rstrip("/") if raw else "images"
            key = split_key(raw) if raw else "train"
            if raw and key != raw:
                report.notice(
                    "split-renamed", f"split {raw!r} written as {key!r} (images/{key}, labels/{key})"
                )
            roles.get(key, other).append(folder)
        if other:
            report.notice(
                "split-as-train",
                f"split(s) {', '.join(f[len('images/') :] for f in other)} are not train, val or test: "
                "listed under train",
                count=len(other),
            )
            roles["train"] += other
        if not roles["train"]:
            source = "val" if roles["val"] else "test"
            roles["train"] = list(roles[source])
            report.notice("split-reused", f"no train split: train points at the {source} images")
        if not roles["val"]:
            roles["val"] = list(roles["train"])
            report.notice("split-reused", "no val split: val points at the train images")
        lines = [
            "# written by cytoconv: labels/<split>/ beside images/<split>/. path is null on purpose: ultralytics",
            "# then takes this file's folder as the dataset root, wherever the folder is and whatever the cwd.",
            "path: null",
        ]
        for key, folders in roles.items():
            if len(folders) == 1:
                lines.append(f"{key}: {json.dumps(folders[0])}")
            elif folders:
                lines.append(f"{key}: [{', '.join(json.dumps(f) for f in sorted(folders))}]")
        lines += [f"nc: {len(self.names)}", "names:"]
        lines += [f"  {i}: {json.dumps(name, ensure_ascii=False)}" for i, name in enumerate(self.names)]
        return "\n".join(lines) + "\n"


# Split names as the tools that write them spell them -> ultralytics' keys.
SPLIT_KEYS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val"}
SPLIT_KEYS |= {"test": "test", "testing": "test"}


def split_key(name: str) -> str:
    """``train2017`` -> ``train``, ``valid``/``validation`` -> ``val``, ``test2017`` -> ``test`` (a year or
    number after the name is COCO's); any other name is kept as it is."""
    base = name.lower().rstrip("0123456789").rstrip("_-")
    return SPLIT_KEYS.get(base, name)


def place_file(source: str, target: Path, link: bool, report: Report) -> None:
    """Copy ``source`` to ``target`` or hard-link it (a copy, counted, where the file system refuses a link);
    an image that is not there is a problem naming it, and the image is left out."""
    import errno
    import shutil

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if link:
            try:
                os.link(os.path.realpath(source), target)  # the file, never a symlink to it
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                    raise
                report.notice(
                    "link-copied", f"{source}: cannot hard-link here ({exc.strerror}); copied instead"
                )
        shutil.copyfile(source, target)
    except OSError as exc:
        report.problem(
            FormatError(source, f"cannot place the image: {exc.strerror or exc}", code="label-without-image")
        )


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> YoloWriter:
    """The format's ``WriterFactory``: a labels/ tree and its data.yaml."""
    return YoloWriter(dest, categories, image_root, options, report)
