"""The first exchange on a new channel: the login shell runs its start-up files before our command does.

A start-up file may print (a banner, `module load` chatter) or read stdin (a
`read -t 1`, a prompt). So a command that needs stdin gets nothing on it until
its own marker line has arrived (a start-up file reading stdin would swallow
what was meant for the command), one that does not gets end of file at once,
and what came before the marker is the shell's, not the command's output. A
shell that never gets to the marker is named after FIRST_ANSWER seconds.
"""

from __future__ import annotations

import os
import secrets
import select
import time
from typing import Any

from sockdeploy.errors import LoginShellSilent

# The tests shorten it (a .bashrc that waits forever) through this variable; not for users.
FIRST_ANSWER_ENV = "SOCKDEPLOY_FIRST_ANSWER"
SHELL_PRINT_LIMIT = 1 << 20  # more than this before the marker: give up, as for the helper's greeting


def _first_answer() -> float:
    try:
        return max(0.5, float(os.environ.get(FIRST_ANSWER_ENV, "")))
    except ValueError:
        return 15.0


FIRST_ANSWER = _first_answer()


def new_marker() -> str:
    """Return a line that nothing but our command prints (a start-up file cannot know it)."""
    return "SD-START-" + secrets.token_hex(8)


def silent_shell(host: str, waited: float, what: str = "run a command") -> LoginShellSilent:
    """Return the error for a login shell that never ran our command."""
    return LoginShellSilent(f"the login shell on {host} did not answer within {waited:g} s (to {what}); "
                            "a .bashrc (or another start-up file) that waits for input?",
                            "make your start-up files return at once when the shell is not interactive, "
                            "e.g. begin ~/.bashrc with: [[ $- == *i* ]] || return")


def _overlap(seen: bytes, needle: bytes) -> int:
    """Return the length of the longest end of `seen` that begins `needle`."""
    for size in range(min(len(seen), len(needle) - 1), 0, -1):
        if seen.endswith(needle[:size]):
            return size
    return 0


def skip_to_marker(chan: Any, marker: str, timeout: float, host: str) -> bytes:
    """Read `chan`'s output up to and including the line `marker` (never a byte past it); return what came before.

    Raise LoginShellSilent after `timeout` s, EOFError when the channel ends first.
    """
    needle = marker.encode() + b"\n"
    seen = b""
    deadline = time.monotonic() + timeout
    while not seen.endswith(needle):
        if chan.recv_ready():
            data = chan.recv(len(needle) - _overlap(seen, needle))
            if not data:
                raise EOFError("the channel ended before the command started")
            seen += data
            if len(seen) > SHELL_PRINT_LIMIT:
                raise EOFError("the login shell printed more than 1 MiB before the command started")
        elif chan.exit_status_ready() or chan.closed:
            raise EOFError(f"the command ended before it started (exit status {chan.recv_exit_status()})")
        elif time.monotonic() > deadline:
            raise silent_shell(host, timeout)
        else:
            select.select([chan], [], [], min(0.5, max(0.0, deadline - time.monotonic())))
    return seen[:-len(needle)]


def strip_before_marker(text: str, marker: str) -> str:
    """Return `text` after the line `marker` (all of it when the marker is missing)."""
    head, found, tail = text.partition(marker + "\n")
    return tail if found else text
