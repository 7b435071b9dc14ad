"""Reading and writing a dataset image by image, fanned out over processes, in a fixed order.

Work units go to the workers in chunks; each worker loads its images into ``ImageRecord`` objects,
encodes them for the writer and sends back bytes. The parent hands the pieces to the writer's sink
in dataset order, so the output is the same whatever the number of processes.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cytoconv.engine.contract import Loader, ReadOptions, ReadPlan, Writer
from cytoconv.engine.pool import STATE, ordered_map
from cytoconv.errors import Report, SkipUnit
from cytoconv.ir import Category, ImageRecord

PARALLEL_MIN_UNITS = 600  # below this, starting processes costs more than it saves


@dataclass
class Summary:
    """What a conversion did, for the user: counts per class, and what was skipped or noticed."""

    images: int = 0
    empty_images: int = 0
    instances: Counter[int] = field(default_factory=Counter)
    report: Report = field(default_factory=Report)
    categories: list[Category] = field(default_factory=list)
    labels: Counter[int] = field(default_factory=Counter)  # images per image-level label (class folders)

    def add(self, record: ImageRecord) -> None:
        """Count one record read into the image, per-class and per-label tallies."""
        self.images += 1
        if not record.instances:
            self.empty_images += 1
        self.instances.update(inst.category_id for inst in record.instances)
        if record.label is not None:
            self.labels[record.label] += 1

    def merge(self, other: Summary) -> None:
        """Fold in a chunk's partial summary, its report included: workers count their chunks, the parent adds
        them up."""
        self.images += other.images
        self.empty_images += other.empty_images
        self.instances.update(other.instances)
        self.labels.update(other.labels)
        self.report.merge(other.report)


def _run_chunk(bounds: tuple[int, int]) -> tuple[list[Any], Summary]:
    """Load (and encode, when there is a writer) the units of one chunk, in a worker of the engine's pool or
    in this process; a unit skipped in lenient mode is already counted in the chunk's report."""
    units: Sequence[Any] = STATE["units"]
    load: Loader = STATE["load"]
    writer: Writer | None = STATE["writer"]
    options: ReadOptions = STATE["options"]
    summary = Summary(report=Report(strict=STATE["strict"]))
    out = []
    gc_was_enabled = gc.isenabled()
    gc.disable()  # records hold no cycles: collections during a chunk would walk them for nothing (2.5x load)
    try:
        for index in range(*bounds):
            try:
                record = load(units[index], options, summary.report)
            except SkipUnit:
                continue
            summary.add(record)
            out.append(writer.encode(record, index, summary.report) if writer is not None else record)
    finally:
        if gc_was_enabled:
            gc.enable()
    return out, summary


def stream(
    plan: ReadPlan,
    load: Loader,
    writer: Writer | None,
    options: ReadOptions,
    report: Report,
    jobs: int = 0,
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[list[Any], Summary]]:
    """Yield (encoded pieces, partial summary) chunk by chunk, in order, over the engine's one ordered pool
    (``cytoconv.engine.pool``, which ``validate`` runs on too)."""
    state = {"units": plan.units, "load": load, "writer": writer, "options": options, "strict": report.strict}
    yield from ordered_map(_run_chunk, len(plan.units), state, jobs, PARALLEL_MIN_UNITS, progress)


def run(
    plan: ReadPlan,
    load: Loader,
    writer: Writer,
    options: ReadOptions,
    report: Report,
    jobs: int = 0,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Convert: every unit loaded, encoded and handed to the writer's sink in order."""
    summary = Summary(report=report)
    with writer.sink() as accept:
        for pieces, part in stream(plan, load, writer, options, report, jobs, progress):
            for piece in pieces:
                accept(piece)
            summary.merge(part)
        summary.categories = final_categories(plan, summary)
        writer.set_categories(summary.categories)
    return summary


def final_categories(plan: ReadPlan, summary: Summary) -> list[Category]:
    """The plan's categories, or ``class_0 .. class_N`` for the ids seen when no names were given."""
    if plan.categories_known or plan.categories:
        return plan.categories
    if "{index}" not in plan.inferred_name:  # named after the ids themselves: only the ids seen
        return [Category(id=i, name=plan.inferred_name.format(id=i)) for i in sorted(summary.instances)]
    top = max(summary.instances, default=0)
    return [Category(id=i, name=plan.inferred_name.format(index=i - 1, id=i)) for i in range(1, top + 1)]
