"""The remote helper: a program kept running on a host that runs each script sent to it over one SSH channel.

Every script on its own channel costs a channel open and an exec request (two
round trips) and a start of the user's login shell with its start-up files
(tens to hundreds of milliseconds on a login host whose .bashrc loads
modules). The helper pays that once per connection; each later script costs
one round trip. It needs python3 on the host (3.5 or later); without it, or
with SOCKDEPLOY_REMOTE_AGENT=0, scripts go over channels of their own.

Frames, all lengths big-endian:
  request   ">II" script length, stdin length; the script; the stdin bytes (sent in pieces: an upload
            is never all in memory here; the helper starts the script once all of it has arrived, so a
            request cut short runs nothing)
  cancel    one byte "c" sent while a script runs: stop its process group
  response  ">iII" exit status, stdout length, stderr length; stdout; stderr
A script runs as `/bin/sh -c SCRIPT` in a session of its own; when the channel
ends (end of file), the helper stops the running script's group and exits.
Its program is sockdeploy/remote/scripts/helper.py, started by helper_launch.sh.
"""

from __future__ import annotations

import os
import secrets
import select
import socket
import struct
import time
from typing import Any, Callable, NoReturn, Optional

from sockdeploy.errors import ConnectError, HelperLost, HelperUnavailable, ScriptTimeout
from sockdeploy.remote.host import CommandResult, Stdin, stdin_parts
from sockdeploy.remote.program import with_args
from sockdeploy.remote.scripts import load
from sockdeploy.ssh.shellstart import FIRST_ANSWER, silent_shell

# The switch's name predates the "remote helper" name; users and tests set it.
ENV_SWITCH = "SOCKDEPLOY_REMOTE_AGENT"
NO_PYTHON = 97  # the launcher's exit status when the host has no python3
CANCEL_GRACE = 3.0  # seconds a cancelled script's partial output is waited for
GREETING_LIMIT = 1 << 20  # a start-up file printing more than this before the greeting: give up on the helper


def enabled() -> bool:
    """Return whether scripts may go through the remote helper (SOCKDEPLOY_REMOTE_AGENT=0 turns it off)."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "no", "off", "false")


def launcher(nonce: str) -> str:
    """Return the sh script that starts the helper, or exits NO_PYTHON when the host has no python3."""
    return with_args(load("helper_launch.sh"), load("helper.py"), nonce)


def request_head(script: str, stdin_size: int) -> bytes:
    """Frame one script for the helper, up to the stdin bytes that follow it."""
    body = script.encode("utf-8", "surrogateescape")
    return struct.pack(">II", len(body), stdin_size) + body


def request(script: str, stdin: bytes = b"") -> bytes:
    """Frame one script for the helper."""
    return request_head(script, len(stdin)) + stdin


def send_all(chan: Any, data: bytes, deadline: Optional[float]) -> None:
    """Send `data` on `chan`, in time linear in its size; socket.timeout when it stalls past `deadline`.

    Paramiko's sendall slices what is left after each packet (32 KiB) into a new
    bytes object, which made a 46 MB upload take 8 s; slices of a memoryview copy nothing.
    """
    if deadline is not None and hasattr(chan, "settimeout"):
        chan.settimeout(max(0.1, deadline - time.monotonic()))
    chan.sendall(memoryview(data))


class RemoteHelper:
    """The local end of one helper channel; runs one script at a time."""

    def __init__(self, chan: Any, alive: Callable[[], bool], *, nonce: Optional[str] = None, owner: Any = None,
                 host: str = "the host", first_answer: float = FIRST_ANSWER) -> None:
        """`chan` is a paramiko-like channel that runs (or is about to run) launcher(self.nonce);
        `alive` tells whether its connection is up; `owner` is that connection, on `host`; the greeting
        must come within `first_answer` s."""
        self.host = host
        self.first_answer = first_answer
        self._chan = chan
        self._alive = alive
        self._buf = bytearray()
        self._greeted = False
        self.nonce = nonce or secrets.token_hex(8)
        self.broken = False
        self.owner = owner

    # -- reading ---------------------------------------------------------------
    def _fill(self, n: int, deadline: Optional[float]) -> bool:
        """Read until `n` bytes are buffered; False at the deadline. Raise HelperLost at end of file."""
        while len(self._buf) < n:
            if deadline is not None and time.monotonic() > deadline:
                return False
            if self._chan.recv_ready():
                data = self._chan.recv(65536)
                if not data:
                    raise HelperLost()
                self._buf += data
                continue
            if self._chan.exit_status_ready() or self._chan.closed or not self._alive():
                raise HelperLost()
            wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            select.select([self._chan], [], [], wait)
        return True

    def _take(self, n: int) -> bytes:
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _greet(self, deadline: Optional[float]) -> None:
        """Skip what the login shell printed and find the helper's greeting line."""
        marker = f"\n{self.nonce}\n".encode()
        started = time.monotonic()
        limit = started + self.first_answer
        deadline = limit if deadline is None else min(deadline, limit)
        while marker not in self._buf:
            try:
                if not self._fill(len(self._buf) + 1, deadline):
                    raise silent_shell(self.host, round(time.monotonic() - started, 1), "start sockdeploy's helper")
            except HelperLost:
                if self._exit_status(wait=2.0) == NO_PYTHON:
                    raise HelperUnavailable() from None
                raise
            if len(self._buf) > GREETING_LIMIT:
                raise HelperUnavailable()
        del self._buf[:self._buf.index(marker) + len(marker)]
        self._greeted = True

    def _exit_status(self, wait: float) -> Optional[int]:
        """Return the launcher's exit status once it arrives (end of file may come first), or None."""
        until = time.monotonic() + wait
        while not self._chan.exit_status_ready():
            if time.monotonic() > until or not self._alive():
                return None
            time.sleep(0.01)
        return int(self._chan.recv_exit_status())

    # -- running ---------------------------------------------------------------
    def run(self, script: str, stdin: Stdin, timeout: Optional[float]) -> CommandResult:
        """Run `script` there; raise ScriptTimeout (with what it printed) after `timeout` s.

        The timeout counts from the start, sending stdin included.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            if not self._greeted:
                # nothing is sent before the greeting: a start-up file that reads stdin would swallow it
                self._greet(deadline)
            self._send_request(script, stdin, deadline)
            result = self._response(deadline)
        except BaseException:
            self.broken = True
            raise
        if result is None:
            self._cancel()
        return result

    def _send_request(self, script: str, stdin: Stdin, deadline: Optional[float]) -> None:
        """Send the request: the script, then its stdin piece by piece."""
        size, parts = stdin_parts(stdin)
        try:
            self._chan.sendall(request_head(script, size))
        except (OSError, EOFError):
            raise HelperLost() from None
        sent = 0
        try:
            for part in parts:
                send_all(self._chan, part, deadline)
                sent += len(part)
        except socket.timeout:  # the far end stopped reading: the request is cut short, so nothing runs
            raise ScriptTimeout(CommandResult("", f"sending {size} bytes stalled after {sent}", -1)) from None
        except (OSError, EOFError):
            raise HelperLost() from None
        finally:
            if hasattr(self._chan, "settimeout"):
                self._chan.settimeout(None)
        if sent != size:  # an Upload makes exactly its size; anything else would desynchronise the frames
            raise RuntimeError(f"stdin of {sent} bytes sent for {size} announced")

    def _response(self, deadline: Optional[float]) -> Optional[CommandResult]:
        """Return the answer once all of it is in; None at the deadline, with nothing consumed."""
        if not self._fill(12, deadline):
            return None
        status, nout, nerr = struct.unpack(">iII", bytes(self._buf[:12]))
        if not self._fill(12 + nout + nerr, deadline):
            return None
        self._take(12)
        out, err = self._take(nout), self._take(nerr)
        return CommandResult(out.decode(errors="replace"), err.decode(errors="replace"), status)

    def _cancel(self) -> NoReturn:
        """Stop a script that outlived its timeout, then raise ScriptTimeout with its output."""
        self.broken = True  # a late response could be mistaken for the next one's; start afresh
        partial = CommandResult("", "", -1)
        try:
            self._chan.sendall(b"c")
            late = self._response(time.monotonic() + CANCEL_GRACE)
            if late is not None:
                partial = CommandResult(late.stdout, late.stderr, -1)
        except (HelperLost, OSError, EOFError):
            pass
        raise ScriptTimeout(partial)

    def close(self) -> None:
        """End the helper (it stops a script still running)."""
        try:
            self._chan.close()
        except Exception:  # the channel may be gone with its connection
            pass

    def __enter__(self) -> RemoteHelper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def lost_error(host: str) -> ConnectError:
    """Return the error for a helper that ended while a script ran."""
    return ConnectError(f"the remote helper on {host} ended while a step ran (connection lost?)",
                        "check your network and run again")
