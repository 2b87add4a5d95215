"""Run one client command on this machine, streaming its output to its log as it comes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from sockdeploy.remote.host import group_exists, kill_group


@dataclass
class ClientOutcome:
    exit_code: Optional[int]
    output: str
    timed_out: bool
    seconds: float
    stopped: bool = False  # stopped with SIGINT after its duration, as planned
    times: List[float] = field(default_factory=list)  # this host's clock: when each output line began


class LineTimes:
    """When each line of a stream began, noted as its chunks arrive (for the merged timeline)."""

    def __init__(self) -> None:
        self.times: List[float] = []
        self._began: Optional[float] = None  # the unfinished line's first byte

    def feed(self, chunk: bytes, now: float) -> None:
        if not chunk:
            return
        if self._began is None:
            self._began = now
        for _ in range(chunk.count(b"\n")):
            self.times.append(self._began)
            self._began = now
        if chunk.endswith(b"\n"):
            self._began = None

    def end(self) -> List[float]:
        """Count a last line without a newline too; return every line's time."""
        if self._began is not None:
            self.times.append(self._began)
            self._began = None
        return self.times


def run_client(command: str, cwd: str, log_path: Path, header: str, timeout: float,
               stdin: Optional[str] = None, duration: Optional[float] = None) -> ClientOutcome:
    """Run `command` with sh in `cwd`; output (stdout+stderr) goes to `log_path` after `header`.

    `stdin` is fed to the client (then end of file). With `duration`, the client
    runs until stopped: SIGINT after that long, as a person would press Ctrl-C.
    The client gets its own session so a Ctrl-C reaches sockdeploy, which then
    stops the client's whole process group; partial output stays in the log.
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    argv = ["/bin/sh", "-c", command]
    if shutil.which("stdbuf"):
        argv = ["stdbuf", "-oL", "-eL"] + argv  # keep lines if the client is killed mid-run
    start = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as fh:
        fh.write(header)
        fh.flush()
        read_end, write_end = os.pipe()
        try:
            proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                    stdout=write_end, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        times = LineTimes()
        pump = threading.Thread(target=_pump, args=(read_end, os.dup(fh.fileno()), times), name="sockdeploy-client-log", daemon=True)
        pump.start()
        if stdin is not None:
            _feed(proc, stdin)
        timed_out = stopped = False
        try:
            if duration is not None:
                try:
                    proc.wait(timeout=duration)
                except subprocess.TimeoutExpired:
                    stopped = True
                    kill_group(proc.pid, signal.SIGINT)
            proc.wait(timeout=timeout)
            if stopped:
                # sh may die of the SIGINT before the program it started has
                # written its last words; wait for the whole group.
                _wait_group(proc.pid, start + (duration or 0) + timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop(proc)
        except BaseException:
            _stop(proc)
            raise
        finally:
            # a stray background process may hold the pipe open; its output so far is kept
            pump.join(timeout=2)
    took = time.monotonic() - start
    text = log_path.read_text(encoding="utf-8", errors="replace")
    output = text[len(header):] if text.startswith(header) else text
    return ClientOutcome(exit_code=None if timed_out else proc.returncode, output=output, timed_out=timed_out,
                         seconds=took, stopped=stopped, times=list(times.times))


def _pump(read_end: int, log_fd: int, times: LineTimes) -> None:
    """Copy the client's output to its log as it comes, noting when each line began; close both fds."""
    try:
        while True:
            try:
                chunk = os.read(read_end, 65536)
            except InterruptedError:
                continue
            if not chunk:
                break
            os.write(log_fd, chunk)
            times.feed(chunk, time.time())
    except OSError:
        pass
    finally:
        times.end()
        os.close(read_end)
        os.close(log_fd)


def _feed(proc: subprocess.Popen[bytes], text: str) -> None:
    """Write the stdin text and close it; a client that exits early just drops the rest."""
    assert proc.stdin is not None
    try:
        proc.stdin.write(text.encode())
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass


def _wait_group(pgid: int, until: float) -> None:
    """Wait until group `pgid` is gone or time.monotonic() passes `until`."""
    while group_exists(pgid):
        if time.monotonic() >= until:
            raise subprocess.TimeoutExpired("client", 0)
        time.sleep(0.01)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    kill_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid, signal.SIGKILL)
        proc.wait()
    kill_group(proc.pid, signal.SIGKILL)  # children that ignored TERM
    # Dying takes a moment; return only once the whole group is gone.
    deadline = time.monotonic() + 2
    while group_exists(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
