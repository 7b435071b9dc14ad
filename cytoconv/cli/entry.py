"""The console-script entry point: kept free of heavy imports so that ``--version`` answers at once."""

from __future__ import annotations

import os
import sys


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and turn errors into one line on stderr and an exit code (1 data, 2 usage, 130 Ctrl-C)."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        from cytoconv._version import __version__

        print(f"cytoconv {__version__}")
        return
    import gc
    import signal

    from cytoconv.errors import CytoconvError, FormatError, UsageError

    gc.set_threshold(50_000, 20, 20)  # a converter allocates many objects and few cycles
    signal.signal(signal.SIGTERM, _interrupt)  # `kill`: the same clean stop as Ctrl-C

    try:
        validate_only = args[:1] == ["validate"]
        if validate_only:
            # pre-commit runs this on every commit: skip cytoconv.cli.app, whose other commands import the dataset
            # model and the format modules; cli_validate's app is the same command (see its docstring)
            from cytoconv.cli.validate import app
        else:
            from cytoconv.cli.app import app

        # standalone_mode=False: errors come here, to be printed in one line with our exit codes
        code = app(
            args=args[1:] if validate_only else args,
            prog_name="cytoconv validate" if validate_only else "cytoconv",
            standalone_mode=False,
        )
    except SystemExit:
        raise
    except KeyboardInterrupt:
        _interrupted()
    except UsageError as error:
        print(f"cytoconv: error: {error}", file=sys.stderr)
        sys.exit(2)
    except FormatError as error:
        print(f"{error}", file=sys.stderr)
        sys.exit(1)
    except CytoconvError as error:
        print(f"cytoconv: error: {error}", file=sys.stderr)
        sys.exit(1)
    except MemoryError:
        print("cytoconv: error: out of memory", file=sys.stderr)
        sys.exit(1)
    except Exception as error:
        if type(error).__name__ == "Abort":  # the parser's own Ctrl-C (older click)
            _interrupted()
        if hasattr(error, "show") and hasattr(error, "exit_code"):  # bad usage found by the parser: exit 2
            error.show()
            sys.exit(error.exit_code)
        if os.environ.get("CYTOCONV_DEBUG"):  # a bug: one line, and the traceback only on request
            raise
        print(
            f"cytoconv: internal error: {error.__class__.__name__}: {error} "
            "(set CYTOCONV_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        sys.exit(1)
    if code == 130:  # typer turns Ctrl-C into exit code 130 itself
        _interrupted()
    sys.exit(code if isinstance(code, int) else 0)


def _interrupted() -> None:
    print("cytoconv: interrupted; no output was left behind", file=sys.stderr)
    sys.exit(130)
