"""What an exercise asks of a student's programs: their address family and the shape of its client runs."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from sockdeploy.discover.folder import Discovery, discover
from sockdeploy.discover.plan import Plan, exercise_family, make_plan
from sockdeploy.errors import UsageError
from sockdeploy.spec.payload import MANIFEST, bundled_dir, bundled_names, load_manifest


@dataclass(frozen=True)
class ExerciseShape:
    """A bundled exercise reduced to what fits any student's programs."""

    name: str
    family: str
    quit_runs: Tuple[bool, ...]  # one entry per client run; True = the run that tells the server to quit
    description: str


def exercise_shape(name: str) -> ExerciseShape:
    """Read the bundled payload NAME and keep what a student's own programs must follow."""
    manifest = bundled_dir() / name / MANIFEST
    if "/" in name or not manifest.is_file():
        raise UsageError(f"no bundled exercise {name!r}", "choose one of: " + ", ".join(bundled_names()),
                         where="--exercise")
    payload = load_manifest(manifest, name=name)
    runs = tuple("quit" in shlex.split(run.command) for run in payload.runs)
    return ExerciseShape(name, exercise_family(payload.local), runs or (False,), payload.description)


def inspect_folder(folder: Path, exercise: Optional[str] = None, *, server: Optional[str] = None,
                   client: Optional[str] = None) -> Tuple[Discovery, Plan, str]:
    """Discover FOLDER's programs and plan them, for EXERCISE's shape when given; return the description too."""
    shape = exercise_shape(exercise) if exercise else None
    found = discover(folder, shape.family if shape else None, server=server, client=client)
    plan = make_plan(found, shape.quit_runs if shape else None, shape.family if shape else None)
    name = folder.resolve().name
    return found, plan, (f"{name}: your programs with {shape.name}'s plan" if shape else f"{name} as discovered")
