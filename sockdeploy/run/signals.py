"""Holding Ctrl-C and SIGTERM off while cleanup runs, and remembering them for afterwards."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Callable, ContextManager, Dict, Iterator, List, Optional, Union

from sockdeploy.errors import HangUp, Interrupted, SockdeployError, Terminated

_Handler = Union[Callable[[int, Optional[FrameType]], object], int, None]


def on_main_thread() -> bool:
    """Whether this thread receives signals (only the main thread does, and only it may set handlers)."""
    return threading.current_thread() is threading.main_thread()


class SignalHold:
    """The signals that arrived while cleanup was shielded, to be reported once the run has ended."""

    def __init__(self) -> None:
        self._held: List[int] = []
        self._lock = threading.Lock()

    def held(self) -> List[int]:
        """Return the signals held so far, first first."""
        with self._lock:
            return list(self._held)

    def first(self) -> Optional[int]:
        """Return the first signal held, or None."""
        with self._lock:
            return self._held[0] if self._held else None

    def hold(self, signum: int) -> None:
        """Remember a signal that arrived while shielded."""
        with self._lock:
            self._held.append(signum)

    def clear(self) -> None:
        """Forget the held signals (they have been reported)."""
        with self._lock:
            self._held.clear()

    def __bool__(self) -> bool:
        return self.first() is not None

    @contextmanager
    def shielded(self) -> Iterator[None]:
        """Hold off Ctrl-C and SIGTERM while cleanup runs, so no remote state is left half-done."""
        previous: Dict[signal.Signals, _Handler] = {}

        def hold(signum: int, _frame: Optional[FrameType]) -> None:
            self.hold(signum)

        # Off the main thread, e.g. the worker threads of `sockdeploy batch`, there is nothing to shield.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP) if on_main_thread() else ():
            try:
                previous[sig] = signal.signal(sig, hold)
            except ValueError:  # not the main thread after all
                pass
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def error(self, folder: Path) -> Optional[SockdeployError]:
        """The error a held signal stands for, or None when none arrived."""
        signum = self.first()
        if signum is None:
            return None
        if signum == signal.SIGHUP:
            return HangUp("hung up (SIGHUP) during cleanup; cleanup was completed first",
                          f"the transcripts are in {folder}")
        if signum == signal.SIGTERM:
            return Terminated("terminated (SIGTERM) during cleanup; cleanup was completed first",
                              f"the transcripts are in {folder}")
        return Interrupted("interrupted (Ctrl-C) during cleanup; cleanup was completed first",
                           f"the transcripts are in {folder}")


# Signals reach the process, not a run: one hold for the process, shared by runs and the grader.
HOLD = SignalHold()


def shielded() -> ContextManager[None]:
    """Shield with the process's hold (see SignalHold.shielded)."""
    return HOLD.shielded()
