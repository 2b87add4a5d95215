"""Progress of a batch (a bar, or one line per result) and of each run in it (its progress.log)."""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, TextIO

from sockdeploy.errors import SockdeployError
from sockdeploy.grading.outcome import Outcome
from sockdeploy.output.progress import Progress, StepResult, use_color


class BatchProgress:
    """done/total with passed/failed counts: a bar redrawn in place on a terminal, one line per result when piped.

    Worker threads report into it; a lock keeps their lines whole. It starts no thread.
    """

    WIDTH = 24

    def __init__(self, total: int, stream: Optional[TextIO] = None, *, quiet: bool = False) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.color = use_color(self.stream)
        self.done = self.passed = self.failed = self.running = 0
        self._lock = threading.Lock()

    def __enter__(self) -> BatchProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def info(self, message: str) -> None:
        """Print a message line above the bar."""
        with self._lock:
            if not self.quiet:
                self._clear()
                print(f"  {message}", file=self.stream, flush=True)
                self._draw()

    def started(self, name: str) -> None:
        """Count one more run under way."""
        with self._lock:
            self.running += 1
            self._draw()

    def finished(self, outcome: Outcome, ran: bool = True) -> None:
        """Count one submission done and print its result line."""
        with self._lock:
            if ran:
                self.running -= 1
            self.done += 1
            if outcome.passed:
                self.passed += 1
            else:
                self.failed += 1
            if self.quiet:
                return
            verdict = outcome.verdict
            if self.color:
                verdict = f"\033[{'32' if outcome.passed else '31'}m{verdict}\033[0m"
            self._clear()
            print(f"  [{self.done}/{self.total}] {outcome.submission.name}: {verdict} ({outcome.seconds:.1f} s)",
                  file=self.stream, flush=True)
            self._draw()

    def bar(self) -> str:
        """Return the bar's text."""
        filled = int(self.WIDTH * self.done / self.total) if self.total else self.WIDTH
        return (f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.done}/{self.total}  "
                f"passed {self.passed}  failed {self.failed}  running {self.running}")

    def close(self) -> None:
        """Wipe the bar, so the lines after it start clean."""
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\r\033[K")

    def _draw(self) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\r\033[K" + self.bar())
            self.stream.flush()


class RunProgress(Progress):
    """A run's step lines, into its progress.log; once the batch is stopped, the next step (not cleanup) ends the run."""

    CLEANUP = ("stop the server", "clean up")

    def __init__(self, stream: TextIO, stop: Callable[[], Optional[SockdeployError]]) -> None:
        super().__init__(stream, verbose=True)
        self._stop = stop

    @contextmanager
    def step(self, label: str) -> Iterator[StepResult]:
        """Run one step, unless the batch was stopped and the step is not cleanup."""
        stop = self._stop()
        if stop is not None and not label.startswith(self.CLEANUP):
            raise stop
        with super().step(label) as result:
            yield result
