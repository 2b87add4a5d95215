"""A private run folder on a host: created with the sources in it, crashed runs' folders swept."""

from __future__ import annotations

import io
import shlex
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Sequence, Set

from sockdeploy.errors import RemoteError
from sockdeploy.remote.host import Host
from sockdeploy.remote.marker import tag_values, tags
from sockdeploy.remote.program import PROCS, sh_command
from sockdeploy.run.ports import parse_busy_ports, parse_held_ports

SERVER_CAP = 600  # absolute lifetime of a started server, in seconds
RUN_MARKER = ".sockdeploy-run"  # the file that makes a folder sockdeploy's to sweep (named in run_procs.sh too)


@dataclass
class Workspace:
    """A private run directory (0700, unpredictable name) on one host."""

    host: Host
    path: str
    used_ports: Set[int]  # every port in the socket tables, lingering connections too
    held_ports: Set[int] = field(default_factory=set)  # ports something listens on or has bound
    cleaned: List[str] = field(default_factory=list)


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

    Only folders carrying sockdeploy's marker are touched. A run counts as
    dead when its watchdog process is gone, or when it never got one and is
    older than the server's absolute cap.
    """
    return sh_command(PROCS, "workspace_sweep.sh", args=[base, SERVER_CAP // 60])


def create_workspace(host: Host, base: str, files: Sequence[Path], *, prefix: str = "run-") -> Workspace:
    """Create a private directory under `base`, unpack the sources into it, and list busy ports.

    In the same round trip, remove what crashed earlier runs left under `base`
    (for run- folders: other prefixes are this machine's temporary folders).
    """
    command = sh_command(PROCS, "workspace_create.sh", args=[base, prefix, SERVER_CAP // 60])
    result = host.run(command, stdin=tar_sources(files), timeout=60)
    found = tags(result)
    if result.exit_status != 0 or "DIR" not in found:
        detail = found.get("ERR") or result.output or f"exit status {result.exit_status}"
        raise RemoteError(
            f"cannot prepare a run directory on the {host.role} {host.name}: {detail}",
            "check free space (df -h) and permissions of server.workdir in hosts.yaml",
            where=base,
            exit_status=result.exit_status,
            output=None if "ERR" in found else result.output,
        )
    return Workspace(host=host, path=found["DIR"], used_ports=parse_busy_ports(result.stdout),
                     held_ports=parse_held_ports(result.stdout), cleaned=tag_values(result, "CLEANED"))
