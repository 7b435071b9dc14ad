"""Outputs appear whole or not at all: everything is written under a temporary name beside the
destination and renamed into place at the end; on any error the temporary is removed."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from cytoconv.errors import FormatError, UsageError

TEMP_MARK = ".cytoconv-tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _usual_mode(path: str | Path, directory: bool) -> None:
    """mkstemp/mkdtemp make private (0600/0700) files; the output gets the mode any new file would."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def refuse_overlap(dest: Path, *inputs: Path | None) -> None:
    """An output that is an input, lies inside an input folder, or holds an input (which --overwrite
    would delete) is refused before anything is read or written."""
    out = dest.resolve()
    for given in inputs:
        if given is None:
            continue
        src = given.resolve()
        if out == src:
            raise UsageError(f"{dest}: the output must not be the input")
        if src.is_dir() and out.is_relative_to(src):
            raise UsageError(f"{dest}: the output must not be inside the input {given}")
        if src.is_relative_to(out):
            raise UsageError(
                f"{dest}: the input {given} is inside this output; writing it would delete the input"
            )


def check_destination(dest: Path, overwrite: bool) -> None:
    """Refuse an existing output unless ``overwrite``; an empty folder counts as free."""
    if not dest.exists():
        if not dest.parent.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
        return
    if dest.is_dir() and not any(dest.iterdir()):
        return
    if not overwrite:
        raise UsageError(f"{dest}: output exists; pass --overwrite to replace it")


@contextmanager
def atomic_file(dest: Path, overwrite: bool = False) -> Iterator[BinaryIO]:
    """A binary file object whose content replaces ``dest`` only if the block ends without error."""
    check_destination(dest, overwrite)
    fd, tmp = tempfile.mkstemp(prefix="." + dest.name + TEMP_MARK, dir=dest.parent)
    _usual_mode(tmp, directory=False)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        if dest.is_dir():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(dest: Path, overwrite: bool = False) -> Iterator[Path]:
    """A fresh folder that becomes ``dest`` only if the block ends without error."""
    check_destination(dest, overwrite)
    tmp = Path(tempfile.mkdtemp(prefix="." + dest.name + TEMP_MARK, dir=dest.parent))
    _usual_mode(tmp, directory=True)
    try:
        yield tmp
        if dest.exists():  # only an empty folder or an --overwrite target gets here
            shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class FilePerImageWriter(Protocol):
    """A writer whose workers write one file per image themselves (``encode``), under ``tmp``."""

    tmp: Path | None

    @property
    def dest(self) -> Path: ...

    @property
    def names(self) -> Mapping[int, str]:
        """Class id -> name, for the class list written last."""
        ...


def write_image_file(writer: FilePerImageWriter, out_rel: str, data: bytes, image: str, needs: str) -> str:
    """Write one image's file at ``out_rel`` under ``writer.tmp`` (in a worker) and return ``out_rel``. The file
    must be new: two images whose paths differ only by their suffix (``a.png``, ``a.jpg``) would both be written
    there, so the second is refused (``duplicate-stem``), ``needs`` saying why (``"LabelMe needs one JSON file
    per image"``)."""
    assert writer.tmp is not None
    target = writer.tmp / out_rel
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        stem = os.path.splitext(out_rel)[0]
        raise FormatError(
            image, f"another image has the path {stem!r} without its suffix: {needs}", code="duplicate-stem"
        ) from None
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return out_rel


@contextmanager
def file_per_image_sink(
    writer: FilePerImageWriter, overwrite: bool, class_list: str | None
) -> Iterator[Callable[[Any], None]]:
    """The sink of a ``FilePerImageWriter``: its output built in a temporary folder (``writer.tmp``, where its
    workers write), moved into place at the end, none left on error; with ``class_list``, the class names in
    id order written there last (a file named so, one name a line), once every image is written."""

    def accept(fragment: Any) -> None:
        """Nothing to gather: each file is written by the writer's ``encode``."""

    with atomic_dir(writer.dest, overwrite) as tmp:
        writer.tmp = tmp
        yield accept
        names = [writer.names[k] for k in sorted(writer.names)]
        if class_list is not None and names:
            (tmp / class_list).write_text("".join(n + "\n" for n in names), encoding="utf-8")
