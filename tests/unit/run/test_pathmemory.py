"""What `auto` remembers about a network: a blocked direct path, for a while, per gateway and server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sockdeploy.run import pathmemory

ROUTES = ("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
          "eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
          "eth0\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n")


def test_the_route_to_the_server_names_the_network(tmp_path: Path) -> None:
    routes = tmp_path / "route"
    routes.write_text(ROUTES)
    assert pathmemory.route_to("128.252.167.161", routes) == "192.168.2.1"  # the default route
    assert pathmemory.route_to("192.168.2.40", routes) == "dev eth0"  # on the local network itself
    routes.write_text(ROUTES.splitlines()[0] + "\n")
    assert pathmemory.route_to("128.252.167.161", routes) is None


@pytest.fixture
def memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(pathmemory, "route_to", lambda ip, routes=None: "192.168.2.1")
    return tmp_path / "state" / "sockdeploy" / "paths.json"


def test_a_blocked_verdict_is_remembered_for_a_while_and_per_network(memory: Path, monkeypatch) -> None:
    assert pathmemory.remembered_blocked("10.77.2.10") is None
    pathmemory.remember("10.77.2.10", blocked=True)
    assert oct(memory.stat().st_mode & 0o777) == "0o600"
    when = pathmemory.remembered_blocked("10.77.2.10")
    assert when is not None and abs(when - time.time()) < 5
    assert pathmemory.remembered_blocked("10.77.2.11") is None  # another server
    assert pathmemory.remembered_blocked("10.77.2.10", now=time.time() + pathmemory.REMEMBER_FOR + 1) is None
    monkeypatch.setattr(pathmemory, "route_to", lambda ip, routes=None: "10.0.0.1")
    assert pathmemory.remembered_blocked("10.77.2.10") is None  # another network
    monkeypatch.setattr(pathmemory, "route_to", lambda ip, routes=None: "192.168.2.1")
    pathmemory.remember("10.77.2.10", blocked=False)  # the path opened (VPN up): forgotten
    assert pathmemory.remembered_blocked("10.77.2.10") is None


def test_a_damaged_memory_is_ignored(memory: Path) -> None:
    memory.parent.mkdir(parents=True)
    memory.write_text("{not json")
    assert pathmemory.remembered_blocked("10.77.2.10") is None
    pathmemory.remember("10.77.2.10", blocked=True)
    assert pathmemory.remembered_blocked("10.77.2.10") is not None
