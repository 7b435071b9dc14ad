"""A COCO file read in bounded memory: the top-level members one by one, the big lists in pieces.

A COCO file is one JSON object whose ``images``, ``annotations`` and ``categories`` can hold millions of entries
(LIVECell: 2.1 GB, 1.6 million cells). Parsing it whole makes a Python object of every coordinate (eight to nine
times the file in memory). This module never does: it reads the file in windows of a few megabytes, cuts each
section into pieces at entry boundaries and hands each piece's entries out as ``msgspec.Raw`` slices, with the file
offset of each, so that the reader can keep a few numbers per entry and its workers can read an entry back when
they need its geometry.

Cutting without a tokenizer: a candidate cut is a ``}`` followed by a comma (the end of an object, if it is not
inside a nested one or a string). ``[`` + piece + ``]`` is valid JSON only when every cut is a real boundary
between entries (a piece that stops inside an entry leaves a bracket or a string open), and msgspec checks that
at about a gigabyte a second without building the entries. A candidate that fails is followed by the next; the
last piece of a section is found by msgspec's "trailing characters" position, which is where the section ends.
When a few candidates in a row fail (entries full of nested objects), the piece's entries are found one by one
from msgspec's "trailing characters" position after each, which stays linear; an entry larger than what is read
is read on alone. So any valid JSON is read, in time proportional to its size.

Sections may come in any order (the COCO download puts ``categories`` last) and may be lists or objects keyed by
id (LIVECell's ``annotations``); other members (``info``, ``licenses``, unknown keys) are decoded whole.
A syntax error is a ``JsonError`` with the byte offset in the file, which ``syntax`` turns into CC002 with a line
and column.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Final

import msgspec
import orjson

SECTIONS: Final = frozenset(("images", "annotations", "categories"))
WINDOW: Final = 8 << 20  # bytes read at a time
PIECE: Final = 4 << 20  # the size a piece aims at: entries decoded together
MAX_CANDIDATES: Final = 4  # failed cuts in one piece before finding its entries one by one

_WS: Final = b" \t\r\n"
_SKIP_WS: Final = re.compile(rb"[ \t\r\n]*")
_SKIP_SEP: Final = re.compile(rb"[ \t\r\n]*,?[ \t\r\n]*")
_KEY: Final = re.compile(rb'"((?:[^"\\]|\\.)*)"[ \t\r\n]*:[ \t\r\n]*', re.DOTALL)
_CUT: Final = re.compile(rb"\}[ \t\r\n]*,")
_BYTE: Final = re.compile(r"\(byte (\d+)\)")

_RAW: Final = msgspec.json.Decoder(msgspec.Raw)
_RAW_LIST: Final = msgspec.json.Decoder(list[msgspec.Raw])
_RAW_DICT: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])


class JsonError(Exception):
    """The file is not valid JSON at byte ``offset`` (``truncated``: it ends too early)."""

    def __init__(self, offset: int, reason: str, truncated: bool = False) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason
        self.truncated = truncated


@dataclass
class Member:
    """A top-level member read whole: ``info``, ``licenses``, an unknown key, or a section that is not a list or
    an object (``"annotations": null``), which the scanner reports."""

    key: str
    value: Any


@dataclass
class Entries:
    """Consecutive entries of a section, in file order: each one's raw JSON and its byte offset in the file; for
    a section that is an object keyed by id, each entry's key too."""

    section: str
    first: int  # position of the first entry in its section
    raws: list[msgspec.Raw]
    offsets: list[int]
    keys: list[str] | None = None
    document: bytes | None = None  # all of them as one JSON list (or object, when keyed); None: one entry
    span: tuple[int, int] | None = None  # where the document's entries are in the file (without its brackets)


@dataclass
class SectionStart:
    """A section begins: ``keyed`` when it is an object keyed by id rather than a list."""

    section: str
    keyed: bool


@dataclass
class Source:
    """What a COCO file is read from: a file on disk, or bytes already in memory (``cytoconv validate``)."""

    path: str
    data: bytes | None = None
    crlf: bool = False  # a CR LF pair seen (only CR: ``cr_line`` set and this False)
    cr_line: int | None = None  # the 1-based line of the first CR
    bom: bool = False
    lines: bool = True  # watch line endings (only ``cytoconv validate`` reports them)
    _lines: int = field(default=0, repr=False)
    _last: int = field(default=0, repr=False)

    def open(self) -> IO[bytes]:
        """A binary stream of the whole file, from its first byte."""
        return io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")

    def watch(self, chunk: bytes) -> None:
        """Note line endings as the file goes by: CC005 wants the line of the first CR and whether CR LF."""
        if not self.lines:
            return
        if self.cr_line is None:
            cr = chunk.find(b"\r")
            if cr < 0:
                self._lines += chunk.count(b"\n")
            else:
                self.cr_line = self._lines + chunk.count(b"\n", 0, cr) + 1
        if not self.crlf and (b"\r\n" in chunk or (self._last == 13 and chunk[:1] == b"\n")):
            self.crlf = True
        if chunk:
            self._last = chunk[-1]

    def rewatch(self) -> None:
        """Look through the whole file for line endings again (the stream stopped before the end)."""
        self.cr_line, self.crlf, self._lines, self._last, self.lines = None, False, 0, 0, True
        with self.open() as fh:
            while chunk := fh.read(WINDOW):
                self.watch(chunk)
                if self.crlf:
                    break

    def size(self) -> int:
        """The file's length in bytes."""
        return len(self.data) if self.data is not None else os.path.getsize(self.path)

    def line_column(self, offset: int) -> tuple[int, int]:
        """The 1-based line and column (in bytes) of a byte offset of the file."""
        line, line_start, done = 1, 0, 0
        with self.open() as fh:
            while done < offset:
                chunk = fh.read(min(WINDOW, offset - done))
                if not chunk:
                    break
                count = chunk.count(b"\n")
                if count:
                    line += count
                    line_start = done + chunk.rindex(b"\n") + 1
                done += len(chunk)
        if line == 1 and self.bom:
            line_start = 3  # the byte-order mark is not a column
        return line, offset - line_start + 1


class _Window:
    """The bytes of the file from ``base`` on, read a window at a time; positions are indices into ``buf``."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.fh = source.open()
        self.buf = b""
        self.base = 0
        self.eof = False

    def close(self) -> None:
        self.fh.close()

    def fill(self, pos: int, need: int) -> int:
        """Hold at least ``need`` bytes from ``pos`` on (fewer at the end of the file); what is before ``pos`` is
        dropped. Returns ``pos`` in the new buffer."""
        if len(self.buf) - pos >= need or self.eof:
            return pos
        self.base += pos
        parts = [self.buf[pos:]]
        have = len(parts[0])
        while have < need:
            chunk = self.fh.read(max(WINDOW, need - have))
            if not chunk:
                self.eof = True
                break
            if self.base == 0 and have == 0 and chunk.startswith(b"\xef\xbb\xbf"):
                self.source.bom = True
            self.source.watch(chunk)
            parts.append(chunk)
            have += len(chunk)
        self.buf = b"".join(parts)
        return 0

    def skip_ws(self, pos: int) -> int:
        """The position of the next byte that is not white space (reading on as needed); ``len(buf)`` at EOF."""
        while True:
            pos = _SKIP_WS.match(self.buf, pos).end()  # type: ignore[union-attr]
            if pos < len(self.buf) or self.eof:
                return pos
            pos = self.fill(pos, 1)

    def byte(self, pos: int) -> int:
        """The byte at ``pos`` (after ``skip_ws``, which reads on), or -1 at the end of the file."""
        return self.buf[pos] if pos < len(self.buf) else -1

    def at(self, pos: int) -> int:
        """Absolute file offset of ``pos``."""
        return self.base + pos


def _error(exc: msgspec.DecodeError, start: int) -> JsonError:
    """A JsonError for what msgspec said about bytes that began at file offset ``start``."""
    text = str(exc)
    match = _BYTE.search(text)
    if "truncated" in text:
        return JsonError(start, "the file ends too early", truncated=True)
    reason = text.replace("JSON is malformed: ", "")
    reason = _BYTE.sub("", reason).strip()
    return JsonError(start + (int(match.group(1)) if match else 0), reason or "invalid JSON")


def _value_end(window: _Window, pos: int) -> tuple[int, int]:
    """Where the JSON value starting at ``pos`` starts and ends (the position just after it), read on as needed
    (which moves the window: both positions are in the window as it is afterwards)."""
    need = WINDOW
    while True:
        view = memoryview(window.buf)[pos:]
        try:
            _RAW.decode(view)
        except msgspec.DecodeError as exc:
            text = str(exc)
            if "trailing characters" in text:
                match = _BYTE.search(text)
                assert match is not None
                return pos, pos + int(match.group(1)) - 1  # msgspec counts one past the first trailing byte
            match = _BYTE.search(text)
            at_end = "truncated" in text or (match is not None and int(match.group(1)) >= len(view) - 1)
            if not at_end or window.eof:  # (a number cut by the window's end is "invalid" there)
                raise _error(exc, window.at(pos)) from None
            pos = window.fill(pos, len(window.buf) - pos + need)
            need *= 2
            continue
        finally:
            view.release()
        if not window.eof:  # the value reaches the end of what is read: read on and try again
            pos = window.fill(pos, len(window.buf) - pos + need)
            need *= 2
            continue
        return pos, len(window.buf)


def sections(source: Source, skip: frozenset[str] = frozenset()) -> Iterator[Member | SectionStart | Entries]:
    """The members of a COCO file in file order: each section as a ``SectionStart`` and its ``Entries`` piece by
    piece, everything else as a ``Member``. Sections named in ``skip`` are passed over (their entries still
    checked as JSON). Raises ``JsonError`` where the file is not JSON."""
    window = _Window(source)
    try:
        pos = window.fill(0, 3)
        if window.buf.startswith(b"\xef\xbb\xbf"):
            pos = 3
        pos = window.skip_ws(pos)
        if window.byte(pos) != ord("{"):
            yield Member("", _top_value(window, pos))
            return
        pos += 1
        first = True
        while True:
            pos = window.skip_ws(pos)
            c = window.byte(pos)
            if c == ord("}"):
                end = window.skip_ws(pos + 1)
                if end < len(window.buf):
                    raise JsonError(window.at(end), "trailing characters")
                return
            if c < 0:
                raise JsonError(window.at(pos), "the file ends too early", truncated=True)
            if not first:
                if c != ord(","):
                    raise JsonError(window.at(pos), "expected ',' or '}'")
                pos = window.skip_ws(pos + 1)
            first = False
            key, pos = _key(window, pos)
            pos = window.skip_ws(pos)
            c = window.byte(pos)
            if key in SECTIONS and c in (ord("["), ord("{")):
                keyed = c == ord("{")
                if key not in skip:
                    yield SectionStart(key, keyed)
                for entries in _section(window, pos, key, keyed):
                    if isinstance(entries, int):
                        pos = entries
                    elif key not in skip:
                        yield entries
                continue
            pos, end = _value_end(window, pos)
            raw = window.buf[pos:end]
            pos = end
            if key not in skip:
                try:
                    value = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:  # what msgspec let by (1e999)
                    raise JsonError(window.at(pos - len(raw)) + exc.pos, exc.msg) from None
                yield Member(key, value)
    finally:
        window.close()


def _top_value(window: _Window, pos: int) -> Any:
    """A document that is not an object: decoded whole (it is reported as not COCO)."""
    pos, end = _value_end(window, pos)
    try:
        value = orjson.loads(window.buf[pos:end]) if end > pos else None
    except orjson.JSONDecodeError as exc:  # what msgspec let by (1e999)
        raise JsonError(window.at(pos) + exc.pos, exc.msg) from None
    tail = window.skip_ws(end)
    if tail < len(window.buf):
        raise JsonError(window.at(tail), "trailing characters")
    return value


def _key(window: _Window, pos: int) -> tuple[str, int]:
    """A member's key and the position of its value."""
    while True:
        match = _KEY.match(window.buf, pos)
        if match is not None and (match.end() < len(window.buf) or window.eof):
            try:
                return orjson.loads(b'"' + match.group(1) + b'"'), match.end()
            except orjson.JSONDecodeError as exc:  # a bad escape, a raw control character, not UTF-8
                raise JsonError(window.at(pos) + exc.pos, exc.msg) from None
        if window.eof:
            if window.byte(pos) == ord('"'):
                raise JsonError(window.at(pos), "the file ends too early", truncated=True)
            raise JsonError(window.at(pos), "expected a key (a string)")
        if len(window.buf) - pos > (64 << 20):  # no key in 64 MB: not one
            raise JsonError(window.at(pos), "expected a key (a string)")
        pos = window.fill(pos, len(window.buf) - pos + WINDOW)


def _section(window: _Window, pos: int, key: str, keyed: bool) -> Iterator[Entries | int]:
    """The entries of the section whose opening bracket is at ``pos``, piece by piece; finally the position just
    after its closing bracket (an int)."""
    closer = ord("}") if keyed else ord("]")
    pos = window.skip_ws(pos + 1)
    count = 0
    if window.byte(pos) == closer:
        yield pos + 1
        return
    while True:
        pos = window.fill(pos, PIECE * 2)
        start = window.at(pos)  # reading on moves the window: positions are found again from the offset
        piece = _piece(window, pos, keyed)
        walked = _offsets(window, *piece) if piece is not None else None
        if piece is None or walked is None:  # no cut that holds: one entry at a time
            entries, pos, done = _one_entry(window, start - window.base, keyed, key, count)
        else:
            start, end, done, raws, keys, document = piece
            span = (window.at(start), window.at(end))
            entries = Entries(key, count, raws, walked, keys, document, span)
            pos = window.skip_ws(end)
            if done:
                if window.byte(pos) != closer:
                    raise JsonError(window.at(pos), "expected ',' or the end of the list")
                pos += 1
            else:  # the cut is a '}' followed by a comma
                pos = window.skip_ws(pos + 1)
        count += len(entries.raws)
        yield entries
        if done:
            yield pos
            return
        if window.byte(pos) == closer:
            raise JsonError(window.at(pos), "a comma before the end of the list")


def _decode(piece: bytes, keyed: bool) -> tuple[list[msgspec.Raw], list[str] | None, bytes]:
    """The entries of ``piece`` (entries and separators, without the brackets), their keys, and the piece as
    a JSON document (in its brackets), which a reader can decode into its own types in one call."""
    if keyed:
        document = b"{" + piece + b"}"
        table = _RAW_DICT.decode(document)
        return list(table.values()), list(table.keys()), document
    document = b"[" + piece + b"]"
    return _RAW_LIST.decode(document), None, document


# (where the first entry starts, where the last ends, whether the section ends there, the entries, their keys,
# the piece as a JSON list or object)
Piece = tuple[int, int, bool, list[msgspec.Raw], list[str] | None, bytes]


def _piece(window: _Window, pos: int, keyed: bool) -> Piece | None:
    """Entries from ``pos`` decoded together: (end of the last one, whether the section ends there, raws, keys);
    None when no candidate cut holds and the caller must go entry by entry."""
    buf = window.buf
    if len(buf) - pos <= PIECE and window.eof:
        return _last_piece(window, pos, keyed)
    search = pos + PIECE
    for _ in range(MAX_CANDIDATES):
        match = _CUT.search(buf, search)
        if match is None:
            return _last_piece(window, pos, keyed)
        cut = match.start() + 1
        try:
            raws, keys, document = _decode(buf[pos:cut], keyed)
        except msgspec.DecodeError:
            if _ends_before(buf, pos, cut, keyed):
                return _last_piece(window, pos, keyed)
            search = match.end()
            continue
        return pos, cut, False, raws, keys, document
    walked = _walk(buf, pos, keyed)  # entries full of "}," (nested objects): found one by one instead
    if walked is None:
        return None
    try:
        raws, keys, document = _decode(buf[pos:walked], keyed)
    except msgspec.DecodeError:
        return None
    return pos, walked, False, raws, keys, document


def _walk(buf: bytes, pos: int, keyed: bool) -> int | None:
    """The end of the last whole entry within about ``PIECE`` bytes of ``pos``, found entry by entry (each
    one's end where msgspec sees trailing characters after it: linear, where trying cut after cut is not);
    None when not even one entry ends in what is read before the section does."""
    start, end = pos, None
    view = memoryview(buf)
    while end is None or end - start < PIECE:
        if keyed:
            match = _KEY.match(buf, pos)
            if match is None:
                break
            pos = match.end()
        try:
            _RAW.decode(view[pos:])
            break  # the entry runs to the end of what is read
        except msgspec.DecodeError as exc:
            text = str(exc)
            found = _BYTE.search(text)
            if "trailing characters" not in text or found is None:
                break
            value_end = pos + int(found.group(1)) - 1
        after = _SKIP_WS.match(buf, value_end).end()  # type: ignore[union-attr]
        if after >= len(buf) or buf[after] != 44:  # no comma: the section ends here (or the file is bad)
            break
        end = value_end
        pos = _SKIP_WS.match(buf, after + 1).end()  # type: ignore[union-attr]
    return end


def _ends_before(buf: bytes, pos: int, cut: int, keyed: bool) -> bool:
    """Whether the section opened just before ``pos`` closes before ``cut``."""
    try:
        _RAW.decode((b"{" if keyed else b"[") + buf[pos:cut])
    except msgspec.DecodeError as exc:
        return "trailing characters" in str(exc)
    return True


def _last_piece(window: _Window, pos: int, keyed: bool) -> Piece | None:
    """The rest of the section from ``pos``, when it ends in what can be read: found by where msgspec sees
    trailing characters after the section's closing bracket (reading on while the section is not complete);
    None when that is far off (the caller goes entry by entry)."""
    opener = b"{" if keyed else b"["
    while True:
        buf = window.buf
        try:
            _RAW.decode(opener + buf[pos:])
            end = len(buf)  # the section runs to the end of what is read
            if not window.eof:
                raise msgspec.DecodeError("Input data was truncated")
        except msgspec.DecodeError as exc:
            text = str(exc)
            if "trailing characters" in text:
                match = _BYTE.search(text)
                assert match is not None
                end = pos + int(match.group(1)) - 2  # one for the opener, one past the trailing byte
            elif "truncated" in text and not window.eof:
                if len(buf) - pos > 2 * PIECE:
                    return None
                pos = window.fill(pos, len(buf) - pos + WINDOW)
                continue
            else:
                return None  # not JSON somewhere here: entry by entry finds where
        buf = window.buf
        closing = buf.rindex(b"}" if keyed else b"]", pos, end)
        try:
            raws, keys, document = _decode(buf[pos:closing], keyed)
        except msgspec.DecodeError:
            return None
        return pos, closing, True, raws, keys, document


def _offsets(
    window: _Window,
    pos: int,
    end: int,
    done: bool,
    raws: list[msgspec.Raw],
    keys: list[str] | None,
    document: bytes,
) -> list[int] | None:
    """The file offset of each entry of a piece that starts at ``pos`` (separators and keys skipped); None when
    walking the piece does not land on its end (an object with a key twice, which the decoded dict merged)."""
    buf, base = window.buf, window.base
    offsets = []
    skip, key = _SKIP_SEP.match, _KEY.match
    for k, raw in enumerate(raws):
        c = buf[pos]
        if c in _WS or c == 44:  # white space or a comma before the entry
            pos = skip(buf, pos).end()  # type: ignore[union-attr]
        if keys is not None:
            match = key(buf, pos)
            if match is None:
                return None
            text = match.group(1)
            if text != keys[k].encode() and _decoded_key(text) != keys[k]:  # escapes decoded
                return None
            pos = match.end()
        offsets.append(base + pos)
        pos += len(raw)
    if _SKIP_WS.match(buf, pos).end() != _SKIP_WS.match(buf, end).end():  # type: ignore[union-attr]
        return None
    return offsets


def _one_entry(window: _Window, pos: int, keyed: bool, section: str, first: int) -> tuple[Entries, int, bool]:
    """The entry at ``pos`` alone (the robust path): its end found by msgspec; whether the section ends after."""
    keys: list[str] | None = None
    if keyed:
        key, pos = _key(window, pos)
        keys = [key]
        pos = window.skip_ws(pos)
    start, end = _value_end(window, pos)
    raw = _RAW.decode(window.buf[start:end])
    entries = Entries(section, first, [raw], [window.at(start)], keys)
    pos = window.skip_ws(end)
    c = window.byte(pos)
    closer = ord("}") if keyed else ord("]")
    if c == ord(","):
        return entries, window.skip_ws(pos + 1), False
    if c == closer:
        return entries, pos + 1, True
    if c < 0:
        raise JsonError(window.at(pos), "the file ends too early", truncated=True)
    raise JsonError(window.at(pos), "expected ',' or the end of the list")


def _decoded_key(text: bytes) -> str | None:
    """A key's text (between its quotes) decoded, None when it is not a valid JSON string."""
    try:
        key: str = orjson.loads(b'"' + text + b'"')
    except orjson.JSONDecodeError:
        return None
    return key


def read_back(source: Source, offsets: list[int], lengths: list[int]) -> Iterator[bytes]:
    """The raw bytes of entries at the given offsets (ascending): a read per run of neighbouring entries."""
    if not offsets:
        return
    if source.data is not None:
        data = source.data
        for offset, length in zip(offsets, lengths):
            yield data[offset : offset + length]
        return
    fd = os.open(source.path, os.O_RDONLY)
    try:
        k, n = 0, len(offsets)
        while k < n:
            start = offsets[k]
            stop = k + 1
            end = start + lengths[k]
            while stop < n and offsets[stop] - end < 4096 and offsets[stop] + lengths[stop] - start < WINDOW:
                end = offsets[stop] + lengths[stop]
                stop += 1
            block = os.pread(fd, end - start, start)
            for j in range(k, stop):
                yield block[offsets[j] - start : offsets[j] - start + lengths[j]]
            k = stop
    finally:
        os.close(fd)
