"""The client runs of the plan: one after another (or all at once), each logged to client-N.log."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Optional

from sockdeploy.errors import ProgramError, SockdeployError
from sockdeploy.output.logcap import elided_line
from sockdeploy.output.runfolder import ProgramLog
from sockdeploy.run import redirectstep, runtag, wirestep
from sockdeploy.run.clients import ClientOutcome, run_client
from sockdeploy.run.context import RunContext
from sockdeploy.run.exitstatus import program_failure
from sockdeploy.run.faults import fault_point
from sockdeploy.run.record import ClientRecord
from sockdeploy.run.remoteclient import run_remote_client
from sockdeploy.run.serverstep import whoami
from sockdeploy.spec.payload import STDIN_HINT, ClientRun, render


def run_clients(ctx: RunContext, values: Dict[str, Any], client_cwd: str) -> None:
    """Run the plan's client runs with `values`; raise on the first failure."""
    login = (ctx.pi.login or "") if ctx.pi is not None else ""
    prompt = f"{login.split('@', 1)[0] if '@' in login else whoami()}@{ctx.client_host_name}"
    runs = ctx.payload.runs
    record = wirestep.wanted(ctx, values)
    env = redirectstep.prepare(ctx, values, client_cwd, [render(r.command, values) for r in runs], record=record)
    recording = record and env is not None

    def env_of(i: int) -> Optional[Dict[str, str]]:
        return wirestep.environment(env, client_cwd, i) if recording and env is not None else env

    try:
        if ctx.payload.concurrent:
            ctx.progress.info(f"starting {len(runs)} client runs at once")
            with ThreadPoolExecutor(max_workers=len(runs)) as pool:
                futures = [pool.submit(run_one_client, ctx, i, run, values, client_cwd, prompt, env_of(i))
                           for i, run in enumerate(runs, 1)]
            ctx.record.clients.sort(key=lambda entry: entry.run)
            for future in futures:
                future.result()  # the first failure, after all have ended
            return
        for i, run in enumerate(runs, 1):
            ctx.checkpoint()  # no client run starts once the connection is lost or a watchdog fired
            run_one_client(ctx, i, run, values, client_cwd, prompt, env_of(i))
            if i == 1:
                fault_point("client-runs", ctx.session, ctx.hold, ctx.tripwire)
    finally:
        redirectstep.note(ctx, env)
        if recording:
            wirestep.collect(ctx, client_cwd, values)


def run_one_client(ctx: RunContext, i: int, run: ClientRun, values: Dict[str, Any], client_cwd: str, prompt: str,
                   env: Optional[Dict[str, str]] = None) -> None:
    """Run client run `i`, its output streamed to client-i.log; raise on failure."""
    command = render(run.command, values)
    timeout = run.timeout or ctx.payload.client_timeout
    if run.stdin is None and ctx.opts.stdin is not None:
        run = dataclasses.replace(run, stdin=ctx.opts.stdin)
    shown = command + (f" <<< {run.stdin.strip()!r}" if run.stdin else "")
    log = ProgramLog(f"client-{i}.log", f"Client terminal ({ctx.client_host_name}), run {i}", prompt, command)
    if run.stdin:
        log.typed = run.stdin
    entry = ClientRecord(run=i, command=command, stdin=run.stdin)
    if ctx.wire is not None:  # what the previous run sent counts for it, not for this one
        ctx.wire.settle()
    ctx.record.clients.append(entry)
    log_path = ctx.folder.path / log.filename
    with ctx.progress.step(f"client run {i}/{len(ctx.payload.runs)}: {shown}"):
        try:
            role = runtag.client_role(i)
            if ctx.pi is not None:
                outcome = run_remote_client(ctx.pi, client_cwd, command, log_path, log.text(), timeout,
                                            stdin=run.stdin, duration=run.duration, extra_env=env,
                                            token=ctx.token, role=role, stop=ctx.tripwire.check)
            else:
                outcome = run_client(command, client_cwd, log_path, log.text(), timeout, stdin=run.stdin,
                                     duration=run.duration, extra_env=env, token=ctx.token, role=role,
                                     stop=ctx.tripwire.check)
        except BaseException as exc:
            log.output = read_partial(log_path, log.text())
            cause = ctx.tripwire.error
            log.ending = stopped_by(cause) if cause is not None and exc is cause else "interrupted"
            ctx.folder.write_log(log)
            raise
        _note_outcome(ctx, log, entry, outcome, run, timeout)
        runtag.note(ctx, ctx.client_host_name, outcome.strays)
        waits_on_input = ctx.payload.client_reads_stdin and not run.stdin
        if outcome.timed_out:
            blame_lost_connection(ctx)
            ctx.checkpoint()  # stopped (Ctrl-Z) past the watchdog's window: that, not the client, is the cause
            raise ProgramError(f"client run {i} `{command}` did not finish within {timeout:g} s"
                               + (" (it reads standard input and was given none)" if waits_on_input else ""),
                               STDIN_HINT if waits_on_input else
                               "check that the server answers, or raise the timeout in payload.yaml",
                               command=command, output=outcome.output)
        if outcome.exit_code != 0 and not outcome.stopped:
            blame_lost_connection(ctx)
            raise program_failure(f"client run {i}", command, outcome.exit_code, outcome.output,
                                  STDIN_HINT if waits_on_input else
                                  "read the client's output above; its log is in the run folder")


def _note_outcome(ctx: RunContext, log: ProgramLog, entry: ClientRecord, outcome: ClientOutcome, run: ClientRun,
                  timeout: float) -> None:
    log.output = outcome.output
    log.times = outcome.times
    log.elided = outcome.elided
    entry.log_elided_bytes = outcome.elided or None
    if outcome.elided:
        ctx.progress.info(elided_line(log.filename, outcome.elided))
    entry.exit_code, entry.timed_out, entry.seconds = outcome.exit_code, outcome.timed_out, round(outcome.seconds, 3)
    entry.ended, entry.stopped_after = True, run.duration if outcome.stopped else None
    if outcome.timed_out:
        log.ending = f"timed out after {timeout:g} s; stopped by sockdeploy"
    elif outcome.stopped:
        log.ending = f"stopped with Ctrl-C (SIGINT) after {run.duration:g} s, as planned; exit status {outcome.exit_code}"
    else:
        log.ending = f"exit status {outcome.exit_code}"
    ctx.folder.write_log(log)


def blame_lost_connection(ctx: RunContext) -> None:
    """If the SSH connection died, say so rather than blaming the client it broke."""
    if ctx.session is None and ctx.pi is None:
        return
    # the connection's own thread notices a reset within moments, and the client may have failed first
    if ctx.tripwire.wait(LOSS_GRACE):
        ctx.tripwire.check()


LOSS_GRACE = 0.5  # seconds a failed client waits to learn whether the connection died (see blame_lost_connection)


def stopped_by(error: SockdeployError) -> str:
    """The client log's last line for a client stopped because the run had to stop."""
    return f"stopped by sockdeploy: {error.message}"


def read_partial(path: Path, header: str) -> str:
    """What an interrupted client wrote into its log, without the header."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[len(header):] if text.startswith(header) else text
