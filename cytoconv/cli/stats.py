"""``cytoconv stats`` and ``cytoconv draw``: a dataset at a glance, as a table, JSON, CSV or pictures.

Every heavy import (numpy, rich, PIL, matplotlib) happens when a command runs, not here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cytoconv.cli import options as opts
from cytoconv.cli.summary import print_report, progress_bar, stderr_console
from cytoconv.errors import Report, UsageError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command("stats")
def stats_command(
    dataset: Annotated[Path, typer.Argument(help="Dataset: a file or folder in any readable format.")],
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the figures as JSON (schema in the README) on stdout, and nothing else."
        ),
    ] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print the per-class table as CSV on stdout, and nothing else.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Also write a figure (PNG): class bars, object sizes, image sizes, objects per image. Needs "
            "cytoconv\\[plot].",
        ),
    ] = None,
    pixel_size: Annotated[
        float | None,
        typer.Option(
            "--pixel-size", metavar="UM", help="Micrometres per pixel: adds areas in um2 and diameters in um."
        ),
    ] = None,
    from_: opts.FromOpt = None,
    names: opts.NamesOpt = None,
    images: opts.ImagesOpt = None,
    image_size: opts.ImageSizeOpt = None,
    strict: opts.StrictOpt = True,
    overwrite: opts.OverwriteOpt = False,
    quiet: opts.QuietOpt = False,
    jobs: opts.JobsOpt = 0,
    exif: opts.ExifOpt = True,
    tolerance: opts.ToleranceOpt = 0.01,
    classes: opts.ClassesOpt = None,
    channel: opts.ChannelOpt = None,
    instances: opts.InstancesOpt = opts.Instances.COMPONENTS,
    connectivity: opts.ConnectivityOpt = opts.Connectivity.EIGHT,
    index_base: opts.IndexBaseOpt = 0,
    columns: opts.ColumnsOpt = None,
    predictions: opts.PredictionsOpt = False,
) -> None:
    """Count images, objects per class (share, images containing it, mean and median area and
    equivalent diameter), objects per image, image sizes, and the same per split.

    A classification set (class folders) counts images per class. Image pixels are never decoded."""
    from cytoconv import api
    from cytoconv.cli.stats_report import render
    from cytoconv.ops.stats import to_csv, to_json

    if as_json and as_csv:
        raise UsageError("--json and --csv print different things on stdout; give one of them")
    if pixel_size is not None and not pixel_size > 0:
        raise UsageError(f"--pixel-size must be a positive number of micrometres, got {pixel_size:g}")
    if plot is not None:
        _check_plot_target(plot, overwrite)
    options = opts.read_options(
        names=names,
        images=images,
        image_size=image_size,
        exif=exif,
        tolerance=tolerance,
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
        stats = api.stats(
            dataset,
            fmt=from_,
            options=options,
            report=report,
            jobs=jobs,
            pixel_size=pixel_size,
            progress=bar.advance,
            on_plan=bar.on_plan,
        )
    if plot is not None:
        from cytoconv.ops.stats import plot as write_plot

        write_plot(stats, plot, overwrite=overwrite)
    if as_json:
        sys.stdout.write(to_json(stats))
    elif as_csv:
        sys.stdout.write(to_csv(stats))
    else:
        from rich.console import Console

        width = None if sys.stdout.isatty() else 200
        render(stats, Console(highlight=False, width=width, soft_wrap=False))
    if (as_json or as_csv) and not quiet:
        print_report(report.lines())
    if plot is not None and not quiet:
        stderr_console().print(f"wrote {plot}", markup=False, soft_wrap=True)


@app.command("draw")
def draw_command(
    dataset: Annotated[Path, typer.Argument(help="Dataset: a file or folder in any readable format.")],
    out_dir: Annotated[
        Path, typer.Argument(help="Folder for the drawn images (PNG, named like the images).")
    ],
    line_width: Annotated[
        int, typer.Option("--line-width", min=1, max=64, help="Outline width in pixels.")
    ] = 2,
    opacity: Annotated[
        float,
        typer.Option(
            "--opacity", min=0.0, max=1.0, help="Fill opacity inside the objects, 0 (outlines only) to 1."
        ),
    ] = 0.25,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=0,
            help="Draw only the first N images (with --only: the first N that show the class).",
        ),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", metavar="CLASS", help="Draw only this class (name or id); repeatable."),
    ] = None,
    legend: Annotated[
        bool, typer.Option("--legend/--no-legend", help="A band under each image naming the classes drawn.")
    ] = True,
    point_radius: Annotated[
        int,
        typer.Option(
            "--point-radius",
            min=1,
            max=256,
            help="Radius in pixels of the ring drawn around each point (a cell centre); at least the line "
            "width + 1, so the point's own pixel stays clear.",
        ),
    ] = 5,
    from_: opts.FromOpt = None,
    names: opts.NamesOpt = None,
    images: opts.ImagesOpt = None,
    image_size: opts.ImageSizeOpt = None,
    strict: opts.StrictOpt = True,
    overwrite: opts.OverwriteOpt = False,
    quiet: opts.QuietOpt = False,
    jobs: opts.JobsOpt = 0,
    exif: opts.ExifOpt = True,
    tolerance: opts.ToleranceOpt = 0.01,
    classes: opts.ClassesOpt = None,
    channel: opts.ChannelOpt = None,
    instances: opts.InstancesOpt = opts.Instances.COMPONENTS,
    connectivity: opts.ConnectivityOpt = opts.Connectivity.EIGHT,
    index_base: opts.IndexBaseOpt = 0,
    columns: opts.ColumnsOpt = None,
    predictions: opts.PredictionsOpt = False,
) -> None:
    """Draw each image with its outlines (or boxes, or rings around points) in one colour per class, holes as
    holes, and a legend."""
    from cytoconv import api
    from cytoconv.engine.atomic import refuse_overlap
    from cytoconv.ops.draw import DrawStyle

    refuse_overlap(out_dir, dataset, images)
    options = opts.read_options(
        names=names,
        images=images,
        image_size=image_size,
        exif=exif,
        tolerance=tolerance,
        classes=classes,
        channel=channel,
        instances=instances,
        connectivity=connectivity,
        index_base=index_base,
        columns=columns,
        predictions=predictions,
    )
    report = Report(strict=strict)
    style = DrawStyle(line_width=line_width, opacity=opacity, legend=legend, point_radius=point_radius)
    with progress_bar(enabled=not quiet) as bar:
        result = api.draw(
            dataset,
            out_dir,
            fmt=from_,
            options=options,
            report=report,
            jobs=jobs,
            only=tuple(only or ()),
            limit=limit,
            style=style,
            overwrite=overwrite,
            progress=bar.advance,
            on_plan=bar.on_plan,
        )
    if not quiet:
        stderr_console().print(
            f"drew {result.drawn:,} of {result.read:,} images read into {out_dir}", markup=False
        )
        print_report(report.lines())


def _check_plot_target(plot: Path, overwrite: bool) -> None:
    """Fail before reading a large dataset, not after: matplotlib present, output free."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("--plot needs matplotlib, which is not installed: pip install 'cytoconv[plot]'")
    if plot.suffix.lower() != ".png":
        raise UsageError(f"--plot writes a PNG: give a file name ending in .png, got {plot}")
    if plot.exists() and not overwrite:
        raise UsageError(f"{plot}: output exists; pass --overwrite to replace it")
