"""The one-line command that carries a POSIX sh script to a host, whatever its login shell."""

from __future__ import annotations

import base64
from typing import Optional


def wrap_script(script: str, marker: Optional[str] = None) -> str:
    """Return a one-line command that runs `script` with /bin/sh whatever the login shell is.

    The script travels base64-encoded so csh/fish login shells, newlines and
    quotes in interpolated values cannot change its meaning. With `marker`, the
    command first prints that line, so what the login shell's start-up files
    printed can be told apart (see shellstart).
    """
    # umask 077: nothing a run creates on a shared host is readable by others
    b64 = base64.b64encode(("umask 077\n" + script).encode()).decode()
    start = f"echo {marker}; " if marker else ""
    return f"/bin/sh -c '{start}eval \"$(printf %s {b64} | base64 -d)\"'"
