"""ASAP XML reader: a folder of ``<stem>.xml``, one per image (the shared reader: ``slidexml.reader``)."""

from __future__ import annotations

from pathlib import Path

from cytoconv.engine.contract import ReadOptions, ReadPlan
from cytoconv.errors import Report
from cytoconv.formats import Evidence
from cytoconv.formats.slidexml import reader
from cytoconv.formats.slidexml.asap_writer import writer
from cytoconv.formats.slidexml.reader import load
from cytoconv.formats.slidexml.syntax import ASAP

__all__ = ["detect", "load", "plan", "writer"]


def detect(path: Path) -> Evidence | None:
    """A ASAP XML file, or a folder of them (or one level up, beside the images' folder)."""
    return reader.detect(path, ASAP)


def plan(path: Path, options: ReadOptions, report: Report) -> ReadPlan:
    """The ASAP XML files, their images and the classes."""
    return reader.plan(path, options, report, ASAP)
