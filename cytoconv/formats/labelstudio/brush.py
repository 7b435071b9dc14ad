"""The Label Studio brush RLE: a bit-packed run-length code of an ``H x W x 4`` RGBA byte array.

Label Studio's brush tool (and ``label-studio-converter``'s ``mask2rle``) store a mask as the RLE of the
flattened RGBA canvas (row-major, four bytes per pixel), packed as the ``rle-pack`` scheme of thi.ng/umbrella
describes it. Written here from that description, bits most significant first:

- a header: the number of values ``num`` (32 bits), the word size - 1 (5 bits, 8 for bytes), then four run-size
  classes, each as its bit count - 1 (4 bits each; Label Studio writes 3, 4, 8, 16);
- then chunks until ``num`` values are out: a flag bit (1: one value repeated, 0: literal values), a 2-bit
  class ``t``, the chunk length - 1 in ``sizes[t]`` bits, then one word (repeat) or ``length`` words (literal);
- zero bits pad the last byte.

The mask is the alpha channel: a pixel is inside when its alpha is at least 128 (a brush paints 255; an
antialiased edge counts when it is at least half painted). The encoder writes what ``mask2rle`` writes: all
four channels 255 inside, 0 outside, and only repeat chunks (a lone value as a literal of one).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SIZES = (3, 4, 8, 16)  # the run-size classes Label Studio writes
WORD = 8
ALPHA_INSIDE = 128  # alpha at least this: the pixel is inside


class BrushError(ValueError):
    """A brush RLE that cannot be decoded, or does not hold the number of values it should."""


class _Bits:
    """Reads fields of up to 32 bits, most significant bit first, from bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data) * 8

    def read(self, n: int) -> int:
        if self.pos + n > self.end:
            raise BrushError("the RLE ends in the middle of a chunk (truncated)")
        first, last = self.pos >> 3, (self.pos + n + 7) >> 3
        chunk = int.from_bytes(self.data[first:last], "big")
        shift = last * 8 - self.pos - n
        self.pos += n
        return (chunk >> shift) & ((1 << n) - 1)


def header(rle: bytes) -> tuple[int, int, tuple[int, ...]]:
    """The header of a brush RLE: the number of values, the word size, the four run-size classes."""
    bits = _Bits(rle)
    num = bits.read(32)
    word = bits.read(5) + 1
    return num, word, tuple(bits.read(4) + 1 for _ in range(4))


def decode(rle: bytes, expected: int | None = None) -> npt.NDArray[np.uint8]:
    """The values of a brush RLE (``num`` bytes); ``expected``: the number the header must say (``W*H*4``).
    A header of another length, a word size other than 8, a chunk running past the end or a stream that
    stops short is a ``BrushError`` saying which."""
    bits = _Bits(rle)
    num = bits.read(32)
    word = bits.read(5) + 1
    sizes = [bits.read(4) + 1 for _ in range(4)]
    if expected is not None and num != expected:
        raise BrushError(f"the RLE holds {num:,} values, not {expected:,} (width x height x 4)")
    if word != WORD:
        raise BrushError(f"a word size of {word} bits, not 8 (RGBA bytes)")
    out = np.zeros(num, dtype=np.uint8)
    i = 0
    while i < num:
        repeat = bits.read(1)
        n = bits.read(sizes[bits.read(2)]) + 1
        if i + n > num:
            raise BrushError(f"a run of {n} values at value {i:,} goes past the {num:,} the header says")
        if repeat:
            value = bits.read(word)
            if value:
                out[i : i + n] = value
        else:
            out[i : i + n] = [bits.read(word) for _ in range(n)]
        i += n
    return out


def decode_mask(rle: bytes, height: int, width: int) -> npt.NDArray[np.bool_]:
    """The ``(height, width)`` mask of a brush RLE: alpha (the fourth byte of each pixel) at least 128."""
    values = decode(rle, height * width * 4)
    return (values[3::4] >= ALPHA_INSIDE).reshape(height, width)


class _Writer:
    """Writes fields most significant bit first, flushing whole bytes as they fill."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.nbits = 0

    def write(self, value: int, n: int) -> None:
        self.acc = (self.acc << n) | value
        self.nbits += n
        while self.nbits >= 8:
            self.nbits -= 8
            self.out.append((self.acc >> self.nbits) & 0xFF)
        self.acc &= (1 << self.nbits) - 1

    def bytes(self) -> bytes:
        if self.nbits:
            self.out.append((self.acc << (8 - self.nbits)) & 0xFF)
            self.nbits = 0
            self.acc = 0
        return bytes(self.out)


def _length(w: _Writer, m: int) -> None:
    """A chunk length - 1 in the smallest class that holds it."""
    t = next(k for k, size in enumerate(SIZES) if m < 1 << size)
    w.write(t, 2)
    w.write(m, SIZES[t])


def encode_mask(mask: npt.NDArray[np.bool_]) -> list[int]:
    """A ``(height, width)`` mask as a brush RLE (the list of bytes Label Studio's JSON holds): RGBA 255 inside,
    0 outside, row-major."""
    flat = np.ascontiguousarray(mask, dtype=bool).reshape(-1)
    num = flat.size * 4
    w = _Writer()
    w.write(num, 32)
    w.write(WORD - 1, 5)
    for size in SIZES:
        w.write(size - 1, 4)
    if flat.size:
        edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        starts = np.concatenate(([0], edges))
        lengths = np.diff(np.concatenate((starts, [flat.size]))) * 4
        biggest = 1 << SIZES[-1]
        for start, length in zip(starts.tolist(), lengths.tolist()):
            value = 255 if flat[start] else 0
            while length:
                n = min(length, biggest)
                w.write(1 if n > 1 else 0, 1)
                _length(w, n - 1)
                w.write(value, WORD)
                length -= n
    return list(w.bytes())
