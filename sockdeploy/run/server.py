"""The server on the server host: started detached, checked for readiness, stopped, its log collected."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional

from sockdeploy.errors import RemoteError, ServerExited, ServerNotListening
from sockdeploy.output.logcap import HEAD_BYTES, PIECE_BYTES, caps_arg
from sockdeploy.remote.marker import split_log, tags
from sockdeploy.remote.program import PROCS, Arg, sh_command
from sockdeploy.remote.scripts import load
from sockdeploy.run.workspace import SERVER_CAP, Workspace, in_workspace, refuse_changed

READY_TIMEOUT = 10.0
READY_STEP = 0.02  # seconds between two readiness checks (server_start.sh sleeps this long)
AWAIT_STEP = 0.01  # seconds between two checks whether the server ended (server_finish.sh)
# the log is capped on the server host (logcap); this bounds what is fetched should the files be damaged
LOG_LIMIT = HEAD_BYTES + 2 * PIECE_BYTES + 4096
TIMES_LIMIT = 200_000  # lines of line times fetched for the timeline


@dataclass
class ServerProcess:
    """A server started detached in its own session; its pid is also its process group."""

    ws: Workspace
    command: str
    pid: int
    port: Optional[int]
    exit_code: Optional[int] = None


@dataclass
class Collected:
    """What finish() found of a server: its log (head and tail), how it ended, when each log line began."""

    log: Optional[str]
    exit_code: Optional[int]
    stopped: bool
    elided: int  # bytes of output the capped log left out
    times: List[float] = field(default_factory=list)  # server host's clock: when each log line began
    awaited: Optional[bool] = None  # with await_exit: whether the server ended by itself in time


def _readiness(kind: str, port: Optional[int], socket_path: Optional[str]) -> str:
    """Return how server_start.sh tells the server is ready: a socket check, or a short delay."""
    if kind in ("tcp", "udp") and port is not None:
        return kind
    if kind == "unix" and socket_path is not None:
        return kind
    return "delay"


def _status(text: str) -> Optional[int]:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else None


def start_server(ws: Workspace, command: str, *, ready: str, port: Optional[int], socket_path: Optional[str],
                 cap: int = SERVER_CAP, ready_timeout: float = READY_TIMEOUT) -> ServerProcess:
    """Start the server detached (own session, stdin /dev/null, line-buffered capped log) and wait until it listens.

    A watchdog in the server's own process group kills the group after `cap`
    seconds, so a server never outlives a run whose client vanished.
    """
    args: List[Arg] = [command, int(cap), _readiness(ready, port, socket_path), port or 0, socket_path or "",
            int(ready_timeout / READY_STEP), load("server_wrap.sh"), load("server_stamper.py"),
            load("server_logcap.sh"), caps_arg()]
    result = ws.host.run(in_workspace(ws, "server_start.sh", args, libs=("log_join.sh",)), timeout=ready_timeout + 30)
    refuse_changed(ws, result)
    found = tags(result)
    if "PID" not in found:
        raise RemoteError(f"cannot start the server on {ws.host.name}: {found.get('ERR') or result.output}",
                          "the server host needs a POSIX sh with setsid (util-linux)", output=result.output)
    proc = ServerProcess(ws=ws, command=command, pid=int(found["PID"]), port=port)
    if "EXITED" in found:
        _, log = split_log(result.stdout)
        raise ServerExited(_status(found["EXITED"]), log or "")
    if "TIMEOUT" in found:
        raise ServerNotListening(proc, ready_timeout)
    return proc


def finish(ws: Workspace, *, pid: Optional[int], remove: bool, timeout: float = 30, await_exit: float = 0) -> Collected:
    """Stop the server's process group (TERM, then KILL), read its log, and remove the workspace.

    With `await_exit`, first give the server that long to end by itself
    (Collected.awaited says whether it did): one round trip instead of two.
    """
    if ws.changed:  # someone else's folder now: its log is not the server's, and it is not ours to remove
        return Collected(None, None, False, False)
    awaiting = pid is not None and await_exit > 0
    steps = max(1, int(await_exit / AWAIT_STEP)) if awaiting else 0
    args: List[Arg] = [ws.path, "" if pid is None else int(pid), 1 if remove else 0, steps, LOG_LIMIT, TIMES_LIMIT]
    result = ws.host.run(sh_command(PROCS, "log_join.sh", "server_finish.sh", args=args), timeout=timeout)
    found = tags(result)
    if "GONE" in found:
        return Collected(None, None, False, 0)
    _, log = split_log(result.stdout)
    times = [float(t) for t in found.get("TIMES", "").split() if _is_number(t)]
    return Collected(log=log or "", exit_code=_status(found.get("STATUS", "")),
                     stopped="STOPPED" in found, elided=_status(found.get("ELIDED", "")) or 0, times=times,
                     awaited=("AWAITED" in found) if awaiting else None)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def looks_like_port_in_use(log: str) -> bool:
    """Return whether a server's log says its port was taken."""
    return bool(re.search(r"address already in use|EADDRINUSE", log, re.IGNORECASE))


def listening_ports_of_group(ws: Workspace, pgid: int) -> List[int]:
    """Return the TCP ports the process group `pgid` listens on (to explain a wrong bind)."""
    result = ws.host.run(sh_command("server_listening_ports.sh", args=[int(pgid)]), timeout=20)
    ports = []
    for line in result.stdout.split():
        if ":" in line:
            ports.append(int(line.rsplit(":", 1)[1], 16))
    return sorted(set(ports))
