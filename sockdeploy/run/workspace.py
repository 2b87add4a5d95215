"""A private run folder on a host: created with the sources in it, crashed runs' folders swept."""

from __future__ import annotations

import shlex
import tarfile
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Sequence, Set, Tuple

from sockdeploy.errors import PayloadError, RemoteError, RunDirChanged, ScriptTimeout, UnsafeWorkdir
from sockdeploy.remote.host import CommandResult, Host, Upload
from sockdeploy.remote.marker import tag_values, tags
from sockdeploy.remote.program import PROCS, Arg, sh_command
from sockdeploy.run.ports import parse_busy_ports, parse_held_ports
from sockdeploy.spec.sources import MAX_UPLOAD_BYTES, Source

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
TAR_BLOCK = 512
READ_CHUNK = 1 << 20
# How long creating a run folder may take: a base for the sweep and unpacking, plus the upload at a slow
# uplink's pace (50 MiB at 128 KiB/s is 400 s); a stalled upload ends there, a dead link sooner (keepalive).
CREATE_TIMEOUT = 60.0
SLOWEST_UPLOAD = 128 * 1024  # bytes per second


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


def _header(info: tarfile.TarInfo, name: str) -> bytes:
    try:
        return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")
    except ValueError:  # ustar keeps 255 characters of path
        raise PayloadError(f"{name}: the path is too long to upload", "shorten the folder or file names") from None


def tar_sources(files: Sequence[Source], dirs: Sequence[str] = (), *, max_bytes: int = MAX_UPLOAD_BYTES) -> Upload:
    """Return the sources as a tar stream (each at its relative path, every folder too; no owners, private modes).

    Its size is known, and checked against `max_bytes`, before any of it is
    made; the files are read as the stream is sent, so it is never all in memory.
    """
    members: List[Tuple[bytes, Optional[Source], int]] = []
    for d in dirs:  # parents first, so an empty obj/ a makefile writes into exists too
        info = tarfile.TarInfo(d)
        info.type, info.mode = tarfile.DIRTYPE, 0o700
        members.append((_header(info, d), None, 0))
    for f in files:
        try:
            st = f.path.stat()
        except OSError as exc:
            raise PayloadError(f"{f.path}: cannot read: {exc.strerror or exc}", "run again once the file is back") from None
        info = tarfile.TarInfo(f.name)
        info.size, info.mode = st.st_size, 0o700 if st.st_mode & 0o111 else 0o600
        members.append((_header(info, f.name), f, st.st_size))
    content = sum(size for _, _, size in members)
    if content > max_bytes:
        raise PayloadError(f"the sources come to {content / 2**20:.1f} MiB, more than the upload limit "
                           f"({max_bytes / 2**20:.0f} MiB)", "payload folders hold sources; move big files elsewhere")
    total = sum(len(h) + -(-size // TAR_BLOCK) * TAR_BLOCK for h, _, size in members) + 2 * TAR_BLOCK

    def chunks() -> Iterator[bytes]:
        for header, source, size in members:
            yield header
            if source is not None:
                yield from _file_blocks(source, size)
        yield bytes(2 * TAR_BLOCK)  # the end of the archive

    return Upload(total, chunks)


def _file_blocks(source: Source, size: int) -> Iterator[bytes]:
    """Yield a file's `size` bytes and the tar padding after them; a file that changed size meanwhile is refused."""
    changed = PayloadError(f"{source.path} changed while it was being uploaded", "run again once it is saved")
    try:
        with open(source.path, "rb") as fh:
            left = size
            while left > 0:
                data = fh.read(min(READ_CHUNK, left))
                if not data:
                    raise changed
                left -= len(data)
                yield data
            if fh.read(1):
                raise changed
    except OSError as exc:
        raise PayloadError(f"{source.path}: cannot read: {exc.strerror or exc}", "run again once the file is back") from None
    if size % TAR_BLOCK:
        yield bytes(TAR_BLOCK - size % TAR_BLOCK)


def sweep_script(base: str) -> str:
    """Return a command that removes what crashed runs left under `base` (SD-CLEANED lines name them).

    Only the user's private folders carrying sockdeploy's marker are touched,
    never one kept with --keep-remote. A run made on this machine is over when
    its watchdog is gone; a run of any machine (a pool sharing the home) when
    its heartbeat stopped STALE_AFTER ago.
    """
    return sh_command(PROCS, "workspace_sweep.sh", args=[base, STALE_AFTER // 60])


def in_workspace(ws: Workspace, name: str, args: Sequence[Arg], libs: Sequence[str] = ()) -> str:
    """Return the command running the shipped program NAME in the run folder, checked first (workspace_check.sh).

    ARGS are NAME's arguments after its folder; NAME runs only when the folder
    is still the private one made, and gets "." as its folder. LIBS are shipped
    shell files of functions NAME uses, read first.
    """
    return sh_command(PROCS, *libs, "workspace_check.sh", name, args=[ws.inode, ws.path, *args])


def refuse_changed(ws: Workspace, result: CommandResult) -> None:
    """Raise RunDirChanged when workspace_check.sh found the run folder is no longer the one made."""
    why = tags(result).get("SWAPPED")
    if why is not None and result.exit_status == CHANGED_STATUS:
        ws.changed = True
        raise RunDirChanged(f"on the {ws.host.role} {ws.host.name}, {why}; nothing was run in it",
                            "someone else changed it: use a work folder only you can write (workdir in hosts.yaml, "
                            "e.g. ~/.sockdeploy)", exit_status=result.exit_status)


def create_workspace(host: Host, base: str, files: Sequence[Source], dirs: Sequence[str] = (), *,
                     prefix: str = "run-") -> Workspace:
    """Create a private directory under `base`, unpack the sources (and their folders) into it, and list busy ports.

    In the same round trip, remove what crashed earlier runs left under `base`
    (for run- folders: other prefixes are this machine's temporary folders).
    An upload cut short leaves nothing: the remote helper runs no request it
    did not get whole, and without it tar fails and the script removes the folder.
    """
    command = sh_command(PROCS, "workspace_create.sh", args=[base, prefix, STALE_AFTER // 60])
    upload = tar_sources(files, dirs)
    timeout = CREATE_TIMEOUT + upload.size / SLOWEST_UPLOAD
    try:
        result = host.run(command, stdin=upload, timeout=timeout)
    except ScriptTimeout:
        raise RemoteError(f"uploading the sources ({upload.size / 2**20:.1f} MiB) to the {host.role} {host.name} "
                          f"did not finish within {timeout:.0f} s", "check your network, or upload less",
                          where=base) from None
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
