"""Turn what discovery found into a plan: how to build and run the student's own programs."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set

from sockdeploy.discover.facts import ADDRESS, PORT, SOCKET, ProgramFacts
from sockdeploy.discover.folder import Discovery, describe
from sockdeploy.errors import PayloadError
from sockdeploy.spec.payload import STDIN_HINT


@dataclass
class Step:
    """One client run of the plan; QUIT marks the run that tells the server to end."""

    command: str
    quit: bool = False
    stdin: Optional[str] = None


@dataclass
class Plan:
    """A payload.yaml's worth of decisions, each with the reason it was made."""

    language: str
    protocol: str
    server_build: Optional[str]
    server_run: str
    client_build: Optional[str]
    runs: List[Step]
    server_exits: bool
    server_port: Optional[int] = None  # hard-coded in the server
    client_port: Optional[int] = None  # hard-coded in the client
    client_address: Optional[str] = None  # hard-coded in the client
    notes: List[str] = field(default_factory=list)
    undecided: List[str] = field(default_factory=list)


def exercise_family(local: bool) -> str:
    """Exercises run on one machine use AF_UNIX sockets; the others AF_INET."""
    return "AF_UNIX" if local else "AF_INET"


def _sources_for(program: ProgramFacts, found: Discovery) -> List[Path]:
    """The program's file and every local .c file (without a main) defining a function it reaches."""
    library = [p for p in found.programs if p.language == "c" and not p.has_main and p.defines]
    chosen: List[Path] = [program.path]
    wanted: Set[str] = set(program.uses)
    changed = True
    while changed:
        changed = False
        for other in library:
            if other.path not in chosen and other.defines & wanted:
                chosen.append(other.path)
                wanted |= other.uses
                changed = True
    return chosen


def _include_flags(sources: Sequence[ProgramFacts], found: Discovery) -> List[str]:
    """-I flags for local headers that live in another folder than the file including them."""
    flags: List[str] = []
    for facts in sources:
        for header in facts.includes:
            if (found.folder / facts.path.parent / header).is_file():
                continue
            for path in found.headers:
                if path.name == Path(header).name and f"-I{path.parent}" not in flags:
                    flags.append(f"-I{path.parent}")
    return flags


def build_command(program: ProgramFacts, found: Discovery, binary: str) -> Optional[str]:
    """How the student would build PROGRAM: their makefile, else plain gcc (warnings shown, not fatal)."""
    if program.language != "c":
        return None
    if found.makefile is not None:
        target = found.makefile.target_for(binary)
        return f"make {shlex.quote(target)}" if target else "make"
    paths = _sources_for(program, found)
    by_path = {p.path: p for p in found.programs}
    libs: Set[str] = set()
    for path in paths:
        libs |= by_path[path].libraries
    words = ["gcc", "-o", binary, *[str(p) for p in paths], *_include_flags([by_path[p] for p in paths], found), *sorted(libs)]
    return " ".join(shlex.quote(w) for w in words)


def _binary(program: ProgramFacts, found: Discovery) -> str:
    if found.makefile is not None:
        for name in (program.path.stem, "server" if program.role == "server" else "client"):
            if found.makefile.target_for(name):
                return name
    return program.path.stem


def run_command(program: ProgramFacts, found: Discovery, quit: bool) -> str:
    """The command line for PROGRAM in its own argument convention; QUIT adds the quit word."""
    if program.language == "python":
        words = ["python3", str(program.path)]
    else:
        words = ["./" + _binary(program, found)]
    if quit and program.quit_alone:
        return " ".join(words + [shlex.quote(program.quit_word or "quit")])
    meanings: Dict[int, str] = program.arg_meanings()
    last = max([*meanings, program.quit_index or 0] if quit else list(meanings), default=0)
    for i in range(1, last + 1):
        if i == program.quit_index and quit:
            words.append(shlex.quote(program.quit_word or "quit"))
        elif meanings.get(i) == ADDRESS:
            words.append("{ip}")
        elif meanings.get(i) == PORT:
            words.append("{port}")
        elif meanings.get(i) == SOCKET:
            words.append("{socket}")
    return " ".join(words)


def make_plan(found: Discovery, quit_runs: Optional[Sequence[bool]] = None, family: Optional[str] = None) -> Plan:
    """Plan the run: QUIT_RUNS is the exercise's client runs (True = the run that tells the server to quit)."""
    server, client = found.server, found.client
    if server is None or client is None:
        raise _missing(found, "server" if server is None else "client", family)
    steps = list(quit_runs) if quit_runs else [False]
    plan = Plan(language=server.language, protocol=server.protocol,
                server_build=build_command(server, found, _binary(server, found)),
                server_run=run_command(server, found, quit=False),
                client_build=build_command(client, found, _binary(client, found)),
                runs=[Step(run_command(client, found, quit=q), quit=q) for q in steps],
                server_exits=any(steps) and client.quit_index is not None,
                server_port=_hard_coded_port(server),
                client_port=client.port_literals[0] if client.port_literals else None,
                client_address=client.address_literals[0] if client.address_literals else None)
    _annotate(plan, server, client, any(steps))
    return plan


def _hard_coded_port(program: ProgramFacts) -> Optional[int]:
    """The port written into PROGRAM, unless it takes its port from argv."""
    if program.port_literals and PORT not in program.arg_meanings().values():
        return program.port_literals[0]
    return None


def _annotate(plan: Plan, server: ProgramFacts, client: ProgramFacts, wants_quit: bool) -> None:
    if plan.server_port is not None:
        plan.notes.append(f"the server listens on its own hard-coded port {plan.server_port}")
    if plan.client_address is not None:
        plan.notes.append(f"the client connects to its hard-coded address {plan.client_address}")
    if wants_quit and client.quit_index is None:
        plan.notes.append("the client takes no quit argument: the server is stopped after the last client run")
    elif client.quit_alone:
        plan.notes.append(f"the client recognises {client.quit_word!r} only as its sole argument")
    if client.reads_stdin:
        plan.undecided.append(STDIN_HINT)
    if server.family == "AF_UNIX" or client.family == "AF_UNIX":
        plan.notes.append("AF_UNIX programs talk through a socket file: both run on one machine")


def _missing(found: Discovery, role: str, family: Optional[str]) -> PayloadError:
    others = [p for p in found.programs if p.role == role]
    if others and family:
        names = ", ".join(f"{p.path} ({describe(p)})" for p in others)
        return PayloadError(f"no {family} {role} in {found.folder}: found only {names}",
                            f"this exercise needs {family} sockets; add that version, or choose the file: "
                            f"sockdeploy inspect {found.folder} --{role} FILE --write")
    return PayloadError(f"no {role} program found in {found.folder}",
                        f"a {role} is a C file with main() that calls "
                        + ("listen()/accept()" if role == "server" else "connect()")
                        + ", or a Python file doing the same; choose it: "
                        + f"sockdeploy inspect {found.folder} --{role} FILE --write")
