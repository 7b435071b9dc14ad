"""What the user sees on stderr: a progress bar on a terminal, and a summary at the end."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cytoconv.engine.pipeline import Summary


class _Bar:
    """A rich progress bar that appears only on a terminal, once the number of images is known."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.progress: Any = None
        self.task: Any = None

    def start(self, total: int) -> None:
        if not self.enabled or total < 200:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from cytoconv.cli.summary import _console

        self.progress = Progress(TextColumn("images"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                 console=_console(), transient=True)
        self.progress.start()
        self.task = self.progress.add_task("images", total=total)

    def advance(self, n: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, n)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@contextmanager
def progress_bar(enabled: bool) -> Iterator[_Bar]:
    bar = _Bar(enabled)
    try:
        yield bar
    finally:
        bar.stop()


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def print_summary(summary: Summary, dst: Path) -> None:
    """Images, objects per class, and every skipped or noticed item, to stderr."""
    from rich.table import Table

    console = _console()
    names = {c.id: c.name for c in summary.categories}
    total = sum(summary.instances.values())
    table = Table(title=f"wrote {dst}", title_justify="left", show_edge=False)
    table.add_column("id", justify="right")
    table.add_column("class")
    table.add_column("objects", justify="right")
    labelled = sum(summary.labels.values())
    if labelled:  # a classification dataset: images per class too
        table.add_column("images", justify="right")
    for cid in sorted(set(names) | set(summary.instances) | set(summary.labels)):
        row = [str(cid), names.get(cid, "?"), f"{summary.instances.get(cid, 0):,}"]
        table.add_row(*row, *([f"{summary.labels.get(cid, 0):,}"] if labelled else []))
    console.print(table)
    console.print(f"{summary.images:,} images ({summary.empty_images:,} without objects), {total:,} objects"
                  + (f", {labelled:,} with an image-level label" if labelled else ""))
    for line in summary.report.lines():
        console.print(line, markup=False)
