"""The client host over SSH (a headless Pi driven from a laptop): client runs there, output here."""

from __future__ import annotations

import select
import shlex
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from sockdeploy.errors import ConnectionLost
from sockdeploy.output.logcap import CappedLog
from sockdeploy.remote import marker
from sockdeploy.remote.program import PROCS, sh_command
from sockdeploy.run.clients import ClientOutcome, StopCheck, no_stop
from sockdeploy.run.runtag import stdin_line, strays


def client_command(ws_path: str, command: str, with_stdin: bool, extra_env: Optional[Dict[str, str]] = None,
                   role: str = "") -> str:
    """Return the command that runs the client (client_run.sh) in `ws_path` on the client host.

    EXTRA_ENV is set before client_run.sh starts, so that stdbuf adds its own
    preload to an LD_PRELOAD there instead of being replaced by it. With a
    `role`, the script reads the run's token from its stdin's first line.
    """
    run = sh_command(PROCS, "client_run.sh", args=[ws_path, command, 1 if with_stdin else 0, role])
    if not extra_env:
        return run
    return "env " + " ".join(shlex.quote(f"{k}={v}") for k, v in sorted(extra_env.items())) + " " + run


def _marker_ints(err: bytes, tag: str) -> List[int]:
    """Return the numbers of the TAG markers client_run.sh wrote to stderr."""
    return [int(m.fields[0]) for m in marker.markers(err.decode(errors="replace").splitlines())
            if m.tag == tag and m.fields and m.fields[0].lstrip("-").isdigit()]


def run_remote_client(session: Any, ws_path: str, command: str, log_path: Path, header: str, timeout: float,
                      stdin: Optional[str] = None, duration: Optional[float] = None,
                      extra_env: Optional[Dict[str, str]] = None, token: Optional[str] = None,
                      role: str = "", stop: StopCheck = no_stop) -> ClientOutcome:
    """Run `command` with sh in `ws_path` on the client host; stream its output to `log_path` here.

    Same contract as clients.run_client: `stdin` is fed then closed; with
    `duration` the client is stopped with SIGINT after that long; past
    `timeout` it is stopped (TERM, then KILL) and reported as timed out. Line
    times are taken as lines arrive here; the log is capped here (logcap), the
    host that writes it. With the run's `token`, the client's processes carry
    it in `role`; those left running when it ends are stopped there and come
    back in ClientOutcome.strays; what `stop` raises stops the client at once.
    """
    start = time.monotonic()
    tagged = bool(token and role)
    chan = session.start_stream(client_command(ws_path, command, stdin is not None, extra_env, role if tagged else ""))
    if tagged:
        chan.sendall(stdin_line(token))
    if stdin is not None:
        chan.sendall(stdin.encode())
    chan.shutdown_write()
    run = _ClientOnChannel(session, chan, start, timeout, duration, stop)
    log_path.write_text(header, encoding="utf-8")
    with CappedLog(log_path) as log:
        run.follow(log)
    exits = _marker_ints(run.err, "EXIT")
    status = exits[-1] if exits else None
    if status is None and not run.timed_out:
        time.sleep(0.2)  # paramiko notices a reset connection within moments
        if not session.alive:
            raise ConnectionLost(f"the SSH connection to the client host {session.name} was lost during the client run",
                                 "check the Pi's network and run again; its watchdog stops the client and removes its folder")
    text = log_path.read_text(encoding="utf-8", errors="replace")
    output = text[len(header):] if text.startswith(header) else text
    return ClientOutcome(exit_code=None if run.timed_out else status, output=output, timed_out=run.timed_out,
                         seconds=time.monotonic() - start, stopped=run.stopped and not run.timed_out,
                         times=log.times, elided=log.elided, strays=strays(run.err.decode(errors="replace")))


class _ClientOnChannel:
    """One client run's channel: its output copied to the log, its stop and timeout enforced."""

    def __init__(self, session: Any, chan: Any, start: float, timeout: float, duration: Optional[float],
                 stop: StopCheck = no_stop) -> None:
        self.session = session
        self.stop = stop
        self.chan = chan
        self.err = b""  # client_run.sh's markers
        self.pid: Optional[int] = None
        self.stopped = self.timed_out = False
        self.stop_at = start + duration if duration is not None else None
        self.give_up = (self.stop_at or start) + timeout
        self.killed_at: Optional[float] = None

    def follow(self, log: CappedLog) -> None:
        """Copy the output to `log` until the client ends; on any error stop the client first."""
        chan = self.chan
        try:
            while True:
                self.stop()
                select.select([chan], [], [], 0.05)
                self._read(log)
                if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                self._enforce(time.monotonic())
        except BaseException:
            if self.pid is not None:
                _signal(self.session, self.pid, "TERM")
                _signal(self.session, self.pid, "KILL")
            raise
        finally:
            chan.close()

    def _read(self, log: CappedLog) -> None:
        while self.chan.recv_ready():
            log.write(self.chan.recv(65536), time.time())
        while self.chan.recv_stderr_ready():
            self.err += self.chan.recv_stderr(65536)
            if self.pid is None:
                self.pid = next(iter(_marker_ints(self.err, "PID")), None)

    def _enforce(self, now: float) -> None:
        """Send SIGINT at the planned stop; past the timeout, TERM and 2 s later KILL (once)."""
        if self.pid is None:
            return
        if self.stop_at is not None and not self.stopped and now >= self.stop_at:
            self.stopped = True
            _signal(self.session, self.pid, "INT")
        if now >= self.give_up:
            if self.killed_at is None:
                self.timed_out = True
                self.killed_at = now
                _signal(self.session, self.pid, "TERM")
            elif now - self.killed_at > 2:
                _signal(self.session, self.pid, "KILL")
                self.killed_at = now + 3600  # once


def _signal(session: Any, pid: int, sig: str) -> None:
    """Signal the client's whole process group on the client host; it may be gone already."""
    try:
        session.run(f"kill -{sig} -{int(pid)} 2>/dev/null; exit 0", timeout=10)
    except Exception:
        pass
