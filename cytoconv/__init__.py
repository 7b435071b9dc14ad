"""cytoconv: convert, check and summarise annotation datasets of cytology and blood-cell images.

The public API (``read``, ``write``, ``convert``) is imported on first use, so that
``cytoconv --version`` and a pre-commit run start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cytoconv._version import __version__

if TYPE_CHECKING:
    from cytoconv.api import convert, read, write

__all__ = ["__version__", "convert", "read", "write"]


def __getattr__(name: str) -> Any:
    if name in ("read", "write", "convert"):
        from cytoconv import api

        return getattr(api, name)
    raise AttributeError(f"module 'cytoconv' has no attribute {name!r}")
