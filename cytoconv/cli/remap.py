"""``cytoconv remap``: rename, merge and drop classes (``cytoconv.api.remap``), with the mapping table.

The library (``cytoconv.ops.remap``) is imported when the command runs, not here.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cytoconv.cli import options as opts
from cytoconv.cli.summary import print_report, progress_bar, stderr_console
from cytoconv.errors import Report

if TYPE_CHECKING:
    from cytoconv.ops.remap import RemapResult

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


class Unmapped(str, Enum):
    """A class of the dataset the map leaves out (``cytoconv.ops.remap.resolve``)."""

    ERROR = "error"
    KEEP = "keep"
    DROP = "drop"


MapOpt = Annotated[
    str,
    typer.Option(
        "--map",
        metavar="MAP",
        help="old=new pairs, e.g. 'blast=myeloid,promyelocyte=myeloid,artifact=-' ('-' drops a class; classes "
        "given one name merge), or a YAML/JSON file of {old: new} (null or '-' drops).",
    ),
]
OrderOpt = Annotated[
    str | None,
    typer.Option(
        "--order",
        metavar="A,B,...",
        help="The new classes in this order (every one, once); default: their first appearance in MAP.",
    ),
]
UnmappedOpt = Annotated[
    Unmapped,
    typer.Option(
        "--unmapped",
        help="A class MAP leaves out: error (every such class named), keep (under its own name, after the mapped "
        "ones) or drop.",
    ),
]


@app.command("remap")
def remap_command(
    src: opts.SrcArg,
    dst: opts.DstArg,
    mapping: MapOpt,
    to: opts.SameFormatOpt = None,
    order: OrderOpt = None,
    unmapped: UnmappedOpt = Unmapped.ERROR,
    link: opts.LinkOpt = False,
    copy_images: opts.CopyImagesOpt = False,
    link_images: opts.LinkImagesOpt = False,
    from_: opts.FromOpt = None,
    names: opts.NamesOpt = None,
    images: opts.ImagesOpt = None,
    image_size: opts.ImageSizeOpt = None,
    task: opts.TaskOpt = opts.Task.AUTO,
    precision: opts.PrecisionOpt = 7,
    parts: opts.PartsOpt = opts.Parts.SPLIT,
    segmentation: opts.SegmentationOpt = opts.Segmentation.AUTO,
    holes: opts.HolesOpt = opts.Holes.BRIDGE,
    overlap: opts.OverlapOpt = opts.Overlap.TOP,
    layers: opts.LayersOpt = False,
    colour: opts.ColourOpt = False,
    crowd: opts.CrowdOpt = opts.Crowd.SKIP,
    point_box: opts.PointBoxOpt = None,
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
) -> None:
    """Rename, merge and drop the classes of SRC as MAP says, into DST (the input's format unless --to); class
    folders are re-grouped. Prints the mapping table with the counts before and after."""
    from cytoconv import api
    from cytoconv.engine.atomic import refuse_overlap
    from cytoconv.ops.remap import parse_map, parse_order

    refuse_overlap(dst, src, images)
    pairs = parse_map(mapping)  # bad MAP syntax before anything is read
    reading = opts.read_options(
        names=names,
        images=images,
        image_size=image_size,
        exif=exif,
        tolerance=tolerance,
        classes=classes,
        channel=channel,
        instances=instances,
        connectivity=connectivity,
        segmentation=segmentation,
        index_base=index_base,
        columns=columns,
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
        overlap=overlap,
        layers=layers,
        colour=colour,
        crowd=crowd,
        point_box=point_box,
    )
    report = Report(strict=strict)
    with progress_bar(enabled=not quiet) as bar:
        result = api.remap(
            src,
            dst,
            pairs,
            to=to,
            fmt=from_,
            order=parse_order(order),
            unmapped=unmapped.value,
            read_options=reading,
            write_options=writing,
            report=report,
            jobs=jobs,
            progress=bar.advance,
            on_plan=bar.on_plan,
        )
    if not quiet:
        print_mapping(result, dst)
        print_report(report.lines())


def print_mapping(result: RemapResult, dst: Path) -> None:
    """The mapping table, to stderr: one row per old class, grouped under its new class in the new order (the
    new class's count after on its first row), the dropped classes last; then the images written."""
    from rich.table import Table

    console = stderr_console()
    console.print(f"wrote {dst}", markup=False, soft_wrap=True)
    unit = result.unit
    before = result.images_before if unit == "images" else result.objects_before
    after = result.images_after if unit == "images" else result.objects_after
    table = Table(show_edge=False)
    table.add_column("old class")
    table.add_column("new class")
    table.add_column(f"{unit} before", justify="right")
    table.add_column(f"{unit} after", justify="right")
    for category in result.categories:
        olds = [old for old, new in result.mapping.items() if new == category.name]
        for k, old in enumerate(olds or [""]):
            had = f"{before[old]:,}" if old else ""
            table.add_row(
                old, category.name if k == 0 else "", had, f"{after[category.name]:,}" if k == 0 else ""
            )
    for old, count in result.dropped.items():
        table.add_row(old, "(dropped)", f"{count:,}", "-")
    table.add_row("total", "", f"{sum(before.values()):,}", f"{sum(after.values()):,}", style="bold")
    console.print(table)
    line = f"{result.images_written:,} images written"
    if unit == "objects":
        line += f" ({result.summary.empty_images:,} without objects"
        if result.images_emptied:
            line += f", {result.images_emptied:,} of them left without any by the map"
        line += ")"
    if result.images_dropped:
        line += f"; {result.images_dropped:,} left out, their class dropped"
    console.print(line, markup=False, soft_wrap=True)
