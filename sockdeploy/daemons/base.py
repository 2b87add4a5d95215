"""What both background processes (the tunnel daemon and the lab keeper) share: a state file,
a detached spawn of `python -m sockdeploy.daemons.NAME`, a pid check, a stop signal and a stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, NoReturn, Optional, Sequence

from sockdeploy.errors import SockdeployError


def state_home() -> Path:
    """Return (and create, private) sockdeploy's folder under $XDG_STATE_HOME (~/.local/state)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    home = Path(base) / "sockdeploy"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return home


def pid_alive(pid: int) -> bool:
    """Return whether process `pid` runs (a zombie does not; one of another user does)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def process_start(pid: int) -> Optional[str]:
    """When process PID started (clock ticks since boot, /proc/PID/stat field 22): with the pid, who it is."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def is_daemon(pid: int, started: Optional[str]) -> bool:
    """Whether PID is still the daemon a state file recorded: alive, ours, and started when it said.

    A pid the kernel has since given to another process must never be signalled.
    """
    if not pid_alive(pid):
        return False
    try:
        if os.stat(f"/proc/{pid}").st_uid != os.getuid():
            return False
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if b"sockdeploy.daemons." not in cmdline:
        return False
    return started is None or process_start(pid) == started


class StateFile:
    """The JSON file a daemon publishes its state in, and its log file beside it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def log(self) -> Path:
        return self.path.with_suffix(".log")

    def read(self) -> Optional[Dict[str, Any]]:
        """Return the state, or None when there is none (or it cannot be read)."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def write(self, data: Dict[str, Any]) -> None:
        """Replace the state at once: a reader never sees half of it."""
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def spawn(name: str, args: Sequence[str], log: Path) -> subprocess.Popen:
    """Start `python -m sockdeploy.daemons.NAME ARGS` detached (own session), output to `log`."""
    argv = [sys.executable, "-m", f"sockdeploy.daemons.{name}", *args]
    with open(log, "ab") as fh:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fh, stderr=fh, start_new_session=True)


def stop(pid: int, wait: float, force: bool, started: Optional[str] = None) -> None:
    """SIGTERM `pid` and wait up to `wait` s for it to end; then SIGKILL it if `force`.

    Nothing is signalled unless `pid` is still the daemon that started at `started`.
    """
    if not is_daemon(pid, started):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    if force and is_daemon(pid, started):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class StopRequest:
    """Set by SIGTERM or SIGINT: the daemon's loop polls it and winds down.

    A plain flag, not a threading.Event: a signal handler must not take a lock
    the interrupted code may hold.
    """

    def __init__(self) -> None:
        self._asked = False

    def install(self) -> StopRequest:
        """Catch SIGTERM and SIGINT from now on."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._ask)
        return self

    def _ask(self, *_: object) -> None:
        self._asked = True

    def __bool__(self) -> bool:
        return self._asked

    def wait(self, seconds: float, until: Optional[Callable[[], bool]] = None) -> bool:
        """Sleep up to `seconds`, or less once `until()` holds; return whether a stop was asked for."""
        deadline = time.monotonic() + seconds
        while not self._asked and time.monotonic() < deadline:
            if until is not None and until():
                break
            time.sleep(0.1)
        return self._asked


def main(serve: Callable[[List[str]], None]) -> NoReturn:
    """Run a daemon's `serve(argv)`; its process exits with the status of the domain error it raised."""
    try:
        serve(sys.argv[1:])
    except SockdeployError as err:
        sys.exit(err.exit_code)
    sys.exit(0)
