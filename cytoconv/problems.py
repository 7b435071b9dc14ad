"""The rule table: every finding ``cytoconv validate`` can report, with a stable code.

Codes never change meaning and are never reused; a rule that goes away leaves a hole. The hundreds group the
rules: CC0xx the file itself, CC1xx shapes and numbers, CC2xx classes, CC3xx coordinates and boxes, CC4xx
duplicates and pairing, CC5xx masks, CC6xx COCO structure, CC7xx Pascal VOC structure. Severities here are the
defaults; ``[tool.cytoconv.validate] severity`` changes them per rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Rule:
    code: str
    name: str  # a short slug, stable like the code (shown in JSON)
    severity: Severity
    description: str  # one line, for `cytoconv validate --rules` and the README table
    fixable: bool = False


_TABLE = (
    Rule("CC001", "unreadable", "error", "the file cannot be read, or is not UTF-8 text"),
    Rule("CC002", "not-well-formed", "error", "not well-formed JSON or XML (or XML with a DTD or entities)"),
    Rule("CC003", "bad-structure", "error", "a required key or element is missing or has the wrong type"),
    Rule("CC004", "empty", "warning", "an empty label file, mask or class folder: an image with no objects"),
    Rule("CC005", "crlf", "info", "CRLF (or CR) line endings", fixable=True),
    Rule("CC006", "bom", "info", "a UTF-8 byte-order mark at the start of the file", fixable=True),
    Rule("CC101", "malformed-line", "error", "a line whose tokens are not numbers, or a class id alone"),
    Rule("CC102", "non-finite", "error", "NaN or infinity where a coordinate should be"),
    Rule("CC103", "odd-coordinates", "error", "an odd number of coordinates: x and y must come in pairs"),
    Rule("CC104", "too-few-points", "error", "a polygon of fewer than 3 points"),
    Rule("CC105", "two-point-polygon", "error", "a COCO polygon of exactly 4 numbers, which pycocotools takes for a box"),
    Rule("CC106", "invalid-polygon", "error", "a self-intersecting or otherwise invalid polygon (shapely's reason)"),
    Rule("CC201", "bad-class-id", "error", "a YOLO class id that is not a non-negative integer"),
    Rule("CC202", "unknown-class", "error", "a class id, category or class name outside the known classes"),
    Rule("CC203", "bad-class-list", "error", "a class list (data.yaml, classes.txt, classes.json) that cannot be read"),
    Rule("CC204", "no-class-list", "info", "no class list found near YOLO labels: class ids are not checked"),
    Rule("CC301", "out-of-range", "error", "a normalised coordinate outside [0, 1] by more than the tolerance"),
    Rule("CC302", "slightly-out-of-range", "warning", "a normalised coordinate outside [0, 1] within the tolerance "
         "(--fix clips it)", fixable=True),
    Rule("CC303", "zero-area-box", "error", "a box of zero width or height"),
    Rule("CC304", "negative-box", "error", "a box of negative width or height (inverted corners)"),
    Rule("CC305", "outside-image", "warning", "a box or polygon reaching outside the image by more than the tolerance"),
    Rule("CC401", "duplicate-object", "error", "the same object twice in one image (--fix drops exact duplicate "
         "YOLO lines)", fixable=True),
    Rule("CC402", "label-without-image", "warning", "a label file (or COCO image entry) whose image is missing"),
    Rule("CC403", "image-without-label", "warning", "an image with no label file or annotation entry"),
    Rule("CC404", "bad-image", "warning", "a file where an image should be that is not a readable image"),
    Rule("CC405", "size-mismatch", "error", "the image size a label file declares disagrees with the image"),
    Rule("CC501", "mask-size-mismatch", "error", "a mask whose size differs from its image"),
    Rule("CC502", "unmapped-mask-value", "error", "a mask pixel value outside the class map"),
    Rule("CC601", "duplicate-image-id", "error", "a COCO image id used twice"),
    Rule("CC602", "duplicate-annotation-id", "error", "a COCO annotation id used twice"),
    Rule("CC603", "duplicate-category-id", "error", "a COCO category id used twice"),
    Rule("CC604", "annotation-id-zero", "warning", "a COCO annotation id 0 (COCOeval reads 0 as 'no match')"),
    Rule("CC605", "unknown-image-id", "error", "a COCO annotation naming an image id that does not exist"),
    Rule("CC606", "bbox-mismatch", "warning", "a COCO bbox that disagrees with the segmentation's bounds"),
    Rule("CC607", "area-mismatch", "warning", "a COCO area that disagrees with the segmentation's pixel area"),
    Rule("CC608", "crowd", "info", "a COCO crowd object (iscrowd 1): COCOeval ignores it"),
    Rule("CC701", "bad-voc-size", "warning", "a Pascal VOC <size> that is missing or not positive integers"),
    Rule("CC702", "bad-voc-object", "error", "a Pascal VOC <object> without <name> or a numeric <bndbox>"),
)

RULES: dict[str, Rule] = {rule.code: rule for rule in _TABLE}


def matching(pattern: str) -> list[str]:
    """The codes a selector names: a full code (``CC401``), a prefix (``CC4``, ``CC``) or ``ALL``."""
    key = pattern.strip().upper()
    if key == "ALL":
        return list(RULES)
    return [code for code in RULES if code.startswith(key)] if key.startswith("CC") else []
