"""A script on a channel of its own, behind a login shell whose start-up file prints and reads stdin
(the channel is a local sh standing for the login shell: no SSH)."""

from __future__ import annotations

import os
import select
import subprocess
import time
from typing import Optional

import pytest

from sockdeploy.errors import LoginShellSilent
from sockdeploy.ssh import channel


class ExecChannel:
    """What collect() needs of a paramiko channel; the "login shell" runs `startup` before the command."""

    def __init__(self, startup: str) -> None:
        self.startup = startup
        self.proc: Optional[subprocess.Popen] = None
        self.eof = {1: False, 2: False}
        self.closed = False

    def exec_command(self, command: str) -> None:
        self.proc = subprocess.Popen(["/bin/sh", "-c", self.startup + command], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)

    def fileno(self) -> int:
        assert self.proc is not None and self.proc.stdout is not None
        return self.proc.stdout.fileno()

    def _fd(self, which: int) -> int:
        assert self.proc is not None and self.proc.stdout is not None and self.proc.stderr is not None
        return (self.proc.stdout if which == 1 else self.proc.stderr).fileno()

    def _ready(self, which: int) -> bool:
        return not self.eof[which] and bool(select.select([self._fd(which)], [], [], 0)[0])

    def _read(self, which: int, n: int) -> bytes:
        data = os.read(self._fd(which), n)
        self.eof[which] = not data
        return data

    def recv_ready(self) -> bool:
        return self._ready(1)

    def recv(self, n: int) -> bytes:
        return self._read(1, n)

    def recv_stderr_ready(self) -> bool:
        return self._ready(2)

    def recv_stderr(self, n: int) -> bytes:
        return self._read(2, n)

    def settimeout(self, timeout: Optional[float]) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def shutdown_write(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.close()

    def exit_status_ready(self) -> bool:
        assert self.proc is not None
        return self.proc.poll() is not None and all(self.eof.values())

    def recv_exit_status(self) -> int:
        assert self.proc is not None
        return self.proc.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _alive() -> None:
    return None


def test_a_command_without_stdin_gets_end_of_file_at_once_and_the_shells_output_is_left_out():
    chan = ExecChannel("read line; echo 'Welcome to the login host'; ")  # a .bashrc waiting for input
    started = time.monotonic()
    result = channel.collect(chan, "echo out; echo err >&2; exit 3", None, 10, _alive, "login")
    assert (result.stdout, result.exit_status) == ("out\n", 3) and result.stderr.endswith("err\n")
    assert time.monotonic() - started < 5


def test_stdin_is_sent_only_once_the_command_runs():
    # a start-up file that reads stdin for a while (`read -t 1`) gets none of the command's input
    chan = ExecChannel("timeout 1 head -c 1 >/dev/null; echo motd; ")
    result = channel.collect(chan, "cat", b"the payload\n", 10, _alive, "login")
    assert result.stdout == "the payload\n"


def test_a_shell_that_never_starts_the_command_is_named(monkeypatch):
    monkeypatch.setattr(channel, "FIRST_ANSWER", 0.3)
    chan = ExecChannel("head -c 1 >/dev/null; ")  # waits for input for ever
    try:
        with pytest.raises(LoginShellSilent, match="the login shell on login did not answer within 0.3 s"):
            channel.collect(chan, "cat", b"data", 10, _alive, "login")
    finally:
        chan.kill()
