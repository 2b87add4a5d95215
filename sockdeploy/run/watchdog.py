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


def watchdog_script(run_dir: str, roles: str = "", silence: int = WATCHDOG_SILENCE) -> str:
    """Return the command that runs the watchdog (watchdog.sh) for the run folder `run_dir`, for the whole run.

    It replaces the channel's shell, so it watches the sshd process that started it.
    `roles` are the roles of the run's tagged processes it stops on that host (empty: all).
    """
    return sh_command(PROCS, "watchdog.sh", args=[run_dir, silence, roles], replace=True)


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
