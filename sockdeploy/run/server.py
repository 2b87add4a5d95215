"""The server on the server host: started detached, checked for readiness, stopped, its log collected."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional

from sockdeploy.errors import PortTaken, RemoteError, ServerExited, ServerNotListening
from sockdeploy.output.logcap import HEAD_BYTES, PIECE_BYTES, caps_arg
from sockdeploy.remote.marker import split_log, tags
from sockdeploy.remote.program import PROCS, Arg, sh_command
from sockdeploy.remote.scripts import load
from sockdeploy.run.runtag import Stray, stdin_line, strays
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
    # the ports its processes listen on (TCP) or have bound (UDP), when not the one given, or none was
    listens: List[int] = field(default_factory=list)


@dataclass
class Collected:
    """What finish() found of a server: its log (head and tail), how it ended, when each log line began."""

    log: Optional[str]
    exit_code: Optional[int]
    stopped: bool
    elided: int  # bytes of output the capped log left out
    times: List[float] = field(default_factory=list)  # server host's clock: when each log line began
    awaited: Optional[bool] = None  # with await_exit: whether the server ended by itself in time
    strays: List[Stray] = field(default_factory=list)  # processes of the run left outside the server's group


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
                 cap: int = SERVER_CAP, ready_timeout: float = READY_TIMEOUT, token: Optional[str] = None) -> ServerProcess:
    """Start the server detached (own session, stdin /dev/null, line-buffered capped log) and wait until it listens.

    A watchdog in the server's own process group kills the group after `cap`
    seconds, so a server never outlives a run whose client vanished. With the
    run's `token`, its processes carry it, only their own sockets make it ready,
    the ports they really use come back in `listens`, and another process
    holding the port raises PortTaken.
    """
    args: List[Arg] = [command, int(cap), _readiness(ready, port, socket_path), port or 0, socket_path or "",
            int(ready_timeout / READY_STEP), load("server_wrap.sh"), load("server_stamper.py"),
            load("server_logcap.sh"), caps_arg()]
    # workspace_check.sh reads no stdin: the token line reaches server_start.sh
    result = ws.host.run(in_workspace(ws, "server_start.sh", args, libs=("log_join.sh",)), stdin=stdin_line(token),
                         timeout=ready_timeout + 30)
    refuse_changed(ws, result)
    found = tags(result)
    if "PID" not in found:
        raise RemoteError(f"cannot start the server on {ws.host.name}: {found.get('ERR') or result.output}",
                          "the server host needs a POSIX sh with setsid (util-linux)", output=result.output)
    proc = ServerProcess(ws=ws, command=command, pid=int(found["PID"]), port=port,
                         listens=_hex_ports(found.get("LISTENS", "")))
    head, log = split_log(result.stdout)
    if "TAKEN" in found:
        raise PortTaken(proc, "EXITED" not in found, _status(found.get("EXITED", "")), log or "", strays(head))
    if "EXITED" in found:
        raise ServerExited(_status(found["EXITED"]), log or "", strays(head))
    if "TIMEOUT" in found:
        raise ServerNotListening(proc, ready_timeout)
    return proc


def _hex_ports(text: str) -> List[int]:
    """Read server_start.sh's SD-LISTENS value (hexadecimal ports, comma-separated)."""
    ports = []
    for word in text.replace(",", " ").split():
        try:
            ports.append(int(word, 16))
        except ValueError:
            continue
    return sorted(set(ports))


def finish(ws: Workspace, *, pid: Optional[int], remove: bool, timeout: float = 30, await_exit: float = 0,
           token: Optional[str] = None, role: str = "") -> Collected:
    """Stop the server's process group (TERM, then KILL), read its log, and remove the workspace.

    With `await_exit`, first give the server that long to end by itself
    (Collected.awaited says whether it did): one round trip instead of two.
    With the run's `token`, every process of the run in `role` (every role when
    empty) is stopped too, wherever it went; those outside the server's group
    come back in Collected.strays.
    """
    if ws.changed:  # someone else's folder now: its log is not the server's, and it is not ours to remove
        return Collected(None, None, False, 0)
    awaiting = pid is not None and await_exit > 0
    steps = max(1, int(await_exit / AWAIT_STEP)) if awaiting else 0
    args: List[Arg] = [ws.path, "" if pid is None else int(pid), 1 if remove else 0, steps, LOG_LIMIT, TIMES_LIMIT,
                       role]
    result = ws.host.run(sh_command(PROCS, "log_join.sh", "server_finish.sh", args=args), stdin=stdin_line(token),
                         timeout=timeout)
    found = tags(result)
    head, _ = split_log(result.stdout)
    if "GONE" in found:
        return Collected(None, None, False, 0, strays=strays(head))
    _, log = split_log(result.stdout)
    times = [float(t) for t in found.get("TIMES", "").split() if _is_number(t)]
    return Collected(log=log or "", exit_code=_status(found.get("STATUS", "")),
                     stopped="STOPPED" in found, elided=_status(found.get("ELIDED", "")) or 0, times=times,
                     awaited=("AWAITED" in found) if awaiting else None, strays=strays(head))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def looks_like_port_in_use(log: str) -> bool:
    """Return whether a server's log says its port was taken."""
    return bool(re.search(r"address already in use|EADDRINUSE", log, re.IGNORECASE))
