"""The client host over SSH (a headless Pi driven from a laptop): client runs there, output here."""

from __future__ import annotations

import select
import time
from pathlib import Path
from typing import Any, List, Optional

from sockdeploy.errors import ConnectError
from sockdeploy.remote import marker
from sockdeploy.run.clients import ClientOutcome, LineTimes
from sockdeploy.run.hostprogram import sh_command


def client_command(ws_path: str, command: str, with_stdin: bool) -> str:
    """Return the command that runs the client (client_run.sh) in `ws_path` on the client host."""
    return sh_command("client_run.sh", args=[ws_path, command, 1 if with_stdin else 0])


def _marker_ints(err: bytes, tag: str) -> List[int]:
    """Return the numbers of the TAG markers client_run.sh wrote to stderr."""
    return [int(m.fields[0]) for m in marker.markers(err.decode(errors="replace").splitlines())
            if m.tag == tag and m.fields and m.fields[0].lstrip("-").isdigit()]


def run_remote_client(session: Any, ws_path: str, command: str, log_path: Path, header: str, timeout: float,
                      stdin: Optional[str] = None, duration: Optional[float] = None) -> ClientOutcome:
    """Run `command` with sh in `ws_path` on the client host; stream its output to `log_path` here.

    Same contract as clients.run_client: `stdin` is fed then closed; with
    `duration` the client is stopped with SIGINT after that long; past
    `timeout` it is stopped (TERM, then KILL) and reported as timed out. Line
    times are taken as lines arrive here.
    """
    start = time.monotonic()
    chan = session.start_stream(client_command(ws_path, command, stdin is not None))
    if stdin is not None:
        chan.sendall(stdin.encode())
    chan.shutdown_write()
    times = LineTimes()
    pid: Optional[int] = None
    err = b""
    stopped = timed_out = False
    stop_at = start + duration if duration is not None else None
    give_up = (stop_at or start) + timeout
    killed_at: Optional[float] = None
    with open(log_path, "wb") as fh:
        fh.write(header.encode())
        fh.flush()
        try:
            while True:
                select.select([chan], [], [], 0.05)
                while chan.recv_ready():
                    chunk = chan.recv(65536)
                    fh.write(chunk)
                    fh.flush()
                    times.feed(chunk, time.time())
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                    if pid is None:
                        pid = next(iter(_marker_ints(err, "PID")), None)
                if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                now_m = time.monotonic()
                if stop_at is not None and not stopped and now_m >= stop_at and pid is not None:
                    stopped = True
                    _signal(session, pid, "INT")
                if now_m >= give_up and pid is not None:
                    if killed_at is None:
                        timed_out = True
                        killed_at = now_m
                        _signal(session, pid, "TERM")
                    elif now_m - killed_at > 2:
                        _signal(session, pid, "KILL")
                        killed_at = now_m + 3600  # once
        except BaseException:
            if pid is not None:
                _signal(session, pid, "TERM")
                _signal(session, pid, "KILL")
            raise
        finally:
            times.end()
            chan.close()
    exits = _marker_ints(err, "EXIT")
    status = exits[-1] if exits else None
    if status is None and not timed_out:
        time.sleep(0.2)  # paramiko notices a reset connection within moments
        if not session.alive:
            raise ConnectError(f"the SSH connection to the client host {session.name} was lost during the client run",
                               "check the Pi's network and run again; its watchdog stops the client and removes its folder")
    text = log_path.read_text(encoding="utf-8", errors="replace")
    output = text[len(header):] if text.startswith(header) else text
    return ClientOutcome(exit_code=None if timed_out else status, output=output, timed_out=timed_out,
                         seconds=time.monotonic() - start, stopped=stopped and not timed_out, times=times.times)


def _signal(session: Any, pid: int, sig: str) -> None:
    """Signal the client's whole process group on the client host; it may be gone already."""
    try:
        session.run(f"kill -{sig} -{int(pid)} 2>/dev/null; exit 0", timeout=10)
    except Exception:
        pass
