"""The one problem vocabulary: everything a reader, a writer or ``cytoconv validate`` can find wrong.

Each problem has a stable code (``CC103``) and a stable slug (``odd-coordinates``). A reader that stops on bad
data raises ``FormatError(code=<slug>)``, a lenient run counts what it skipped by slug, and the validator reports
findings by code: the same problem has the same name everywhere (tests/test_problems.py checks that every code
used in the source is listed here). Codes never change meaning and are never reused; a problem that goes away
leaves a hole. The hundreds group them: CC0xx the file itself, CC1xx shapes and numbers, CC2xx classes, CC3xx
coordinates and boxes, CC4xx duplicates and pairing, CC5xx masks, CC6xx COCO structure, CC7xx Pascal VOC
structure, CC8xx dataset layout and options (found while reading, not by ``validate``), CC9xx what a target
format cannot hold (found while writing). Severities are the validator's defaults; ``[tool.cytoconv.validate]
severity`` changes them per rule. ``NOTICES`` lists the things a run keeps but reports (counted, never silent).

This module is imported on every pre-commit run: the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
Stage = Literal["check", "read", "write"]
FixKind = Literal["drop-line", "replace-tokens", "line-endings", "bom"]


@dataclass(frozen=True)
class Problem:
    """One kind of problem. ``stage`` says who finds it: ``check`` (``validate`` reports it; readers stop on it
    too when it makes the data unreadable), ``read`` (readers only: layout, pairing and options) or ``write``
    (writers only: the target format cannot hold the object)."""

    code: str
    name: str  # the slug, stable like the code: FormatError.code, lenient skip counts, the JSON output
    severity: Severity
    description: str  # one line, for `cytoconv validate --rules` and the docs' table
    fixable: bool = False
    stage: Stage = "check"


@dataclass(frozen=True, slots=True)
class Fix:
    """An edit that removes a finding without guessing. ``line`` is 1-based; ``tokens`` are (index of the
    whitespace-separated token on that line, 0 = the class id, new text)."""

    kind: FixKind
    line: int | None = None
    tokens: tuple[tuple[int, str], ...] = ()


class ProblemSink(Protocol):
    """Where a format's syntax layer sends what it finds. The validator's sink makes findings; a reader's sink
    raises (strict) or counts and skips (lenient). ``wants`` lets a caller switch checks off, so that a reader
    does not pay for checks it ignores (polygon validity) and ``--select`` is honoured."""

    def wants(self, code: str) -> bool:
        """Whether ``code`` is checked at all; the syntax layer skips a check, and its cost, when not."""
        ...

    def __call__(
        self,
        code: str,
        path: str,
        message: str,
        *,
        line: int | None = None,
        image_id: int | str | None = None,
        annotation_id: int | str | None = None,
        object_index: int | None = None,
        fix: Fix | None = None,
    ) -> None: ...


_TABLE = (
    Problem("CC001", "unreadable", "error", "the file cannot be read, or is not UTF-8 text"),
    Problem(
        "CC002", "not-well-formed", "error", "not well-formed JSON or XML (or XML with a DTD or entities)"
    ),
    Problem("CC003", "bad-structure", "error", "a required key or element is missing or has the wrong type"),
    Problem(
        "CC004", "empty", "warning", "an empty label file, mask or class folder: an image with no objects"
    ),
    Problem("CC005", "crlf", "info", "CRLF (or CR) line endings", fixable=True),
    Problem("CC006", "bom", "info", "a UTF-8 byte-order mark at the start of the file", fixable=True),
    Problem("CC101", "malformed-line", "error", "a line whose tokens are not numbers, or a class id alone"),
    Problem("CC102", "non-finite", "error", "NaN or infinity where a coordinate should be"),
    Problem("CC103", "odd-coordinates", "error", "an odd number of coordinates: x and y must come in pairs"),
    Problem("CC104", "too-few-points", "error", "a polygon of fewer than 3 points"),
    Problem(
        "CC105",
        "two-point-polygon",
        "error",
        "a COCO polygon of exactly 4 numbers, which pycocotools takes for a box",
    ),
    Problem(
        "CC106",
        "invalid-polygon",
        "warning",
        "a self-intersecting or otherwise invalid polygon (shapely's reason): pycocotools rasterises it as it "
        "is, so convert keeps it",
    ),
    Problem("CC201", "bad-class-id", "error", "a YOLO class id that is not a non-negative integer"),
    Problem(
        "CC202", "unknown-class", "error", "a class id, category or class name outside the known classes"
    ),
    Problem(
        "CC203",
        "bad-class-list",
        "error",
        "a class list (data.yaml, classes.txt, classes.json) that cannot be read, or a points CSV whose class and "
        "class_id disagree",
    ),
    Problem(
        "CC204", "no-class-list", "info", "no class list found near YOLO labels: class ids are not checked"
    ),
    Problem(
        "CC301", "out-of-range", "error", "a normalised coordinate outside [0, 1] by more than the tolerance"
    ),
    Problem(
        "CC302",
        "slightly-out-of-range",
        "warning",
        "a normalised coordinate outside [0, 1] within the tolerance (--fix clips it)",
        fixable=True,
    ),
    Problem("CC303", "zero-area-box", "error", "a box of zero width or height"),
    Problem("CC304", "negative-box", "error", "a box of negative width or height (inverted corners)"),
    Problem(
        "CC305",
        "outside-image",
        "warning",
        "a box or polygon reaching outside the image by more than the tolerance",
    ),
    Problem(
        "CC401",
        "duplicate-object",
        "error",
        "the same object twice in one image (--fix drops exact duplicate YOLO lines)",
        fixable=True,
    ),
    Problem(
        "CC402", "label-without-image", "warning", "a label file (or COCO image entry) whose image is missing"
    ),
    Problem("CC403", "image-without-label", "warning", "an image with no label file or annotation entry"),
    Problem("CC404", "bad-image", "warning", "a file where an image should be that is not a readable image"),
    Problem(
        "CC405", "size-mismatch", "error", "the image size a label file declares disagrees with the image"
    ),
    Problem("CC501", "mask-size-mismatch", "error", "a mask whose size differs from its image"),
    Problem("CC502", "unmapped-mask-value", "error", "a mask pixel value outside the class map"),
    Problem("CC601", "duplicate-image-id", "error", "a COCO image id used twice"),
    Problem("CC602", "duplicate-annotation-id", "error", "a COCO annotation id used twice"),
    Problem("CC603", "duplicate-category-id", "error", "a COCO category id used twice"),
    Problem(
        "CC604", "annotation-id-zero", "warning", "a COCO annotation id 0 (COCOeval reads 0 as 'no match')"
    ),
    Problem("CC605", "unknown-image-id", "error", "a COCO annotation naming an image id that does not exist"),
    Problem("CC606", "bbox-mismatch", "warning", "a COCO bbox that disagrees with the segmentation's bounds"),
    Problem(
        "CC607", "area-mismatch", "warning", "a COCO area that disagrees with the segmentation's pixel area"
    ),
    Problem("CC608", "crowd", "info", "a COCO crowd object (iscrowd 1): COCOeval ignores it"),
    Problem(
        "CC701", "bad-voc-size", "warning", "a Pascal VOC <size> that is missing or not positive integers"
    ),
    Problem("CC702", "bad-voc-object", "error", "a Pascal VOC <object> without <name> or a numeric <bndbox>"),
    Problem(
        "CC703",
        "one-pixel-box",
        "warning",
        "a Pascal VOC box one pixel wide or high (xmin == xmax or ymin == ymax): kept, a click rather than a drag?",
    ),
    Problem(
        "CC704",
        "no-image-size",
        "error",
        "a label file with no image size and no image found (a Pascal VOC file without a usable <size>, a Label "
        "Studio task without original_width): its image size is unknown",
    ),
    Problem(
        "CC007",
        "missing",
        "error",
        "a file or folder that the command or the dataset names does not exist",
        stage="read",
    ),
    Problem(
        "CC008",
        "unsafe-path",
        "error",
        "a file name that would leave its folder (absolute, or with ..)",
        stage="read",
    ),
    Problem(
        "CC205",
        "duplicate-class-name",
        "error",
        "a class name listed twice (--names, a class list)",
        stage="read",
    ),
    Problem(
        "CC206",
        "category-mismatch",
        "error",
        "one category id with different names in two files of one dataset",
        stage="read",
    ),
    Problem(
        "CC406",
        "duplicate-stem",
        "error",
        "two images (or label files) with the same stem where they pair by stem",
        stage="read",
    ),
    Problem(
        "CC407", "ambiguous-pair", "error", "mask and image cannot be told apart in one folder", stage="read"
    ),
    Problem(
        "CC408",
        "no-partner",
        "error",
        "no image of the same stem in the folder sizes are taken from",
        stage="read",
    ),
    Problem("CC503", "bad-channel", "error", "a colour mask without a usable --channel", stage="read"),
    Problem(
        "CC504",
        "bad-class-table",
        "error",
        "an instances.csv (instance id -> class) that cannot be read",
        stage="read",
    ),
    Problem(
        "CC801",
        "usage",
        "error",
        "a path of the wrong kind for the format (one label file for a dataset)",
        stage="read",
    ),
    Problem(
        "CC802",
        "bad-manifest",
        "error",
        "a manifest (CSV or JSON of image-level labels) that cannot be read",
        stage="read",
    ),
    Problem(
        "CC803", "bad-row", "error", "a manifest row of the wrong width, or with a bad size", stage="read"
    ),
    Problem(
        "CC804",
        "no-label",
        "error",
        "an image with no image-level label written to class folders",
        stage="write",
    ),
    Problem(
        "CC901",
        "hole",
        "error",
        "an object with a hole, for a format that cannot hold one (--holes)",
        stage="write",
    ),
    Problem(
        "CC902",
        "parts",
        "error",
        "an object in several parts, for a format that needs one outline (--parts)",
        stage="write",
    ),
    Problem(
        "CC903",
        "name-collision",
        "error",
        "two classes or images that would be written to one file or folder",
        stage="write",
    ),
    Problem("CC904", "unsafe-name", "error", "a class name that cannot be a folder name", stage="write"),
    Problem("CC905", "empty-crop", "error", "an object whose crop lies outside its image", stage="write"),
    Problem(
        "CC906",
        "covered-object",
        "error",
        "an object a mask would hide: fully covered by others, or no pixel (--overlap error; --layers keeps it)",
        stage="write",
    ),
    # points (cell centres: CRIC, Chula RBC-12, COCO keypoints)
    Problem("CC306", "point-outside-image", "error", "a point outside its image"),
    Problem(
        "CC409",
        "id-filename-mismatch",
        "warning",
        "an image id with several file names, or a file name with several ids (CRIC's CSV); read by file name",
    ),
    Problem("CC805", "missing-column", "error", "a CSV without a column it needs (file, x, y, class)"),
    Problem(
        "CC907",
        "point-needs-box",
        "error",
        "points written to a format of boxes, polygons or masks without a box size (--point-box)",
        stage="write",
    ),
    Problem(
        "CC609",
        "num-keypoints-mismatch",
        "warning",
        "a COCO num_keypoints missing or disagreeing with the keypoints labelled (v > 0): COCOeval skips objects "
        "that say 0",
    ),
    Problem(
        "CC908",
        "not-a-point",
        "error",
        "a box, polygon or mask (or an image-level label) written to a format of points only (points-txt, points-csv)",
        stage="write",
    ),
)

PROBLEMS: dict[str, Problem] = {problem.code: problem for problem in _TABLE}
BY_NAME: dict[str, Problem] = {problem.name: problem for problem in _TABLE}
RULES: dict[str, Problem] = {
    code: p for code, p in PROBLEMS.items() if p.stage == "check"
}  # what validate checks


def code_of(name: str) -> str:
    """The code of a slug (``odd-coordinates`` -> ``CC103``); a slug that is not in the vocabulary is a bug."""
    return BY_NAME[name].code


def matching(pattern: str) -> list[str]:
    """The codes a selector names: a full code (``CC401``), a prefix (``CC4``, ``CC``) or ``ALL``."""
    key = pattern.strip().upper()
    if key == "ALL":
        return list(RULES)
    return [code for code in RULES if code.startswith(key)] if key.startswith("CC") else []


# Things a run keeps, repairs or approximates, and reports (``Report.notice``): never an error, always counted.
NOTICES: dict[str, str] = {
    "attribute-dropped": "an attribute the target format has no place for",
    "box-as-polygon": "a box written as a 4-corner polygon (YOLO segment)",
    "box-outside-image": "a box reaching outside its image, kept as it is",
    "box-rounded": "a box moved to whole pixels (Pascal VOC)",
    "class-list-ignored": "a class list that disagrees with the labels and was not used",
    "class-map": "the value -> class map a mask writer used",
    "class-table": "the instance -> class table read beside label images",
    "classes-dropped": "classes not written: no value in the mask class map, or dropped by remap (mapped to - / null, or --unmapped drop)",
    "clipped": "coordinates clipped to the image",
    "duplicate-line": "the same label line twice in one file (YOLO, points), kept",
    "duplicate-stem": "two files with one stem, the first kept",
    "element-ignored": "an XML element cytoconv does not read",
    "empty-class": "a class folder with no images",
    "empty-mask": "an empty mask or RLE, written as nothing",
    "filename-guessed": "a file name taken from the annotation file's own name",
    "filename-mismatch": "a <filename> that disagrees with the annotation file's name",
    "fractional-box": "a Pascal VOC box with fractional pixel coordinates",
    "holes-bridged": "holes joined to their outline by zero-width cuts",
    "holes-filled": "holes filled",
    "ids-compacted": "category ids renumbered as YOLO class indices",
    "image-not-copied": "an image that could not be copied beside the output",
    "image-without-label": "an image with no label file, read as an image with no objects",
    "images-not-moved": "images left where they are",
    "junk-skipped": "operating-system junk (__MACOSX, .DS_Store, ._*) left out",
    "label-as-box": "an image-level label written as a whole-image box",
    "link-copied": "a hard link that could not be made, copied instead",
    "mask-as-box": "a mask written as its box",
    "name-sanitised": "a name changed to be a valid file or folder name",
    "names-disagree": "two class lists of one dataset that disagree",
    "no-instances": "an image with no objects",
    "no-label": "an image with no label",
    "not-an-image": "a file in an image folder that is not an image",
    "not-in-split": "an image listed in no split file",
    "object-simplified-away": "an object that --simplify reduced to nothing",
    "outside-class-folder": "an image outside every class folder",
    "overlap": "pixels claimed by two objects; the later one kept",
    "parts-bridged": "parts of one object joined by zero-width cuts",
    "parts-split": "an object of several parts written as one line per part",
    "polygon-as-box": "a polygon written as its box",
    "size-from-xml": "an image size taken from the annotation, the image not at hand",
    "size-mismatch": "an annotation size that disagrees with the image, the image's kept",
    "ungrouped": "objects not grouped into one",
    "unmapped-pixels": "mask pixels outside the class map, read as background (lenient)",
    "vanished": "an object fully covered by later ones in a label image",
    "vertices-simplified": "vertices dropped by --simplify",
    "field-dropped": "a COCO annotation or category field cytoconv does not keep (keypoints, ...), counted per field",
    "file-not-read": "a file of a dataset layout that holds no objects to read (COCO captions, keypoints)",
    "rle-as-polygon": "an RLE mask written as polygons traced exactly along its pixels (--segmentation polygon)",
    "polygon-as-rle": "a polygon written as its RLE mask (--segmentation rle)",
    "split-renamed": "a split written under the name ultralytics expects (val2017 -> val, valid -> val)",
    "split-as-train": "a split that is not train, val or test, listed under train in data.yaml",
    "split-not-kept": "an image's split, which one COCO file has no place for",
    "split-reused": "a data.yaml key with no split of its own, pointing at another (val at train)",
    "crowd-skipped": "a crowd object (iscrowd 1) not written to YOLO (--crowd keep writes it)",
    "not-a-label": "a .txt file that is not a YOLO label file (outside labels/, a README), skipped",
    "object-hidden": "an object left out of a written mask: fully covered by others, or no pixel (named)",
    "id-filename-mismatch": "an image id with several file names, or a file name with several ids (CRIC's CSV); rows read by file name",
    "point-as-box": "a point written as a box of the --point-box size, centred on it",
    "point-box-clipped": "a point's box that reached past the image edge, clipped to the image (--clip)",
    "point-box-outside": "a point's box reaching past the image edge, kept as it is (--clip cuts it)",
    "crop-padded": "a crop around a point reaching past the image edge, padded (--pad black|edge)",
    "crop-skipped": "a crop around a point reaching past the image edge, not written (--pad skip)",
    "classes-folded": "a class merged into another of the same name, or of one differing only in case or surrounding spaces (merge --fold-case), the first spelling kept",
    "class-name-conflict": "two class names that differ only in case, spaces, underscores or hyphens, kept apart (merge)",
    "image-renamed": "an image whose file name an earlier source already has, renamed <source>_<name> (merge --on-clash prefix)",
    "images-joined": "the same image (same bytes) in two sources, read as one image with the objects of both (merge)",
    "object-joined": "an object in both copies of a joined image (same class, same geometry), kept once (merge)",
    "label-conflict": "the copies of a joined image with different image-level labels, the first kept (merge)",
    "unsplit-as-train": "an image without a split put in train, beside merged sources that have splits",
    "shape-as-outline": "an ellipse (CVAT) or circle (LabelMe) read as the exact pixel outline of the pixels whose centres lie inside it",
    "annotation-not-read": "a Label Studio annotation not read: cancelled, another annotator's after the first, or predictions without --predictions",
    "rotated-box": "a Label Studio rectangle with a rotation, read as the polygon of its rotated corners",
    "upload-prefix-stripped": "an image name read without Label Studio's 8-hex upload prefix (3f2a9c1b-cells.png -> cells.png)",
    "line-skipped": "a line or linestrip shape (no area), not read",
    "duplicate-vertex": "consecutive repeated vertices of a ring dropped (Aperio, ASAP XML)",
    "spline-as-polygon": "an ASAP Spline read as the polygon of its control points",
    "object-partly-covered": "an object a written mask shows only in part, others painted over it",
}
