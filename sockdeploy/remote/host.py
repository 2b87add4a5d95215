"""Hosts that run POSIX shell scripts: this machine, or a machine over SSH (see session)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from typing import IO, Callable, Iterable, Iterator, Optional, Protocol, Tuple, Union

from sockdeploy.errors import ScriptTimeout


@dataclass(frozen=True)
class CommandResult:
    """What a script printed and how it ended."""

    stdout: str
    stderr: str
    exit_status: int

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    @property
    def output(self) -> str:
        return (self.stdout + self.stderr).strip()


@dataclass(frozen=True)
class Upload:
    """A script's stdin made in pieces as it is sent (a tar of the sources): its size is known before, its bytes
    are never all in memory at once."""

    size: int
    chunks: Callable[[], Iterator[bytes]]


Stdin = Union[bytes, Upload, None]


def stdin_parts(stdin: Stdin) -> Tuple[int, Iterable[bytes]]:
    """Return the size of a script's stdin and its bytes in pieces."""
    if stdin is None:
        return 0, ()
    if isinstance(stdin, Upload):
        return stdin.size, stdin.chunks()
    return len(stdin), (stdin,) if stdin else ()


class Host(Protocol):
    """Something that runs a POSIX sh script, optionally with bytes (or an Upload) on stdin."""

    name: str
    role: str

    def run(self, script: str, *, stdin: Stdin = None, timeout: Optional[float] = None) -> CommandResult: ...


class LocalHost:
    """This machine, running scripts with /bin/sh."""

    def __init__(self, role: str = "client host") -> None:
        self.name = socket.gethostname()
        self.role = role

    def run(self, script: str, *, stdin: Stdin = None, timeout: Optional[float] = None) -> CommandResult:
        if isinstance(stdin, Upload):  # from a private temporary file, so memory does not grow with its size
            with tempfile.TemporaryFile() as spool:
                for chunk in stdin.chunks():
                    spool.write(chunk)
                spool.seek(0)
                return self._run(script, spool, None, timeout)
        return self._run(script, subprocess.PIPE if stdin is not None else subprocess.DEVNULL, stdin, timeout)

    def _run(self, script: str, source: Union[int, IO[bytes]], data: Optional[bytes], timeout: Optional[float]) -> CommandResult:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", script],
            stdin=source,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            out, err = proc.communicate()
            raise ScriptTimeout(CommandResult(_text(out), _text(err), -1)) from None
        except BaseException:
            kill_group(proc.pid)
            proc.wait()
            raise
        return CommandResult(_text(out), _text(err), proc.returncode)


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_exists(pgid: int) -> bool:
    """Return whether any live process of group `pgid` remains (zombies do not count)."""
    if os.path.isdir("/proc/self"):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            # after the command name: state, ppid, pgrp
            if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] != b"Z":
                return True
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _text(data: Optional[bytes]) -> str:
    return (data or b"").decode("utf-8", "replace")
