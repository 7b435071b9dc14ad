"""The format registry: name -> the modules that read, write and check it.

The CLI, its ``x2y`` shortcuts, ``cytoconv formats``, ``cytoconv validate``, the docs and the contract tests all
read this table, so a new format is one package plus one entry here. Modules are imported only when used
(start-up time): ``validate`` imports a checker, never a reader, so that a pre-commit run stays light.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from cytoconv.errors import UsageError

if TYPE_CHECKING:  # the contract imports the dataset model, which `validate` must not pay for
    from cytoconv.engine.contract import FormatModule, WriterFactory


@dataclass(frozen=True)
class Evidence:
    """Why a reader takes a path for its format. ``strength`` ranks competing readings, so that detection
    prefers the specific one and refuses rather than guesses between equals:

    - ``LAYOUT`` (3): a layout the format's own tools write (``annotations/instances_*.json``, VOC
      ``Annotations/*.xml``, a YOLO ``data.yaml`` or ``labels/`` beside ``images/``, ``instances.csv``);
    - ``CONTENT`` (2): a file or folder whose content is of its kind (a JSON that parses as COCO);
    - ``GUESS`` (1): names alone (loose ``.txt`` files, sub-folders of images read as classes);
    - ``REFUSED`` (0): not this format, and why (a reader that looked closely and saw labels of another kind):
      never chosen, but the reason is shown when no format takes the path, so the refusal says what was seen.
    """

    strength: int
    reason: str


LAYOUT, CONTENT, GUESS, REFUSED = 3, 2, 1, 0
STRENGTHS = {LAYOUT: "layout", CONTENT: "content", GUESS: "guess", REFUSED: "refused"}  # as reports show them


def evidence_of(result: object) -> Evidence | None:
    """A reader's ``detect`` answer as evidence (a plain ``True`` counts as ``CONTENT``)."""
    if isinstance(result, Evidence):
        return result
    return Evidence(CONTENT, "recognised") if result else None


@dataclass(frozen=True)
class FormatInfo:
    """One format: its reader module (``detect``, ``plan``, ``load``), its writer module (``writer``), its
    checker module for ``cytoconv validate`` (``claims``, ``single``, ``discover``, ``check``; see
    ``cytoconv.validate.runner``), and what it can do."""

    name: str
    module: str  # the reader
    description: str
    reads: bool
    writes: bool
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)  # alias -> write options it implies
    output_is_dir: bool = False
    writer_module: str | None = None  # None: the reader's module holds the writer too
    checker: str | None = None  # None: validate does not check this format
    places_images: bool = (
        False  # the writer lays the images out beside the labels (--copy-images/--link-images)
    )
    holds_points: bool = False  # the writer keeps points as points; others need --point-box (boxes)
    image_level: bool = False  # the writer keeps image-level labels only (class folders, manifests)

    def load(self) -> FormatModule:
        """The reader module, imported on first use."""
        return cast("FormatModule", importlib.import_module(self.module))

    def writer(self) -> WriterFactory:
        """The writer factory, imported on first use."""
        return cast("WriterFactory", importlib.import_module(self.writer_module or self.module).writer)

    def check_module(self) -> Any:
        """The checker module (``validate`` only asks formats whose ``checker`` is set)."""
        assert self.checker is not None
        return importlib.import_module(self.checker)


FORMATS: dict[str, FormatInfo] = {
    "yolo": FormatInfo(
        "yolo",
        "cytoconv.formats.yolo.reader",
        "YOLO txt: box lines and polygon lines (ultralytics, Roboflow layouts; data.yaml or classes.txt)",
        reads=True,
        writes=True,
        output_is_dir=True,
        aliases={"yolo-seg": {"task": "segment"}, "yolo-det": {"task": "detect"}},
        writer_module="cytoconv.formats.yolo.writer",
        checker="cytoconv.formats.yolo.check",
        places_images=True,
    ),
    "coco": FormatInfo(
        "coco",
        "cytoconv.formats.coco.reader",
        "COCO JSON: polygons, RLE (compressed or not), box-only annotations",
        reads=True,
        writes=True,
        writer_module="cytoconv.formats.coco.writer",
        checker="cytoconv.formats.coco.check",
        holds_points=True,
    ),
    "voc": FormatInfo(
        "voc",
        "cytoconv.formats.voc.reader",
        "Pascal VOC XML: Annotations/ (+ JPEGImages/, ImageSets/Main splits) or a folder of XML; 1-based boxes",
        reads=True,
        writes=True,
        output_is_dir=True,
        writer_module="cytoconv.formats.voc.writer",
        checker="cytoconv.formats.voc.check",
    ),
    "folders": FormatInfo(
        "folders",
        "cytoconv.formats.folders.reader",
        "class folders: <class>/<image> or <split>/<class>/<image>; writing copies (or --link) the images",
        reads=True,
        writes=True,
        output_is_dir=True,
        checker="cytoconv.formats.folders.check",
        image_level=True,
    ),
    "manifest": FormatInfo(
        "manifest",
        "cytoconv.formats.manifest",
        "image-level labels: CSV (file,label,width,height[,split]) or JSON by the file's suffix",
        reads=True,
        writes=True,
        image_level=True,
    ),
    "masks": FormatInfo(
        "masks",
        "cytoconv.formats.masks.semantic",
        "semantic mask PNG/TIFF per image, value -> class (--classes, e.g. wbc); palette PNG + classes.json",
        reads=True,
        writes=True,
        output_is_dir=True,
        checker="cytoconv.formats.masks.check",
    ),
    "instance-masks": FormatInfo(
        "instance-masks",
        "cytoconv.formats.masks.instance",
        "integer label image per image, one id per object (Cellpose *_cp_masks, StarDist); + instances.csv",
        reads=True,
        writes=True,
        output_is_dir=True,
        checker="cytoconv.formats.masks.check",
    ),
    "object-masks": FormatInfo(
        "object-masks",
        "cytoconv.formats.masks.objects",
        "one mask PNG per object: <id>/images/<id>.png + <id>/masks/*.png (Data Science Bowl 2018)",
        reads=True,
        writes=True,
        output_is_dir=True,
        checker="cytoconv.formats.masks.check",
    ),
    "points-txt": FormatInfo(
        "points-txt",
        "cytoconv.formats.points_txt.reader",
        "cell centres, one 'x y class' file per image (Chula RBC-12 Dataset/ + Label/, images/ + labels/); 0-based",
        reads=True,
        writes=True,
        output_is_dir=True,
        writer_module="cytoconv.formats.points_txt.writer",
        checker="cytoconv.formats.points_txt.check",
        holds_points=True,
    ),
    "points-csv": FormatInfo(
        "points-csv",
        "cytoconv.formats.points_csv.reader",
        "cell centres, one CSV for many images (CRIC classifications.csv, 1-based; others by --columns)",
        reads=True,
        writes=True,
        writer_module="cytoconv.formats.points_csv.writer",
        checker="cytoconv.formats.points_csv.check",
        holds_points=True,
    ),
    "cvat": FormatInfo(
        "cvat",
        "cytoconv.formats.cvat.reader",
        "CVAT for images 1.1 XML: boxes, polygons, points, ellipses, RLE masks, grouped parts; <meta> labels",
        reads=True,
        writes=True,
        writer_module="cytoconv.formats.cvat.writer",
        checker="cytoconv.formats.cvat.check",
        holds_points=True,
    ),
    "labelme": FormatInfo(
        "labelme",
        "cytoconv.formats.labelme.reader",
        "LabelMe JSON, one per image: polygons, rectangles, circles, points, masks; group_id joins parts",
        reads=True,
        writes=True,
        output_is_dir=True,
        writer_module="cytoconv.formats.labelme.writer",
        checker="cytoconv.formats.labelme.check",
        holds_points=True,
    ),
    "labelstudio": FormatInfo(
        "labelstudio",
        "cytoconv.formats.labelstudio.reader",
        "Label Studio JSON export: percent polygons, rectangles, keypoints, brush RLE masks",
        reads=True,
        writes=True,
        writer_module="cytoconv.formats.labelstudio.writer",
        checker="cytoconv.formats.labelstudio.check",
        holds_points=True,
    ),
    "qupath": FormatInfo(
        "qupath",
        "cytoconv.formats.qupath.reader",
        "QuPath GeoJSON, one per image: polygons with holes, multipolygons, points, cell nuclei, classifications",
        reads=True,
        writes=True,
        output_is_dir=True,
        writer_module="cytoconv.formats.qupath.writer",
        checker="cytoconv.formats.qupath.check",
        holds_points=True,
    ),
    "imagej": FormatInfo(
        "imagej",
        "cytoconv.formats.imagej.reader",
        "ImageJ/Fiji ROI sets (RoiSet.zip, <stem>_rois.zip, .roi folders): polygons, rectangles, ovals, points",
        reads=True,
        writes=True,
        output_is_dir=True,
        writer_module="cytoconv.formats.imagej.writer",
        checker="cytoconv.formats.imagej.check",
        holds_points=True,
    ),
    "cellpose": FormatInfo(
        "cellpose",
        "cytoconv.formats.cellpose.reader",
        "Cellpose GUI <stem>_seg.npy (read without pickle execution): label image traced exactly, ismanual kept",
        reads=True,
        writes=True,
        output_is_dir=True,
        writer_module="cytoconv.formats.cellpose.writer",
        checker="cytoconv.formats.cellpose.check",
    ),
    "aperio": FormatInfo(
        "aperio",
        "cytoconv.formats.slidexml.aperio",
        "Aperio ImageScope XML (MoNuSeg, TCGA): regions as polygons, negative regions as holes, MicronsPerPixel",
        reads=True,
        writes=True,
        output_is_dir=True,
        writer_module="cytoconv.formats.slidexml.aperio_writer",
        checker="cytoconv.formats.slidexml.check",
    ),
    "asap": FormatInfo(
        "asap",
        "cytoconv.formats.slidexml.asap",
        "ASAP XML (CAMELYON): annotations as polygons, classes from PartOfGroup",
        reads=True,
        writes=True,
        output_is_dir=True,
        writer_module="cytoconv.formats.slidexml.asap_writer",
        checker="cytoconv.formats.slidexml.check",
        holds_points=True,
    ),
}


def lookup(name: str) -> tuple[FormatInfo, dict[str, Any]]:
    """A format by name or alias, with the write options the alias implies."""
    key = name.lower()
    for info in FORMATS.values():
        if key == info.name:
            return info, {}
        if key in info.aliases:
            return info, dict(info.aliases[key])
    known = ", ".join(sorted([*FORMATS, *(a for i in FORMATS.values() for a in i.aliases)]))
    raise UsageError(f"unknown format {name!r} (known: {known})")


def candidates(path: Path, refused: bool = False) -> list[tuple[FormatInfo, Evidence]]:
    """Every readable format that recognises ``path``, with its evidence, strongest first (registry order among
    equals); ``refused`` adds the ``REFUSED`` answers, last (``cytoconv formats --detect`` shows them all)."""
    found = []
    for info in FORMATS.values():
        if info.reads:
            evidence = evidence_of(info.load().detect(path))
            if evidence is not None and (refused or evidence.strength > REFUSED):
                found.append((info, evidence))
    return sorted(found, key=lambda pair: -pair[1].strength)


def choose(found: list[tuple[FormatInfo, Evidence]]) -> tuple[FormatInfo | None, str]:
    """The choice among ``candidates`` (with or without the refused ones): the format, or None and why not
    (nothing recognised, with any refusal's reason; or a tie at the top, with what each format saw)."""
    usable = [pair for pair in found if pair[1].strength > REFUSED]
    if not usable:
        refusals = "; ".join(f"{info.name}: {evidence.reason}" for info, evidence in found)
        why = f" ({refusals})" if refusals else ""
        return None, f"cannot tell its format{why}; give --from ({', '.join(FORMATS)})"
    best = [pair for pair in usable if pair[1].strength == usable[0][1].strength]
    if len(best) == 1:
        return best[0][0], best[0][1].reason
    seen = "; ".join(f"{info.name}: {evidence.reason}" for info, evidence in best)
    return None, f"could be any of {', '.join(i.name for i, _ in best)} ({seen}); give --from"


def detect(path: Path) -> FormatInfo:
    """The format whose evidence for ``path`` is the strongest; no match, or a tie at the top, is a usage error
    that says what was seen."""
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    chosen, why = choose(candidates(path, refused=True))
    if chosen is None:
        raise UsageError(f"{path}: {why}")
    return chosen
