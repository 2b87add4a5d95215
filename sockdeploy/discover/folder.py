"""Find the server and the client in a folder of sources, and say why those."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from sockdeploy.discover.csource import read_c
from sockdeploy.discover.facts import ProgramFacts
from sockdeploy.discover.makefile import MakefileFacts, find_makefile, read_makefile
from sockdeploy.discover.pysource import read_python
from sockdeploy.errors import PayloadError

MAX_FILES = 500
MAX_FILE_BYTES = 1 << 20
SKIP_DIRS = {"__pycache__", "node_modules", "venv", ".venv", "runs", "build"}
READERS: Dict[str, Callable[[Path, Path], ProgramFacts]] = {".c": read_c, ".py": read_python}
_STALE = re.compile(r"old|backup|bak|copy|orig|test|local|unix", re.I)
_ROLE_WORD = re.compile(r"server|serv|srv|client|cli|cl", re.I)


@dataclass
class Discovery:
    """What a folder holds: every program read, the pair chosen and why."""

    folder: Path
    programs: List[ProgramFacts]
    makefile: Optional[MakefileFacts]
    server: Optional[ProgramFacts] = None
    client: Optional[ProgramFacts] = None
    reasons: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)
    headers: List[Path] = field(default_factory=list)


def scan(folder: Path) -> Tuple[List[Path], List[str]]:
    """Return the source files under FOLDER (no links followed, no hidden folders) and what was skipped."""
    found: List[Path] = []
    skipped: List[str] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        for name in sorted(files):
            path = Path(root) / name
            if path.suffix not in (".c", ".h", ".py") or name.startswith("."):
                continue
            rel = path.relative_to(folder)
            if path.is_symlink():
                skipped.append(f"{rel}: a symbolic link (links are not followed)")
            elif path.stat().st_size > MAX_FILE_BYTES:
                skipped.append(f"{rel}: larger than 1 MiB")
            elif len(found) >= MAX_FILES:
                skipped.append(f"{rel}: more than {MAX_FILES} source files")
            else:
                found.append(path)
    return found, skipped


def discover(folder: Path, family: Optional[str] = None, *, server: Optional[str] = None,
             client: Optional[str] = None) -> Discovery:
    """Read every source in FOLDER and choose the server and client (of FAMILY, when given).

    SERVER and CLIENT name files (relative to FOLDER) that override the choice.
    """
    if not folder.is_dir():
        raise PayloadError(f"{folder} is not a folder", "give the folder that holds your server and client sources")
    files, skipped = scan(folder)
    programs = [READERS[p.suffix](p, p.relative_to(folder)) for p in files if p.suffix in READERS]
    make_path = find_makefile(folder)
    found = Discovery(folder=folder, programs=programs, skipped=skipped,
                      makefile=read_makefile(make_path, make_path.relative_to(folder)) if make_path else None,
                      headers=[p.relative_to(folder) for p in files if p.suffix == ".h"])
    choose(found, family)
    for role, name in (("server", server), ("client", client)):
        if name is not None:
            chosen = next((p for p in programs if p.path == Path(name)), None)
            if chosen is None:
                raise PayloadError(f"--{role} {name}: no such C or Python source in {folder}",
                                   "give the file's path relative to the folder")
            setattr(found, role, chosen)
            found.reasons.append(f"{role}: {name} as chosen with --{role}")
    return found


def _stem_rest(facts: ProgramFacts) -> str:
    """The name without its role word: server2/client2 -> "2", UDPServer/UDPClient -> "udp"."""
    return _ROLE_WORD.sub("", facts.path.stem, count=1).lower().strip("_-")


def _score(facts: ProgramFacts, role: str, family: Optional[str]) -> int:
    score = 0
    if role in facts.path.stem.lower():
        score += 4
    if facts.has_main:
        score += 8
    if _STALE.search(facts.path.stem) and not (family == "AF_UNIX" and "unix" in facts.path.stem.lower()):
        score -= 3
    score -= len(facts.path.parts)  # a program at the top beats one in a subfolder
    return score


def candidates(found: Discovery, role: str, family: Optional[str]) -> List[ProgramFacts]:
    """The programs that can play ROLE (of FAMILY when given), best first."""
    fits = [p for p in found.programs if p.role == role and (p.has_main or p.language == "python")]
    if family is not None:
        fits = [p for p in fits if p.fits(family)]
    return sorted(fits, key=lambda p: -_score(p, role, family))


def choose(found: Discovery, family: Optional[str]) -> None:
    """Pick the best server/client pair and write down why."""
    servers, clients = candidates(found, "server", family), candidates(found, "client", family)
    best: Optional[Tuple[int, ProgramFacts, ProgramFacts]] = None
    for s in servers:
        for c in clients:
            score = _score(s, "server", family) + _score(c, "client", family)
            score += 3 if _stem_rest(s) == _stem_rest(c) else 0
            score += 2 if s.language == c.language else 0
            score += 2 if s.protocol == c.protocol else 0
            score += 1 if s.path.parent == c.path.parent else 0
            if best is None or score > best[0]:
                best = (score, s, c)
    if best is not None:
        found.server, found.client = best[1], best[2]
    else:
        found.server = servers[0] if servers else None
        found.client = clients[0] if clients else None
    _explain(found, family)


def describe(facts: ProgramFacts) -> str:
    """A short account of a program: "AF_INET TCP server (listen, accept)"."""
    role = facts.role or "no socket role"
    calls = ", ".join(sorted(facts.calls)) or "no socket calls"
    family = facts.family or "no address family"
    return f"{family} {facts.protocol.upper()} {role} ({calls})"


def _explain(found: Discovery, family: Optional[str]) -> None:
    for role, chosen in (("server", found.server), ("client", found.client)):
        if chosen is not None:
            found.reasons.append(f"{role}: {chosen.path} - {describe(chosen)}")
        others = [p for p in found.programs if p is not chosen and p.role == role]
        for other in others:
            why = (f"not {family}" if family and not other.fits(family) else "a less likely name")
            found.reasons.append(f"  also a {role}: {other.path} - {describe(other)}; not chosen: {why}")
