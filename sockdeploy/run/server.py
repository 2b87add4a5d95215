"""Server-side lifecycle on any Host: private workspace, build, port, detached server, cleanup.

Every step is one shell script (one round trip over SSH). Every interpolated
value is shell-quoted.
"""

from __future__ import annotations

import io
import random
import re
import shlex
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Set, Tuple

from sockdeploy.errors import (
    BuildError,
    NetworkPathError,
    ProgramError,
    RemoteError,
    ScriptTimeout,
    ServerExited,
    ServerNotListening,
)
from sockdeploy.remote.host import CommandResult, Host

q = shlex.quote
READY_TIMEOUT = 10.0
BUILD_TIMEOUT = 180.0
SERVER_CAP = 600  # absolute lifetime of a started server, in seconds
LOG_LIMIT = 4 * 1024 * 1024
TIMES_LIMIT = 200_000  # lines of server.times fetched for the timeline
MARK = "SD-"


def shell_path(path: str) -> str:
    """Quote a path for sh, letting a leading ~ mean the remote $HOME."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + q(path[2:])
    return q(path)


# True while any non-zombie process is in process group $1; zombies wait for
# init to reap them and must not count as a running server.
GROUP_ALIVE = r"""group_alive() {
  if [ -r /proc/self/stat ]; then
    # through cat: mawk gives up on a file that vanished after the glob, cat goes on
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$1" '{ sub(/^.*\) /, ""); if ($3 == g && $1 != "Z") f = 1 } END { exit !f }'
  else
    kill -0 -"$1" 2>/dev/null
  fi
}
# True while process $1 runs; a zombie awaiting its parent does not count.
pid_alive() {
  if [ -r "/proc/$1/stat" ]; then
    awk '{ sub(/^.*\) /, ""); exit ($1 == "Z") }' "/proc/$1/stat" 2>/dev/null
  else
    kill -0 "$1" 2>/dev/null
  fi
}
# The stamper (pid $1) may still be writing the server's last lines after the
# server ended, later still on a busy host: wait while it runs, 10 s at most.
await_log() {
  j=0
  while [ ! -f log.closed ] && [ "$j" -lt 400 ] && pid_alive "$1"; do sleep 0.025; j=$((j+1)); done
}
"""


def _marks(result: CommandResult) -> dict:
    found = {}
    for line in result.stdout.splitlines():
        if line == f"{MARK}LOG":
            break  # the server's own output follows; it may print anything
        if line.startswith(MARK):
            key, _, value = line[len(MARK):].partition(" ")
            found[key] = value
    return found


def tar_sources(files: Iterable[Path]) -> bytes:
    """Pack payload sources flat into an in-memory tar (no owners, fixed modes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for f in files:
            info = tarfile.TarInfo(f.name)
            data = f.read_bytes()
            info.size = len(data)
            info.mode = 0o700 if f.stat().st_mode & 0o111 else 0o600
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class Workspace:
    """A private run directory (0700, unpredictable name) on one host."""

    host: Host
    path: str
    used_ports: Set[int]
    removed: bool = False
    cleaned: List[str] = field(default_factory=list)


RUN_MARKER = ".sockdeploy-run"


def _stale_cleanup() -> str:
    """Shell that removes earlier runs under $base whose lifeline is gone (crashed runs).

    Only folders carrying sockdeploy's marker are touched. A run counts as
    dead when its lifeline process is gone, or when it never got one and is
    older than the server's absolute cap.
    """
    return GROUP_ALIVE + f"""
for old in "$base"/run-*; do
  [ -f "$old/{RUN_MARKER}" ] || continue
  if [ -f "$old/lifeline.pid" ]; then
    pid_alive "$(cat "$old/lifeline.pid")" && continue
  elif [ -z "$(find "$old/{RUN_MARKER}" -mmin +{SERVER_CAP // 60} 2>/dev/null)" ]; then
    continue
  fi
  for f in server.pid client.pid; do
    if pg=$(cat "$old/$f" 2>/dev/null) && [ -n "$pg" ] && group_alive "$pg"; then
      kill -KILL -"$pg" 2>/dev/null
    fi
  done
  rm -rf -- "$old" && echo "{MARK}CLEANED $old"
done
"""


def sweep_script(base: str) -> str:
    """Return a script that removes what crashed runs left under `base` (SD-CLEANED lines name them)."""
    return f"base={shell_path(base)}\n[ -d \"$base\" ] || exit 0\n" + _stale_cleanup()


def create_workspace(host: Host, base: str, files: Sequence[Path], *, prefix: str = "run-") -> Workspace:
    """Create a private directory under `base`, unpack the sources into it, and list busy ports.

    In the same round trip, remove what crashed earlier runs left under `base`.
    """
    script = f"""
umask 077
base={shell_path(base)}
if ! mkdir -p -- "$base" 2>/dev/null; then echo "{MARK}ERR cannot create $base"; exit 91; fi
{_stale_cleanup() if prefix == "run-" else ""}
if ! d=$(mktemp -d "$base/{prefix}XXXXXXXXXX" 2>/dev/null); then echo "{MARK}ERR cannot create a directory in $base (not writable, or disk full?)"; exit 92; fi
chmod 700 "$d"
cd "$d" || exit 93
: > {RUN_MARKER}
if ! err=$(tar xof - 2>&1); then
  cd /; rm -rf -- "$d"
  free=$(df -Pk "$base" 2>/dev/null | awk 'NR==2 {{print $4}}')
  echo "{MARK}ERR cannot write the sources into $base (${{free:-?}} KiB free; disk full or quota?): $(printf %s "$err" | tr '\n' ' ')"
  exit 94
fi
echo "{MARK}DIR $d"
echo "{MARK}PORTS"
cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 2>/dev/null || netstat -an 2>/dev/null
"""
    result = host.run(script, stdin=tar_sources(files), timeout=60)
    marks = _marks(result)
    if result.exit_status != 0 or "DIR" not in marks:
        detail = marks.get("ERR") or result.output or f"exit status {result.exit_status}"
        raise RemoteError(
            f"cannot prepare a run directory on the {host.role} {host.name}: {detail}",
            "check free space (df -h) and permissions of server.workdir in hosts.yaml",
            where=base,
            exit_status=result.exit_status,
            output=None if "ERR" in marks else result.output,
        )
    cleaned = [line[len(MARK) + 8:] for line in result.stdout.splitlines() if line.startswith(f"{MARK}CLEANED ")]
    return Workspace(host=host, path=marks["DIR"], used_ports=parse_busy_ports(result.stdout), cleaned=cleaned)


def parse_busy_ports(text: str) -> Set[int]:
    """Read local ports from /proc/net/{tcp,udp}* (hex) or netstat (decimal) output."""
    ports: Set[int] = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 3 and re.fullmatch(r"\d+:", fields[0]) and ":" in fields[1]:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        elif fields and fields[0].startswith(("tcp", "udp")) and len(fields) > 3:
            m = re.search(r"[.:](\d+)$", fields[3])
            if m:
                ports.add(int(m.group(1)))
    return ports


def build(ws: Workspace, command: Optional[str], what: str) -> Optional[CommandResult]:
    """Run a build command in the workspace; compiler errors raise BuildError with its lines."""
    if not command:
        return None
    script = f"cd {q(ws.path)} || exit 93\n{command}\n"
    try:
        result = ws.host.run(f"{{ {script}}} 2>&1", timeout=BUILD_TIMEOUT)
    except ScriptTimeout as exc:
        raise BuildError(f"building the {what} on {ws.host.name} took longer than {BUILD_TIMEOUT:.0f} s",
                         "check the build command in payload.yaml", command=command, output=exc.partial.output) from None
    if result.exit_status != 0:
        raise BuildError(
            f"building the {what} failed on the {ws.host.role} {ws.host.name} (exit status {result.exit_status})",
            "fix the compiler errors shown above and run again",
            command=command, exit_status=result.exit_status, output=result.output,
        )
    return result


def choose_port(busy: Set[int], port_range: Tuple[int, int], tried: Set[int], rng: Optional[random.Random] = None) -> int:
    """Pick a random port in range that is neither busy nor already tried."""
    lo, hi = port_range
    rng = rng or random.SystemRandom()
    free = [p for p in range(lo, hi + 1) if p not in busy and p not in tried]
    if not free:
        raise NetworkPathError(f"no free port in {lo}-{hi} on the server host ({len(busy & set(range(lo, hi + 1)))} busy)",
                               "widen network.ports in hosts.yaml or pass --port N")
    return rng.choice(free)


class PortBook:
    """The ports handed to parallel runs on one server host, so no two of them pick the same one.

    The host's socket tables only show ports already bound; two runs choosing at
    the same moment would both see a port as free (and one run's reachability
    probe could land on the other's server).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken: Set[int] = set()

    def lease(self) -> PortLease:
        """Return a new run's share of the book."""
        return PortLease(self)

    @property
    def taken(self) -> Set[int]:
        with self._lock:
            return set(self._taken)


class PortLease:
    """One run's ports from a PortBook, given back together when the run is over."""

    def __init__(self, book: PortBook) -> None:
        self.book = book
        self.ports: Set[int] = set()

    def choose(self, busy: Set[int], port_range: Tuple[int, int], tried: Set[int],
               rng: Optional[random.Random] = None) -> int:
        """Pick a port as choose_port does, never one another lease of the book holds."""
        with self.book._lock:
            port = choose_port(busy | self.book._taken, port_range, tried, rng)
            self.book._taken.add(port)
            self.ports.add(port)
        return port

    def release(self) -> None:
        """Give every port of this lease back."""
        with self.book._lock:
            self.book._taken -= self.ports
        self.ports.clear()


def _ready_check(kind: str, port: Optional[int], socket_path: Optional[str]) -> str:
    if kind == "tcp" and port is not None:
        return (f"awk -v h=':{port:04X}' 'FNR>1 && $4==\"0A\" && substr($2, length($2)-4)==h {{f=1}} END {{exit !f}}' "
                "/proc/net/tcp /proc/net/tcp6 2>/dev/null")
    if kind == "udp" and port is not None:
        return (f"awk -v h=':{port:04X}' 'FNR>1 && substr($2, length($2)-4)==h {{f=1}} END {{exit !f}}' "
                "/proc/net/udp /proc/net/udp6 2>/dev/null")
    if kind == "unix" and socket_path is not None:
        # a stream server is ready when it listens; a datagram one when its path is bound
        return (f"awk -v p={q(socket_path)} '$8==p && ($4==\"00010000\" || $5==\"0002\") {{f=1}} END {{exit !f}}' "
                "/proc/net/unix 2>/dev/null")
    return "[ $i -ge 4 ]"


@dataclass
class ServerProcess:
    """A server started detached in its own session; its pid is also its process group."""

    ws: Workspace
    command: str
    pid: int
    port: Optional[int]
    exit_code: Optional[int] = None
    stopped_by_us: bool = False


# Starts the server (its argv) with output into a pipe, copies that output to
# server.log unchanged and appends, for each line, the time its first byte
# arrived to server.times. Starting the server itself means no line is written
# before it listens. It ignores SIGTERM so that stopping the server's group
# still lets it write the last lines; it ends at end of file, when every
# process of the group has gone.
STAMPER = r"""import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
r, w = os.pipe()
child = os.fork()
if child == 0:
    os.close(r)
    os.dup2(w, 1)
    os.dup2(w, 2)
    os.close(w)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
os.close(w)
log = open("server.log", "ab", buffering=0)
times = open("server.times", "a")
began = None
while True:
    try:
        chunk = os.read(r, 65536)
    except InterruptedError:
        continue
    if not chunk:
        break
    now = time.time()
    log.write(chunk)
    if began is None:
        began = now
    for _ in range(chunk.count(b"\n")):
        times.write("%.6f\n" % began)
        began = now
    if chunk.endswith(b"\n"):
        began = None
    times.flush()
if began is not None:
    times.write("%.6f\n" % began)
times.close()
log.close()
open("log.closed", "w").close()
try:
    os.waitpid(child, 0)
except OSError:
    pass
"""


def start_server(ws: Workspace, command: str, *, ready: str, port: Optional[int], socket_path: Optional[str],
                 cap: int = SERVER_CAP, ready_timeout: float = READY_TIMEOUT) -> ServerProcess:
    """Start the server detached (own session, stdin /dev/null, line-buffered log) and wait until it listens.

    A watchdog in the server's own process group kills the group after `cap`
    seconds, so a server never outlives a run whose client vanished.
    """
    steps = int(ready_timeout / 0.02)
    wrapper = ('/bin/sh -c "$1" & c=$!; (sleep "$2"; kill -KILL 0) & '
               'wait "$c"; s=$?; echo "$s" > server.status; kill -TERM 0')
    # With python3 the output goes through a stamper in the same process group
    # that notes when each line was produced, on this host's clock (the
    # timeline); without it, straight to the log as before.
    script = GROUP_ALIVE + f"""
cd {q(ws.path)} || exit 93
umask 077
rm -f server.status server.log server.times log.closed
command -v setsid >/dev/null 2>&1 || {{ echo "{MARK}ERR setsid is missing on this host"; exit 95; }}
sb=; command -v stdbuf >/dev/null 2>&1 && sb="stdbuf -oL -eL"
printf '%s\n' {q(wrapper)} > .sockdeploy-wrap
if py=$(command -v python3 2>/dev/null); then
  printf '%s' {q(STAMPER)} > .sockdeploy-stamp
  : > server.log
  PYTHONUNBUFFERED=1 setsid "$py" -S .sockdeploy-stamp $sb /bin/sh .sockdeploy-wrap {q(command)} {int(cap)} </dev/null >/dev/null 2>&1 &
else
  : > log.closed
  PYTHONUNBUFFERED=1 setsid $sb /bin/sh .sockdeploy-wrap {q(command)} {int(cap)} </dev/null >server.log 2>&1 &
fi
pid=$!
echo "$pid" > server.pid
echo "{MARK}PID $pid"
i=0
while :; do
  if [ -f server.status ] || ! kill -0 "$pid" 2>/dev/null; then
    await_log "$pid"
    echo "{MARK}EXITED $(cat server.status 2>/dev/null)"; echo "{MARK}LOG"; head -c 65536 server.log; break
  fi
  if {_ready_check(ready, port, socket_path)}; then echo "{MARK}READY"; break; fi
  i=$((i+1))
  if [ "$i" -ge {steps} ]; then echo "{MARK}TIMEOUT"; break; fi
  sleep 0.02
done
"""
    result = ws.host.run(script, timeout=ready_timeout + 30)
    marks = _marks(result)
    if "PID" not in marks:
        raise RemoteError(f"cannot start the server on {ws.host.name}: {marks.get('ERR') or result.output}",
                          "the server host needs a POSIX sh with setsid (util-linux)", output=result.output)
    proc = ServerProcess(ws=ws, command=command, pid=int(marks["PID"]), port=port)
    if "EXITED" in marks:
        status = marks["EXITED"].strip()
        log = result.stdout.split(f"{MARK}LOG\n", 1)[-1]
        raise ServerExited(int(status) if status.lstrip("-").isdigit() else None, log)
    if "TIMEOUT" in marks:
        raise ServerNotListening(proc, ready_timeout)
    return proc


LIFELINE_SILENCE = 20  # seconds without a heartbeat before the server host stops the server
LIFELINE_READY = f"{MARK}WATCHING".encode()  # the lifeline's pidfile is written: it guards the run


def lifeline_script(run_dir: str) -> str:
    """Remote side of the lifeline, for the whole run.

    Heartbeats are "."; a graceful close sends "q" first. End of file or silence
    means the run is gone (connection dropped, Pi lost power: a signal from it
    would never arrive), so the server host stops the server's group and removes
    the run directory itself. Its pid marks the run as alive for later runs'
    stale cleanup.
    """
    return GROUP_ALIVE + f"""
cd {q(run_dir)} || exit 93
echo $$ > lifeline.pid
# the connection may be gone already: then this line must fail quietly, not end the watchdog
trap '' PIPE
echo {LIFELINE_READY.decode()} 2>/dev/null
b=; pg=; quiet=0; parent=$PPID
t=; command -v timeout >/dev/null 2>&1 && t="timeout 5"
# Listen in 5 s slices: a byte, end of file, silence, or the sshd process
# that started this script vanishing all end the wait independently.
while :; do
  if b=$($t head -c 1 2>/dev/null); then
    [ "$b" = . ] || break
    quiet=0
  else
    quiet=$((quiet + 5))
    kill -0 "$parent" 2>/dev/null || break
    [ "$quiet" -ge {LIFELINE_SILENCE} ] && break
  fi
  # remember the server's group as soon as it exists, in case the directory goes first
  [ -z "$pg" ] && [ -f server.pid ] && pg=$(cat server.pid 2>/dev/null)
done
[ "$b" = q ] && exit 0
[ -z "$pg" ] && pg=$(cat server.pid 2>/dev/null)
if [ -n "$pg" ] && group_alive "$pg"; then
  kill -TERM -"$pg" 2>/dev/null; sleep 1; kill -KILL -"$pg" 2>/dev/null
fi
# a client run on this host (the client host over SSH) goes too
cg=$(cat client.pid 2>/dev/null)
[ -n "$cg" ] && group_alive "$cg" && kill -KILL -"$cg" 2>/dev/null
cd / && rm -rf -- {q(run_dir)}
"""


@dataclass
class Collected:
    log: Optional[str]
    exit_code: Optional[int]
    stopped: bool
    truncated: bool
    times: List[float] = field(default_factory=list)  # server host's clock: when each log line began
    awaited: Optional[bool] = None  # with await_exit: whether the server ended by itself in time


def finish(ws: Workspace, *, pid: Optional[int], remove: bool, timeout: float = 30, await_exit: float = 0) -> Collected:
    """Stop the server's process group (TERM, then KILL), read its log, and remove the workspace.

    With `await_exit`, first give the server that long to end by itself
    (Collected.awaited says whether it did): one round trip instead of two.
    """
    stop = ""
    if pid is not None and await_exit > 0:
        steps = max(1, int(await_exit / 0.01))
        stop += f"""
i=0
while [ ! -f server.status ] && kill -0 {pid} 2>/dev/null; do
  i=$((i+1)); if [ "$i" -ge {steps} ]; then echo "{MARK}RUNNING"; break; fi
  sleep 0.01
done
if [ "$i" -lt {steps} ]; then
  [ -f server.status ] || sleep 0.02  # the wrapper writes the status just after the server ends
  echo "{MARK}AWAITED"
  # the stamper still writes the last lines; it is not a server to stop
  await_log {pid}
fi"""
    if pid is not None:
        stop += f"""
if group_alive {pid}; then
  kill -TERM -{pid} 2>/dev/null
  i=0; while group_alive {pid} && [ "$i" -lt 40 ]; do sleep 0.05; i=$((i+1)); done
  kill -KILL -{pid} 2>/dev/null
  echo "{MARK}STOPPED"
fi"""
    rm = f'cd / && rm -rf -- {q(ws.path)}' if remove else ":"
    script = GROUP_ALIVE + f"""
cd {q(ws.path)} 2>/dev/null || {{ echo "{MARK}GONE"; exit 0; }}
{stop}
[ -f server.pid ] && await_log "$(cat server.pid)"
echo "{MARK}STATUS $(cat server.status 2>/dev/null)"
echo "{MARK}TIMES $(head -n {TIMES_LIMIT} server.times 2>/dev/null | tr '\n' ' ')"
size=$(wc -c < server.log 2>/dev/null || echo 0)
echo "{MARK}SIZE $size"
echo "{MARK}LOG"
if [ -f server.log ]; then head -c {LOG_LIMIT} server.log; fi
{rm}
"""
    result = ws.host.run(script, timeout=timeout)
    marks = _marks(result)
    if remove:
        ws.removed = True
    if "GONE" in marks:
        return Collected(None, None, False, False)
    status = marks.get("STATUS", "").strip()
    log = result.stdout.split(f"{MARK}LOG\n", 1)[1] if f"{MARK}LOG\n" in result.stdout else ""
    size = int(marks.get("SIZE", "0").strip() or 0)
    times = [float(t) for t in marks.get("TIMES", "").split() if _is_number(t)]
    return Collected(log=log, exit_code=int(status) if status.lstrip("-").isdigit() else None,
                     stopped="STOPPED" in marks, truncated=size > LOG_LIMIT, times=times,
                     awaited=("AWAITED" in marks) if await_exit > 0 and pid is not None else None)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def looks_like_port_in_use(log: str) -> bool:
    return bool(re.search(r"address already in use|EADDRINUSE", log, re.IGNORECASE))


def describe_status(status: Optional[int]) -> str:
    if status is None:
        return "unknown status"
    if status > 128:
        import signal as _signal

        try:
            name = _signal.Signals(status - 128).name
        except ValueError:
            name = f"signal {status - 128}"
        return f"killed by {name}"
    return f"exit status {status}"


def program_failure(what: str, command: str, status: Optional[int], output: str, hint: str) -> ProgramError:
    return ProgramError(f"the {what} `{command}` ended with {describe_status(status)}", hint,
                        command=command, exit_status=status, output=output)


def listening_ports_of_group(ws: Workspace, pgid: int) -> List[int]:
    """Return the TCP ports the process group `pgid` listens on (to explain a wrong bind)."""
    script = f"""
inodes=$(for p in /proc/[0-9]*; do g=$(awk '{{print $5}}' "$p/stat" 2>/dev/null) || continue; [ "$g" = {pgid} ] || continue; for fd in "$p"/fd/*; do readlink "$fd" 2>/dev/null; done; done | sed -n 's/^socket:\\[\\([0-9]*\\)\\]$/\\1/p' | sort -u)
for n in $inodes; do awk -v n="$n" 'FNR>1 && $4=="0A" && $10==n {{print $2}}' /proc/net/tcp /proc/net/tcp6 2>/dev/null; done
"""
    result = ws.host.run(script, timeout=20)
    ports = []
    for line in result.stdout.split():
        if ":" in line:
            ports.append(int(line.rsplit(":", 1)[1], 16))
    return sorted(set(ports))
