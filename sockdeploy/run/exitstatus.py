"""How a program ended, in words: exit status or the signal that killed it."""

from __future__ import annotations

import signal
from typing import Optional

from sockdeploy.errors import ProgramError


def describe_status(status: Optional[int]) -> str:
    """Return "exit status N", "killed by SIGNAME" or "unknown status"."""
    if status is None:
        return "unknown status"
    if status > 128:
        try:
            name = signal.Signals(status - 128).name
        except ValueError:
            name = f"signal {status - 128}"
        return f"killed by {name}"
    return f"exit status {status}"


def program_failure(what: str, command: str, status: Optional[int], output: str, hint: str) -> ProgramError:
    """Return the error for a program (`what`, e.g. "server") that ended badly."""
    return ProgramError(f"the {what} `{command}` ended with {describe_status(status)}", hint,
                        command=command, exit_status=status, output=output)
