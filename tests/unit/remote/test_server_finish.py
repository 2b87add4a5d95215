"""server_finish.sh: stops the server's group, hands back its log, status and line times, removes the folder."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from sockdeploy.output.logcap import elision_note
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
    assert collected.elided == 0 and collected.awaited is None
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


def test_a_server_printing_without_end_gives_back_its_head_and_tail(host, tmp_path, monkeypatch):
    from sockdeploy.run import server

    monkeypatch.setattr(server, "caps_arg", lambda: "4096,4096,100000")
    ws = _ws(host, tmp_path)
    proc = start_server(ws, "echo first; i=0; while :; do i=$((i+1)); echo \"line $i\"; done", ready="delay",
                        port=None, socket_path=None)
    assert wait_until(lambda: (tmp_path / "server.cut").exists() and int((tmp_path / "server.cut").read_text().split()[1]) > 5)
    collected = finish(ws, pid=proc.pid, remove=False)
    head, note, tail = collected.log.partition(f"\n{elision_note(collected.elided)}\n")
    assert collected.stopped and collected.elided > 4 * 4096 and note
    assert head.startswith("first\nline 1\nline 2\n") and 4096 <= len(head) <= 4097
    assert 4096 <= len(tail) <= 2 * 4096
    # the kept lines follow on: the tail's last whole line is the last line printed, its numbers unbroken
    numbers = [int(line.split()[1]) for line in tail.splitlines()[1:-1]]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert len(collected.times) == len(collected.log.splitlines())


def test_the_length_fetched_is_bounded(host, tmp_path, monkeypatch):
    from sockdeploy.run import server

    monkeypatch.setattr(server, "LOG_LIMIT", 10)
    (tmp_path / "server.log").write_text("0123456789abcdef")
    assert finish(_ws(host, tmp_path), pid=None, remove=False).log == "0123456789"


def test_quoting_survives_odd_folder_names(host, tmp_path):
    run = tmp_path / "it's a $(folder)"
    run.mkdir()
    (run / "server.log").write_text("x\n")
    collected = finish(_ws(host, run), pid=None, remove=True)
    assert collected.log == "x\n" and not run.exists()
    assert shlex.quote(str(run))  # the name needed quoting


@pytest.fixture
def no_python3(tmp_path_factory, monkeypatch) -> None:
    """A PATH with every program of the usual one but python: a login host without python3."""
    bin_dir = tmp_path_factory.mktemp("no-python")
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if not name.startswith("python") and not (bin_dir / name).exists():
                (bin_dir / name).symlink_to(os.path.join(folder, name))
    monkeypatch.setenv("PATH", str(bin_dir))


def test_without_python3_the_log_is_capped_all_the_same(host, tmp_path, monkeypatch, no_python3):
    from sockdeploy.run import server

    monkeypatch.setattr(server, "caps_arg", lambda: "4096,4096,100000")
    ws = _ws(host, tmp_path)
    proc = start_server(ws, "echo first; i=0; while :; do i=$((i+1)); echo \"line $i\"; done", ready="delay",
                        port=None, socket_path=None)
    assert (tmp_path / ".sockdeploy-cap").exists() and not (tmp_path / "server.times").exists()
    assert wait_until(lambda: (tmp_path / "server.cut").exists() and int((tmp_path / "server.cut").read_text().split()[1]) > 5)
    collected = finish(ws, pid=proc.pid, remove=True)
    head, note, tail = collected.log.partition(f"\n{elision_note(collected.elided)}\n")
    assert collected.stopped and collected.elided > 4 * 4096 and note and collected.times == []
    assert head.startswith("first\nline 1\n") and len(head) <= 4097 and 0 < len(tail) <= 2 * 4096
    assert not tmp_path.exists() and not group_exists(proc.pid)
