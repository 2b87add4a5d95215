"""A helper kept running on a remote host that runs each script sent to it over one SSH channel.

Every script on its own channel costs a channel open and an exec request (two
round trips) and a start of the user's login shell with its start-up files
(tens to hundreds of milliseconds on a login host whose .bashrc loads
modules). The agent pays that once per connection; each later script costs
one round trip. It needs python3 on the host (3.5 or later); without it, or
with SOCKDEPLOY_REMOTE_AGENT=0, scripts go over channels of their own.

Frames, all lengths big-endian:
  request   ">II" script length, stdin length; the script; the stdin bytes
  cancel    one byte "c" sent while a script runs: stop its process group
  response  ">iII" exit status, stdout length, stderr length; stdout; stderr
A script runs as `/bin/sh -c SCRIPT` in a session of its own; when the channel
ends (end of file), the agent stops the running script's group and exits.
"""

from __future__ import annotations

import os
import secrets
import select
import shlex
import struct
import time
from typing import Any, Callable, NoReturn, Optional

from sockdeploy.errors import AgentLost, AgentUnavailable, ConnectError, ScriptTimeout
from sockdeploy.remote.host import CommandResult

ENV_SWITCH = "SOCKDEPLOY_REMOTE_AGENT"
NO_PYTHON = 97  # the launcher's exit status when the host has no python3
CANCEL_GRACE = 3.0  # seconds a cancelled script's partial output is waited for

# Runs on the remote host; plain Python 3.5 (no f-strings), standard library only.
PROGRAM = r"""# sockdeploy remote agent
import os, select, signal, struct, subprocess, sys, threading
os.umask(0o077)
IN, OUT = 0, 1
pending = bytearray()

def fill(n):
    while len(pending) < n:
        chunk = os.read(IN, 65536)
        if not chunk:
            sys.exit(0)
        pending.extend(chunk)

def take(n):
    fill(n)
    data = bytes(pending[:n])
    del pending[:n]
    return data

def send(data):
    view = memoryview(data)
    while view:
        view = view[os.write(OUT, view):]

def drain(fd, acc):
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        acc.append(chunk)

def execute(script, data, proc_box, result, wake_w):
    out, err = [], []
    proc = subprocess.Popen(["/bin/sh", "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    proc_box.append(proc)
    readers = [threading.Thread(target=drain, args=(proc.stdout.fileno(), out)),
               threading.Thread(target=drain, args=(proc.stderr.fileno(), err))]
    for t in readers:
        t.daemon = True
        t.start()
    try:
        if data:
            proc.stdin.write(data)
        proc.stdin.close()
    except OSError:
        pass
    status = proc.wait()
    # like sshd: the status counts, not a background process still holding the pipes
    for t in readers:
        t.join(0.2)
    result.append((status, b"".join(out), b"".join(err)))
    os.write(wake_w, b"x")

def stop(proc_box):
    if proc_box:
        try:
            os.killpg(proc_box[0].pid, signal.SIGKILL)
        except OSError:
            pass

wake_r, wake_w = os.pipe()
send(b"\n" + sys.argv[1].encode() + b"\n")
while True:
    slen, ilen = struct.unpack(">II", take(8))
    script = take(slen).decode("utf-8", "surrogateescape")
    data = take(ilen)
    proc_box, result = [], []
    worker = threading.Thread(target=execute, args=(script, data, proc_box, result, wake_w))
    worker.daemon = True
    worker.start()
    while not result:
        ready = select.select([IN, wake_r], [], [])[0]
        if IN in ready:
            chunk = os.read(IN, 65536)
            if not chunk:
                stop(proc_box)
                sys.exit(0)
            if b"c" in chunk:
                stop(proc_box)
        if wake_r in ready:
            os.read(wake_r, 1)
    status, out, err = result[0]
    send(struct.pack(">iII", status, len(out), len(err)) + out + err)
"""


def enabled() -> bool:
    """Return whether scripts may go through the agent (SOCKDEPLOY_REMOTE_AGENT=0 turns it off)."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "no", "off", "false")


def launcher(nonce: str) -> str:
    """Return the sh script that starts the agent, or exits NO_PYTHON when the host has no python3."""
    # The system's own python3 first: version-manager shims (pyenv) take longer to start.
    return ("py=/usr/bin/python3\n"
            f'[ -x "$py" ] || py=$(command -v python3 2>/dev/null) || exit {NO_PYTHON}\n'
            f'exec "$py" -S -c {shlex.quote(PROGRAM)} {shlex.quote(nonce)}\n')


def request(script: str, stdin: bytes = b"") -> bytes:
    """Frame one script for the agent."""
    body = script.encode("utf-8", "surrogateescape")
    return struct.pack(">II", len(body), len(stdin)) + body + stdin


class Agent:
    """The local end of one agent channel; runs one script at a time."""

    def __init__(self, chan: Any, alive: Callable[[], bool], *, nonce: Optional[str] = None, owner: Any = None) -> None:
        """`chan` is a channel that runs (or is about to run) launcher(self.nonce), paramiko-like;
        `alive` tells whether its connection is up; `owner` is that connection."""
        self._chan = chan
        self._alive = alive
        self._buf = bytearray()
        self._greeted = False
        self.nonce = nonce or secrets.token_hex(8)
        self.broken = False
        self.owner = owner

    # -- reading ---------------------------------------------------------------
    def _fill(self, n: int, deadline: Optional[float]) -> bool:
        """Read until `n` bytes are buffered; False at the deadline. Raises AgentLost at end of file."""
        while len(self._buf) < n:
            if deadline is not None and time.monotonic() > deadline:
                return False
            if self._chan.recv_ready():
                data = self._chan.recv(65536)
                if not data:
                    raise AgentLost()
                self._buf += data
                continue
            if self._chan.exit_status_ready() or self._chan.closed:
                raise AgentLost()
            if not self._alive():
                raise AgentLost()
            wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            select.select([self._chan], [], [], wait)
        return True

    def _take(self, n: int) -> bytes:
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _greet(self, deadline: Optional[float]) -> None:
        """Skip what the login shell printed and find the agent's greeting line."""
        marker = f"\n{self.nonce}\n".encode()
        while marker not in self._buf:
            try:
                if not self._fill(len(self._buf) + 1, deadline):
                    raise AgentLost()
            except AgentLost:
                if self._exit_status(wait=2.0) == NO_PYTHON:
                    raise AgentUnavailable() from None
                raise
            if len(self._buf) > 1 << 20:  # a start-up file printing megabytes: give up on the agent
                raise AgentUnavailable()
        del self._buf[:self._buf.index(marker) + len(marker)]
        self._greeted = True

    def _exit_status(self, wait: float) -> Optional[int]:
        """The launcher's exit status once it arrives (end of file may come first), or None."""
        until = time.monotonic() + wait
        while not self._chan.exit_status_ready():
            if time.monotonic() > until or not self._alive():
                return None
            time.sleep(0.01)
        return int(self._chan.recv_exit_status())

    # -- running ---------------------------------------------------------------
    def run(self, script: str, stdin: Optional[bytes], timeout: Optional[float]) -> CommandResult:
        """Run `script` there; ScriptTimeout (with what it printed) after `timeout` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            try:
                self._chan.sendall(request(script, stdin or b""))
            except (OSError, EOFError):
                # the launcher may have ended already (no python3) before the request went out
                if not self._greeted and self._exit_status(wait=2.0) == NO_PYTHON:
                    raise AgentUnavailable() from None
                raise AgentLost() from None
            if not self._greeted:
                self._greet(deadline)
            result = self._response(deadline)
        except BaseException:
            self.broken = True
            raise
        if result is None:
            self._cancel()
        return result

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
        """The script outlived its timeout: stop it, then raise ScriptTimeout with its output."""
        self.broken = True  # a late response could be mistaken for the next one's; start afresh
        partial = CommandResult("", "", -1)
        try:
            self._chan.sendall(b"c")
            late = self._response(time.monotonic() + CANCEL_GRACE)
            if late is not None:
                partial = CommandResult(late.stdout, late.stderr, -1)
        except (AgentLost, OSError, EOFError):
            pass
        raise ScriptTimeout(partial)

    def close(self) -> None:
        """End the agent (it stops a script still running)."""
        try:
            self._chan.close()
        except Exception:
            pass


def lost_error(host: str) -> ConnectError:
    return ConnectError(f"the remote helper on {host} ended while a step ran (connection lost?)",
                        "check your network and run again")
