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
from typing import Callable, Dict, List, Optional, Tuple

from sockdeploy.output.logcap import CappedLog
from sockdeploy.remote.host import LocalHost, group_exists, kill_group
from sockdeploy.run.runtag import Stray, any_tagged, environment, stop_strays

# Raises when the run must stop now (a lost connection): the client is stopped and the error goes on.
StopCheck = Callable[[], None]
POLL = 0.05  # seconds between two looks at the stop check while a client runs


def no_stop() -> None:
    return None


@dataclass
class ClientOutcome:
    """How one client run went: its exit code, its output, whether it was stopped or timed out."""

    exit_code: Optional[int]
    output: str
    timed_out: bool
    seconds: float
    stopped: bool = False  # stopped with SIGINT after its duration, as planned
    times: List[float] = field(default_factory=list)  # this host's clock: when each output line began
    elided: int = 0  # bytes of output the log left out (its head and tail are kept)
    strays: List[Stray] = field(default_factory=list)  # its processes still running after it ended; stopped


def run_client(command: str, cwd: str, log_path: Path, header: str, timeout: float,
               stdin: Optional[str] = None, duration: Optional[float] = None,
               extra_env: Optional[Dict[str, str]] = None, token: Optional[str] = None,
               role: str = "", stop: StopCheck = no_stop) -> ClientOutcome:
    """Run `command` with sh in `cwd`; output (stdout+stderr) goes to `log_path` after `header`, capped (logcap).

    `stdin` is fed to the client (then end of file). With `duration`, the client
    runs until stopped: SIGINT after that long, as a person would press Ctrl-C.
    The client gets its own session so a Ctrl-C reaches sockdeploy, which then
    stops the client's whole process group; partial output stays in the log.
    With the run's `token`, its processes carry it in `role`, and those still
    running when it ends (in its group or not) are stopped: ClientOutcome.strays.
    `stop` is looked at while the client runs: what it raises stops the client at once.
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(extra_env or {}), **environment(token, role))
    argv = ["/bin/sh", "-c", command]
    if shutil.which("stdbuf"):
        argv = ["stdbuf", "-oL", "-eL"] + argv  # keep lines if the client is killed mid-run
    start = time.monotonic()
    log_path.write_text(header, encoding="utf-8")
    log = CappedLog(log_path)
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=write_end, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    except BaseException:
        os.close(read_end)
        log.close()
        raise
    finally:
        os.close(write_end)
    with LogPump(read_end, log) as pump:
        if stdin is not None:
            _feed(proc, stdin)
        try:
            timed_out, stopped = _wait(proc, start, timeout, duration, stop)
        finally:
            # before the pump's end: a process left holding the output would keep it waiting
            strays = stop_strays(LocalHost(), token, role) if token and any_tagged(token, role) else []
    took = time.monotonic() - start
    text = log_path.read_text(encoding="utf-8", errors="replace")
    output = text[len(header):] if text.startswith(header) else text
    return ClientOutcome(exit_code=None if timed_out else proc.returncode, output=output, timed_out=timed_out,
                         seconds=took, stopped=stopped, times=pump.log.times, elided=pump.log.elided,
                         strays=strays)


class LogPump:
    """Copies a client's output from a pipe into its capped log on a thread of its own.

    Owns the pipe's read end and the log, and closes both when the output ends
    or its owner closes it, whichever comes first.
    """

    def __init__(self, read_end: int, log: CappedLog) -> None:
        self.log = log
        self._thread = threading.Thread(target=self._copy, args=(read_end,), name="sockdeploy-client-log", daemon=True)
        self._thread.start()

    def _copy(self, read_end: int) -> None:
        try:
            while True:
                try:
                    chunk = os.read(read_end, 65536)
                except InterruptedError:
                    continue
                if not chunk or not self.log.write(chunk, time.time()):
                    break
        except OSError:
            pass
        finally:
            try:
                self.log.close()
            except OSError:
                pass  # a full disk: the pieces not joined stay beside the log
            os.close(read_end)

    def close(self, wait: float = 2) -> None:
        """Wait for the output to end, `wait` seconds at most, then close the log.

        A stray background process of the client may hold the pipe open; what
        it prints after this is not kept (the thread stops at its next chunk).
        """
        self._thread.join(timeout=wait)
        self.log.close()

    def __enter__(self) -> LogPump:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wait(proc: subprocess.Popen[bytes], start: float, timeout: float, duration: Optional[float],
          stop: StopCheck = no_stop) -> Tuple[bool, bool]:
    """Wait for the client: SIGINT after `duration`, stopped after `timeout`; return (timed out, stopped)."""
    timed_out = stopped = False
    try:
        if duration is not None:
            try:
                _wait_watching(proc, duration, stop)
            except subprocess.TimeoutExpired:
                stopped = True
                kill_group(proc.pid, signal.SIGINT)
        _wait_watching(proc, timeout, stop)
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
    return timed_out, stopped


def _wait_watching(proc: subprocess.Popen[bytes], timeout: float, stop: StopCheck) -> None:
    """proc.wait(timeout), looking at `stop` every POLL s (what it raises ends the wait)."""
    deadline = time.monotonic() + timeout
    while True:
        stop()
        left = deadline - time.monotonic()
        try:
            proc.wait(timeout=max(0.0, min(POLL, left)))
            return
        except subprocess.TimeoutExpired:
            if left <= POLL:
                raise


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
    """Stop the client's whole group: TERM, then KILL; return once it is gone (2 s at most)."""
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
