"""The server host's watchdog: stops the run's server and removes its folder once the connection dies."""

from __future__ import annotations

from sockdeploy.remote import marker
from sockdeploy.remote.program import PROCS, sh_command

WATCHDOG_SILENCE = 20  # seconds without a heartbeat before the server host stops the server
WATCHDOG_READY = (marker.PREFIX + "WATCHING").encode()  # its pid file is written: it guards the run


def watchdog_script(run_dir: str) -> str:
    """Return the command that runs the watchdog (watchdog.sh) for the run folder `run_dir`, for the whole run.

    It replaces the channel's shell, so it watches the sshd process that started it.
    """
    return sh_command(PROCS, "watchdog.sh", args=[run_dir, WATCHDOG_SILENCE], replace=True)
