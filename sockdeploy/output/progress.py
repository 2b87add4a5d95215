"""Step-by-step progress for people: what is happening and how long each step took."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import Iterator, Optional, TextIO


def use_color(stream: TextIO) -> bool:
    """Colour only a terminal, and never when NO_COLOR is set or TERM is dumb."""
    return (hasattr(stream, "isatty") and stream.isatty() and not os.environ.get("NO_COLOR")
            and os.environ.get("TERM") != "dumb")


class StepResult:
    """What a finished step says: "ok" unless the step sets another word (e.g. "blocked")."""

    def __init__(self) -> None:
        self.word = "ok"
        self.good = True

    def set(self, word: str, good: bool) -> None:
        self.word, self.good = word, good


class Progress:
    """Print each step with its duration on stderr; quiet prints nothing."""

    def __init__(self, stream: Optional[TextIO] = None, *, quiet: bool = False, verbose: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.verbose = verbose
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.color = use_color(self.stream)

    def _color(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def info(self, message: str) -> None:
        """Print a line (unless quiet)."""
        if not self.quiet:
            print(f"  {message}", file=self.stream, flush=True)

    def detail(self, message: str) -> None:
        """Print a line only with --verbose (and not quiet)."""
        if self.verbose and not self.quiet:
            print(f"    {message}", file=self.stream, flush=True)

    @contextmanager
    def step(self, label: str) -> Iterator[StepResult]:
        """Show `label` while the block runs, then its result (ok, the word the block set, or failed) and duration."""
        start = time.monotonic()
        result = StepResult()
        if self.tty and not self.quiet:
            self.stream.write(f"  … {label}")
            self.stream.flush()
        try:
            yield result
        except BaseException:
            result.set("failed", False)
            self._end(label, start, result)
            raise
        self._end(label, start, result)

    def _end(self, label: str, start: float, result: StepResult) -> None:
        if self.quiet:
            return
        took = time.monotonic() - start
        mark = self._color(result.word, "32" if result.good else "31")
        prefix = "\r\033[K" if self.tty else ""
        print(f"{prefix}  {label}: {mark} ({took:.2f} s)", file=self.stream, flush=True)
