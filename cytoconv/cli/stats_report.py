"""``cytoconv stats`` on a terminal: the figures of ``cytoconv.ops.stats`` as rich tables (only the CLI
imports rich)."""

from __future__ import annotations

import math
from typing import Any

from cytoconv.ops.stats import DatasetStats, SectionStats, _fmt, display_bins


def render(stats: DatasetStats, console: Any) -> None:
    """The report on a rich console: totals, the class table, objects per image, image sizes, splits."""
    sections = [stats.total]
    if len(stats.splits) > 1:
        sections += list(stats.splits)
    for section in sections:
        _render_section(stats, section, console, is_total=section is stats.total)
    for kind, counter in (("skipped", stats.skipped), ("noticed", stats.noticed)):
        for code, n in counter.items():
            console.print(
                f"{kind} {n:,} x {code}", markup=False, style="yellow" if kind == "skipped" else "dim"
            )


def _render_section(stats: DatasetStats, section: SectionStats, console: Any, is_total: bool) -> None:
    from rich.table import Table

    if is_total:
        title = f"{stats.source} ({stats.format})" if stats.source else "dataset"
        if len(stats.splits) == 1:
            title += f", split {stats.splits[0].split}"
    else:
        title = f"split {section.split if section.split is not None else '(none)'}"
    kinds = ", ".join(
        f"{n:,} {word}"
        for n, word in (
            (section.polygons, "polygons"),
            (section.boxes, "boxes"),
            (section.rles, "RLE masks"),
            (section.points, "points"),
        )
        if n
    )
    if stats.counted == "images":
        line = (
            f"[bold]{title}[/bold]: {section.images:,} images, classification: "
            f"{section.images_with_label:,} with a class label, "
            f"{section.images - section.images_with_label:,} without"
        )
    else:
        line = (
            f"[bold]{title}[/bold]: {section.images:,} images ({section.images_without_objects:,} without "
            f"objects), {section.instances:,} objects" + (f" ({kinds}" if kinds else "")
        )
        if section.vertices:
            line += f", {section.vertices:,} vertices"
        line += ")" if kinds else ""
    if is_total and stats.pixel_size_um is not None:
        line += f"; pixel size {stats.pixel_size_um:g} um"
    console.print(line)
    um = stats.pixel_size_um is not None
    table = Table(show_edge=False, pad_edge=False)
    for header in ("id", "class", "images" if stats.counted == "images" else "objects", "share %"):
        table.add_column(header, justify="left" if header == "class" else "right")
    points = stats.counted == "instances" and stats.total.points > 0  # a column only where there are points
    # sizes: not for a classification set, nor for a dataset of points only (a point has no area)
    sized = stats.counted == "instances" and not (points and stats.total.points == stats.total.instances)
    if points:
        table.add_column("points", justify="right")
    if stats.counted == "instances":
        table.add_column("in images", justify="right")
    if sized:
        area, diam = ("um2", "um") if um else ("px", "px")
        for header in (
            f"area {area} mean",
            f"area {area} median",
            f"diam {diam} mean",
            f"diam {diam} median",
        ):
            table.add_column(header, justify="right")
    for row in section.classes:
        cells = [str(row.id), row.name, f"{row.count:,}", _fmt(row.share_percent, 2)]
        if points:
            cells.append(f"{row.points:,}")
        if stats.counted == "instances":
            cells.append(f"{row.images:,}")
        if sized and um:
            cells += [
                _fmt(row.area_mean_um2, 2),
                _fmt(row.area_median_um2, 2),
                _fmt(row.diameter_mean_um, 2),
                _fmt(row.diameter_median_um, 2),
            ]
        elif sized:
            cells += [
                _fmt(row.area_mean_px),
                _fmt(row.area_median_px),
                _fmt(row.diameter_mean_px, 2),
                _fmt(row.diameter_median_px, 2),
            ]
        table.add_row(*cells)
    total = "objects" if stats.counted == "instances" else "images"
    count = section.instances if stats.counted == "instances" else section.images_with_label
    totals = ["", f"total {total}", f"{count:,}", "100.00" if count else "-"]
    table.add_row(*totals, *([f"{section.points:,}"] if points else []), style="bold")
    console.print(table)
    per = section.instances_per_image
    if stats.counted == "instances" and per.max is not None:
        console.print(
            f"objects per image: min {per.min}, median {per.median:g}, mean {_fmt(per.mean, 2)}, "
            f"max {per.max}"
        )
    if stats.counted == "instances" and per.max is not None and is_total:
        bins = display_bins(per.histogram)
        most = max(c for _, _, c in bins) or 1
        for first, last, n in bins:
            label = f"{first}" if first == last else f"{first}-{last}"
            console.print(
                f"  {label:>9} {'#' * math.ceil(40 * n / most) if n else '':<40} {n:,}",
                markup=False,
                highlight=False,
            )
    sizes = ", ".join(f"{s.width}x{s.height} ({s.images:,})" for s in section.image_sizes[:8])
    more = len(section.image_sizes) - 8
    console.print(f"image sizes: {sizes}" + (f" and {more} more" if more > 0 else ""), markup=False)
    console.print()
