"""Payloads: a manifest (payload.yaml) plus the sources of a client/server pair."""

from __future__ import annotations

import difflib
import hashlib
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

from sockdeploy.errors import PayloadError, UsageError
from sockdeploy.yamlsrc import Section, load_located

MANIFEST = "payload.yaml"
PLACEHOLDERS = ("port", "ip", "host", "socket")
READY_KINDS = ("tcp", "unix", "none")
# `${VAR}` is shell, not a placeholder, so a preceding `$` is skipped.
_PLACEHOLDER_RE = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SOURCE_SUFFIXES = (".c", ".h", ".cc", ".cpp", ".hpp", ".py", ".s", ".S")
MAX_SOURCE_BYTES = 4 * 1024 * 1024


def bundled_dir() -> Path:
    """Return the folder of bundled payloads (source checkout or installed package)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "payloads", here / "payloads"):
        if candidate.is_dir() and any(candidate.glob(f"*/{MANIFEST}")):
            return candidate
    return here.parent / "payloads"


def bundled_names() -> List[str]:
    d = bundled_dir()
    return sorted(p.parent.name for p in d.glob(f"*/{MANIFEST}"))


@dataclass(frozen=True)
class Program:
    build: Optional[str]
    commands: Tuple[str, ...]


@dataclass(frozen=True)
class Payload:
    name: str
    manifest: Path
    source_dir: Path
    description: str
    origin: str
    local: bool
    server: Program
    client: Program
    ready: str
    client_timeout: float
    server_exits: bool
    files: Tuple[Path, ...] = field(default_factory=tuple)

    def checksums(self) -> Dict[str, str]:
        return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in self.files}


def placeholders_in(command: str) -> List[str]:
    return _PLACEHOLDER_RE.findall(command)


def render(command: str, values: Mapping[str, object]) -> str:
    """Fill placeholders with shell-quoted values; unknown ones were refused at load time."""

    def sub(m: "re.Match[str]") -> str:
        key = m.group(1)
        if key not in values or values[key] is None:
            raise PayloadError(f"placeholder {{{key}}} has no value in this run", "remove it from the command or run the payload where it applies")
        return shlex.quote(str(values[key]))

    return _PLACEHOLDER_RE.sub(sub, command)


def _commands(sec: Section, key: str, doc_where: str) -> None:
    for i, cmd in enumerate(sec.value.get(key) or []):
        if not isinstance(cmd, str) or not cmd.strip():
            raise PayloadError(f"{sec.name}.{key}[{i + 1}] must be a non-empty command string", "write each run as a shell command line", where=sec.doc.where(sec.kp + (key, i)))


def _check_placeholders(sec: Section, key: str, command: str, kp_extra: tuple = ()) -> None:
    for ph in placeholders_in(command):
        if ph not in PLACEHOLDERS:
            close = difflib.get_close_matches(ph, PLACEHOLDERS, n=1)
            hint = f"did you mean {{{close[0]}}}?" if close else "placeholders are " + ", ".join("{%s}" % p for p in PLACEHOLDERS)
            raise PayloadError(f"unknown placeholder {{{ph}}} in {sec.name}.{key}", hint, where=sec.doc.where(sec.kp + (key,) + kp_extra))


def list_sources(directory: Path) -> List[Path]:
    """Return the files of a payload folder that get copied: top-level, non-hidden, not binaries."""
    files = []
    for p in sorted(directory.iterdir()):
        if p.name.startswith(".") or p.name == MANIFEST or not p.is_file() or p.is_symlink():
            continue
        with p.open("rb") as fh:
            if fh.read(4) == b"\x7fELF":  # a stale build product: rebuilt from source instead
                continue
        if p.stat().st_size > MAX_SOURCE_BYTES:
            raise PayloadError(f"{p} is larger than {MAX_SOURCE_BYTES // 2**20} MiB", "payload folders hold sources only; move big files elsewhere")
        files.append(p)
    return files


def _mentioned_sources(build: Optional[str]) -> List[str]:
    if not build:
        return []
    try:
        words = shlex.split(build)
    except ValueError:
        return []
    return [w for w in words if w.endswith(_SOURCE_SUFFIXES) and "/" not in w and not w.startswith("-")]


def load_manifest(manifest: Path, source_dir: Optional[Path] = None, name: Optional[str] = None) -> Payload:
    """Parse and validate payload.yaml; sources come from source_dir (default: its folder)."""
    doc = load_located(manifest, PayloadError)
    if not isinstance(doc.data, dict):
        raise PayloadError("payload.yaml must be a mapping with 'server' and 'client'", "see payloads/ex5/payload.yaml for an example", where=f"{manifest}:1")
    top = Section(doc, (), PayloadError)
    top.only(["description", "source", "local", "server", "client", "expect"])
    for required in ("server", "client"):
        if required not in top.value:
            raise PayloadError(f"missing '{required}' section", f"add '{required}:' with its 'run' command(s)", where=f"{manifest}:1")
    srv = top.sub("server")
    srv.only(["build", "run", "ready"])
    cli = top.sub("client")
    cli.only(["build", "runs", "timeout"])
    exp = top.sub("expect")
    exp.only(["server_exits"])

    server_build = srv.get("build", str)
    server_run = srv.get("run", str, required=True, what="./server {port}")
    client_build = cli.get("build", str)
    runs = cli.get("runs", list, required=True, what="[./client {ip} {port}]")
    if not runs:
        raise cli.fail("runs", "client.runs is empty", "list at least one client command")
    _commands(cli, "runs", "")
    timeout = cli.get("timeout", (int, float), 30)
    if not 0 < timeout <= 3600:
        raise cli.fail("timeout", f"client.timeout {timeout} is out of range", "use seconds between 1 and 3600")
    local = top.get("local", bool, False)

    for key, cmd in (("build", server_build), ("run", server_run)):
        if cmd is not None:
            _check_placeholders(srv, key, cmd)
    if client_build is not None:
        _check_placeholders(cli, "build", client_build)
    for i, cmd in enumerate(runs):
        _check_placeholders(cli, "runs", cmd, (i,))

    used = set(placeholders_in(server_run)).union(*(placeholders_in(r) for r in runs))
    if "socket" in used and not local:
        raise PayloadError("{socket} is an AF_UNIX path, which only works with both programs on one host", "add 'local: true' to the manifest", where=doc.where(("local",)) if "local" in top.value else f"{manifest}:1")
    default_ready = "unix" if "socket" in placeholders_in(server_run) else ("tcp" if "port" in placeholders_in(server_run) else "none")
    ready = srv.get("ready", str, default_ready)
    if ready not in READY_KINDS:
        raise srv.fail("ready", f"server.ready {ready!r} is not one of {', '.join(READY_KINDS)}", "tcp waits for the port to listen, unix for the socket file, none starts at once")

    src = (source_dir or manifest.parent).resolve()
    if not src.is_dir():
        raise UsageError(f"payload folder not found: {src}", "pass a folder holding your server and client sources", where="--payload")
    files = list_sources(src)
    names = {f.name for f in files}
    for where_key, build in (("server.build", server_build), ("client.build", client_build)):
        for needed in _mentioned_sources(build):
            if needed not in names:
                raise PayloadError(
                    f"{needed} (named in {where_key}) is missing from {src}",
                    "name your files as the build command expects, or add a payload.yaml with your own build commands",
                )
    return Payload(
        name=name or manifest.parent.name,
        manifest=manifest,
        source_dir=src,
        description=top.get("description", str, ""),
        origin=top.get("source", str, ""),
        local=local,
        server=Program(build=server_build, commands=(server_run,)),
        client=Program(build=client_build, commands=tuple(runs)),
        ready=ready,
        client_timeout=float(timeout),
        server_exits=exp.get("server_exits", bool, False),
        files=tuple(files),
    )


def resolve(target: str, payload_dir: Optional[str] = None) -> Payload:
    """Turn a TARGET (bundled name or folder) and optional --payload DIR into a Payload."""
    src = Path(payload_dir).expanduser() if payload_dir else None
    if src is not None and not src.is_dir():
        raise UsageError(f"payload folder not found: {src}", "pass the folder that holds your server.c and client.c", where="--payload")
    bundled = bundled_dir() / target
    if "/" not in target and (bundled / MANIFEST).is_file():
        return load_manifest(bundled / MANIFEST, src, name=target)
    as_path = Path(target).expanduser()
    if as_path.is_dir():
        if not (as_path / MANIFEST).is_file():
            raise UsageError(f"{as_path} has no {MANIFEST}", f"add one, or run a bundled exercise with your code: sockdeploy run ex5 --payload {as_path}", where="TARGET")
        return load_manifest(as_path / MANIFEST, src, name=as_path.resolve().name)
    names = bundled_names()
    close = difflib.get_close_matches(target, names, n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise UsageError(f"no exercise or payload named {target!r}", hint + "list them with 'sockdeploy payloads'", where="TARGET")
