"""The server host's watchdog: stops the run's server and removes its folder once the connection dies."""

from __future__ import annotations

import os

from sockdeploy.remote import marker
from sockdeploy.remote.program import PROCS, sh_command

WATCHDOG_SILENCE = 20  # seconds without a heartbeat before the server host stops the server
WATCHDOG_READY = (marker.PREFIX + "WATCHING").encode()  # its pid file is written: it guards the run
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


def watchdog_script(run_dir: str) -> str:
    """Return the command that runs the watchdog (watchdog.sh) for the run folder `run_dir`, for the whole run.

    It replaces the channel's shell, so it watches the sshd process that started it.
    """
    window = silence()
    listen = max(1, min(5, window // 4))  # seconds it listens at a time (the window is counted in these)
    return sh_command(PROCS, "watchdog.sh", args=[run_dir, window, listen], replace=True)
