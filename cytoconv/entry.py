"""The console-script entry point: kept free of heavy imports so that ``--version`` answers at once."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and turn errors into one line on stderr and an exit code (1 data, 2 usage, 130 Ctrl-C)."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        from cytoconv._version import __version__

        print(f"cytoconv {__version__}")
        return
    import gc

    from cytoconv.errors import CytoconvError, FormatError, UsageError

    gc.set_threshold(50_000, 20, 20)  # a converter allocates many objects and few cycles

    try:
        from cytoconv.cli import app

        app(args=args, prog_name="cytoconv", standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("cytoconv: interrupted; nothing was written", file=sys.stderr)
        sys.exit(130)
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
    except Exception as error:  # a bug: one line, and the traceback only on request
        if os.environ.get("CYTOCONV_DEBUG"):
            raise
        print(f"cytoconv: internal error: {error.__class__.__name__}: {error} "
              "(set CYTOCONV_DEBUG=1 for the traceback, and please report it)", file=sys.stderr)
        sys.exit(1)
