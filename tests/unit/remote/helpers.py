"""Helpers for running sockdeploy's host programs on this machine (LocalHost, no SSH)."""

from __future__ import annotations

import socket
import time
from typing import Callable


def wait_until(check: Callable[[], bool], limit: float = 10.0) -> bool:
    """Poll `check` until it holds or `limit` seconds pass; return its last answer."""
    end = time.monotonic() + limit
    while not check():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
