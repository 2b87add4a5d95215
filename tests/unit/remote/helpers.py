"""Helpers for running sockdeploy's host programs on this machine (LocalHost, no SSH)."""

from __future__ import annotations

import shlex
import socket
import time
from pathlib import Path
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


TOKEN = "5ec7e7" + "0" * 26  # a run's token in the tests (hex, as runtag.new_token makes them)


def daemon(pidfile: Path, hold_output: bool = False) -> str:
    """Return a sh command that leaves `sleep` in a session of its own (setsid, double fork); its pid goes to pidfile.

    With `hold_output` it keeps the caller's stdout and stderr open, as a careless daemon does.
    """
    inner = f"echo $$ > {shlex.quote(str(pidfile))}; exec sleep 60"
    redirect = "" if hold_output else " </dev/null >/dev/null 2>&1"
    return f"(setsid sh -c {shlex.quote(inner)}{redirect} &)"


def pid_in(pidfile: Path, limit: float = 10.0) -> int:
    """Wait for `pidfile` to hold a pid; return it."""
    assert wait_until(lambda: pidfile.is_file() and pidfile.read_text().strip().isdigit(), limit)
    return int(pidfile.read_text())


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
