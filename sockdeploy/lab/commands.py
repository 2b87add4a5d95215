"""Running the campus lab's setup commands and stopping the daemons it started."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Optional, Sequence

from sockdeploy.errors import LabError


def must(argv: Sequence[str], what: str, *, input: Optional[str] = None) -> str:
    """Run a setup command and return its output; turn a failure into a LabError naming the command."""
    try:
        res = subprocess.run(list(argv), capture_output=True, text=True, input=input,
                             stdin=None if input is not None else subprocess.DEVNULL, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"campus lab: {what} failed: {exc}", f"the command was: {' '.join(argv)}") from None
    if res.returncode != 0:
        raise LabError(f"campus lab: {what} failed: {(res.stderr or res.stdout).strip()}",
                       f"the command was: {' '.join(argv)}")
    return res.stdout


def stop_process(proc: Optional[subprocess.Popen], sig: int = signal.SIGTERM, timeout: float = 5) -> None:
    """Send `sig`, wait up to `timeout` s, then kill; close the process's pipes."""
    if proc is None:
        return
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except ProcessLookupError:
            pass
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream:
            stream.close()


def tail(path: Path, limit: int = 800) -> str:
    """Return the end of a log file, or "" when it cannot be read."""
    try:
        return path.read_text(errors="replace").strip()[-limit:]
    except OSError:
        return ""
