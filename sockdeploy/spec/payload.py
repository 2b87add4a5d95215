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
from sockdeploy.spec.checks import Checks, load_checks
from sockdeploy.spec.loader import Located, Section, load_located
from sockdeploy.spec.sources import MANIFEST, Source, check_named_sources, read_tree

PLACEHOLDERS = ("port", "ip", "host", "socket")
READY_KINDS = ("tcp", "udp", "unix", "none")
PROTOCOLS = ("tcp", "udp")
LANGUAGES = ("c", "python", "shell")
# `${VAR}` is shell, not a placeholder, so a preceding `$` is skipped.
_PLACEHOLDER_RE = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")


def bundled_dir() -> Path:
    """Return the folder of bundled payloads (source checkout or installed package)."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package.parent / "payloads", package / "payloads"):
        if candidate.is_dir() and any(candidate.glob(f"*/{MANIFEST}")):
            return candidate
    return package.parent / "payloads"


def bundled_names() -> List[str]:
    """Return the names of the bundled payloads (ex1..ex6 and the others), sorted."""
    d = bundled_dir()
    return sorted(p.parent.name for p in d.glob(f"*/{MANIFEST}"))


# Said wherever a client that reads standard input may be left waiting (discovery's plan, a failed client run).
STDIN_HINT = "the client reads standard input: give it with --stdin TEXT, or `stdin:` in payload.yaml"


@dataclass(frozen=True)
class Program:
    build: Optional[str]
    commands: Tuple[str, ...]


@dataclass(frozen=True)
class ClientRun:
    """One client command of the plan, with what to feed it and how long it may take."""

    command: str
    stdin: Optional[str] = None
    timeout: Optional[float] = None
    duration: Optional[float] = None  # run until stopped: SIGINT after this long, output kept


@dataclass(frozen=True)
class Expectations:
    """What the logs must show for the run to count as working."""

    server_exits: bool = False
    server: Tuple[str, ...] = ()
    client: Tuple[str, ...] = ()
    runs: Tuple[Tuple[int, Tuple[str, ...]], ...] = ()
    count: Tuple[Tuple[str, int], ...] = ()


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
    files: Tuple[Source, ...] = field(default_factory=tuple)  # what a run uploads, each at its path in the folder
    dirs: Tuple[str, ...] = ()  # every folder below source_dir that is uploaded (empty ones too), parents first
    protocol: str = "tcp"
    language: str = "c"
    concurrent: bool = False  # start every client run at once (e.g. against a forking server)
    runs: Tuple[ClientRun, ...] = ()
    expect: Expectations = field(default_factory=Expectations)
    # Your own sources under a bundled plan: its output checks describe the bundled programs, not yours.
    checks_skipped: bool = False
    # What discovery found written into the programs (a plan made from a folder without payload.yaml).
    fixed_port: Optional[int] = None  # the server listens on this port whatever it is told
    client_address: Optional[str] = None  # the server address the client connects to
    client_port: Optional[int] = None  # the server port the client connects to
    client_reads_stdin: bool = False  # the client reads standard input (scanf, input(), fgets(stdin)...)
    plan_notes: Tuple[str, ...] = ()  # what was chosen and why, for the run's first lines and run.json
    # payload.yaml's checks: section, judged when the programs are someone's own (not the bundled ones)
    checks: Optional[Checks] = None

    def checksums(self) -> Dict[str, str]:
        """Return each source file's sha256, by its path relative to the payload folder."""
        return {f.name: hashlib.sha256(f.path.read_bytes()).hexdigest() for f in self.files}


def placeholders_in(command: str) -> List[str]:
    """Return the {placeholder} names a command uses, in order."""
    return _PLACEHOLDER_RE.findall(command)


def render(command: str, values: Mapping[str, object]) -> str:
    """Fill placeholders with shell-quoted values; unknown ones were refused at load time."""

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values or values[key] is None:
            raise PayloadError(f"placeholder {{{key}}} has no value in this run",
                               "remove it from the command or run the payload where it applies")
        return shlex.quote(str(values[key]))

    return _PLACEHOLDER_RE.sub(sub, command)


def _check_placeholders(sec: Section, key: str, command: str, kp_extra: tuple = ()) -> None:
    for ph in placeholders_in(command):
        if ph not in PLACEHOLDERS:
            close = difflib.get_close_matches(ph, PLACEHOLDERS, n=1)
            hint = f"did you mean {{{close[0]}}}?" if close else "placeholders are " + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            raise PayloadError(f"unknown placeholder {{{ph}}} in {sec.name}.{key}", hint,
                               where=sec.doc.where(sec.kp + (key,) + kp_extra))


def _client_run(cli: Section, i: int, raw: object) -> ClientRun:
    """Read one entry of client.runs: a command string, or a mapping with command/stdin/timeout/duration."""
    where = cli.doc.where(cli.kp + ("runs", i))
    if isinstance(raw, str):
        if not raw.strip():
            raise PayloadError(f"client.runs[{i + 1}] is empty", "write a shell command line", where=where)
        _check_placeholders(cli, "runs", raw, (i,))
        return ClientRun(command=raw)
    if not isinstance(raw, dict):
        raise PayloadError(f"client.runs[{i + 1}] must be a command or a mapping with 'command'",
                           "e.g. '- command: ./client {ip} {port}' with optional stdin, timeout, duration", where=where)
    run = Section(cli.doc, cli.kp + ("runs", i), PayloadError)
    run.only(["command", "stdin", "timeout", "duration"])
    command = run.get("command", str, required=True, what="./client {ip} {port}")
    _check_placeholders(cli, "runs", command, (i,))
    timeout = run.get("timeout", (int, float))
    duration = run.get("duration", (int, float))
    for key, value in (("timeout", timeout), ("duration", duration)):
        if value is not None and not 0 < value <= 3600:
            raise run.fail(key, f"client.runs[{i + 1}].{key} {value} is out of range", "use seconds between 0 and 3600")
    return ClientRun(command=command, stdin=run.get("stdin", str),
                     timeout=float(timeout) if timeout is not None else None,
                     duration=float(duration) if duration is not None else None)


def _regexes(sec: Section, key: str, value: object) -> Tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if not isinstance(item, str):
            raise sec.fail(key, f"expect.{key} must list regular expressions (strings)", "quote each pattern")
        try:
            re.compile(re.sub(_PLACEHOLDER_RE, "x", item))
        except re.error as exc:
            raise sec.fail(key, f"expect.{key}: bad regular expression {item!r}: {exc}",
                           "escape special characters with \\") from None
        out.append(item)
    return tuple(out)


def _expectations(exp: Section, nruns: int) -> Expectations:
    runs = []
    for key, value in (exp.get("runs", dict, {}) or {}).items():
        if not isinstance(key, int) or not 1 <= key <= nruns:
            raise exp.fail("runs", f"expect.runs has run {key!r}, but the plan has runs 1..{nruns}",
                           "key each list by its run number")
        runs.append((key, _regexes(exp, "runs", value)))
    counts = []
    for pattern, n in (exp.get("count", dict, {}) or {}).items():
        _regexes(exp, "count", pattern)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise exp.fail("count", f"expect.count[{pattern!r}] must be a positive whole number",
                           "e.g. \"Connection \\\\d+!\": 3")
        counts.append((pattern, n))
    return Expectations(
        server_exits=exp.get("server_exits", bool, False),
        server=_regexes(exp, "server", exp.value["server"]) if exp.value.get("server") is not None else (),
        client=_regexes(exp, "client", exp.value["client"]) if exp.value.get("client") is not None else (),
        runs=tuple(sorted(runs)),
        count=tuple(counts),
    )


def _sections(manifest: Path) -> Tuple[Located, Section, Section, Section, Section]:
    """Load payload.yaml and return it with its top, server, client and expect sections, each checked for unknown keys."""
    doc = load_located(manifest, PayloadError)
    if not isinstance(doc.data, dict):
        raise PayloadError("payload.yaml must be a mapping with 'server' and 'client'",
                           "see payloads/ex5/payload.yaml for an example", where=f"{manifest}:1")
    top = Section(doc, (), PayloadError)
    top.only(["description", "source", "local", "protocol", "language", "server", "client", "expect", "checks"])
    for required in ("server", "client"):
        if required not in top.value:
            raise PayloadError(f"missing '{required}' section", f"add '{required}:' with its 'run' command(s)",
                               where=f"{manifest}:1")
    srv = top.sub("server")
    srv.only(["build", "run", "ready"])
    cli = top.sub("client")
    cli.only(["build", "runs", "timeout", "concurrent"])
    exp = top.sub("expect")
    exp.only(["server_exits", "server", "client", "runs", "count"])
    return doc, top, srv, cli, exp


def load_manifest(manifest: Path, source_dir: Optional[Path] = None, name: Optional[str] = None) -> Payload:
    """Parse and validate payload.yaml; sources come from source_dir (default: its folder)."""
    doc, top, srv, cli, exp = _sections(manifest)
    server_build = srv.get("build", str)
    server_run = srv.get("run", str, required=True, what="./server {port}")
    client_build = cli.get("build", str)
    raw_runs = cli.get("runs", list, required=True, what="[./client {ip} {port}]")
    if not raw_runs:
        raise cli.fail("runs", "client.runs is empty", "list at least one client command")
    run_specs = tuple(_client_run(cli, i, r) for i, r in enumerate(raw_runs))
    runs = [r.command for r in run_specs]
    timeout = cli.get("timeout", (int, float), 30)
    if not 0 < timeout <= 3600:
        raise cli.fail("timeout", f"client.timeout {timeout} is out of range", "use seconds between 1 and 3600")
    local = top.get("local", bool, False)
    protocol = top.get("protocol", str, "tcp")
    if protocol not in PROTOCOLS:
        raise top.fail("protocol", f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}", "write tcp or udp")
    language = top.get("language", str, "c")
    if language not in LANGUAGES:
        raise top.fail("language", f"language {language!r} is not one of {', '.join(LANGUAGES)}",
                       "c needs build commands; python runs with the host's python3")

    for key, cmd in (("build", server_build), ("run", server_run)):
        if cmd is not None:
            _check_placeholders(srv, key, cmd)
    if client_build is not None:
        _check_placeholders(cli, "build", client_build)

    used = set(placeholders_in(server_run)).union(*(placeholders_in(r) for r in runs))
    if "socket" in used and not local:
        raise PayloadError("{socket} is an AF_UNIX path, which only works with both programs on one host",
                           "add 'local: true' to the manifest", where=doc.where(("local",
                                                                                 )) if "local" in top.value else f"{manifest}:1")
    default_ready = ("unix" if "socket" in placeholders_in(server_run)
                     else (protocol if "port" in placeholders_in(server_run) else "none"))
    ready = srv.get("ready", str, default_ready)
    if ready not in READY_KINDS:
        raise srv.fail("ready", f"server.ready {ready!r} is not one of {', '.join(READY_KINDS)}",
                       "tcp waits for the port to listen, unix for the socket file, none starts at once")

    src = (source_dir or manifest.parent).resolve()
    if not src.is_dir():
        raise UsageError(f"payload folder not found: {src}", "pass a folder holding your server and client sources",
                         where="--payload")
    tree = read_tree(src)
    foreign = src != manifest.parent.resolve()
    expect = _expectations(exp, len(run_specs))
    # the bundled programs keep their expect: lines; anyone else's code is judged by the checks
    checks = load_checks(top.sub("checks"), runs) if foreign or not is_bundled(manifest) else None
    check_named_sources(src, [f.name for f in tree.files], [("server.build", server_build), ("client.build", client_build)])
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
        server_exits=expect.server_exits or bool(checks and checks.wants("ended")),
        files=tree.files,
        dirs=tree.dirs,
        protocol=protocol,
        language=language,
        concurrent=cli.get("concurrent", bool, False),
        runs=run_specs,
        expect=expect if not foreign else Expectations(server_exits=expect.server_exits),
        checks_skipped=foreign and expect != Expectations(server_exits=expect.server_exits),
        checks=checks,
    )


def is_bundled(manifest: Path) -> bool:
    """Whether MANIFEST is a bundled payload's own payload.yaml."""
    return manifest.resolve().parent.parent == bundled_dir().resolve()


def exercise_checks(name: str) -> Optional[Checks]:
    """Return the checks: of bundled exercise NAME (None: it has none, or there is no such exercise)."""
    manifest = bundled_dir() / name / MANIFEST
    if "/" in name or not manifest.is_file():
        return None
    _, _, _, cli, _ = _sections(manifest)
    runs = [r if isinstance(r, str) else str(r.get("command", "")) for r in cli.value.get("runs") or []
            if isinstance(r, (str, dict))]
    return load_checks(Section(cli.doc, ("checks",), PayloadError), runs)


def resolve(target: str, payload_dir: Optional[str] = None) -> Payload:
    """Turn a TARGET (bundled name or folder) and optional --payload DIR into a Payload."""
    src = Path(payload_dir).expanduser() if payload_dir else None
    if src is not None and not src.is_dir():
        raise UsageError(f"payload folder not found: {src}", "pass the folder that holds your server.c and client.c",
                         where="--payload")
    bundled = bundled_dir() / target
    if "/" not in target and (bundled / MANIFEST).is_file():
        return load_manifest(bundled / MANIFEST, src, name=target)
    as_path = Path(target).expanduser()
    if as_path.is_dir():
        if not (as_path / MANIFEST).is_file():
            raise UsageError(f"{as_path} has no {MANIFEST}",
                             f"add one, or run a bundled exercise with your code: sockdeploy run ex5 --payload {as_path}",
                             where="TARGET")
        return load_manifest(as_path / MANIFEST, src, name=as_path.resolve().name)
    names = bundled_names()
    close = difflib.get_close_matches(target, names, n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise UsageError(f"no exercise or payload named {target!r}", hint + "list them with 'sockdeploy payloads'", where="TARGET")
