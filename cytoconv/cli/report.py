"""``cytoconv report``: one self-contained HTML page showing a dataset at a glance (the work is in
``cytoconv.ops.report``, composed by ``cytoconv.api.report``).

Every heavy import happens when the command runs, not here.
"""

from __future__ import annotations

import shlex
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from cytoconv.cli import options as opts
from cytoconv.cli.summary import print_report, progress_bar, stderr_console
from cytoconv.errors import Report

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command("report")
def report_command(
    ctx: typer.Context,
    dataset: Annotated[Path, typer.Argument(help="Dataset: a file or folder in any readable format.")],
    out: Annotated[Path, typer.Argument(help="The HTML page to write (one file, nothing else beside it).")],
    samples: Annotated[
        int,
        typer.Option(
            "--samples",
            min=0,
            help="Sample images in the gallery, stratified so that every class appears (when there are "
            "enough).",
        ),
    ] = 24,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the sample choice (same seed, same samples).")
    ] = 0,
    pixel_size: Annotated[
        float | None,
        typer.Option(
            "--pixel-size", metavar="UM", help="Micrometres per pixel: adds areas in um2 and diameters in um."
        ),
    ] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="The page's title (default: cytoconv report: DATASET).")
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
    """Write one self-contained HTML page: summary, the per-class table of stats, plots, a gallery of sample
    images with their outlines in the class colours, and the validate findings by rule code.

    The page opens offline in any browser and references nothing outside itself."""
    from cytoconv import api

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
    command = command_line(ctx)
    with progress_bar(enabled=not quiet) as bar:
        result = api.report(
            dataset,
            out,
            fmt=from_,
            options=options,
            report=report,
            jobs=jobs,
            samples=samples,
            seed=seed,
            pixel_size=pixel_size,
            title=title,
            command=command,
            overwrite=overwrite,
            progress=bar.advance,
            on_plan=bar.on_plan,
        )
    if not quiet:
        stderr_console().print(
            f"wrote {out} ({result.size / 1e6:.1f} MB: {result.stats.total.images:,} images, "
            f"{len(result.samples):,} samples)",
            markup=False,
            soft_wrap=True,
        )
        print_report(report.lines())


def command_line(ctx: Any) -> str:
    """The command as given, rebuilt from what the parser read (the arguments, and the options given on the
    command line), so that it is the same called from a shell or in-process."""
    words: list[str] = []
    options: list[str] = []
    for param in ctx.command.params:
        name = param.name
        value = ctx.params.get(name)
        if param.param_type_name == "argument":
            words.append(str(value))
            continue
        source = ctx.get_parameter_source(name)
        if source is None or source.name not in ("COMMANDLINE", "ENVIRONMENT"):
            continue
        if isinstance(value, bool) and getattr(param, "is_flag", False):
            flag = param.opts[0] if value or not param.secondary_opts else param.secondary_opts[0]
            options.append(flag)
        elif value is not None:
            options += [param.opts[0], str(value.value if isinstance(value, Enum) else value)]
    return " ".join([ctx.command_path, shlex.join([*words, *options])])
