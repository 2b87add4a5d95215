"""Client runs on the client host over SSH, with the SSH channel replaced by a local /bin/sh process."""

from __future__ import annotations

import os
import select
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest

from sockdeploy.errors import ConnectError
from sockdeploy.remote.host import CommandResult, LocalHost
from sockdeploy.run.remoteclient import run_remote_client

HEADER = "$ client (on the Pi)\n"


class FakeChannel:
    """The parts of a paramiko channel run_remote_client uses, over a local process."""

    def __init__(self, command: str) -> None:
        self.proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self._ended = {"out": False, "err": False}

    def fileno(self) -> int:
        assert self.proc.stdout is not None
        return self.proc.stdout.fileno()

    def sendall(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def shutdown_write(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def _ready(self, which: str, fd: int) -> bool:
        return not self._ended[which] and bool(select.select([fd], [], [], 0)[0])

    def _read(self, which: str, fd: int, size: int) -> bytes:
        data = os.read(fd, size)
        if not data:
            self._ended[which] = True
        return data

    def recv_ready(self) -> bool:
        return self._ready("out", self.fileno())

    def recv(self, size: int) -> bytes:
        return self._read("out", self.fileno(), size)

    def recv_stderr_ready(self) -> bool:
        assert self.proc.stderr is not None
        return self._ready("err", self.proc.stderr.fileno())

    def recv_stderr(self, size: int) -> bytes:
        assert self.proc.stderr is not None
        return self._read("err", self.proc.stderr.fileno(), size)

    def exit_status_ready(self) -> bool:
        return self.proc.poll() is not None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


class FakePi:
    """A client host session: channels and scripts on this machine."""

    name = "pi"

    def __init__(self) -> None:
        self.alive = True
        self.host = LocalHost("client host")
        self.signals: list = []

    def start_stream(self, command: str) -> FakeChannel:
        return FakeChannel(command)

    def run(self, script: str, *, stdin: Optional[bytes] = None, timeout: Optional[float] = None) -> CommandResult:
        self.signals.append(script.split()[1])
        return self.host.run(script, stdin=stdin, timeout=timeout)


def _run(tmp_path: Path, command: str, pi: Optional[FakePi] = None, **kw):
    log = tmp_path / "client-1.log"
    outcome = run_remote_client(pi or FakePi(), str(tmp_path), command, log, HEADER, kw.pop("timeout", 10), **kw)
    return outcome, log


def test_exit_status_output_and_stdin(tmp_path):
    outcome, log = _run(tmp_path, "cat; echo err >&2; exit 3", stdin="hello\n")
    assert outcome.exit_code == 3 and not outcome.timed_out and not outcome.stopped
    assert outcome.output == "hello\nerr\n"
    assert log.read_text() == HEADER + "hello\nerr\n"
    assert len(outcome.times) == 2


def test_a_client_with_a_duration_is_stopped_with_sigint(tmp_path):
    pi = FakePi()
    # client_run.sh starts the client as a background job, which begins with SIGINT ignored
    # (POSIX sh without job control): this client installs its own handler, as Python and C clients do
    client = ("import signal, sys, time\n"
              "signal.signal(signal.SIGINT, lambda *a: (print('interrupted', flush=True), sys.exit(0)))\n"
              "print('up', flush=True)\n"
              "time.sleep(30)\n")
    outcome, _ = _run(tmp_path, f"exec {shlex.quote(sys.executable)} -c {shlex.quote(client)}", pi, duration=0.5)
    assert outcome.stopped and not outcome.timed_out
    assert outcome.output == "up\ninterrupted\n"
    assert pi.signals[0] == "-INT"


def test_a_client_past_its_timeout_is_stopped(tmp_path):
    pi = FakePi()
    began = time.monotonic()
    outcome, _ = _run(tmp_path, "echo started; sleep 30", pi, timeout=0.5)
    assert time.monotonic() - began < 10
    assert outcome.timed_out and outcome.exit_code is None and outcome.output == "started\n"
    assert pi.signals[0] == "-TERM"


def test_a_lost_connection_is_a_connect_error(tmp_path):
    pi = FakePi()
    pi.alive = False
    with pytest.raises(ConnectError) as info:
        _run(tmp_path, "kill -KILL $PPID", pi)  # the run script dies without its exit marker
    assert "was lost" in info.value.message


def test_a_run_that_must_stop_stops_the_client_on_its_host(tmp_path):
    from sockdeploy.errors import ConnectionLost

    pi = FakePi()
    calls = []

    def stop() -> None:
        calls.append(1)
        if len(calls) > 10:
            raise ConnectionLost("the SSH connection to login was lost (connection reset)")

    with pytest.raises(ConnectionLost):
        _run(tmp_path, "echo started; sleep 30", pi, timeout=30, stop=stop)
    assert "-TERM" in pi.signals and "-KILL" in pi.signals


def test_the_log_is_capped_here_where_it_is_written(tmp_path):
    from sockdeploy.output.logcap import HEAD_BYTES, PIECE_BYTES, elision_note

    outcome, log = _run(tmp_path, "echo first; yes 'a line from the Pi' | head -c 4000000; echo; echo last")
    assert outcome.exit_code == 0 and outcome.elided > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["client-1.log"]
    assert f"\n{elision_note(outcome.elided)}\n" in outcome.output and outcome.output.endswith("\nlast\n")
    assert log.stat().st_size <= len(HEADER) + HEAD_BYTES + 2 * PIECE_BYTES + 64
    assert len(outcome.times) == outcome.output.count("\n")
