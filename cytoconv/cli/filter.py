"""``cytoconv filter``: keep some classes, objects of some size, some splits or a list of images.

A thin layer over ``cytoconv.filter_dataset`` (``cytoconv.ops.filter``). Two reading options of the other
commands are named differently here, because the filter's own options take their names, as the issue asks:
the images folder is ``--image-dir`` (``--images`` is the list of images to keep) and the mask value map is
``--mask-classes`` (``--classes`` is the classes to keep).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cytoconv.cli import options as opts
from cytoconv.cli.summary import print_report, progress_bar, stderr_console
from cytoconv.errors import Report, UsageError

if TYPE_CHECKING:
    from cytoconv.ops.filter import Filtered

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


class Empty(str, Enum):
    """Images left without objects (``filter_dataset(empty=)``)."""

    KEEP = "keep"
    DROP = "drop"


ImageDirOpt = Annotated[
    Path | None,
    typer.Option("--image-dir", help="Folder of the images (paired by file stem); --images of convert."),
]
MaskClassesOpt = Annotated[
    str | None,
    typer.Option(
        "--mask-classes",
        help="Mask values -> classes (128=cytoplasm,255=nucleus, a preset or a JSON/YAML file); --classes of "
        "convert.",
    ),
]


@app.command("filter")
def filter_command(
    src: opts.SrcArg,
    dst: opts.DstArg,
    to: opts.SameFormatOpt = None,
    classes: Annotated[
        str | None,
        typer.Option(
            "--classes",
            metavar="A,B",
            help="Keep only the objects of these classes (names); the others leave the class list too.",
        ),
    ] = None,
    drop_classes: Annotated[
        str | None,
        typer.Option(
            "--drop-classes", metavar="A,B", help="Drop the objects of these classes, and the classes."
        ),
    ] = None,
    keep_class_list: Annotated[
        bool,
        typer.Option(
            "--keep-class-list",
            help="Keep every class in the output's class list (YOLO indices unchanged), its objects dropped.",
        ),
    ] = False,
    min_area: Annotated[
        float | None,
        typer.Option(
            "--min-area",
            metavar="PX",
            help="Drop objects whose area (COCO's: pycocotools pixels) is below this (um2 with --pixel-size).",
        ),
    ] = None,
    max_area: Annotated[
        float | None,
        typer.Option("--max-area", metavar="PX", help="Drop objects whose area is above this."),
    ] = None,
    pixel_size: Annotated[
        float | None,
        typer.Option(
            "--pixel-size", metavar="UM", help="Micrometres per pixel: --min-area and --max-area are in um2."
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option("--split", metavar="NAME[,NAME]", help="Keep only the images of these splits."),
    ] = None,
    image_list: Annotated[
        Path | None,
        typer.Option(
            "--images",
            metavar="LIST",
            help="Keep only the images named in this file (one per line: relative path or bare file name).",
        ),
    ] = None,
    empty: Annotated[
        Empty,
        typer.Option(
            "--empty",
            help="Images left without objects (empty in the source, or emptied by the filter): keep or drop.",
        ),
    ] = Empty.KEEP,
    from_: opts.FromOpt = None,
    names: opts.NamesOpt = None,
    images: ImageDirOpt = None,
    image_size: opts.ImageSizeOpt = None,
    strict: opts.StrictOpt = True,
    overwrite: opts.OverwriteOpt = False,
    quiet: opts.QuietOpt = False,
    jobs: opts.JobsOpt = 0,
    exif: opts.ExifOpt = True,
    tolerance: opts.ToleranceOpt = 0.01,
    mask_classes: MaskClassesOpt = None,
    channel: opts.ChannelOpt = None,
    instances: opts.InstancesOpt = opts.Instances.COMPONENTS,
    connectivity: opts.ConnectivityOpt = opts.Connectivity.EIGHT,
    simplify: opts.SimplifyOpt = 0.0,
    index_base: opts.IndexBaseOpt = 0,
    columns: opts.ColumnsOpt = None,
    task: opts.TaskOpt = opts.Task.AUTO,
    precision: opts.PrecisionOpt = 7,
    parts: opts.PartsOpt = opts.Parts.SPLIT,
    segmentation: opts.SegmentationOpt = opts.Segmentation.AUTO,
    holes: opts.HolesOpt = opts.Holes.BRIDGE,
    link: opts.LinkOpt = False,
    overlap: opts.OverlapOpt = opts.Overlap.TOP,
    layers: opts.LayersOpt = False,
    colour: opts.ColourOpt = False,
    copy_images: opts.CopyImagesOpt = False,
    link_images: opts.LinkImagesOpt = False,
    crowd: opts.CrowdOpt = opts.Crowd.SKIP,
    point_box: opts.PointBoxOpt = None,
    clip: Annotated[
        bool, typer.Option("--clip", help="With --point-box: clip the boxes to the image (counted).")
    ] = False,
) -> None:
    """Filter SRC into DST: some classes, objects within an area, some splits or listed images (everything
    removed counted per class and reason; the input's format unless --to)."""
    from cytoconv import api
    from cytoconv.engine.atomic import refuse_overlap

    if clip and point_box is None:
        raise UsageError("--clip clips the --point-box boxes: give --point-box")
    refuse_overlap(dst, src, images, image_list)
    reading = opts.read_options(
        names=names,
        images=images,
        image_size=image_size,
        exif=exif,
        tolerance=tolerance,
        classes=mask_classes,
        channel=channel,
        instances=instances,
        connectivity=connectivity,
        simplify=simplify,
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
        mask_classes=reading.mask_classes,
        link=link,
        overlap=overlap,
        layers=layers,
        colour=colour,
        copy_images=copy_images,
        link_images=link_images,
        crowd=crowd,
        point_box=point_box,
        clip=clip,
    )
    report = Report(strict=strict)
    with progress_bar(enabled=not quiet) as bar:
        result = api.filter_dataset(
            src,
            dst,
            to,
            from_,
            classes=classes or (),
            drop_classes=drop_classes or (),
            min_area=min_area,
            max_area=max_area,
            pixel_size=pixel_size,
            splits=split or (),
            image_list=image_list,
            empty=empty.value,
            keep_class_list=keep_class_list,
            read_options=reading,
            write_options=writing,
            report=report,
            jobs=jobs,
            progress=bar.advance,
            on_plan=bar.on_plan,
        )
    if not quiet:
        print_filtered(result, dst)


def print_filtered(result: Filtered, dst: Path) -> None:
    """Per class: objects read, removed by class, by area, with their image, and written (the columns add
    up); then the images by reason, what matched nothing, and the report."""
    from rich.table import Table

    summary, counts = result.summary, result.counts
    console = stderr_console()
    console.print(f"wrote {dst}", markup=False, soft_wrap=True)
    names = {c.id: c.name for c in summary.categories} | {c.id: c.name for c in counts.classes_removed}
    table = Table(show_edge=False)
    for title in ("id", "class", "read", "by class", "by area", "image dropped", "written"):
        table.add_column(title, justify="left" if title == "class" else "right")
    ids = sorted(set(names) | set(counts.objects_read))
    for cid in ids:
        cells = [counts.objects_read[cid], *(counts.removed[r][cid] for r in ("class", "area", "image"))]
        table.add_row(
            str(cid), names.get(cid, "?"), *(f"{n:,}" for n in cells), f"{summary.instances[cid]:,}"
        )
    totals = [
        sum(counts.objects_read.values()),
        *(sum(counts.removed[r].values()) for r in ("class", "area", "image")),
    ]
    table.add_row(
        "", "all", *(f"{n:,}" for n in totals), f"{sum(summary.instances.values()):,}", style="bold"
    )
    console.print(table)
    lines = [_images_line(result)]
    if counts.classes_removed:
        lines.append("left out of the class list: " + ", ".join(c.name for c in counts.classes_removed))
    if counts.no_area:
        lines.append(f"{sum(counts.no_area.values()):,} points kept by the area filter: a point has no area")
    if counts.unmatched_names:
        shown = ", ".join(counts.unmatched_names[:5]) + (", ..." if len(counts.unmatched_names) > 5 else "")
        lines.append(f"{len(counts.unmatched_names):,} names of --images match no image: {shown}")
    if counts.unmatched_splits:
        lines.append("no image is in the split --split names: " + ", ".join(counts.unmatched_splits))
    print_report(lines + summary.report.lines())


def _images_line(result: Filtered) -> str:
    """``20 images read, 3 dropped (split 2, empty 1), 17 written (2 without objects); ...``."""
    from cytoconv.ops.filter import IMAGE_REASONS

    summary, counts = result.summary, result.counts
    dropped = sum(counts.images_dropped.values())
    why = ", ".join(f"{r} {counts.images_dropped[r]:,}" for r in IMAGE_REASONS if counts.images_dropped[r])
    line = f"{counts.images_read:,} images read, {dropped:,} dropped" + (f" ({why})" if why else "")
    line += f", {summary.images:,} written ({summary.empty_images:,} without objects)"
    return line + f"; {counts.empty_source:,} empty in the source, {counts.emptied:,} emptied by the filter"
