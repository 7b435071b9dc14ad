"""The library API the CLI is a thin layer over: ``read``, ``write``, ``convert``.

    import cytoconv
    ds = cytoconv.read("balf/labels")                 # format detected
    cytoconv.write(ds, "out.json", to="coco")
    summary = cytoconv.convert("balf/labels", "out.json", to="coco")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from cytoconv.errors import Report
from cytoconv.formats import FormatInfo, detect, lookup
from cytoconv.formats.base import ReadOptions, ReadPlan, WriteOptions, dataset_from
from cytoconv.ir import Dataset, ImageRecord
from cytoconv.pipeline import Summary, final_categories, run, stream


def _source(path: Path, fmt: str | None) -> FormatInfo:
    return lookup(fmt)[0] if fmt else detect(path)


def read(path: str | Path, fmt: str | None = None, options: ReadOptions | None = None,
         report: Report | None = None, jobs: int = 1) -> Dataset:
    """Read a whole dataset into memory as the typed model. ``report`` collects what was skipped."""
    path = Path(path)
    options = options or ReadOptions()
    report = report if report is not None else Report()
    module = _source(path, fmt).load()
    plan = module.plan(path, options, report)
    records: list[ImageRecord] = []
    summary = Summary(report=report)
    for chunk, part in stream(plan, module.load, None, options, report, jobs):
        records.extend(chunk)
        summary.merge(part)
    dataset = dataset_from(plan, records)
    dataset.categories = final_categories(plan, summary)
    return dataset


class _DatasetSource:
    """A dataset already in memory, served as a plan whose units are its records."""

    @staticmethod
    def load(unit: ImageRecord, options: ReadOptions, report: Report) -> ImageRecord:
        return unit


def write(dataset: Dataset, dest: str | Path, to: str, options: WriteOptions | None = None,
          report: Report | None = None, jobs: int = 1) -> Summary:
    """Write a dataset in memory to ``dest`` in format ``to`` (atomically)."""
    info, implied = lookup(to)
    options = replace(options or WriteOptions(), **implied)
    report = report if report is not None else Report()
    plan = ReadPlan(categories=dataset.categories, units=list(dataset.images), image_root=dataset.image_root,
                    info=dataset.info)
    writer = info.writer()(Path(dest), dataset.categories, dataset.image_root, options, report)
    return run(plan, _DatasetSource.load, writer, ReadOptions(), report, jobs)


def convert(src: str | Path, dest: str | Path, to: str, fmt: str | None = None,
            read_options: ReadOptions | None = None, write_options: WriteOptions | None = None,
            report: Report | None = None, jobs: int = 0, progress: Callable[[int], None] | None = None,
            on_plan: Callable[[ReadPlan], Any] | None = None) -> Summary:
    """Stream ``src`` into ``dest``: image by image over ``jobs`` processes (0: all cores)."""
    src, dest = Path(src), Path(dest)
    read_options = read_options or ReadOptions()
    info, implied = lookup(to)
    write_options = replace(write_options or WriteOptions(), **implied)
    report = report if report is not None else Report()
    module = _source(src, fmt).load()
    plan = module.plan(src, read_options, report)
    if on_plan is not None:
        on_plan(plan)
    writer = info.writer()(dest, plan.categories, plan.image_root, write_options, report)
    return run(plan, module.load, writer, read_options, report, jobs, progress)
