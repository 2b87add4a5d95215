"""The watchdogs: a host's watchdog stops the run's processes and removes its folder once the run is gone."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Optional

from sockdeploy.remote import marker
from sockdeploy.remote.program import PROCS, sh_command
from sockdeploy.run.runtag import watchdog_line

WATCHDOG_SILENCE = 20  # seconds without a heartbeat before the server host stops the server
WATCHDOG_READY = (marker.PREFIX + "WATCHING").encode()  # its pid file is written: it guards the run
# This machine's watchdog acts on the end of its pipe alone: nothing between here and here can go silent.
LOCAL_SILENCE = 10 ** 9
PID_FILE = "lifeline.pid"  # the watchdog's pid file (named in watchdog.sh and run_procs.sh too)
HEARTBEAT = 5.0  # seconds between two heartbeats at the default silence
# The fault tests shorten the window (a stop past it in seconds, not half a minute); not for users.
SILENCE_ENV = "SOCKDEPLOY_WATCHDOG_SILENCE"


def silence() -> int:
    """Seconds without a heartbeat before a host's watchdog acts."""
    try:
        return max(2, int(os.environ.get(SILENCE_ENV, "")))
    except ValueError:
        return WATCHDOG_SILENCE


def heartbeat_interval() -> float:
    """Seconds between two heartbeats: several fit into the watchdog's window."""
    return min(HEARTBEAT, silence() / 4)


def watchdog_script(run_dir: str, roles: str = "", window: Optional[int] = None) -> str:
    """Return the command that runs the watchdog (watchdog.sh) for the run folder `run_dir`, for the whole run.

    It replaces the channel's shell, so it watches the sshd process that started it.
    `roles` are the roles of the run's tagged processes it stops on that host (empty: all).
    """
    window = silence() if window is None else window
    listen = max(1, min(5, window // 4))  # seconds it listens at a time (the window is counted in these)
    return sh_command(PROCS, "watchdog.sh", args=[run_dir, window, roles, listen], replace=True)


class LocalWatchdog:
    """watchdog.sh for a run folder on this machine, fed through a pipe from sockdeploy.

    Should sockdeploy die in any way (kill -9 included), the pipe's end closes and
    the watchdog stops the run's processes here (the local server of exercises
    1-4, clients' leftovers) and removes the folder. Its process is joined by close().
    """

    def __init__(self, run_dir: str, token: Optional[str], roles: str = "") -> None:
        self._dir = run_dir
        self._proc = subprocess.Popen(["/bin/sh", "-c", watchdog_script(run_dir, roles, LOCAL_SILENCE)],
                                      stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)
        self._send(watchdog_line(token) + b".")

    def _send(self, data: bytes) -> None:
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write(data)
            self._proc.stdin.flush()
        except (OSError, ValueError):  # it ended already (its folder is gone)
            pass

    def ensure(self) -> None:
        """Nothing to wait for: it runs from the start."""

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until it has written its pid file (or ended)."""
        deadline = time.monotonic() + timeout
        while (self._proc.poll() is None and not os.path.exists(os.path.join(self._dir, PID_FILE))
               and time.monotonic() < deadline):
            time.sleep(0.01)

    def close(self, wait: float = 5.0) -> None:
        """Say goodbye ("q") and wait for it to end."""
        self._send(b"q")
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> LocalWatchdog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
