"""``cytoconv convert``, ``resample``, the ``x2y`` shortcuts and ``formats``.

``convert`` is the one declaration of the conversion options. ``resample`` and every shortcut are built from
its click command by ``resample_command`` and ``shortcut_command``: the same parameter objects, so the three
can never drift apart, with ``--to`` made optional (resample) or ``--from``/``--to`` fixed (shortcuts).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

from cytoconv.cli import options as opts
from cytoconv.errors import Report, UsageError
from cytoconv.formats import FORMATS

if TYPE_CHECKING:
    from cytoconv.ops.resample import TargetSize

# Every pair of a readable and a writable format has a shortcut; --help lists these, the rest work too.
SHORTCUTS: dict[str, tuple[str, str]] = {
    f"{s.name}2{t.name}": (s.name, t.name)
    for s in FORMATS.values()
    for t in FORMATS.values()
    if s.reads and t.writes and s.name != t.name
}
FEATURED = (  # the everyday pairs, listed by --help
    "yolo2coco",
    "coco2yolo",
    "masks2coco",
    "masks2yolo",
    "coco2masks",
    "yolo2masks",
    "voc2coco",
    "coco2voc",
    "yolo2voc",
    "voc2yolo",
    "points-txt2coco",
    "points-csv2coco",
)
TARGET_OPTIONS = ("to_size", "scale", "max_side", "sizes_from")  # convert's parameters that choose a new size

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command("convert")
def convert(
    src: opts.SrcArg,
    dst: opts.DstArg,
    to: opts.ToOpt,
    from_: opts.FromOpt = None,
    names: opts.NamesOpt = None,
    images: opts.ImagesOpt = None,
    image_size: opts.ImageSizeOpt = None,
    task: opts.TaskOpt = opts.Task.AUTO,
    precision: opts.PrecisionOpt = 7,
    parts: opts.PartsOpt = opts.Parts.SPLIT,
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
    segmentation: opts.SegmentationOpt = opts.Segmentation.AUTO,
    holes: opts.HolesOpt = opts.Holes.BRIDGE,
    simplify: opts.SimplifyOpt = 0.0,
    link: opts.LinkOpt = False,
    overlap: opts.OverlapOpt = opts.Overlap.TOP,
    layers: opts.LayersOpt = False,
    colour: opts.ColourOpt = False,
    copy_images: opts.CopyImagesOpt = False,
    link_images: opts.LinkImagesOpt = False,
    crowd: opts.CrowdOpt = opts.Crowd.SKIP,
    to_size: opts.ToSizeOpt = None,
    scale: opts.ScaleOpt = None,
    max_side: opts.MaxSideOpt = None,
    sizes_from: opts.SizesFromOpt = None,
    resize_images: opts.ResizeImagesOpt = False,
    images_out: opts.ImagesOutOpt = None,
    image_filter: opts.FilterOpt = opts.ImageFilter.LANCZOS,
    clip: opts.ClipOpt = False,
    rle_method: opts.RleMethodOpt = opts.RleMethod.OUTLINE,
    point_box: opts.PointBoxOpt = None,
    index_base: opts.IndexBaseOpt = 0,
    columns: opts.ColumnsOpt = None,
    predictions: opts.PredictionsOpt = False,
) -> None:
    """Convert SRC (any readable format) into DST in the format --to (resampled with --to-size & co)."""
    from cytoconv import api
    from cytoconv.cli.summary import print_summary, progress_bar
    from cytoconv.engine.atomic import refuse_overlap

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
        simplify=simplify,
        segmentation=segmentation,
        index_base=index_base,
        columns=columns,
        predictions=predictions,
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
    refuse_overlap(dst, src, images, sizes_from)
    target = _target(
        to_size, scale, max_side, sizes_from, resize_images=resize_images, clip=clip and point_box is None
    )
    report = Report(strict=strict)
    with progress_bar(enabled=not quiet) as bar:
        if target is None:
            if to is None:
                raise UsageError("--to is needed")
            summary = api.convert(
                src, dst, to, from_, reading, writing, report, jobs, progress=bar.advance, on_plan=bar.on_plan
            )
        else:
            summary = api.resample(  # images_out=True: the library's default place
                src,
                dst,
                target,
                to,
                from_,
                reading,
                writing,
                report,
                jobs,
                images_out=(images_out or True) if resize_images else None,
                rle_method=rle_method.value,
                clip=clip,
                image_filter=image_filter.value,
                progress=bar.advance,
                on_plan=bar.on_plan,
            )
    if not quiet:
        print_summary(summary, dst)


def _target(
    to_size: str | None,
    scale: float | None,
    max_side: int | None,
    sizes_from: Path | None,
    *,
    resize_images: bool,
    clip: bool,
) -> TargetSize | None:
    """The new size when one is asked for; without one, --resize-images and --clip would silently do nothing."""
    if all(value is None for value in (to_size, scale, max_side, sizes_from)):
        if resize_images or clip:
            raise UsageError(
                "--resize-images and --clip need a new size (--to-size, --scale, --max-side, --sizes-from)"
            )
        return None
    from cytoconv import api

    return api.resample_target(opts.parse_size(to_size, "--to-size"), scale, max_side, sizes_from)


@functools.cache
def convert_command() -> TyperCommand:
    """``convert`` as a click command, the base of ``resample`` and of the shortcuts (built once)."""
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    command = group.commands["convert"]
    assert isinstance(command, TyperCommand)
    return command


def _derived(name: str, text: str, params: list[Any], callback: Any) -> TyperCommand:
    """A copy of ``convert`` under another name, help and parameter list, calling ``callback``."""
    command = copy.copy(convert_command())
    command.name, command.help, command.short_help = name, text, None
    command.params, command.callback = params, callback
    return command


def resample_command() -> TyperCommand:
    """``resample``: ``convert`` with --to optional (default: the input's format) and a new size required."""
    base = convert_command()
    to = copy.copy(next(p for p in base.params if p.name == "to"))
    assert isinstance(to, TyperOption)
    to.required, to.default, to.help = False, None, opts.SAME_FORMAT_HELP
    convert_callback = base.callback
    assert convert_callback is not None

    def resample(**values: Any) -> Any:
        """The resample callback: a convert call that must name a new size (convert's own options cannot
        require one), then runs convert."""
        if all(values[name] is None for name in TARGET_OPTIONS):
            raise UsageError("resample needs --to-size, --scale, --max-side or --sizes-from")
        return convert_callback(**values)

    text = (
        "Resample SRC into DST at another resolution: --to-size WxH, --scale S, --max-side N or --sizes-from DIR."
        "\n\nCoordinates scale per axis (x * W'/W, y * H'/H); masks are re-rasterised from their exact outline;"
        "\n--resize-images writes the images at the new size too. The output keeps the input's format unless --to."
    )
    return _derived("resample", text, [to if p.name == "to" else p for p in base.params], resample)


def shortcut_command(source: str, target: str) -> TyperCommand:
    """``source2target``: ``convert`` with --from and --to fixed (and so not accepted)."""
    base = convert_command()
    assert base.callback is not None
    params = [p for p in base.params if p.name not in ("to", "from_")]
    text = f"Convert {source} to {target} (the same as convert --from {source} --to {target})."
    callback = functools.partial(base.callback, from_=source, to=target)
    return _derived(f"{source}2{target}", text, params, callback)


DetectOpt = Annotated[
    Path | None,
    typer.Option(
        "--detect",
        metavar="PATH",
        help="Show how PATH would be detected: every format that recognises it, with its evidence "
        "(layout, content, guess, refused) and why, and the one chosen (exit 2 when none is).",
    ),
]


@app.command("formats")
def formats_command(detect: DetectOpt = None) -> None:
    """List the formats, what each can read and write, and their aliases; --detect PATH shows how a path would
    be detected instead."""
    if detect is not None:
        detection_report(detect)
        return
    for info in FORMATS.values():
        can = "/".join(x for x, ok in (("read", info.reads), ("write", info.writes)) if ok)
        aliases = f" (aliases: {', '.join(info.aliases)})" if info.aliases else ""
        print(f"{info.name:<14} {can:<11} {info.description}{aliases}")
    print(
        "\nEvery readable format converts to every writable one: cytoconv convert --from X --to Y, "
        "or the shortcut X2Y (e.g. yolo2coco, masks2coco, voc2yolo)."
    )


def detection_report(path: Path) -> None:
    """Print every candidate format of ``path`` (``formats.candidates``, refusals included) as ``name  strength
    reason``, then ``chosen: NAME`` or ``chosen: none (...)``: the choice ``--from`` auto-detection makes, by the
    same rule (``formats.choose``). No choice exits 2, as convert would refuse the path."""
    from cytoconv.formats import STRENGTHS, candidates, choose

    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    found = candidates(path, refused=True)
    for info, evidence in found:
        print(
            f"{info.name:<14} {STRENGTHS.get(evidence.strength, str(evidence.strength)):<8} {evidence.reason}"
        )
    chosen, _ = choose(found)
    if chosen is not None:
        print(f"chosen: {chosen.name}")
        return
    usable = [(info, e) for info, e in found if e.strength > 0]
    if not usable:
        print("chosen: none (no format recognises it; give --from)")
    else:
        top = [info.name for info, e in usable if e.strength == usable[0][1].strength]
        print(f"chosen: none (a tie at {STRENGTHS[usable[0][1].strength]}: {', '.join(top)}; give --from)")
    raise typer.Exit(2)
