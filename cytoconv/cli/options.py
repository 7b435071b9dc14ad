"""The options several commands share, declared once: choices as Enums, typer ``Annotated`` aliases, and the
one function that turns the reading options into ``ReadOptions``.

An alias carries the option's name and help; its default stays in each signature (typer does not take a
default inside ``Annotated``). Only typer and the standard library are imported here, so that building
the command line (and ``--help``) costs no dataset model: the library is imported when a command runs.
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cytoconv.errors import UsageError

if TYPE_CHECKING:
    from cytoconv.engine.contract import MaskClass, ReadOptions, WriteOptions


# --- choices: typer checks them and --help lists them; values as in cytoconv.engine.contract ----------------


class Task(str, Enum):
    """YOLO output (``WriteOptions.task``)."""

    AUTO = "auto"
    SEGMENT = "segment"
    DETECT = "detect"


class Parts(str, Enum):
    """Objects in several parts, to YOLO (``WriteOptions.parts``)."""

    SPLIT = "split"
    BRIDGE = "bridge"
    ERROR = "error"


class Overlap(str, Enum):
    """Mask output: what an object others cover entirely becomes (``WriteOptions.overlap``)."""

    TOP = "top"
    ERROR = "error"


class Holes(str, Enum):
    """Objects with holes, as polygons (``WriteOptions.holes``)."""

    BRIDGE = "bridge"
    RLE = "rle"
    FILL = "fill"
    ERROR = "error"


class Segmentation(str, Enum):
    """COCO output geometry and what mask readers produce (``WriteOptions.segmentation``): ``auto`` keeps
    each object as read (masks are traced to polygons), ``polygon`` and ``rle`` make every object one kind."""

    AUTO = "auto"
    POLYGON = "polygon"
    RLE = "rle"


class Instances(str, Enum):
    """Objects in a semantic mask (``ReadOptions.instances``)."""

    COMPONENTS = "components"
    PER_CLASS = "per-class"


class Connectivity(str, Enum):
    """Pixel connectivity of mask components; str-valued because typer's choices are strings."""

    FOUR = "4"
    EIGHT = "8"


class ImageFilter(str, Enum):
    """Pillow resampling filters (``cytoconv.ops.resample.RESAMPLING_FILTERS``)."""

    LANCZOS = "lanczos"
    BICUBIC = "bicubic"
    BILINEAR = "bilinear"
    BOX = "box"
    HAMMING = "hamming"
    NEAREST = "nearest"


class RleMethod(str, Enum):
    """How masks are resampled (``Resample.rle_method``)."""

    OUTLINE = "outline"
    NEAREST = "nearest"


# --- options used by more than one command --------------------------------------------------------------

SAME_FORMAT_HELP = "Output format (default: the input's)."

SrcArg = Annotated[Path, typer.Argument(help="Input dataset: a file or folder.")]
DstArg = Annotated[Path, typer.Argument(help="Output file (COCO) or folder (YOLO, masks).")]
ToOpt = Annotated[str | None, typer.Option("--to", help="Output format (cytoconv formats).")]
SameFormatOpt = Annotated[str | None, typer.Option("--to", help=SAME_FORMAT_HELP)]
FromOpt = Annotated[str | None, typer.Option("--from", help="Input format (detected when not given).")]
NamesOpt = Annotated[
    str | None,
    typer.Option(
        "--names",
        help="Class names, comma-separated or a file with one per line (overrides data.yaml/classes.txt).",
    ),
]
ImagesOpt = Annotated[
    Path | None, typer.Option("--images", help="Folder of the images (paired by file stem).")
]
ImageSizeOpt = Annotated[
    str | None,
    typer.Option(
        "--image-size",
        "--from-size",
        help="WxH of every image, when the images are not at hand (e.g. 853x640).",
    ),
]
StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict/--lenient",
        help="Stop at the first bad item (strict), or skip bad items and count them (lenient).",
    ),
]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=0, help="Processes to use (0: all cores).")]
ExifOpt = Annotated[
    bool,
    typer.Option(
        "--exif/--no-exif", help="Apply JPEG EXIF orientation to image sizes (as ultralytics does)."
    ),
]
ToleranceOpt = Annotated[
    float,
    typer.Option(
        "--tolerance",
        min=0.0,
        help="How far outside [0, 1] a normalised coordinate may lie before it is an error.",
    ),
]
ClassesOpt = Annotated[
    str | None,
    typer.Option(
        "--classes",
        help="Mask values -> classes: 128=cytoplasm,255=nucleus, cell=128+255, a preset (wbc, wbc-cell) or a "
        "JSON/YAML file. Without it a classes.json beside the masks is used, else every value is a class.",
    ),
]
ChannelOpt = Annotated[
    str | None,
    typer.Option("--channel", help="Channel of an RGB(A) mask that holds the class: R, G, B, A or a number."),
]
InstancesOpt = Annotated[
    Instances,
    typer.Option(
        "--instances",
        help="Objects in a semantic mask: components (each connected piece) or per-class (one object per class "
        "per image).",
    ),
]
ConnectivityOpt = Annotated[
    Connectivity, typer.Option("--connectivity", help="Pixel connectivity of components: 4 or 8.")
]
LinkOpt = Annotated[
    bool, typer.Option("--link", help="Class folders output: hard-link the images instead of copying them.")
]
OverlapOpt = Annotated[
    Overlap,
    typer.Option(
        "--overlap",
        help="Mask output, an object fully covered by others: top (the later object on top; hidden ones counted "
        "and named) or error.",
    ),
]
LayersOpt = Annotated[
    bool,
    typer.Option(
        "--layers",
        help="Instance-masks output: overlapping objects go to further label images (x_layer2.png, ...), none "
        "hidden.",
    ),
]
ColourOpt = Annotated[
    bool,
    typer.Option(
        "--colour",
        help="Semantic masks output: RGB masks, one colour per class (from a colour --classes map, else a palette), "
        "with a CVAT labelmap.txt naming them.",
    ),
]
CopyImagesOpt = Annotated[
    bool,
    typer.Option(
        "--copy-images", help="YOLO output: copy the images to images/<split>/ beside labels/<split>/."
    ),
]
LinkImagesOpt = Annotated[
    bool,
    typer.Option("--link-images", help="YOLO output: hard-link the images to images/<split>/ (else copied)."),
]


class Crowd(str, Enum):
    """Crowd objects (iscrowd 1), to YOLO (``WriteOptions.crowd``)."""

    SKIP = "skip"
    KEEP = "keep"


CrowdOpt = Annotated[
    Crowd,
    typer.Option(
        "--crowd", help="YOLO output: crowd objects (iscrowd 1) skipped (counted) or kept as objects."
    ),
]

# convert, resample and every x2y shortcut (one declaration, see cytoconv.cli.convert)
TaskOpt = Annotated[
    Task, typer.Option("--task", help="YOLO output: segment (polygons), detect (boxes) or auto.")
]
PrecisionOpt = Annotated[
    int, typer.Option("--precision", min=3, max=17, help="Decimals of normalised YOLO coordinates written.")
]
PartsOpt = Annotated[
    Parts,
    typer.Option(
        "--parts",
        help="Objects in several parts, to YOLO: split (a line each), bridge (one line, zero-width cuts) or error.",
    ),
]
SegmentationOpt = Annotated[
    Segmentation,
    typer.Option(
        "--segmentation",
        help="COCO output: auto (each object as read; masks traced to polygons), polygon (every RLE traced "
        "exactly too) or rle (every object as its mask).",
    ),
]
HolesOpt = Annotated[
    Holes,
    typer.Option(
        "--holes",
        help="Objects with holes, as polygons: bridge (zero-width cuts, exact), rle (COCO), fill, or error.",
    ),
]
SimplifyOpt = Annotated[
    float,
    typer.Option(
        "--simplify",
        min=0.0,
        metavar="PX",
        help="Masks: drop outline vertices while none moves more than PX pixels (changes the raster; default "
        "0: exact).",
    ),
]
ToSizeOpt = Annotated[
    str | None, typer.Option("--to-size", help="Resample every image to WxH (e.g. 853x640).")
]
ScaleOpt = Annotated[
    float | None, typer.Option("--scale", min=0.0, help="Resample: both sides times this factor.")
]
MaxSideOpt = Annotated[
    int | None, typer.Option("--max-side", min=1, help="Resample: the longer side to N, keeping the aspect.")
]
SizesFromOpt = Annotated[
    Path | None,
    typer.Option(
        "--sizes-from", help="Resample each image to the size of the image of the same stem in this folder."
    ),
]
ResizeImagesOpt = Annotated[
    bool,
    typer.Option(
        "--resize-images", help="Resample: write the images at the new size too (into --images-out)."
    ),
]
ImagesOutOpt = Annotated[
    Path | None,
    typer.Option(
        "--images-out",
        help="Where --resize-images writes (default: DST/images for a folder, DST_images beside a file).",
    ),
]
FilterOpt = Annotated[
    ImageFilter,
    typer.Option(
        "--filter", help="Image resampling filter: lanczos, bicubic, bilinear, box, hamming or nearest."
    ),
]
ClipOpt = Annotated[
    bool,
    typer.Option(
        "--clip",
        help="Resample: clip objects to the new image; with --point-box: clip the boxes to the image. Clipped "
        "and vanished objects are counted.",
    ),
]
PointBoxOpt = Annotated[
    str | None,
    typer.Option(
        "--point-box",
        metavar="SIZE",
        help="Points to boxes (YOLO, VOC, masks; COCO keypoints' bbox): S or WxH pixels centred on each point, "
        "or per class 'lymphocyte=24,erythrocyte=16'. Boxes past the image edge are counted (--clip cuts them).",
    ),
]
IndexBaseOpt = Annotated[
    int,
    typer.Option(
        "--index-base",
        min=0,
        max=1,
        help="Points: the pixel indices in the files count from 0 (Chula RBC-12, default) or 1 (CRIC's CSV is "
        "recognised as 1-based by itself).",
    ),
]
ColumnsOpt = Annotated[
    str | None,
    typer.Option(
        "--columns",
        help="points-csv: which columns hold the file, x, y and class, e.g. 'file=image,x=cx,y=cy,class=label' "
        "(the CRIC header is recognised without it).",
    ),
]
PredictionsOpt = Annotated[
    bool,
    typer.Option(
        "--predictions",
        help="labelstudio: read each task's first prediction (model pre-annotations) instead of its first "
        "non-cancelled annotation.",
    ),
]
RleMethodOpt = Annotated[
    RleMethod,
    typer.Option(
        "--rle-method",
        help="Resample masks by re-rasterising their exact outline (outline) or by nearest-neighbour resizing "
        "(nearest).",
    ),
]


# --- turning option text into values ------------------------------------------------------------------


def parse_size(text: str | None, option: str = "--image-size") -> tuple[int, int] | None:
    """``853x640`` -> ``(853, 640)``; the error names the option, since several take a size."""
    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"{option} must look like 853x640, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise UsageError(f"{option} must be positive, got {text!r}")
    return w, h


def parse_names(text: str | None) -> tuple[str, ...] | None:
    """``--names`` is either a list (``a,b``) or a file: an existing path wins, read as data.yaml or classes.txt."""
    if text is None:
        return None
    if os.path.isfile(text):
        from cytoconv.formats.yolo.reader import names_from_file

        names = names_from_file(Path(text))
        if names is None:
            raise UsageError(f"{text}: no 'names' in this file")
        return tuple(names)
    return tuple(n.strip() for n in text.split(",") if n.strip())


def parse_columns(text: str | None) -> tuple[tuple[str, str], ...] | None:
    """``file=image,x=cx,y=cy,class=label`` -> the role -> column pairs of ``ReadOptions.columns``."""
    if text is None:
        return None
    roles = ("file", "x", "y", "class")
    pairs: dict[str, str] = {}
    for item in (part for part in text.split(",") if part.strip()):
        role, sep, column = item.partition("=")
        role = role.strip()
        if not sep or role not in roles or not column.strip():
            raise UsageError(
                f"--columns: {item.strip()!r} is not role=column with a role of {', '.join(roles)}"
            )
        pairs[role] = column.strip()
    missing = [role for role in roles if role not in pairs]
    if missing:
        raise UsageError(f"--columns: no column given for {', '.join(missing)}")
    return tuple(pairs.items())


def read_options(
    *,
    names: str | None,
    images: Path | None,
    image_size: str | None,
    exif: bool,
    tolerance: float = 0.01,
    classes: str | None = None,
    channel: str | None = None,
    instances: Instances = Instances.COMPONENTS,
    connectivity: Connectivity = Connectivity.EIGHT,
    simplify: float = 0.0,
    segmentation: Segmentation = Segmentation.AUTO,
    index_base: int = 0,
    columns: str | None = None,
    predictions: bool = False,
) -> ReadOptions:
    """The reading options of every command as ``ReadOptions``, built in this one place so that each command
    parses --names, --image-size, --classes and --channel the same way (a command without an option
    leaves the library's default)."""
    from cytoconv.engine.contract import ReadOptions
    from cytoconv.formats.masks.maskio import parse_channel, parse_class_map

    return ReadOptions(
        names=parse_names(names),
        images=images,
        image_size=parse_size(image_size),
        apply_exif_orientation=exif,
        coordinate_tolerance=tolerance,
        mask_classes=parse_class_map(classes) if classes else None,
        channel=parse_channel(channel),
        instances=instances.value,
        connectivity=4 if connectivity is Connectivity.FOUR else 8,
        simplify=simplify,
        mask_geometry="rle" if segmentation is Segmentation.RLE else "polygon",
        index_base=1 if index_base == 1 else 0,
        columns=parse_columns(columns),
        predictions=predictions,
    )


def write_options(
    *,
    task: Task = Task.AUTO,
    precision: int = 7,
    parts: Parts = Parts.SPLIT,
    overwrite: bool = False,
    segmentation: Segmentation = Segmentation.AUTO,
    holes: Holes = Holes.BRIDGE,
    mask_classes: tuple[MaskClass, ...] | None = None,
    link: bool = False,
    overlap: Overlap = Overlap.TOP,
    layers: bool = False,
    colour: bool = False,
    copy_images: bool = False,
    link_images: bool = False,
    crowd: Crowd = Crowd.SKIP,
    point_box: str | None = None,
    clip: bool = False,
) -> WriteOptions:
    """The writing options of every command that writes a dataset as ``WriteOptions``, built in this one place
    (the counterpart of ``read_options``): the choices' values, ``--copy-images``/``--link-images`` (not both)
    and ``--point-box`` parsed (``clip``: its boxes cut at the image edge)."""
    from cytoconv.engine.adapt import PointBoxes
    from cytoconv.engine.contract import WriteOptions

    if copy_images and link_images:
        raise UsageError("give --copy-images or --link-images, not both")
    return WriteOptions(
        task=task.value,
        precision=precision,
        parts=parts.value,
        overwrite=overwrite,
        segmentation=segmentation.value,
        holes=holes.value,
        mask_classes=mask_classes,
        link=link,
        overlap=overlap.value,
        layers=layers,
        mask_colour=colour,
        place_images="link" if link_images else "copy" if copy_images else "none",
        crowd=crowd.value,
        point_box=PointBoxes.parse(point_box, clip=clip) if point_box is not None else None,
    )
