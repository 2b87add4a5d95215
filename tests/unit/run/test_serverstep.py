"""The server launch: a free port, a retry when it is taken meanwhile, and what a failed start says."""

from __future__ import annotations

import types
from datetime import datetime, timezone
from typing import Any, List

import pytest

from sockdeploy.errors import NetworkPathError, ProgramError, ServerExited, ServerNotListening
from sockdeploy.output.progress import Progress
from sockdeploy.output.runfolder import RunFolder
from sockdeploy.run import serverstep
from sockdeploy.run.context import RunContext, RunOptions
from sockdeploy.run.record import RunRecord
from sockdeploy.spec import payload as payload_mod


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

    def start(ws, command, *, ready, port, socket_path):  # type: ignore[no-untyped-def]
        ports.append(port)
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return types.SimpleNamespace(ws=ws, command=command, pid=4242, port=port, exit_code=None)

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
    monkeypatch.setattr(serverstep, "listening_ports_of_group", lambda ws, pgid: [])
    ctx = _ctx(tmp_path)
    with pytest.raises(ProgramError, match="did not start listening within 10 s"):
        serverstep.launch(ctx, _ws(), {"socket": None}, before_start=lambda p: None)
    assert ctx.record.server.timed_out is True and ctx.server.proc is proc


def test_a_server_on_the_wrong_port_is_told_so(monkeypatch, tmp_path):
    proc = types.SimpleNamespace(pid=7, ws=None, command="./server", port=None)
    _starts(monkeypatch, [ServerNotListening(proc, 10.0)])  # type: ignore[arg-type]
    monkeypatch.setattr(serverstep, "listening_ports_of_group", lambda ws, pgid: [8080])
    with pytest.raises(ProgramError, match="listens on port 8080"):
        serverstep.launch(_ctx(tmp_path), _ws(), {"socket": None}, before_start=lambda p: None)
