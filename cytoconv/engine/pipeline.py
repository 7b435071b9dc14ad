"""Reading and writing a dataset image by image, fanned out over processes, in a fixed order.

Work units go to the workers in chunks; each worker loads its images into ``ImageRecord`` objects,
encodes them for the writer and sends back bytes. The parent hands the pieces to the writer's sink
in dataset order, so the output is the same whatever the number of processes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cytoconv.engine.contract import Loader, ReadOptions, ReadPlan, Writer
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


# State a worker needs; set in the parent before the pool forks (or passed to the initializer).
_STATE: dict[str, Any] = {}


def _init_worker(state: dict[str, Any]) -> None:
    _STATE.update(state)


def _init_process(state: dict[str, Any]) -> None:
    """A worker leaves Ctrl-C to the parent, which stops the pool and cleans up; a worker killed with
    SIGTERM just dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _init_worker(state)


def _run_chunk(bounds: tuple[int, int]) -> tuple[list[Any], Summary]:
    start, stop = bounds
    units: Sequence[Any] = _STATE["units"]
    load: Loader = _STATE["load"]
    writer: Writer | None = _STATE["writer"]
    options: ReadOptions = _STATE["options"]
    summary = Summary(report=Report(strict=_STATE["strict"]))
    out = []
    for index in range(start, stop):
        try:
            record = load(units[index], options, summary.report)
        except SkipUnit:  # lenient mode, the whole image unreadable: already counted in the report
            continue
        summary.add(record)
        out.append(writer.encode(record, index, summary.report) if writer is not None else record)
    return out, summary


def _chunks(total: int, jobs: int) -> list[tuple[int, int]]:
    size = max(16, min(500, total // (jobs * 8) or 1))
    return [(s, min(s + size, total)) for s in range(0, total, size)]


def default_jobs() -> int:
    """Worker processes when none is asked for: the CPUs this process may run on (its affinity, e.g. in a
    container), not every CPU of the machine."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def stream(
    plan: ReadPlan,
    load: Loader,
    writer: Writer | None,
    options: ReadOptions,
    report: Report,
    jobs: int = 0,
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[list[Any], Summary]]:
    """Yield (encoded pieces, partial summary) chunk by chunk, in order."""
    jobs = jobs or default_jobs()
    total = len(plan.units)
    chunks = _chunks(total, jobs)
    state = {"units": plan.units, "load": load, "writer": writer, "options": options, "strict": report.strict}
    if jobs == 1 or total < PARALLEL_MIN_UNITS:
        _init_worker(state)
        try:
            for bounds in chunks:
                result = _run_chunk(bounds)
                if progress:
                    progress(bounds[1] - bounds[0])
                yield result
        finally:
            _STATE.clear()
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=ctx, initializer=_init_process, initargs=(state,)
    ) as pool:
        try:
            for bounds, result in zip(chunks, pool.map(_run_chunk, chunks)):
                if progress:
                    progress(bounds[1] - bounds[0])
                yield result
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


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
