"""``cytoconv validate``: the command line of the label linter (the work is in ``cytoconv.validate``).

This module imports only typer and the standard library at the top, and ``cytoconv.cli.entry`` runs the ``app``
below directly for ``cytoconv validate ...``, without importing ``cytoconv.cli.app`` (whose other commands pull
in the dataset model and the format modules). A pre-commit run on a few files then costs the interpreter,
numpy and typer (about 0.2 s here): the checkers import shapely, pycocotools and PIL only when a file needs them.
``cytoconv.cli.app`` adds this ``app`` to the main CLI, so ``cytoconv --help`` lists the same command.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


class Output(str, Enum):
    """What ``--format`` prints: a choice, so that typer checks it and ``--help`` lists it."""

    TEXT = "text"
    JSON = "json"
    GITHUB = "github"


def validate_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Label files (as pre-commit passes them) or dataset folders.", show_default=False
        ),
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Check every path as this format (yolo, coco, voc, "
            "masks, instance-masks, object-masks, folders); default: by file name "
            "and content, folders as `convert` detects them.",
        ),
    ] = None,
    output: Annotated[
        Output, typer.Option("--format", "-f", help="Output: text, json or github (workflow annotations).")
    ] = Output.TEXT,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Settings file (TOML); default: \\[tool.cytoconv.validate] of the nearest pyproject.toml.",
        ),
    ] = None,
    select: Annotated[
        str | None,
        typer.Option(
            "--select",
            help="Only these rules: codes or prefixes, "
            "comma-separated (CC1,CC401); replaces the configured select.",
        ),
    ] = None,
    ignore: Annotated[
        str | None, typer.Option("--ignore", help="Also leave out these rules (codes or prefixes).")
    ] = None,
    names: Annotated[
        str | None,
        typer.Option(
            "--names",
            help="Class names, comma-separated, or a data.yaml / "
            "classes.txt (default: found beside the labels).",
        ),
    ] = None,
    classes: Annotated[
        str | None,
        typer.Option(
            "--classes",
            help="Semantic masks: the value -> class map "
            "(128=cytoplasm,255=nucleus, a preset such as wbc, or a file).",
        ),
    ] = None,
    channel: Annotated[
        str | None,
        typer.Option("--channel", help="Channel of RGB(A) masks holding the class: R, G, B, A or a number."),
    ] = None,
    tolerance: Annotated[
        float | None,
        typer.Option(
            "--tolerance",
            min=0.0,
            help="How far outside [0, 1] a normalised coordinate is only a warning (default 0.01).",
        ),
    ] = None,
    pixel_tolerance: Annotated[
        float | None,
        typer.Option(
            "--pixel-tolerance",
            min=0.0,
            help="Pixels: boxes outside the image, bbox against segmentation (default 1).",
        ),
    ] = None,
    area_tolerance: Annotated[
        float | None,
        typer.Option(
            "--area-tolerance", min=0.0, help="COCO area against the raster area, relative (default 0.05)."
        ),
    ] = None,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Apply the safe fixes (the findings marked with an asterisk), "
            "atomically, and report each one.",
        ),
    ] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Print what --fix would change, as a unified diff; write nothing.")
    ] = False,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=0, help="Processes for large folders (0: all cores).")
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary line on stderr.")] = False,
    rules: Annotated[
        bool, typer.Option("--rules", help="List the rules (code, severity, fixable, what) and exit.")
    ] = False,
) -> None:
    """Check annotation files and report problems by rule code; exit 1 when any is an error.

    One line per finding: path:line, rule code, severity, message (an asterisk: --fix can repair it).
    Settings come from the tool.cytoconv.validate table of pyproject.toml; --rules lists the rules.
    """
    from cytoconv.errors import UsageError

    if rules:
        _print_rules()
        return
    if not paths:
        raise UsageError("give the files or folders to check (cytoconv validate labels/)")
    if fix and diff:
        raise UsageError("give --fix or --diff, not both")
    from cytoconv.validate import load_settings, render, validate

    settings = load_settings(
        config,
        select=select,
        ignore=ignore,
        names=names,
        mask_classes=classes,
        channel=channel,
        tolerance=tolerance,
        pixel_tolerance=pixel_tolerance,
        area_tolerance=area_tolerance,
    )
    mode = "fix" if fix else "diff" if diff else "check"
    report = validate(paths, settings, fmt=from_, mode=mode, jobs=jobs)
    code = report.exit_code
    if diff:
        sys.stdout.write("".join(report.diffs))
        code = 1 if report.diffs else code
    elif output is Output.JSON:
        sys.stdout.write(render.as_json(report))
    elif output is Output.GITHUB:
        sys.stdout.write(render.github(report))
    else:
        sys.stdout.write(render.text(report))
    sys.stdout.flush()
    if not quiet and output is not Output.JSON:
        print(render.summary(report, fix=fix, diff=diff), file=sys.stderr)
    raise typer.Exit(code)


def _print_rules() -> None:
    """``--rules``: the rule table, from the registry alone (no checker is imported)."""
    from cytoconv.problems import RULES

    for rule in RULES.values():
        mark = " [*]" if rule.fixable else ""
        print(f"{rule.code}  {rule.severity:<7}  {rule.name:<24} {rule.description}{mark}")


app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command(name="validate")(validate_command)
