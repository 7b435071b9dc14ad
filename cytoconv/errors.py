"""Errors and the error policy.

Errors carry data (path, line, code) so that tests and callers check fields, not message text.
Readers never decide on their own whether to stop or skip: they hand each problem to a ``Report``,
which raises at once in strict mode and records (counts) the problem in lenient mode. Things that
are kept but worth knowing (duplicate lines, junk files skipped) are recorded as notices in both modes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cytoconv.problems import Fix

EXAMPLES_PER_CODE = 3


class CytoconvError(Exception):
    """Base class of every error cytoconv raises on purpose; the CLI prints it in one line, exit 1."""


class UsageError(CytoconvError):
    """The call itself is wrong (bad option, output exists): exit code 2."""


class SkipUnit(CytoconvError):
    """Raised by a loader, after ``report.problem`` in lenient mode, when a whole image cannot be read:
    the pipeline leaves that unit out (the problem is already counted)."""


class FormatError(CytoconvError):
    """Bad input data, with where it is: ``path`` (and ``line`` when there is one) and ``code``, a slug of the
    problem vocabulary (``cytoconv.problems``: ``odd-coordinates`` is CC103 there)."""

    def __init__(self, path: str | Path | None, message: str, *, line: int | None = None, code: str):
        self.path = str(path) if path is not None else None
        self.line = line
        self.code = code
        self.message = message
        super().__init__(self.location_prefix() + message)

    def location_prefix(self) -> str:
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "

    def __reduce__(self) -> tuple[object, ...]:  # picklable across worker processes
        return (_rebuild_format_error, (self.path, self.message, self.line, self.code))


def _rebuild_format_error(path: str | None, message: str, line: int | None, code: str) -> FormatError:
    return FormatError(path, message, line=line, code=code)


@dataclass
class Report:
    """What a run skipped, repaired or noticed: counted per code, with a few examples each.

    ``strict`` makes ``problem`` raise; otherwise the item is skipped and counted. ``notice`` never
    raises: it is for data that is kept as it is but that the user should hear about.
    """

    strict: bool = True
    skipped: Counter[str] = field(default_factory=Counter)
    notices: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def problem(self, error: FormatError) -> None:
        """An item that cannot be read as it is: raise (strict) or skip it and count it (lenient)."""
        if self.strict:
            raise error
        self.skipped[error.code] += 1
        self._example(error.code, str(error))

    def notice(self, code: str, where: str, count: int = 1) -> None:
        self.notices[code] += count
        self._example(code, where)

    def _example(self, code: str, text: str) -> None:
        bucket = self.examples.setdefault(code, [])
        if len(bucket) < EXAMPLES_PER_CODE:
            bucket.append(text)

    def merge(self, other: Report) -> None:
        self.skipped.update(other.skipped)
        self.notices.update(other.notices)
        for code, texts in other.examples.items():
            bucket = self.examples.setdefault(code, [])
            bucket.extend(texts[: max(0, EXAMPLES_PER_CODE - len(bucket))])

    def child(self) -> Report:
        """An empty report with the same policy, for a worker process to fill and send back."""
        return Report(strict=self.strict)

    def lines(self) -> list[str]:
        """Human summary lines: one per code, with its count and first example."""
        out = []
        for kind, counter in (("skipped", self.skipped), ("noticed", self.notices)):
            for code, n in sorted(counter.items()):
                example = self.examples.get(code, [""])[0]
                out.append(f"{kind} {n} x {code}" + (f" (e.g. {example})" if example else ""))
        return out


class ReaderSink:
    """A format syntax layer's findings, turned into a reader's verdicts.

    The syntax layer is shared with ``cytoconv validate``, so it reports every problem by code; a reader cares
    about fewer: ``fatal`` codes make the item unreadable (raise in strict mode, else skipped and counted, and
    its line remembered in ``rejected`` so the reader leaves it out), ``notices`` maps codes the reader keeps
    but reports to their notice name; ``tally`` codes are only counted (in ``tallied``), for a reader that
    reports them once per file; every other code is not even computed (``wants`` says no). A scan that reports
    in passes (all shapes, then all values) sets ``earliest`` and calls ``finish``: strict mode then stops at the
    first problem by line, where ``cytoconv validate`` lists its first finding."""

    def __init__(self, report: Report, fatal: Collection[str], notices: Mapping[str, str] | None = None,
                 tally: Collection[str] = (), earliest: bool = False) -> None:
        self.report = report
        self.fatal = frozenset(fatal)
        self.notices = dict(notices or {})
        self.tally = frozenset(tally)
        self.earliest = earliest  # strict mode: keep the earliest fatal problem for ``finish`` to raise
        self.tallied: Counter[str] = Counter()
        self.rejected: set[int] = set()  # lines (or object numbers) with a fatal problem, in lenient mode
        self._first: tuple[tuple[int, str], FormatError] | None = None  # strict mode: the earliest fatal one

    def wants(self, code: str) -> bool:
        return code in self.fatal or code in self.notices or code in self.tally

    def __call__(self, code: str, path: str, message: str, *, line: int | None = None,
                 image_id: int | str | None = None, annotation_id: int | str | None = None,
                 object_index: int | None = None, fix: Fix | None = None) -> None:
        from cytoconv.problems import PROBLEMS

        where = ", ".join(part for part in (f"image {image_id}" if image_id is not None else "",
                                            f"annotation {annotation_id}" if annotation_id is not None else "",
                                            f"object {object_index}" if object_index is not None else "") if part)
        text = f"{where}: {message}" if where else message
        if code in self.fatal:
            key = line if line is not None else object_index
            error = FormatError(path, text, line=line, code=PROBLEMS[code].name)
            if self.report.strict and self.earliest:  # a scan in passes: keep the earliest
                order = (key if key is not None else 0, code)
                if self._first is None or order < self._first[0]:
                    self._first = (order, error)
                return
            self.report.problem(error)
            if key is not None:
                self.rejected.add(key)
        elif code in self.tally:
            self.tallied[code] += 1
        elif code in self.notices:
            self.report.notice(self.notices[code], f"{path}:{line}: {text}" if line is not None else f"{path}: {text}")

    def finish(self) -> None:
        """Call after the scan: in strict mode, raise the earliest fatal problem (by line or object), the one
        ``cytoconv validate`` lists first."""
        if self._first is not None:
            raise self._first[1]
