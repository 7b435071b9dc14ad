"""Where a COCO file's images are, as the standard downloads and exports lay them out: the one answer the
reader (and through its plan ``draw``, ``crop`` and ``resample``) and the validator's image pairing share.

A COCO ``file_name`` is relative to a folder the file does not name. The layouts put it in one of:

- the JSON's own folder (Roboflow: ``train/_annotations.coco.json`` beside its images);
- the dataset root, the folder above ``annotations/`` (``file_name`` holding the split: ``val2017/x.jpg``);
- ``<root>/<split>/`` (the COCO 2017 download: ``annotations/instances_val2017.json`` + ``val2017/``);
- ``<root>/images/<split>/`` and ``<root>/images/`` (the "images beside annotations" exports).

``--images ROOT`` is one root for every split file: ``ROOT``, ``ROOT/<split>``, ``ROOT/images/<split>``,
``ROOT/images``. The folder chosen is the candidate holding most of a sample of the file's images (the first
candidate on a tie); when none holds any, the default of the layout (``--images``, else the dataset root) is
kept, and the validator reports the missing files there. Standard library only: ``validate`` imports this.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

# file-name prefixes of the COCO files the tools write: instances_val2017.json (COCO, CVAT),
# labels_<split>.json, person_keypoints_val2017.json (COCO), _annotations.coco.json (Roboflow)
SPLIT_PREFIXES = ("instances_", "labels_", "person_keypoints_", "annotations_", "_annotations.coco")
SAMPLE = 64  # image entries probed per candidate folder: bounded work however large the file
# files of the COCO download that hold no objects of their own: captions always; beside instances_*, the
# keypoints (the same people again), stuff and panoptic views of the same images
NO_OBJECTS = ("captions_",)
OTHER_VIEWS = ("person_keypoints_", "stuff_", "panoptic_")
KEYPOINTS = "person_keypoints_"
# a category of one keypoint name ("keypoints": ["center"], as the writer makes a class of points); COCO's person
# has 17. Looked for in the first and last 64 KB, where the categories are (COCO and cytoconv write them last)
_POINT_CATEGORY = re.compile(rb'"keypoints"\s*:\s*\[\s*"(?:[^"\\]|\\.)*"\s*\]')
_ENDS = 1 << 16


def not_read(files: Sequence[str]) -> set[str]:
    """The files of a folder that are not read as its objects (reader) nor checked (validate): captions,
    and the other views of images that an ``instances_*`` file in the same folder already holds."""

    def stem(f: str) -> str:
        """A file's name without folder and suffix, which names what a COCO file holds."""
        return os.path.splitext(os.path.basename(f))[0]

    with_instances = {os.path.dirname(f) for f in files if stem(f).startswith("instances_")}
    return {
        f
        for f in files
        if stem(f).startswith(NO_OBJECTS)
        or (
            os.path.dirname(f) in with_instances
            and stem(f).startswith(OTHER_VIEWS)
            and not (stem(f).startswith(KEYPOINTS) and holds_points(f))
        )
    }


def holds_points(path: str) -> bool:
    """Whether a keypoints file holds points (cell centres, a category of one keypoint) rather than COCO's
    people again: then it is not a view of ``instances_*`` and is read. Reads at most 128 KB: the ends of the
    file, where the categories are."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(0)
            if size <= 2 * _ENDS:
                ends = [fh.read()]
            else:
                ends = [fh.read(_ENDS)]
                fh.seek(size - _ENDS)
                ends.append(fh.read(_ENDS))
    except OSError:
        return False
    return any(_POINT_CATEGORY.search(part) is not None for part in ends)


def dataset_root(json_path: str) -> str:
    """The folder above ``annotations/``, else the JSON's own folder."""
    parent = os.path.dirname(os.path.abspath(json_path))
    return os.path.dirname(parent) if os.path.basename(parent) == "annotations" else parent


def split_of(json_path: str) -> str | None:
    """The split a file's name gives (``instances_val2017.json`` -> ``val2017``), or, for Roboflow's
    ``<split>/_annotations.coco.json``, its folder; None when the name says none."""
    stem = os.path.splitext(os.path.basename(json_path))[0]
    for prefix in SPLIT_PREFIXES:
        if stem.startswith(prefix):
            rest = stem[len(prefix) :].strip("._")
            if rest:
                return rest
            if prefix == "_annotations.coco":
                return os.path.basename(os.path.dirname(os.path.abspath(json_path))) or None
    return None


def candidates(json_path: str, images_root: str | None = None) -> list[str]:
    """The folders a file's ``file_name`` values may be relative to, in the order they are preferred."""
    split = split_of(json_path)
    if images_root is not None:
        root = os.path.abspath(images_root)
        found = [root]
    else:
        root = dataset_root(json_path)
        found = [os.path.dirname(os.path.abspath(json_path)), root]
    if split:
        found += [os.path.join(root, split), os.path.join(root, "images", split)]
    found.append(os.path.join(root, "images"))
    out: list[str] = []
    for folder in found:
        folder = os.path.normpath(folder)
        if folder not in out:
            out.append(folder)
    return out


def image_dir(json_path: str, file_names: Sequence[str | None], images_root: str | None = None) -> str:
    """The folder a COCO file's ``file_name`` values are relative to (see the module's docstring)."""
    names = [name for name in file_names if name]
    default = os.path.normpath(os.path.abspath(images_root) if images_root else dataset_root(json_path))
    if not names:
        return default
    step = max(1, len(names) // SAMPLE)
    sample = names[::step][:SAMPLE]
    best, best_hits = default, 0
    for folder in candidates(json_path, images_root):
        if not os.path.isdir(folder):
            continue
        hits = sum(os.path.isfile(os.path.join(folder, name)) for name in sample)
        if hits > best_hits:
            best, best_hits = folder, hits
            if hits == len(sample):
                break
    return best
