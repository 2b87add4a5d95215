"""After a run: the wire record is kept, and the checks are judged from what the run saw."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from sockdeploy.errors import BuildError, ChecksFailed, ConnectError, ProgramError
from sockdeploy.net.wire import WireLog
from sockdeploy.output.progress import Progress
from sockdeploy.output.runfolder import ProgramLog, RunFolder, render_markdown
from sockdeploy.run import checkstep
from sockdeploy.run.context import RunContext, RunOptions
from sockdeploy.run.record import ClientRecord, RunRecord
from sockdeploy.spec import payload as payload_mod


def _ctx(tmp_path: Path, server_output: str, sent=(b"5\n6\n", b"5\n6\n418\n")) -> RunContext:
    mine = tmp_path / "mine"
    mine.mkdir(exist_ok=True)
    for name in ("server.c", "client.c"):
        (mine / name).write_text("int main(void) { return 0; }\n")
    ctx = RunContext(payload=payload_mod.resolve("ex5", str(mine)), cfg=None, opts=RunOptions(),
                     progress=Progress(quiet=True), folder=RunFolder(tmp_path, datetime.now(timezone.utc)),
                     record=RunRecord(target="ex5", started="2026-11-21T10:00:00Z"))
    ctx.via = "tunnel"
    ctx.record.server.port = 31000
    ctx.server.log = ProgramLog("server.log", "Server", "me@shell", "./server 31000", output=server_output)
    ctx.server.must_exit, ctx.server.exited_in_time = True, True
    ctx.record.server.exit_code = 0
    ctx.wire = WireLog("through the tunnel", lambda: len(ctx.record.clients) or None)
    for run, data in enumerate(sent, 1):
        ctx.record.clients.append(ClientRecord(run=run, command=f"./client 127.0.0.1 31000{' quit' * (run == 2)}",
                                               exit_code=0, ended=True))
        ctx.wire.open(("127.0.0.1", 40000 + run)).sent(data)
    return ctx


def test_a_correct_run_passes_and_keeps_its_wire_record(tmp_path):
    ctx = _ctx(tmp_path, "got 5\ngot 6\ngot 5\ngot 6\nbye\n")
    assert checkstep.judge(ctx, None) is None
    assert ctx.record.checks is not None and all(c.ok for c in ctx.record.checks), ctx.record.checks
    assert ctx.record.wire is not None and ctx.record.wire["connections"] == 2 and ctx.record.wire["sent"] == 4 + 8
    assert json.loads((tmp_path / "wire.json").read_text())["connections"][1]["run"] == 2
    assert "client -> server  8 bytes" in (tmp_path / "wire.txt").read_text()
    transcript = render_markdown(ctx.record, [])
    assert "## Checks of the programs' behaviour" in transcript and "| quit | ok |" in transcript
    assert "wire.txt" in transcript


def test_a_failed_check_fails_a_run_that_had_no_error(tmp_path):
    ctx = _ctx(tmp_path, "got 5\ngot 5\ngot 6\nbye\n")
    error = checkstep.judge(ctx, None)
    assert isinstance(error, ChecksFailed)
    assert error.message == "check integers failed: integer 6 sent by client run 1 never appears in the server's output"
    assert json.loads(json.dumps(ctx.record.to_json()))["checks"][4]["ok"] is False


def test_a_build_failure_keeps_its_error_and_leaves_the_rest_not_reached(tmp_path):
    ctx = _ctx(tmp_path, "", sent=())
    error = BuildError("building the server failed on the server host shell (exit status 1)")
    assert checkstep.judge(ctx, error) is error
    assert ctx.record.checks is not None
    assert [(c.check, c.ok, c.reached) for c in ctx.record.checks[:2]] == [("built", False, True),
                                                                           ("listened", False, False)]


def test_a_server_that_never_listened_is_named_by_the_run_error(tmp_path):
    ctx = _ctx(tmp_path, "", sent=())
    error = ProgramError("the server did not start listening within 10 s")
    assert checkstep.judge(ctx, error) is error
    assert ctx.record.checks is not None and ctx.record.checks[1].detail == error.message


def test_a_lost_connection_is_not_judged(tmp_path):
    ctx = _ctx(tmp_path, "got 5\n")
    error = ConnectError("the SSH connection dropped")
    assert checkstep.judge(ctx, error) is error
    assert ctx.record.checks is None and (tmp_path / "wire.txt").is_file()


def test_the_bundled_programs_are_not_judged(tmp_path):
    ctx = _ctx(tmp_path, "got 5\n")
    ctx.payload = payload_mod.resolve("ex5")
    assert checkstep.judge(ctx, None) is None and ctx.record.checks is None


def test_without_the_preload_librarys_record_the_checks_say_why(tmp_path):
    ctx = _ctx(tmp_path, "got 5\ngot 6\ngot 5\ngot 6\nbye\n")
    ctx.wire, ctx.via, ctx.record.via = None, "auto", "direct"
    ctx.wire_missing = "the client ./client is statically linked, so the preload library cannot record it"
    assert checkstep.judge(ctx, None) is None
    details = {c.check: c.detail for c in ctx.record.checks or []}
    assert details["sent"] == ("not judged: no wire record on the direct path: the client ./client is statically "
                               "linked, so the preload library cannot record it")
    assert ctx.record.wire == {"note": details["sent"][len("not judged: "):]}


def test_the_preload_librarys_record_is_judged_like_the_tunnels(tmp_path):
    from sockdeploy.run import wirestep

    ctx = _ctx(tmp_path, "got 5\ngot 6\ngot 5\ngot 6\nbye\n", sent=())
    ctx.via = ctx.record.via = "direct"
    folder = tmp_path / "client"
    folder.mkdir()
    for run, data in ((1, b"5\n6\n"), (2, b"5\n6\n418\n")):
        ctx.record.clients.append(ClientRecord(run=run, command="./client", exit_code=0, ended=True))
        Path(wirestep.record_path(str(folder), run)).write_text(
            f"C 9.1.{run} tcp 127.0.0.1:4000{run} 127.0.0.1:31000 1700000000.0\n"
            f"S 9.1.{run} 1700000000.1 {data.hex()}\nE 9.1.{run} 1700000000.2 client closed\n")
    ctx.wire = None
    assert wirestep.wanted(ctx, {"port": 31000})
    wirestep.collect(ctx, str(folder), {"port": 31000})
    assert ctx.wire is not None and ctx.wire.by_preload and [c.run for c in ctx.wire.connections] == [1, 2]
    assert checkstep.judge(ctx, None) is None
    assert all(c.ok for c in ctx.record.checks or []), ctx.record.checks
    assert ctx.record.checks and ctx.record.checks[2].detail.endswith("(2 connections recorded)")
    assert ctx.record.wire is not None and ctx.record.wire["path"].startswith("by the preload library on ")


def test_a_run_that_exec_d_a_statically_linked_client_is_named_in_run_json_and_the_transcript(tmp_path):
    from sockdeploy.run import wirestep

    ctx = _ctx(tmp_path, "got 5\ngot 6\ngot 5\ngot 6\nbye\n", sent=())
    ctx.via = ctx.record.via = "direct"
    folder = tmp_path / "client"
    folder.mkdir()
    for run in (1, 2):  # `sh run.sh` each time, which execs ./client-static: the library's record ends there
        ctx.record.clients.append(ClientRecord(run=run, command="sh run.sh", exit_code=0, ended=True))
        Path(wirestep.record_path(str(folder), run)).write_text(f"U 1700000000.0 {b'./client-static'.hex()}\n")
    ctx.wire = None
    wirestep.collect(ctx, str(folder), {"port": 31000})
    assert checkstep.judge(ctx, None) is None
    details = {c.check: c.detail for c in ctx.record.checks or []}
    note = "client run 1 started client-static, which is statically linked, so the preload library could not record it"
    assert details["connected"] == f"2 client runs connected and exited 0 (0 connections recorded; {note})"
    assert details["sent"] == details["integers"] == details["quit"] == f"not judged: {note}"
    assert ctx.record.wire is not None and ctx.record.wire["unrecorded"] == [
        {"run": 1, "program": "./client-static"}, {"run": 2, "program": "./client-static"}]
    again = RunRecord.from_json(json.loads(json.dumps(ctx.record.to_json())))
    assert f"Missing from it: {note}." in render_markdown(again, [])
