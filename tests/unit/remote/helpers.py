"""Helpers for running sockdeploy's host programs on this machine (LocalHost, no SSH)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Callable

from sockdeploy.remote.host import Host
from sockdeploy.run.workspace import Workspace


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


def private_workspace(host: Host, path: Path) -> Workspace:
    """Return a Workspace of folder PATH as create_workspace leaves one: mode 0700, its inode noted.

    A folder that does not exist stays absent (inode 0), for the tests of a folder already gone.
    """
    if path.is_dir():
        path.chmod(0o700)
    return Workspace(host=host, path=str(path), used_ports=set(), inode=str(path.stat().st_ino) if path.exists() else "0")
