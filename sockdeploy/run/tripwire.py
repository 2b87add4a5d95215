"""Why a run must stop now, told from any thread, and noticing that sockdeploy itself was stopped.

A lost SSH connection or a host's watchdog that fired is noticed on a thread
of its own (see ssh.linkwatch and ssh.watchdog); the run's own thread checks
the tripwire between steps and while it waits for a client, so no later step
starts and a running client is stopped at once.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, List, Optional, Tuple

from sockdeploy.errors import SockdeployError


class Tripwire:
    """The first reason the run must stop, set from any thread; checked by the run's steps."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._error: Optional[SockdeployError] = None
        self.tripped_at: Optional[float] = None  # time.monotonic() when it was tripped

    def trip(self, error: SockdeployError) -> None:
        """Remember `error` as the reason to stop, unless one is remembered already (the first cause wins)."""
        with self._lock:
            if self._error is not None:
                return
            self._error, self.tripped_at = error, time.monotonic()
        self._event.set()

    @property
    def error(self) -> Optional[SockdeployError]:
        with self._lock:
            return self._error

    def __bool__(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise the reason to stop, if there is one."""
        error = self.error
        if error is not None:
            raise error

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` s for a reason to stop; return whether there is one."""
        return self._event.wait(timeout)

    def cause_before(self, moment: Optional[float]) -> Optional[SockdeployError]:
        """The reason to stop if it came before `moment` (time.monotonic(); None: any time)."""
        with self._lock:
            if self._error is None or self.tripped_at is None:
                return None
            return self._error if moment is None or self.tripped_at <= moment else None


def _clock() -> float:
    """Seconds that keep counting while this process is stopped and while the machine sleeps."""
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):  # not Linux
        return time.monotonic()


class PauseWatch:
    """Notice that this process was stopped (Ctrl-Z, SIGSTOP) or the machine slept: a ticking thread that
    finds a gap between its ticks. SIGCONT's handler calls check() so the run knows at once."""

    TICK = 0.25
    MIN_PAUSE = 2.0  # gaps shorter than this are a busy machine, not a stop

    def __init__(self, clock: Callable[[], float] = _clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last = clock()
        self.pauses: List[Tuple[float, float]] = []  # (time.monotonic() when it ended, seconds)
        self._thread: Optional[threading.Thread] = None

    def start(self) -> PauseWatch:
        """Start ticking (once per process; later calls do nothing)."""
        with self._lock:
            if self._thread is not None:
                return self
            self._last = self._clock()
            self._thread = threading.Thread(target=self._tick, name="sockdeploy-pausewatch", daemon=True)
        self._thread.start()
        return self

    def _tick(self) -> None:
        while True:
            time.sleep(self.TICK)
            self.check()

    def check(self) -> None:
        """Record a pause if the clock jumped since the last tick (safe from a signal handler: no waiting)."""
        if not self._lock.acquire(blocking=False):
            return  # the ticker is checking right now
        try:
            now = self._clock()
            gap = now - self._last - self.TICK
            self._last = now
            if gap >= self.MIN_PAUSE:
                self.pauses.append((time.monotonic(), gap))
        finally:
            self._lock.release()

    def longest_since(self, moment: float) -> float:
        """The longest pause that ended after `moment` (time.monotonic()), in seconds; 0 when none."""
        self.check()
        return max((seconds for ended, seconds in list(self.pauses) if ended >= moment), default=0.0)


# Stops reach the process, not a run: one watch for the process (see cli.app's SIGCONT handler).
PAUSES = PauseWatch()
