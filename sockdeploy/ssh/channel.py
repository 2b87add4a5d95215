"""One script on an SSH channel of its own: the way without the remote helper, and streams."""

from __future__ import annotations

import select
import socket
import time
from typing import Any, Callable, Optional

from sockdeploy.errors import ScriptTimeout
from sockdeploy.remote.host import CommandResult, Stdin, stdin_parts
from sockdeploy.ssh.command import wrap_script
from sockdeploy.ssh.helper import send_all
from sockdeploy.ssh.shellstart import FIRST_ANSWER, new_marker, skip_to_marker

CHUNK = 65536
POLL = 0.02


def collect(chan: Any, script: str, stdin: Stdin, timeout: Optional[float],
            check_alive: Callable[[], None], host: str = "the host") -> CommandResult:
    """Run `script` on the fresh channel `chan` and return what it printed and its status.

    `check_alive` raises when the connection died meanwhile; ScriptTimeout
    (with what the script printed) comes after `timeout` s, counted from the
    script's start, sending stdin included. The caller closes `chan`: a script
    whose stdin was cut short sees end of file there (tar then fails, and
    workspace_create.sh removes what it unpacked). What the login shell
    printed before the script started is left out.
    """
    out, err = bytearray(), bytearray()
    marker = new_marker()
    chan.exec_command(wrap_script(script, marker))
    size, parts = stdin_parts(stdin)
    if not size:
        chan.shutdown_write()  # end of file at once: a start-up file's `read` returns instead of waiting
    skip_to_marker(chan, marker, FIRST_ANSWER, host)
    deadline = None if timeout is None else time.monotonic() + timeout
    if size:  # only now: a start-up file that reads stdin would have swallowed it
        try:
            for part in parts:
                check_alive()
                send_all(chan, part, deadline)
        except socket.timeout:
            raise ScriptTimeout(CommandResult("", "sending its input stalled", -1)) from None
        chan.settimeout(None)
        chan.shutdown_write()
    while True:
        while chan.recv_ready():
            out += chan.recv(CHUNK)
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(CHUNK)
        if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
            break
        check_alive()
        if deadline is not None and time.monotonic() > deadline:
            raise ScriptTimeout(CommandResult(out.decode(errors="replace"), err.decode(errors="replace"), -1))
        select.select([chan], [], [], POLL)
    status = chan.recv_exit_status()
    return CommandResult(out.decode(errors="replace"), err.decode(errors="replace"), status)


def start(chan: Any, script: str, host: str = "the host") -> Any:
    """Start `script` on the fresh channel `chan` and return it once the script runs (the shell's output skipped)."""
    marker = new_marker()
    chan.exec_command(wrap_script(script, marker))
    skip_to_marker(chan, marker, FIRST_ANSWER, host)
    return chan
