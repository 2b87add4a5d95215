"""The worker threads of a batch: each takes submissions off a queue until it is empty or the batch stops."""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterable, List


class Workers:
    """`count` threads calling `job(i)` for each queued index; joined by wait() and close().

    `stopped` is asked before each job: once it is true no new job starts,
    while jobs under way finish.
    """

    def __init__(self, count: int, items: Iterable[int], job: Callable[[int], None], stopped: Callable[[], bool],
                 *, name: str = "sockdeploy-grade") -> None:
        self._todo: queue.Queue[int] = queue.Queue()
        for i in items:
            self._todo.put(i)
        self._job = job
        self._stopped = stopped
        self._threads: List[threading.Thread] = [
            threading.Thread(target=self._work, name=f"{name}-{n + 1}", daemon=True) for n in range(max(1, count))]

    def __enter__(self) -> Workers:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start every worker thread."""
        for thread in self._threads:
            thread.start()

    def wait(self) -> None:
        """Wait until every worker is done; in short joins, so that Ctrl-C reaches the waiting (main) thread."""
        for thread in self._threads:
            while thread.is_alive():
                thread.join(0.2)

    def close(self) -> None:
        """Join every worker (the jobs under way end at their next step once the batch is stopped)."""
        self.wait()

    def _work(self) -> None:
        while not self._stopped():
            try:
                i = self._todo.get_nowait()
            except queue.Empty:
                return
            self._job(i)
