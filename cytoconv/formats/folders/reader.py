"""Class folders: one folder per class, the folder's name is the class name (spaces allowed).

Layouts read: ``ROOT/<class>/<image>`` (images may sit deeper inside a class folder) and, when every folder at
the top is a split name (train, val, valid, validation, test), ``ROOT/<split>/<class>/<image>`` as
ultralytics' and torchvision's classifiers expect. Class ids are 1..N in sorted name order, the order
torchvision's ``ImageFolder`` gives its indices 0..N-1; ``--names`` sets another order.

Files are taken as images by their content (the first bytes), not by their names: hidden files and
``.DS_Store`` are junk by name, and a ``notes.txt`` or a ``.jpg`` that is not an image is skipped and reported.
Each image becomes an ``ImageRecord`` with ``label`` = its class id and no instances; sizes come from headers.

Writing copies the images (``--link``: hard links) into ``DEST/[<split>/]<class>/<file name>``, from
``image_root/file_name`` of the dataset; images without a label cannot be placed and are a ``no-label`` problem.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from cytoconv.engine.atomic import atomic_dir
from cytoconv.engine.contract import ReadOptions, ReadPlan, WriteOptions
from cytoconv.engine.files import (
    JUNK_DIRS,
    folder_name,
    folder_names,
    image_size,
    is_image_name,
    is_junk,
    safe_relative,
    sniff_image,
    walk_files,
)
from cytoconv.errors import FormatError, Report, SkipUnit
from cytoconv.formats import CONTENT, GUESS, REFUSED, Evidence
from cytoconv.formats.masks.maskio import MASK_DIRS, MASK_SUFFIXES
from cytoconv.ir import Category, ImageRecord

SPLIT_NAMES = frozenset({"train", "val", "valid", "validation", "test"})
LABEL_SUFFIXES = (".txt", ".json", ".xml", ".csv")  # files that would be labels beside (or instead of) images
SAMPLED = 20  # would-be class folders that detection looks into
# Folders that make a dataset some other format (YOLO, VOC, masks), not a class-folder set.
NOT_CLASSES = frozenset(
    {
        "labels",
        "annotations",
        "images",
        "jpegimages",
        "masks",
        "imagesets",
        "segmentationclass",
        "segmentationobject",
    }
)


class FolderUnit(NamedTuple):
    """One image of a class folder: its path, its name in the dataset, its split, and the label (category id)
    its folder gives."""

    path: str
    file_name: str
    split: str | None
    label: int


# ---------------------------------------------------------------------------------------------
# Reading


def _subdirs(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return sorted(
            (e for e in entries if e.is_dir() and not e.name.startswith(".") and e.name not in JUNK_DIRS),
            key=lambda e: e.name,
        )


def _has_image_files(folder: str, limit: int = 20) -> bool:
    with os.scandir(folder) as entries:
        for k, entry in enumerate(entries):
            if k >= limit:
                return False
            if entry.is_file() and not is_junk(entry.name) and is_image_name(entry.name):
                return True
    return False


def _is_split_layout(subdirs: list[os.DirEntry[str]]) -> bool:
    return (
        bool(subdirs)
        and all(d.name.lower() in SPLIT_NAMES for d in subdirs)
        and any(_subdirs(Path(d.path)) for d in subdirs)
    )


def detect(path: Path) -> Evidence | None:
    """A folder of class folders of images (maybe under split folders): ``CONTENT`` when every split holds the
    same class folders (the layout classifiers are trained from), ``GUESS`` for plain ``<class>/<image>``
    (folder names alone say they are classes). None when another format's folders or annotation files show
    it is not; ``REFUSED`` with what was seen when the folders hold labels (``_labels_seen``): a folder that
    is no known format is not taken for class folders."""
    if not path.is_dir():
        return None
    top = [p for p in path.iterdir() if not p.name.startswith(".")]
    if any(p.is_dir() and p.name.lower() in NOT_CLASSES for p in top):
        return None
    if any(p.is_file() and p.suffix.lower() in (".json", ".xml", ".yaml", ".yml") for p in top):
        return None
    subdirs = _subdirs(path)
    if any(
        _has_annotation_files(d.path) for d in subdirs[:20]
    ):  # e.g. Roboflow's <split>/_annotations.coco.json
        return None
    split = _is_split_layout(subdirs)
    splits = subdirs
    if split:
        subdirs = [c for d in subdirs for c in _subdirs(Path(d.path))]
    labels = _labels_seen(subdirs, split)
    if labels is not None:
        return Evidence(REFUSED, labels)
    classes = [d for d in subdirs[:SAMPLED] if _has_image_files(d.path)]
    masks = _masks_seen(
        classes, split
    )  # only folders read as classes: a VOC root's SegmentationClass/ is not
    if masks is not None:
        return Evidence(REFUSED, masks)
    if not classes:
        inner = _wrapper(path)  # a download unzipped with its licence: LICENSE.txt + <name>/<class>/<image>
        found = detect(inner) if inner is not None else None
        return Evidence(found.strength, f"{inner.name}/: {found.reason}") if found and inner else found
    if split:
        sets = [frozenset(c.name for c in _subdirs(Path(d.path))) for d in splits]
        if len(sets) > 1 and all(names == sets[0] for names in sets):
            shown = ", ".join(f"{d.name}/" for d in splits)
            return Evidence(CONTENT, f"{shown} hold the same {len(sets[0])} class folders of images")
    shown = ", ".join(f"{c.name}/" for c in classes[:3]) + (", ..." if len(classes) > 3 else "")
    return Evidence(GUESS, f"folders of images read as classes ({shown})")


def _wrapper(path: Path) -> Path | None:
    """The one folder ``path`` holds, beside files that are no images (``LICENSE.txt``, ``README.md``): the
    folder a download unzips into, read as the dataset (class folders one level down)."""
    subdirs = _subdirs(path)
    if len(subdirs) != 1 or _has_image_files(str(path)):
        return None
    return Path(subdirs[0].path)


def _labels_seen(folders: list[os.DirEntry[str]], split: bool) -> str | None:
    """Why these would-be class folders hold labels rather than classes, or None. Seen in the first
    ``SAMPLED`` folders, by names only (a listing, no file opened but one label file):

    - a label-like file (``LABEL_SUFFIXES``) with the stem of an image beside it (``1.jpg`` + ``1.txt``);
    - two images with one stem (``001.bmp`` + ``001.png``: an image and its mask);
    - a folder of label-like files and no image beside folders of images (the Chula RBC-12 download:
      ``Dataset/*.jpg`` + ``Label/*.txt``; CVAT's and YOLO's ``images/`` + ``labels/``);
    - a ``.txt`` of ``x y class`` lines beside images, whatever its stem (points-txt labels).

    Stray notes (``README.txt`` beside the images of a class) pair with nothing and are no evidence."""
    label_only: list[tuple[str, str, list[str]]] = []
    with_images: list[str] = []
    for folder in folders[:SAMPLED]:
        try:
            names = sorted(n for n in os.listdir(folder.path) if not is_junk(n))
        except OSError:
            continue
        where = (Path(folder.path).parent.name + "/" if split else "") + folder.name
        images: dict[str, str] = {}
        for name in names:
            if is_image_name(name):
                stem = os.path.splitext(name)[0]
                if stem in images:
                    return (
                        f"{where}/ holds {images[stem]} and {name}: an image and its mask, not a class folder"
                    )
                images[stem] = name
        labels = [n for n in names if n.lower().endswith(LABEL_SUFFIXES)]
        for name in labels:
            partner = images.get(os.path.splitext(name)[0])
            if partner is not None:
                return (
                    f"{where}/{name} beside {where}/{partner}: label files beside their images, not a class"
                )
        if images:
            points = next(
                (n for n in labels if n.lower().endswith(".txt") and _is_points(folder.path, n)), None
            )
            if points is not None:
                return f"{where}/{points} holds x y class lines (points-txt): label files, not a class folder"
            with_images.append(where)
        elif labels:
            label_only.append((where, folder.path, labels))
    if label_only and with_images:
        where, path, labels = label_only[0]
        suffixes = "/".join(sorted({os.path.splitext(n)[1].lower() for n in labels}))
        kind = _label_kind(os.path.join(path, labels[0]))
        return (
            f"{where}/ holds {len(labels)} {suffixes} file(s) and no image, beside the images of "
            f"{with_images[0]}/: {kind}, not class folders"
        )
    return None


def _is_points(folder: str, name: str) -> bool:
    """Whether a text file beside the images of a would-be class folder holds ``x y class`` lines (a points
    label file, whatever its stem), by a peek at its first lines."""
    from cytoconv.formats.points_txt.syntax import peek

    return peek(os.path.join(folder, name)) is True


def _masks_seen(folders: list[os.DirEntry[str]], split: bool) -> str | None:
    """Why these would-be class folders hold segmentation masks rather than a class, or None; by names only,
    in the first ``SAMPLED`` folders: a folder of images named like a mask folder inside (``masks/``,
    ``labels/``, ... ``MASK_DIRS``: the Cellpose/Omnipose download's ``test_files/masks/``), or an image named
    like a mask (``x_cp_masks.tif``, ``x_mask.png``: ``MASK_SUFFIXES``). A ``labels/`` of .txt files is no mask
    folder (YOLO's and others' refusals say what it is). Read as classes, each mask would become an image of the class and
    every object in it would be lost, so the folder that holds the masks is named for the user to give."""
    mask_dirs = {name.lower() for name in MASK_DIRS}
    for folder in folders[:SAMPLED]:
        where = (Path(folder.path).parent.name + "/" if split else "") + folder.name
        try:
            with os.scandir(folder.path) as scan:
                entries = sorted((e for e in scan if not is_junk(e.name)), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir() and entry.name.lower() in mask_dirs and _has_image_files(entry.path):
                return f"{where}/{entry.name}/ is a mask folder: {where}/ holds masks, not a class; give that folder"
            stem = os.path.splitext(entry.name)[0]
            if is_image_name(entry.name) and any(stem.endswith(x) and stem != x for x in MASK_SUFFIXES):
                return f"{where}/{entry.name} is named like a mask: {where}/ holds masks, not a class; give that folder"
    return None


def _label_kind(path: str) -> str:
    """What one label file looks like, for the refusal: points (``x y class`` per line, Chula RBC-12: the
    points-txt format, by its own peek), or something else."""
    from cytoconv.formats.points_txt.syntax import peek

    return "point labels (x y class per line: points-txt)" if peek(path) else "labels"


def _has_annotation_files(folder: str) -> bool:
    with os.scandir(folder) as entries:
        return any(e.name.lower().endswith((".json", ".xml")) and e.is_file() for e in entries)


def _loose_files(folder: str, outside: list[str], junk: list[str]) -> None:
    """Files beside the class folders (not in any), and hidden entries there, sorted into the two lists."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_junk(entry.name) or (entry.is_dir() and entry.name in JUNK_DIRS):
                junk.append(entry.path + ("/" if entry.is_dir() else ""))
            elif entry.is_file():
                outside.append(entry.path)


def _class_folders(root: Path, report: Report, junk: list[str]) -> list[tuple[str | None, str, str]]:
    """``(split, class name, folder)`` for every class folder, in sorted order."""
    top = _subdirs(root)
    out: list[tuple[str | None, str, str]] = []
    outside: list[str] = []
    if _is_split_layout(top):
        for split_dir in top:
            out.extend((split_dir.name, d.name, d.path) for d in _subdirs(Path(split_dir.path)))
            _loose_files(split_dir.path, outside, junk)
    else:
        out.extend((None, d.name, d.path) for d in top)
    _loose_files(str(root), outside, junk)
    for item in sorted(outside):
        report.notice("outside-class-folder", f"{item}: not inside a class folder; skipped")
    return out


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """Walk the class folders and keep the files whose first bytes say they are images."""
    if not path.is_dir():
        raise FormatError(path, "expected a folder of class folders", code="missing")
    root = path.resolve()
    junk: list[str] = []
    inner = _wrapper(root)
    if inner is not None and not any(_has_image_files(d.path) for d in _subdirs(root)):
        outside: list[str] = []
        _loose_files(str(root), outside, junk)  # the licence beside the one folder: said, then skipped
        for item in sorted(outside):
            report.notice("outside-class-folder", f"{item}: not inside a class folder; skipped")
        root = inner
    top = _subdirs(root)
    by_split = _is_split_layout(top)
    seen = _labels_seen([c for d in top for c in _subdirs(Path(d.path))] if by_split else top, by_split)
    if seen is not None:  # --from folders too: labels are not classes (Chula RBC-12: Dataset/ + Label/)
        raise FormatError(path, seen, code="usage")
    folders = _class_folders(root, report, junk)
    names = list(options.names) if options.names is not None else sorted({name for _, name, _ in folders})
    if len(set(names)) != len(names):
        raise FormatError(path, "a class name is listed twice in --names", code="duplicate-class-name")
    ids = {name: i + 1 for i, name in enumerate(names)}
    units: list[FolderUnit] = []
    base_len = len(str(root)) + 1
    for split, name, folder in folders:
        label = ids.get(name)
        if label is None:
            report.problem(
                FormatError(folder, f"class folder {name!r} is not among --names", code="unknown-class")
            )
            continue
        found = 0
        for f in walk_files(Path(folder), junk):
            if sniff_image(f) is None:
                report.notice("not-an-image", f"{f}: not an image by its content; skipped")
                continue
            units.append(FolderUnit(f, f[base_len:].replace(os.sep, "/"), split, label))
            found += 1
        if not found:
            report.notice("empty-class", f"{folder}: a class folder without images")
    for item in sorted(set(junk)):
        report.notice("junk-skipped", item)
    if not folders:
        raise FormatError(path, "no class folders found", code="missing")
    categories = [Category.trusted(id=i + 1, name=n, supercategory=None) for i, n in enumerate(names)]
    return ReadPlan(categories=categories, units=units, image_root=str(root), info={"source": str(path)})


def load(unit: FolderUnit, options: ReadOptions, report: Report) -> ImageRecord:
    """The unit's record: the image's size, its folder's label, no objects; an unreadable image is reported
    and the unit skipped."""
    try:
        width, height = image_size(unit.path, options.apply_exif_orientation)
    except FormatError as error:
        report.problem(error)
        raise SkipUnit(str(error)) from None
    return ImageRecord.trusted(
        file_name=unit.file_name,
        width=width,
        height=height,
        split=unit.split,
        label=unit.label,
        instances=[],
        attributes={},
    )


# ---------------------------------------------------------------------------------------------
# Writing


def _inner_name(file_name: str, split: str | None, folder: str, class_name: str) -> str:
    """The file's name inside its class folder: the path below ``[split/]<class>/`` when the file name has that
    shape (class folders read back), else the bare file name."""
    parts = file_name.split("/")
    if split is not None and len(parts) > 1 and parts[0] == split:
        parts = parts[1:]
    if len(parts) > 1 and parts[0] in (class_name, folder):
        return "/".join(parts[1:])
    return parts[-1]


class FoldersWriter:
    """Copies or hard-links every labelled image into ``DEST/[<split>/]<class>/``."""

    def __init__(
        self,
        dest: Path,
        categories: list[Category],
        image_root: str | None,
        options: WriteOptions,
        report: Report,
    ) -> None:
        self.dest = dest
        self.options = options
        self.image_root = image_root
        self.set_categories(categories, report)
        self.tmp: Path | None = None

    def set_categories(self, categories: list[Category], report: Report | None = None) -> None:
        """The class names and the safe, distinct folder names made from them; ``report`` hears of names that
        had to change."""
        self.names = {c.id: c.name for c in categories}
        self.folders = folder_names(categories, report if report is not None else Report())

    def encode(self, record: ImageRecord, index: int, report: Report) -> str | None:
        """Copy (or hard-link) one labelled image into ``[split/]class/``, in a worker; returns its relative
        path, or None when the image is skipped."""
        if record.label is None:
            report.problem(
                FormatError(
                    record.file_name,
                    "no image-level label, so no class folder to put it in "
                    "(to cut objects into class folders, use `cytoconv crop`)",
                    code="no-label",
                )
            )
            return None
        if self.image_root is None:
            raise FormatError(
                record.file_name,
                "the dataset does not say where its images are (give --images)",
                code="label-without-image",
            )
        folder = self.folders.get(record.label) or folder_name(f"class_{record.label - 1}", report)
        name = self.names.get(record.label, folder)
        inner = safe_relative(_inner_name(record.file_name, record.split, folder, name), record.file_name)
        split = [safe_relative(record.split, record.split)] if record.split else []
        rel = "/".join([*split, folder, inner])
        source = os.path.join(self.image_root, safe_relative(record.file_name, record.file_name))
        assert self.tmp is not None
        target = self.tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._place(source, target, report)
        except FileExistsError:
            raise FormatError(rel, "two images would get this name", code="name-collision") from None
        except OSError as exc:
            problem = FormatError(
                source, f"cannot copy the image: {exc.strerror or exc}", code="label-without-image"
            )
            report.problem(problem)
            return None
        return rel

    def _place(self, source: str, target: Path, report: Report) -> None:
        if self.options.link:
            try:
                os.link(os.path.realpath(source), target)  # the file, never a symlink to it
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                    raise
                report.notice(
                    "link-copied", f"{source}: cannot hard-link here ({exc.strerror}); copied instead"
                )
        if os.path.lexists(target):
            raise FileExistsError(target)
        shutil.copyfile(source, target)

    @contextmanager
    def sink(self) -> Iterator[Callable[[Any], None]]:
        """The output built in a temporary folder and moved into place at the end, refusing two images that
        get the same name."""
        seen: set[str] = set()

        def accept(rel: str | None) -> None:
            """Refuse a path an earlier image already took (workers cannot see each other's names); None, a
            skipped image, is ignored."""
            if rel is None:
                return
            if rel in seen:
                raise FormatError(rel, "two images would get this name", code="name-collision")
            seen.add(rel)

        with atomic_dir(self.dest, self.options.overwrite) as tmp:
            self.tmp = tmp
            yield accept


def writer(
    dest: Path, categories: list[Category], image_root: str | None, options: WriteOptions, report: Report
) -> FoldersWriter:
    """The format's ``WriterFactory``: each labelled image copied (or hard-linked) into its class folder."""
    return FoldersWriter(dest, categories, image_root, options, report)
