"""The run's tag: a secret token every process the run starts carries in its environment.

`SOCKDEPLOY_RUN=ROLE:TOKEN` (ROLE: server, build, client-N) survives setsid and
double forks, where a process group does not. Stopping a run stops every
process of the user that carries its token (the host programs find them
through /proc/PID/environ, see run_procs.sh), and the server's readiness counts
only sockets its own processes hold. A host program gets the token as the first
line of its stdin, never on its command line, which ps shows to every user of a
shared login host; the local clients get it in their environment directly.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional

from sockdeploy.remote import marker
from sockdeploy.remote.host import Host
from sockdeploy.remote.program import PROCS, sh_command

if TYPE_CHECKING:
    from sockdeploy.run.context import RunContext

ENV = "SOCKDEPLOY_RUN"
STRAY = "STRAY"  # the marker host programs print for each process of the run they stopped (SD-STRAY)
STOP_TIMEOUT = 30.0
SERVER = "server"
BUILD = "build"
# The roles of the run's processes on a client host (a Pi, or this machine in a remote run): its builds and
# client runs, never the server (which the loopback lab runs on this same machine).
CLIENT_SIDE = "build|client-[0-9]+"


def client_role(run: int) -> str:
    """The role of client run `run`'s processes."""
    return f"client-{run}"


def new_token() -> str:
    """Return a fresh unguessable token for one run."""
    return secrets.token_hex(16)


def environment(token: Optional[str], role: str) -> Dict[str, str]:
    """The variable that tags a process as the run's, in `role`."""
    return {ENV: f"{role}:{token}"} if token else {}


def stdin_line(token: Optional[str]) -> bytes:
    """The first line of a host program's stdin: the token (an empty line: none)."""
    return f"{token or ''}\n".encode()


@dataclass(frozen=True)
class Stray:
    """A process of the run still running after the part that started it ended; it was stopped."""

    pid: int
    role: str
    command: str

    def sentence(self, host: str) -> str:
        """Say what was left and that it is gone, for the terminal, run.json and transcript.md."""
        client = re.fullmatch(r"client-(\d+)", self.role)
        who = ({"server": "your server", "build": "the build"}.get(self.role)
               or (f"your client (run {client.group(1)})" if client else "the run"))
        command = self.command.replace("`", "'")
        return f"{who} left a background process on {host} (pid {self.pid}, `{command}`); it was stopped"


def strays(text: str) -> List[Stray]:
    """Return the processes the SD-STRAY lines in `text` name."""
    found = []
    for value in marker.values(text, STRAY):
        pid, _, rest = value.partition(" ")
        role, _, command = rest.partition(" ")
        if pid.isdigit():
            found.append(Stray(int(pid), role or "run", command.strip() or "?"))
    return found


def without_strays(text: str) -> str:
    """Return `text` without its SD-STRAY lines (a build's output, as the person should see it)."""
    lines = text.splitlines(keepends=True)
    kept = [line for line in lines if (m := marker.parse_line(line)) is None or m.tag != STRAY]
    return "".join(kept)


def watchdog_line(token: Optional[str]) -> bytes:
    """What gives watchdog.sh the token: a line starting with "t" among its heartbeats."""
    return f"t{token}\n".encode() if token else b""


def any_tagged(token: str, roles: str = "") -> bool:
    """Whether a process of this user on this machine carries `token` in a role `roles` matches (all when empty).

    The quick look before stop_strays, whose program costs a few processes to start.
    """
    wanted = re.compile(rb"(?:^|\0)" + ENV.encode() + rb"=(?:" + (roles or "[a-z0-9-]+").encode() + rb"):"
                        + re.escape(token.encode()) + rb"(?:\0|$)")
    me = os.getuid()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid != me:
                continue
            with open(f"/proc/{name}/environ", "rb") as fh:
                if wanted.search(fh.read()):
                    return True
        except OSError:  # gone, or not ours to read
            continue
    return False


def stop_strays(host: Host, token: Optional[str], role: str = "") -> List[Stray]:
    """Stop what processes of the run in `role` (a role, or roles as CLIENT_SIDE; every role when empty) still
    run on `host`; return them."""
    if not token:
        return []
    result = host.run(sh_command(PROCS, "tagged_stop.sh", args=[role]), stdin=stdin_line(token), timeout=STOP_TIMEOUT)
    return strays(result.stdout)


def note(ctx: RunContext, host: str, found: List[Stray]) -> None:
    """Tell the person about each stray process and keep it in run.json and transcript.md."""
    for stray in found:
        sentence = stray.sentence(host)
        ctx.progress.info(sentence)
        ctx.record.stray_processes = (ctx.record.stray_processes or []) + [sentence]
