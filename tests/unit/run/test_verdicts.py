"""The verdicts after a run whose steps completed, and the final error of any run."""

from __future__ import annotations

import signal
import types
from datetime import datetime, timezone

from sockdeploy.errors import ConnectError, ExpectationsFailed, Interrupted, NetworkPathError, ProgramError, Terminated
from sockdeploy.output.progress import Progress
from sockdeploy.output.runfolder import ProgramLog, RunFolder
from sockdeploy.run import verdicts
from sockdeploy.run.context import RunContext, RunOptions
from sockdeploy.run.record import RunRecord
from sockdeploy.run.signals import SignalHold
from sockdeploy.spec import payload as payload_mod
from sockdeploy.spec.payload import Expectations


def _ctx(tmp_path, **payload_changes) -> RunContext:  # type: ignore[no-untyped-def]
    import dataclasses

    payload = dataclasses.replace(payload_mod.resolve("ex5"), **payload_changes)
    return RunContext(payload=payload, cfg=None, opts=RunOptions(), progress=Progress(quiet=True),
                      folder=RunFolder(tmp_path, datetime.now(timezone.utc)),
                      record=RunRecord(target="ex5", started="2026-11-21T10:00:00Z"), hold=SignalHold())


def test_a_server_that_should_end_but_did_not_is_timed_out(tmp_path):
    ctx = _ctx(tmp_path)
    ctx.server.proc = types.SimpleNamespace(command="./server", exit_code=None)  # type: ignore[assignment]
    ctx.server.must_exit, ctx.server.exited_in_time = True, False
    err = verdicts.server_verdict(ctx)
    assert isinstance(err, ProgramError) and "still running" in err.message and ctx.record.server.timed_out is True


def test_a_server_that_ended_badly_fails_and_one_that_ended_well_passes(tmp_path):
    ctx = _ctx(tmp_path)
    ctx.server.proc = types.SimpleNamespace(command="./server", exit_code=3)  # type: ignore[assignment]
    ctx.server.must_exit, ctx.server.exited_in_time = True, True
    assert isinstance(verdicts.server_verdict(ctx), ProgramError)
    ctx.server.proc.exit_code = 0
    assert verdicts.server_verdict(ctx) is None
    ctx.server.must_exit = False
    ctx.server.proc.exit_code = 3
    assert verdicts.server_verdict(ctx) is None  # not expected to end: nothing to judge


def test_a_tunnel_error_fails_the_run_unless_cleanup_failed_first(tmp_path):
    ctx = _ctx(tmp_path)
    ctx.tunnel_errors = [NetworkPathError("reset")]
    assert verdicts.tunnel_verdict(ctx) is ctx.tunnel_errors[0]
    ctx.cleanup_error = ConnectError("lost")
    assert verdicts.tunnel_verdict(ctx) is None


def test_expectations_are_recorded_and_the_first_failure_named(tmp_path):
    ctx = _ctx(tmp_path, expect=Expectations(server=("listening on {port}",), client=("pong",)), checks_skipped=True)
    ctx.server.log = ProgramLog("server.log", "s", "p", "c", output="listening on 30001\n")
    ctx.folder.logs.append(ProgramLog("client-1.log", "c", "p", "c", output="ping\n"))
    ctx.server_values = {"port": 30001}
    err = verdicts.expectations_verdict(ctx)
    assert isinstance(err, ExpectationsFailed) and "1 of 2 expectations failed" in err.message
    assert [(e.ok, e.detail) for e in ctx.record.expectations or []] == [(True, "found"), (False, "in no client log")]
    assert ctx.record.expectations_note and "not applied to your sources" in ctx.record.expectations_note


def test_a_held_signal_outranks_a_verdict_but_not_a_real_failure(tmp_path):
    ctx = _ctx(tmp_path)
    ctx.hold.hold(signal.SIGTERM)
    assert isinstance(verdicts.final_error(ctx, ExpectationsFailed("x")), Terminated)
    assert not ctx.hold  # reported once
    ctx.hold.hold(signal.SIGINT)
    failure = ProgramError("client failed")
    assert verdicts.final_error(ctx, failure) is failure
    ctx.hold.hold(signal.SIGINT)
    assert isinstance(verdicts.final_error(ctx, None), Interrupted)


def test_a_failed_cleanup_is_the_error_of_an_otherwise_good_run(tmp_path):
    ctx = _ctx(tmp_path)
    ctx.cleanup_error = ConnectError("log not fetched")
    assert verdicts.final_error(ctx, None) is ctx.cleanup_error
    rec = verdicts.error_record(ctx.cleanup_error)
    assert rec.kind == ctx.cleanup_error.kind and rec.exit_code == ConnectError.exit_code


def test_a_lost_connection_from_before_the_steps_ended_outranks_what_it_caused(tmp_path):
    import time

    from sockdeploy.errors import ConnectionLost

    ctx = _ctx(tmp_path)
    lost = ConnectionLost("the SSH connection to login was lost (connection reset)")
    ctx.tripwire.trip(lost)
    ctx.steps_ended = time.monotonic()
    ctx.cleanup_error = ConnectError("the server log could not be fetched")
    timeout = ProgramError("client run 1 did not finish within 30 s")
    assert verdicts.final_error(ctx, timeout) is lost
    assert verdicts.final_error(ctx, None) is lost
    assert verdicts.final_error(ctx, Interrupted("interrupted (Ctrl-C)")).kind == "interrupted"


def test_a_connection_lost_during_cleanup_leaves_the_steps_own_failure(tmp_path):
    import time

    from sockdeploy.errors import ConnectionLost

    ctx = _ctx(tmp_path)
    ctx.steps_ended = time.monotonic() - verdicts.CAUSE_SLACK - 1
    ctx.tripwire.trip(ConnectionLost("lost"))
    failure = ProgramError("the client `./client` ended with exit status 1")
    assert verdicts.final_error(ctx, failure) is failure


def test_a_pause_is_named_first_when_it_explains_the_watchdog(tmp_path, monkeypatch):
    from sockdeploy.errors import WatchdogFired

    ctx = _ctx(tmp_path)
    monkeypatch.setattr(verdicts.PAUSES, "longest_since", lambda since: 35.2)
    ctx.tripwire.trip(WatchdogFired("the watchdog on login stopped the server and removed the run folder"))
    err = verdicts.final_error(ctx, NetworkPathError("login could not connect to 127.0.0.1:30001 for the tunnel"))
    assert isinstance(err, WatchdogFired) and err.exit_code == 3
    assert err.message == "sockdeploy was stopped for 35 s; the watchdog on login stopped the server and removed the run folder"
    assert "no Ctrl-Z" in (err.hint or "")


def test_a_tunnel_that_could_not_reach_a_running_server_explains_the_programs_failure(tmp_path):
    from sockdeploy.errors import ForwardConnectFailed

    ctx = _ctx(tmp_path)
    cause = ForwardConnectFailed("the tunnel could not reach 127.0.0.1:30001 on login: connection refused; ...")
    ctx.tunnel_cause = cause
    assert verdicts.final_error(ctx, ProgramError("client failed")) is cause
    ctx.server.proc = types.SimpleNamespace(command="./server", exit_code=None)  # type: ignore[assignment]
    ctx.server.must_exit, ctx.server.exited_in_time = True, False
    assert verdicts.run_verdict(ctx) is cause  # not "still running 10 s after the last client run"
    ctx.tunnel_cause = None
    crashed = ProgramError("the server `./server` ended with killed by SIGSEGV")
    assert verdicts.final_error(ctx, crashed) is crashed


def test_a_checkpoint_after_a_long_pause_waits_for_the_watchdogs_news(tmp_path, monkeypatch):
    import threading
    import time

    from sockdeploy.errors import WatchdogFired
    from sockdeploy.run import context

    ctx = _ctx(tmp_path)
    ctx.checkpoint()  # nothing to stop for
    ctx.watchdog = types.SimpleNamespace()  # type: ignore[assignment]
    monkeypatch.setattr(context.PAUSES, "longest_since", lambda since: 40.0)
    fired = WatchdogFired("the watchdog on login stopped the server")
    threading.Timer(0.2, ctx.tripwire.trip, args=(fired,)).start()  # the news arrives just after the pause
    began = time.monotonic()
    try:
        ctx.checkpoint()
    except WatchdogFired as exc:
        assert exc is fired and time.monotonic() - began < context.WATCHDOG_NEWS + 0.5
    else:
        raise AssertionError("the checkpoint must raise the watchdog's news")
