"""``cytoconv report``: one self-contained HTML page that shows a dataset at a glance.

The page holds a summary (images, objects, classes, splits, the format read, what was skipped or noticed), the
per-class table of ``cytoconv stats`` (the very numbers of ``stats --json``: the table is built from
``cytoconv.ops.stats.to_dict`` of the same ``DatasetStats``), plots drawn here as inline SVG (class balance per
split, object areas per class, objects per image, image sizes), a gallery of sample images with their outlines
drawn in the class colours by ``cytoconv.ops.draw.Painter`` (the drawing of ``cytoconv draw``), downscaled to
``THUMB_WIDTH`` px JPEG thumbnails embedded as base64, the ``validate`` findings grouped by rule code, and a
footer with the version and the command line. It references nothing outside itself: no fonts, scripts, styles
or images by URL; the few lines of script only make the tables sortable.

One pass over the dataset (in worker processes, as ``stats``) gives the figures and, per image, its unit
index and file name; the samples are chosen from those columns (``choose_samples``: stratified so that every
class appears when there are enough samples, deterministic for a seed), and only the chosen images are loaded
again and drawn, in this process. The validate findings are handed in already rendered (``validate`` is not a
part ``ops`` may import): ``cytoconv.api.report`` composes.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from cytoconv.engine.contract import Loader, ReadOptions, ReadPlan
from cytoconv.errors import Report, SkipUnit, UsageError
from cytoconv.ir import ImageRecord
from cytoconv.ops.draw import DrawStyle, Painter
from cytoconv.ops.palette import class_colours, hex_colour
from cytoconv.ops.stats import (
    CLASS_KEYS,
    KIND_POINT,
    Columns,
    DatasetStats,
    Piece,
    SectionStats,
    StatsCollector,
    check_pixel_size,
    display_bins,
    image_columns,
    stats_of,
    to_dict,
)

THUMB_WIDTH = 480  # px: gallery thumbnails are scaled down to this width (never up)
JPEG_QUALITY = 80
DEFAULT_SAMPLES = 24
HIST_BINS = 24

# The per-class table's columns: key of stats --json, header, and whether it needs a pixel size
_HEADERS = {
    "id": "id",
    "name": "class",
    "count": "count",
    "share_percent": "share %",
    "images": "images",
    "area_mean_px": "area mean (px²)",
    "area_median_px": "area median (px²)",
    "diameter_mean_px": "diameter mean (px)",
    "diameter_median_px": "diameter median (px)",
    "area_mean_um2": "area mean (µm²)",
    "area_median_um2": "area median (µm²)",
    "diameter_mean_um": "diameter mean (µm)",
    "diameter_median_um": "diameter median (µm)",
    "points": "points",
}


@dataclass(frozen=True)
class Thumbnail:
    """One gallery entry: the image's file name, the classes it shows, the JPEG (base64) or why there is none."""

    file_name: str
    classes: tuple[int, ...]
    jpeg: str | None
    note: str | None = None


@dataclass(frozen=True)
class Findings:
    """The validate findings as ``validate --format json`` lists them (``None``: no checker ran, and why)."""

    records: list[dict[str, Any]] | None
    note: str = ""
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportResult:
    """What ``report`` wrote: the page, its size, the figures shown, the samples drawn and the findings."""

    dest: Path
    size: int  # bytes of the page
    stats: DatasetStats
    samples: tuple[Thumbnail, ...]
    findings: Findings
    report: Report


# ---------------------------------------------------------------------------------------------
# One pass: the stats columns plus each image's unit index and file name


class _ReportCollector(StatsCollector):
    """``stats``' collector that also keeps, per image read, its unit index and file name (for the gallery)."""

    def __init__(self) -> None:
        super().__init__()
        self.units: list[int] = []
        self.file_names: list[str] = []

    def encode(self, record: ImageRecord, index: int, report: Report) -> Any:
        """The image's columns (as ``stats``), its unit index and file name, in a worker."""
        return image_columns(record), index, record.file_name

    def accept(self, piece: Any) -> None:
        """Keep one image's columns and where it came from, in dataset order."""
        columns, index, file_name = piece
        piece_: Piece = columns
        super().accept(piece_)
        self.units.append(index)
        self.file_names.append(file_name)


@dataclass(frozen=True)
class Collected:
    """The figures of ``stats`` and, per image read (in dataset order), its unit index and file name."""

    stats: DatasetStats
    units: list[int]
    file_names: list[str]


def collect(
    plan: ReadPlan,
    load: Loader,
    options: ReadOptions,
    report: Report,
    jobs: int = 0,
    pixel_size: float | None = None,
    progress: Callable[[int], None] | None = None,
    source: str | None = None,
    fmt: str | None = None,
) -> Collected:
    """One pass over ``plan``: the statistics exactly as ``cytoconv.ops.stats.dataset_stats`` computes them
    (same columns, same ``stats_of``), and where each image came from."""
    from cytoconv.engine.pipeline import run

    check_pixel_size(pixel_size)
    collector = _ReportCollector()
    run(plan, load, collector, options, report, jobs, progress)
    stats = stats_of(
        collector.columns(),
        collector.categories,
        pixel_size=pixel_size,
        source=source,
        fmt=fmt,
        report=report,
    )
    return Collected(stats, collector.units, collector.file_names)


# ---------------------------------------------------------------------------------------------
# Samples


def image_classes(columns: Columns, counted: str) -> list[tuple[int, ...]]:
    """The classes each image shows: its objects' classes, or its label in a classification set."""
    n = columns.width.size
    if counted == "images":
        has = columns.has_label
        return [(int(columns.label[i]),) if has[i] else () for i in range(n)]
    bounds = np.cumsum(columns.objects)[:-1] if n else np.zeros(0, dtype=np.int64)
    return [tuple(np.unique(part).tolist()) for part in np.split(columns.category, bounds)][:n]


def choose_samples(classes: Sequence[tuple[int, ...]], n: int, seed: int = 0) -> list[int]:
    """``n`` image positions (sorted), stratified: first, from the rarest class (fewest images) up, one random
    image of each class no chosen image shows yet, so that every class appears when ``n`` allows; then random
    images. Deterministic for a ``seed``."""
    if n < 0:
        raise UsageError(f"--samples must be 0 or more, got {n}")
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for i, shown in enumerate(classes):
        for c in shown:
            by_class.setdefault(c, []).append(i)
    chosen: list[int] = []
    taken: set[int] = set()
    covered: set[int] = set()
    for c in sorted(by_class, key=lambda c: (len(by_class[c]), c)):
        if len(chosen) >= n:
            break
        if c in covered:
            continue
        pick = rng.choice(by_class[c])  # no chosen image shows c, so none of these is taken
        chosen.append(pick)
        taken.add(pick)
        covered.update(classes[pick])
    rest = [i for i in range(len(classes)) if i not in taken]
    rng.shuffle(rest)
    chosen.extend(rest[: max(0, n - len(chosen))])
    return sorted(chosen)


def thumbnails(
    plan: ReadPlan,
    load: Loader,
    options: ReadOptions,
    collected: Collected,
    positions: Sequence[int],
    classes: Sequence[tuple[int, ...]],
) -> list[Thumbnail]:
    """The chosen images loaded again and drawn as ``cytoconv draw`` draws them (no legend band: the page has
    one), scaled down to ``THUMB_WIDTH`` and encoded as JPEG. An image that cannot be drawn (not found,
    unreadable) gets a note instead, never an error: the page is about the annotations."""
    from PIL import Image

    stats = collected.stats
    painter = _painter(plan, stats, options)
    out: list[Thumbnail] = []
    for p in positions:
        file_name = collected.file_names[p]
        quiet = Report(strict=False)
        try:
            record = load(plan.units[collected.units[p]], options, quiet)
        except SkipUnit:
            out.append(Thumbnail(file_name, classes[p], None, "could not be read again"))
            continue
        # lines thick enough to survive the downscaling
        width = max(2, math.ceil(2 * record.width / THUMB_WIDTH))
        painter.style = DrawStyle(line_width=width, opacity=0.2, legend=False, point_radius=max(5, 3 * width))
        picture = painter.picture(record, record.instances, quiet)
        if picture is None:
            example = next(iter(quiet.examples.values()), ["could not be drawn"])[0]
            out.append(Thumbnail(file_name, classes[p], None, f"no picture: {example}"))
            continue
        if picture.width > THUMB_WIDTH:
            height = max(1, round(picture.height * THUMB_WIDTH / picture.width))
            picture = picture.resize((THUMB_WIDTH, height), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        picture.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        out.append(Thumbnail(file_name, classes[p], base64.b64encode(buffer.getvalue()).decode("ascii")))
    return out


def _painter(plan: ReadPlan, stats: DatasetStats, options: ReadOptions) -> Painter:
    """A painter with ``cytoconv draw``'s colours and names (``draw_images`` builds the same)."""
    known = plan.categories_known or bool(plan.categories)
    painter = Painter(
        plan.image_root,
        class_colours(c.id for c in plan.categories),
        {c.id: c.name for c in plan.categories},
        None,
        DrawStyle(legend=False),
        options.apply_exif_orientation,
        (lambda cid: f"id {cid}") if known else (lambda cid: f"class_{cid - 1}"),
    )
    painter.set_categories(list(stats.categories))
    return painter


# ---------------------------------------------------------------------------------------------
# The page


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _number(value: Any) -> str:
    if value is None:
        return "\u2013"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _data_value(value: Any) -> str:
    """A cell's exact value as ``stats --json`` gives it ("" for null): what the sorting and the tests read."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def class_table(section: dict[str, Any], keys: Sequence[str], colours: dict[int, str], name: str) -> str:
    """One section's per-class table from the ``stats --json`` document (``to_dict``), sortable."""
    head = "".join(
        f'<th scope="col" class="{"text" if k == "name" else "num"}" data-key="{k}">{_e(_HEADERS[k])}</th>'
        for k in keys
    )
    rows = []
    for row in section["classes"]:
        cells = []
        for k in keys:
            value = row[k]
            if k == "name":
                swatch = f'<span class="swatch" style="background:{colours.get(row["id"], "#888")}"></span>'
                cells.append(
                    f'<td class="text" data-key="name" data-value="{_e(value)}">{swatch}{_e(value)}</td>'
                )
            else:
                cells.append(
                    f'<td data-key="{k}" data-value="{_e(_data_value(value))}">{_number(value)}</td>'
                )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="sortable classes" data-section="{_e(name)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _svg(width: int, height: int, label: str, body: str) -> str:
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_e(label)}"><title>{_e(label)}</title>{body}</svg>'
    )


def hbars(title: str, rows: Sequence[tuple[str, float, str, str]], unit: str = "") -> str:
    """Horizontal bars, one per ``(label, value, colour, annotation)``, as an SVG figure."""
    if not rows:
        return ""
    label_w = min(240, 12 + 7 * max(len(r[0]) for r in rows))
    bar_w, row_h, top = 300, 20, 6
    top_value = max((r[1] for r in rows), default=0) or 1
    parts = []
    for k, (label, value, colour, note) in enumerate(rows):
        y = top + k * row_h
        w = bar_w * value / top_value
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">{_e(label[:34])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{colour}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" font-size="11" fill="#333">{_e(note)}</text>'
        )
    width = label_w + bar_w + 120
    height = top * 2 + row_h * len(rows)
    svg = _svg(width, height, title, "".join(parts))
    return f"<figure>{svg}<figcaption>{_e(title)}{_e(unit)}</figcaption></figure>"


def vbars(
    title: str,
    bins: Sequence[tuple[str, int]],
    colour: str,
    xlabel: str,
    ylabel: str,
    ends: tuple[str, str] | None = None,
) -> str:
    """A histogram: one bar per ``(label, count)`` bin (the label is its tooltip); under the axis ``ends``, or the
    first and last labels."""
    if ends is None and bins:
        ends = (bins[0][0], bins[-1][0])
    if not bins or ends is None:
        return ""
    w, h, left, bottom, top = 300, 150, 40, 34, 10
    plot_w, plot_h = w - left - 10, h - top - bottom
    peak = max(c for _, c in bins) or 1
    step = plot_w / len(bins)
    parts = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#888"/>',
        f'<text x="{left - 4}" y="{top + 9}" text-anchor="end" font-size="10">{peak:,}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" font-size="10">0</text>',
    ]
    for k, (label, count) in enumerate(bins):
        bh = plot_h * count / peak
        parts.append(
            f'<rect x="{left + k * step + 0.5:.1f}" y="{top + plot_h - bh:.1f}" width="{max(step - 1, 0.5):.1f}" '
            f'height="{bh:.1f}" fill="{colour}"><title>{_e(label)}: {count:,}</title></rect>'
        )
    parts.append(
        f'<text x="{left}" y="{top + plot_h + 13}" font-size="10">{_e(ends[0])}</text>'
        f'<text x="{left + plot_w}" y="{top + plot_h + 13}" text-anchor="end" font-size="10">{_e(ends[1])}</text>'
        f'<text x="{left + plot_w / 2:.0f}" y="{h - 4}" text-anchor="middle" font-size="11">{_e(xlabel)}</text>'
        f'<text x="12" y="{top + plot_h / 2:.0f}" transform="rotate(-90 12 {top + plot_h / 2:.0f})" '
        f'text-anchor="middle" font-size="11">{_e(ylabel)}</text>'
    )
    return f"<figure>{_svg(w, h, title, ''.join(parts))}<figcaption>{_e(title)}</figcaption></figure>"


def _fmt_edge(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def plots(stats: DatasetStats, colours: dict[int, str]) -> str:
    """The plots: class balance per split, object areas per class, objects per image, image sizes."""
    what = "images" if stats.counted == "images" else "objects"
    out = ['<h3>Class balance</h3><div class="plots">']
    sections: list[SectionStats] = list(stats.splits) or [stats.total]
    for section in sections:
        name = "all images" if section is stats.total else (section.split or "no split")
        rows = [
            (r.name, float(r.count), colours.get(r.id, "#888"), f"{r.count:,} ({r.share_percent or 0:.1f}%)")
            for r in section.classes
        ]
        out.append(hbars(f"{what} per class: {name} ({section.images:,} images)", rows))
    out.append("</div>")
    cols = stats.columns
    if cols is not None and stats.counted == "instances":
        shaped = cols.kind != KIND_POINT
        scale = (stats.pixel_size_um or 1.0) ** 2
        unit = "µm²" if stats.pixel_size_um is not None else "px²"
        figures = []
        for r in stats.total.classes:
            values = cols.area[(cols.category == r.id) & shaped] * scale
            if not values.size:
                continue
            counts, edges = np.histogram(values, bins=HIST_BINS)
            bins = [
                (f"{_fmt_edge(edges[k])}\u2013{_fmt_edge(edges[k + 1])}", int(c))
                for k, c in enumerate(counts.tolist())
            ]
            figures.append(
                vbars(
                    f"{r.name}: object area ({unit}), {values.size:,} objects",
                    bins,
                    colours.get(r.id, "#888"),
                    f"area ({unit})",
                    "objects",
                    (_fmt_edge(float(edges[0])), _fmt_edge(float(edges[-1]))),
                )
            )
        if figures:
            out.append('<h3>Object areas per class</h3><div class="plots">' + "".join(figures) + "</div>")
        else:
            out.append("<p>No object has an area (points only): no size plots.</p>")
        hist = display_bins(stats.total.instances_per_image.histogram, 30)
        per = [(f"{a}" if a == b else f"{a}\u2013{b}", c) for a, b, c in hist]
        out.append('<h3>Objects per image and image sizes</h3><div class="plots">')
        out.append(vbars("objects per image", per, "#6b6b6b", "objects in the image", "images"))
    else:
        out.append('<h3>Image sizes</h3><div class="plots">')
    sizes = stats.total.image_sizes
    top = [(f"{s.width}x{s.height}", float(s.images), "#6b6b6b", f"{s.images:,}") for s in sizes[:10]]
    more = f" (10 of {len(sizes)} sizes)" if len(sizes) > 10 else ""
    out.append(hbars(f"image sizes, images of each{more}", top))
    out.append("</div>")
    return "".join(out)


def _summary(stats: DatasetStats, report: Report, n_samples: int, findings: Findings) -> str:
    t = stats.total
    items: list[tuple[str, str]] = [
        ("dataset", _e(stats.source or "(in memory)")),
        ("format read", _e(stats.format or "?")),
        ("images", f"{t.images:,}"),
    ]
    if stats.counted == "images":
        items.append(
            ("labelled images", f"{t.images_with_label:,} (a classification set: classes count images)")
        )
    else:
        kinds = ", ".join(
            f"{n:,} {word}"
            for n, word in (
                (t.polygons, "polygons"),
                (t.boxes, "boxes"),
                (t.rles, "masks"),
                (t.points, "points"),
            )
            if n
        )
        items.append(("objects", f"{t.instances:,}" + (f" ({kinds})" if kinds else "")))
        items.append(("images without objects", f"{t.images_without_objects:,}"))
    present = sum(1 for r in t.classes if r.count)
    items.append(
        ("classes", f"{len(t.classes):,}" + (f" ({present:,} present)" if present != len(t.classes) else ""))
    )
    if stats.splits:
        items.append(
            ("splits", ", ".join(f"{_e(s.split or 'no split')}: {s.images:,} images" for s in stats.splits))
        )
    else:
        items.append(("splits", "none"))
    if stats.pixel_size_um is not None:
        items.append(("pixel size", f"{stats.pixel_size_um:g} µm"))
    lines = report.lines()
    items.append(("skipped and noticed", "<br>".join(_e(x) for x in lines) if lines else "nothing"))
    items.append(("gallery", f"{n_samples:,} sample images"))
    if findings.records is None:
        items.append(("validate", _e(findings.note)))
    else:
        s = findings.summary
        items.append(
            (
                "validate",
                f"{len(findings.records):,} finding{'' if len(findings.records) == 1 else 's'} ({s.get('errors', 0):,} errors, {s.get('warnings', 0):,} warnings,"
                f" {s.get('info', 0):,} info) in {s.get('files_checked', 0):,} files checked",
            )
        )
    return '<dl class="summary">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _legend(stats: DatasetStats, colours: dict[int, str]) -> str:
    entries = "".join(
        f'<li><span class="swatch" style="background:{colours.get(r.id, "#888")}"></span>{_e(r.name)}</li>'
        for r in stats.total.classes
    )
    return f'<ul class="legend" aria-label="class colours">{entries}</ul>'


def _gallery(samples: Sequence[Thumbnail], stats: DatasetStats, colours: dict[int, str]) -> str:
    names = {r.id: r.name for r in stats.total.classes}
    if not samples:
        return "<p>No sample images (--samples 0, or no images).</p>"
    missing = [r.name for r in stats.total.classes if r.count and all(r.id not in s.classes for s in samples)]
    head = _legend(stats, colours)
    if missing:
        head += f"<p>Classes not in these samples (too few samples): {_e(', '.join(missing))}.</p>"
    figures = []
    for s in samples:
        shown = ", ".join(names.get(c, str(c)) for c in s.classes) or "no objects"
        picture = (
            f'<img alt="{_e(s.file_name)}: {_e(shown)}" src="data:image/jpeg;base64,{s.jpeg}">'
            if s.jpeg is not None
            else f'<p class="note">{_e(s.note or "no picture")}</p>'
        )
        figures.append(
            f'<figure data-file="{_e(s.file_name)}" data-classes="{_e(json.dumps(list(s.classes)))}">{picture}'
            f"<figcaption><strong>{_e(s.file_name)}</strong><br>{_e(shown)}</figcaption></figure>"
        )
    return head + '<div class="gallery">' + "".join(figures) + "</div>"


def _findings(findings: Findings) -> str:
    if findings.records is None:
        return f"<p>{_e(findings.note)}</p>"
    if not findings.records:
        return "<p>validate found nothing.</p>"
    groups: dict[str, list[dict[str, Any]]] = {}
    for f in findings.records:
        groups.setdefault(f["code"], []).append(f)
    out = []
    for code in sorted(groups):
        group = groups[code]
        first = group[0]
        rows = "".join(
            f'<tr data-code="{_e(f["code"])}"><td class="text" data-key="path">{_e(f["path"])}</td>'
            f'<td data-key="line" data-value="{_e(_data_value(f["line"]))}">{_e("" if f["line"] is None else f["line"])}</td>'
            f'<td class="text" data-key="severity">{_e(f["severity"])}</td>'
            f'<td class="text" data-key="message">{_e(f["message"])}</td></tr>'
            for f in group
        )
        out.append(
            f'<h3 id="{_e(code)}">{_e(code)} <code>{_e(first["rule"])}</code> ({len(group):,})</h3>'
            '<table class="sortable findings"><thead><tr><th class="text" scope="col">file</th><th scope="col">line</th>'
            '<th class="text" scope="col">severity</th><th class="text" scope="col">message</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    return "".join(out)


def render(
    stats: DatasetStats,
    report: Report,
    samples: Sequence[Thumbnail],
    findings: Findings,
    colours: dict[int, str],
    title: str | None = None,
    command: str | None = None,
) -> str:
    """The page as text, from the template shipped in the package (``report_template.html``)."""
    from cytoconv._version import __version__

    doc = to_dict(stats)
    keys = [
        k
        for k in CLASS_KEYS
        if (not k.endswith(("_um", "_um2")) or stats.pixel_size_um is not None)
        and (k != "points" or stats.total.points)
        and (stats.counted == "instances" or not k.startswith(("area", "diameter")))
    ]
    classes = class_table(doc["total"], keys, colours, "total")
    if doc["splits"]:
        for section in doc["splits"]:
            name = section["split"] if section["split"] is not None else "no split"
            classes += f"<h3>Split: {_e(name)}</h3>" + class_table(section, keys, colours, name)
    what = "images per class (a classification set)" if stats.counted == "images" else "objects per class"
    classes = (
        f"<p>The table of <code>cytoconv stats</code>: {what}, share, images containing the class"
        + ("" if stats.counted == "images" else ", area and equivalent diameter (mean and median)")
        + ". Click a column header to sort.</p>"
        + classes
    )
    template = Template(resources.files("cytoconv.ops").joinpath("report_template.html").read_text("utf-8"))
    page_title = title or f"cytoconv report: {stats.source or 'dataset'}"
    return template.substitute(
        title=_e(page_title),
        subtitle=_e(f"{stats.source or 'dataset'} ({stats.format or '?'})"),
        version=_e(__version__),
        summary=_summary(stats, report, len(samples), findings),
        classes=classes,
        plots=plots(stats, colours),
        gallery=_gallery(samples, stats, colours),
        findings=_findings(findings),
        command=f", with <code>{_e(command)}</code>" if command else "",
    )


def write_report(
    plan: ReadPlan,
    load: Loader,
    dest: str | Path,
    options: ReadOptions,
    report: Report,
    collected: Collected,
    findings: Findings,
    *,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    title: str | None = None,
    command: str | None = None,
    overwrite: bool = False,
) -> ReportResult:
    """Choose and draw the samples, render the page and write it to ``dest`` atomically."""
    from cytoconv.engine.atomic import atomic_file

    stats = collected.stats
    assert stats.columns is not None
    classes = image_classes(stats.columns, stats.counted)
    positions = choose_samples(classes, samples, seed)
    thumbs = thumbnails(plan, load, options, collected, positions, classes)
    painter = _painter(plan, stats, options)
    colours = {r.id: hex_colour(painter.colour(r.id)) for r in stats.total.classes}
    page = render(stats, report, thumbs, findings, colours, title, command).encode("utf-8")
    dest = Path(dest)
    with atomic_file(dest, overwrite) as fh:
        fh.write(page)
    return ReportResult(dest, len(page), stats, tuple(thumbs), findings, report)
