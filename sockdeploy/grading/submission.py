"""Submissions: the payload folders of one batch, planned without contacting anything."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from sockdeploy.errors import ConfigError, PayloadError, SockdeployError, UsageError
from sockdeploy.spec import payload as payload_mod
from sockdeploy.spec.payload import Payload

SUMMARY_JSON = "summary.json"
SUMMARY_TEXT = "summary.txt"
SUMMARY_CSV = "summary.csv"
RESERVED_NAMES = {SUMMARY_JSON, SUMMARY_TEXT, SUMMARY_CSV}  # the batch folder's own files: no run folder takes their name


@dataclass(frozen=True)
class Submission:
    """One payload folder to grade; `problem` says why it cannot run (bad manifest, missing file)."""

    name: str  # unique and safe: its run folder's name
    source: Path
    payload: Optional[Payload] = None
    problem: Optional[SockdeployError] = None

    @property
    def remote(self) -> bool:
        return self.payload is not None and not self.payload.local


def safe_names(dirs: Sequence[Path]) -> List[str]:
    """Return one folder name per submission: its folder's name, sanitised, made unique with -2, -3..."""
    names: List[str] = []
    seen = set(RESERVED_NAMES)
    for d in dirs:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", d.name).strip("._-")[:60] or "submission"
        name, n = base, 1
        while name in seen:
            n += 1
            name = f"{base}-{n}"
        seen.add(name)
        names.append(name)
    return names


def plan_submissions(dirs: Sequence[str], exercise: Optional[str]) -> List[Submission]:
    """Turn DIR arguments into submissions with their payloads; contact nothing.

    With `exercise`, each folder's programs are fitted to that exercise's steps
    (discovery, as `run ex5 --payload DIR` does) and judged by its `checks:`
    section, not by the bundled programs' `expect:` lines; without it, each
    folder's own payload.yaml is the plan. A folder that cannot be
    planned becomes a submission with a `problem`, and the others still run;
    a folder that does not exist stops everything (a typo on the command line).
    """
    paths = [Path(d).expanduser() for d in dirs]
    for p in paths:
        if not p.is_dir():
            raise UsageError(f"submission folder not found: {p}", "pass one folder per submission, e.g. submissions/*",
                             where="DIR")
    plan: Optional[Payload] = payload_mod.resolve(exercise) if exercise else None
    out = []
    for path, name in zip(paths, safe_names(paths)):
        try:
            out.append(Submission(name, path.resolve(), _payload(path, name, exercise, plan)))
        except (PayloadError, UsageError, ConfigError) as exc:
            out.append(Submission(name, path.resolve(), None, exc))
    return out


def _payload(path: Path, name: str, exercise: Optional[str], plan: Optional[Payload]) -> Payload:
    """Return the plan for one submission folder: the exercise's, or the folder's own payload.yaml."""
    if exercise is not None and plan is not None:
        from sockdeploy.discover.payload import resolve_target  # tree-sitter: only when a batch needs it

        return resolve_target(exercise, str(path))
    if (path / payload_mod.MANIFEST).is_file():
        return payload_mod.load_manifest(path / payload_mod.MANIFEST, name=name)
    raise PayloadError(f"{path} has no {payload_mod.MANIFEST}, and no --exercise was given",
                       "pass --exercise ex5 (the plan to apply), or add a payload.yaml to the folder")


def assign_hosts(submissions: Sequence[Submission], hosts: int) -> List[Optional[int]]:
    """Spread the remote submissions round-robin over `hosts` server hosts (None: runs here, or not at all)."""
    out: List[Optional[int]] = []
    i = 0
    for sub in submissions:
        if sub.remote and hosts:
            out.append(i % hosts)
            i += 1
        else:
            out.append(None)
    return out


def server_tools(submissions: Sequence[Submission]) -> List[str]:
    """Return the programs the server builds start with (gcc, make...), plus python3 and setsid."""
    tools = ["setsid"]
    for sub in submissions:
        p = sub.payload
        if p is None or p.local:
            continue
        if p.language == "python":
            tools.append("python3")
        try:
            words = shlex.split(p.server.build or "")
        except ValueError:
            words = []
        if words and re.fullmatch(r"[A-Za-z0-9_.+-]+", words[0]):
            tools.append(words[0])
    return list(dict.fromkeys(tools))
