"""``cytoconv crop`` and ``cytoconv split``: from detection sets to classifier training sets.

Kept out of ``cli.py`` (which calls ``register`` once); the commands are defined inside ``register`` so that
importing this module never imports ``cli.py`` first, and heavy imports happen only when a command runs.
"""

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from cytoconv.ir import Category


def _print_split_table(counts: "dict[str, Counter[int]]", categories: "list[Category]", images: "Counter[str]",
                       order: tuple[str, ...], dest: Path) -> None:
    from rich.table import Table

    from cytoconv.cli.summary import _console

    table = Table(title=f"wrote {dest}", title_justify="left", show_edge=False)
    table.add_column("class")
    splits = sorted(counts, key=lambda s: (order.index(s) if s in order else len(order), s))
    for split in splits:
        table.add_column(split or "(none)", justify="right")
    for category in categories:
        table.add_row(category.name, *(f"{counts[s].get(category.id, 0):,}" for s in splits))
    table.add_row("images", *(f"{images[s]:,}" for s in splits), style="bold")
    _console().print(table)


def register(app: typer.Typer) -> None:
    """Add the ``crop`` and ``split`` commands to the CLI."""
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
        LinkOpt,
        NamesOpt,
        OverwriteOpt,
        QuietOpt,
        StrictOpt,
        _parse_size,
        build_read_options,
    )
    from cytoconv.engine.atomic import refuse_overlap
    from cytoconv.errors import Report, UsageError

    @app.command("crop")
    def crop_command(
        dataset: Annotated[Path, typer.Argument(help="Detection or segmentation dataset (any readable format).")],
        out_dir: Annotated[Path, typer.Argument(help="Output folder: <class>/<image>_<k>.png and crops.csv.")],
        padding: Annotated[str, typer.Option("--padding", help="Margin around each object: pixels (12, 12px) or "
                                             "a fraction of its width and height (0.1, 10%).")] = "0",
        square: Annotated[bool, typer.Option("--square", help="Make each crop square (the shorter side grows "
                                             "about the centre; moved inside the image where it fits).")] = False,
        size: Annotated[str | None, typer.Option("--size", metavar="WxH", help="Resize every crop to WxH after "
                                                 "cropping (with --square, aspect kept).")] = None,
        mask_background: Annotated[str | None, typer.Option(
            "--mask-background", metavar="COLOR", help="Paint the pixels outside the object's outline: black, "
            "white, #rrggbb, r,g,b or a grey level.")] = None,
        ext: Annotated[str, typer.Option("--ext", help="Crop image format: png (lossless), jpg, tif, bmp, "
                                         "webp.")] = "png",
        from_: FromOpt = None,
        names: NamesOpt = None,
        images: ImagesOpt = None,
        image_size: ImageSizeOpt = None,
        strict: StrictOpt = True,
        overwrite: OverwriteOpt = False,
        quiet: QuietOpt = False,
        jobs: JobsOpt = 0,
        exif: ExifOpt = True,
        classes: ClassesOpt = None,
        channel: ChannelOpt = None,
        instances: InstancesOpt = "components",
        connectivity: ConnectivityOpt = 8,
    ) -> None:
        """Cut every object into an image in its class folder, with a CSV of where each crop came from."""
        reading = dict(locals())  # the reading options, as build_read_options takes them
        from cytoconv.cli.summary import progress_bar
        from cytoconv.ops.crop import CropOptions, crop, parse_color, parse_padding

        refuse_overlap(out_dir, dataset, images)
        pad, fraction = parse_padding(padding)
        try:
            resize = _parse_size(size, "--size")
        except UsageError:
            raise UsageError(f"--size must look like 224x224, got {size!r}") from None
        options = CropOptions(padding=pad, padding_is_fraction=fraction, square=square, size=resize,
                              mask_background=parse_color(mask_background) if mask_background else None,
                              ext=ext.lower().lstrip("."), overwrite=overwrite, apply_exif_orientation=exif)
        report = Report(strict=strict)
        with progress_bar(enabled=not quiet) as bar:
            summary, crops = crop(dataset, out_dir, options, fmt=from_,
                                  read_options=build_read_options(**reading), report=report,
                                  jobs=jobs, progress=bar.advance, on_plan=lambda p: bar.start(len(p.units)))
        if not quiet:
            from cytoconv.cli.summary import print_summary

            print_summary(summary, out_dir)
            from cytoconv.cli.summary import _console

            _console().print(f"{crops:,} crops in {out_dir} (sources in {out_dir / 'crops.csv'})")

    @app.command("split")
    def split_command(
        dataset: Annotated[Path, typer.Argument(help="Dataset to split (any readable format).")],
        out: Annotated[Path, typer.Argument(help="Output, in the input's format unless --to says otherwise.")],
        ratios: Annotated[str, typer.Option("--ratios", help="Share of each split, e.g. 0.8,0.1,0.1 (scaled to "
                                            "sum to 1).")] = "0.8,0.1,0.1",
        seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same split.")] = 0,
        group_by: Annotated[str | None, typer.Option(
            "--group-by", metavar="REGEX", help="Keep images together whose file names give the same match "
            "(first capture group), e.g. '^(patient\\d+)_'.")] = None,
        split_names: Annotated[str, typer.Option("--split-names", help="Names of the splits, in the order of "
                                                 "--ratios.")] = "train,val,test",
        to: Annotated[str | None, typer.Option("--to", help="Output format (default: the input's).")] = None,
        link: LinkOpt = False,
        from_: FromOpt = None,
        names: NamesOpt = None,
        images: ImagesOpt = None,
        image_size: ImageSizeOpt = None,
        strict: StrictOpt = True,
        overwrite: OverwriteOpt = False,
        quiet: QuietOpt = False,
        jobs: JobsOpt = 0,
        exif: ExifOpt = True,
        classes: ClassesOpt = None,
        channel: ChannelOpt = None,
        instances: InstancesOpt = "components",
        connectivity: ConnectivityOpt = 8,
    ) -> None:
        """Split DATASET into train/val/test, stratified by class, reproducibly, groups kept together."""
        reading = dict(locals())  # the reading options, as build_read_options takes them
        from cytoconv.engine.contract import WriteOptions
        from cytoconv.ops.split import parse_ratios, split, split_counts

        refuse_overlap(out, dataset, images)
        shares = parse_ratios(ratios)
        labels = tuple(n.strip() for n in split_names.split(",") if n.strip())
        report = Report(strict=strict)
        result, _summary = split(dataset, out, shares, seed, labels, group_by, to, from_,
                                build_read_options(**reading),
                                WriteOptions(overwrite=overwrite, link=link), report, jobs)
        if not quiet:
            counts = split_counts(result)
            images_per_split = Counter(r.split or "" for r in result.images)
            _print_split_table(counts, result.categories, images_per_split, labels, out)
            from cytoconv.cli.summary import _console

            for line in report.lines():
                _console().print(line, markup=False)
