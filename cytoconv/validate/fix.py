"""``--fix`` and ``--diff``: edits that remove a finding without guessing, applied to a file's bytes.

What is fixed: a byte-order mark is dropped, CRLF and CR line endings become LF, exact duplicate YOLO lines are
dropped (the first copy stays), normalised coordinates outside [0, 1] *within the tolerance* are clipped to 0 or
1 (a coordinate further out means a wrong normalisation, and clipping it would hide that). Nothing else changes:
untouched lines keep their bytes, a clipped line keeps its other tokens and spacing, the end of the file keeps or
lacks its final newline as before. Nothing is ever reordered, closed or rounded.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from pathlib import Path

from cytoconv.problems import Fix

BOM = b"\xef\xbb\xbf"
_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")
_TOKEN = re.compile(r"\S+")


def apply(data: bytes, fixes: Iterable[Fix]) -> bytes:
    """``data`` with every fix applied (line numbers as the checkers count them: CRLF, CR and LF each end a
    line)."""
    fixes = list(fixes)
    kinds = {f.kind for f in fixes}
    bom = data.startswith(BOM)
    body = data[3:] if bom else data
    line_fixes = [f for f in fixes if f.kind in ("drop-line", "replace-tokens") and f.line is not None]
    if line_fixes:
        body = _edit_lines(body.decode("utf-8"), line_fixes).encode("utf-8")
    if "line-endings" in kinds:
        body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return body if bom and "bom" in kinds else (BOM + body if bom else body)


def _edit_lines(text: str, fixes: list[Fix]) -> str:
    parts = _LINE_BREAK.split(text)  # content, break, content, break, ..., content
    rows = [[parts[i], parts[i + 1] if i + 1 < len(parts) else ""] for i in range(0, len(parts), 2)]
    drop: set[int] = set()
    for fix in fixes:
        assert fix.line is not None
        index = fix.line - 1
        if not 0 <= index < len(rows):
            continue
        if fix.kind == "drop-line":
            drop.add(index)
        else:
            rows[index][0] = _replace_tokens(rows[index][0], dict(fix.tokens))
    ended = rows[-1][0] == ""  # the text ends with a line break (the last row is what follows it)
    kept = [row for k, row in enumerate(rows) if k not in drop]
    if not ended and (len(rows) - 1) in drop and kept:
        kept[-1] = [kept[-1][0], ""]  # the last line went: the new last line ends the file as it did
    return "".join(content + brk for content, brk in kept)


def _replace_tokens(line: str, edits: dict[int, str]) -> str:
    counter = iter(range(1 << 30))

    def swap(match: re.Match[str]) -> str:
        """The token's new text when ``edits`` has one for its index, else the token as it was."""
        k = next(counter)
        return edits.get(k, match.group(0))

    return _TOKEN.sub(swap, line)


def unified_diff(path: str, before: bytes, after: bytes) -> str:
    """A unified diff of the two contents (line endings shown as changes when only they differ)."""
    old = before.decode("utf-8", errors="replace").splitlines(keepends=True)
    new = after.decode("utf-8", errors="replace").splitlines(keepends=True)
    lines = list(difflib.unified_diff(old, new, fromfile=f"a/{path}", tofile=f"b/{path}"))
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def write(path: str, data: bytes) -> None:
    """Replace the file atomically, keeping its permission bits."""
    from cytoconv.engine.atomic import atomic_file

    mode = os.stat(path).st_mode & 0o7777
    with atomic_file(Path(path), overwrite=True) as fh:
        fh.write(data)
        os.fchmod(fh.fileno(), mode)
