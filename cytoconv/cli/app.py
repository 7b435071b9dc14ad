"""The ``cytoconv`` command line, assembled: the root options and every command module's commands.

stdout carries data only; summaries, progress and warnings go to stderr. Exit codes: 0 ok,
1 bad data or a failed conversion, 2 bad usage, 130 interrupted (mapped in ``cytoconv.cli.entry``).
The commands live in one module per group and import nothing from here: ``convert`` (convert, resample,
the ``x2y`` shortcuts, formats), ``stats`` (stats, draw), ``report``, ``cells`` (crop, split) and ``validate``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from cytoconv._version import __version__
from cytoconv.cli import cells, convert, diff, filter, merge, remap, report, stats, validate

# Commands built from ``convert`` rather than declared: resample, and one shortcut per pair of formats.
DERIVED = ("resample", *convert.SHORTCUTS)


class _CytoconvGroup(TyperGroup):
    """Adds the commands built from ``convert`` when one is called or listed: there are dozens of shortcuts,
    and building them all cost about 1.5 ms each at every start."""

    def list_commands(self, ctx: Any) -> list[str]:
        """``resample`` after ``convert``, and the everyday shortcuts last; every other ``x2y`` works too."""
        names = super().list_commands(ctx)
        after = names.index("convert") + 1
        featured = [n for n in convert.FEATURED if n in convert.SHORTCUTS and n not in names]
        return [*names[:after], "resample", *names[after:], *featured]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """A declared command, or a derived one built now and kept for the rest of the run."""
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in DERIVED:
            if cmd_name == "resample":
                command = convert.resample_command()
            else:
                command = convert.shortcut_command(*convert.SHORTCUTS[cmd_name])
            self.add_command(command, cmd_name)
        return command


app = typer.Typer(
    cls=_CytoconvGroup,
    name="cytoconv",
    help="Convert, check and summarise annotation datasets of cytology and blood-cell images, exactly.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
for module in (convert, stats, report, cells, remap, merge, filter, diff, validate):
    app.add_typer(module.app)


def _version_callback(value: bool) -> None:
    """``--version`` through the parser (``cytoconv.cli.entry`` answers a lone ``--version`` before it)."""
    if value:
        print(f"cytoconv {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """cytoconv: exact conversions between YOLO, COCO and more."""
