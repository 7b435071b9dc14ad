"""``cytoconv diff --html``: one self-contained page showing, per differing image, what changed.

Each differing image (the first ``limit``, by file name) is drawn twice side by side, A on the left and B on
the right, by ``cytoconv.ops.draw.Painter`` (the outlines and fills of ``cytoconv draw``), every object
coloured by what became of it rather than by its class: grey identical, red only in A, green only in B, blue
moved, orange relabelled; each panel's legend counts them. The two panels are one PNG embedded as base64, so
the page needs no other file. An image file that is not found is drawn on a blank canvas of its size (noted
under the picture). The page is written atomically.
"""

from __future__ import annotations

import base64
import html
import io
import tempfile
from pathlib import Path
from typing import Any

from cytoconv.engine.atomic import atomic_file
from cytoconv.errors import Report
from cytoconv.ir import ImageRecord, Instance
from cytoconv.ops.diff import DiffResult, ImageDiff, Opened, to_text
from cytoconv.ops.draw import DrawStyle, Painter
from cytoconv.ops.palette import RGB

IDENTICAL, ONLY_A, ONLY_B, MOVED, RELABELLED = 0, 1, 2, 3, 4
STATUS_NAMES = {
    IDENTICAL: "identical",
    ONLY_A: "only in A",
    ONLY_B: "only in B",
    MOVED: "moved",
    RELABELLED: "relabelled",
}
STATUS_COLOURS: dict[int, RGB] = {
    IDENTICAL: (150, 150, 150),
    ONLY_A: (230, 25, 75),
    ONLY_B: (60, 180, 75),
    MOVED: (0, 130, 200),
    RELABELLED: (245, 130, 48),
}
MAX_PANEL_SIDE = 1024  # px: larger panels are scaled down, so that a page of many images stays small
GAP = 8  # px of white between the two panels


class _StatusPainter(Painter):
    """A painter whose "classes" are the statuses, and that draws on a blank canvas when the image is missing."""

    def __init__(self, image_root: str | None, exif: bool, blanks: Path):
        super().__init__(
            image_root,
            STATUS_COLOURS,
            STATUS_NAMES,
            None,
            DrawStyle(line_width=2, opacity=0.2),
            exif,
            lambda status: str(status),
        )
        self.blanks = blanks
        self.missing = False

    def image_path(self, record: ImageRecord) -> Path:
        """The image, or a blank one of the record's size when it is not found."""
        path = super().image_path(record)
        self.missing = not path.is_file()
        if not self.missing:
            return path
        from PIL import Image

        blank = self.blanks / f"blank_{record.width}x{record.height}.png"
        if not blank.is_file():
            Image.new("RGB", (record.width, record.height), (255, 255, 255)).save(blank)
        return blank


def _statuses(diff: ImageDiff, count: int, side: str) -> list[int]:
    """What became of each object of one side of an image."""
    out = [IDENTICAL] * count
    for index, _ in diff.only_in_a if side == "a" else diff.only_in_b:
        out[index] = ONLY_A if side == "a" else ONLY_B
    for pair in diff.moved:
        out[pair.a if side == "a" else pair.b] = MOVED
    for pair in diff.relabelled:
        out[pair.a if side == "a" else pair.b] = RELABELLED
    return out


def _panel(painter: _StatusPainter, record: ImageRecord, statuses: list[int], report: Report) -> Any:
    instances = [
        Instance.trusted(
            category_id=status,
            geometry=inst.geometry,
            iscrowd=inst.iscrowd,
            score=inst.score,
            attributes=inst.attributes,
        )
        for inst, status in zip(record.instances, statuses)
    ]
    unlabelled = ImageRecord.trusted(**{**record.__dict__, "label": None})  # a label change is in the caption
    picture = painter.picture(unlabelled, instances, report)
    if picture is not None:
        picture.thumbnail((MAX_PANEL_SIDE, MAX_PANEL_SIDE))
    return picture


def _side_by_side(left: Any, right: Any) -> bytes:
    from PIL import Image

    width = left.width + GAP + right.width
    canvas = Image.new("RGB", (width, max(left.height, right.height)), (255, 255, 255))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width + GAP, 0))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def _caption(diff: ImageDiff) -> str:
    parts = []
    if diff.size_a != diff.size_b:
        parts.append(
            f"size {diff.size_a[0]}x{diff.size_a[1]} in A, {diff.size_b[0]}x{diff.size_b[1]} in B: "
            "objects not compared"
        )
    if diff.label_a != diff.label_b:
        parts.append(f"image label: {diff.label_a or '(none)'} -> {diff.label_b or '(none)'}")
    for label, objects in (("only in A", diff.only_in_a), ("only in B", diff.only_in_b)):
        if objects and diff.size_a == diff.size_b:
            parts.append(f"{label}: " + ", ".join(f"#{i} {c}" for i, c in objects))
    if diff.relabelled:
        parts.append(
            "relabelled: " + ", ".join(f"#{p.a} {p.class_a} -> #{p.b} {p.class_b}" for p in diff.relabelled)
        )
    if diff.moved:
        parts.append(
            "moved: "
            + ", ".join(
                f"#{p.a} {p.class_a} ("
                + (f"IoU {p.iou:.3f}" if p.iou is not None else f"{p.distance or 0:.2f} px")
                + ")"
                for p in diff.moved
            )
        )
    return "; ".join(parts)


def write_html(
    result: DiffResult,
    dest: str | Path,
    a: Opened,
    b: Opened,
    report: Report,
    limit: int = 50,
    overwrite: bool = False,
) -> int:
    """Write the page to ``dest``; returns the number of images drawn (at most ``limit``). The records are
    loaded again from the plans, in this process: only the images shown are read twice."""
    shown = result.differences[:limit]
    sections: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cytoconv-diff-") as blanks:
        painter_a = _StatusPainter(a.plan.image_root, a.options.apply_exif_orientation, Path(blanks))
        painter_b = _StatusPainter(b.plan.image_root, b.options.apply_exif_orientation, Path(blanks))
        for diff in shown:
            record_a = a.load(a.plan.units[diff.unit_a], a.options, report)
            record_b = b.load(b.plan.units[diff.unit_b], b.options, report)
            left = _panel(painter_a, record_a, _statuses(diff, len(record_a.instances), "a"), report)
            missing_a = painter_a.missing
            right = _panel(painter_b, record_b, _statuses(diff, len(record_b.instances), "b"), report)
            missing_b = painter_b.missing
            notes = [
                f"image of {side} not found: drawn on a blank canvas"
                for side, gone in (("A", missing_a), ("B", missing_b))
                if gone
            ]
            if left is None or right is None:  # unreadable image (counted in the report): no picture
                picture = ""
                notes.append("the image could not be drawn (see the problems reported)")
            else:
                data = base64.b64encode(_side_by_side(left, right)).decode("ascii")
                picture = f'<img alt="{html.escape(diff.file_name)}" src="data:image/png;base64,{data}">'
            sections.append(
                f"<section><h2>{html.escape(diff.file_name)}</h2>"
                f"<p>{html.escape(_caption(diff))}</p>"
                + "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)
                + f"{picture}</section>"
            )
    legend = " ".join(
        f'<span style="color:rgb{STATUS_COLOURS[k]}">&#9632; {html.escape(v)}</span>'
        for k, v in STATUS_NAMES.items()
    )
    more = len(result.differences) - len(shown)
    head = (
        f"<p>{len(shown):,} of {len(result.differences):,} differing images shown"
        + (f" (--html-limit; {more:,} more in the text and JSON output)" if more else "")
        + f". A on the left, B on the right. {legend}</p>"
    )
    title = f"cytoconv diff {result.a.source or 'A'} {result.b.source or 'B'}"
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:1em}img{max-width:100%;height:auto}"
        "pre{background:#f4f4f4;padding:.5em}.note{color:#a00}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><pre>{html.escape(to_text(result))}</pre>{head}"
        + "".join(sections)
        + "</body></html>\n"
    )
    with atomic_file(Path(dest), overwrite) as fh:
        fh.write(page.encode("utf-8"))
    return len(shown)
