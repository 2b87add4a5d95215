"""Program logs of bounded size: the head and the tail of a program's output kept, the middle elided with a count.

A program may print without end. Its log keeps the first HEAD_BYTES of its
output, then writes the rest in pieces of PIECE_BYTES, of which only the
newest and the one before it are kept: the disk holds at most
HEAD_BYTES + 2 * PIECE_BYTES of it while it runs, and the kept tail is the
last 1 to 2 pieces. A piece also ends after PIECE_LINES lines, which bounds
the line times (one per line) kept with it. At the end the log reads: the
head, a line `[... N bytes elided ...]` when pieces were dropped, the tail.

sockdeploy writes client logs this way (CappedLog); on the server host
server_stamper.py (server_logcap.sh without python3) writes the same layout
and log_join.sh joins it.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import BinaryIO, List, Optional

HEAD_BYTES = 1024 * 1024
PIECE_BYTES = 1024 * 1024
PIECE_LINES = 20_000
# what the transcript and the answers show of each log: its first and last this many characters
SHOWN_HEAD = 64 * 1024
SHOWN_TAIL = 64 * 1024


def caps_arg(head: int = HEAD_BYTES, piece: int = PIECE_BYTES, lines: int = PIECE_LINES) -> str:
    """The caps as the host programs take them: "HEAD,PIECE,LINES"."""
    return f"{int(head)},{int(piece)},{int(lines)}"


def elision_note(count: int) -> str:
    """The line that stands for the COUNT bytes a log left out (log_join.sh prints the same)."""
    return f"[... {count} bytes elided ...]"


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n:,} bytes"


def contract(filename: str, elided: int) -> str:
    """Say what a log whose middle was elided keeps (for the transcript, above the log)."""
    return (f"The program printed more than a log keeps. {filename} has the first {_size(HEAD_BYTES)} of its "
            f"output ({PIECE_LINES:,} lines at most) and the last one or two pieces of {_size(PIECE_BYTES)} "
            f"({PIECE_LINES:,} lines at most each); the {elided:,} bytes between them are left out, "
            f"at the line `{elision_note(elided)}`.")


def elided_line(filename: str, elided: int) -> str:
    """Say, in one progress line, that FILENAME left out ELIDED bytes."""
    return (f"{filename}: the program printed more than a log keeps; {elided:,} bytes in the middle "
            "are left out (the first and the last MiB are kept)")


def fit(chunk: bytes, size: int, newlines: int, limit: int, max_lines: int) -> int:
    """Return how many bytes of CHUNK a piece holding SIZE bytes and NEWLINES newlines still takes.

    At most LIMIT bytes and MAX_LINES newlines in all: the piece ends at the
    byte limit or just after its last allowed newline. server_stamper.py cuts
    the same way.
    """
    room = limit - size
    left = max_lines - newlines
    if room <= 0 or left <= 0:
        return 0
    end = min(room, len(chunk))
    if chunk.count(b"\n", 0, end) < left:
        return end
    at = -1
    for _ in range(left):
        at = chunk.find(b"\n", at + 1, end)
    return at + 1


class LineTimes:
    """When each line of a stream began, noted as its chunks arrive (for the merged timeline)."""

    def __init__(self, began: Optional[float] = None) -> None:
        self.times: List[float] = []
        self._began = began  # the unfinished line's first byte

    def feed(self, chunk: bytes, now: float) -> None:
        """Note the lines CHUNK ends or starts, as received at time NOW."""
        if not chunk:
            return
        if self._began is None:
            self._began = now
        count = chunk.count(b"\n")
        if count:
            # the first line ending here began earlier; the others began in this chunk
            self.times.append(self._began)
            self.times.extend([now] * (count - 1))
            self._began = now
        if chunk.endswith(b"\n"):
            self._began = None

    def end(self) -> List[float]:
        """Count a last line without a newline too; return every line's time."""
        if self._began is not None:
            self.times.append(self._began)
            self._began = None
        return self.times

    def split(self) -> LineTimes:
        """End these lines here (an unfinished one counts); return the times of what follows, which continues it."""
        began = self._began
        self.end()
        return LineTimes(began)


class _Piece:
    """One piece of a capped log: a file (or the log itself), its size, its lines' times."""

    def __init__(self, path: Path, fh: BinaryIO, limit: int, times: LineTimes) -> None:
        self.path = path
        self.fh = fh
        self.limit = limit
        self.size = 0
        self.newlines = 0
        self.ends_line = True  # empty, or its last byte is a newline
        self.times = times

    def write(self, data: bytes, now: float) -> None:
        self.fh.write(data)
        self.fh.flush()
        self.size += len(data)
        self.newlines += data.count(b"\n")
        self.ends_line = data.endswith(b"\n")
        self.times.feed(data, now)


def piece_path(path: Path, index: int) -> Path:
    """Where piece INDEX (1, 2, ...) of the log at PATH is written until the log is closed."""
    return path.with_name(f"{path.name}.{index}")


class CappedLog:
    """A program's output appended to its log (after what the file holds), kept as the module docstring says.

    Safe to write from one thread and close from another; once closed, writes are refused.
    """

    def __init__(self, path: Path, *, head: int = HEAD_BYTES, piece: int = PIECE_BYTES,
                 lines: int = PIECE_LINES) -> None:
        self.path = path
        self.elided = 0
        self.total = 0
        self._piece_limit = piece
        self._lines = lines
        self._lock = threading.Lock()
        self._closed = False
        self._times: List[float] = []
        self._head = _Piece(path, open(path, "ab"), head, LineTimes())
        self._older: Optional[_Piece] = None
        self._current = self._head
        self._index = 0

    def write(self, chunk: bytes, now: float) -> bool:
        """Keep what CHUNK adds to the output, received at time NOW; return False once the log is closed."""
        with self._lock:
            if self._closed:
                return False
            self.total += len(chunk)
            while chunk:
                cur = self._current
                n = fit(chunk, cur.size, cur.newlines, cur.limit, self._lines)
                if n == 0:
                    self._next_piece()
                    continue
                cur.write(chunk[:n], now)
                chunk = chunk[n:]
            return True

    def _next_piece(self) -> None:
        """Start the next piece; of the earlier ones keep the head and the newest, dropping the one before."""
        cur = self._current
        times = cur.times.split()
        if cur is not self._head:
            cur.fh.close()
            if self._older is not None:
                self.elided += self._older.size
                self._older.path.unlink()
            self._older = cur
        self._index += 1
        path = piece_path(self.path, self._index)
        self._current = _Piece(path, open(path, "wb"), self._piece_limit, times)

    def close(self) -> None:
        """Join the kept pieces into the log: the head, the elision note if any, the tail. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._current.times.end()
            tail = [p for p in (self._older, self._current) if p is not None and p is not self._head]
            head = self._head
            times = list(head.times.times)
            before: Optional[_Piece] = head
            if self.elided:
                note = elision_note(self.elided).encode()
                head.fh.write((b"" if head.ends_line else b"\n") + note + b"\n")
                firsts = [p.times.times[0] for p in tail if p.times.times]
                times.append(firsts[0] if firsts else times[-1] if times else 0.0)
                before = None
            for piece in tail:
                if piece is self._current:
                    piece.fh.close()
                with open(piece.path, "rb") as src:
                    shutil.copyfileobj(src, head.fh, 1024 * 1024)
                os.unlink(piece.path)
                # a line cut between two pieces that stay together is one line, with the first piece's time
                joined = before is not None and before.size > 0 and not before.ends_line
                times += piece.times.times[1:] if joined else piece.times.times
                before = piece
            head.fh.close()
            self._times = times

    @property
    def times(self) -> List[float]:
        """When each line of the kept log began (after close()): one per line, the elision note's included."""
        return self._times

    def __enter__(self) -> CappedLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def excerpt(text: str, filename: str, head: int = SHOWN_HEAD, tail: int = SHOWN_TAIL) -> str:
    """Return TEXT, or when longer than HEAD + TAIL characters its first and last whole lines up to those sizes,
    with a line saying how much is not shown and that FILENAME has it."""
    if len(text) <= head + tail:
        return text
    cut = text.rfind("\n", 0, head) + 1 or head  # after the head's last whole line (a cut line if none)
    nl = text.find("\n", len(text) - tail - 1, len(text) - 1)
    start = nl + 1 if nl >= 0 else len(text) - tail  # at the tail's first whole line (a cut line if none)
    hidden = text[cut:start]
    lines = hidden.count("\n")
    note = f"[... {lines:,} more lines ({len(hidden.encode()):,} bytes) not shown here: see {filename} ...]\n"
    return text[:cut] + ("" if text[:cut].endswith("\n") else "\n") + note + text[start:]
