"""Split a dataset into train/val/test, stratified by class, reproducibly, keeping groups together.

An image's classes are its image-level label (class folders, manifests) or the classes of its objects. The
assignment is iterative stratification (Sechidis, Tsoumakas and Vlahavas, 2011): the rarest class first, each
of its images (or groups of images) goes to the split that still wants the most of that class, ties going to
the split that wants the most images overall, then to a seeded coin. For single-class images this puts every
class within one image of its target count in every split; images of several classes are balanced as well as
the classes allow. Images without any class are spread last, by the images each split still wants.

``group_by`` is a regular expression searched in each image's file name (the base name, without folders); its
first capture group (or the whole match) names the group, e.g. ``^(patient\\d+)_``. A group is assigned as
one unit, so it never straddles two splits; an image the expression does not match is its own group.

The same input, ratios and seed give the same output, byte for byte.
"""

from __future__ import annotations

import os
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from cytoconv.engine.contract import ReadOptions, WriteOptions
from cytoconv.engine.pipeline import Summary
from cytoconv.errors import Report, UsageError
from cytoconv.ir import Dataset, ImageRecord

DEFAULT_NAMES = ("train", "val", "test")
# Writers that keep ImageRecord.split in one output; any other format gets one output per split.
SPLIT_AWARE = frozenset({"yolo", "voc", "folders", "manifest"})


def parse_ratios(text: str) -> tuple[float, ...]:
    """``"0.8,0.1,0.1"`` (or ``80,10,10``): positive numbers, scaled to sum to 1."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"--ratios must be numbers like 0.8,0.1,0.1, got {text!r}") from None
    if not 1 <= len(values) <= 10 or any(not v >= 0 for v in values) or sum(values) <= 0:
        raise UsageError(f"--ratios must be 1 to 10 numbers >= 0 with a positive sum, got {text!r}")
    total = sum(values)
    return tuple(v / total for v in values)


def image_classes(record: ImageRecord) -> Counter[int]:
    """The classes an image counts for: its label, or each class among its objects (once)."""
    if record.label is not None:
        return Counter({record.label: 1})
    return Counter(set(inst.category_id for inst in record.instances))


@dataclass
class _Unit:
    """A group of images assigned together: their indices and how many of them hold each class."""

    members: list[int]
    classes: Counter[int]


def _units(records: Sequence[ImageRecord], group_by: str | None, report: Report) -> list[_Unit]:
    if group_by is None:
        return [_Unit([i], image_classes(r)) for i, r in enumerate(records)]
    try:
        pattern = re.compile(group_by)
    except re.error as exc:
        raise UsageError(f"--group-by is not a valid regular expression: {exc}") from None
    groups: dict[str, _Unit] = {}
    units: list[_Unit] = []
    ungrouped = 0
    for i, record in enumerate(records):
        match = pattern.search(os.path.basename(record.file_name))
        if match is None:
            ungrouped += 1
            units.append(_Unit([i], image_classes(record)))
            continue
        key = match.group(1) if pattern.groups else match.group(0)
        unit = groups.get(key)
        if unit is None:
            unit = groups[key] = _Unit([], Counter())
            units.append(unit)
        unit.members.append(i)
        unit.classes.update(image_classes(record))
    if ungrouped:
        report.notice("ungrouped", f"{ungrouped} image(s) do not match --group-by {group_by!r}: each is its own "
                      "group", count=ungrouped)
    return units


def assign(records: Sequence[ImageRecord], ratios: Sequence[float], seed: int, group_by: str | None = None,
           report: Report | None = None) -> list[int]:
    """The split index of every record (iterative stratification over groups; see the module docstring)."""
    report = report if report is not None else Report()
    rng = random.Random(seed)
    units = _units(records, group_by, report)
    rng.shuffle(units)
    k = len(ratios)
    totals: Counter[int] = Counter()
    for unit in units:
        totals.update(unit.classes)
    want = {c: [r * n for r in ratios] for c, n in totals.items()}
    want_images = [r * len(records) for r in ratios]
    left: Counter[int] = Counter({c: sum(1 for u in units if c in u.classes) for c in totals})
    split_of = [-1] * len(records)
    pending = [u for u in units if u.classes]
    splits = [s for s in range(k) if ratios[s] > 0]

    def place(unit: _Unit, split: int) -> None:
        for i in unit.members:
            split_of[i] = split
        want_images[split] -= len(unit.members)
        for c, n in unit.classes.items():
            want[c][split] -= n
            left[c] -= 1

    while pending:
        rarest = min((c for c in left if left[c] > 0), key=lambda c: (left[c], totals[c], c))
        todo, pending = [u for u in pending if rarest in u.classes], [u for u in pending if rarest not in u.classes]
        for unit in todo:
            wanted = want[rarest]
            place(unit, max(splits, key=lambda s: (wanted[s], want_images[s], rng.random())))
    for unit in units:
        if not unit.classes:
            place(unit, max(splits, key=lambda s: (want_images[s], rng.random())))
    return split_of


def _for_output(record: ImageRecord, split: str, fmt: str) -> ImageRecord:
    """The record with its new split; for YOLO, whose label paths follow the image's folders, the old split
    folder in the file name is replaced by the new one."""
    fields = {**record.__dict__, "split": split}
    if fmt == "yolo":
        parts = record.file_name.split("/")
        if record.split is not None and len(parts) > 1 and parts[0] == record.split:
            parts = parts[1:]
        fields["file_name"] = "/".join([split, *parts])
    return ImageRecord.trusted(**fields)


def split(src: str | Path, dest: str | Path, ratios: Sequence[float], seed: int = 0,
          names: Sequence[str] = DEFAULT_NAMES, group_by: str | None = None, to: str | None = None,
          fmt: str | None = None, read_options: ReadOptions | None = None,
          write_options: WriteOptions | None = None, report: Report | None = None, jobs: int = 0,
          progress: Callable[[int], None] | None = None) -> tuple[Dataset, Summary]:
    """Read ``src``, set every image's split, write ``dest`` in ``to`` (default: the input's format)."""
    from cytoconv.api import read, write
    from cytoconv.formats import detect, lookup

    src, dest = Path(src), Path(dest)
    if len(names) < len(ratios):
        raise UsageError(f"{len(ratios)} ratios but only {len(names)} split names")
    if len(set(names)) != len(names):
        raise UsageError(f"split names must differ, got {list(names)}")
    report = report if report is not None else Report()
    source = lookup(fmt)[0] if fmt else detect(src)
    target, implied = lookup(to) if to else (source, {})
    if not target.writes:
        raise UsageError(f"cannot write {target.name}")
    write_options = replace(write_options or WriteOptions(), **implied)
    dataset = read(src, source.name, read_options, report, jobs=jobs)
    chosen = assign(dataset.images, ratios, seed, group_by, report)
    images = [_for_output(r, names[s], target.name) for r, s in zip(dataset.images, chosen)]
    result = Dataset.trusted(categories=dataset.categories, images=images, image_root=dataset.image_root,
                             info=dataset.info)
    if target.name == "yolo":
        report.notice("images-not-moved", f"{dest}: labels are under labels/<split>/; put (or link) the images "
                      "under images/<split>/ beside them, as data.yaml says")
    if target.name in SPLIT_AWARE:
        summary = write(result, dest, target.name, write_options, report, jobs=jobs)
    else:
        summary = _write_per_split(result, dest, target.name, names[: len(ratios)], write_options, report, jobs)
    return result, summary


def _write_per_split(dataset: Dataset, dest: Path, fmt: str, names: Sequence[str], options: WriteOptions,
                     report: Report, jobs: int) -> Summary:
    """One output per split inside ``dest``: ``instances_<split>.json`` (COCO) or ``<split>/`` (folders)."""
    from cytoconv.api import write
    from cytoconv.engine.atomic import atomic_dir
    from cytoconv.formats import lookup

    info = lookup(fmt)[0]
    total = Summary(report=report)
    with atomic_dir(dest, options.overwrite) as tmp:
        for name in names:
            part = [r for r in dataset.images if r.split == name]
            if not part:
                continue
            out = tmp / (name if info.output_is_dir else f"instances_{name}.json")
            subset = Dataset.trusted(categories=dataset.categories, images=part, image_root=dataset.image_root,
                                     info=dataset.info)
            summary = write(subset, out, fmt, replace(options, overwrite=False), Report(strict=report.strict),
                            jobs=jobs)
            total.images += summary.images
            total.empty_images += summary.empty_images
            total.instances.update(summary.instances)
            total.labels.update(summary.labels)
            total.report.merge(summary.report)
    total.categories = dataset.categories
    return total


def split_counts(dataset: Dataset) -> dict[str, Counter[int]]:
    """Images per class in each split (the table the CLI prints)."""
    out: dict[str, Counter[int]] = {}
    for record in dataset.images:
        out.setdefault(record.split or "", Counter()).update(image_classes(record))
    return out
