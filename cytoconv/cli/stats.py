"""``cytoconv stats`` and ``cytoconv draw``: a dataset at a glance, as a table, JSON, CSV or pictures.

Kept out of ``cli.py`` (which calls ``register`` once); the commands are defined inside ``register``
so that importing this module never imports ``cli.py`` first (no import cycle), and every heavy
import (numpy, rich, PIL, matplotlib) happens only when a command runs.
"""

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    pass


def register(app: typer.Typer) -> None:
    """Add the ``stats`` and ``draw`` commands to the CLI."""
    from cytoconv.cli.app import (
        ChannelOpt,
        ClassesOpt,
        ConnectivityOpt,
        ExifOpt,
        FromOpt,
        ImageSizeOpt,
        ImagesOpt,
        InstancesOpt,
        JobsOpt,
        NamesOpt,
        OverwriteOpt,
        QuietOpt,
        StrictOpt,
        ToleranceOpt,
        build_read_options,
    )
    from cytoconv.engine.atomic import refuse_overlap
    from cytoconv.errors import Report, UsageError

    @app.command("stats")
    def stats_command(
        dataset: Annotated[Path, typer.Argument(help="Dataset: a file or folder in any readable format.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON (schema in the README) "
                                              "on stdout, and nothing else.")] = False,
        as_csv: Annotated[bool, typer.Option("--csv", help="Print the per-class table as CSV on stdout, and "
                                             "nothing else.")] = False,
        plot: Annotated[Path | None, typer.Option("--plot", help="Also write a figure (PNG): class bars, object "
                                                  "sizes, image sizes, objects per image. Needs cytoconv\\[plot].")
                        ] = None,
        pixel_size: Annotated[float | None, typer.Option("--pixel-size", metavar="UM", help="Micrometres per "
                                                         "pixel: adds areas in um2 and diameters in um.")] = None,
        from_: FromOpt = None,
        names: NamesOpt = None,
        images: ImagesOpt = None,
        image_size: ImageSizeOpt = None,
        strict: StrictOpt = True,
        overwrite: OverwriteOpt = False,
        quiet: QuietOpt = False,
        jobs: JobsOpt = 0,
        exif: ExifOpt = True,
        tolerance: ToleranceOpt = 0.01,
        classes: ClassesOpt = None,
        channel: ChannelOpt = None,
        instances: InstancesOpt = "components",
        connectivity: ConnectivityOpt = 8,
    ) -> None:
        """Count images, objects per class (share, images containing it, mean and median area and
        equivalent diameter), objects per image, image sizes, and the same per split.

        A classification set (class folders) counts images per class. Image pixels are never decoded."""
        reading = dict(locals())  # the reading options, as build_read_options takes them
        from cytoconv.cli.summary import _console, progress_bar
        from cytoconv.ops.stats import compute_stats, render, to_csv, to_json

        if as_json and as_csv:
            raise UsageError("--json and --csv print different things on stdout; give one of them")
        if pixel_size is not None and not pixel_size > 0:
            raise UsageError(f"--pixel-size must be a positive number of micrometres, got {pixel_size:g}")
        if plot is not None:
            _check_plot_target(plot, overwrite)
        options = build_read_options(**reading)
        report = Report(strict=strict)
        with progress_bar(enabled=not quiet) as bar:
            stats = compute_stats(dataset, fmt=from_, options=options, report=report, jobs=jobs,
                                  pixel_size=pixel_size, progress=bar.advance,
                                  on_plan=lambda p: bar.start(len(p.units)))
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
            err = _console()
            for line in report.lines():
                err.print(line, markup=False)
        if plot is not None and not quiet:
            _console().print(f"wrote {plot}", markup=False)

    @app.command("draw")
    def draw_command(
        dataset: Annotated[Path, typer.Argument(help="Dataset: a file or folder in any readable format.")],
        out_dir: Annotated[Path, typer.Argument(help="Folder for the drawn images (PNG, named like the images).")],
        line_width: Annotated[int, typer.Option("--line-width", min=1, max=64, help="Outline width in pixels.")
                              ] = 2,
        opacity: Annotated[float, typer.Option("--opacity", min=0.0, max=1.0, help="Fill opacity inside the "
                                               "objects, 0 (outlines only) to 1.")] = 0.25,
        limit: Annotated[int | None, typer.Option("--limit", min=0, help="Draw only the first N images (with "
                                                  "--only: the first N that show the class).")] = None,
        only: Annotated[list[str] | None, typer.Option("--only", metavar="CLASS", help="Draw only this class "
                                                       "(name or id); repeatable.")] = None,
        legend: Annotated[bool, typer.Option("--legend/--no-legend", help="A band under each image naming the "
                                             "classes drawn.")] = True,
        from_: FromOpt = None,
        names: NamesOpt = None,
        images: ImagesOpt = None,
        image_size: ImageSizeOpt = None,
        strict: StrictOpt = True,
        overwrite: OverwriteOpt = False,
        quiet: QuietOpt = False,
        jobs: JobsOpt = 0,
        exif: ExifOpt = True,
        tolerance: ToleranceOpt = 0.01,
        classes: ClassesOpt = None,
        channel: ChannelOpt = None,
        instances: InstancesOpt = "components",
        connectivity: ConnectivityOpt = 8,
    ) -> None:
        """Draw each image with its outlines (or boxes) in one colour per class, holes as holes, and a legend."""
        reading = dict(locals())  # the reading options, as build_read_options takes them
        from cytoconv.cli.summary import _console, progress_bar
        from cytoconv.ops.draw import DrawStyle, draw

        refuse_overlap(out_dir, dataset, images)
        options = build_read_options(**reading)
        report = Report(strict=strict)
        style = DrawStyle(line_width=line_width, opacity=opacity, legend=legend)
        with progress_bar(enabled=not quiet) as bar:
            result = draw(dataset, out_dir, fmt=from_, options=options, report=report, jobs=jobs,
                          only=tuple(only or ()), limit=limit, style=style, overwrite=overwrite,
                          progress=bar.advance, on_plan=lambda p: bar.start(len(p.units)))
        if not quiet:
            err = _console()
            err.print(f"drew {result.drawn:,} of {result.read:,} images read into {out_dir}", markup=False)
            for line in report.lines():
                err.print(line, markup=False)

    def _check_plot_target(plot: Path, overwrite: bool) -> None:
        """Fail before reading a large dataset, not after: matplotlib present, output free."""
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise UsageError("--plot needs matplotlib, which is not installed: pip install 'cytoconv[plot]'")
        if plot.suffix.lower() != ".png":
            raise UsageError(f"--plot writes a PNG: give a file name ending in .png, got {plot}")
        if plot.exists() and not overwrite:
            raise UsageError(f"{plot}: output exists; pass --overwrite to replace it")
