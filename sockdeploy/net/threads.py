"""Threads with one owner: the object that starts them joins them when it closes."""

from __future__ import annotations

import threading
from typing import Any, Callable, List, Optional, Set


class ThreadGroup:
    """Start daemon threads for one owner; join them all on close.

    Once closed, the group starts nothing more, so a late arrival (a connection
    accepted while the owner shuts down) cannot leave a thread nobody joins.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: Set[threading.Thread] = set()
        self._closed = False

    def __enter__(self) -> ThreadGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, target: Callable[..., Any], *args: Any, name: str) -> bool:
        """Run `target(*args)` on a new thread; return False (and start nothing) once closed."""
        thread = threading.Thread(target=self._run, args=(target, args), name=name, daemon=True)
        with self._lock:
            if self._closed:
                return False
            self._threads.add(thread)
        thread.start()
        return True

    def _run(self, target: Callable[..., Any], args: tuple) -> None:
        try:
            target(*args)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    @property
    def busy(self) -> bool:
        """Whether any thread of the group still runs."""
        with self._lock:
            return bool(self._threads)

    def running(self) -> List[threading.Thread]:
        """Return the threads that still run."""
        with self._lock:
            return list(self._threads)

    def close(self, timeout: Optional[float] = 2.0) -> None:
        """Refuse new threads and join the running ones (each up to `timeout` s; None: until they end)."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=timeout)
