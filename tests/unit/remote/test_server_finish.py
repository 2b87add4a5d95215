"""server_finish.sh: stops the server's group, hands back its log, status and line times, removes the folder."""

from __future__ import annotations

import shlex
from pathlib import Path

from sockdeploy.remote.host import group_exists
from sockdeploy.run.server import finish, start_server
from sockdeploy.run.workspace import KEEP_MARKER, Workspace
from tests.unit.remote.helpers import private_workspace, wait_until


def _ws(host, path: Path) -> Workspace:
    return private_workspace(host, path)


def test_stops_a_running_server_and_removes_the_folder(host, tmp_path):
    run = tmp_path / "run-x"
    run.mkdir()
    ws = _ws(host, run)
    proc = start_server(ws, "echo one; echo two; exec sleep 60", ready="delay", port=None, socket_path=None)
    assert wait_until(lambda: "two" in (run / "server.log").read_text())
    collected = finish(ws, pid=proc.pid, remove=True)
    assert collected.stopped and collected.log == "one\ntwo\n"
    assert len(collected.times) == 2 and collected.times[0] <= collected.times[1]
    assert not collected.truncated and collected.awaited is None
    assert not run.exists() and not group_exists(proc.pid)


def test_awaits_a_server_that_ends_by_itself(host, tmp_path):
    ws = _ws(host, tmp_path)
    proc = start_server(ws, "sleep 0.5; echo bye; exit 4", ready="delay", port=None, socket_path=None)
    collected = finish(ws, pid=proc.pid, remove=False, await_exit=10)
    assert collected.awaited is True
    assert collected.exit_code == 4 and collected.log == "bye\n"
    assert tmp_path.is_dir()
    assert (tmp_path / KEEP_MARKER).is_file()  # kept (--keep-remote): no later run's sweep removes it


def test_a_server_still_running_after_the_wait_is_stopped(host, tmp_path):
    ws = _ws(host, tmp_path)
    proc = start_server(ws, "exec sleep 60", ready="delay", port=None, socket_path=None)
    collected = finish(ws, pid=proc.pid, remove=False, await_exit=0.2)
    assert collected.awaited is False and collected.stopped


def test_without_a_pid_it_only_collects_and_removes(host, tmp_path):
    run = tmp_path / "run-x"
    run.mkdir()
    (run / "server.log").write_text("old\n")
    collected = finish(_ws(host, run), pid=None, remove=True)
    assert collected.log == "old\n" and collected.exit_code is None and not collected.stopped
    assert not run.exists()


def test_a_folder_already_gone(host, tmp_path):
    collected = finish(_ws(host, tmp_path / "gone"), pid=None, remove=True)
    assert collected.log is None and collected.exit_code is None and not collected.stopped


def test_a_long_log_is_cut_and_said_to_be(host, tmp_path, monkeypatch):
    from sockdeploy.run import server

    monkeypatch.setattr(server, "LOG_LIMIT", 10)
    (tmp_path / "server.log").write_text("0123456789abcdef")
    collected = finish(_ws(host, tmp_path), pid=None, remove=False)
    assert collected.log == "0123456789" and collected.truncated


def test_quoting_survives_odd_folder_names(host, tmp_path):
    run = tmp_path / "it's a $(folder)"
    run.mkdir()
    (run / "server.log").write_text("x\n")
    collected = finish(_ws(host, run), pid=None, remove=True)
    assert collected.log == "x\n" and not run.exists()
    assert shlex.quote(str(run))  # the name needed quoting
