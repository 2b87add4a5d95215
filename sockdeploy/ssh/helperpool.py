"""The remote helpers of one connection: at most `limit`, each running one script at a time."""

from __future__ import annotations

import threading
from typing import Any, Callable, List, Optional

from sockdeploy.ssh import helper as helper_mod
from sockdeploy.ssh.helper import RemoteHelper


class HelperPool:
    """Idle remote helpers of one connection, and how many exist; off for good on a host without python3."""

    def __init__(self, start: Callable[[], RemoteHelper], limit: int = 1) -> None:
        """`start` opens a channel and starts a new helper on it."""
        self._start = start
        self.limit = limit
        self._idle: List[RemoteHelper] = []
        self._count = 0
        self._off = False
        self._lock = threading.Lock()

    def borrow(self) -> Optional[RemoteHelper]:
        """Return an idle helper, a newly started one, or None (helpers off, or all busy)."""
        with self._lock:
            if self._off or not helper_mod.enabled():
                return None
            if self._idle:
                return self._idle.pop()
            if self._count >= self.limit:
                return None
            self._count += 1
        try:
            return self._start()
        except BaseException:
            with self._lock:
                self._count -= 1
            raise

    def give_back(self, helper: RemoteHelper, connection: Any) -> None:
        """Keep `helper` for the next script if it is sound and still on `connection`, else end it."""
        with self._lock:
            # not one from before a reconnect: its channel died with its connection
            if not helper.broken and not self._off and helper.owner is connection:
                self._idle.append(helper)
                return
            self._count -= 1
        helper.close()

    def turn_off(self) -> None:
        """Run no more scripts through helpers (the host has no python3)."""
        with self._lock:
            self._off = True

    def close(self) -> None:
        """End the idle helpers; busy ones end when they are given back."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for helper in idle:
            helper.close()

    def __enter__(self) -> HelperPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
