"""The verdicts after the run: the server's own exit, the tunnel, the expectations, and the final error.

The final error names the true cause: a lost connection or a watchdog that
fired (sockdeploy stopped with Ctrl-Z) outranks the failures it caused, and so
does a tunnel that could not reach a server still running.
"""

from __future__ import annotations

from typing import Optional

from sockdeploy.errors import ConnectionLost, ExpectationsFailed, Interrupted, ProgramError, SockdeployError, WatchdogFired
from sockdeploy.run.context import SERVER_EXIT_WAIT, RunContext
from sockdeploy.run.exitstatus import program_failure
from sockdeploy.run.expectations import evaluate
from sockdeploy.run.record import ErrorRecord, ExpectationRecord
from sockdeploy.run.signals import on_main_thread
from sockdeploy.run.tripwire import PAUSES, PauseWatch

# A failure raised this soon before the connection was found lost may still be its consequence
# (a client that saw its connection drop before paramiko's thread did).
CAUSE_SLACK = 0.5


def server_verdict(ctx: RunContext) -> Optional[SockdeployError]:
    """Whether a server that should end by itself did, and how (its wait ran with the cleanup)."""
    state = ctx.server
    if not state.must_exit or state.proc is None or state.exited_in_time is None or ctx.cleanup_error is not None:
        return None
    if not state.exited_in_time:
        ctx.record.server.timed_out = True
        return ProgramError(f"the server was still running {SERVER_EXIT_WAIT:g} s after the last client run",
                            "the plan expects it to end by itself (e.g. after the quit code); check that logic")
    if state.proc.exit_code != 0:
        return program_failure("server", state.proc.command, state.proc.exit_code, "",
                                       "read server.log in the run folder")
    return None


def tunnel_verdict(ctx: RunContext) -> Optional[SockdeployError]:
    """A connection the tunnel could not carry fails the run, even if the client did not notice
    (it may only have written into a socket that was then closed)."""
    return ctx.tunnel_errors[0] if ctx.tunnel_errors and ctx.cleanup_error is None else None


def expectations_verdict(ctx: RunContext) -> Optional[SockdeployError]:
    """After the server log is in: compare the logs with payload.yaml's expect section."""
    if ctx.cleanup_error is not None:
        return None
    server_log = ctx.server.log.output if ctx.server.log else ""
    client_logs = [log.output for log in ctx.folder.logs if log.filename.startswith("client-")]
    results = evaluate(ctx.payload.expect, server_log, client_logs, ctx.server_values, ctx.client_values)
    ctx.record.expectations = [ExpectationRecord(r.name, r.ok, r.detail) for r in results]
    if ctx.payload.checks_skipped:
        ctx.record.expectations_note = (f"{ctx.payload.name}'s output checks describe the bundled programs, "
                                        "so they were not applied to your sources")
    failed = [r for r in results if not r.ok]
    if failed:
        first = failed[0]
        return ExpectationsFailed(f"{len(failed)} of {len(results)} expectations failed; first: {first.name} ({first.detail})",
                                  "compare the logs in the run folder with the expect section of payload.yaml")
    return None


def run_verdict(ctx: RunContext) -> Optional[SockdeployError]:
    """The first failure among the verdicts made after a run whose steps all completed."""
    return ctx.tunnel_cause or server_verdict(ctx) or tunnel_verdict(ctx) or expectations_verdict(ctx)


def true_cause(ctx: RunContext, error: Optional[SockdeployError]) -> Optional[SockdeployError]:
    """The cause behind `error`: a lost connection or a fired watchdog from before the steps ended, or a
    tunnel that could not reach the server behind a program's failure; else `error` itself."""
    if isinstance(error, Interrupted):
        return error  # the person's own Ctrl-C (or a closed terminal) is named as such
    cause = ctx.tripwire.cause_before(None if ctx.steps_ended is None else ctx.steps_ended + CAUSE_SLACK)
    if cause is not None:
        return with_pause(ctx, cause)
    if ctx.tunnel_cause is not None and isinstance(error, ProgramError):
        return ctx.tunnel_cause
    return error


def with_pause(ctx: RunContext, error: SockdeployError) -> SockdeployError:
    """Say first that sockdeploy was stopped (Ctrl-Z) during the run, when that explains a lost connection
    or a watchdog that fired."""
    paused = PAUSES.longest_since(ctx.started_at)
    if paused < PauseWatch.MIN_PAUSE or not isinstance(error, (ConnectionLost, WatchdogFired)):
        return error
    return type(error)(f"sockdeploy was stopped for {paused:.0f} s; {error.message}",
                       "keep sockdeploy running for the whole run (no Ctrl-Z, no sleeping laptop); run again")


def final_error(ctx: RunContext, error: Optional[SockdeployError]) -> Optional[SockdeployError]:
    """Settle the run's error: a failed cleanup when nothing else failed, the true cause over its
    consequences, a held signal over a verdict."""
    if error is None and ctx.cleanup_error is not None:
        error = ctx.cleanup_error
    error = true_cause(ctx, error)
    if on_main_thread():  # signals are held for the main thread's run, not a worker's
        held = ctx.hold.error(ctx.folder.path)
        ctx.hold.clear()
        # A Ctrl-C during cleanup outranks a verdict on logs it may have cut short.
        if held is not None and (error is None or isinstance(error, ExpectationsFailed)):
            error = held
    return error


def error_record(error: SockdeployError) -> ErrorRecord:
    """run.json's account of `error`, with the exit code it gives."""
    d = error.to_dict()
    return ErrorRecord(kind=str(d["kind"]), message=str(d["message"]), hint=d.get("hint"), exit_code=error.exit_code)
