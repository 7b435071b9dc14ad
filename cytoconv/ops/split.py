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
from collections.abc import Sequence
from dataclasses import dataclass

from cytoconv.errors import Report, UsageError
from cytoconv.ir import Dataset, ImageRecord

DEFAULT_NAMES = ("train", "val", "test")


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
        report.notice(
            "ungrouped",
            f"{ungrouped} image(s) do not match --group-by {group_by!r}: each is its own group",
            count=ungrouped,
        )
    return units


def assign(
    records: Sequence[ImageRecord],
    ratios: Sequence[float],
    seed: int,
    group_by: str | None = None,
    report: Report | None = None,
) -> list[int]:
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
        """Put a unit in a split and take its images and objects off what that split still wants."""
        for i in unit.members:
            split_of[i] = split
        want_images[split] -= len(unit.members)
        for c, n in unit.classes.items():
            want[c][split] -= n
            left[c] -= 1

    while pending:
        rarest = min((c for c in left if left[c] > 0), key=lambda c: (left[c], totals[c], c))
        todo, pending = (
            [u for u in pending if rarest in u.classes],
            [u for u in pending if rarest not in u.classes],
        )
        for unit in todo:
            wanted = want[rarest]
            place(unit, max(splits, key=lambda s: (wanted[s], want_images[s], rng.random())))
    for unit in units:
        if not unit.classes:
            place(unit, max(splits, key=lambda s: (want_images[s], rng.random())))
    return split_of


def _for_output(record: ImageRecord, split: str, split_in_path: bool) -> ImageRecord:
    """The record with its new split; with ``split_in_path`` (YOLO, whose label paths follow the image's
    folders) the old split folder in the file name is replaced by the new one."""
    fields = {**record.__dict__, "split": split}
    if split_in_path:
        parts = record.file_name.split("/")
        if record.split is not None and len(parts) > 1 and parts[0] == record.split:
            parts = parts[1:]
        fields["file_name"] = "/".join([split, *parts])
    return ImageRecord.trusted(**fields)


def check_names(ratios: Sequence[float], names: Sequence[str]) -> None:
    """One distinct split name per ratio; checked before a dataset is read."""
    if len(names) < len(ratios):
        raise UsageError(f"{len(ratios)} ratios but only {len(names)} split names")
    if len(set(names)) != len(names):
        raise UsageError(f"split names must differ, got {list(names)}")


def split_dataset(
    dataset: Dataset,
    ratios: Sequence[float],
    seed: int = 0,
    names: Sequence[str] = DEFAULT_NAMES,
    group_by: str | None = None,
    split_in_path: bool = False,
    report: Report | None = None,
) -> Dataset:
    """The dataset with every image's split set (``assign``), named ``names`` in the order of ``ratios``.

    ``split_in_path``: the split is also the first folder of each file name (YOLO's ``images/<split>/``
    layout), so that a writer that follows the names puts each image under its new split."""
    check_names(ratios, names)
    chosen = assign(dataset.images, ratios, seed, group_by, report)
    images = [_for_output(r, names[s], split_in_path) for r, s in zip(dataset.images, chosen)]
    return Dataset.trusted(
        categories=dataset.categories, images=images, image_root=dataset.image_root, info=dataset.info
    )


def split_counts(dataset: Dataset) -> dict[str, Counter[int]]:
    """Images per class in each split (the table the CLI prints)."""
    out: dict[str, Counter[int]] = {}
    for record in dataset.images:
        out.setdefault(record.split or "", Counter()).update(image_classes(record))
    return out
