"""The command line: parse arguments, call the library API, print, map errors to exit codes.

stdout carries data only; summaries, progress and warnings go to stderr. Exit codes: 0 ok,
1 bad data or a failed conversion, 2 bad usage, 130 interrupted.
"""

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from cytoconv._version import __version__
from cytoconv.errors import Report, UsageError
from cytoconv.formats import FORMATS

app = typer.Typer(
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
    "--image-size", help="WxH of every image, when the images are not at hand (e.g. 853x640).")]
TaskOpt = Annotated[str, typer.Option("--task", help="YOLO output: segment (polygons), detect (boxes) or auto.")]
PrecisionOpt = Annotated[int, typer.Option("--precision", min=3, max=17,
                                           help="Decimals of normalised YOLO coordinates written.")]
PartsOpt = Annotated[str, typer.Option("--parts", help="Objects in several parts, to YOLO: split (a line each) "
                                       "or error.")]
StrictOpt = Annotated[bool, typer.Option("--strict/--lenient", help="Stop at the first bad item (strict), or "
                                         "skip bad items and count them (lenient).")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=0, help="Processes to use (0: all cores).")]
ExifOpt = Annotated[bool, typer.Option("--exif/--no-exif", help="Apply JPEG EXIF orientation to image sizes "
                                       "(as ultralytics does).")]
ToleranceOpt = Annotated[float, typer.Option("--tolerance", min=0.0, help="How far outside [0, 1] a normalised "
                                             "coordinate may lie before it is an error.")]


def _parse_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--image-size must look like 853x640, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise UsageError(f"--image-size must be positive, got {text!r}")
    return w, h


def _parse_names(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    if os.path.isfile(text):
        from cytoconv.formats.yolo import names_from_txt, names_from_yaml

        path = Path(text)
        names = names_from_yaml(path) if path.suffix in (".yaml", ".yml") else names_from_txt(path)
        if names is None:
            raise UsageError(f"{text}: no 'names' in this file")
        return tuple(names)
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _choice(value: str, allowed: tuple[str, ...], option: str) -> Any:
    if value not in allowed:
        raise UsageError(f"{option} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _convert(src: Path, dst: Path, from_: str | None, to: str, names: str | None, images: Path | None,
             image_size: str | None, task: str, precision: int, parts: str, strict: bool, overwrite: bool,
             quiet: bool, jobs: int, exif: bool, tolerance: float) -> None:
    from cytoconv.api import convert
    from cytoconv.formats.base import ReadOptions, WriteOptions
    from cytoconv.summary import print_summary, progress_bar

    read_options = ReadOptions(names=_parse_names(names), images=images, image_size=_parse_size(image_size),
                               apply_exif_orientation=exif, coordinate_tolerance=tolerance)
    write_options = WriteOptions(task=_choice(task, ("auto", "segment", "detect"), "--task"), precision=precision,
                                 parts=_choice(parts, ("split", "error"), "--parts"), overwrite=overwrite)
    if src.resolve() == dst.resolve() or (dst.resolve().is_relative_to(src.resolve()) and src.is_dir()):
        raise UsageError(f"{dst}: the output must not be the input or inside it")
    report = Report(strict=strict)
    with progress_bar(enabled=not quiet) as bar:
        summary = convert(src, dst, to=to, fmt=from_, read_options=read_options, write_options=write_options,
                          report=report, jobs=jobs, progress=bar.advance, on_plan=lambda p: bar.start(len(p.units)))
    if not quiet:
        print_summary(summary, dst)


@app.command()
def convert(
    src: Annotated[Path, typer.Argument(help="Input dataset: a file or folder.")],
    dst: Annotated[Path, typer.Argument(help="Output file (COCO) or folder (YOLO).")],
    to: Annotated[str, typer.Option("--to", help="Output format.")],
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
) -> None:
    """Convert SRC (any readable format) into DST in the format --to."""
    _convert(src, dst, from_, to, names, images, image_size, task, precision, parts, strict, overwrite, quiet,
             jobs, exif, tolerance)


def _make_shortcut(source: str, target: str) -> None:
    def shortcut(
        src: Annotated[Path, typer.Argument(help=f"Input {source} dataset.")],
        dst: Annotated[Path, typer.Argument(help=f"Output {target} file or folder.")],
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
    ) -> None:
        _convert(src, dst, source, target, names, images, image_size, task, precision, parts, strict, overwrite,
                 quiet, jobs, exif, tolerance)

    shortcut.__doc__ = f"Convert {source} to {target} (the same as convert --from {source} --to {target})."
    app.command(name=f"{source}2{target}")(shortcut)


for _source in FORMATS.values():
    for _target in FORMATS.values():
        if _source.reads and _target.writes and _source.name != _target.name:
            _make_shortcut(_source.name, _target.name)


@app.command("formats")
def formats_command() -> None:
    """List the formats, what each can read and write, and their aliases."""
    for info in FORMATS.values():
        can = "/".join(x for x, ok in (("read", info.reads), ("write", info.writes)) if ok)
        aliases = f" (aliases: {', '.join(info.aliases)})" if info.aliases else ""
        print(f"{info.name:<8} {can:<11} {info.description}{aliases}")
