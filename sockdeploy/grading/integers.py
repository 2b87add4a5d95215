"""The integers on the wire and in the server's output: decoding, byte-swapping, and matching them in order.

A client's bytes are read as text (decimal numbers between any separators,
NUL padding included) or as 32-bit words in network byte order. When both
readings fit, the one whose values the server's output shows more of wins,
ties to text. A value counts as printed when the server shows it as sent,
byte-swapped (the htonl/ntohl confusion the exercise does not grade), or
either of those as a signed 32-bit number (`%d` instead of `%u`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple, Union

Item = Union[int, str]  # an integer, or a word such as "quit"
MASK = 0xFFFFFFFF
_TEXT_TOKEN = re.compile(rb"[-+]?\d+|[A-Za-z]+")
_OUTPUT_INT = re.compile(r"(?<![\w.])-?\d+")
# Addresses and ip:port pairs in a server's output are not data values.
_ADDRESS = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?")
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | frozenset(b"\t\r\n\v\f\0")
MAX_ALIGN_CELLS = 4_000_000  # values x output numbers above this: matched greedily instead of aligned


@dataclass(frozen=True)
class Decoded:
    """One reading of the bytes a client sent."""

    encoding: str  # "text" or "binary"
    items: Tuple[Item, ...]
    leftover: int = 0  # binary: trailing bytes that make no whole word

    @property
    def integers(self) -> List[int]:
        return [i for i in self.items if isinstance(i, int)]


def bswap32(value: int) -> int:
    """VALUE's four bytes in the other order."""
    return int.from_bytes((value & MASK).to_bytes(4, "big"), "little")


def as_text(data: bytes) -> Optional[Decoded]:
    """DATA read as text (numbers and words), or None when it holds bytes no text protocol sends."""
    if not data or any(b not in _TEXT_BYTES for b in data):
        return None
    items: List[Item] = []
    for token in _TEXT_TOKEN.findall(data):
        text = token.decode("ascii")
        items.append(int(text) if text[-1].isdigit() else text.lower())
    return Decoded("text", tuple(items)) if any(isinstance(i, int) for i in items) else None


def as_words(data: bytes) -> Optional[Decoded]:
    """DATA read as 32-bit words in network byte order, or None when it is shorter than one word."""
    if len(data) < 4:
        return None
    words = tuple(int.from_bytes(data[i:i + 4], "big") for i in range(0, len(data) - len(data) % 4, 4))
    return Decoded("binary", words, len(data) % 4)


def readings(parts: Sequence[bytes]) -> List[Decoded]:
    """Every plausible reading of one client run's bytes (PARTS: its connections' or datagrams' bytes)."""
    out = []
    texts = [as_text(p) for p in parts if p]
    if texts and all(t is not None for t in texts):
        out.append(Decoded("text", tuple(i for t in texts if t is not None for i in t.items)))
    words = [as_words(p) for p in parts if p]
    if words and all(w is not None for w in words):
        whole = [w for w in words if w is not None]
        out.append(Decoded("binary", tuple(i for w in whole for i in w.items), sum(w.leftover for w in whole)))
    return out


def output_integers(text: str) -> List[int]:
    """The numbers a server printed, in order (addresses such as 127.0.0.1:5000 left out)."""
    return [int(m) for m in _OUTPUT_INT.findall(_ADDRESS.sub(" ", text))]


def shown_as(value: int, printed: int) -> bool:
    """Whether PRINTED shows VALUE: as sent, byte-swapped, or either as a signed or unsigned 32-bit number."""
    if printed == value:
        return True
    if not (-(2 ** 31) <= printed <= MASK and -(2 ** 31) <= value <= MASK):
        return False
    return printed & MASK in (value & MASK, bswap32(value))


def best_reading(parts: Sequence[bytes], printed: Sequence[int]) -> Optional[Decoded]:
    """The reading whose integers the output shows most of (text first on a tie); None when nothing reads."""
    options = readings(parts)
    if not options:
        return None
    shown = set(printed) | {p & MASK for p in printed if -(2 ** 31) <= p <= MASK}
    swapped = {bswap32(p) for p in shown if 0 <= p <= MASK}

    def score(d: Decoded) -> int:
        return sum(1 for v in d.integers if v in shown or (0 <= v <= MASK and (v in swapped or v & MASK in shown)))

    return max(options, key=score)  # max keeps the first (text) on a tie


def align(values: Sequence[int], printed: Sequence[int]) -> List[bool]:
    """Which VALUES the output shows in order: the longest common subsequence (shown_as) of the two."""
    return [k is not None for k in matches(values, printed)]


def matches(values: Sequence[int], printed: Sequence[int]) -> List[Optional[int]]:
    """For each of VALUES, the index of the printed number it matched in the alignment (None: missing)."""
    n, m = len(values), len(printed)
    if n * m > MAX_ALIGN_CELLS:
        return _greedy(values, printed)
    # lengths[i][j]: the longest match of values[i:] with printed[j:]
    lengths = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, below = lengths[i], lengths[i + 1]
        for j in range(m - 1, -1, -1):
            row[j] = below[j + 1] + 1 if shown_as(values[i], printed[j]) else max(below[j], row[j + 1])
    found: List[Optional[int]] = [None] * n
    i = j = 0
    while i < n and j < m:
        if shown_as(values[i], printed[j]) and lengths[i][j] == lengths[i + 1][j + 1] + 1:
            found[i] = j
            i, j = i + 1, j + 1
        elif lengths[i + 1][j] >= lengths[i][j + 1]:
            i += 1
        else:
            j += 1
    return found


def _greedy(values: Sequence[int], printed: Sequence[int]) -> List[Optional[int]]:
    found: List[Optional[int]] = []
    j = 0
    for v in values:
        k = next((k for k in range(j, len(printed)) if shown_as(v, printed[k])), None)
        found.append(k)
        if k is not None:
            j = k + 1
    return found


def anywhere(value: int, printed: Iterable[int]) -> bool:
    """Whether any of PRINTED shows VALUE."""
    return any(shown_as(value, p) for p in printed)
