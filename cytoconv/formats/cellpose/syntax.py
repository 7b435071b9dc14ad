"""Cellpose ``_seg.npy`` syntax: a safe loader for the pickled dict the Cellpose GUI saves.

The GUI writes ``np.save(base + "_seg.npy", dat)`` with ``dat`` a dict: the file is a ``.npy`` of one 0-d object
array, whose payload is a pickle. ``np.load(..., allow_pickle=True)`` would run whatever that pickle asks for,
so a crafted file could run code on the reader's machine. This module never does that: it reads the ``.npy``
header itself (``numpy.lib.format``), then unpickles the payload with an ``Unpickler`` whose ``find_class``
admits only what numpy arrays, numpy scalars and plain containers need (``ALLOWED``). Anything else (``os.system``,
``builtins.eval``, ``subprocess.Popen``...) is refused by name before it is looked up, so nothing is imported or
called: the file is ``unreadable`` (CC001), naming the refused global.

This module is imported on every ``validate`` run of a Cellpose folder: numpy only, no dataset model.
"""

from __future__ import annotations

import importlib
import io
import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

SUFFIX = "_seg.npy"

# (module, name) -> (module to import, name in it). numpy 1.x pickles ``numpy.core.multiarray``, numpy 2.x
# ``numpy._core.multiarray``: both resolve to whichever this numpy has, so neither warns nor fails.
_MULTIARRAY = ("numpy._core.multiarray", "numpy.core.multiarray")
ALLOWED: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    **{(m, "_reconstruct"): (_MULTIARRAY, "_reconstruct") for m in _MULTIARRAY},
    **{(m, "scalar"): (_MULTIARRAY, "scalar") for m in _MULTIARRAY},
    ("numpy", "ndarray"): (("numpy",), "ndarray"),
    ("numpy", "dtype"): (("numpy",), "dtype"),
    # protocol-2 pickles carry an array's bytes as ``_codecs.encode(text, "latin1")``: a pure function
    ("_codecs", "encode"): (("_codecs",), "encode"),
    # protocol-2/3 pickles build sets by calling the type (protocol 4 has EMPTY_SET)
    ("builtins", "set"): (("builtins",), "set"),
    ("builtins", "frozenset"): (("builtins",), "frozenset"),
}


class Refused(Exception):
    """A pickle asked for a global outside ``ALLOWED``; ``name`` is ``module.name`` as the file spells it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of ``ALLOWED`` and refuses every other one unlooked-up."""

    def find_class(self, module: str, name: str) -> Any:
        """The admitted object, or ``Refused`` (nothing imported for a refused name)."""
        entry = ALLOWED.get((module, name))
        if entry is None:
            raise Refused(f"{module}.{name}")
        modules, attr = entry
        for candidate in modules:
            try:
                return getattr(importlib.import_module(candidate), attr)
            except (ImportError, AttributeError):
                continue
        raise Refused(f"{module}.{name}")  # pragma: no cover - numpy always has one of them

    def persistent_load(self, pid: Any) -> Any:
        """Persistent ids name outside objects: none belongs in a ``_seg.npy``."""
        raise Refused("a persistent id")


class SegError(Exception):
    """Why a ``_seg.npy`` cannot be read: ``code`` is the vocabulary's slug (``unreadable``, ``bad-structure``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def load_npy(data: bytes) -> Any:
    """The object a ``.npy`` file holds, from its bytes, without running code: a plain array read as numpy
    does, an object array through ``_SafeUnpickler``. ``SegError`` (``unreadable``) for anything else."""
    from numpy.lib import format as npformat

    fh = io.BytesIO(data)
    try:
        version = npformat.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = npformat.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npformat.read_array_header_2_0(fh)
        else:  # pragma: no cover - read_magic only returns versions it knows
            raise SegError("unreadable", f"a .npy file of version {version[0]}.{version[1]}")
    except (
        Exception
    ) as exc:  # a damaged header raises ValueError, SyntaxError, TypeError...: "cannot be read"
        raise SegError("unreadable", f"not a .npy file ({type(exc).__name__}: {exc})") from None
    if not dtype.hasobject:
        count = int(np.prod(shape, dtype=np.int64))
        body = data[fh.tell() :]
        if len(body) < count * dtype.itemsize:
            raise SegError("unreadable", "the file is truncated (fewer bytes than its header declares)")
        arr = np.frombuffer(body, dtype=dtype, count=count)
        return arr.reshape(shape[::-1]).transpose() if fortran else arr.reshape(shape)
    try:
        value = _SafeUnpickler(fh).load()
    except Refused as refused:
        raise SegError(
            "unreadable", f"its pickle asks for {refused.name}, which is refused (not an array)"
        ) from None
    except Exception as exc:  # a damaged pickle raises anything: all of it means "cannot be read"
        raise SegError("unreadable", f"its pickle cannot be read ({type(exc).__name__}: {exc})") from None
    if isinstance(value, np.ndarray) and value.dtype.hasobject and value.shape == ():
        return value.item()
    return value


@dataclass
class SegFile:
    """The parts of one ``_seg.npy`` that cytoconv uses: the label image, ``ismanual`` (one flag per label id
    in id order, when its length fits), the ``filename`` the GUI recorded, and the keys not used."""

    masks: npt.NDArray[np.integer]
    ismanual: list[bool] | None
    filename: str | None
    other_keys: list[str] = field(default_factory=list)


USED_KEYS = ("masks", "ismanual", "filename", "outlines", "colors")


def parse_seg(data: bytes) -> SegFile:
    """A ``_seg.npy`` from its bytes: a dict with a 2-d integer ``masks`` (``bad-structure`` otherwise; a 3-d
    stack is refused: planes are not images here). Negative labels (old files used -1 for background, the GUI
    adds 1) are moved up the same way."""
    value = load_npy(data)
    if not isinstance(value, dict):
        raise SegError("bad-structure", f"holds a {type(value).__name__}, not the dict Cellpose saves")
    masks = value.get("masks")
    if not isinstance(masks, np.ndarray):
        raise SegError("bad-structure", "has no 'masks' label image")
    if masks.ndim == 3 and masks.shape[0] == 1:
        masks = masks[0]
    if masks.ndim != 2 or masks.shape[0] == 0 or masks.shape[1] == 0:
        raise SegError("bad-structure", f"'masks' has shape {masks.shape}, not one 2-d label image")
    if masks.dtype.kind == "f" and np.isfinite(masks).all() and (masks == np.round(masks)).all():
        masks = masks.astype(np.int64)
    if masks.dtype.kind not in "iu":
        raise SegError("bad-structure", f"'masks' holds {masks.dtype}, not integer label ids")
    if masks.dtype.kind == "i" and masks.size and int(masks.min()) < 0:
        if int(masks.min()) != -1:
            raise SegError("bad-structure", f"'masks' holds the negative label {int(masks.min())}")
        masks = masks.astype(np.int64) + 1
    manual = value.get("ismanual")
    ismanual: list[bool] | None = None
    if isinstance(manual, np.ndarray | list | tuple):
        try:
            ismanual = [bool(v) for v in np.asarray(manual).ravel().tolist()]
        except (TypeError, ValueError):
            ismanual = None
    filename = value.get("filename")
    keys = sorted(str(k) for k in value if k not in USED_KEYS)
    return SegFile(
        masks=masks,
        ismanual=ismanual,
        filename=str(filename) if isinstance(filename, str | np.str_) and filename else None,
        other_keys=keys,
    )
