"""Three ways to print a report: text for people, JSON for programs, GitHub workflow annotations.

Text and GitHub lines go to stdout (they are the command's output); the one-line summary goes to stderr.
The JSON document is the whole output; its schema is versioned (``"schema": "cytoconv-validate/1"``) and
documented in the README: keys are only ever added, never renamed or removed, within a version.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cytoconv.problems import SEVERITIES
from cytoconv.problems.findings import Finding, ValidationReport

SCHEMA = "cytoconv-validate/1"


def shown_path(path: str) -> str:
    """Paths below the working folder are shown relative to it (as editors and GitHub want them)."""
    if not os.path.isabs(path):
        return path
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def ordered(findings: list[Finding]) -> list[Finding]:
    """Grouped by file (in path order), then by line, object, id and code: the same report always prints the
    same way, however many processes found it."""
    return sorted(findings, key=lambda f: (f.path, *f.sort_key()))


def text_line(f: Finding, fixed: bool = False) -> str:
    """One finding as ``path:line: CODE [severity] where: message`` ([*] when fixable); ``fixed`` shows it as
    fixed."""
    where = f"{shown_path(f.path)}:{f.line}:" if f.line is not None else f"{shown_path(f.path)}:"
    inside = f.where()
    status = "fixed" if fixed else f.severity
    mark = " [*]" if f.fix is not None and not fixed else ""
    return f"{where} {f.code} [{status}] {inside + ': ' if inside else ''}{f.message}{mark}"


def text(report: ValidationReport) -> str:
    """The text report: what was fixed first, then the findings, one per line in order."""
    lines = [text_line(f, fixed=True) for f in ordered(report.fixed)]
    lines += [text_line(f) for f in ordered(report.findings)]
    return "".join(line + "\n" for line in lines)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 or word == "info" else "s")


def summary(report: ValidationReport, fix: bool = False, diff: bool = False) -> str:
    """One line: how many findings of each severity in how many paths, files checked, what was (or would be)
    fixed, what skipped."""
    counts = ", ".join(_plural(report.count(s), s) for s in SEVERITIES)
    places = _plural(
        len({f.path for f in report.findings}), "path"
    )  # files, and folders for folder-level findings
    head = f"{counts} in {places}" if report.findings else "no findings"
    extra = [f"{_plural(report.checked, 'file')} checked"]
    if report.fixed:
        fixed_files = len({f.path for f in report.fixed})
        verb = "would fix" if diff else "fixed"
        extra.append(f"{verb} {len(report.fixed)} in {_plural(fixed_files, 'file')}")
    elif report.fixable and not fix:
        extra.append(f"{report.fixable} fixable with --fix")
    if report.skipped:
        extra.append(f"{len(report.skipped)} skipped: not label files")
    return f"{head} ({'; '.join(extra)})"


def _record(f: Finding) -> dict[str, Any]:
    return {
        "path": shown_path(f.path),
        "line": f.line,
        "code": f.code,
        "rule": f.rule_name,
        "severity": f.severity,
        "message": f.message,
        "image_id": f.image_id,
        "annotation_id": f.annotation_id,
        "object": f.object_index,
        "pixel_value": f.pixel_value,
        "fixable": f.fix is not None,
    }


def as_json(report: ValidationReport) -> str:
    """The JSON report (``SCHEMA``): a summary of counts and the exit code, then the findings and the
    fixes."""
    doc = {
        "schema": SCHEMA,
        "summary": {
            "files_checked": report.checked,
            "files_skipped": len(report.skipped),
            "errors": report.count("error"),
            "warnings": report.count("warning"),
            "info": report.count("info"),
            "fixable": report.fixable,
            "fixed": len(report.fixed),
            "exit_code": report.exit_code,
        },
        "findings": [_record(f) for f in ordered(report.findings)],
        "fixed": [_record(f) for f in ordered(report.fixed)],
        "skipped": [shown_path(p) for p in report.skipped],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github(report: ValidationReport) -> str:
    """``::error file=...,line=...,title=CODE::CODE message``: shown on the pull request's changed lines."""
    out = []
    for f in ordered(report.findings):
        props = [f"file={_escape_property(shown_path(f.path))}"]
        if f.line is not None:
            props.append(f"line={f.line}")
        props.append(f"title={_escape_property(f.code + ' ' + f.rule_name)}")
        inside = f.where()
        message = f"{f.code} {inside + ': ' if inside else ''}{f.message}"
        out.append(f"::{_LEVEL[f.severity]} {','.join(props)}::{_escape_data(message)}\n")
    return "".join(out)
