"""A Payload from a folder without payload.yaml: discovery's plan, fitted to an exercise when one is named."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

from sockdeploy.discover.exercise import inspect_folder
from sockdeploy.discover.folder import Discovery
from sockdeploy.discover.plan import Plan
from sockdeploy.spec.payload import MANIFEST, ClientRun, Payload, Program, bundled_dir, exercise_checks, resolve
from sockdeploy.spec.sources import check_named_sources, read_tree, symlink_error


def resolve_target(target: str, payload_dir: Optional[str] = None) -> Payload:
    """Like spec.payload.resolve, but a folder without payload.yaml is read by discovery instead of refused."""
    as_path = Path(target).expanduser()
    if payload_dir is None and as_path.is_dir() and not (as_path / MANIFEST).is_file():
        return payload_from_folder(as_path, None)
    mine = Path(payload_dir).expanduser() if payload_dir else None
    bundled = bundled_dir() / target
    if mine is not None and mine.is_dir() and not (mine / MANIFEST).is_file() and (bundled / MANIFEST).is_file():
        return payload_from_folder(mine, target)
    return resolve(target, payload_dir)


def payload_from_folder(folder: Path, exercise: Optional[str]) -> Payload:
    """Discover FOLDER's programs and turn the plan (for EXERCISE's steps, when given) into a Payload."""
    found, plan, description = inspect_folder(folder, exercise)
    src = folder.resolve()
    tree = read_tree(src)
    _refuse_source_links(src, tree.links, plan.language)
    check_named_sources(src, [f.name for f in tree.files], [("the server's build", plan.server_build),
                                                             ("the client's build", plan.client_build)])
    # the exercise's checks judge these programs; its expect: lines describe the bundled ones
    checks = exercise_checks(exercise) if exercise else None
    return Payload(
        name=exercise or src.name, manifest=src / MANIFEST, source_dir=src, description=description,
        origin="discovered by sockdeploy", local=_local(found), server=Program(plan.server_build, (plan.server_run,)),
        client=Program(plan.client_build, tuple(s.command for s in plan.runs)), ready=_ready(plan),
        client_timeout=30.0, server_exits=plan.server_exits, files=tree.files, dirs=tree.dirs, protocol=plan.protocol,
        language=plan.language, runs=tuple(ClientRun(s.command) for s in plan.runs), checks_skipped=exercise is not None,
        fixed_port=plan.server_port, client_address=plan.client_address, client_port=plan.client_port,
        client_reads_stdin=bool(found.client and found.client.reads_stdin),
        plan_notes=tuple(_notes(found, plan, folder)), checks=checks)


def _refuse_source_links(src: Path, links: Sequence[str], language: str) -> None:
    """Name a symlinked source: discovery does not follow links, so a plan without it would fail to build or run."""
    suffixes = (".c", ".h") if language == "c" else (".py",)
    for link in links:
        if link.endswith(suffixes):
            raise symlink_error(link, src, also=", or delete the link if the programs do not need it")


def _local(found: Discovery) -> bool:
    return found.server is not None and found.server.family == "AF_UNIX"


def _ready(plan: Plan) -> str:
    if "{socket}" in plan.server_run:
        return "unix"
    return plan.protocol if "{port}" in plan.server_run or plan.server_port is not None else "none"


def _notes(found: Discovery, plan: Plan, folder: Path) -> List[str]:
    notes = [reason.strip() for reason in found.reasons]
    notes += plan.notes
    notes += [f"undecided: {item}" for item in plan.undecided]
    notes.append(f"to decide otherwise: sockdeploy inspect {folder} --write, then edit its payload.yaml")
    return notes

