"""A private run folder on a host: created with the sources in it, crashed runs' folders swept."""

from __future__ import annotations

import io
import shlex
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Sequence, Set

from sockdeploy.errors import RemoteError, RunDirChanged, UnsafeWorkdir
from sockdeploy.remote.host import CommandResult, Host
from sockdeploy.remote.marker import tag_values, tags
from sockdeploy.remote.program import PROCS, Arg, sh_command
from sockdeploy.run.ports import parse_busy_ports, parse_held_ports

SERVER_CAP = 600  # absolute lifetime of a started server, in seconds
# A run whose heartbeat stopped this long ago is over on whichever machine of a pool it ran: its
# server's cap has passed, and the margin covers clock skew between the machines sharing the home.
STALE_AFTER = SERVER_CAP + 120
# Files that mark a run folder (named in run_procs.sh too): sockdeploy's marker naming the machine,
# the heartbeat its watchdog touches, and the mark of a folder kept with --keep-remote.
RUN_MARKER = ".sockdeploy-run"
HEARTBEAT = ".sockdeploy-alive"
KEEP_MARKER = ".sockdeploy-keep"
CHANGED_STATUS = 96  # workspace_check.sh's exit status for a run folder that is not the one made


@dataclass
class Workspace:
    """A private run directory (0700, unpredictable name) on one host."""

    host: Host
    path: str
    used_ports: Set[int]  # every port in the socket tables, lingering connections too
    inode: str  # the folder's inode as made: checked (with owner and mode) before each build and start
    held_ports: Set[int] = field(default_factory=set)  # ports something listens on or has bound
    cleaned: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)  # e.g. a work folder shared with other users
    changed: bool = False  # found not to be the folder made: nothing more is read from it or removed there


def shell_path(path: str) -> str:
    """Quote a path for sh, letting a leading ~ mean the remote $HOME."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


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


def sweep_script(base: str) -> str:
    """Return a command that removes what crashed runs left under `base` (SD-CLEANED lines name them).

    Only the user's private folders carrying sockdeploy's marker are touched,
    never one kept with --keep-remote. A run made on this machine is over when
    its watchdog is gone; a run of any machine (a pool sharing the home) when
    its heartbeat stopped STALE_AFTER ago.
    """
    return sh_command(PROCS, "workspace_sweep.sh", args=[base, STALE_AFTER // 60])


def in_workspace(ws: Workspace, name: str, args: Sequence[Arg]) -> str:
    """Return the command running the shipped program NAME in the run folder, checked first (workspace_check.sh).

    ARGS are NAME's arguments after its folder; NAME runs only when the folder
    is still the private one made, and gets "." as its folder.
    """
    return sh_command(PROCS, "workspace_check.sh", name, args=[ws.inode, ws.path, *args])


def refuse_changed(ws: Workspace, result: CommandResult) -> None:
    """Raise RunDirChanged when workspace_check.sh found the run folder is no longer the one made."""
    why = tags(result).get("SWAPPED")
    if why is not None and result.exit_status == CHANGED_STATUS:
        ws.changed = True
        raise RunDirChanged(f"on the {ws.host.role} {ws.host.name}, {why}; nothing was run in it",
                            "someone else changed it: use a work folder only you can write (workdir in hosts.yaml, "
                            "e.g. ~/.sockdeploy)", exit_status=result.exit_status)


def create_workspace(host: Host, base: str, files: Sequence[Path], *, prefix: str = "run-") -> Workspace:
    """Create a private directory under `base`, unpack the sources into it, and list busy ports.

    In the same round trip, remove what crashed earlier runs left under `base`
    (for run- folders: other prefixes are this machine's temporary folders).
    """
    command = sh_command(PROCS, "workspace_create.sh", args=[base, prefix, STALE_AFTER // 60])
    result = host.run(command, stdin=tar_sources(files), timeout=60)
    found = tags(result)
    private = "use a work folder only you can write: workdir in hosts.yaml, e.g. ~/.sockdeploy"
    if "UNSAFE" in found:
        raise UnsafeWorkdir(f"on the {host.role} {host.name}, {found['UNSAFE']}", private, exit_status=result.exit_status)
    if "SWAPPED" in found:
        raise RunDirChanged(f"on the {host.role} {host.name}, {found['SWAPPED']} (replaced by someone else?)", private,
                            exit_status=result.exit_status)
    if result.exit_status != 0 or "DIR" not in found or "INODE" not in found:
        detail = found.get("ERR") or result.output or f"exit status {result.exit_status}"
        raise RemoteError(
            f"cannot prepare a run directory on the {host.role} {host.name}: {detail}",
            "check free space (df -h) and permissions of server.workdir in hosts.yaml",
            where=base,
            exit_status=result.exit_status,
            output=None if "ERR" in found else result.output,
        )
    return Workspace(host=host, path=found["DIR"], used_ports=parse_busy_ports(result.stdout), inode=found["INODE"],
                     held_ports=parse_held_ports(result.stdout), cleaned=tag_values(result, "CLEANED"),
                     warnings=tag_values(result, "WARN"))
