"""``cytoconv merge``: several datasets into one, classes unified by name and file-name clashes kept apart.

The library (``cytoconv.api.merge``, ``cytoconv.ops.merge``) is imported when the command runs, not here.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cytoconv.cli import options as opts
from cytoconv.cli.summary import print_summary, progress_bar, stderr_console
from cytoconv.errors import Report, UsageError

if TYPE_CHECKING:
    from cytoconv.ops.merge import MergeSummary

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


class OnClash(str, Enum):
    """Two sources with an image of the same file name (``cytoconv.ops.merge``)."""

    PREFIX = "prefix"
    ERROR = "error"


@app.command("merge")
def merge_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="SRC... DST",
            help="Two or more input datasets (any readable formats), then the output file or folder.",
        ),
    ],
    to: Annotated[
        str | None, typer.Option("--to", help="Output format (default: the first source's).")
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="Format of every source (default: each source detected on its own)."),
    ] = None,
    fold_case: Annotated[
        bool,
        typer.Option(
            "--fold-case",
            help="Unify class names whatever their case and surrounding spaces ('Neutrophil ' = 'neutrophil'; "
            "the first spelling kept). Without it names must match exactly.",
        ),
    ] = False,
    on_clash: Annotated[
        OnClash,
        typer.Option(
            "--on-clash",
            help="An image name already taken by an earlier source: prefix (renamed <source>_<name>) or error.",
        ),
    ] = OnClash.PREFIX,
    split: Annotated[
        str | None,
        typer.Option("--split", metavar="NAME", help="Put every image in this split (e.g. train)."),
    ] = None,
    keep_splits: Annotated[
        bool,
        typer.Option("--keep-splits", help="Keep each image's split from its source (the default)."),
    ] = False,
    image_size: opts.ImageSizeOpt = None,
    task: opts.TaskOpt = opts.Task.AUTO,
    precision: opts.PrecisionOpt = 7,
    parts: opts.PartsOpt = opts.Parts.SPLIT,
    segmentation: opts.SegmentationOpt = opts.Segmentation.AUTO,
    holes: opts.HolesOpt = opts.Holes.BRIDGE,
    link: opts.LinkOpt = False,
    copy_images: opts.CopyImagesOpt = False,
    link_images: opts.LinkImagesOpt = False,
    crowd: opts.CrowdOpt = opts.Crowd.SKIP,
    point_box: opts.PointBoxOpt = None,
    strict: opts.StrictOpt = True,
    overwrite: opts.OverwriteOpt = False,
    quiet: opts.QuietOpt = False,
    jobs: opts.JobsOpt = 0,
    exif: opts.ExifOpt = True,
    tolerance: opts.ToleranceOpt = 0.01,
) -> None:
    """Merge SRC... into DST: classes unified by name, clashing file names renamed with their source's name,
    the same image in two sources read as one with its objects joined."""
    from cytoconv import api
    from cytoconv.engine.atomic import refuse_overlap

    if len(paths) < 3:
        raise UsageError("merge needs at least two sources and an output: cytoconv merge SRC SRC... DST")
    *sources, dst = paths
    if split is not None and keep_splits:
        raise UsageError("give --split NAME or --keep-splits, not both")
    refuse_overlap(dst, *sources)
    reading = opts.read_options(
        names=None, images=None, image_size=image_size, exif=exif, tolerance=tolerance
    )
    writing = opts.write_options(
        task=task,
        precision=precision,
        parts=parts,
        overwrite=overwrite,
        segmentation=segmentation,
        holes=holes,
        link=link,
        copy_images=copy_images,
        link_images=link_images,
        crowd=crowd,
        point_box=point_box,
    )
    report = Report(strict=strict)
    with progress_bar(enabled=not quiet) as bar:
        result = api.merge(
            sources,
            dst,
            to,
            from_,
            reading,
            writing,
            report,
            jobs,
            fold_case=fold_case,
            on_clash=on_clash.value,
            split=split,
            progress=bar.advance,
            on_plan=bar.on_plan,
        )
    if not quiet:
        print_sources(result)
        print_summary(result.summary, dst)


def print_sources(result: MergeSummary) -> None:
    """Per source: its format, images and objects read, images renamed and images joined; then each class
    whose name changed or that several sources share."""
    from rich.table import Table

    console = stderr_console()
    table = Table(show_edge=False)
    for column in ("source", "format", "images", "objects", "renamed", "joined"):
        table.add_column(column, justify="left" if column in ("source", "format") else "right")
    for s in result.sources:
        table.add_row(s.name, s.format, f"{s.images:,}", f"{s.objects:,}", f"{s.renamed:,}", f"{s.joined:,}")
    console.print(table)
    changed = [
        f"{source.name}: {old!r} -> {new!r}"
        for source, mapping in zip(result.sources, result.classes)
        for old, new in mapping.items()
        if old != new
    ]
    for line in changed:
        console.print(f"class {line}", markup=False, soft_wrap=True)
    if result.duplicate_objects:
        console.print(
            f"{result.duplicate_objects:,} objects in both copies of a joined image, kept once",
            markup=False,
        )
