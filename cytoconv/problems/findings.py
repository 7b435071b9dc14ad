"""What a validation run produces: findings (one problem at one place), the fixes they carry, and the report.

Plain frozen dataclasses (no pydantic): they are made by the thousand in worker processes and pickled back,
and this module is imported on every pre-commit run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cytoconv.problems import PROBLEMS, Fix, Severity


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem at one place. Exactly where depends on the format: a line (YOLO, JSON/XML syntax), an
    annotation or image id (COCO), an object number (VOC, 1-based, in file order) or a pixel value (masks)."""

    code: str
    severity: Severity
    path: str
    message: str
    line: int | None = None
    annotation_id: int | str | None = None
    image_id: int | str | None = None
    object_index: int | None = None
    pixel_value: int | None = None
    fix: Fix | None = None

    @property
    def rule_name(self) -> str:
        """The name of the finding's rule, as the docs and the reports show it."""
        return PROBLEMS[self.code].name

    def where(self) -> str:
        """The location inside the file other than the line, in words (``annotation 12``), or ``""``."""
        parts = []
        if self.image_id is not None:
            parts.append(f"image {self.image_id}")
        if self.annotation_id is not None:
            parts.append(f"annotation {self.annotation_id}")
        if self.object_index is not None:
            parts.append(f"object {self.object_index}")
        if self.pixel_value is not None:
            parts.append(f"value {self.pixel_value}")
        return ", ".join(parts)

    def sort_key(self) -> tuple[int, int, tuple[int, int, str], tuple[int, int, str], int, str]:
        """Order inside one file: by line, object, image and annotation id, pixel value, then code."""
        return (
            self.line or 0,
            self.object_index or 0,
            _id_key(self.image_id),
            _id_key(self.annotation_id),
            self.pixel_value or 0,
            self.code,
        )


def _id_key(value: int | str | None) -> tuple[int, int, str]:
    """Ids sort as numbers; ``#k`` (an annotation without a usable id) after them; none first."""
    if value is None:
        return (-1, 0, "")
    return (0, value, "") if isinstance(value, int) else (1, 0, value)


@dataclass(frozen=True)
class CheckTask:
    """One unit of checking, as a format's checker plans it: a label file, a mask with its image, or an image.
    ``fmt`` names the registry entry whose checker runs it (in a worker: the task is pickled, the checker is
    found again by name); ``context`` is the checker's own (a class list, a flag, a mask task)."""

    fmt: str
    path: str
    context: Any = None


@dataclass
class FileResult:
    """What checking one file (or one folder-level check) gave: its findings and the fixes applied to it."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    fixed: list[Finding] = field(default_factory=list)
    diff: str = ""


@dataclass
class ValidationReport:
    """A whole run. ``findings`` are what remains (after ``--fix``, what it could not fix); ``fixed`` what
    ``--fix`` changed (or, with ``--diff``, would change); ``skipped`` files that are not label files."""

    findings: list[Finding] = field(default_factory=list)
    fixed: list[Finding] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)
    checked: int = 0
    skipped: list[str] = field(default_factory=list)

    def count(self, severity: Severity) -> int:
        """The number of findings of one severity, for the summary and the exit code."""
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def fixable(self) -> int:
        """The number of findings that have a fix (marked [*])."""
        return sum(1 for f in self.findings if f.fix is not None)

    @property
    def exit_code(self) -> int:
        """0 when nothing is at error level, else 1 (2, bad usage, never comes from a report)."""
        return 1 if any(f.severity == "error" for f in self.findings) else 0

    def add(self, result: FileResult) -> None:
        """Fold in one file's result: its findings, what was fixed, its diff."""
        self.findings.extend(result.findings)
        self.fixed.extend(result.fixed)
        if result.diff:
            self.diffs.append(result.diff)
