"""The problem sink readers use: a format syntax layer's findings turned into a reader's verdicts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping

from cytoconv.errors import FormatError, Report
from cytoconv.problems import PROBLEMS, Fix


class ReaderSink:
    """A format syntax layer's findings, turned into a reader's verdicts.

    The syntax layer is shared with ``cytoconv validate``, so it reports every problem by code; a reader cares
    about fewer: ``fatal`` codes make the item unreadable (raise in strict mode, else skipped and counted, and
    its line remembered in ``rejected`` so the reader leaves it out), ``notices`` maps codes the reader keeps
    but reports to their notice name; ``tally`` codes are only counted (in ``tallied``), for a reader that
    reports them once per file; every other code is not even computed (``wants`` says no). A scan that reports
    in passes (all shapes, then all values) sets ``earliest`` and calls ``finish``: strict mode then stops at the
    first problem by line, where ``cytoconv validate`` lists its first finding."""

    def __init__(
        self,
        report: Report,
        fatal: Collection[str],
        notices: Mapping[str, str] | None = None,
        tally: Collection[str] = (),
        earliest: bool = False,
    ) -> None:
        self.report = report
        self.fatal = frozenset(fatal)
        self.notices = dict(notices or {})
        self.tally = frozenset(tally)
        self.earliest = earliest  # strict mode: keep the earliest fatal problem for ``finish`` to raise
        self.tallied: Counter[str] = Counter()
        self.rejected: set[int] = set()  # lines (or object numbers) with a fatal problem, in lenient mode
        self._first: tuple[tuple[int, str], FormatError] | None = None  # strict mode: the earliest fatal one

    def wants(self, code: str) -> bool:
        """A reader wants only what it stops on, notices or tallies; every other check is skipped."""
        return code in self.fatal or code in self.notices or code in self.tally

    def __call__(
        self,
        code: str,
        path: str,
        message: str,
        *,
        line: int | None = None,
        image_id: int | str | None = None,
        annotation_id: int | str | None = None,
        object_index: int | None = None,
        fix: Fix | None = None,
    ) -> None:
        where = ", ".join(
            part
            for part in (
                f"image {image_id}" if image_id is not None else "",
                f"annotation {annotation_id}" if annotation_id is not None else "",
                f"object {object_index}" if object_index is not None else "",
            )
            if part
        )
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
            self.report.notice(
                self.notices[code], f"{path}:{line}: {text}" if line is not None else f"{path}: {text}"
            )

    def finish(self) -> None:
        """Call after the scan: in strict mode, raise the earliest fatal problem (by line or object), the one
        ``cytoconv validate`` lists first."""
        if self._first is not None:
            raise self._first[1]
