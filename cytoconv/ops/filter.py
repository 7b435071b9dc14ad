"""Filtering a dataset on its way from one file to another (``cytoconv filter``): keep some classes, drop
objects by their pixel area, keep some splits or a list of images, drop images left without objects.

It streams like ``convert``: ``FilterStep`` is a picklable per-record transform that runs in the workers after
each image is read (``ops.resample.TransformedLoader`` wraps the reader's ``load`` with it), and
``FilteredWriter`` wraps the target's writer. The two are needed because the pipeline only counts what is
written: the step marks each record with what it removed (``ImageTally``), the writer takes the mark off in
``encode`` (in the worker, before the format sees the record), leaves out the images the step dropped, and
sends the tally with the encoded piece to the parent, where ``FilterCounts`` adds it up per class and per
reason. Nothing is dropped silently: every object removed is counted by class and reason (its class, its area,
its image dropped), every image by reason (its split, not in the list, its label's class, empty).

Decisions (documented in ``docs/commands/filter.md``):

- ``--classes``/``--drop-classes`` take the classes out of the output's class list too (a model trained on the
  subset has only those classes; YOLO indices are then 0..k-1 in the source's order, noticed as
  ``ids-compacted``), unless ``keep_class_list``. A source whose classes are only numbers (``class_0``, ...,
  inferred from the ids seen) keeps its whole list: there the numbers are the names.
- The area is COCO's ``area`` (``geometry.raster.areas``: the pycocotools raster's pixel count, ``w * h`` for a
  box), in px, or in um2 as ``px * pixel_size**2``; bounds are inclusive (``min <= area <= max`` is kept).
  A point (a cell centre) has no area: it is kept and counted (``no_area``), never guessed at.
- Images dropped by their split, the list or their label are counted only under that reason; their objects
  under ``image``, not under a class or area reason, so that per class
  ``read == removed by class + by area + with their image + written``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cytoconv.engine.contract import ReadPlan, Writer
from cytoconv.engine.pipeline import Summary, final_categories
from cytoconv.errors import Report, UsageError
from cytoconv.ir import Category, ImageRecord, Instance, Point

MARK = "_cytoconv_filter"  # the record attribute carrying an ImageTally from the step to the writer
# why an image was left out, in the order the step asks (the first that applies is its one reason)
IMAGE_REASONS = ("split", "list", "class", "empty", "emptied")
# why an object was left out: its class, its area, or its image dropped
OBJECT_REASONS = ("class", "area", "image")


@dataclass(frozen=True)
class ImageTally:
    """What the step did to one image: objects per (what, class id) with what one of ``read``, ``class``,
    ``area``, ``image``, ``no-area``; the reason the image was dropped (None: kept); its split; the
    ``--images`` entries it matched; whether it was empty in the source, or emptied by the filter."""

    objects: tuple[tuple[str, int, int], ...]
    dropped: str | None
    split: str | None
    matched: tuple[str, ...]
    empty_source: bool
    emptied: bool


@dataclass
class FilterCounts:
    """Everything ``filter`` read, removed and kept, added up in the parent: objects per class, per reason;
    images per reason; the ``--images`` entries and ``--split`` names that matched no image; and the classes
    taken out of the class list."""

    objects_read: Counter[int] = field(default_factory=Counter)
    removed: dict[str, Counter[int]] = field(default_factory=lambda: {r: Counter() for r in OBJECT_REASONS})
    no_area: Counter[int] = field(default_factory=Counter)  # points kept: a point has no area
    images_read: int = 0
    images_dropped: Counter[str] = field(default_factory=Counter)  # reason -> images
    empty_source: int = 0  # images without objects in the source (kept or dropped)
    emptied: int = 0  # images the filter left without objects (kept or dropped)
    splits_seen: set[str | None] = field(default_factory=set)
    matched: set[str] = field(default_factory=set)
    unmatched_names: list[str] = field(default_factory=list)  # --images entries that match no image
    unmatched_splits: list[str] = field(default_factory=list)  # --split names that match no image
    classes_removed: list[Category] = field(default_factory=list)  # taken out of the output's class list

    def add(self, tally: ImageTally) -> None:
        """Fold in one image's tally (in dataset order, in the parent)."""
        self.images_read += 1
        for what, cid, n in tally.objects:
            if what == "read":
                self.objects_read[cid] += n
            elif what == "no-area":
                self.no_area[cid] += n
            else:
                self.removed[what][cid] += n
        if tally.dropped is not None:
            self.images_dropped[tally.dropped] += 1
        self.empty_source += tally.empty_source
        self.emptied += tally.emptied
        self.splits_seen.add(tally.split)
        self.matched.update(tally.matched)


@dataclass
class Filtered:
    """What ``cytoconv.filter_dataset`` returns: the written output's summary (images, objects per class, the
    report) and what the filter removed (``counts``)."""

    summary: Summary
    counts: FilterCounts


@dataclass(frozen=True)
class FilterStep:
    """The per-record transform, picklable so that it runs in the workers. The classes whose objects (and
    labelled images) go are ``removed_ids``, or every class but ``kept_ids``; areas are compared as
    ``area_px * area_scale`` (``pixel_size ** 2`` for um2, else 1); ``splits`` and ``image_list`` (normalised
    names, see ``normalise_name``) keep images."""

    removed_ids: frozenset[int] = frozenset()
    kept_ids: frozenset[int] | None = None  # --classes: every other class goes (ids known or not)
    min_area: float | None = None
    max_area: float | None = None
    area_scale: float = 1.0
    splits: frozenset[str] | None = None
    image_list: frozenset[str] | None = None
    drop_empty: bool = False

    def __call__(self, record: ImageRecord, report: Report) -> ImageRecord:
        objects: Counter[tuple[str, int]] = Counter(("read", i.category_id) for i in record.instances)
        matched = self._matches(record) if self.image_list is not None else ()
        empty_source = not record.instances and record.label is None
        reason: str | None = None
        if self.splits is not None and record.split not in self.splits:
            reason = "split"
        elif self.image_list is not None and not matched:
            reason = "list"
        elif record.label is not None and self.removes(record.label):
            reason = "class"
        if reason is not None:
            objects.update(("image", i.category_id) for i in record.instances)
            return self._marked(record, [], objects, reason, matched, empty_source, emptied=False)
        kept = [i for i in record.instances if not self.removes(i.category_id)]
        objects.update(("class", i.category_id) for i in record.instances if self.removes(i.category_id))
        if self.min_area is not None or self.max_area is not None:
            kept = self._by_area(record, kept, objects)
        emptied = bool(record.instances) and not kept and record.label is None
        if self.drop_empty and (empty_source or emptied):
            reason = "empty" if empty_source else "emptied"
        return self._marked(record, kept, objects, reason, matched, empty_source, emptied)

    def removes(self, category_id: int) -> bool:
        """Whether the objects of this class go."""
        if self.kept_ids is not None:
            return category_id not in self.kept_ids
        return category_id in self.removed_ids

    def _by_area(
        self, record: ImageRecord, kept: list[Instance], objects: Counter[tuple[str, int]]
    ) -> list[Instance]:
        """The objects whose area is within the bounds; points (no area) kept and counted."""
        from cytoconv.geometry.raster import areas

        shapes = [(k, i.geometry) for k, i in enumerate(kept) if not isinstance(i.geometry, Point)]
        measured = dict(
            zip((k for k, _ in shapes), areas([g for _, g in shapes], record.height, record.width))
        )
        out = []
        for k, inst in enumerate(kept):
            if k not in measured:  # a point
                objects["no-area", inst.category_id] += 1
                out.append(inst)
            elif (self.min_area is None or measured[k] * self.area_scale >= self.min_area) and (
                self.max_area is None or measured[k] * self.area_scale <= self.max_area
            ):
                out.append(inst)
            else:
                objects["area", inst.category_id] += 1
        return out

    def _matches(self, record: ImageRecord) -> tuple[str, ...]:
        """The ``--images`` entries naming this image: its relative path, or its bare name."""
        assert self.image_list is not None
        path = normalise_name(record.file_name)
        found = {path, path.rsplit("/", 1)[-1]} & self.image_list
        return tuple(sorted(found))

    def _marked(
        self,
        record: ImageRecord,
        instances: list[Instance],
        objects: Counter[tuple[str, int]],
        reason: str | None,
        matched: tuple[str, ...],
        empty_source: bool,
        emptied: bool,
    ) -> ImageRecord:
        """The record with its kept objects and the tally; a dropped image has no objects and no label left,
        so that the pipeline's own count of it (taken before the writer sees the mark) adds no object."""
        tally = ImageTally(
            objects=tuple((what, cid, n) for (what, cid), n in sorted(objects.items())),
            dropped=reason,
            split=record.split,
            matched=matched,
            empty_source=empty_source,
            emptied=emptied,
        )
        return ImageRecord.trusted(
            file_name=record.file_name,
            width=record.width,
            height=record.height,
            split=record.split,
            label=None if reason is not None else record.label,
            instances=[] if reason is not None else instances,
            attributes={**record.attributes, MARK: tally},
        )


@dataclass(frozen=True)
class OutputClasses:
    """The output's class list, once every record is read: the kept classes when the source names them; for
    classes inferred from ids (``class_0``, ...), every id read, kept or not, named as ``convert`` names them.
    An object, not a closure, so that the writer holding it pickles into worker processes (spawn)."""

    kept: tuple[Category, ...]
    inferred: bool
    categories_known: bool
    inferred_name: str

    def __call__(self, counts: FilterCounts) -> list[Category]:
        if not self.inferred:
            return list(self.kept)
        plan = ReadPlan(
            categories=[], units=[], categories_known=self.categories_known, inferred_name=self.inferred_name
        )
        return final_categories(plan, Summary(instances=Counter(counts.objects_read)))


class FilteredWriter:
    """The target's writer behind the filter: ``encode`` (in a worker) takes the step's tally off the record
    and encodes only the images kept; ``sink`` (in the parent) adds every tally into ``counts`` and hands the
    kept pieces to the target's sink. Images keep their place (``index``), so a COCO output gives the kept
    images the ids a plain ``convert`` would, whatever the number of processes."""

    def __init__(self, inner: Writer, counts: FilterCounts, categories: OutputClasses):
        self.inner = inner
        self.counts = counts
        self.categories = categories  # the output's class list, from what was read (inferred names)
        self.written: list[Category] = []

    def encode(self, record: ImageRecord, index: int, report: Report) -> tuple[ImageTally, Any]:
        """The tally, and the target's piece for a kept image (None for a dropped one)."""
        attributes = dict(record.attributes)
        tally: ImageTally = attributes.pop(MARK)
        if tally.dropped is not None:
            return tally, None
        clean = ImageRecord.trusted(**{**record.__dict__, "attributes": attributes})
        return tally, self.inner.encode(clean, index, report)

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:
        """The target's sink, fed the kept pieces in dataset order; every tally counted on the way."""
        with self.inner.sink() as accept:

            def take(piece: tuple[ImageTally, Any]) -> None:
                tally, encoded = piece
                self.counts.add(tally)
                if tally.dropped is None:
                    accept(encoded)

            yield take

    def set_categories(self, categories: list[Category]) -> None:
        """The output's class list: the kept classes (or, for classes inferred from ids, every id read)."""
        self.written = self.categories(self.counts)
        self.inner.set_categories(self.written)


# ---------------------------------------------------------------------------------------------------------
# Checking and resolving the criteria, before anything is read


def check_area(min_area: float | None, max_area: float | None, pixel_size: float | None) -> float:
    """The area bounds are finite, 0 or more, and in order; ``pixel_size`` (um per pixel) scales them to um2
    and means nothing without one. Returns the factor from px to the bounds' unit (``pixel_size ** 2``)."""
    from cytoconv.ops.stats import check_pixel_size

    for option, value in (("--min-area", min_area), ("--max-area", max_area)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise UsageError(f"{option} must be a finite area of 0 or more, got {value:g}")
    if min_area is not None and max_area is not None and min_area > max_area:
        raise UsageError(f"--min-area {min_area:g} is above --max-area {max_area:g}: no object would be kept")
    if pixel_size is None:
        return 1.0
    check_pixel_size(pixel_size)
    if min_area is None and max_area is None:
        raise UsageError("--pixel-size scales --min-area and --max-area to um2: give one of them")
    return pixel_size * pixel_size


def normalise_name(name: str) -> str:
    """An image name as ``--images`` and the records compare them: forward slashes, no leading ``./``."""
    name = name.strip().replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def read_image_list(source: str | Path | Iterable[str]) -> tuple[str, ...]:
    """The image names of ``--images``: a file of one name per line (blank lines and ``#`` comments
    skipped), or the names themselves; normalised, in order, each once."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            raise UsageError(
                f"--images {path}: a folder; filter's --images is a file of image names (the images folder is "
                "--image-dir)"
            )
        if not path.is_file():
            raise UsageError(f"--images {path}: no such file (a list of image names, one per line)")
        lines: Iterable[str] = path.read_text(encoding="utf-8-sig").splitlines()
        where = str(path)
    else:
        lines, where = source, "--images"
    names = [normalise_name(line) for line in lines]
    out = tuple(dict.fromkeys(n for n in names if n and not n.startswith("#")))
    if not out:
        raise UsageError(f"{where}: no image names (one per line); it would keep no image")
    return out


def class_ids(values: Sequence[str], plan: ReadPlan, option: str) -> frozenset[int]:
    """Class names to category ids: an exact name, else the one name equal ignoring case; for a source whose
    classes are inferred from ids (``class_0``, ...), names of that pattern. Every unknown name is listed in
    one error, with the classes there are."""
    by_name = {c.name: c.id for c in plan.categories}
    folded: dict[str, list[int]] = {}
    for c in plan.categories:
        folded.setdefault(c.name.casefold(), []).append(c.id)
    pattern = _inferred_pattern(plan.inferred_name) if not plan.categories else None
    out: set[int] = set()
    unknown: list[str] = []
    for value in values:
        if value in by_name:
            out.add(by_name[value])
        elif len(folded.get(value.casefold(), [])) == 1:
            out.add(folded[value.casefold()][0])
        elif pattern is not None and (match := pattern[0].fullmatch(value)):
            out.add(int(match.group(1)) + pattern[1])
        else:
            unknown.append(value)
    if unknown:
        if plan.categories:
            known = ", ".join(c.name for c in plan.categories)
        else:
            known = "named by number: " + plan.inferred_name.format(index=0, id=1) + ", ..."
        names = ", ".join(repr(v) for v in unknown)
        raise UsageError(f"{option} {names}: no such class (classes: {known})")
    return frozenset(out)


def _inferred_pattern(inferred_name: str) -> tuple[re.Pattern[str], int] | None:
    """The regex of an inferred class name (``class_{index}``) and what to add to its number for the id."""
    for key, offset in (("{index}", 1), ("{id}", 0)):
        if key in inferred_name:
            head, _, tail = inferred_name.partition(key)
            return re.compile(re.escape(head) + r"(\d+)" + re.escape(tail)), offset
    return None


def parse_list(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``a,b`` (or a sequence) -> the non-empty, stripped names, each once, in order."""
    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(dict.fromkeys(s.strip() for s in items if s.strip()))


def build_step(
    plan: ReadPlan,
    *,
    classes: Sequence[str] = (),
    drop_classes: Sequence[str] = (),
    min_area: float | None = None,
    max_area: float | None = None,
    pixel_size: float | None = None,
    splits: Sequence[str] = (),
    image_list: tuple[str, ...] | None = None,
    empty: Literal["keep", "drop"] = "keep",
    keep_class_list: bool = False,
) -> tuple[FilterStep, list[Category], FilterCounts, OutputClasses]:
    """The step, the class list the writer starts from, the counts it fills and the rule for the final class
    list, from checked criteria (``check_criteria`` first, so that usage errors come before the plan)."""
    scale = check_area(min_area, max_area, pixel_size)
    kept = class_ids(classes, plan, "--classes") if classes else None
    removed = class_ids(drop_classes, plan, "--drop-classes") if drop_classes else frozenset()
    step = FilterStep(
        removed_ids=removed,
        kept_ids=kept,
        min_area=min_area,
        max_area=max_area,
        area_scale=scale,
        splits=frozenset(splits) if splits else None,
        image_list=frozenset(image_list) if image_list is not None else None,
        drop_empty=empty == "drop",
    )
    counts = FilterCounts()
    inferred = not plan.categories
    kept_list = list(plan.categories)
    if not inferred and not keep_class_list:
        counts.classes_removed = [c for c in plan.categories if step.removes(c.id)]
        kept_list = [c for c in plan.categories if not step.removes(c.id)]
    final = OutputClasses(tuple(kept_list), inferred, plan.categories_known, plan.inferred_name)
    return step, kept_list, counts, final


def check_criteria(
    empty: str,
    classes: Sequence[str],
    drop_classes: Sequence[str],
    min_area: float | None,
    max_area: float | None,
    pixel_size: float | None,
) -> None:
    """The criteria that need no plan, checked before the source is even opened: ``--empty``, the areas, and
    not both ``--classes`` and ``--drop-classes``."""
    check_area(min_area, max_area, pixel_size)
    if empty not in ("keep", "drop"):
        raise UsageError(f"--empty must be keep or drop, got {empty!r}")
    if classes and drop_classes:
        raise UsageError("give --classes or --drop-classes, not both")


def finish(
    summary: Summary,
    counts: FilterCounts,
    writer: FilteredWriter,
    splits: Sequence[str],
    image_list: tuple[str, ...] | None,
) -> Filtered:
    """The run's summary made the output's (the dropped images, which the pipeline counted as read empty
    images, taken out; the class list as written) and the names that matched nothing."""
    dropped = sum(counts.images_dropped.values())
    summary.images -= dropped
    summary.empty_images -= dropped
    summary.categories = writer.written
    if image_list is not None:
        counts.unmatched_names = [n for n in image_list if n not in counts.matched]
    counts.unmatched_splits = [s for s in splits if s not in counts.splits_seen]
    return Filtered(summary=summary, counts=counts)
