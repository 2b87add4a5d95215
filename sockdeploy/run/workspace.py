"""A private run folder on a host: created with the sources in it, crashed runs' folders swept."""

from __future__ import annotations

import shlex
import tarfile
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Sequence, Set, Tuple

from sockdeploy.errors import PayloadError, RemoteError, ScriptTimeout
from sockdeploy.remote.host import Host, Upload
from sockdeploy.remote.marker import tag_values, tags
from sockdeploy.remote.program import PROCS, sh_command
from sockdeploy.run.ports import parse_busy_ports, parse_held_ports
from sockdeploy.spec.sources import MAX_UPLOAD_BYTES, Source

SERVER_CAP = 600  # absolute lifetime of a started server, in seconds
RUN_MARKER = ".sockdeploy-run"  # the file that makes a folder sockdeploy's to sweep (named in run_procs.sh too)
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
    held_ports: Set[int] = field(default_factory=set)  # ports something listens on or has bound
    cleaned: List[str] = field(default_factory=list)


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

    Only folders carrying sockdeploy's marker are touched. A run counts as
    dead when its watchdog process is gone, or when it never got one and is
    older than the server's absolute cap.
    """
    return sh_command(PROCS, "workspace_sweep.sh", args=[base, SERVER_CAP // 60])


def create_workspace(host: Host, base: str, files: Sequence[Source], dirs: Sequence[str] = (), *,
                     prefix: str = "run-") -> Workspace:
    """Create a private directory under `base`, unpack the sources (and their folders) into it, and list busy ports.

    In the same round trip, remove what crashed earlier runs left under `base`
    (for run- folders: other prefixes are this machine's temporary folders).
    An upload cut short leaves nothing: the remote helper runs no request it
    did not get whole, and without it tar fails and the script removes the folder.
    """
    command = sh_command(PROCS, "workspace_create.sh", args=[base, prefix, SERVER_CAP // 60])
    upload = tar_sources(files, dirs)
    timeout = CREATE_TIMEOUT + upload.size / SLOWEST_UPLOAD
    try:
        result = host.run(command, stdin=upload, timeout=timeout)
    except ScriptTimeout:
        raise RemoteError(f"uploading the sources ({upload.size / 2**20:.1f} MiB) to the {host.role} {host.name} "
                          f"did not finish within {timeout:.0f} s", "check your network, or upload less",
                          where=base) from None
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
