"""Write a plan as payload.yaml (for the student to adjust) and as a report for `sockdeploy inspect`."""

from __future__ import annotations

import json
from typing import List

from sockdeploy.discover.facts import ProgramFacts
from sockdeploy.discover.folder import Discovery, describe
from sockdeploy.discover.plan import Plan


def _scalar(text: str) -> str:
    """A YAML scalar for TEXT: JSON strings are valid YAML and quote everything that needs it."""
    return json.dumps(text)


def to_manifest(found: Discovery, plan: Plan, description: str) -> str:
    """Return payload.yaml text for PLAN, every choice explained in a comment."""
    lines: List[str] = [
        "# Written by `sockdeploy inspect --write`: what discovery chose, to adjust by hand.",
        *[f"#   {reason}" for reason in found.reasons],
        *[f"# note: {note}" for note in plan.notes],
        *[f"# undecided: {item}" for item in plan.undecided],
        f"description: {_scalar(description)}",
        f"local: {'true' if found.server is not None and found.server.family == 'AF_UNIX' else 'false'}",
        f"protocol: {plan.protocol}",
        f"language: {plan.language}",
        "server:",
    ]
    if plan.server_build:
        lines.append(f"  build: {_scalar(plan.server_build)}")
    lines += [f"  run: {_scalar(plan.server_run)}", "client:"]
    if plan.client_build:
        lines.append(f"  build: {_scalar(plan.client_build)}")
    lines.append("  runs:")
    for step in plan.runs:
        lines.append(f"    - {_scalar(step.command)}" + ("  # tells the server to quit" if step.quit else ""))
    lines += ["expect:", f"  server_exits: {'true' if plan.server_exits else 'false'}", ""]
    return "\n".join(lines)


def report(found: Discovery, plan: Plan) -> List[str]:
    """The lines `sockdeploy inspect` prints: what was found, then the exact plan."""
    out = [f"folder: {found.folder}"]
    out += [f"  {p.path}: {_facts_line(p)}" for p in found.programs]
    if found.makefile is not None:
        out.append(f"  {found.makefile.path}: targets {', '.join(found.makefile.targets) or '(none)'}")
    out += [f"  skipped {item}" for item in found.skipped]
    out.append("chosen:")
    out += [f"  {reason}" for reason in found.reasons]
    out.append("plan:")
    if plan.server_build:
        out.append(f"  server build: {plan.server_build}")
    out.append(f"  server run:   {plan.server_run}")
    if plan.client_build:
        out.append(f"  client build: {plan.client_build}")
    for i, step in enumerate(plan.runs, 1):
        out.append(f"  client run {i}: {step.command}" + ("   (tells the server to quit)" if step.quit else ""))
    out.append(f"  server ends by itself: {'yes' if plan.server_exits else 'no (stopped after the last client run)'}")
    out += [f"note: {note}" for note in plan.notes]
    out += [f"undecided: {item}" for item in plan.undecided]
    return out


def _facts_line(p: ProgramFacts) -> str:
    bits = [describe(p) if p.role else ("helper code" if p.defines and not p.has_main else "no socket role")]
    if p.port_literals:
        bits.append("ports " + ", ".join(map(str, p.port_literals)))
    if p.address_literals:
        bits.append("addresses " + ", ".join(p.address_literals))
    if p.args:
        bits.append("argv " + " ".join(f"[{i}]={m}" for i, m in p.arg_meanings().items()))
    if p.quit_index is not None:
        bits.append(f"argv[{p.quit_index}]=={p.quit_word!r} quits")
    if p.reads_stdin:
        bits.append("reads stdin")
    return "; ".join(bits)
