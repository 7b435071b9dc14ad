"""YOLO txt: ``class cx cy w h`` box lines and ``class x1 y1 ... xn yn`` polygon lines, normalised.

Layouts understood: ``root/images/<split>/x.jpg`` + ``root/labels/<split>/x.txt`` (ultralytics),
``root/<split>/images`` + ``root/<split>/labels`` (Roboflow), a bare ``labels`` folder with ``images``
beside it, or a ``data.yaml``. Class ids are 0-based indices into ``names``; inside cytoconv a
category's id is its index + 1 (as COCO numbers them), and the writer compacts ids back to indices.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cytoconv.engine.classlists import NAME_FILES, YAML_NAMES, read_list, read_yaml, yaml_list_in
from cytoconv.engine.contract import ReadOptions, ReadPlan, paired_plan
from cytoconv.engine.files import IMAGE_EXTENSIONS, image_size, is_image_name, is_junk, read_bytes, walk_files
from cytoconv.errors import FormatError, Report
from cytoconv.formats.yolo.syntax import BOM, is_doc_name, is_image_list, scan, split_regular
from cytoconv.ir import Box, ImageRecord, Instance, Polygon
from cytoconv.problems.sinks import ReaderSink

SPLIT_DIRS = ("train", "val", "valid", "test")

# ---------------------------------------------------------------------------------------------
# Lines: what the reader keeps of ``syntax.scan``

# What makes a line unreadable for the reader (the validator reports these as errors too); everything else the
# scan can find is either kept and reported (duplicates) or not computed at all.
FATAL = ("CC001", "CC101", "CC102", "CC103", "CC104", "CC201", "CC202", "CC301", "CC303", "CC304")
KEPT = ("CC401",)  # duplicate lines: kept, and counted once per file


@dataclass(frozen=True)
class Line:
    """One label line the reader keeps: its number in the file, class index, and normalised numbers after the
    class."""

    number: int
    class_index: int
    values: npt.NDArray[np.float64]

    @property
    def is_box(self) -> bool:
        """Four numbers after the class are a box (centre x, y, w, h); more are a polygon."""
        return self.values.size == 4


def read_lines(
    data: bytes,
    path: str,
    report: Report,
    class_count: int | None = None,
    class_source: str | None = None,
    tolerance: float = 0.01,
) -> list[Line]:
    """The lines of a label file that the reader keeps. Problems go to ``report`` through the scan the validator
    uses (raise in strict mode; in lenient mode the line is skipped and counted by its slug)."""
    sink = ReaderSink(report, FATAL, tally=KEPT, earliest=True)
    columns = scan(data, path, sink, class_count, class_source, tolerance)
    sink.finish()
    duplicates = sink.tallied["CC401"]
    if duplicates:
        report.notice("duplicate-line", f"{path}: {duplicates} duplicate line(s) kept", count=duplicates)
    v = columns.values
    return [
        Line(number, int(v[start]), v[start + 1 : start + n])
        for number, start, n in zip(columns.numbers, columns.starts.tolist(), columns.counts.tolist())
        if number not in sink.rejected
    ]


def parse_text(
    text: str, path: str, report: Report, class_count: int | None = None, tolerance: float = 0.01
) -> list[Line]:
    """``read_lines`` for text already decoded."""
    return read_lines(text.encode("utf-8"), path, report, class_count, "the class names", tolerance)


def parse_line(text: str, number: int = 1, path: str = "<line>") -> Line | None:
    """One label line as line ``number`` of a file (``None`` for a blank one); ``FormatError`` if malformed."""
    lines = read_lines(("\n" * (number - 1) + text).encode("utf-8"), path, Report(strict=True))
    return lines[0] if lines else None


def to_instance(line: Line, width: int, height: int, category_id: int) -> Instance:
    """Denormalise one line into the corner model, in pixels."""
    v = line.values
    if line.is_box:
        ncx, ncy, nw, nh = v.tolist()  # plain floats: indexing a numpy array costs more than the arithmetic
        cx, cy, w, h = ncx * width, ncy * height, nw * width, nh * height
        geometry: Box | Polygon = Box.trusted(kind="box", x=cx - w / 2, y=cy - h / 2, w=w, h=h)
    else:
        ring = v.reshape(-1, 2) * np.array([width, height], dtype=np.float64)
        geometry = Polygon.trusted(rings=[ring], holes=[False], kind="polygon")
    return Instance.trusted(
        category_id=category_id, geometry=geometry, iscrowd=False, score=None, attributes={}
    )


def format_values(values: npt.NDArray[np.float64], precision: int) -> str:
    """Numbers with at most ``precision`` decimals, shortest form (``0.5``, ``0.1234567``, ``1e-07``)."""
    import orjson

    text = orjson.dumps(np.round(values, precision), option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return text[1:-1].replace(",", " ")


def format_line(class_index: int, values: npt.NDArray[np.float64], precision: int = 7) -> str:
    """One label line as the writer writes it: the class index, then the numbers with ``precision`` digits."""
    return f"{class_index} {format_values(values, precision)}"


# ---------------------------------------------------------------------------------------------
# Finding the dataset


@dataclass(frozen=True)
class Unit:
    """One image to read: its label file (None: no objects), image file (None: size given)."""

    label: str | None
    image: str | None
    file_name: str
    split: str | None
    class_count: int | None
    class_source: str | None = None  # where the class names come from, for messages


def _load_yaml(path: Path) -> dict[str, Any]:
    """A data.yaml as a mapping; anything else is a bad class list."""
    data, problem = read_yaml(path)
    if problem is not None:
        raise FormatError(path, problem.message, line=problem.line, code="bad-class-list")
    if not isinstance(data, dict):
        raise FormatError(path, "expected a mapping with 'names'", code="bad-class-list")
    return data


def names_from_file(path: Path) -> list[str] | None:
    """The class names of a data.yaml or a classes.txt (``None``: a YAML without ``names``); a list that cannot
    be read is an error that names the file."""
    names, problem = read_list(path)
    if problem is not None:
        raise FormatError(path, problem.message, line=problem.line, code="bad-class-list")
    return names


def _find_yaml(root: Path) -> Path | None:
    return yaml_list_in(root)


def _find_names_txt(root: Path, label_dirs: list[Path]) -> Path | None:
    for folder in [root, *(d for ld in label_dirs for d in (ld, ld.parent))]:
        for name in NAME_FILES:
            if (folder / name).is_file():
                return folder / name
    for ld in label_dirs:
        for name in NAME_FILES:
            found = sorted(ld.rglob(name))
            if found:
                return found[0]
    return None


def _resolve_names(
    root: Path, yaml_path: Path | None, label_dirs: list[Path], options: ReadOptions, report: Report
) -> tuple[list[str] | None, str | None]:
    """The class names and where they come from (for messages): --names, else data.yaml, else classes.txt."""
    if options.names is not None:
        return list(options.names), "--names"
    from_yaml = names_from_file(yaml_path) if yaml_path else None
    txt = _find_names_txt(root, label_dirs)
    from_txt = names_from_file(txt) if txt else None
    if from_yaml is not None and from_txt is not None and from_yaml != from_txt:
        report.notice(
            "names-disagree", f"{txt} lists {from_txt}, {yaml_path} lists {from_yaml}; using {yaml_path}"
        )
    if from_yaml is not None:
        return from_yaml, str(yaml_path)
    return from_txt, str(txt) if txt else None


def _label_dirs(root: Path, junk: list[str]) -> list[Path]:
    """Every ``labels`` folder below ``root``; junk met on the way (``__MACOSX``, ``.DS_Store``) is noted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        junk.extend(os.path.join(dirpath, d) + "/" for d in dirnames if d == "__MACOSX" or d.startswith("."))
        junk.extend(os.path.join(dirpath, f) for f in filenames if is_junk(f))
        dirnames[:] = sorted(d for d in dirnames if d != "__MACOSX" and not d.startswith("."))
        if Path(dirpath).name == "labels":
            found.append(Path(dirpath))
            dirnames[:] = []
    return found


def _image_dir_for(label_dir: Path) -> Path:
    return label_dir.with_name("images")


def _split_of(rel_dir: Path) -> str | None:
    parts = [p for p in rel_dir.parts if p not in ("labels", "images")]
    return "/".join(parts) or None


def _darknet_root(path: Path) -> bool:
    """Darknet / CVAT "YOLO 1.1": ``obj.data`` (or ``obj.names`` with ``obj_<subset>_data/``) at the top."""
    return (path / "obj.data").is_file() or ((path / "obj.names").is_file() and any(path.glob("obj_*_data")))


def detect(path: Path) -> Any:
    """How strongly ``path`` reads as YOLO (``cytoconv.formats.Evidence``): a data.yaml, ``labels/`` (beside
    ``images/``, or under each split as Roboflow writes it) or a Darknet ``obj.data`` are layouts YOLO tools
    write; loose .txt files are only a guess (YOLO has no marker); a lone README or LICENSE .txt is nothing.
    ``labels/`` or Roboflow's ``<split>/labels/`` of ``x y class`` lines, with no data.yaml, are points (points-txt),
    refused here: YOLO would fail on them line by line."""
    from cytoconv.formats import GUESS, LAYOUT, REFUSED, Evidence
    from cytoconv.formats.points_txt.syntax import in_yolo_dataset, peek, peek_folder

    if path.is_file():
        if path.suffix in (".yaml", ".yml"):
            return Evidence(LAYOUT, f"{path.name}, a data.yaml")
        if path.name == "obj.data":
            return Evidence(LAYOUT, "a Darknet obj.data")
        if path.suffix == ".txt" and not is_doc_name(path.name):
            if peek(str(path)) and not in_yolo_dataset(str(path.parent)):  # x y class: points-txt's
                return Evidence(REFUSED, f"{path.name} holds x y class lines (points), not YOLO lines")
            return Evidence(GUESS, "a .txt file")
        return None
    if not path.is_dir():
        return None
    found = next((n for n in YAML_NAMES if (path / n).is_file()), None)
    if found is not None:
        return Evidence(LAYOUT, f"{found}")
    if _darknet_root(path):
        return Evidence(LAYOUT, "Darknet obj.data / obj.names with obj_<subset>_data/")
    if (path / "labels").is_dir() or path.name == "labels":
        label_dir = path if path.name == "labels" else path / "labels"
        if peek_folder(str(label_dir)) and not in_yolo_dataset(str(label_dir)):
            return Evidence(REFUSED, "labels/ holds x y class lines (points), not YOLO lines")
        return Evidence(
            LAYOUT, "labels/ beside images/" if (path / "images").is_dir() else "a labels/ folder"
        )
    nested = sorted(p for p in path.glob("*/labels") if p.is_dir())
    if nested:
        shapes = [peek_folder(str(folder)) for folder in nested]
        if True in shapes and False not in shapes and not in_yolo_dataset(str(nested[0])):
            where = ", ".join(f"{folder.parent.name}/labels/" for folder in nested)
            return Evidence(REFUSED, f"{where} hold x y class lines (points), not YOLO lines")
        return Evidence(LAYOUT, f"{nested[0].parent.name}/labels/ (Roboflow's <split>/labels/)")
    loose = sorted(
        p
        for p in path.iterdir()
        if p.suffix == ".txt" and not is_junk(p.name) and p.name not in NAME_FILES and not is_doc_name(p.name)
    )
    labels = [p.name for p in loose[:3] if _looks_like_label(p)]
    return Evidence(GUESS, f"loose .txt files of label lines ({labels[0]}, ...)") if labels else None


def _looks_like_label(path: Path) -> bool:
    """A peek at a loose .txt: empty (an image with no objects) or a first line of numbers, a class and at
    least four coordinates; notes and image lists are not labels."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return False
    tokens = head.lstrip(BOM).split(b"\n", 1)[0].split()
    if not tokens:
        return not head.strip()
    try:
        [float(t) for t in tokens[:5]]
    except ValueError:
        return False
    return len(tokens) >= 5


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """Pair label files with images by stem and collect class names; nothing is parsed yet."""
    path = path.resolve() if path.exists() else path
    if not path.exists():
        raise FormatError(path, "no such file or folder", code="missing")
    yaml_path: Path | None = None
    if path.is_file() and path.suffix in (".yaml", ".yml"):
        yaml_path, root = path, path.parent
        data = _load_yaml(path)
        if isinstance(data.get("path"), str) and (root / data["path"]).is_dir():
            root = (root / data["path"]).resolve()
    elif path.is_file() and path.name == "obj.data":
        return _darknet_plan(path.parent, options, report)
    elif path.is_file():
        raise FormatError(
            path,
            "give the labels folder, the dataset folder or its data.yaml, not one label file",
            code="usage",
        )
    else:
        root = path
    if path.is_dir() and _darknet_root(path):
        return _darknet_plan(path, options, report)
    junk: list[str] = []
    label_dirs = _label_dirs(root, junk) if root.name != "labels" else [root]
    if not label_dirs:
        label_dirs = [root]
    if root.name == "labels":
        root = root.parent
    yaml_path = yaml_path or _find_yaml(root) or (_find_yaml(root.parent) if path.name == "labels" else None)
    names, names_source = _resolve_names(root, yaml_path, label_dirs, options, report)

    skipped: list[str] = []
    labels = _find_labels(root, label_dirs, junk, skipped)
    images = _find_images(root, label_dirs, labels, options.images, junk)
    for item in sorted(set(junk)):
        report.notice("junk-skipped", item)
    for item in sorted(skipped):
        report.notice("not-a-label", f"{item}: a document or an image list, not a label file; skipped")
    image_root = (  # over the folders, not the 50,000 files: commonpath splits every path it is given
        os.path.commonpath(sorted({os.path.dirname(p) for p in images.values()}))
        if images
        else str(root / "images")
    )
    units = _pair(root, labels, images, image_root, names, names_source, options, report)
    return paired_plan(units, names, image_root, str(path), report)


# Pairing works on plain strings: at 50,000 files, pathlib objects cost seconds in the parent.


def _rel(path: str, base: str) -> str:
    """``path`` below ``base``, with forward slashes."""
    rel = path[len(base) + 1 :] if path.startswith(base + os.sep) else os.path.relpath(path, base)
    return rel.replace(os.sep, "/")


def _find_labels(
    root: Path, label_dirs: list[Path], junk: list[str], skipped: list[str]
) -> dict[str, tuple[str, str]]:
    """Label files keyed by their image's path below ``root`` without extension -> (label, label folder); a
    README or LICENSE .txt goes to ``skipped``."""
    labels: dict[str, tuple[str, str]] = {}
    for label_dir in label_dirs:
        base = str(label_dir)
        image_side = _rel(str(_image_dir_for(label_dir)), str(root)) if label_dir != root else ""
        for f in walk_files(label_dir, junk):
            name = os.path.basename(f)
            if not name.endswith(".txt") or name in NAME_FILES:
                continue
            if is_doc_name(name) or is_image_list(f):
                skipped.append(f)
                continue
            stem_rel = _rel(f, base)[:-4]
            labels[f"{image_side}/{stem_rel}" if image_side else stem_rel] = (f, base)
    return labels


def _find_images(
    root: Path,
    label_dirs: list[Path],
    labels: dict[str, tuple[str, str]],
    given: Path | None,
    junk: list[str],
) -> dict[str, str]:
    """Images keyed like the labels: beside them (``images`` for ``labels``) or, with ``--images``, by stem."""
    images: dict[str, str] = {}
    if given is not None:
        return _match_given(labels, given.resolve(), junk)
    base = str(root)
    image_dirs = {_image_dir_for(d) for d in label_dirs if d != root} or {root}
    for image_dir in sorted(image_dirs):
        if not image_dir.is_dir():
            continue
        for f in walk_files(image_dir, junk):
            key, extension = os.path.splitext(_rel(f, base))  # is_image_name, without a second splitext
            if extension.lower() in IMAGE_EXTENSIONS:
                if key in images:
                    raise FormatError(
                        f, f"two images with the same stem ({images[key]})", code="duplicate-stem"
                    )
                images[key] = f
    return images


def inside_base(folder: str, base: str) -> bool:
    """Whether ``folder`` is ``base`` or below it (plain strings: see ``_rel``)."""
    return folder == base or folder.startswith(base + os.sep)


def _match_given(labels: dict[str, tuple[str, str]], given: Path, junk: list[str]) -> dict[str, str]:
    """Images under ``--images`` matched to the labels by the longest relative path they share (without the
    extension): ``images/val/1`` finds ``val/1.jpg`` before ``1.jpg``, so one stem in two splits pairs right,
    whether ``given`` is the dataset, its ``images/`` or a flat folder. A label whose best match is two
    images is refused, naming both; images no label matches are read as images with no objects."""
    base = str(given)
    by_suffix: dict[str, list[str]] = {}
    rels: dict[str, str] = {}
    for f in walk_files(given, junk):
        if is_image_name(f):
            rel = os.path.splitext(_rel(f, base))[0]
            rels[f] = rel
            parts = rel.split("/")
            for k in range(len(parts)):
                by_suffix.setdefault("/".join(parts[k:]), []).append(f)
    images: dict[str, str] = {}
    taken: set[str] = set()
    for key, (label_file, _) in labels.items():
        parts = key.split("/")
        for k in range(len(parts)):
            found = by_suffix.get("/".join(parts[k:]), [])
            if len(found) == 1:
                images[key] = found[0]
                taken.add(found[0])
                break
            if len(found) > 1 and k == len(parts) - 1:
                raise FormatError(
                    label_file,
                    f"two images for this label under --images ({found[0]}, {found[1]})",
                    code="duplicate-stem",
                )
    for f, rel in rels.items():
        if f not in taken:
            images.setdefault(f"images/{rel}", f)
    return images


def _darknet_list(path: Path) -> list[str]:
    """The image paths a Darknet ``train.txt`` lists, one a line (``data/obj_train_data/x.jpg`` or
    ``obj_train_data/x.jpg``)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(path, f"cannot read the image list: {exc}", code="unreadable") from None
    return [line.strip().replace("\\", "/") for line in text.splitlines() if line.strip()]


def _darknet_plan(root: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """Darknet / CVAT "YOLO 1.1": names from ``obj.names`` (or what ``obj.data`` names), splits from the image
    lists ``obj.data`` names (``train = train.txt``, ``valid = valid.txt``), each label beside its image in
    ``obj_<subset>_data/``. Files there that no list names are read too, under their folder's subset, and
    counted (``not-in-split``)."""
    root = root.resolve()
    settings: dict[str, str] = {}
    data_file = root / "obj.data"
    if data_file.is_file():
        for line in data_file.read_text(encoding="utf-8-sig", errors="replace").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                settings[key.strip()] = value.split("#", 1)[0].strip()
    names_path = root / Path(settings.get("names", "obj.names")).name
    if options.names is not None:
        names: list[str] | None = list(options.names)
        names_source: str | None = "--names"
    elif names_path.is_file():
        names, names_source = names_from_file(names_path), str(names_path)
    else:
        names, names_source = None, None
    junk: list[str] = []
    units: list[Unit] = []
    listed: set[str] = set()
    class_count = len(names) if names is not None else None

    def unit(image: Path, split: str | None) -> Unit | None:
        """The unit of one listed image: its label beside it (Darknet keeps them together), or none."""
        label = image.with_suffix(".txt")
        have_image = image.is_file()
        if not have_image and options.images is not None:
            candidate = options.images / image.relative_to(root)
            candidate = candidate if candidate.is_file() else options.images / image.name
            have_image, image = candidate.is_file(), candidate
        if not have_image and options.image_size is None:
            report.problem(
                FormatError(
                    label if label.is_file() else image,
                    "image not found (give --images DIR or --image-size WxH)",
                    code="label-without-image",
                )
            )
            return None
        file_name = _rel(str(image), str(root)) if have_image and image.is_relative_to(root) else image.name
        return Unit(
            str(label) if label.is_file() else None,
            str(image) if have_image else None,
            file_name,
            split,
            class_count,
            names_source,
        )

    for split in ("train", "valid", "test"):
        list_name = settings.get(split, f"{split}.txt" if split != "test" else "")
        list_path = root / Path(list_name).name if list_name else None
        if list_path is None or not list_path.is_file():
            continue
        for entry in _darknet_list(list_path):
            parts = entry.split("/")
            while parts and not (root / "/".join(parts)).parent.is_dir() and len(parts) > 1:
                parts = parts[1:]  # data/obj_train_data/x.jpg: Darknet's own data/ folder, not in the zip
            image = root / "/".join(parts)
            if str(image) in listed:
                continue
            listed.add(str(image))
            made = unit(image, split)
            if made is not None:
                units.append(made)
    unlisted = 0
    for folder in sorted(root.glob("obj_*_data")):
        subset = folder.name[len("obj_") : -len("_data")] or None
        for f in walk_files(folder, junk):
            if is_image_name(f) and f not in listed:
                made = unit(Path(f), subset)
                if made is not None:
                    units.append(made)
                    unlisted += 1
    if unlisted:
        report.notice(
            "not-in-split",
            f"{unlisted} image(s) in obj_<subset>_data/ no image list names: read",
            count=unlisted,
        )
    for item in sorted(set(junk)):
        report.notice("junk-skipped", item)
    return paired_plan(units, names, str(root), str(root), report)


def _pair(
    root: Path,
    labels: dict[str, tuple[str, str]],
    images: dict[str, str],
    image_root: str,
    names: list[str] | None,
    names_source: str | None,
    options: ReadOptions,
    report: Report,
) -> list[Unit]:
    """One unit per image (with or without a label), and per label without an image when sizes are given."""
    units: list[Unit] = []
    base = str(root)
    splits: dict[str, str | None] = {}
    class_count = len(names) if names is not None else None
    for key in sorted(set(labels) | set(images)):
        label_entry = labels.get(key)
        image = images.get(key)
        label = label_entry[0] if label_entry else None
        if image is None:
            assert label is not None and label_entry is not None
            if options.image_size is None:
                report.problem(
                    FormatError(
                        label,
                        "label without an image (give --images DIR or --image-size WxH)",
                        code="label-without-image",
                    )
                )
                continue
            file_name = key.removeprefix("images/") + ".jpg"
            split = _split_of(Path(_rel(os.path.dirname(label), os.path.dirname(label_entry[1]))))
        else:
            file_name = _rel(image, image_root)
            folder = os.path.dirname(image)
            if folder not in splits:
                inside = folder == base or folder.startswith(base + os.sep)
                splits[folder] = _split_of(Path(_rel(folder, base))) if inside else None
            split = splits[folder]
            if label is not None and label_entry is not None and not inside_base(folder, base):
                # an image from --images, outside the dataset: the split is the label's folder below labels/
                split = _split_of(Path(_rel(os.path.dirname(label), os.path.dirname(label_entry[1]))))
        units.append(Unit(label, image, file_name, split, class_count, names_source))
    return units


def load(unit: Unit, options: ReadOptions, report: Report) -> ImageRecord:
    """Read one label file into an ``ImageRecord`` (sizes from the image header)."""
    if unit.image is not None:
        width, height = image_size(unit.image, options.apply_exif_orientation)
    else:
        assert options.image_size is not None
        width, height = options.image_size
    instances: list[Instance] = []
    if unit.label is not None:
        path = unit.label
        try:
            data = read_bytes(path)
        except OSError as exc:
            raise FormatError(path, f"cannot read: {exc.strerror or exc}", code="unreadable") from None
        # the regular files, in one pass each: boxes, then polygons; anything else line by line
        regular = _box_file(data, width, height, unit.class_count, options.coordinate_tolerance)
        if regular is None:
            regular = _polygon_file(data, width, height, unit.class_count)
        if regular is not None:
            instances = regular
        else:
            for line in read_lines(
                data, path, report, unit.class_count, unit.class_source, options.coordinate_tolerance
            ):
                instances.append(to_instance(line, width, height, line.class_index + 1))
    return ImageRecord.trusted(
        file_name=unit.file_name,
        width=width,
        height=height,
        split=unit.split,
        label=None,
        instances=instances,
        attributes={},
    )


def _box_file(
    data: bytes, width: int, height: int, names_count: int | None, tol: float
) -> list[Instance] | None:
    """A regular file of box lines only, all valid and distinct: its instances in one pass over plain floats
    (the YOLO boxes -> VOC hot path; numpy calls cost more than they save on a handful of lines). Anything
    else gives ``None``, and the line-by-line path reads the file and reports what is wrong with it."""
    if data.startswith(BOM) or b"\r" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.strip():
        return []
    if text.split("\n", 1)[0].count(" ") != 4:  # not a box line first: no second whole-file parse of polygons
        return None
    fast = split_regular(text)
    if fast is None or any(n not in (0, 5) for n in fast[2]):
        return None
    flat = fast[1].tolist()
    low, high = -tol, 1 + tol
    seen: set[tuple[float, ...]] = set()
    box, instance = Box.trusted, Instance.trusted
    out = []
    for i in range(0, len(flat), 5):
        row = tuple(flat[i : i + 5])
        c, cx, cy, nw, nh = row
        if (
            c != int(c)
            or c < 0
            or (names_count is not None and c >= names_count)
            or row in seen
            or not (low <= cx <= high and low <= cy <= high and 0 < nw <= high and 0 < nh <= high)
        ):
            return None
        seen.add(row)
        w, h = nw * width, nh * height  # the same float operations as to_instance, so the same values
        out.append(
            instance(
                category_id=int(c) + 1,
                geometry=box(kind="box", x=cx * width - w / 2, y=cy * height - h / 2, w=w, h=h),
                iscrowd=False,
                score=None,
                attributes={},
            )
        )
    return out


# The bytes a plain file of numbers is made of; anything else (a BOM, CR, a tab, a letter) is for ``scan``.
_NUMBER_BYTES = b"0123456789.eE+- \n"
_TO_COMMAS = bytes.maketrans(b" \n", b",,")


def _polygon_file(data: bytes, width: int, height: int, names_count: int | None) -> list[Instance] | None:
    """A file of polygon lines only, all regular, valid, inside [0, 1] and distinct: its instances from one
    parse of the whole file and a few checks on all its numbers at once (the YOLO polygons -> COCO hot path:
    ``scan``'s per-check passes and per-line objects cost more than the parse). Anything else gives ``None``
    and ``scan`` reads the file, reporting what is wrong with it; a file read here has nothing to report.

    The numbers are the ones ``scan`` gets (the same orjson parse of the same text, see ``syntax.numbers``);
    a ``-0`` anywhere (``-0`` as an integer would lose its sign, and negative numbers are out of range
    anyway) and a blank line inside the file (two separators in a row: JSON refuses it) go to ``scan``."""
    if not data.isascii() or data.translate(None, _NUMBER_BYTES) or (b"-" in data and b"-0" in data):
        return None
    body = data.strip(b"\n")
    if not body:
        return None
    import orjson

    try:
        parsed = orjson.loads(b"[" + body.translate(_TO_COMMAS) + b"]")
    except ValueError:  # a double space, a space at a line's end, ".5", "1.": irregular
        return None
    values = np.array(parsed, dtype=np.float64)
    counts = [line.count(b" ") + 1 for line in body.split(b"\n")]
    if any(n < 7 or not n % 2 for n in counts):  # a box line, or a shape scan reports
        return None
    starts = np.cumsum([0, *counts[:-1]])
    classes = values[starts]
    ids = classes.astype(np.int64)
    coordinates = values.copy()
    coordinates[starts] = 0.0
    if not (
        np.array_equal(ids, classes)
        and ids.min() >= 0
        and (names_count is None or ids.max() < names_count)
        and coordinates.min() >= 0.0  # NaN fails both comparisons
        and coordinates.max() <= 1.0
    ):
        return None
    begins = starts.tolist()
    if len({values[s : s + n].tobytes() for s, n in zip(begins, counts)}) != len(counts):  # duplicates
        return None
    scale = np.array([width, height], dtype=np.float64)
    polygon, instance = Polygon.trusted, Instance.trusted
    return [
        instance(
            category_id=category + 1,
            geometry=polygon(
                rings=[values[s + 1 : s + n].reshape(-1, 2) * scale], holes=[False], kind="polygon"
            ),
            iscrowd=False,
            score=None,
            attributes={},
        )
        for category, s, n in zip(ids.tolist(), begins, counts)
    ]


# ---------------------------------------------------------------------------------------------
# Writing
