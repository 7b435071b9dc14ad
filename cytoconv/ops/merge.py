"""Merging datasets: several sources into one stream of records, with classes unified by name, clashing file
names kept apart and the same image listed twice read as one.

A merge cannot be decided image by image: whether ``1.jpg`` of the second source clashes, or is the very image
the first source lists as ``a.jpg``, depends on every earlier source. So each source is read twice, memory staying
flat: ``index_sources`` loads every record once for its name, size, class ids and image file (nothing else is
kept), ``plan_merge`` decides names, joins and the class table from that, and the write streams the combined
``ReadPlan`` through ``MergedLoader``, which loads each unit again (with the units joined to it), renumbers its
classes and gives it its new name.

- Classes: unified by name, exactly, or with ``fold_case`` by name with case and surrounding spaces folded (the
  first spelling seen is kept). The new order is the first source's classes, then each later source's new ones;
  ids are 1..N. Names that still differ only in case, spaces, underscores or hyphens are noticed, never merged.
- File names clash when their last path component is the same, whatever the case (``1.jpg``, ``train/1.JPG``):
  the later source's image is renamed ``<source>_<name>`` in its folder (``on_clash="prefix"``), or the merge
  stops naming both sources (``on_clash="error"``).
- The same image (same bytes: only files whose sizes collide are hashed) in two sources is one record with the
  objects of both; an object in both copies (same class, same geometry) is kept once and counted.
- Each record keeps the split its source gave it, unless ``split`` sets one for all.

The images stay where they are. Writers find an image at ``image_root/file_name``, one root for all, so the
merged records' images are presented under their new names in a folder of links (``image_view``), which the
API hands to the writer as its image root and deletes once the output is written.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cytoconv.engine.contract import Loader, ReadOptions, ReadPlan
from cytoconv.engine.files import safe_relative
from cytoconv.engine.pipeline import Summary, final_categories, stream
from cytoconv.errors import FormatError, Report, SkipUnit, UsageError
from cytoconv.ir import Box, Category, ImageRecord, Instance, Point, Polygon

OnClash = Literal["prefix", "error"]
ON_CLASH: tuple[OnClash, ...] = ("prefix", "error")
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class MergeSource:
    """One opened source: its name (for messages and as the prefix of its renamed images), path, format, plan
    and loader."""

    name: str
    path: str
    format: str
    plan: ReadPlan
    load: Loader


@dataclass(frozen=True)
class Entry:
    """What the index keeps of one record: its unit's place, name, size, split, label, class ids and image."""

    unit: int
    file_name: str
    width: int
    height: int
    split: str | None
    label: int | None
    ids: tuple[int, ...]
    image: str | None  # the image file, when the source says where its images are and it exists
    size: int | None  # its size in bytes


@dataclass
class SourceStats:
    """One source in the summary: images and objects read, images renamed and images joined to an earlier
    source's copy."""

    name: str
    path: str
    format: str
    images: int = 0
    objects: int = 0
    renamed: int = 0
    joined: int = 0


@dataclass
class MergeSummary:
    """What a merge did: the writer's summary (images and objects per class out), each source's figures, the
    class table (per source, old name -> new name) and the objects kept once in joined images."""

    summary: Summary
    sources: list[SourceStats]
    classes: list[dict[str, str]]
    duplicate_objects: int = 0


@dataclass(frozen=True)
class MergeUnit:
    """One unit of the combined plan: the source and its unit, the record's new name (None: unchanged) and the
    units of the same image in later sources, joined to it."""

    source: int
    unit: Any
    file_name: str | None = None
    joined: tuple[tuple[int, Any], ...] = ()


@dataclass
class MergePlan:
    """The combined plan, its loader, the links the image view needs (new name -> image file) and the
    figures known before writing."""

    plan: ReadPlan
    load: MergedLoader
    links: dict[str, str]
    sources: list[SourceStats]
    classes: list[dict[str, str]]


def check_options(on_clash: str, split: str | None) -> None:
    """Refuse a bad ``on_clash`` or ``split`` before any source is read."""
    if on_clash not in ON_CLASH:
        raise UsageError(f"--on-clash must be one of {', '.join(ON_CLASH)}, got {on_clash!r}")
    if split is not None and (not split.strip() or "/" in split or "\\" in split or split in (".", "..")):
        raise UsageError(f"--split must be a plain name (train, val, test ...), got {split!r}")


def source_names(paths: Sequence[Path]) -> list[str]:
    """Each source's name: its folder's name or its file's stem, in characters safe in a file name, made unique
    with ``-2``, ``-3`` when two sources share one (``a/labels`` and ``b/labels``)."""
    names: list[str] = []
    for path in paths:
        stem = path.name if path.is_dir() or not path.suffix else path.stem
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "source"
        name, k = base, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.append(name)
    return names


# --- classes ----------------------------------------------------------------------------------------------


def _loose(name: str) -> str:
    """A name with case, spaces, underscores and hyphens ignored: what makes two names near-identical."""
    return re.sub(r"[\s_-]+", "", name.casefold())


def unify_categories(
    per_source: Sequence[Sequence[Category]], names: Sequence[str], fold_case: bool, report: Report
) -> tuple[list[Category], list[dict[int, int]]]:
    """The merged classes (ids 1..N: the first source's classes, then each later source's new ones, in order)
    and, per source, its category id -> new id."""
    key: Callable[[str], str] = (lambda n: n.strip().casefold()) if fold_case else (lambda n: n)
    merged: dict[str, Category] = {}
    origin: dict[str, int] = {}
    maps: list[dict[int, int]] = []
    for s, categories in enumerate(per_source):
        mapping: dict[int, int] = {}
        for category in categories:
            k = key(category.name)
            known = merged.get(k)
            if known is None:
                known = merged[k] = Category.trusted(
                    id=len(merged) + 1, name=category.name, supercategory=category.supercategory
                )
                origin[k] = s
            elif known.name != category.name or origin[k] == s:
                report.notice(
                    "classes-folded", f"{names[s]}: class {category.name!r} merged into {known.name!r}"
                )
            mapping[category.id] = known.id
        maps.append(mapping)
    alike: defaultdict[str, list[str]] = defaultdict(list)
    for category in merged.values():
        alike[_loose(category.name)].append(category.name)
    for group in alike.values():
        if len(group) > 1:
            hint = (
                "" if fold_case else " (--fold-case merges names that differ in case or surrounding spaces)"
            )
            report.notice(
                "class-name-conflict",
                f"classes {' and '.join(repr(n) for n in group)} differ only in case, spaces, underscores or "
                f"hyphens: kept apart{hint}",
            )
    return list(merged.values()), maps


# --- the index: one pass over every source for names, sizes and class ids ----------------------------------


@dataclass(frozen=True)
class IndexLoader:
    """A source's ``load`` reduced to what the merge decides on (picklable, for the worker processes): the
    record's name, size, split, label and class ids, its image file and the file's size in bytes."""

    load: Loader
    image_root: str | None

    def __call__(self, unit: tuple[int, Any], options: ReadOptions, report: Report) -> ImageRecord:
        index, inner = unit
        record = self.load(inner, options, report)
        image, size = None, None
        if self.image_root is not None:
            try:
                candidate = os.path.join(self.image_root, safe_relative(record.file_name, record.file_name))
                size = os.stat(candidate).st_size
                image = candidate
            except (OSError, FormatError):
                pass  # no image file (or an unsafe name, which the writer refuses): nothing to compare
        entry = Entry(
            index,
            record.file_name,
            record.width,
            record.height,
            record.split,
            record.label,
            tuple(inst.category_id for inst in record.instances),
            image,
            size,
        )
        return ImageRecord.trusted(
            file_name=record.file_name,
            width=record.width,
            height=record.height,
            split=None,
            label=None,
            instances=[],
            attributes={"entry": entry},
        )


# Below this many seconds per unit, indexing in this process beats the pool, whose cost is sending each unit
# to a worker (about 0.14 ms for a COCO unit of six 20-vertex polygons): a COCO file's units are indexed in
# process three times faster, YOLO label files or class folders (a file read per image) over the pool.
IN_PROCESS_BELOW = 0.00015
_SAMPLE = 256


def index_source(source: MergeSource, options: ReadOptions, report: Report, jobs: int) -> list[Entry]:
    """Every record of one source as an ``Entry``, in unit order; what the reader skips (lenient) is left out,
    and its problems are told again when the write reads it (``report`` here is scratch).

    The first units are indexed here, timed: when each took less than ``IN_PROCESS_BELOW`` the rest are too,
    else they go over the pool (``jobs``)."""
    units = list(enumerate(source.plan.units))
    loader = IndexLoader(source.load, source.plan.image_root)
    entries: list[Entry] = []

    def here(part: Sequence[tuple[int, Any]]) -> None:
        for unit in part:
            try:
                entries.append(loader(unit, options, report).attributes["entry"])
            except SkipUnit:
                continue

    start = time.perf_counter()
    here(units[:_SAMPLE])
    per_unit = (time.perf_counter() - start) / max(1, min(len(units), _SAMPLE))
    rest = units[_SAMPLE:]
    if jobs == 1 or per_unit < IN_PROCESS_BELOW:
        here(rest)
        return entries
    plan = ReadPlan(categories=source.plan.categories, units=rest, image_root=source.plan.image_root)
    for records, _ in stream(plan, loader, None, options, report, jobs):
        entries.extend(record.attributes["entry"] for record in records)
    return entries


def _digest(path: str) -> str:
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _joins(
    indexed: Sequence[Sequence[Entry]], sources: Sequence[MergeSource]
) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """(source, unit) of each image's first copy -> the (source, unit) of its copies in later sources: the
    same bytes, found by hashing only the files whose sizes collide across sources. Two copies inside one
    source stay two images (that is the source's own matter)."""
    by_size: defaultdict[int, list[tuple[int, Entry]]] = defaultdict(list)
    for s, entries in enumerate(indexed):
        for entry in entries:
            if entry.size is not None:
                by_size[entry.size].append((s, entry))
    joins: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for group in by_size.values():
        if len({s for s, _ in group}) < 2:
            continue
        by_hash: defaultdict[str, list[tuple[int, Entry]]] = defaultdict(list)
        for s, entry in group:
            assert entry.image is not None
            by_hash[_digest(entry.image)].append((s, entry))
        for copies in by_hash.values():
            first_s, first = copies[0]
            taken = {first_s}
            for s, entry in copies[1:]:
                if s in taken:
                    continue
                taken.add(s)
                if (entry.width, entry.height) != (first.width, first.height):
                    raise FormatError(
                        entry.image,
                        f"the same image as {first.file_name} of {sources[first_s].name}, but "
                        f"{entry.width}x{entry.height} here and {first.width}x{first.height} there",
                        code="size-mismatch",
                    )
                joins.setdefault((first_s, first.unit), []).append((s, entry.unit))
    return joins


def _renamed(file_name: str, prefix: str, taken: Container[str]) -> str:
    """``dir/1.jpg`` as ``dir/<prefix>_1.jpg`` (``dir/<prefix>_2_1.jpg``, ... when that is taken too)."""
    folder, _, base = file_name.replace("\\", "/").rpartition("/")
    k = 1
    while True:
        new = f"{prefix}_{base}" if k == 1 else f"{prefix}_{k}_{base}"
        if new.casefold() not in taken:
            return f"{folder}/{new}" if folder else new
        k += 1


def plan_merge(
    sources: Sequence[MergeSource],
    options: ReadOptions,
    report: Report,
    jobs: int = 0,
    *,
    fold_case: bool = False,
    on_clash: OnClash = "prefix",
    split: str | None = None,
) -> MergePlan:
    """Index every source, unify the classes, join the copies of one image, rename clashing file names (or
    refuse them) and return the combined plan and its loader (see the module docstring)."""
    check_options(on_clash, split)
    names = [s.name for s in sources]
    indexed = [index_source(s, options, Report(strict=report.strict), jobs) for s in sources]
    per_source: list[list[Category]] = []
    for source, entries in zip(sources, indexed):
        seen = Summary()
        seen.instances.update(i for entry in entries for i in entry.ids)
        per_source.append(final_categories(source.plan, seen))
    categories, maps = unify_categories(per_source, names, fold_case, report)
    stats = [
        SourceStats(s.name, s.path, s.format, len(entries), sum(len(e.ids) for e in entries))
        for s, entries in zip(sources, indexed)
    ]
    joins = _joins(indexed, sources)
    joined = {member for members in joins.values() for member in members}
    owner: dict[str, tuple[int, str]] = {}  # case-folded last name -> (source, file name) that took it
    units: list[MergeUnit] = []
    links: dict[str, str] = {}
    by_unit = [{e.unit: e for e in entries} for entries in indexed]
    for s, source in enumerate(sources):
        for u, inner in enumerate(source.plan.units):
            if (s, u) in joined:
                stats[s].joined += 1
                continue
            entry = by_unit[s].get(u)
            new_name = None
            if entry is not None:
                name = entry.file_name
                key = name.replace("\\", "/").rpartition("/")[2].casefold()
                first = owner.get(key)
                if first is not None and first[0] != s:
                    if on_clash == "error":
                        raise FormatError(
                            name,
                            f"in {names[first[0]]} ({first[1]}) and in {source.name}: two images of one name "
                            "(--on-clash prefix renames the later one)",
                            code="name-collision",
                        )
                    name = new_name = _renamed(name, source.name, owner)
                    key = name.rpartition("/")[2].casefold()
                    stats[s].renamed += 1
                    report.notice("image-renamed", f"{source.name}: {entry.file_name} -> {name}")
                owner.setdefault(key, (s, name))
                if entry.image is not None:
                    links.setdefault(name, entry.image)
            extra = tuple((t, sources[t].plan.units[v]) for t, v in joins.get((s, u), ()))
            units.append(MergeUnit(s, inner, new_name, extra))
    for s, stat in enumerate(stats):
        if stat.joined:
            report.notice(
                "images-joined",
                f"{sources[s].name}: {stat.joined} image(s) also in an earlier source, read as one with their "
                "objects joined",
                stat.joined,
            )
    plan = ReadPlan(
        categories=categories,
        units=units,
        image_root=None,
        info={"sources": [s.path for s in sources]},
        points=any(s.plan.points for s in sources),
    )
    names_of = {c.id: c.name for c in categories}
    table = [{old.name: names_of[maps[s][old.id]] for old in per_source[s]} for s in range(len(sources))]
    unsplit = _unsplit(indexed, sources, split, report)
    loader = MergedLoader(
        tuple(s.load for s in sources), tuple(maps), tuple(names), split, tuple(names_of.items()), unsplit
    )
    return MergePlan(plan, loader, links, stats, table)


def _unsplit(
    indexed: list[list[Entry]], sources: Sequence[MergeSource], split: str | None, report: Report
) -> str | None:
    """``train`` when some images have a split and others none (and ``--split`` sets none): a YOLO
    ``data.yaml`` lists ``images`` beside ``images/val``, and ultralytics, which globs a folder recursively,
    would then train on the val images. The split-less images are counted per source."""
    if split is not None:
        return None
    splits = [entry.split for entries in indexed for entry in entries]
    if None not in splits or all(s is None for s in splits):
        return None
    for source, entries in zip(sources, indexed):
        count = sum(1 for entry in entries if entry.split is None)
        if count:
            report.notice(
                "unsplit-as-train",
                f"{source.name}: {count} image(s) without a split put in train, beside sources with splits "
                "(--split NAME sets one for all)",
                count,
            )
    return "train"


# --- the write: one loader over every source ---------------------------------------------------------------


_DIGITS = (
    6  # coordinates equal to a millionth of a pixel are equal: YOLO's normalised numbers come back inexact
)


def _q(value: float) -> float:
    return round(value, _DIGITS) + 0.0  # + 0.0: -0.0 is 0.0


def _geometry_key(inst: Instance) -> tuple[Any, ...]:
    """What makes two objects the same: class, crowd flag and geometry of the same kind, coordinates equal to
    a millionth of a pixel (a box and its 4-corner polygon are two objects)."""
    g = inst.geometry
    shape: tuple[Any, ...]
    if isinstance(g, Box):
        shape = ("box", _q(g.x), _q(g.y), _q(g.w), _q(g.h))
    elif isinstance(g, Point):
        shape = ("point", _q(g.x), _q(g.y))
    elif isinstance(g, Polygon):
        rings = tuple((r.shape, (np.round(r, _DIGITS) + 0.0).tobytes()) for r in g.rings)
        shape = ("polygon", rings, tuple(g.holes))
    else:
        counts = g.counts if isinstance(g.counts, str) else tuple(g.counts)
        shape = ("rle", g.height, g.width, counts)
    return (inst.category_id, inst.iscrowd, shape)


@dataclass(frozen=True)
class MergedLoader:
    """The combined plan's loader (picklable): loads a ``MergeUnit`` with its source's loader, renumbers its
    classes, renames it, sets the split and joins the copies of the same image from later sources."""

    loads: tuple[Loader, ...]
    maps: tuple[dict[int, int], ...]
    names: tuple[str, ...]
    split: str | None = None
    classes: tuple[tuple[int, str], ...] = ()  # new id -> name, for messages
    unsplit: str | None = None  # the split of split-less images beside sources that have splits (train)

    def _mapped(self, source: int, record: ImageRecord) -> ImageRecord:
        mapping = self.maps[source]
        instances = []
        for inst in record.instances:
            new = mapping.get(inst.category_id)
            if new is None:
                raise FormatError(
                    record.file_name,
                    f"category id {inst.category_id} is not among {self.names[source]}'s categories",
                    code="unknown-class",
                )
            instances.append(
                inst if new == inst.category_id else Instance.trusted(**{**inst.__dict__, "category_id": new})
            )
        label = mapping.get(record.label) if record.label is not None else None
        return ImageRecord.trusted(**{**record.__dict__, "instances": instances, "label": label})

    def __call__(self, unit: MergeUnit, options: ReadOptions, report: Report) -> ImageRecord:
        record = self._mapped(unit.source, self.loads[unit.source](unit.unit, options, report))
        update: dict[str, Any] = {}
        if unit.file_name is not None:
            update["file_name"] = unit.file_name
        if self.split is not None:
            update["split"] = self.split
        elif record.split is None and self.unsplit is not None:
            update["split"] = self.unsplit
        if unit.joined:
            instances = list(record.instances)
            keys = {_geometry_key(inst) for inst in instances}
            label = record.label
            for source, inner in unit.joined:
                try:
                    other = self._mapped(source, self.loads[source](inner, options, report))
                except SkipUnit:
                    continue
                twice = 0
                for inst in other.instances:
                    key = _geometry_key(inst)
                    if key in keys:
                        twice += 1
                        continue
                    keys.add(key)
                    instances.append(inst)
                if twice:
                    report.notice(
                        "object-joined",
                        f"{record.file_name}: {twice} object(s) also in {self.names[source]}'s "
                        f"{other.file_name}, kept once",
                        twice,
                    )
                if other.label is not None and label is not None and other.label != label:
                    classes = dict(self.classes)
                    report.notice(
                        "label-conflict",
                        f"{record.file_name}: labelled {classes.get(label, label)!r} here and "
                        f"{classes.get(other.label, other.label)!r} in "
                        f"{self.names[source]}'s {other.file_name}; the first kept",
                    )
                label = label if label is not None else other.label
            update["instances"] = instances
            update["label"] = label
        return ImageRecord.trusted(**{**record.__dict__, **update}) if update else record


# --- the images, under their new names ----------------------------------------------------------------------


def image_view(links: dict[str, str], folder: Path) -> None:
    """Present each image under its merged name in ``folder`` (a symbolic link to the file; a hard link or a
    copy where the file system has no symbolic links), so that a writer that copies or places images finds
    them all under one image root."""
    for name, target in links.items():
        path = folder / safe_relative(name, name)
        if os.path.lexists(path):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        absolute = os.path.abspath(target)
        try:
            os.symlink(absolute, path)
        except OSError:
            try:
                os.link(absolute, path)
            except OSError:
                shutil.copyfile(absolute, path)


def duplicate_objects(report: Report) -> int:
    """How many objects joined images held twice (kept once), from the notices the loader made."""
    return report.notices.get("object-joined", 0)
