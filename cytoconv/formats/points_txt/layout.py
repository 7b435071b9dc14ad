"""Where a points-txt dataset keeps its label files, images and class list, and how they pair: the reader's
plan and the validator's discovery both use this, so that both see one dataset the same way.

Layouts: the Chula RBC-12 download, ``root/Dataset/<n>.jpg`` + ``root/Label/<n>.txt``; ``root/images/`` +
``root/labels/`` (with split folders such as ``labels/train/``, as YOLO keeps them); Roboflow's
``root/<split>/images/`` + ``root/<split>/labels/`` (``train``, ``valid``, ``test``: the split is the folder);
a labels folder given directly (its images in the sibling ``Dataset/`` or ``images/``, beside the labels, or under ``--images``).
A label file and its image pair by their path below their folders without the extension (``Label/7.txt`` with
``Dataset/7.jpg``, ``labels/train/7.txt`` with ``images/train/7.png``); under ``--images``, a label no image
matches that way takes the one image of its bare stem. Plain strings and ``os`` only: at 50,000 files
pathlib objects cost seconds, and the validator must start fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cytoconv.engine.classlists import NAME_FILES, read_list
from cytoconv.engine.files import is_image_name, walk_files
from cytoconv.formats.points_txt.syntax import is_label_name

# A labels folder's name (lower case) -> the name of the image folder beside it.
IMAGE_DIR_OF = {"label": "dataset", "labels": "images"}


@dataclass
class Layout:
    """One dataset: its label folder, its image folder (``None``: no images at hand), the folder its class list
    may sit in besides the label folder, and the layout's name for messages. In Roboflow's layout ``splits``
    names the split folders below ``root`` that hold a ``labels/`` (and ``images/``) each."""

    labels: str
    images: str | None
    root: str
    kind: str
    splits: tuple[str, ...] = ()  # Roboflow's <split>/labels/ + <split>/images/: labels and images are root
    junk: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # two images with one stem


def _child_dirs(folder: Path) -> dict[str, Path]:
    """The visible sub-folders of ``folder`` by lower-case name (``Label`` and ``label`` alike)."""
    try:
        return {
            p.name.lower(): p for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")
        }
    except OSError:
        return {}


def find_layout(path: Path, images: Path | None = None) -> Layout:
    """The layout of the folder ``path`` (see the module docstring); ``images`` (``--images``) overrides the
    image folder found."""
    children = _child_dirs(path)
    if "label" in children and "dataset" in children:
        layout = Layout(
            str(children["label"]), str(children["dataset"]), str(path), "Dataset/ + Label/ (Chula RBC-12)"
        )
    elif "labels" in children:
        found = children.get("images")
        kind = "images/ + labels/" if found is not None else "labels/"
        layout = Layout(str(children["labels"]), str(found) if found else None, str(path), kind)
    elif splits := _split_dirs(path, children):
        kind = f"{'/, '.join(splits)}/: <split>/images/ + <split>/labels/ (Roboflow)"
        layout = Layout(str(path), str(path), str(path), kind, splits)
    elif path.name.lower() in IMAGE_DIR_OF:
        sibling = _child_dirs(path.parent).get(IMAGE_DIR_OF[path.name.lower()])
        layout = Layout(str(path), str(sibling) if sibling else None, str(path.parent), f"{path.name}/")
    else:  # a folder of label files, the images beside them (or under --images)
        layout = Layout(str(path), str(path), str(path), "a folder of label files")
    if images is not None:
        layout.images = str(images.resolve())
    return layout


def _split_dirs(path: Path, children: dict[str, Path]) -> tuple[str, ...]:
    """The sub-folders of ``path`` that hold a ``labels/`` folder (Roboflow's ``train/labels/``), by name."""
    return tuple(child.name for _, child in sorted(children.items()) if "labels" in _child_dirs(child))


def label_dirs(layout: Layout) -> list[str]:
    """The folders that hold the label files: the label folder, or every ``<split>/labels/`` in Roboflow's
    layout (detection peeks at these, not at the whole root with its images)."""
    if not layout.splits:
        return [layout.labels]
    return [str(_child_dirs(Path(layout.root, split))["labels"]) for split in layout.splits]


def _image_dirs(layout: Layout) -> list[tuple[str, str]]:
    """``(key prefix, folder)`` of the image folders: the image folder, or every ``<split>/images/`` in
    Roboflow's layout (unless ``--images`` named another folder)."""
    if layout.images is None:
        return []
    if not layout.splits or layout.images != layout.root:
        return [("", layout.images)]
    out = []
    for split in layout.splits:
        found = _child_dirs(Path(layout.root, split)).get("images")
        if found is not None:
            out.append((split + "/", str(found)))
    return out


def _rel(path: str, base: str) -> str:
    """``path`` below ``base``, with forward slashes."""
    rel = path[len(base) + 1 :] if path.startswith(base + os.sep) else os.path.relpath(path, base)
    return rel.replace(os.sep, "/")


def label_files(layout: Layout) -> dict[str, str]:
    """The label files, keyed by their path below the label folder without ``.txt`` (``train/7`` for Roboflow's
    ``train/labels/7.txt``); class lists, documents (README, LICENSE) and junk (``.DS_Store``, noted in
    ``layout.junk``) are left out."""
    out: dict[str, str] = {}
    prefixes = [split + "/" for split in layout.splits] or [""]
    for prefix, base in zip(prefixes, label_dirs(layout), strict=True):
        for f in walk_files(Path(base), layout.junk):
            if is_label_name(os.path.basename(f)):
                out[prefix + _rel(f, base)[:-4]] = f
    return out


def image_files(layout: Layout) -> dict[str, str]:
    """The images, keyed like the labels (path below the image folder, no extension; ``train/7`` for Roboflow's
    ``train/images/7.jpg``); a second image of one stem (``1.jpg`` and ``1.png``) goes to ``layout.duplicates``
    and is not paired."""
    out: dict[str, str] = {}
    for prefix, base in _image_dirs(layout):
        if not os.path.isdir(base):
            continue
        for f in walk_files(Path(base), layout.junk):
            if is_image_name(f):
                key = prefix + os.path.splitext(_rel(f, base))[0]
                if key in out:
                    layout.duplicates.append((out[key], f))
                    continue
                out[key] = f
    return out


def pair(labels: dict[str, str], images: dict[str, str]) -> list[tuple[str, str | None, str | None]]:
    """``(key, label, image)`` for every image and every label, sorted by key: a label no image matches by its
    key takes the one image of its bare stem that no label matches (``--images`` pointing at a flat folder)."""
    by_stem: dict[str, list[str]] = {}
    for key in images:
        if key not in labels:
            by_stem.setdefault(key.rsplit("/", 1)[-1], []).append(key)
    taken: set[str] = set()
    out: list[tuple[str, str | None, str | None]] = []
    for key, label in labels.items():
        image = images.get(key)
        if image is None:
            found = by_stem.get(key.rsplit("/", 1)[-1], [])
            if len(found) == 1 and found[0] not in taken:
                taken.add(found[0])
                image = images[found[0]]
        out.append((key, label, image))
    out.extend((key, None, image) for key, image in images.items() if key not in labels and key not in taken)
    return sorted(out, key=lambda item: item[0])


def split_of(key: str) -> str | None:
    """The split of a pair: the folder its label (or image) is in below the label (or image) folder."""
    folder = key.rsplit("/", 1)[0] if "/" in key else ""
    return folder or None


def class_list(layout: Layout) -> tuple[list[str] | None, str | None, str | None]:
    """The names of a ``classes.txt`` (or ``obj.names``) in the label folder, else in the dataset's root:
    ``(names, source, problem)``, all ``None`` when there is none."""
    for folder in dict.fromkeys((layout.labels, layout.root)):
        for name in NAME_FILES:
            candidate = Path(folder, name)
            if candidate.is_file():
                names, problem = read_list(candidate)
                return names, str(candidate), (problem.message if problem is not None else None)
    return None, None, None
