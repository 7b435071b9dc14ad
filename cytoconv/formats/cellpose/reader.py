"""Cellpose GUI ``<stem>_seg.npy``: one pickled dict per image, read without running its pickle.

The GUI saves ``np.save(base + "_seg.npy", dat)``, ``dat`` a dict holding ``masks`` (the label image: 0 is
background, each object its own id), ``outlines``, ``colors``, ``ismanual`` (one flag per object, in id order),
``filename`` (the image's path when it was saved) and GUI state (``flows``, ``chan_choose``, ``diameter``,
``normalize_params``...). ``syntax.py`` reads it with a restricted unpickler: a file whose pickle asks for
anything but numpy arrays and plain containers is ``unreadable``, and nothing in it runs.

Decisions:

- Objects are the non-zero label ids of ``masks``, traced exactly as instance label images are (the same
  function, ``masks.instance``): one exact pixel-edge polygon per id (an RLE with ``--segmentation rle``), in id
  order. ``outlines`` and ``colors`` are derived from ``masks`` and not read; the GUI state is not kept.
- ``ismanual`` becomes the boolean attribute ``ismanual`` of each object when it has one flag per id (or one
  per id up to the largest, for sparse ids); otherwise it is not used and counted (``attribute-dropped``).
- One class, ``cell`` (or the first ``--names``): the file holds no classes.
- The image is ``<stem>.<ext>`` beside the file (or below ``--images``, by the file's relative stem), else the
  image named by ``filename`` (by its base name, in the same places); its size must be the mask's
  (``size-mismatch``). Without an image the mask's shape is the size and the name is ``filename``'s base name
  (or ``<stem>.png``, counted as ``filename-guessed``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cytoconv.engine.contract import ReadOptions, ReadPlan
from cytoconv.engine.files import is_image_name, walk_files
from cytoconv.errors import FormatError, Report, SkipUnit
from cytoconv.formats import CONTENT, GUESS, LAYOUT, Evidence
from cytoconv.formats.cellpose.syntax import SUFFIX, SegError, parse_seg
from cytoconv.formats.cellpose.writer import writer
from cytoconv.formats.masks.instance import LabelUnit, _objects
from cytoconv.formats.masks.semantic import checked_size
from cytoconv.ir import Category, ImageRecord

__all__ = ["detect", "load", "plan", "writer"]

DEFAULT_NAME = "cell"
DETECT_LISTING = 2000  # names looked at by detect: a listing, never a file's content


@dataclass(frozen=True)
class SegUnit:
    """One ``_seg.npy`` to read: its path, its stem relative to the folder read (``sub/x`` for
    ``sub/x_seg.npy``), and the folders its image may be in, in order."""

    npy: str
    rel_stem: str
    image_dirs: tuple[str, ...]
    image_root: str


def is_seg_name(name: str) -> bool:
    """Whether a file name is a Cellpose GUI save (``<stem>_seg.npy``, the stem not empty)."""
    return name.endswith(SUFFIX) and len(name) > len(SUFFIX) and not name.startswith(".")


def detect(path: Path) -> Evidence | None:
    """``LAYOUT`` for a folder holding ``*_seg.npy`` files (the GUI saves them beside the images), ``CONTENT``
    for one such file given alone; by name only, so that detection stays a listing."""
    if path.is_file():
        return Evidence(CONTENT, f"{path.name}: a Cellpose _seg.npy") if is_seg_name(path.name) else None
    if not path.is_dir():
        return None
    seg: str | None = None
    masks = False
    try:
        with os.scandir(path) as entries:
            for k, entry in enumerate(entries):
                if k >= DETECT_LISTING:
                    break
                if seg is None and is_seg_name(entry.name) and entry.is_file():
                    seg = entry.name
                masks = masks or "_cp_masks" in entry.name
    except OSError:
        return None
    if seg is None:
        return None
    if masks:  # Cellpose's --save_png output: its label images are the dataset (instance-masks), as before
        return Evidence(
            GUESS, f"{seg}: *_seg.npy beside *_cp_masks images (give --from cellpose for the .npy)"
        )
    return Evidence(LAYOUT, f"{seg}: Cellpose GUI *_seg.npy files")


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """Every ``*_seg.npy`` below the folder (or the one file given), in sorted order; one class."""
    if not path.exists():
        raise FormatError(path, "no such file or folder", code="missing")
    path = path.resolve()
    junk: list[str] = []
    if path.is_file():
        root, files = path.parent, [str(path)]
    else:
        root = path
        files = [f for f in walk_files(path, junk) if is_seg_name(os.path.basename(f))]
    for item in sorted(set(junk)):
        report.notice("junk-skipped", item)
    if not files:
        raise FormatError(path, "no Cellpose *_seg.npy file found", code="missing")
    images = options.images.resolve() if options.images is not None else None
    image_root = str(images) if images is not None else str(root)
    units = []
    for f in files:
        rel = os.path.relpath(f, root).replace(os.sep, "/")[: -len(SUFFIX)]
        beside = os.path.dirname(f)
        dirs = (
            (os.path.join(str(images), os.path.dirname(rel)), str(images), beside)
            if images is not None
            else (beside,)
        )
        units.append(SegUnit(f, rel, tuple(dict.fromkeys(os.path.normpath(d) for d in dirs)), image_root))
    name = options.names[0] if options.names else DEFAULT_NAME
    return ReadPlan(
        categories=[Category.trusted(id=1, name=name, supercategory=None)], units=units, image_root=image_root
    )


def _find_image(unit: SegUnit, hint: str | None) -> str | None:
    """The image of a ``_seg.npy``: ``<stem>.<ext>`` in the unit's folders, else ``filename``'s base name."""
    stem = os.path.basename(unit.rel_stem)
    hinted = os.path.basename(hint.replace("\\", "/")) if hint else None
    for folder in unit.image_dirs:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            if is_image_name(name) and os.path.splitext(name)[0] == stem:
                return os.path.join(folder, name)
        if hinted and hinted in names and is_image_name(hinted):
            return os.path.join(folder, hinted)
    return None


def load(unit: SegUnit, options: ReadOptions, report: Report) -> ImageRecord:
    """One ``_seg.npy`` to a record: its label ids traced, ``ismanual`` kept per object."""
    try:
        with open(unit.npy, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        report.problem(FormatError(unit.npy, f"cannot read: {exc.strerror or exc}", code="unreadable"))
        raise SkipUnit(unit.npy) from None
    try:
        seg = parse_seg(data)
    except SegError as error:
        report.problem(FormatError(unit.npy, error.message, code=error.code))
        raise SkipUnit(unit.npy) from None
    image = _find_image(unit, seg.filename)
    height, width = seg.masks.shape
    if image is not None:
        try:
            checked_size(unit.npy, seg.masks.shape, image, options)
        except FormatError as error:
            report.problem(error)
            raise SkipUnit(unit.npy) from None
        file_name = os.path.relpath(image, unit.image_root).replace(os.sep, "/")
    else:
        folder = os.path.dirname(unit.rel_stem)
        if seg.filename:
            base = os.path.basename(seg.filename.replace("\\", "/"))
        else:
            base = os.path.basename(unit.rel_stem) + ".png"
            report.notice("filename-guessed", f"{unit.npy}: no 'filename' and no image: named {base}")
        file_name = f"{folder}/{base}" if folder else base
    record = ImageRecord.trusted(
        file_name=file_name, width=width, height=height, split=None, label=None, instances=[], attributes={}
    )
    found = _objects(seg.masks, unit.npy, LabelUnit(unit.npy, image, file_name), options, report)
    flags = _manual_flags(seg.ismanual, [label for label, _ in found], int(seg.masks.max(initial=0)))
    if seg.ismanual is not None and flags is None and found:
        report.notice(
            "attribute-dropped",
            f"{unit.npy}: 'ismanual' has {len(seg.ismanual)} flags for {len(found)} objects: not kept",
        )
    for k, (_, inst) in enumerate(found):
        if flags is not None:
            inst.attributes["ismanual"] = flags[k]
        record.instances.append(inst)
    return record


def _manual_flags(flags: list[bool] | None, labels: list[int], top: int) -> list[bool] | None:
    """Each object's ``ismanual`` flag: element k is the k-th id in order (the GUI numbers ids 1..N), or, for
    sparse ids, the id's own place (id - 1) when there is one flag per id up to the largest."""
    if flags is None:
        return None
    if len(flags) == len(labels):
        return list(flags)
    if len(flags) == top and labels:
        return [flags[label - 1] for label in labels]
    return None
