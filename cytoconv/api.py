"""The library API the CLI is a thin layer over: ``read, write, convert, resample, stats, draw, report, crop,
split, validate``, with the CLI's defaults.

    import cytoconv
    ds = cytoconv.read("balf/labels")                 # format detected
    cytoconv.write(ds, "out.json", to="coco")
    summary = cytoconv.convert("balf/labels", "out.json", to="coco")
    figures = cytoconv.stats("balf/labels", pixel_size=0.25)

This module composes: it opens sources (``open_source``: the format, its module, the reading plan) and builds
writers from the format registry, and hands plans, loaders, records and writers to the operations of
``cytoconv.ops``, which know no format and no API.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cytoconv.engine.atomic import TEMP_MARK, atomic_dir
from cytoconv.engine.contract import (
    FormatModule,
    Loader,
    ReadOptions,
    ReadPlan,
    WriteOptions,
    dataset_from,
    dataset_plan,
    load_record,
)
from cytoconv.engine.pipeline import Summary, final_categories, run, stream
from cytoconv.errors import Report, UsageError
from cytoconv.formats import FormatInfo, detect, lookup
from cytoconv.ir import Dataset, ImageRecord
from cytoconv.ops.split import DEFAULT_NAMES

if TYPE_CHECKING:  # the operations are imported when used: `convert` need not pay for draw, crop or stats
    from cytoconv.ops.crop import CropOptions
    from cytoconv.ops.diff import DiffResult
    from cytoconv.ops.draw import DrawResult, DrawStyle
    from cytoconv.ops.filter import Filtered
    from cytoconv.ops.merge import MergeSummary
    from cytoconv.ops.remap import RemapResult
    from cytoconv.ops.report import Findings, ReportResult
    from cytoconv.ops.resample import Resample, TargetSize
    from cytoconv.ops.stats import DatasetStats

# Writers that keep ImageRecord.split in one output; any other format gets one output per split.
_SPLIT_AWARE = frozenset({"yolo", "voc", "folders", "manifest", "points-txt", "points-csv"})


def _source(path: Path, fmt: str | None) -> FormatInfo:
    return lookup(fmt)[0] if fmt else detect(path)


def open_source(
    path: Path, fmt: str | None, options: ReadOptions, report: Report
) -> tuple[FormatInfo, FormatModule, ReadPlan]:
    """The one way a dataset on disk is opened: its format (``fmt``, else detected), the format's module and
    its reading plan (file names only: cheap). Every command that reads starts here, so that detection, its
    errors and the plan are the same whichever command asks."""
    if fmt is None and options.columns is not None:  # --columns says what the file is: a CSV of points
        fmt = "points-csv"
    info = _source(path, fmt)
    module = info.load()
    return info, module, module.plan(path, options, report)


def read(
    path: str | Path,
    fmt: str | None = None,
    options: ReadOptions | None = None,
    report: Report | None = None,
    jobs: int = 1,
) -> Dataset:
    """Read a whole dataset into memory as the typed model. ``report`` collects what was skipped."""
    options = options or ReadOptions()
    report = report if report is not None else Report()
    _, module, plan = open_source(Path(path), fmt, options, report)
    records: list[ImageRecord] = []
    summary = Summary(report=report)
    for chunk, part in stream(plan, module.load, None, options, report, jobs):
        records.extend(chunk)
        summary.merge(part)
    dataset = dataset_from(plan, records)
    dataset.categories = final_categories(plan, summary)
    return dataset


def write(
    dataset: Dataset,
    dest: str | Path,
    to: str,
    options: WriteOptions | None = None,
    report: Report | None = None,
    jobs: int = 1,
) -> Summary:
    """Write a dataset in memory to ``dest`` in format ``to`` (atomically)."""
    info, implied = lookup(to)
    options = replace(options or WriteOptions(), **implied)
    report = report if report is not None else Report()
    writer = info.writer()(Path(dest), dataset.categories, dataset.image_root, options, report)
    return run(dataset_plan(dataset), load_record, writer, ReadOptions(), report, jobs)


def stats(
    source: str | Path | Dataset,
    fmt: str | None = None,
    options: ReadOptions | None = None,
    report: Report | None = None,
    jobs: int = 0,
    pixel_size: float | None = None,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[ReadPlan], Any] | None = None,
) -> DatasetStats:
    """Statistics of a dataset on disk (any readable format; detected unless ``fmt``) or in memory
    (``cytoconv stats``): counts per class, object sizes, objects per image, image sizes, per split.

    Read over ``jobs`` processes (0: all cores; a ``Dataset`` in memory: 1 unless asked, since its records
    would have to be pickled to the workers); items a lenient ``report`` skipped are counted in ``skipped``."""
    from cytoconv.ops.stats import check_pixel_size, dataset_stats

    check_pixel_size(pixel_size)  # before a large dataset is read, not after
    options = options or ReadOptions()
    report = report if report is not None else Report()
    if isinstance(source, Dataset):
        return dataset_stats(
            dataset_plan(source), load_record, options, report, jobs or 1, pixel_size, progress
        )
    info, module, plan = open_source(Path(source), fmt, options, report)
    if on_plan is not None:
        on_plan(plan)
    return dataset_stats(
        plan, module.load, options, report, jobs, pixel_size, progress, source=str(source), fmt=info.name
    )


def draw(
    source: str | Path | Dataset,
    dest: str | Path,
    fmt: str | None = None,
    options: ReadOptions | None = None,
    report: Report | None = None,
    jobs: int = 0,
    *,
    only: Sequence[str] = (),
    limit: int | None = None,
    style: DrawStyle | None = None,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[ReadPlan], Any] | None = None,
) -> DrawResult:
    """Draw every image of ``source`` (on disk or in memory) with its outlines in one colour per class into
    ``dest`` as PNG files named like the images (``cytoconv draw``; see ``cytoconv.ops.draw.draw_images``).

    ``only`` keeps the objects of those classes (names or ids), ``limit`` the first N images that show one;
    a ``Dataset`` is drawn in this process unless ``jobs`` says otherwise."""
    from cytoconv.ops.draw import check_limit, draw_images

    check_limit(limit)
    options = options or ReadOptions()
    report = report if report is not None else Report()
    load: Loader
    if isinstance(source, Dataset):
        plan, load, jobs = dataset_plan(source), load_record, jobs or 1
    else:
        _, module, plan = open_source(Path(source), fmt, options, report)
        load = module.load
    return draw_images(
        plan,
        load,
        dest,
        options,
        report,
        jobs,
        only=only,
        limit=limit,
        style=style,
        overwrite=overwrite,
        progress=progress,
        on_plan=on_plan,
    )


def report(
    source: str | Path,
    dest: str | Path,
    fmt: str | None = None,
    options: ReadOptions | None = None,
    report: Report | None = None,
    jobs: int = 0,
    *,
    samples: int = 24,
    seed: int = 0,
    pixel_size: float | None = None,
    title: str | None = None,
    command: str | None = None,
    overwrite: bool = False,
    validate: bool = True,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[ReadPlan], Any] | None = None,
) -> ReportResult:
    """One self-contained HTML page showing the dataset ``source`` at a glance (``cytoconv report``; see
    ``cytoconv.ops.report``): the summary, the per-class table of ``stats``, plots, a gallery of ``samples``
    images (stratified so that every class appears, chosen by ``seed``) drawn as ``draw`` draws them, and the
    findings of ``validate`` on ``source`` when its format has a checker (``validate=False``: none run).
    ``command`` is shown in the footer (the CLI passes its command line)."""
    from cytoconv.engine.atomic import check_destination
    from cytoconv.ops.report import Findings, choose_samples, collect, write_report
    from cytoconv.ops.stats import check_pixel_size

    check_pixel_size(pixel_size)
    choose_samples([], samples)  # a bad --samples fails before the dataset is read
    check_destination(Path(dest), overwrite)
    options = options or ReadOptions()
    report = report if report is not None else Report()
    info, module, plan = open_source(Path(source), fmt, options, report)
    if on_plan is not None:
        on_plan(plan)
    collected = collect(
        plan, module.load, options, report, jobs, pixel_size, progress, source=str(source), fmt=info.name
    )
    findings = (
        _report_findings(Path(source), info, jobs) if validate else Findings(None, "validate was not run.")
    )
    return write_report(
        plan,
        module.load,
        dest,
        options,
        report,
        collected,
        findings,
        samples=samples,
        seed=seed,
        title=title,
        command=command,
        overwrite=overwrite,
    )


def _report_findings(source: Path, info: FormatInfo, jobs: int) -> Findings:
    """The findings of ``validate`` on ``source`` as its JSON output lists them, or why none ran."""
    import json

    from cytoconv.ops.report import Findings
    from cytoconv.validate import Settings, render
    from cytoconv.validate import validate as run_validation

    if info.checker is None:
        return Findings(None, f"validate has no checker for {info.name} datasets: no findings to show.")
    try:
        result = run_validation([source], Settings(), fmt=info.name, jobs=jobs)
    except UsageError as exc:
        return Findings(None, f"validate did not run: {exc}")
    doc = json.loads(render.as_json(result))
    return Findings(doc["findings"], "", doc["summary"])


def crop(
    src: str | Path,
    dest: str | Path,
    options: CropOptions | None = None,
    fmt: str | None = None,
    read_options: ReadOptions | None = None,
    report: Report | None = None,
    jobs: int = 0,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[ReadPlan], Any] | None = None,
) -> tuple[Summary, int]:
    """Crop every object of ``src`` into ``dest/<class>/`` with ``crops.csv`` (``cytoconv crop``); returns the
    reading summary and the crop count. A dataset without objects is noticed, not an error."""
    from cytoconv.ops.crop import CropOptions, crop_objects

    src = Path(src)
    options = options or CropOptions()
    read_options = read_options or ReadOptions()
    report = report if report is not None else Report()
    _, module, plan = open_source(src, fmt, read_options, report)
    if on_plan is not None:
        on_plan(plan)
    summary, crops = crop_objects(plan, module.load, dest, options, read_options, report, jobs, progress)
    if not sum(summary.instances.values()):
        report.notice("no-instances", f"{src}: no objects to crop (a classification dataset?)")
    return summary, crops


def split(
    src: str | Path,
    dest: str | Path,
    ratios: Sequence[float],
    seed: int = 0,
    names: Sequence[str] = DEFAULT_NAMES,
    group_by: str | None = None,
    to: str | None = None,
    fmt: str | None = None,
    read_options: ReadOptions | None = None,
    write_options: WriteOptions | None = None,
    report: Report | None = None,
    jobs: int = 0,
) -> tuple[Dataset, Summary]:
    """Read ``src``, set every image's split (stratified, seeded, groups kept together: ``cytoconv.ops.split``)
    and write ``dest`` in ``to`` (default: the input's format) (``cytoconv split``).

    A format whose writer keeps the splits in one output (YOLO, VOC, class folders, manifests) gets one output;
    any other gets one per split inside ``dest`` (``instances_<split>.json``, ``<split>/``)."""
    from cytoconv.ops.split import check_names, split_dataset

    src, dest = Path(src), Path(dest)
    check_names(ratios, names)
    report = report if report is not None else Report()
    source = _source(src, fmt)
    target, write_options = output_format(to, source, write_options)
    dataset = read(src, source.name, read_options, report, jobs=jobs)
    from cytoconv.ir import Point

    holds_points = any(isinstance(i.geometry, Point) for im in dataset.images for i in im.instances)
    plan = ReadPlan(categories=dataset.categories, units=[], points=holds_points)
    write_options = check_points(plan, target, write_options)
    result = split_dataset(
        dataset, ratios, seed, names, group_by, split_in_path=target.name == "yolo", report=report
    )
    if target.name == "yolo":
        report.notice(
            "images-not-moved",
            f"{dest}: labels are under labels/<split>/; put (or link) the images "
            "under images/<split>/ beside them, as data.yaml says",
        )
    if target.name in _SPLIT_AWARE:
        summary = write(result, dest, target.name, write_options, report, jobs=jobs)
    else:
        summary = _write_per_split(result, dest, target, names[: len(ratios)], write_options, report, jobs)
    return result, summary


def _write_per_split(
    dataset: Dataset,
    dest: Path,
    target: FormatInfo,
    names: Sequence[str],
    options: WriteOptions,
    report: Report,
    jobs: int,
) -> Summary:
    """One output per split inside ``dest``: ``instances_<split>.json`` (COCO) or ``<split>/`` (folders)."""
    total = Summary(report=report)
    with atomic_dir(dest, options.overwrite) as tmp:
        for name in names:
            part = [r for r in dataset.images if r.split == name]
            if not part:
                continue
            if not target.output_is_dir:  # the file is the split (instances_<split>.json): nothing is dropped
                part = [ImageRecord.trusted(**{**r.__dict__, "split": None}) for r in part]
            out = tmp / (name if target.output_is_dir else f"instances_{name}.json")
            subset = Dataset.trusted(
                categories=dataset.categories, images=part, image_root=dataset.image_root, info=dataset.info
            )
            summary = write(
                subset,
                out,
                target.name,
                replace(options, overwrite=False),
                Report(strict=report.strict),
                jobs=jobs,
            )
            total.images += summary.images
            total.empty_images += summary.empty_images
            total.instances.update(summary.instances)
            total.labels.update(summary.labels)
            total.report.merge(summary.report)
    total.categories = dataset.categories
    return total


def convert(
    src: str | Path,
    dest: str | Path,
    to: str,
    fmt: str | None = None,
    read_options: ReadOptions | None = None,
    write_options: WriteOptions | None = None,
    report: Report | None = None,
    jobs: int = 0,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[ReadPlan], Any] | None = None,
    resample: Resample | None = None,
) -> Summary:
    """Stream ``src`` into ``dest``: image by image over ``jobs`` processes (0: all cores).

    ``resample`` moves every image to another resolution on the way (``cytoconv.ops.resample``)."""
    src, dest = Path(src), Path(dest)
    read_options = read_options or ReadOptions()
    info, implied = lookup(to)
    write_options = replace(write_options or WriteOptions(), **implied)
    check_place_images(write_options, info)
    report = report if report is not None else Report()
    _, module, plan = open_source(src, fmt, read_options, report)
    write_options = check_points(plan, info, write_options)
    if on_plan is not None:
        on_plan(plan)
    load: Loader = module.load
    if resample is not None:
        resample = replace(resample, image_root=resample.image_root or plan.image_root, options=read_options)
        from cytoconv.ops.resample import TransformedLoader

        load = TransformedLoader(module.load, resample)
    writer = info.writer()(dest, plan.categories, plan.image_root, write_options, report)
    return run(plan, load, writer, read_options, report, jobs, progress)


def output_format(
    to: str | None, default: FormatInfo, options: WriteOptions | None
) -> tuple[FormatInfo, WriteOptions]:
    """The format a command writes (``to``, else ``default``: the input's) and the writing options with what
    its alias implies (``yolo-det``: ``task=detect``); a format no writer has, and ``--copy-images`` for a
    writer that lays out no images, are usage errors before anything is read."""
    target, implied = lookup(to) if to else (default, {})
    if not target.writes:
        raise UsageError(f"cannot write {target.name}")
    options = replace(options or WriteOptions(), **implied)
    check_place_images(options, target)
    return target, options


def check_place_images(options: WriteOptions, target: FormatInfo) -> None:
    """``--copy-images`` / ``--link-images`` only for a writer that lays images out (YOLO), before anything is
    read: elsewhere they would silently do nothing."""
    if options.place_images != "none" and not target.places_images:
        raise UsageError(
            f"--{options.place_images}-images lays images out for YOLO output, not {target.name}"
        )


def check_points(plan: ReadPlan, target: FormatInfo, options: WriteOptions) -> WriteOptions:
    """Refuse, before anything is read or written, points (a plan that says it holds them) bound for a format
    that holds no points without a box size, and per-class sizes naming classes the dataset does not have;
    return the options with ``--point-box`` bound to the plan's way of naming numbered classes."""
    from cytoconv.engine.adapt import POINT_BOX_HELP

    boxes = options.point_box
    if boxes is not None:
        boxes = replace(boxes, inferred_name=plan.inferred_name)
        if plan.categories:
            boxes.check_names({c.name for c in plan.categories})
        elif not plan.categories_known:
            boxes.check_inferred()
        options = replace(options, point_box=boxes)
    if plan.points and target.image_level:
        raise UsageError(
            f"the source holds points (cell centres), which have no image-level label for {target.name}: cut "
            "them into class folders with `cytoconv crop SRC OUT --size WxH`"
        )
    if plan.points and not target.holds_points and boxes is None:
        raise UsageError(
            f"the source holds points (cell centres): to write {target.name}, give {POINT_BOX_HELP}"
        )
    return options


def resample_target(
    size: tuple[int, int] | None = None,
    scale: float | None = None,
    max_side: int | None = None,
    sizes_from: str | Path | None = None,
) -> TargetSize:
    """The new size of the images from exactly one of its four ways, checked: ``TargetSize`` itself accepts
    none or several, and ``sizes_from`` (a folder) must be read into a stem -> image map first."""
    from cytoconv.ops.resample import TargetSize, sizes_from_folder

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


def resample(
    src: str | Path,
    dest: str | Path,
    target: TargetSize,
    to: str | None = None,
    fmt: str | None = None,
    read_options: ReadOptions | None = None,
    write_options: WriteOptions | None = None,
    report: Report | None = None,
    jobs: int = 0,
    images_out: str | Path | bool | None = None,
    rle_method: Literal["outline", "nearest"] = "outline",
    clip: bool = False,
    image_filter: str = "lanczos",
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[ReadPlan], Any] | None = None,
) -> Summary:
    """Convert ``src`` to ``dest`` at another resolution (same format unless ``to``); with ``images_out``
    the images are resized too, into that folder (``True``: ``default_images_out(dest)``), which appears
    whole or not at all. ``resample_target`` builds a checked ``target``."""
    from cytoconv.ops.resample import RESAMPLING_FILTERS, Resample

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


def validate(*args: Any, **kwargs: Any) -> Any:
    """``cytoconv.validate.validate`` (``cytoconv validate``), imported on first use."""
    from cytoconv.validate import validate as run_validation

    return run_validation(*args, **kwargs)


def remap(
    src: str | Path,
    dest: str | Path,
    mapping: str | Path | Mapping[str, str | None] | Sequence[tuple[str, str | None]],
    to: str | None = None,
    fmt: str | None = None,
    order: Sequence[str] | None = None,
    unmapped: Literal["error", "keep", "drop"] = "error",
    read_options: ReadOptions | None = None,
    write_options: WriteOptions | None = None,
    report: Report | None = None,
    jobs: int = 0,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[ReadPlan], Any] | None = None,
) -> RemapResult:
    """Stream ``src`` into ``dest`` (in ``to``, default the input's format) with its classes renamed, merged or
    dropped as ``mapping`` says (``cytoconv remap``; see ``cytoconv.ops.remap``): text as ``--map`` takes it
    (inline ``old=new,old=-`` or a YAML/JSON file), a path, a dict or (old, new) pairs, ``None`` or ``-``
    dropping a class. Returns the counts per old and per new class.

    The map is checked against the classes before anything is written; a dataset whose classes are only
    numbered (YOLO without names: ``class_0``, ...) is read twice, first to learn which classes it has."""
    from cytoconv.ops.remap import RemapWriter, as_pairs, resolve, result_of

    src, dest = Path(src), Path(dest)
    pairs = as_pairs(mapping)
    read_options = read_options or ReadOptions()
    report = report if report is not None else Report()
    info, module, plan = open_source(src, fmt, read_options, report)
    target, write_options = output_format(to, info, write_options)
    if not plan.categories and not plan.categories_known:
        seen = Summary(report=report.child())  # its problems are the main pass's: counted once, there
        for _, part in stream(plan, module.load, None, read_options, seen.report, jobs):
            seen.merge(part)
        plan = replace(plan, categories=final_categories(plan, seen), categories_known=True)
    classes = resolve(plan.categories, pairs, order, unmapped)
    write_options = check_points(replace(plan, categories=list(classes.new)), target, write_options)
    if on_plan is not None:
        on_plan(plan)
    inner = target.writer()(dest, list(classes.new), plan.image_root, write_options, report)
    writer = RemapWriter(inner, classes)
    summary = run(plan, module.load, writer, read_options, report, jobs, progress)
    return result_of(writer, summary, report)


def merge(
    sources: Sequence[str | Path],
    dest: str | Path,
    to: str | None = None,
    fmt: str | None = None,
    read_options: ReadOptions | None = None,
    write_options: WriteOptions | None = None,
    report: Report | None = None,
    jobs: int = 0,
    *,
    fold_case: bool = False,
    on_clash: Literal["prefix", "error"] = "prefix",
    split: str | None = None,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[ReadPlan], Any] | None = None,
) -> MergeSummary:
    """Merge two or more datasets into ``dest`` in ``to`` (default: the first source's format)
    (``cytoconv merge``; see ``cytoconv.ops.merge``): classes unified by name (``fold_case``: case and surrounding
    spaces folded), clashing file names renamed with their source's name (``on_clash="error"`` refuses them), the
    same image in two sources read as one with its objects joined, and each source's splits kept (``split``
    sets one for all). ``fmt`` is the format of every source; without it each source is detected on its own.

    Each source is read twice (names first, then the write), memory staying flat; the images are presented to
    the writer under their new names in a temporary folder of links beside ``dest``, removed at the end."""
    from cytoconv.ops.merge import (
        MergeSource,
        MergeSummary,
        check_options,
        duplicate_objects,
        image_view,
        plan_merge,
        source_names,
    )

    check_options(on_clash, split)
    paths = [Path(p) for p in sources]
    if len(paths) < 2:
        raise UsageError("merge needs at least two sources")
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
    resolved = [p.resolve() for p in paths]
    # a folder and its own COCO file are one source: read twice, every image would be joined to itself
    for k, path in enumerate(resolved):
        for j, earlier in enumerate(resolved[:k]):
            if path == earlier or path.is_relative_to(earlier) or earlier.is_relative_to(path):
                raise UsageError(f"{paths[k]}: the same source as {paths[j]} (or inside it)")
    read_options = read_options or ReadOptions()
    report = report if report is not None else Report()
    opened = []
    for path, name in zip(paths, source_names(paths)):
        info, module, plan = open_source(path, fmt, read_options, report)
        opened.append(MergeSource(name, str(path), info.name, plan, module.load))
    target, write_options = output_format(to, lookup(opened[0].format)[0], write_options)
    merged = plan_merge(
        opened, read_options, report, jobs, fold_case=fold_case, on_clash=on_clash, split=split
    )
    write_options = check_points(merged.plan, target, write_options)
    if on_plan is not None:
        on_plan(merged.plan)
    dest = Path(dest)
    staging = dest.absolute().parent
    staging.mkdir(parents=True, exist_ok=True)
    view = Path(tempfile.mkdtemp(prefix="." + dest.name + "-images" + TEMP_MARK, dir=staging))
    try:
        image_view(merged.links, view)
        # a manifest records its image root, which must not be this temporary folder
        root = str(view) if merged.links and target.name != "manifest" else None
        writer = target.writer()(dest, merged.plan.categories, root, write_options, report)
        summary = run(merged.plan, merged.load, writer, read_options, report, jobs, progress)
    finally:
        shutil.rmtree(view, ignore_errors=True)
    return MergeSummary(summary, merged.sources, merged.classes, duplicate_objects(report))


def filter_dataset(
    src: str | Path,
    dest: str | Path,
    to: str | None = None,
    fmt: str | None = None,
    *,
    classes: str | Sequence[str] = (),
    drop_classes: str | Sequence[str] = (),
    min_area: float | None = None,
    max_area: float | None = None,
    pixel_size: float | None = None,
    splits: str | Sequence[str] = (),
    image_list: str | Path | Sequence[str] | None = None,
    empty: Literal["keep", "drop"] = "keep",
    keep_class_list: bool = False,
    read_options: ReadOptions | None = None,
    write_options: WriteOptions | None = None,
    report: Report | None = None,
    jobs: int = 0,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[ReadPlan], Any] | None = None,
) -> Filtered:
    """Stream ``src`` into ``dest`` (in ``to``, default the input's format) keeping only what the criteria
    say (``cytoconv filter``; see ``cytoconv.ops.filter``): the objects of ``classes`` (or all but
    ``drop_classes``; names, ``a,b`` or a list), those whose pixel area (COCO's ``area``; in um2 with
    ``pixel_size`` um per pixel) is within ``min_area``..``max_area``, the images of ``splits`` and of
    ``image_list`` (a file of names, one per line, or the names), and with ``empty="drop"`` no image left
    without objects. The classes left out leave the class list too unless ``keep_class_list``.

    Every criterion is checked before anything is written; returns the output's summary and the counts of
    what was removed, per class and per reason."""
    from cytoconv.ops.filter import (
        FilteredWriter,
        build_step,
        check_criteria,
        finish,
        parse_list,
        read_image_list,
    )
    from cytoconv.ops.resample import TransformedLoader

    keep, drop, wanted = parse_list(classes), parse_list(drop_classes), parse_list(splits)
    check_criteria(empty, keep, drop, min_area, max_area, pixel_size)
    names = None
    if image_list is not None:
        names = read_image_list(image_list if isinstance(image_list, (str, Path)) else list(image_list))
    src, dest = Path(src), Path(dest)
    read_options = read_options or ReadOptions()
    report = report if report is not None else Report()
    info, module, plan = open_source(src, fmt, read_options, report)
    target, write_options = output_format(to, info, write_options)
    step, categories, counts, final = build_step(
        plan,
        classes=keep,
        drop_classes=drop,
        min_area=min_area,
        max_area=max_area,
        pixel_size=pixel_size,
        splits=wanted,
        image_list=names,
        empty=empty,
        keep_class_list=keep_class_list,
    )
    plan = replace(plan, categories=categories)
    write_options = check_points(plan, target, write_options)
    if on_plan is not None:
        on_plan(plan)
    inner = target.writer()(dest, categories, plan.image_root, write_options, report)
    writer = FilteredWriter(inner, counts, final)
    summary = run(plan, TransformedLoader(module.load, step), writer, read_options, report, jobs, progress)
    return finish(summary, counts, writer, wanted, names)


# --- diff (cytoconv diff) ------------------------------------------------------------------------------


def diff(
    a: str | Path,
    b: str | Path,
    fmt_a: str | None = None,
    fmt_b: str | None = None,
    options_a: ReadOptions | None = None,
    options_b: ReadOptions | None = None,
    report: Report | None = None,
    jobs: int = 0,
    *,
    iou: float = 0.5,
    exact_iou: float = 1.0,
    distance: float = 5.0,
    by: Literal["path", "name"] = "path",
    html: str | Path | None = None,
    html_limit: int = 50,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], Any] | None = None,
) -> DiffResult:
    """What changed from ``a`` to ``b`` (any readable formats, detected unless given), image by image and per
    class (``cytoconv diff``; see ``cytoconv.ops.diff``): ``result.same`` says whether they agree, and
    ``cytoconv.ops.diff.to_text`` / ``to_json`` render it. ``html``: also write the page of the first
    ``html_limit`` differing images drawn (``cytoconv.ops.diff_html``). ``on_total`` hears the number of images
    to read (both sets) once both are opened."""
    from cytoconv.ops.diff import DiffSettings, Opened, diff_plans

    settings = DiffSettings(iou=iou, exact_iou=exact_iou, distance=distance, by=by)
    if html_limit < 0:
        raise UsageError(f"--html-limit must be 0 or more, got {html_limit}")
    if html is not None:
        from cytoconv.engine.atomic import check_destination

        check_destination(Path(html), overwrite)  # before two datasets are read, not after
    options_a, options_b = options_a or ReadOptions(), options_b or ReadOptions()
    report = report if report is not None else Report()
    info_a, module_a, plan_a = open_source(Path(a), fmt_a, options_a, report)
    info_b, module_b, plan_b = open_source(Path(b), fmt_b, options_b, report)
    if on_total is not None:
        on_total(len(plan_a.units) + len(plan_b.units))
    opened_a = Opened(plan_a, module_a.load, options_a, str(a), info_a.name)
    opened_b = Opened(plan_b, module_b.load, options_b, str(b), info_b.name)
    result = diff_plans(opened_a, opened_b, report, jobs, settings, progress)
    if html is not None:
        from cytoconv.ops.diff_html import write_html

        write_html(result, html, opened_a, opened_b, report, html_limit, overwrite)
    return result
