"""``cytoconv validate``: a linter for annotation files, with stable rule codes, fixes and three output forms.

    from cytoconv.validate import validate, load_settings
    report = validate(["labels/train"], load_settings())
    for finding in report.findings:
        print(finding.path, finding.line, finding.code, finding.severity, finding.message)

Modules, one job each: ``rules`` (the rule table), ``findings`` (what a run produces), ``config`` (settings from
pyproject.toml), ``runner`` (which files, which checker, processes, fixes), one checker per format family
(``yolo``, ``coco``, ``voc``, ``masks``, ``folders``), ``fix`` (edits and diffs), ``render`` (text, JSON,
GitHub). Nothing here imports pydantic, pycocotools, shapely or rich at import time: a pre-commit run on a
few YOLO files must start and end in well under half a second.
"""

from __future__ import annotations

from cytoconv.problems import RULES, Fix, Problem
from cytoconv.problems.findings import Finding, ValidationReport
from cytoconv.problems.settings import Settings
from cytoconv.problems.settings import load as load_settings
from cytoconv.validate.runner import validate

__all__ = ["RULES", "Finding", "Fix", "Problem", "Settings", "ValidationReport", "load_settings", "validate"]
