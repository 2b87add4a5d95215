"""server_start.sh: the server starts detached, its pid is reported, and readiness is seen or missed."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Iterator

import pytest

from sockdeploy.errors import ServerExited, ServerNotListening
from sockdeploy.output.logcap import caps_arg
from sockdeploy.remote import marker
from sockdeploy.remote.host import group_exists, kill_group
from sockdeploy.remote.program import PROCS, sh_command
from sockdeploy.remote.scripts import load
from sockdeploy.run.server import ServerProcess, start_server
from sockdeploy.run.workspace import Workspace
from tests.unit.remote.helpers import free_port, private_workspace, wait_until

PY = shlex.quote(sys.executable)


def listener(kind: str, port: int) -> str:
    """Return a server command that prints a line, then serves on 127.0.0.1:port."""
    sock = "socket.SOCK_STREAM" if kind == "tcp" else "socket.SOCK_DGRAM"
    listen = "s.listen(1); " if kind == "tcp" else ""
    code = (f"import socket, time; s = socket.socket(socket.AF_INET, {sock}); "
            f"s.bind(('127.0.0.1', {port})); {listen}print('serving', flush=True); time.sleep(60)")
    return f"exec {PY} -c {shlex.quote(code)}"


@pytest.fixture
def ws(host, tmp_path) -> Iterator[Workspace]:
    space = private_workspace(host, tmp_path)
    yield space
    pid = Path(tmp_path, "server.pid")
    if pid.exists():
        kill_group(int(pid.read_text()))


@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_reports_the_pid_once_the_port_is_bound(ws, kind):
    port = free_port()
    proc = start_server(ws, listener(kind, port), ready=kind, port=port, socket_path=None)
    assert isinstance(proc, ServerProcess) and proc.port == port
    assert Path(ws.path, "server.pid").read_text().strip() == str(proc.pid)
    assert group_exists(proc.pid)
    assert wait_until(lambda: "serving" in Path(ws.path, "server.log").read_text())


def test_a_unix_socket_server_is_ready_once_its_path_is_bound(ws):
    path = str(Path(ws.path, "sock"))
    code = (f"import socket, time; s = socket.socket(socket.AF_UNIX); s.bind({path!r}); s.listen(1); "
            "time.sleep(60)")
    proc = start_server(ws, f"exec {PY} -c {shlex.quote(code)}", ready="unix", port=None, socket_path=path)
    assert group_exists(proc.pid)


def test_without_a_socket_to_watch_it_waits_a_moment(ws):
    proc = start_server(ws, "sleep 60", ready="tcp", port=None, socket_path=None)
    assert group_exists(proc.pid)


def test_a_server_that_ends_at_once_reports_its_status_and_log(ws):
    with pytest.raises(ServerExited) as info:
        start_server(ws, "echo 'bind: Address already in use'; exit 3", ready="tcp", port=free_port(), socket_path=None)
    assert info.value.status == 3
    assert "Address already in use" in info.value.log


def test_a_server_that_never_listens_times_out(ws):
    with pytest.raises(ServerNotListening) as info:
        start_server(ws, "sleep 60", ready="tcp", port=free_port(), socket_path=None, ready_timeout=0.5)
    assert group_exists(info.value.proc.pid)


def test_the_cap_kills_the_whole_group(ws):
    proc = start_server(ws, "sleep 60 & sleep 60", ready="tcp", port=None, socket_path=None, cap=1)
    assert wait_until(lambda: not group_exists(proc.pid))
    assert Path(ws.path, "server.status").exists() or not group_exists(proc.pid)


def test_a_missing_folder_is_reported(host, tmp_path):
    args = [str(tmp_path / "gone"), "true", 5, "delay", 0, "", 10, load("server_wrap.sh"), load("server_stamper.py"),
            load("server_logcap.sh"), caps_arg()]
    result = host.run(sh_command(PROCS, "log_join.sh", "server_start.sh", args=args), timeout=30)
    assert result.exit_status == 93 and marker.first(result.stdout, "PID") is None


def test_a_restart_removes_the_log_an_earlier_start_left(ws):
    folder = Path(ws.path)
    for name in ("server.log", "server.times", "server.log.4", "server.times.4", "server.log.5", "server.times.5",
                 "server.log.txt"):
        (folder / name).write_text("old\n")
    (folder / "server.cut").write_text("9 5\n")
    start_server(ws, "echo new; exec sleep 60", ready="delay", port=None, socket_path=None)
    assert wait_until(lambda: (folder / "server.log").read_text() == "new\n")
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("server.")) == \
        ["server.log", "server.log.txt", "server.pid", "server.times"]
