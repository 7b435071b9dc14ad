"""Label Studio checks for ``cytoconv validate``: the export file, every task and every result (named by task
id and result id in the message).

The checks are the syntax layer's (``cytoconv.formats.labelstudio.syntax.scan``), which the reader runs too,
so that ``validate`` and ``convert`` stop at the same place with the same code. What is left here: a task
without a size (no result gives ``original_width`` / ``original_height``) whose image is not found beside the
export is CC704, as ``convert`` would refuse it. Percent tolerance: the normalised tolerance (0.01) x 100.
"""

from __future__ import annotations

import os
from pathlib import Path

from cytoconv.formats.labelstudio.syntax import (
    CODES as SYNTAX_CODES,
)
from cytoconv.formats.labelstudio.syntax import (
    image_name,
    looks_like_labelstudio,
    scan,
    strip_upload_prefix,
)
from cytoconv.problems.findings import CheckTask, Finding
from cytoconv.problems.settings import Settings

# every rule a Label Studio export can get (the docs' rule table is built from the literals of this module)
CODES = (*SYNTAX_CODES, "CC704")
PEEK = 65536


def _looks(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return looks_like_labelstudio(fh.read(PEEK))
    except OSError:
        return False


def check_bytes(data: bytes, path: str, settings: Settings) -> list[Finding]:
    """The findings of one export, sorted."""
    sink = settings.sink()
    export = scan(data, path, sink, names=settings.names, tolerance=100 * settings.tolerance)
    if export is not None and settings.on("CC704"):
        root = os.path.dirname(os.path.abspath(path))
        for task in export.tasks:
            if task.width is not None:
                continue
            name, _ = image_name(task.image)
            names = [n for n in (name, strip_upload_prefix(name)) if n]
            if not any(os.path.isfile(os.path.join(root, d, n)) for n in names for d in ("", "images")):
                sink(
                    "CC704",
                    path,
                    f"task {task.tid}: no original_width/original_height and no image {name!r} found: the image "
                    "size is unknown (convert needs --images DIR or --image-size WxH)",
                )
    return sorted(sink.findings, key=Finding.sort_key)


# ---------------------------------------------------------------------------------------------
# The checker API: what ``cytoconv.validate`` calls through the registry (``FormatInfo.checker``)

TEXT = True
CLASS_LIST = None


def claims(path: Path) -> bool:
    """A ``.json`` file given alone is checked as a Label Studio export when it is a list of tasks."""
    return path.suffix.lower() == ".json" and _looks(str(path))


def single(path: Path, fmt: str, settings: Settings) -> CheckTask | None:
    """An export given alone."""
    return CheckTask("labelstudio", str(path))


def discover(root: Path, fmt: str, settings: Settings) -> tuple[list[CheckTask], list[Finding]]:
    """The exports of a folder (or the file itself)."""
    if root.is_file():
        return [CheckTask("labelstudio", str(root))], []
    from cytoconv.engine.files import walk_files

    files = [f for f in walk_files(root) if f.lower().endswith(".json") and _looks(f)]
    return [CheckTask("labelstudio", f) for f in files], []


def check(task: CheckTask, data: bytes | None, settings: Settings) -> list[Finding]:
    """One export's findings."""
    assert data is not None
    return check_bytes(data, task.path, settings)
