"""The LD_PRELOAD redirect that lets a program keep the address and port written into it.

Built from the shipped C source on first use, with the host's own gcc, into a
private cache under the workdir (one library per source version); turned on
for one program by the environment `environment()` returns; every redirect it
makes is appended to a log the run folder keeps.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from sockdeploy.errors import BuildError
from sockdeploy.remote import marker
from sockdeploy.remote.host import Host
from sockdeploy.remote.program import PROCS, sh_command
from sockdeploy.remote.scripts import load

SOURCE = "redirect.c"
CACHE_NAME = "lib"  # the folder under the server host's workdir that keeps the built library between runs
BUILD_TIMEOUT = 60
PT_INTERP = 3
MANUAL = "or edit the address and port in your source to the ones the run prints"


@dataclass(frozen=True)
class Rule:
    """Connections to FROM (any address or port where None) go to TO instead."""

    from_addr: Optional[str]
    from_port: Optional[int]
    to_addr: str
    to_port: int

    def text(self) -> str:
        return f"{self.from_addr or '*'}:{self.from_port or '*'}>{self.to_addr}:{self.to_port}"


@dataclass(frozen=True)
class Redirect:
    """What one program's redirect does: connect/sendto rules and bind port moves."""

    connect: Tuple[Rule, ...] = ()
    bind: Tuple[Tuple[int, int], ...] = ()

    def environment(self, library: str, log: str) -> Dict[str, str]:
        """The variables that load LIBRARY into a program with these rules, logging to LOG."""
        env = {"LD_PRELOAD": library, "SOCKDEPLOY_LOG": log}
        if self.connect:
            env["SOCKDEPLOY_CONNECT"] = ",".join(rule.text() for rule in self.connect)
        if self.bind:
            env["SOCKDEPLOY_BIND"] = ",".join(f"{old}>{new}" for old, new in self.bind)
        return env


@dataclass(frozen=True)
class Redirected:
    """One line of the redirect log: which call, which protocol, from where to where."""

    call: str
    protocol: str
    original: str
    target: str

    def sentence(self) -> str:
        verb = {"bind": "bind to port", "connect": "connect to", "sendto": "datagrams to"}.get(self.call, self.call)
        return f"the program's {verb} {self.original} went to {self.target} ({self.protocol.upper()})"


def source_digest() -> str:
    """A short digest of the shipped source: a new version gets a library of its own."""
    return hashlib.sha256(load(SOURCE).encode()).hexdigest()[:16]


def build_library(host: Host, cache_dir: str) -> str:
    """Build (or find) the redirect library on HOST under CACHE_DIR; return its path there."""
    result = host.run(sh_command(PROCS, "redirect_build.sh", args=(cache_dir, source_digest())),
                      stdin=load(SOURCE).encode(), timeout=BUILD_TIMEOUT)
    found = marker.first(result.stdout, "LIB")
    if found:
        return found
    if marker.first(result.stdout, "NOGCC") is not None:
        raise BuildError("cannot build the address redirect: no gcc on the host",
                         f"install gcc there, {MANUAL}", output=result.output)
    why = marker.first(result.stdout, "BUILDFAIL") or result.output or f"exit {result.exit_status}"
    raise BuildError(f"cannot build the address redirect: {why}", f"check {cache_dir} on the host, {MANUAL}",
                     output=result.output)


def read_log(text: str) -> List[Redirected]:
    """Parse the redirect log (one "call proto from to" line each; unreadable lines are skipped)."""
    entries: List[Redirected] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4:
            entries.append(Redirected(*parts))
    return entries


HEAD_BYTES = 8192  # an ELF program header table sits near the start of the file


def program_head(path: Path) -> bytes:
    """The first bytes of the program at PATH: enough for takes_preload()."""
    with path.open("rb") as f:
        return f.read(HEAD_BYTES)


def is_dynamic(path: Path) -> bool:
    """Whether the program at PATH can take a preloaded library (a dynamic ELF, or a script)."""
    return takes_preload(program_head(path))


def takes_preload(head: bytes) -> bool:
    """Whether a program starting with HEAD can take a preloaded library (a dynamic ELF, or a script).

    A statically linked program ignores LD_PRELOAD; the run says so instead of
    silently sending its traffic to the hard-coded address.
    """
    if head[:2] == b"#!":
        return True
    if head[:4] != b"\x7fELF" or len(head) < 64:
        return False
    is64, little = head[4] == 2, head[5] == 1
    end = "<" if little else ">"
    if is64:
        phoff, = struct.unpack_from(end + "Q", head, 32)
        phentsize, phnum = struct.unpack_from(end + "HH", head, 54)
    else:
        phoff, = struct.unpack_from(end + "I", head, 28)
        phentsize, phnum = struct.unpack_from(end + "HH", head, 42)
    table = head[phoff:phoff + phentsize * phnum]
    types: Sequence[int] = [struct.unpack_from(end + "I", table, i * phentsize)[0] for i in range(phnum)
                            if (i + 1) * phentsize <= len(table)]
    return PT_INTERP in types
