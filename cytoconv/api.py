"""The library API the CLI is a thin layer over: ``read``, ``write``, ``convert``.

    import cytoconv
    ds = cytoconv.read("balf/labels")                 # format detected
    cytoconv.write(ds, "out.json", to="coco")
    summary = cytoconv.convert("balf/labels", "out.json", to="coco")
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from cytoconv.engine.atomic import TEMP_MARK
from cytoconv.engine.contract import Loader, ReadOptions, ReadPlan, WriteOptions, dataset_from
from cytoconv.engine.pipeline import Summary, final_categories, run, stream
from cytoconv.errors import Report, UsageError
from cytoconv.formats import FormatInfo, detect, lookup
from cytoconv.ir import Dataset, ImageRecord
from cytoconv.ops.resample import Resample, TargetSize, TransformedLoader


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
            on_plan: Callable[[ReadPlan], Any] | None = None, resample: Resample | None = None) -> Summary:
    """Stream ``src`` into ``dest``: image by image over ``jobs`` processes (0: all cores).

    ``resample`` moves every image to another resolution on the way (``cytoconv.ops.resample``)."""
    src, dest = Path(src), Path(dest)
    read_options = read_options or ReadOptions()
    info, implied = lookup(to)
    write_options = replace(write_options or WriteOptions(), **implied)
    report = report if report is not None else Report()
    module = _source(src, fmt).load()
    plan = module.plan(src, read_options, report)
    if on_plan is not None:
        on_plan(plan)
    load: Loader = module.load
    if resample is not None:
        resample = replace(resample, image_root=resample.image_root or plan.image_root, options=read_options)
        load = TransformedLoader(module.load, resample)
    writer = info.writer()(dest, plan.categories, plan.image_root, write_options, report)
    return run(plan, load, writer, read_options, report, jobs, progress)


def resample_target(size: tuple[int, int] | None = None, scale: float | None = None, max_side: int | None = None,
                    sizes_from: str | Path | None = None) -> TargetSize:
    """The new size of the images from exactly one of its four ways, checked: ``TargetSize`` itself accepts
    none or several, and ``sizes_from`` (a folder) must be read into a stem -> image map first."""
    from cytoconv.ops.resample import sizes_from_folder

    given = sum(value is not None for value in (size, scale, max_side, sizes_from))
    if given > 1:
        raise UsageError("give only one of --to-size, --scale, --max-side, --sizes-from")
    if given == 0:
        raise UsageError("resample needs --to-size, --scale, --max-side or --sizes-from")
    if size is not None and min(size) <= 0:
        raise UsageError(f"--to-size must be positive, got {size[0]}x{size[1]}")
    if scale is not None and not scale > 0:
        raise UsageError("--scale must be positive")
    if max_side is not None and max_side < 1:
        raise UsageError(f"--max-side must be at least 1, got {max_side}")
    if sizes_from is not None:
        return TargetSize(sizes_from=sizes_from_folder(Path(sizes_from)))
    return TargetSize(size=size, scale=scale, max_side=max_side)


def default_images_out(dest: str | Path) -> Path:
    """Where resized images go when no folder is named: inside a folder output (``DST/images``), beside a
    file output (``DST_images``), so that they never mix with the input's images."""
    dest = Path(dest)
    return dest / "images" if dest.suffix == "" else dest.with_name(dest.stem + "_images")


def resample(src: str | Path, dest: str | Path, target: TargetSize, to: str | None = None, fmt: str | None = None,
             read_options: ReadOptions | None = None, write_options: WriteOptions | None = None,
             report: Report | None = None, jobs: int = 0, images_out: str | Path | bool | None = None,
             rle_method: Literal["outline", "nearest"] = "outline", clip: bool = False,
             image_filter: str = "lanczos", progress: Callable[[int], None] | None = None,
             on_plan: Callable[[ReadPlan], Any] | None = None) -> Summary:
    """Convert ``src`` to ``dest`` at another resolution (same format unless ``to``); with ``images_out``
    the images are resized too, into that folder (``True``: ``default_images_out(dest)``), which appears
    whole or not at all. ``resample_target`` builds a checked ``target``."""
    from cytoconv.ops.resample import RESAMPLING_FILTERS

    if image_filter not in RESAMPLING_FILTERS:
        raise UsageError(f"--filter must be one of {', '.join(RESAMPLING_FILTERS)}, got {image_filter!r}")
    if rle_method not in ("outline", "nearest"):
        raise UsageError(f"--rle-method must be one of outline, nearest, got {rle_method!r}")
    src = Path(src)
    to = to or _source(src, fmt).name
    options = read_options or ReadOptions()
    if images_out is True:
        images_out = default_images_out(dest)
    if images_out is None or images_out is False:
        step = Resample(target, rle_method, clip, None, None, image_filter, options)
        return convert(src, dest, to, fmt, options, write_options, report, jobs, progress, on_plan, step)
    # The images are written beside the output first and moved into place once it exists, so that
    # DST/images can sit inside a folder output that is itself renamed into place at the end.
    final = Path(images_out).absolute()
    overwrite = (write_options or WriteOptions()).overwrite
    if final.exists() and any(final.iterdir()) and not overwrite:
        raise UsageError(f"{final}: output exists; pass --overwrite to replace it")
    staging = Path(dest).absolute().parent
    staging.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="." + final.name + TEMP_MARK, dir=staging))
    try:
        step = Resample(target, rle_method, clip, str(tmp), None, image_filter, options)
        summary = convert(src, dest, to, fmt, options, write_options, report, jobs, progress, on_plan, step)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        return summary
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
