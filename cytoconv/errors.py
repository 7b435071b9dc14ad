"""Errors and the error policy.

Errors carry data (path, line, code) so that tests and callers check fields, not message text.
Readers never decide on their own whether to stop or skip: they hand each problem to a ``Report``,
which raises at once in strict mode and records (counts) the problem in lenient mode. Things that
are kept but worth knowing (duplicate lines, junk files skipped) are recorded as notices in both modes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

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
        """``path:line: `` (or ``path: ``, or nothing) before the message, so an error points at its place the
        way a compiler's does."""
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
        """Record ``count`` occurrences of something kept as it is but worth telling the user; never raises,
        in either mode."""
        self.notices[code] += count
        self._example(code, where)

    def _example(self, code: str, text: str) -> None:
        bucket = self.examples.setdefault(code, [])
        if len(bucket) < EXAMPLES_PER_CODE:
            bucket.append(text)

    def merge(self, other: Report) -> None:
        """Add a worker's report into this one, keeping at most ``EXAMPLES_PER_CODE`` examples per code."""
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
