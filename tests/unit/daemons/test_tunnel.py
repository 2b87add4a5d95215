"""daemons.tunnel: state files, open/close/list without SSH, and the errors a failed start brings back."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from sockdeploy.daemons import tunnel
from sockdeploy.daemons.base import StateFile
from sockdeploy.errors import AuthError, ConfigError, NetworkPathError, UsageError
from tests.unit.daemons.fake import start_fake_daemon


@pytest.fixture(autouse=True)
def state_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def sleeper():
    proc = start_fake_daemon()
    yield proc
    proc.kill()
    proc.wait()


def _state(port: int, **data) -> StateFile:
    state = StateFile(tunnel.state_dir() / f"{port}.json")
    state.write({"local_port": port, **data})
    return state


def test_report_says_what_is_true_now(sleeper):
    _state(40001, pid=sleeper.pid, status="ready", heartbeat=time.time())
    _state(40002, pid=sleeper.pid, status="ready", heartbeat=time.time() - tunnel.STALE_AFTER - 1)
    _state(40003, pid=0, status="ready", heartbeat=time.time())
    (tunnel.state_dir() / "40004.json").write_text("{broken")
    reports = {r["local_port"]: r for r in (t.report() for t in tunnel.list_tunnels())}
    assert sorted(reports) == [40001, 40002, 40003]
    assert reports[40001]["running"] and reports[40001]["ssh_alive"] and not reports[40001]["listening"]
    assert reports[40002]["running"] and not reports[40002]["ssh_alive"]  # no heartbeat lately
    assert not reports[40003]["running"] and not reports[40003]["ssh_alive"]


def test_close_stops_the_process_and_removes_the_state(sleeper):
    state = _state(40001, pid=sleeper.pid, status="ready")
    _state(40002, pid=0, status="ready")
    with pytest.raises(UsageError, match="no tunnel is open on port 40009"):
        tunnel.close_tunnels(40009)
    assert tunnel.close_tunnels(40001) == [40001]
    assert sleeper.wait(5) is not None and not state.path.exists()
    assert tunnel.close_tunnels() == [40002]
    assert tunnel.close_tunnels() == []


def test_open_refuses_a_port_whose_tunnel_runs(sleeper, tmp_path):
    _state(40001, pid=sleeper.pid, status="ready")
    with pytest.raises(UsageError) as info:
        tunnel.open_tunnel(tmp_path / "hosts.yaml", 40001)
    assert "already open" in info.value.message and "tunnel close --port 40001" in (info.value.hint or "")


def test_a_tunnel_that_cannot_start_brings_its_error_back_and_leaves_no_state(tmp_path):
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text("")  # an empty hosts.yaml: the tunnel process fails on it
    with pytest.raises(ConfigError) as info:
        tunnel.open_tunnel(hosts, 40001)
    assert "the file is empty" in info.value.message
    assert list(tunnel.state_dir().glob("*.json")) == []


def test_the_tunnel_process_exits_with_the_status_of_its_error(tmp_path):
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text("")
    state = tunnel.state_dir() / "40001.json"
    proc = subprocess.run([*tunnel_argv(), str(hosts), "40001", str(state), "40001"], timeout=60)
    assert proc.returncode == ConfigError.exit_code
    failed = StateFile(state).read()
    assert failed is not None and failed["status"] == "failed" and failed["error"]["kind"] == "config"


def tunnel_argv() -> list:

    return [sys.executable, "-m", "sockdeploy.daemons.tunnel"]


@pytest.mark.parametrize("kind, cls", [("auth", AuthError), ("forwarding-forbidden", NetworkPathError),
                                       ("forward-connect", NetworkPathError), ("odd", NetworkPathError)])
def test_rebuild_gives_the_domain_error_back(kind, cls):
    err = tunnel._rebuild({"kind": kind, "message": "m", "hint": "h"})
    assert type(err) is cls and err.message == "m" and err.hint == "h"


class _FakeSession:
    """An SshSession stand-in: logs in, carries forwards to an upper-casing server, can drop."""

    made: list = []

    def __init__(self, cfg, accept_new=False) -> None:
        from tests.unit.net.fakes import FakeFar, upper_after_eof

        self.name, self.login, self.alive, self.closed = "login.example.edu", "student", False, False
        self.far = FakeFar(upper_after_eof)
        _FakeSession.made.append(self)

    def open(self) -> None:
        self.alive = True

    def check_forwarding(self) -> None:
        pass

    def open_forward(self, host, port, origin):  # type: ignore[no-untyped-def]
        return self.far(origin)

    def close(self) -> None:
        self.alive, self.closed = False, True


def _ask(port: int, text: bytes) -> bytes:
    import socket

    from tests.unit.net.fakes import read_all

    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(text)
        c.shutdown(socket.SHUT_WR)
        return read_all(c)


def test_the_keeper_carries_reconnects_after_a_drop_and_cleans_up(mocker, tmp_path):
    import threading
    from types import SimpleNamespace

    from sockdeploy.daemons.base import StopRequest
    from sockdeploy.net.listeners import bind_loopback

    mocker.patch("sockdeploy.ssh.session.SshSession", _FakeSession)
    mocker.patch("sockdeploy.spec.hosts.load_config",
                 return_value=SimpleNamespace(server=object(), client=SimpleNamespace(ssh=None)))
    _FakeSession.made = []
    probe = bind_loopback(0)
    port = probe[0].getsockname()[1]
    for s in probe:
        s.close()
    state = StateFile(tunnel.state_dir() / f"{port}.json")
    keeper = tunnel.TunnelKeeper("hosts.yaml", state, port, 31000, accept_new=False)
    keeper.start()
    assert state.read()["status"] == "ready" and f"127.0.0.1:{port}" in state.read()["listen"]  # type: ignore[index]
    stopping = StopRequest()
    loop = threading.Thread(target=keeper.keep, args=(stopping,))
    loop.start()
    try:
        assert _ask(port, b"before") == b"BEFORE"
        _FakeSession.made[0].alive = False  # the connection drops
        deadline = time.monotonic() + 10
        while keeper.state["reconnects"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert keeper.state["reconnects"] == 1 and len(_FakeSession.made) == 2
        assert _ask(port, b"after") == b"AFTER"  # the same listener, over the new connection
    finally:
        stopping._ask()
        loop.join(10)
        keeper.close()
    assert not loop.is_alive() and all(s.closed for s in _FakeSession.made)
    assert not state.path.exists()
