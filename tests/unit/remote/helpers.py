"""Helpers for running sockdeploy's host programs on this machine (LocalHost, no SSH)."""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Sequence, Tuple

from sockdeploy.remote.host import Host
from sockdeploy.remote.scripts import load
from sockdeploy.run.workspace import Workspace


def wait_until(check: Callable[[], bool], limit: float = 10.0) -> bool:
    """Poll `check` until it holds or `limit` seconds pass; return its last answer."""
    end = time.monotonic() + limit
    while not check():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A run's token in the tests (hex, as runtag.new_token makes them): one per test process, so that test
# runs side by side (CI runs one per Python) never stop each other's tagged processes.
TOKEN = secrets.token_hex(16)


def daemon(pidfile: Path, hold_output: bool = False) -> str:
    """Return a sh command that leaves `sleep` in a session of its own (setsid, double fork); its pid goes to pidfile.

    With `hold_output` it keeps the caller's stdout and stderr open, as a careless daemon does.
    """
    inner = f"echo $$ > {shlex.quote(str(pidfile))}; exec sleep 60"
    redirect = "" if hold_output else " </dev/null >/dev/null 2>&1"
    return f"(setsid sh -c {shlex.quote(inner)}{redirect} &)"


def pid_in(pidfile: Path, limit: float = 10.0) -> int:
    """Wait for `pidfile` to hold a pid; return it."""
    assert wait_until(lambda: pidfile.is_file() and pidfile.read_text().strip().isdigit(), limit)
    return int(pidfile.read_text())


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def private_workspace(host: Host, path: Path) -> Workspace:
    """Return a Workspace of folder PATH as create_workspace leaves one: mode 0700, its inode noted.

    A folder that does not exist stays absent (inode 0), for the tests of a folder already gone.
    """
    if path.is_dir():
        path.chmod(0o700)
    return Workspace(host=host, path=str(path), used_ports=set(), inode=str(path.stat().st_ino) if path.exists() else "0")


def capped_reference(data: bytes, caps: str, folder: Path) -> Tuple[bytes, int, int]:
    """What sockdeploy's own CappedLog keeps of DATA under CAPS ("HEAD,PIECE,LINES"), fed in uneven chunks.

    Returns (the kept log, how many line times it has, the bytes elided).
    """
    from sockdeploy.output.logcap import CappedLog

    head, piece, lines = (int(n) for n in caps.split(","))
    path = folder / "reference.log"
    path.write_bytes(b"")
    log = CappedLog(path, head=head, piece=piece, lines=lines)
    at, step = 0, 1
    while at < len(data):
        log.write(data[at:at + step], float(at))
        at, step = at + step, step * 3 % 1000 + 1
    log.close()
    return path.read_bytes(), len(log.times), log.elided


def line_count(data: bytes) -> int:
    """Lines in DATA as the timeline counts them: an unfinished last line counts."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def numbered_lines(count: int, width: int = 0) -> bytes:
    """COUNT numbered lines, line i padded with i % (WIDTH + 1) dots."""
    return b"".join(b"line %d %s\n" % (i, b"." * (i % (width + 1))) for i in range(count))


def files_bytes(folder: Path, *prefixes: str) -> int:
    """Sum of the sizes of the files in FOLDER whose names start with one of PREFIXES (files may vanish)."""
    total = 0
    for entry in os.scandir(folder):
        if entry.name.startswith(prefixes):
            try:
                total += entry.stat().st_size
            except OSError:
                pass
    return total


def flood_peak(folder: Path, capper: Sequence[str], seconds: float = 1.0) -> Tuple[int, int]:
    """Run CAPPER (a log capper's command, in FOLDER) over `yes` for SECONDS; return the peak bytes of its
    server.* files meanwhile and the bytes it said it elided (server.cut)."""
    proc = subprocess.Popen([*capper, "65536,65536,1000", "yes", "a flood line"], cwd=folder, start_new_session=True)
    try:
        peak, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            peak = max(peak, files_bytes(folder, "server."))
            time.sleep(0.005)
        elided = int((folder / "server.cut").read_text().split()[0])
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return peak, elided


def build_redirect(folder: Path, *flags: str) -> Path:
    """Compile the shipped redirect.c into FOLDER as the host's build does, warning-free (-Werror), with FLAGS."""
    source = folder / "redirect.c"
    source.write_text(load("redirect.c"))
    out = folder / "libsockdeploy-redirect.so"
    subprocess.run(["gcc", "-Wall", "-Wextra", "-Werror", *flags, "-shared", "-fPIC", "-O2", "-o", str(out), str(source),
                    "-ldl"], check=True)
    return out
