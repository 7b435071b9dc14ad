"""What the user sees on stderr: a progress bar on a terminal, and a summary at the end.

rich and the dataset model are imported only when something is shown, so that the command modules can
import this one at the top without slowing ``--help``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cytoconv.engine.contract import ReadPlan
    from cytoconv.engine.pipeline import Summary


class _Bar:
    """A rich progress bar that appears only on a terminal, once the number of images is known."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.progress: Any = None
        self.task: Any = None

    def start(self, total: int) -> None:
        """Show the bar for ``total`` images; a short run (under 200) would only flicker."""
        if not self.enabled or total < 200:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("images"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=stderr_console(),
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task("images", total=total)

    def on_plan(self, plan: ReadPlan) -> None:
        """The library's ``on_plan`` hook: the plan says how many images there are."""
        self.start(len(plan.units))

    def advance(self, n: int) -> None:
        """The library's ``progress`` hook: ``n`` more images done."""
        if self.progress is not None:
            self.progress.advance(self.task, n)

    def stop(self) -> None:
        """Remove the bar (it is transient), also when the run fails."""
        if self.progress is not None:
            self.progress.stop()


@contextmanager
def progress_bar(enabled: bool) -> Iterator[_Bar]:
    """A bar whose ``advance`` and ``on_plan`` go to the library's hooks; stopped however the block ends."""
    bar = _Bar(enabled)
    try:
        yield bar
    finally:
        bar.stop()


def stderr_console() -> Any:
    """A rich console on stderr: stdout carries data only (``stats --json``, ``validate``)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def print_report(lines: list[str]) -> None:
    """Every skipped or noticed item, verbatim (file names may hold rich markup characters) and unwrapped, so
    that the paths they name can be copied whole."""
    console = stderr_console()
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)


def print_summary(summary: Summary, dst: Path) -> None:
    """Images, objects per class, and every skipped or noticed item, to stderr."""
    from rich.table import Table

    console = stderr_console()
    names = {c.id: c.name for c in summary.categories}
    total = sum(summary.instances.values())
    # the path on a line of its own, never wrapped (soft_wrap): a path broken over lines cannot be copied
    console.print(f"wrote {dst}", markup=False, soft_wrap=True)
    table = Table(show_edge=False)
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
    console.print(
        f"{summary.images:,} images ({summary.empty_images:,} without objects), {total:,} objects"
        + (f", {labelled:,} with an image-level label" if labelled else "")
    )
    print_report(summary.report.lines())
