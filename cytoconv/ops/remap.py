"""Remapping classes: rename, merge and drop the classes of a dataset while it streams (``cytoconv remap``).

A map says, for each class of the dataset, what it becomes: a new name (classes given the same name merge
into one), or nothing (``-`` in text, ``null`` in a file: the class and its objects are dropped). The new
classes are numbered 1..N in the order of their first appearance in the map, or in the order ``--order``
gives. Every old class must be accounted for (``unmapped="error"``, the default, names every one that is
not), because a class left out of a map by mistake would otherwise vanish or survive unnoticed; and every
key of the map must be a class of the dataset, because a misspelt key would otherwise map nothing.

The remapping runs in the writer's workers (``RemapWriter`` wraps the target's writer): each record's objects
get their new class, the objects of dropped classes are left out, and a class-folder image whose label is
dropped is left out whole. Each record's counts per old class travel back with its encoded piece, so the
parent can tell, per class, how many objects (or images) there were before and how many each new class got.
"""

from __future__ import annotations

import difflib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cytoconv.engine.contract import Writer
from cytoconv.engine.pipeline import Summary
from cytoconv.errors import FormatError, Report, UsageError
from cytoconv.ir import Category, ImageRecord, Instance

Unmapped = Literal["error", "keep", "drop"]
UNMAPPED = ("error", "keep", "drop")
DROP_MARK = "-"  # the new name that drops a class (a file may also say null)
MAP_SUFFIXES = (".yaml", ".yml", ".json")

Pairs = list[tuple[str, str | None]]  # (old name, new name or None: dropped), in the map's order


# ---------------------------------------------------------------------------------------------
# The map as text


def parse_map(text: str) -> Pairs:
    """``--map`` as (old, new) pairs: a YAML or JSON file when ``text`` names one (a name ending in .yaml, .yml
    or .json that is no file is an error), else inline ``old=new,old=new`` (``new`` ``-`` drops the class;
    names may hold spaces, which are stripped at both ends; a name holding ``,`` or ``=`` needs a file)."""
    if os.path.isfile(text):
        return map_from_file(Path(text))
    if text.lower().endswith(MAP_SUFFIXES):
        raise UsageError(f"--map {text}: no such file")
    return _inline(text)


def _inline(text: str) -> Pairs:
    pairs: Pairs = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue  # a trailing comma
        old, sep, new = item.partition("=")
        old, new = old.strip(), new.strip()
        if not sep or "=" in new or not old:
            raise UsageError(
                f"--map: {item!r} is not old=new (new '{DROP_MARK}' drops the class; "
                "a name holding ',' or '=' needs a YAML or JSON map file)"
            )
        if not new:
            raise UsageError(
                f"--map: {item!r} gives no new name (give one, or '{DROP_MARK}' to drop the class)"
            )
        pairs.append((old, None if new == DROP_MARK else new))
    if not pairs:
        raise UsageError(f"--map {text!r}: no old=new pairs")
    return _no_repeats(pairs, "--map")


def map_from_file(path: Path) -> Pairs:
    """A YAML or JSON file holding one mapping ``{old: new}`` (``new`` null or ``-``: dropped); a key given
    twice, a value that is no name, or anything but a mapping is a usage error naming the file."""
    where = f"--map {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where}: cannot read it ({exc})") from None
    items: list[tuple[Any, Any]]
    if path.suffix.lower() == ".json":
        try:
            loaded = json.loads(text, object_pairs_hook=lambda kv: kv)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}:{exc.lineno}: not JSON ({exc.msg})") from None
        if not isinstance(loaded, list) or any(not isinstance(v, tuple) for v in loaded):
            raise UsageError(f'{where}: expected one JSON object {{"old": "new"}}')
        items = list(loaded)
    else:
        items = _yaml_pairs(text, where)
    pairs: Pairs = []
    for key, value in items:
        old = _name(key, where, "key")
        if old is None:
            raise UsageError(f"{where}: a key is empty or null (every key is a class of the dataset)")
        new = _name(value, where, f"value of {old!r}")
        pairs.append((old, None if new in (None, DROP_MARK) else new))
    if not pairs:
        raise UsageError(f"{where}: the map is empty")
    return _no_repeats(pairs, where)


def _yaml_pairs(text: str, where: str) -> list[tuple[Any, Any]]:
    """The (key, value) pairs of a YAML mapping in file order, keys given twice kept (to be refused): a plain
    ``safe_load`` would keep the last silently."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{where}{line}: not YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(node, yaml.MappingNode):
        raise UsageError(f"{where}: expected one mapping of old: new")
    constructor = yaml.SafeLoader("")
    pairs = []
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode) or not isinstance(value, yaml.ScalarNode):
            raise UsageError(f"{where}:{key.start_mark.line + 1}: expected old: new, one name each")
        pairs.append((constructor.construct_object(key), constructor.construct_object(value)))
    return pairs


def _name(value: Any, where: str, what: str) -> str | None:
    """A class name from a file: a string (a number, as YAML reads ``0: blast``, becomes its text); null and
    the empty string are None; a yes/no that YAML read as a boolean is refused (quote it)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise UsageError(f"{where}: the {what} reads as a yes/no value; quote the name")
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        raise UsageError(f"{where}: the {what} is not a class name")
    return value if value.strip() else None


def _no_repeats(pairs: Pairs, where: str) -> Pairs:
    twice = [old for old, n in Counter(old for old, _ in pairs).items() if n > 1]
    if twice:
        raise UsageError(f"{where}: a class given twice: {', '.join(twice)}")
    return pairs


def as_pairs(mapping: str | Path | Mapping[str, str | None] | Sequence[tuple[str, str | None]]) -> Pairs:
    """The library's ways of giving a map, as pairs: text as ``--map`` takes it, a path to a file, a dict or a
    sequence of (old, new) pairs (``None`` or ``-`` drops)."""
    if isinstance(mapping, str):
        return parse_map(mapping)
    if isinstance(mapping, Path):
        return map_from_file(mapping)
    items = list(mapping.items()) if isinstance(mapping, Mapping) else list(mapping)
    pairs: Pairs = []
    for old, new in items:
        if not isinstance(old, str) or not old or (new is not None and (not isinstance(new, str) or not new)):
            raise UsageError(f"the map: {old!r}: {new!r} is not a class name and a new name (or None)")
        pairs.append((old, None if new in (None, DROP_MARK) else new))
    if not pairs:
        raise UsageError("the map is empty")
    return _no_repeats(pairs, "the map")


def parse_order(text: str | None) -> tuple[str, ...] | None:
    """``--order a,b,c`` as names (stripped; empty items ignored)."""
    if text is None:
        return None
    return tuple(n.strip() for n in text.split(",") if n.strip())


# ---------------------------------------------------------------------------------------------
# The map resolved against the dataset's classes


@dataclass(frozen=True)
class ClassMap:
    """A map resolved against a dataset's classes: the new classes (ids 1..N, in order), and each old
    class id's new id (None: dropped). Picklable: it travels to the workers inside ``RemapWriter``."""

    old: tuple[Category, ...]
    new: tuple[Category, ...]
    new_id: dict[int, int | None]
    unmapped: tuple[str, ...] = ()  # old names the map left out (kept or dropped as --unmapped says)

    def target(self, name: str) -> str | None:
        """The new name of an old class (None: dropped)."""
        ids = {c.name: c.id for c in self.old}
        new = self.new_id.get(ids[name])
        return None if new is None else self.new[new - 1].name


def resolve(
    categories: Sequence[Category],
    pairs: Sequence[tuple[str, str | None]],
    order: Sequence[str] | None = None,
    unmapped: Unmapped = "error",
) -> ClassMap:
    """Check ``pairs`` against the dataset's classes and number the new ones.

    Refused, with every offending name on one line: a key that is no class of the dataset (a typo would map
    nothing: the closest class is suggested), an old class the map leaves out (unless ``unmapped`` is keep,
    under its own name after the mapped ones, or drop), and an ``order`` that does not name every new class
    exactly once."""
    if unmapped not in UNMAPPED:
        raise UsageError(f"--unmapped must be one of {', '.join(UNMAPPED)}, got {unmapped!r}")
    names = list(dict.fromkeys(c.name for c in categories))
    unknown = [old for old, _ in pairs if old not in names]
    if unknown:
        listed = ", ".join(_with_hint(n, names) for n in unknown)
        raise UsageError(
            f"--map names {len(unknown)} class(es) the dataset does not have: {listed} "
            f"(its classes: {', '.join(names) or 'none'})"
        )
    given = dict(pairs)
    missing = [n for n in names if n not in given]
    if missing and unmapped == "error":
        raise UsageError(
            f"--map does not say what becomes of {len(missing)} class(es): {', '.join(missing)} "
            "(map each, or pass --unmapped keep or --unmapped drop)"
        )
    for name in missing:
        given[name] = name if unmapped == "keep" else None
    targets = list(dict.fromkeys(new for _, new in pairs if new is not None))
    targets += [n for n in missing if unmapped == "keep" and n not in targets]
    if order is not None:
        targets = _ordered(targets, order)
    supers: dict[str, set[str | None]] = {}
    for c in categories:
        target = given[c.name]
        if target is not None:
            supers.setdefault(target, set()).add(c.supercategory)
    new = tuple(
        Category.trusted(id=i + 1, name=n, supercategory=_one(supers.get(n, set())))
        for i, n in enumerate(targets)
    )
    index = {n: i + 1 for i, n in enumerate(targets)}
    new_id: dict[int, int | None] = {}
    for c in categories:
        target = given[c.name]
        new_id[c.id] = None if target is None else index[target]
    return ClassMap(old=tuple(categories), new=new, new_id=new_id, unmapped=tuple(missing))


def _with_hint(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)


def _ordered(targets: list[str], order: Sequence[str]) -> list[str]:
    """``targets`` in the order ``--order`` gives, which must name each of them once and nothing else."""
    twice = [n for n, k in Counter(order).items() if k > 1]
    left_out = [n for n in targets if n not in order]
    extra = [n for n in order if n not in targets]
    faults = []
    if left_out:
        faults.append(f"leaves out {', '.join(left_out)}")
    if extra:
        faults.append(f"names {', '.join(extra)}, no new class")
    if twice:
        faults.append(f"names {', '.join(twice)} twice")
    if faults:
        raise UsageError(
            f"--order must name every new class once ({', '.join(targets) or 'none'}): it {'; it '.join(faults)}"
        )
    return list(order)


def _one(values: set[str | None]) -> str | None:
    """The supercategory a merged class keeps: the one its old classes share, else none."""
    return next(iter(values)) if len(values) == 1 else None


# ---------------------------------------------------------------------------------------------
# Streaming: the writer of the target format, wrapped


@dataclass(frozen=True)
class Tally:
    """One record's counts, sent back with its piece: objects per old class id, the old label, whether the
    record was written (False: its label was dropped) and whether the map took its last object."""

    objects: tuple[tuple[int, int], ...]
    label: int | None
    written: bool
    emptied: bool


def remap_record(record: ImageRecord, classes: ClassMap, report: Report) -> ImageRecord | None:
    """The record with its objects' new classes, the dropped classes' objects left out, and its new label;
    None when its label is dropped (a class-folder image of a dropped class). A class id outside the
    dataset's class list is an ``unknown-class`` problem (the object is left out in lenient mode)."""
    instances = []
    for inst in record.instances:
        if inst.category_id not in classes.new_id:
            report.problem(
                FormatError(
                    record.file_name,
                    f"an object of class id {inst.category_id}, which the class list does not have",
                    code="unknown-class",
                )
            )
            continue
        new = classes.new_id[inst.category_id]
        if new is not None:
            instances.append(_with_class(inst, new))
    label = record.label
    if label is not None:
        label = classes.new_id.get(label)
        if label is None:
            return None
    fields = dict(record.__dict__)
    fields.update(instances=instances, label=label)
    return ImageRecord.trusted(**fields)


def _with_class(inst: Instance, category_id: int) -> Instance:
    """A copy of ``inst`` with another class (the geometry is shared: nothing changes it)."""
    fields = dict(inst.__dict__)
    fields["category_id"] = category_id
    return Instance.trusted(**fields)


class RemapWriter:
    """The target's writer behind the remapping: ``encode`` (in a worker) remaps the record and hands it on,
    returning the inner piece with the record's ``Tally``; ``sink`` (in the parent) adds the tallies up and
    passes the pieces of written records on; ``set_categories`` always gives the new classes."""

    def __init__(self, inner: Writer, classes: ClassMap) -> None:
        self.inner = inner
        self.classes = classes
        self.objects: Counter[int] = Counter()  # per old class id, before
        self.labels: Counter[int] = Counter()  # images per old label id, before
        self.written = 0
        self.dropped_images = 0
        self.emptied = 0
        self.empty_after = 0

    def encode(self, record: ImageRecord, index: int, report: Report) -> tuple[Any, Tally]:
        remapped = remap_record(record, self.classes, report)
        objects = tuple(Counter(i.category_id for i in record.instances).items())
        piece = None if remapped is None else self.inner.encode(remapped, index, report)
        emptied = remapped is not None and bool(record.instances) and not remapped.instances
        return piece, Tally(objects, record.label, remapped is not None, emptied)

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:
        with self.inner.sink() as accept:

            def take(item: tuple[Any, Tally]) -> None:
                piece, tally = item
                self.objects.update(dict(tally.objects))
                if tally.label is not None:
                    self.labels[tally.label] += 1
                if not tally.written:
                    self.dropped_images += 1
                    return
                self.written += 1
                self.emptied += tally.emptied
                kept = sum(n for cid, n in tally.objects if self.classes.new_id.get(cid) is not None)
                self.empty_after += not kept
                accept(piece)

            yield take

    def set_categories(self, categories: list[Category]) -> None:
        """The new classes, whatever the plan's were."""
        self.inner.set_categories(list(self.classes.new))


@dataclass
class RemapResult:
    """What a remap did, per class, by name: objects (and class-folder images) per old class before, per new
    class after, in the dataset's and the new order, zeros included."""

    categories: list[Category]  # the new classes, ids 1..N
    mapping: dict[str, str | None]  # every old class -> its new name (None: dropped)
    objects_before: dict[str, int]
    objects_after: dict[str, int]
    images_before: dict[str, int]  # images per image-level label (class folders, manifests)
    images_after: dict[str, int]
    images_written: int = 0
    images_dropped: int = 0  # left out: their label was dropped
    images_emptied: int = 0  # kept without objects: the map dropped every one they had
    unmapped: tuple[str, ...] = ()  # old classes the map left out (--unmapped keep or drop)
    summary: Summary = field(default_factory=Summary)

    @property
    def unit(self) -> Literal["objects", "images"]:
        """What the mapping table counts: objects, or images for a dataset of image-level labels only."""
        if not any(self.objects_before.values()) and any(self.images_before.values()):
            return "images"
        return "objects"

    @property
    def dropped(self) -> dict[str, int]:
        """Per dropped old class, what it had (objects, or images for image-level labels)."""
        before = self.images_before if self.unit == "images" else self.objects_before
        return {old: before[old] for old, new in self.mapping.items() if new is None}


def result_of(writer: RemapWriter, summary: Summary, report: Report) -> RemapResult:
    """The counts by name from the wrapped writer's tallies; the run's summary made to say what was written
    (the new classes and their counts), and a ``classes-dropped`` notice per dropped class."""
    classes = writer.classes
    old_names = {c.id: c.name for c in classes.old}
    new_names = {c.id: c.name for c in classes.new}

    def by_old(counts: Counter[int]) -> dict[str, int]:
        out = dict.fromkeys(old_names.values(), 0)
        for cid, n in counts.items():
            if cid in old_names:
                out[old_names[cid]] += n
        return out

    def by_new(counts: Counter[int]) -> tuple[dict[str, int], Counter[int]]:
        per_id: Counter[int] = Counter()
        for cid, n in counts.items():
            new = classes.new_id.get(cid)
            if new is not None:
                per_id[new] += n
        return {new_names[i]: per_id[i] for i in new_names}, per_id

    objects_after, instances = by_new(writer.objects)
    images_after, labels = by_new(writer.labels)
    mapping = {c.name: classes.target(c.name) for c in classes.old}
    summary.images, summary.empty_images = writer.written, writer.empty_after
    summary.instances, summary.labels = instances, labels
    summary.categories = list(classes.new)
    result = RemapResult(
        categories=list(classes.new),
        mapping=mapping,
        objects_before=by_old(writer.objects),
        objects_after=objects_after,
        images_before=by_old(writer.labels),
        images_after=images_after,
        images_written=writer.written,
        images_dropped=writer.dropped_images,
        images_emptied=writer.emptied,
        unmapped=classes.unmapped,
        summary=summary,
    )
    how = {n: "--unmapped drop" for n in classes.unmapped}
    for old, count in result.dropped.items():
        report.notice(
            "classes-dropped", f"{old}: {count:,} {result.unit} not written ({how.get(old, 'mapped to -')})"
        )
    return result
