"""``cytoconv diff A B``: what changed between two versions of an annotation set, per class and per image.

Exit status as diff(1): 0 when A and B agree, 1 when they differ, 2 for trouble: bad usage, and also bad data
(an unreadable or malformed A or B), which every other command reports with 1. The command therefore catches
the ``FormatError`` (and any other cytoconv error) of reading A or B itself, prints it in the one line that
``cytoconv.cli.entry`` would, and exits 2 (``typer.Exit(2)``: the entry passes the code through), so that a
script can tell "they differ" from "could not compare". The library is imported when the command runs.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cytoconv.cli import options as opts
from cytoconv.cli.summary import print_report, progress_bar, stderr_console
from cytoconv.errors import CytoconvError, FormatError, Report, UsageError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

TROUBLE = 2  # diff(1)'s exit status for "could not compare"


class By(str, Enum):
    """How images of A and B are paired (``DiffSettings.by``)."""

    PATH = "path"
    NAME = "name"


@app.command("diff")
def diff_command(
    a: Annotated[
        Path, typer.Argument(metavar="A", help="The first dataset (any readable format): the old version.")
    ],
    b: Annotated[
        Path, typer.Argument(metavar="B", help="The second dataset (any readable format): the new version.")
    ],
    iou: Annotated[
        float, typer.Option("--iou", help="The least IoU of two objects paired as one (0 < IoU <= 1).")
    ] = 0.5,
    exact_iou: Annotated[
        float,
        typer.Option(
            "--exact-iou",
            help="The least IoU of a pair counted identical; below it, moved (1.0: any change of pixels counts).",
        ),
    ] = 1.0,
    distance: Annotated[
        float,
        typer.Option(
            "--distance",
            metavar="PX",
            help="Points (cell centres): the farthest apart two points are paired; a pair not at 0 is moved.",
        ),
    ] = 5.0,
    by: Annotated[
        By,
        typer.Option(
            "--by",
            help="Pair images by their path relative to the dataset (path) or by their file name alone (name).",
        ),
    ] = By.PATH,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the differences as JSON (schema_version 1) on stdout.")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="OUT.html",
            help="Also write one self-contained page drawing each differing image, A beside B.",
        ),
    ] = None,
    html_limit: Annotated[
        int, typer.Option("--html-limit", min=0, help="Draw at most this many differing images in --html.")
    ] = 50,
    from_a: Annotated[
        str | None, typer.Option("--from-a", help="Format of A (detected when not given).")
    ] = None,
    from_b: Annotated[
        str | None, typer.Option("--from-b", help="Format of B (detected when not given).")
    ] = None,
    images_a: Annotated[Path | None, typer.Option("--images-a", help="Folder of A's images.")] = None,
    images_b: Annotated[Path | None, typer.Option("--images-b", help="Folder of B's images.")] = None,
    names: opts.NamesOpt = None,
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
) -> None:
    """Compare two annotation sets: objects paired per image by IoU (points by distance), counted per class as
    identical, moved, relabelled, only in A or only in B. Exit 0: they agree, 1: they differ, 2: trouble."""
    from dataclasses import replace

    from cytoconv import api
    from cytoconv.ops.diff import to_json, to_text

    report = Report(strict=strict)
    try:
        reading = opts.read_options(
            names=names,
            images=None,
            image_size=image_size,
            exif=exif,
            classes=classes,
            channel=channel,
            instances=instances,
            connectivity=connectivity,
            index_base=index_base,
            columns=columns,
        )
        with progress_bar(enabled=not quiet) as bar:
            result = api.diff(
                a,
                b,
                from_a,
                from_b,
                replace(reading, images=images_a),
                replace(reading, images=images_b),
                report,
                jobs,
                iou=iou,
                exact_iou=exact_iou,
                distance=distance,
                by=by.value,
                html=html,
                html_limit=html_limit,
                overwrite=overwrite,
                progress=bar.advance,
                on_total=bar.start,
            )
    except UsageError:
        raise  # the entry prints it: exit 2
    except FormatError as error:  # bad data is "trouble" for diff, as for diff(1): exit 2, not 1
        print(f"{error}", file=sys.stderr)
        raise typer.Exit(TROUBLE) from None
    except CytoconvError as error:
        print(f"cytoconv: error: {error}", file=sys.stderr)
        raise typer.Exit(TROUBLE) from None
    sys.stdout.write(to_json(result) if as_json else to_text(result))
    if not quiet:
        print_report(report.lines())
        if html is not None:
            shown = min(html_limit, len(result.differences))
            stderr_console().print(
                f"{shown:,} differing images drawn in {html}", markup=False, soft_wrap=True
            )
    if not result.same:
        raise typer.Exit(1)
