"""YOLO checks for ``cytoconv validate``: a label file's findings (from ``syntax.scan``, the parser the reader
uses too) and, for folders, the pairing of label files with images.

Nothing here imports the dataset model: this module runs on every pre-commit call.
"""

from __future__ import annotations

import os
from pathlib import Path

from cytoconv.engine.classlists import NAME_FILES, YAML_NAMES, ClassList
from cytoconv.formats.yolo.syntax import is_doc_name, is_image_list, scan
from cytoconv.problems.findings import CheckTask, Finding
from cytoconv.problems.settings import Settings


def check_bytes(data: bytes, path: str, classes: ClassList | None, settings: Settings) -> list[Finding]:
    """Every finding of one label file's content (``classes``: its class list, ``None`` when unknown), from the
    same scan the reader uses."""
    sink = settings.sink()
    names = classes.names if classes is not None else None
    scan(
        data,
        path,
        sink,
        len(names) if names is not None else None,
        classes.source if classes else None,
        settings.tolerance,
    )
    return sorted(sink.findings, key=Finding.sort_key)


# ---------------------------------------------------------------------------------------------
# Folders: which files are labels, and which images they go with


def is_label_name(name: str) -> bool:
    """Whether a file name is a YOLO label file: a visible ``.txt`` that is not a class-name list or a document
    (README, LICENSE): the reader's rule (``syntax.is_doc_name``)."""
    return (
        name.endswith(".txt")
        and name not in NAME_FILES
        and not name.startswith(".")
        and not is_doc_name(name)
    )


def is_list_file(name: str) -> bool:
    """Class lists and dataset files that sit among labels but are not labels."""
    return name in NAME_FILES or name in YAML_NAMES


def label_dirs(root: Path) -> list[Path]:
    """Every ``labels`` folder below ``root`` (junk and hidden folders pruned); none: ``root`` itself."""
    from cytoconv.engine.files import JUNK_DIRS

    found = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in JUNK_DIRS and not d.startswith("."))
        if os.path.basename(dirpath) == "labels":
            found.append(Path(dirpath))
            dirnames[:] = []
    if root.name == "labels":
        return [root]
    return found or [root]


def _below(path: str, folder: Path) -> str:
    """``path`` relative to ``folder`` it was found in (string slicing: relpath costs 13 us a call)."""
    base = str(folder) + os.sep
    return path[len(base) :] if path.startswith(base) else os.path.relpath(path, folder)


def pair(root: Path, settings: Settings) -> tuple[list[str], list[Finding]]:
    """The label files below ``root``, and the findings of pairing them with images by relative stem
    (``labels/x/y.txt`` with ``images/x/y.<ext>``). Pairing is checked only where an image folder exists:
    a repository that keeps labels without images is not flagged file by file."""
    from cytoconv.engine.files import is_image_name, walk_files

    labels: list[str] = []
    findings: list[Finding] = []
    for label_dir in label_dirs(root):
        image_dir = label_dir.with_name("images") if label_dir != root or root.name == "labels" else root
        stems: dict[str, str] = {}
        for f in walk_files(label_dir):
            name = os.path.basename(f)
            if is_label_name(name) and not is_image_list(f):  # a Darknet train.txt lists images
                labels.append(f)
                stems[_below(f, label_dir)[:-4]] = f
        if not image_dir.is_dir():
            continue
        images: dict[str, str] = {}
        for f in walk_files(image_dir):
            if is_image_name(f):
                images.setdefault(os.path.splitext(_below(f, image_dir))[0], f)
        if not images:
            continue
        if settings.on("CC402"):
            for stem in sorted(set(stems) - set(images)):
                findings.append(
                    settings.finding("CC402", stems[stem], f"no image for this label file in {image_dir}")
                )
        if settings.on("CC403"):
            for stem in sorted(set(images) - set(stems)):
                findings.append(
                    settings.finding("CC403", images[stem], f"no label file for this image in {label_dir}")
                )
    return labels, findings


# ---------------------------------------------------------------------------------------------
# The checker API: what ``cytoconv.validate`` calls through the registry (``FormatInfo.checker``)

TEXT = True  # label files checked from their bytes, with --fix
CLASS_LIST = "required"  # no class list found: CC204, class ids unchecked


def claims(path: Path) -> bool:
    """A file given alone (as pre-commit passes them) is a YOLO label file when it is a ``.txt`` that the
    points-txt checker does not claim (``x y class`` lines, or a Chula ``Label/`` beside ``Dataset/``)."""
    from cytoconv.formats.points_txt.check import claims as points_claim

    return path.suffix.lower() == ".txt" and not points_claim(path)


def single(path: Path, fmt: str, settings: Settings) -> CheckTask | None:
    """A label file given alone; class lists and dataset files that sit among labels are not checked."""
    if is_list_file(path.name) or is_doc_name(path.name) or is_image_list(str(path)):
        return None
    return CheckTask("yolo", str(path))


def discover(root: Path, fmt: str, settings: Settings) -> tuple[list[CheckTask], list[Finding]]:
    """The label files below ``root`` and the pairing findings."""
    labels, findings = pair(root, settings)
    return [CheckTask("yolo", f) for f in labels], findings


def check(task: CheckTask, data: bytes | None, settings: Settings) -> list[Finding]:
    """One label file's findings (its class list in ``task.context``)."""
    assert data is not None
    return check_bytes(data, task.path, task.context, settings)
