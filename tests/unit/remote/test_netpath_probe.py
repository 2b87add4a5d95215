"""netpath_probe.sh and netpath_probe.py: one TCP connection attempt made on the client host."""

from __future__ import annotations

import socket

from sockdeploy.run.netpath import probe_from
from tests.unit.remote.helpers import free_port


def test_a_closed_port_is_refused(host):
    found = probe_from(host, "127.0.0.1", free_port())
    assert found.outcome == "refused" and found.reachable


def test_a_listening_port_connects(host):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        found = probe_from(host, "127.0.0.1", s.getsockname()[1])
    assert found.outcome == "connected"


def test_an_unusable_address_is_unreachable(host):
    found = probe_from(host, "0.0.0.256", 80, timeout=1)  # not an address: the connect fails at once
    assert found.outcome == "unreachable" and found.detail


def test_no_python3_on_the_host(host, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    found = probe_from(host, "127.0.0.1", 1)
    assert found.outcome == "unreachable"
    assert found.detail == "no python3 on the client host to probe with"
