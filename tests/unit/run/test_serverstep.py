"""The server launch: a free port, a retry when it is taken meanwhile, and what a failed start says."""

from __future__ import annotations

import dataclasses
import types
from datetime import datetime, timezone
from typing import Any, List

import pytest

from sockdeploy.errors import NetworkPathError, PortTaken, ProgramError, ServerExited, ServerNotListening
from sockdeploy.output.progress import Progress
from sockdeploy.output.runfolder import RunFolder
from sockdeploy.run import serverstep
from sockdeploy.run.context import RunContext, RunOptions
from sockdeploy.run.record import RunRecord
from sockdeploy.run.runtag import Stray
from sockdeploy.run.server import Collected
from sockdeploy.spec import payload as payload_mod
from sockdeploy.spec.sources import Source


def _ctx(tmp_path, **opts: Any) -> RunContext:  # type: ignore[no-untyped-def]
    payload = payload_mod.resolve("ex5")
    return RunContext(payload=payload, cfg=None, opts=RunOptions(**opts), progress=Progress(quiet=True),
                      folder=RunFolder(tmp_path, datetime.now(timezone.utc)),
                      record=RunRecord(target="ex5", started="2026-11-21T10:00:00Z"))


def _ws(used=()) -> Any:  # type: ignore[no-untyped-def]
    return types.SimpleNamespace(host=types.SimpleNamespace(name="shell", login="me@shell"), path="/tmp/run-1",
                                 used_ports=set(used), held_ports=set(used))


def _starts(monkeypatch, outcomes: List[Any]) -> List[Any]:  # type: ignore[no-untyped-def]
    ports: List[Any] = []

    def start(ws, command, *, ready, port, socket_path, token):  # type: ignore[no-untyped-def]
        assert len(token) == 32  # every start carries the run's token
        ports.append(port)
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        listens = outcome if isinstance(outcome, list) else []
        return types.SimpleNamespace(ws=ws, command=command, pid=4242, port=port, exit_code=None, listens=listens)

    monkeypatch.setattr(serverstep, "start_server", start)
    return ports


def test_a_port_taken_meanwhile_is_retried_on_another(monkeypatch, tmp_path):
    ports = _starts(monkeypatch, [ServerExited(1, "bind: Address already in use\n"), "ok"])
    ctx = _ctx(tmp_path)
    seen: List[int] = []
    values: dict = {"ip": "127.0.0.1", "host": "localhost", "socket": None}
    proc = serverstep.launch(ctx, _ws(), values, before_start=seen.append)
    assert len(ports) == 2 and ports[0] != ports[1] and seen == ports  # the path is chosen for each port tried
    assert proc.port == ports[1] == values["port"] == ctx.record.server.port
    assert ctx.server.proc is proc and ctx.server.log is not None and ctx.server.log.prompt == "me@shell"
    assert str(ports[1]) in (ctx.record.server.command or "")


def test_a_pinned_port_in_use_is_not_retried(monkeypatch, tmp_path):
    _starts(monkeypatch, [ServerExited(1, "EADDRINUSE\n")])
    with pytest.raises(NetworkPathError, match="could not bind port 31000"):
        serverstep.launch(_ctx(tmp_path, port=31000), _ws(), {"ip": "x", "socket": None}, before_start=lambda p: None)


def test_a_pinned_port_already_busy_is_refused_before_starting(monkeypatch, tmp_path):
    ports = _starts(monkeypatch, [])
    with pytest.raises(NetworkPathError, match="already in use on shell"):
        serverstep.launch(_ctx(tmp_path, port=31000), _ws([31000]), {"socket": None}, before_start=lambda p: None)
    assert ports == []


def test_a_server_that_ends_before_listening_is_a_program_failure_with_its_output(monkeypatch, tmp_path):
    _starts(monkeypatch, [ServerExited(2, "usage: server PORT\n")])
    ctx = _ctx(tmp_path)
    with pytest.raises(ProgramError) as info:
        serverstep.launch(ctx, _ws(), {"socket": None}, before_start=lambda p: None)
    assert "usage: server PORT" in (info.value.output or "")
    assert ctx.record.server.exit_code == 2 and ctx.server.log is not None
    assert ctx.server.log.output == "usage: server PORT\n"


def test_a_server_that_never_listens_is_timed_out(monkeypatch, tmp_path):
    proc = types.SimpleNamespace(pid=7, ws=None, command="./server", port=None)
    _starts(monkeypatch, [ServerNotListening(proc, 10.0)])  # type: ignore[arg-type]
    ctx = _ctx(tmp_path)
    with pytest.raises(ProgramError, match="did not start listening within 10 s"):
        serverstep.launch(ctx, _ws(), {"socket": None}, before_start=lambda p: None)
    assert ctx.record.server.timed_out is True and ctx.server.proc is proc


def test_a_server_listening_elsewhere_has_that_port_adopted(monkeypatch, tmp_path):
    ports = _starts(monkeypatch, [[30303]])
    ctx = _ctx(tmp_path)
    (tmp_path / "server.c").write_text("#define PORT 30303\n")
    ctx.payload = dataclasses.replace(ctx.payload, files=(Source(tmp_path / "server.c", "server.c"),))
    values: dict = {"ip": "127.0.0.1", "socket": None}
    proc = serverstep.launch(ctx, _ws(), values, before_start=lambda p: None)
    assert proc.port == values["port"] == ctx.record.server.port == 30303
    assert ctx.record.server.port_given == ports[0] != 30303
    assert ctx.record.notes == [f"the server listens on port 30303 (written in its source), not {ports[0]}; using 30303"]
    assert ctx.record.to_json()["server"]["port_given"] == ports[0]


def test_an_adopted_port_outside_the_course_ports_is_warned_of_not_refused(monkeypatch, tmp_path):
    _starts(monkeypatch, [[12000, 12001]])
    ctx = _ctx(tmp_path)
    proc = serverstep.launch(ctx, _ws(), {"socket": None}, before_start=lambda p: None)
    assert proc.port == 12000
    notes = ctx.record.notes or []
    assert "(not the port it was given)" in notes[0] and "(it listens on 12001 too)" in notes[0]
    assert notes[1] == "warning: port 12000 is outside the course ports 30000-40000; off campus only the tunnel reaches it"


def test_a_port_given_that_no_command_uses_is_reported(monkeypatch, tmp_path):
    ports = _starts(monkeypatch, [[5555]])
    ctx = _ctx(tmp_path, port=31000)
    server = dataclasses.replace(ctx.payload.server, commands=("./server",))
    runs = tuple(dataclasses.replace(r, command="./client") for r in ctx.payload.runs)
    ctx.payload = dataclasses.replace(ctx.payload, server=server,
                                      client=dataclasses.replace(ctx.payload.client, commands=("./client",)), runs=runs)
    proc = serverstep.launch(ctx, _ws(), {"socket": None}, before_start=lambda p: None)
    assert ports == [None] and proc.port == 5555
    assert (ctx.record.notes or [])[0].startswith("warning: --port 31000 is not used: no command of the plan has {port}")
    assert (ctx.record.notes or [])[1] == "the server listens on port 5555; using 5555"


def _taken(running: bool) -> PortTaken:
    proc = types.SimpleNamespace(pid=7, ws=None, command="./server", port=None)
    return PortTaken(proc, running, None if running else 1, "bind: Address already in use\n")  # type: ignore[arg-type]


def test_a_chosen_port_another_process_holds_is_retried_after_the_server_is_stopped(monkeypatch, tmp_path):
    ports = _starts(monkeypatch, [_taken(True), "ok"])
    stopped: List[Any] = []
    monkeypatch.setattr(serverstep, "finish", lambda ws, **kw: (stopped.append(kw), Collected(
        "", None, True, False, strays=[Stray(9, "server", "./daemon")]))[1])
    ctx = _ctx(tmp_path)
    proc = serverstep.launch(ctx, _ws(), {"socket": None}, before_start=lambda p: None)
    assert len(ports) == 2 and proc.port == ports[1] != ports[0]
    assert stopped == [{"pid": 7, "remove": False, "token": ctx.token, "role": "server"}]
    assert ctx.record.stray_processes == ["your server left a background process on shell (pid 9, `./daemon`); "
                                          "it was stopped"]


def test_a_pinned_port_another_process_holds_is_exit_5_taken(monkeypatch, tmp_path):
    _starts(monkeypatch, [_taken(False)])
    monkeypatch.setattr(serverstep, "finish", lambda ws, **kw: Collected("", None, False, False))
    with pytest.raises(NetworkPathError, match=r"^port 31000 is taken on shell \(by another user\?\)$") as info:
        serverstep.launch(_ctx(tmp_path, port=31000), _ws(), {"socket": None}, before_start=lambda p: None)
    assert info.value.exit_code == 5 and "Address already in use" in (info.value.output or "")
