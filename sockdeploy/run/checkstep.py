"""After the run: keep the wire record in the run folder, and judge payload.yaml's checks: for someone's own code.

The checks judge the programs' behaviour (see grading/checks.py); they run
whatever the run ended with, as long as it ended in the programs themselves
(a build, a server or a client), not in the SSH connection or the network.
"""

from __future__ import annotations

import json
import re
from typing import List, Optional

from sockdeploy.errors import BuildError, ChecksFailed, ProgramError, SockdeployError, internal_error
from sockdeploy.grading.checks import ClientFacts, RunFacts, evaluate, first_failure
from sockdeploy.net.wire import RECEIVED, SENT
from sockdeploy.output.wireview import WIRE_JSON, WIRE_TEXT, render_wire
from sockdeploy.run.context import SERVER_EXIT_WAIT, RunContext
from sockdeploy.run.record import CheckRecord

CHECKS_ERROR_FILE = "checks-error.txt"
NO_WIRE = {"direct": "no wire record on the direct path", "vpn": "no wire record on the VPN path",
           "local": "no wire record in local mode"}


def save_wire(ctx: RunContext) -> None:
    """Write wire.json (every byte, base64) and wire.txt (hex and text) when a tunnel or relay carried the clients,
    or the preload library recorded them."""
    log = ctx.wire
    if log is None:
        return
    conns = log.connections
    try:
        (ctx.folder.path / WIRE_JSON).write_text(json.dumps(log.to_json(), indent=1) + "\n", encoding="utf-8")
        (ctx.folder.path / WIRE_TEXT).write_text(render_wire(log), encoding="utf-8")
    except OSError as exc:
        ctx.progress.info(f"warning: the wire record could not be written ({exc})")
        return
    ctx.record.wire = {"file": WIRE_TEXT, "data": WIRE_JSON, "path": log.path, "connections": len(conns),
                       "sent": sum(c.totals[SENT] for c in conns), "received": sum(c.totals[RECEIVED] for c in conns),
                       "cut": any(c.cut(SENT) or c.cut(RECEIVED) for c in conns)}
    if log.unrecorded:  # runs whose record misses a statically linked program's bytes
        ctx.record.wire["unrecorded"] = [{"run": run, "program": program} for run, program in sorted(log.unrecorded.items())]


def judge(ctx: RunContext, error: Optional[SockdeployError]) -> Optional[SockdeployError]:
    """Keep the wire record; judge the checks when they apply; return the run's error (a failed check when none)."""
    with ctx.hold.shielded():
        save_wire(ctx)
        checks = ctx.payload.checks
        if checks is None or (error is not None and not isinstance(error, (BuildError, ProgramError))):
            return error
        try:
            facts = run_facts(ctx, error)
            if facts is None:
                return error
            results = evaluate(checks, facts)
        except Exception as exc:  # a fault of sockdeploy's own: the run's verdict stays, the traceback is kept
            fault = internal_error(exc, ctx.folder.path / CHECKS_ERROR_FILE)
            ctx.progress.info(f"warning: the checks could not be judged: {fault.message}")
            return error
        ctx.record.checks = [CheckRecord(r.name, r.ok, r.detail, r.reached) for r in results]
        if ctx.payload.checks_skipped:
            ctx.record.expectations_note = (f"{ctx.payload.name}'s output checks describe the bundled programs, so they "
                                            "were not applied to your sources; its checks: section judged them")
        if ctx.record.wire is None and facts.wire is None:
            ctx.record.wire = {"note": facts.no_wire}
        failure = first_failure(results)
        if error is None and failure is not None:
            failed = len([r for r in results if r.failed])
            more = f" (and {failed - 1} more)" if failed > 1 else ""
            return ChecksFailed(f"check {failure.name} failed: {failure.detail}{more}",
                                "see the Checks table in transcript.md; wire.txt shows what each client run sent")
        return error


def run_facts(ctx: RunContext, error: Optional[SockdeployError]) -> Optional[RunFacts]:
    """What the run tells the checks (None: it ended in a way the checks cannot judge)."""
    rec = ctx.record
    via = rec.via or ctx.via
    no_wire = NO_WIRE.get(via, f"no wire record on the {via} path")
    facts = RunFacts(port=rec.server.port, written_port=ctx.server.moved_from, protocol=ctx.payload.protocol,
                     waited=SERVER_EXIT_WAIT, wire=ctx.wire,
                     no_wire=f"{no_wire}: {ctx.wire_missing}" if ctx.wire_missing else no_wire)
    if isinstance(error, BuildError):
        side = re.match(r"building the (server|client)\b", error.message)
        if side is None:
            return None  # not the programs' build (the address redirect's)
        facts.build_failed = side.group(1)
    elif rec.clients or error is None:
        facts.listened = True
    else:
        facts.listened, facts.listen_problem = False, error.message
    facts.server_output = ctx.server.log.output if ctx.server.log is not None else ""
    facts.awaited = ctx.server.must_exit and ctx.server.exited_in_time is not None
    if facts.awaited:
        facts.server_ended = ctx.server.exited_in_time
    elif rec.server.stopped_by_sockdeploy:
        facts.server_ended = False
    elif rec.server.exit_code is not None:
        facts.server_ended = True
    facts.server_exit_code = rec.server.exit_code
    facts.clients = _clients(ctx)
    return facts


def _clients(ctx: RunContext) -> List[ClientFacts]:
    checks = ctx.payload.checks
    quit_runs = checks.quit_runs if checks is not None else ()
    entries = {c.run: c for c in ctx.record.clients}
    outputs = {log.filename: log.output for log in ctx.folder.logs}
    out = []
    for n in range(1, len(ctx.payload.runs) + 1):
        entry = entries.get(n)
        quit = quit_runs[n - 1] if n <= len(quit_runs) else False
        if entry is None:
            out.append(ClientFacts(n, quit=quit))
            continue
        out.append(ClientFacts(n, quit=quit, started=True, exit_code=entry.exit_code, timed_out=entry.timed_out,
                               stopped=entry.stopped_after is not None, argv_integers=_argv_integers(ctx, entry.command),
                               output=outputs.get(f"client-{n}.log", "")))
    return out


def _argv_integers(ctx: RunContext, command: str) -> tuple:
    """Numbers on a client's command line that are neither its address nor a port (values it may send)."""
    ports = {ctx.record.server.port, ctx.client_values.get("port"), ctx.payload.client_port}
    words = command.split()[1:]
    return tuple(int(w) for w in words if re.fullmatch(r"-?\d+", w) and int(w) not in ports)
