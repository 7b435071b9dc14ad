"""``cytoconv crop`` and ``cytoconv split``: from detection sets to classifier training sets.

The library (``cytoconv.ops.crop``, ``cytoconv.ops.split``) is imported when a command runs, not here.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cytoconv.cli import options as opts
from cytoconv.cli.summary import print_report, print_summary, progress_bar, stderr_console
from cytoconv.errors import Report, UsageError

if TYPE_CHECKING:
    from cytoconv.ir import Category

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command("crop")
def crop_command(
    dataset: Annotated[Path, typer.Argument(help="Detection or segmentation dataset (any readable format).")],
    out_dir: Annotated[Path, typer.Argument(help="Output folder: <class>/<image>_<k>.png and crops.csv.")],
    padding: Annotated[
        str,
        typer.Option(
            "--padding",
            help="Margin around each object: pixels (12, 12px) or a fraction of its width and height (0.1, 10%).",
        ),
    ] = "0",
    square: Annotated[
        bool,
        typer.Option(
            "--square",
            help="Make each crop square (the shorter side grows about the centre; moved inside the image where "
            "it fits).",
        ),
    ] = False,
    size: Annotated[
        str | None,
        typer.Option(
            "--size",
            metavar="WxH",
            help="Resize every crop to WxH after cropping (with --square, aspect kept); for a point (a cell "
            "centre), the WxH window cut around it, not resized (points need it).",
        ),
    ] = None,
    pad_mode: Annotated[
        str,
        typer.Option(
            "--pad",
            metavar="black|edge|skip",
            help="A point's window reaching past the image edge: padded black, padded with the border pixels "
            "repeated (edge), or not written (skip); counted either way.",
        ),
    ] = "black",
    mask_background: Annotated[
        str | None,
        typer.Option(
            "--mask-background",
            metavar="COLOR",
            help="Paint the pixels outside the object's outline: black, white, #rrggbb, r,g,b or a grey level.",
        ),
    ] = None,
    ext: Annotated[
        str, typer.Option("--ext", help="Crop image format: png (lossless), jpg, tif, bmp, webp.")
    ] = "png",
    from_: opts.FromOpt = None,
    names: opts.NamesOpt = None,
    images: opts.ImagesOpt = None,
    image_size: opts.ImageSizeOpt = None,
    strict: opts.StrictOpt = True,
    overwrite: opts.OverwriteOpt = False,
    quiet: opts.QuietOpt = False,
    jobs: opts.JobsOpt = 0,
    exif: opts.ExifOpt = True,
    classes: opts.ClassesOpt = None,
    channel: opts.ChannelOpt = None,
    instances: opts.InstancesOpt = opts.Instances.COMPONENTS,
    connectivity: opts.ConnectivityOpt = opts.Connectivity.EIGHT,
    index_base: opts.IndexBaseOpt = 0,
    columns: opts.ColumnsOpt = None,
    predictions: opts.PredictionsOpt = False,
) -> None:
    """Cut every object into an image in its class folder (a point: the --size window around it), with a CSV
    of where each crop came from."""
    from cytoconv import api
    from cytoconv.engine.atomic import refuse_overlap
    from cytoconv.ops.crop import CropOptions, parse_color, parse_padding

    refuse_overlap(out_dir, dataset, images)
    pad, fraction = parse_padding(padding)
    try:
        resize = opts.parse_size(size, "--size")
    except UsageError:
        raise UsageError(f"--size must look like 224x224, got {size!r}") from None
    options = CropOptions(
        padding=pad,
        padding_is_fraction=fraction,
        square=square,
        size=resize,
        mask_background=parse_color(mask_background) if mask_background else None,
        ext=ext.lower().lstrip("."),
        overwrite=overwrite,
        apply_exif_orientation=exif,
        pad=pad_mode.strip().lower(),
    )
    reading = opts.read_options(
        names=names,
        images=images,
        image_size=image_size,
        exif=exif,
        classes=classes,
        channel=channel,
        instances=instances,
        connectivity=connectivity,
        index_base=index_base,
        columns=columns,
        predictions=predictions,
    )
    report = Report(strict=strict)
    with progress_bar(enabled=not quiet) as bar:
        summary, crops = api.crop(
            dataset,
            out_dir,
            options,
            fmt=from_,
            read_options=reading,
            report=report,
            jobs=jobs,
            progress=bar.advance,
            on_plan=bar.on_plan,
        )
    if not quiet:
        print_summary(summary, out_dir)
        stderr_console().print(
            f"{crops:,} crops in {out_dir} (sources in {out_dir / 'crops.csv'})", markup=False, soft_wrap=True
        )


@app.command("split")
def split_command(
    dataset: Annotated[Path, typer.Argument(help="Dataset to split (any readable format).")],
    out: Annotated[Path, typer.Argument(help="Output, in the input's format unless --to says otherwise.")],
    ratios: Annotated[
        str, typer.Option("--ratios", help="Share of each split, e.g. 0.8,0.1,0.1 (scaled to sum to 1).")
    ] = "0.8,0.1,0.1",
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same split.")] = 0,
    group_by: Annotated[
        str | None,
        typer.Option(
            "--group-by",
            metavar="REGEX",
            help="Keep images together whose file names give the same match (first capture group), e.g. "
            "'^(patient\\d+)_'.",
        ),
    ] = None,
    split_names: Annotated[
        str, typer.Option("--split-names", help="Names of the splits, in the order of --ratios.")
    ] = "train,val,test",
    to: opts.SameFormatOpt = None,
    link: opts.LinkOpt = False,
    from_: opts.FromOpt = None,
    names: opts.NamesOpt = None,
    images: opts.ImagesOpt = None,
    image_size: opts.ImageSizeOpt = None,
    strict: opts.StrictOpt = True,
    overwrite: opts.OverwriteOpt = False,
    quiet: opts.QuietOpt = False,
    jobs: opts.JobsOpt = 0,
    exif: opts.ExifOpt = True,
    classes: opts.ClassesOpt = None,
    channel: opts.ChannelOpt = None,
    instances: opts.InstancesOpt = opts.Instances.COMPONENTS,
    connectivity: opts.ConnectivityOpt = opts.Connectivity.EIGHT,
    index_base: opts.IndexBaseOpt = 0,
    columns: opts.ColumnsOpt = None,
    predictions: opts.PredictionsOpt = False,
    point_box: opts.PointBoxOpt = None,
) -> None:
    """Split DATASET into train/val/test, stratified by class, reproducibly, groups kept together."""
    from cytoconv import api
    from cytoconv.engine.atomic import refuse_overlap
    from cytoconv.engine.contract import WriteOptions
    from cytoconv.ops.split import parse_ratios, split_counts

    refuse_overlap(out, dataset, images)
    shares = parse_ratios(ratios)
    labels = tuple(n.strip() for n in split_names.split(",") if n.strip())
    reading = opts.read_options(
        names=names,
        images=images,
        image_size=image_size,
        exif=exif,
        classes=classes,
        channel=channel,
        instances=instances,
        connectivity=connectivity,
        index_base=index_base,
        columns=columns,
        predictions=predictions,
    )
    report = Report(strict=strict)
    from cytoconv.engine.adapt import PointBoxes

    boxes = PointBoxes.parse(point_box) if point_box is not None else None
    writing = WriteOptions(overwrite=overwrite, link=link, point_box=boxes)
    result, _summary = api.split(
        dataset,
        out,
        shares,
        seed,
        names=labels,
        group_by=group_by,
        to=to,
        fmt=from_,
        read_options=reading,
        write_options=writing,
        report=report,
        jobs=jobs,
    )
    if not quiet:
        images_per_split = Counter(r.split or "" for r in result.images)
        _print_split_table(split_counts(result), result.categories, images_per_split, labels, out)
        print_report(report.lines())


def _print_split_table(
    counts: dict[str, Counter[int]],
    categories: list[Category],
    images: Counter[str],
    order: tuple[str, ...],
    dest: Path,
) -> None:
    """Objects per class and images per split, the splits in the order of --split-names."""
    from rich.table import Table

    table = Table(title=f"wrote {dest}", title_justify="left", show_edge=False)
    table.add_column("class")
    splits = sorted(counts, key=lambda s: (order.index(s) if s in order else len(order), s))
    for split in splits:
        table.add_column(split or "(none)", justify="right")
    for category in categories:
        table.add_row(category.name, *(f"{counts[s].get(category.id, 0):,}" for s in splits))
    table.add_row("images", *(f"{images[s]:,}" for s in splits), style="bold")
    stderr_console().print(table)
