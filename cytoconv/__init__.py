"""cytoconv: convert, check and summarise annotation datasets of cytology and blood-cell images.

The public API (``read``, ``write``, ``convert``, ``resample``, ``stats``, ``draw``, ``report``, ``crop``, ``split``; see
``cytoconv.api``) is imported on first use, so that ``cytoconv --version`` and a pre-commit run start fast.
``validate`` is ``cytoconv.api.validate`` (or ``cytoconv.validate.validate``): the name ``cytoconv.validate`` is
the validator's package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cytoconv._version import __version__

if TYPE_CHECKING:
    from cytoconv.api import (
        convert,
        crop,
        diff,
        draw,
        filter_dataset,
        merge,
        read,
        remap,
        report,
        resample,
        split,
        stats,
        write,
    )

__all__ = [
    "__version__",
    "convert",
    "crop",
    "diff",
    "draw",
    "filter_dataset",
    "merge",
    "read",
    "remap",
    "report",
    "resample",
    "split",
    "stats",
    "write",
]

_API = frozenset(
    {
        "read",
        "write",
        "convert",
        "resample",
        "stats",
        "draw",
        "crop",
        "split",
        "remap",
        "merge",
        "filter_dataset",
        "diff",
        "report",
    }
)


def __getattr__(name: str) -> Any:
    if name in _API:
        from cytoconv import api

        return getattr(api, name)
    raise AttributeError(f"module 'cytoconv' has no attribute {name!r}")
