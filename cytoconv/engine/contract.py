"""What a format module provides, and the options readers and writers take.

A reader is split in two so that big datasets stream and fan out over processes: ``plan`` looks at
names only (cheap, in the parent) and returns the categories and one picklable work unit per image;
``load`` turns one unit into an ``ImageRecord`` (in a worker). A writer is an object created in the
parent, whose ``encode`` runs in the workers and whose ``sink`` gathers the encoded pieces in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from cytoconv.engine.adapt import PointBoxes
from cytoconv.errors import Report
from cytoconv.ir import Category, Dataset, ImageRecord


@dataclass(frozen=True)
class MaskClass:
    """One class of a mask: its name and the pixel values that mean it (several for a class such as
    ``cell=128+255`` that is the union of others)."""

    name: str
    values: tuple[int, ...]
    rgb: bool = False  # values are colours packed as r << 16 | g << 8 | b (colour-coded masks)


@dataclass(frozen=True)
class ReadOptions:
    """Options any reader may use; each reader ignores what does not concern it."""

    names: tuple[str, ...] | None = None
    images: Path | None = None
    image_size: tuple[int, int] | None = None
    apply_exif_orientation: bool = True
    coordinate_tolerance: float = 0.01
    index_base: Literal[0, 1] = 0  # points: pixel indices in the files count from 0 (Chula) or 1 (CRIC)
    columns: tuple[tuple[str, str], ...] | None = None  # points-csv: role (file, x, y, class) -> column name
    predictions: bool = (
        False  # labelstudio: read each task's first prediction instead of its first annotation
    )
    # masks
    mask_classes: tuple[MaskClass, ...] | None = None  # value -> class map; None: every value is a class
    channel: int | None = None  # the channel of an RGB(A) mask that holds the class
    instances: Literal["components", "per-class"] = "components"
    connectivity: Literal[4, 8] = 8
    mask_geometry: Literal["polygon", "rle"] = "polygon"  # what mask readers produce (the writer's choice)
    simplify: float = 0.0  # traced outlines: drop vertices within this many pixels (0: exact)


@dataclass(frozen=True)
class WriteOptions:
    """Options any writer may use; each writer ignores what does not concern it (the counterpart of
    ``ReadOptions``)."""

    task: Literal["auto", "segment", "detect"] = "auto"
    precision: int = 7
    parts: Literal["split", "bridge", "error"] = "split"
    overwrite: bool = False
    indent: bool = False
    # COCO: "auto" writes each object as read (RLE stays RLE, mask readers trace polygons); "polygon" traces
    # every RLE too, "rle" turns every polygon into its mask
    segmentation: Literal["auto", "polygon", "rle"] = "auto"
    holes: Literal["bridge", "rle", "fill", "error"] = "bridge"
    mask_classes: tuple[MaskClass, ...] | None = None  # mask writers: the value each class is written as
    # mask writers: an object others cover entirely is counted and named (top), or refused (error)
    overlap: Literal["top", "error"] = "top"
    layers: bool = False  # instance masks: overlapping objects go to further label images (x_layer2.png)
    mask_colour: bool = False  # semantic masks: RGB, one colour per class, named in a CVAT labelmap.txt
    link: bool = False  # class folders: hard-link the images instead of copying them
    # YOLO: put the images beside the labels (images/<split>/, where ultralytics looks): copy or hard-link them
    place_images: Literal["none", "copy", "link"] = "none"
    crowd: Literal["skip", "keep"] = "skip"  # YOLO: crowd objects (iscrowd 1) have no YOLO form; skip or keep
    # points to formats of boxes, polygons or masks: the box each becomes (None: refused); COCO keypoints: bbox
    point_box: PointBoxes | None = None


@dataclass
class ReadPlan:
    """Everything a reader knows before it opens a label file."""

    categories: list[Category]
    units: list[Any]
    image_root: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    categories_known: bool = True  # False: names come from the ids seen (class_0, class_1, ...)
    inferred_name: str = "class_{index}"  # how such names are made: {id} or {index} (= id - 1)
    points: bool = False  # the reader gives points (cell centres): writers without points need --point-box


class Loader(Protocol):
    """A reader's ``load``: one work unit from ``plan`` to one ``ImageRecord``, in a worker process (so units
    must pickle)."""

    def __call__(self, unit: Any, options: ReadOptions, report: Report) -> ImageRecord: ...


class Writer(Protocol):
    """``encode`` runs in worker processes (it may write files into the sink's folder);
    ``sink`` runs in the parent and receives the encoded pieces in dataset order."""

    def encode(self, record: ImageRecord, index: int, report: Report) -> Any:
        """One record to a picklable piece for ``sink``, in a worker; ``index`` is the record's place in the
        dataset, so ids do not depend on how the work was chunked."""
        ...

    def sink(self) -> AbstractContextManager[Callable[[Any], None]]:
        """A context that opens the output, yields the function taking each piece in dataset order, and
        completes the output on exit (or leaves none on error)."""
        ...

    def set_categories(self, categories: list[Category]) -> None:
        """The final categories, known only once every record is read (names made from the ids seen); called
        inside ``sink`` before it closes."""
        ...


class FormatModule(Protocol):
    """The reader side of a format module (see the module docstring): ``detect``, ``plan`` and ``load``."""

    def detect(self, path: Path) -> object:
        """Whether ``path`` looks like this format, from names and at most a peek at contents: cheap, for when
        the input format is not given. A ``cytoconv.formats.Evidence`` (how strong the reading is, and why), or
        a plain bool (``True`` counts as content evidence)."""
        ...

    def plan(self, path: Path, options: ReadOptions, report: Report) -> ReadPlan:
        """The categories and one work unit per image, in the parent, without opening label files where
        avoidable; problems go to ``report``."""
        ...

    load: Loader


class WriterFactory(Protocol):
    """A format's ``writer``: makes the writer in the parent, before any record is read, from the plan's
    categories and image root."""

    def __call__(
        self,
        dest: Path,
        categories: list[Category],
        image_root: str | None,
        options: WriteOptions,
        report: Report,
    ) -> Writer: ...


def paired_plan(
    units: list[Any],
    names: list[str] | None,
    image_root: str | None,
    source: str,
    report: Report,
    *,
    what: str = "objects",
    points: bool = False,
) -> ReadPlan:
    """The plan of a layout of one label file per image (YOLO, points-txt): the images without a label file
    (units whose ``label`` is None) counted, categories 1..N from the class names (ids are the file's 0-based
    class + 1), or inferred from the ids seen when there are none."""
    no_label = sum(1 for u in units if u.label is None)
    if no_label:
        report.notice(
            "image-without-label",
            f"{no_label} image(s) have no label file: read as images with no {what}",
            count=no_label,
        )
    categories = (
        [Category.trusted(id=i + 1, name=n, supercategory=None) for i, n in enumerate(names)]
        if names is not None
        else []
    )
    return ReadPlan(
        categories=categories,
        units=units,
        image_root=image_root,
        info={"names_given": names is not None, "source": source},
        categories_known=names is not None,
        points=points,
    )


def dataset_from(plan: ReadPlan, records: Iterator[ImageRecord] | list[ImageRecord]) -> Dataset:
    """A plan and its loaded records as one in-memory ``Dataset`` (the inverse of ``dataset_plan``)."""
    return Dataset(
        categories=plan.categories, images=list(records), image_root=plan.image_root, info=plan.info
    )


def dataset_plan(dataset: Dataset) -> ReadPlan:
    """A dataset already in memory as a plan whose units are its records (loaded by ``load_record``), so that
    writing, drawing or counting a ``Dataset`` runs through the same pipeline as a dataset read from disk."""
    return ReadPlan(
        categories=list(dataset.categories),
        units=list(dataset.images),
        image_root=dataset.image_root,
        info=dataset.info,
    )


def load_record(unit: ImageRecord, options: ReadOptions, report: Report) -> ImageRecord:
    """The loader of a ``dataset_plan``: each unit is its record already. A module-level function, so that it
    pickles into the worker processes."""
    return unit
