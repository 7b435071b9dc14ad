"""The command line: parse arguments, call the library API, print, map errors to exit codes.

stdout carries data only; summaries, progress and warnings go to stderr. Exit codes: 0 ok,
1 bad data or a failed conversion, 2 bad usage, 130 interrupted.
"""

import inspect
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from cytoconv.engine.contract import ReadOptions
from typer.core import TyperGroup

from cytoconv._version import __version__
from cytoconv.errors import Report, UsageError
from cytoconv.formats import FORMATS

FEATURED = ("yolo2coco", "coco2yolo", "masks2coco", "masks2yolo", "coco2masks", "yolo2masks", "voc2coco",
            "coco2voc", "yolo2voc", "voc2yolo")


class _LazyShortcuts(TyperGroup):
    """Builds the ``x2y`` shortcuts (one per pair of formats: dozens) only when one is called or listed;
    building them all cost about 1.5 ms each at every start."""

    def list_commands(self, ctx: Any) -> list[str]:
        """--help lists the everyday pairs; every other ``x2y`` works too (see ``cytoconv formats``)."""
        return [*super().list_commands(ctx), *(n for n in FEATURED if n in _SHORTCUTS and n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in _SHORTCUTS:
            command = _make_shortcut(*_SHORTCUTS[cmd_name])
            self.add_command(command, cmd_name)
        return command


app = typer.Typer(
    cls=_LazyShortcuts,
    name="cytoconv",
    help="Convert, check and summarise annotation datasets of cytology and blood-cell images, exactly.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        print(f"cytoconv {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """cytoconv: exact conversions between YOLO, COCO and more."""


# --- shared options ------------------------------------------------------------------------

FromOpt = Annotated[str | None, typer.Option("--from", help="Input format (detected when not given).")]
NamesOpt = Annotated[str | None, typer.Option(
    "--names", help="Class names, comma-separated or a file with one per line (overrides data.yaml/classes.txt).")]
ImagesOpt = Annotated[Path | None, typer.Option("--images", help="Folder of the images (paired by file stem).")]
ImageSizeOpt = Annotated[str | None, typer.Option(
    "--image-size", "--from-size", help="WxH of every image, when the images are not at hand (e.g. 853x640).")]
TaskOpt = Annotated[str, typer.Option("--task", help="YOLO output: segment (polygons), detect (boxes) or auto.")]
PrecisionOpt = Annotated[int, typer.Option("--precision", min=3, max=17,
                                           help="Decimals of normalised YOLO coordinates written.")]
PartsOpt = Annotated[str, typer.Option("--parts", help="Objects in several parts, to YOLO: split (a line each), bridge (one line, zero-width cuts) or error.")]
StrictOpt = Annotated[bool, typer.Option("--strict/--lenient", help="Stop at the first bad item (strict), or "
                                         "skip bad items and count them (lenient).")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=0, help="Processes to use (0: all cores).")]
ExifOpt = Annotated[bool, typer.Option("--exif/--no-exif", help="Apply JPEG EXIF orientation to image sizes "
                                       "(as ultralytics does).")]
ToleranceOpt = Annotated[float, typer.Option("--tolerance", min=0.0, help="How far outside [0, 1] a normalised "
                                             "coordinate may lie before it is an error.")]


def _parse_size(text: str | None, option: str = "--image-size") -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"{option} must look like 853x640, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise UsageError(f"{option} must be positive, got {text!r}")
    return w, h


def _parse_names(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    if os.path.isfile(text):
        from cytoconv.formats.yolo.reader import names_from_txt, names_from_yaml

        path = Path(text)
        names = names_from_yaml(path) if path.suffix in (".yaml", ".yml") else names_from_txt(path)
        if names is None:
            raise UsageError(f"{text}: no 'names' in this file")
        return tuple(names)
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _choice(value: object, allowed: tuple[object, ...], option: str) -> Any:
    if value not in allowed:
        raise UsageError(f"{option} must be one of {', '.join(map(str, allowed))}, got {value!r}")
    return value


ClassesOpt = Annotated[str | None, typer.Option(
    "--classes", help="Mask values -> classes: 128=cytoplasm,255=nucleus, cell=128+255, a preset (wbc, wbc-cell) "
    "or a JSON/YAML file. Without it a classes.json beside the masks is used, else every value is a class.")]
ChannelOpt = Annotated[str | None, typer.Option("--channel", help="Channel of an RGB(A) mask that holds the "
                                                   "class: R, G, B, A or a number.")]
InstancesOpt = Annotated[str, typer.Option("--instances", help="Objects in a semantic mask: components (each "
                                           "connected piece) or per-class (one object per class per image).")]
ConnectivityOpt = Annotated[int, typer.Option("--connectivity", help="Pixel connectivity of components: 4 or 8.")]
SegmentationOpt = Annotated[str, typer.Option("--segmentation", help="COCO output: polygon or rle (exact masks).")]
SimplifyOpt = Annotated[float, typer.Option("--simplify", min=0.0, metavar="PX", help="Masks: drop outline vertices "
                                            "while none moves more than PX pixels (changes the raster; default "
                                            "0: exact).")]
HolesOpt = Annotated[str, typer.Option("--holes", help="Objects with holes, as polygons: bridge (zero-width cuts, "
                                       "exact), rle (COCO), fill, or error.")]
LinkOpt = Annotated[bool, typer.Option("--link", help="Class folders output: hard-link the images instead of "
                                       "copying them.")]


ToSizeOpt = Annotated[str | None, typer.Option("--to-size", help="Resample every image to WxH (e.g. 853x640).")]
ScaleOpt = Annotated[float | None, typer.Option("--scale", min=0.0, help="Resample: both sides times this factor.")]
MaxSideOpt = Annotated[int | None, typer.Option("--max-side", min=1, help="Resample: the longer side to N, keeping "
                                                "the aspect.")]
SizesFromOpt = Annotated[Path | None, typer.Option("--sizes-from", help="Resample each image to the size of the "
                                                   "image of the same stem in this folder.")]
ResizeImagesOpt = Annotated[bool, typer.Option("--resize-images", help="Resample: write the images at the new size "
                                               "too (into --images-out).")]
ImagesOutOpt = Annotated[Path | None, typer.Option("--images-out", help="Where --resize-images writes (default: "
                                                   "DST/images for a folder, DST_images beside a file).")]
FilterOpt = Annotated[str, typer.Option("--filter", help="Image resampling filter: lanczos, bicubic, bilinear, box, "
                                        "hamming or nearest.")]
ClipOpt = Annotated[bool, typer.Option("--clip", help="Resample: clip objects to the new image; clipped and "
                                       "vanished objects are counted.")]
RleMethodOpt = Annotated[str, typer.Option("--rle-method", help="Resample masks by re-rasterising their exact "
                                           "outline (outline) or by nearest-neighbour resizing (nearest).")]


def build_read_options(*, names: str | None, images: Path | None, image_size: str | None, exif: bool,
                       tolerance: float = 0.01, classes: str | None = None, channel: str | None = None,
                       instances: str = "components", connectivity: int = 8, simplify: float = 0.0,
                       segmentation: str = "polygon", **_: Any) -> "ReadOptions":
    """``ReadOptions`` from the reading options every command shares (extra keywords are ignored, so a
    command can pass all its options)."""
    from cytoconv.engine.contract import ReadOptions
    from cytoconv.formats.masks.maskio import parse_channel, parse_class_map

    return ReadOptions(
        names=_parse_names(names), images=images, image_size=_parse_size(image_size), apply_exif_orientation=exif,
        coordinate_tolerance=tolerance, mask_classes=parse_class_map(classes) if classes else None,
        channel=parse_channel(channel), instances=_choice(instances, ("components", "per-class"), "--instances"),
        connectivity=_choice(connectivity, (4, 8), "--connectivity"), simplify=simplify or 0.0,
        mask_geometry=_choice(segmentation, ("polygon", "rle"), "--segmentation"))


def _convert(src: Path, dst: Path, from_: str | None, to: str | None, **opts: Any) -> None:
    """Build the options from the command line, run the conversion (resampling when asked), summarise."""
    from cytoconv import api
    from cytoconv.cli.summary import print_summary, progress_bar
    from cytoconv.engine.atomic import refuse_overlap
    from cytoconv.engine.contract import WriteOptions
    from cytoconv.formats.masks.maskio import parse_class_map

    mask_classes = parse_class_map(opts["classes"]) if opts["classes"] else None
    geometry = _choice(opts["segmentation"], ("polygon", "rle"), "--segmentation")
    read_options = build_read_options(**opts)
    write_options = WriteOptions(
        task=_choice(opts["task"], ("auto", "segment", "detect"), "--task"), precision=opts["precision"],
        parts=_choice(opts["parts"], ("split", "bridge", "error"), "--parts"), overwrite=opts["overwrite"],
        segmentation=geometry, holes=_choice(opts["holes"], ("bridge", "rle", "fill", "error"), "--holes"),
        mask_classes=mask_classes, link=opts["link"])
    refuse_overlap(dst, src, opts["images"], opts.get("sizes_from"))
    target = _target_size(opts)
    report = Report(strict=opts["strict"])
    common: dict[str, Any] = {"fmt": from_, "read_options": read_options, "write_options": write_options,
                              "report": report, "jobs": opts["jobs"]}
    with progress_bar(enabled=not opts["quiet"]) as bar:
        common.update(progress=bar.advance, on_plan=lambda p: bar.start(len(p.units)))
        if target is None:
            if to is None:
                raise UsageError("--to is needed")
            summary = api.convert(src, dst, to=to, **common)
        else:
            images_out = opts["images_out"] or (
                (dst / "images") if dst.suffix == "" else dst.with_name(dst.stem + "_images"))
            summary = api.resample(src, dst, target, to=to, images_out=images_out if opts["resize_images"] else None,
                                   rle_method=_choice(opts["rle_method"], ("outline", "nearest"), "--rle-method"),
                                   clip=opts["clip"], image_filter=_choice(opts["filter"], RESAMPLING_FILTERS,
                                                                           "--filter"), **common)
    if not opts["quiet"]:
        print_summary(summary, dst)


RESAMPLING_FILTERS = ("lanczos", "bicubic", "bilinear", "box", "hamming", "nearest")


def _target_size(opts: dict[str, Any]) -> Any:
    """The resampling target from --to-size / --scale / --max-side / --sizes-from (at most one)."""
    from cytoconv.ops.resample import TargetSize, sizes_from_folder

    given = [k for k in ("to_size", "scale", "max_side", "sizes_from") if opts.get(k) is not None]
    if len(given) > 1:
        raise UsageError("give only one of --to-size, --scale, --max-side, --sizes-from")
    if not given:
        if opts.get("resize_images") or opts.get("clip"):
            raise UsageError("--resize-images and --clip need a new size (--to-size, --scale, --max-side, --sizes-from)")
        return None
    if opts["to_size"] is not None:
        return TargetSize(size=_parse_size(opts["to_size"], "--to-size"))
    if opts["scale"] is not None:
        if opts["scale"] <= 0:
            raise UsageError("--scale must be positive")
        return TargetSize(scale=opts["scale"])
    if opts["max_side"] is not None:
        return TargetSize(max_side=opts["max_side"])
    return TargetSize(sizes_from=sizes_from_folder(opts["sizes_from"]))


@app.command()
def convert(
    src: Annotated[Path, typer.Argument(help="Input dataset: a file or folder.")],
    dst: Annotated[Path, typer.Argument(help="Output file (COCO) or folder (YOLO, masks).")],
    to: Annotated[str, typer.Option("--to", help="Output format (cytoconv formats).")],
    from_: FromOpt = None,
    names: NamesOpt = None,
    images: ImagesOpt = None,
    image_size: ImageSizeOpt = None,
    task: TaskOpt = "auto",
    precision: PrecisionOpt = 7,
    parts: PartsOpt = "split",
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
    segmentation: SegmentationOpt = "polygon",
    holes: HolesOpt = "bridge",
    simplify: SimplifyOpt = 0.0,
    link: LinkOpt = False,
    to_size: ToSizeOpt = None,
    scale: ScaleOpt = None,
    max_side: MaxSideOpt = None,
    sizes_from: SizesFromOpt = None,
    resize_images: ResizeImagesOpt = False,
    images_out: ImagesOutOpt = None,
    filter: FilterOpt = "lanczos",
    clip: ClipOpt = False,
    rle_method: RleMethodOpt = "outline",
) -> None:
    """Convert SRC (any readable format) into DST in the format --to (resampled with --to-size & co)."""
    options = dict(locals())
    _convert(options.pop("src"), options.pop("dst"), options.pop("from_"), options.pop("to"), **options)


def _resample_signature() -> inspect.Signature:
    full = inspect.signature(convert)
    params = [p.replace(annotation=Annotated[str | None, typer.Option("--to", help="Output format (default: the "
                                                                        "input's).")], default=None)
              if name == "to" else p for name, p in full.parameters.items()]
    return full.replace(parameters=params)


def resample(**kwargs: Any) -> None:
    """Resample SRC into DST at another resolution: --to-size WxH, --scale S, --max-side N or --sizes-from DIR.

    Coordinates scale per axis (x * W'/W, y * H'/H); masks are re-rasterised from their exact outline;
    --resize-images writes the images at the new size too. The output keeps the input's format unless --to."""
    if all(kwargs.get(k) is None for k in ("to_size", "scale", "max_side", "sizes_from")):
        raise UsageError("resample needs --to-size, --scale, --max-side or --sizes-from")
    src, dst, from_, to = kwargs.pop("src"), kwargs.pop("dst"), kwargs.pop("from_"), kwargs.pop("to")
    _convert(src, dst, from_, to, **kwargs)


resample.__signature__ = _resample_signature()  # type: ignore[attr-defined]
resample.__annotations__ = {**convert.__annotations__, "to": resample.__signature__.parameters["to"].annotation}  # type: ignore[attr-defined]
app.command("resample")(resample)


def _make_shortcut(source: str, target: str) -> Any:
    """``source2target``: ``convert`` with --from and --to fixed; its options are convert's own."""
    full = inspect.signature(convert)
    params = [p for name, p in full.parameters.items() if name not in ("to", "from_")]

    def shortcut(**kwargs: Any) -> None:
        convert(to=target, from_=source, **kwargs)

    shortcut.__signature__ = full.replace(parameters=params)  # type: ignore[attr-defined]
    shortcut.__annotations__ = {k: v for k, v in convert.__annotations__.items() if k not in ("to", "from_")}
    shortcut.__doc__ = f"Convert {source} to {target} (the same as convert --from {source} --to {target})."
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    single.command(name=f"{source}2{target}")(shortcut)
    return typer.main.get_command(single)


_SHORTCUTS = {f"{s.name}2{t.name}": (s.name, t.name) for s in FORMATS.values() for t in FORMATS.values()
              if s.reads and t.writes and s.name != t.name}


@app.command("formats")
def formats_command() -> None:
    """List the formats, what each can read and write, and their aliases."""
    for info in FORMATS.values():
        can = "/".join(x for x, ok in (("read", info.reads), ("write", info.writes)) if ok)
        aliases = f" (aliases: {', '.join(info.aliases)})" if info.aliases else ""
        print(f"{info.name:<14} {can:<11} {info.description}{aliases}")
    print("\nEvery readable format converts to every writable one: cytoconv convert --from X --to Y, "
          "or the shortcut X2Y (e.g. yolo2coco, masks2coco, voc2yolo).")

__import__("cytoconv.cli.stats", fromlist=["register"]).register(app)  # stats, draw
__import__("cytoconv.cli.cells", fromlist=["register"]).register(app)  # crop, split
__import__("cytoconv.cli.validate", fromlist=["register"]).register(app)  # validate
