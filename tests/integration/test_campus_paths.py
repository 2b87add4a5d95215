"""Every network path from the campus lab's home namespace (the Pi), with a real firewall and VPN."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.integration.labprograms import program

pytestmark = [pytest.mark.integration, pytest.mark.campus]


def _record(proc) -> dict:
    return json.loads(proc.stdout)


def _nothing_left(campus) -> None:
    deadline = time.monotonic() + 10
    while campus.leftover_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert campus.leftover_processes() == []
    assert campus.leftover_dirs() == []


def test_direct_fails_fast_with_the_diagnosis(no_vpn, on_pi):
    hosts = no_vpn.write_hosts("direct")
    before = no_vpn.login_count()
    proc = on_pi("run", "ex5", "--hosts", str(hosts), "--out", "runs")
    assert proc.returncode == 5, proc.stderr
    assert proc.seconds < 30
    assert f"cannot reach {no_vpn.server_ip}:" in proc.stderr and "did not answer within 3 s" in proc.stderr
    assert "--via tunnel" in proc.stderr and f"sudo openconnect {no_vpn.gateway}" in proc.stderr
    assert no_vpn.login_count() - before == 1
    _nothing_left(no_vpn)


@pytest.mark.parametrize("exercise", ["ex5", "ex6"])
def test_tunnel_carries_the_exercise_with_one_login(no_vpn, on_pi, exercise):
    hosts = no_vpn.write_hosts("tunnel")
    before = no_vpn.login_count()
    proc = on_pi("run", exercise, "--hosts", str(hosts), "--out", "runs", "--json")
    assert proc.returncode == 0, proc.stderr
    assert no_vpn.login_count() - before == 1
    record = _record(proc)
    assert record["via"] == "tunnel" and record["tunnel"]["connections"] == 2
    assert record["tunnel"]["same_port"], "home and campus are separate hosts: the port number is kept"
    assert record["server"]["ip"] == no_vpn.server_ip
    server = (Path(record["run_dir"]) / "server.log").read_text()
    assert "quit code 418 received" in server
    _nothing_left(no_vpn)


def test_auto_takes_the_tunnel_without_vpn(no_vpn, on_pi):
    proc = on_pi("run", "ex5", "--hosts", str(no_vpn.write_hosts("auto")), "--out", "runs", "--json")
    assert proc.returncode == 0, proc.stderr
    record = _record(proc)
    assert record["via"] == "tunnel"
    assert "did not answer" in record["via_reason"] and record["via_reason"].endswith("-> tunnel")
    transcript = (Path(record["run_dir"]) / "transcript.md").read_text()
    assert "| network path | tunnel: auto: " in transcript and "-> tunnel |" in transcript
    _nothing_left(no_vpn)


def test_vpn_check_fails_before_and_passes_after_connecting(campus, on_pi):
    if campus.vpn_is_up():
        campus.vpn_down()
    hosts = campus.write_hosts("vpn")
    proc = on_pi("run", "ex5", "--hosts", str(hosts), "--out", "runs")
    assert proc.returncode == 5, proc.stderr
    assert "openconnect running: no" in proc.stderr and f"sudo openconnect {campus.gateway}" in proc.stderr
    status = on_pi("vpn", "status", "--hosts", str(hosts))
    assert status.returncode == 5 and "FAIL" in status.stdout
    campus.vpn_up()
    try:
        status = on_pi("vpn", "status", "--hosts", str(hosts))
        assert status.returncode == 0, status.stdout + status.stderr
        assert status.stdout.count(" ok ") >= 3
        proc = on_pi("run", "ex5", "--hosts", str(hosts), "--out", "runs", "--json")
        assert proc.returncode == 0, proc.stderr
        record = _record(proc)
        assert record["via"] == "vpn" and record["connect_host"] == campus.server_ip
        assert [c["ok"] for c in record["vpn_checks"]] == [True, True, True]
        # auto with the VPN up: the direct address answers
        proc = on_pi("run", "ex5", "--hosts", str(campus.write_hosts("auto")), "--out", "runs", "--json")
        assert proc.returncode == 0, proc.stderr
        assert _record(proc)["via"] == "direct"
    finally:
        campus.vpn_down()
    _nothing_left(campus)


def test_persistent_tunnel_from_the_pi(no_vpn, on_pi):
    port = 34567
    server = no_vpn.campus_popen([sys.executable, program("upper_echo.py"), str(port)])
    try:
        hosts = str(no_vpn.write_hosts("tunnel"))
        opened = on_pi("tunnel", "open", "--port", str(port), "--hosts", hosts)
        assert opened.returncode == 0, opened.stderr
        reply = no_vpn.home([sys.executable, program("ask.py"), str(port), "through"], timeout=30)
        assert reply.stdout.strip() == "THROUGH", reply.stderr
        status = json.loads(on_pi("tunnel", "status", "--json").stdout)
        assert status[0]["listening"] and status[0]["ssh_alive"]
        closed = on_pi("tunnel", "close", "--port", str(port))
        assert closed.returncode == 0
        assert on_pi("tunnel", "status").stdout.strip() == "no tunnels open"
    finally:
        server.kill()
        server.wait()


def test_auto_remembers_a_blocked_network_and_skips_the_probe(no_vpn, on_pi):
    hosts = no_vpn.write_hosts("auto")
    first = on_pi("run", "ex5", "--hosts", str(hosts), "--out", "runs", "--json")
    assert first.returncode == 0, first.stderr
    assert _record(first)["probe"]["outcome"] == "timeout" and _record(first)["via"] == "tunnel"
    second = on_pi("run", "ex5", "--hosts", str(hosts), "--out", "runs", "--json")
    assert second.returncode == 0, second.stderr
    record = _record(second)
    assert record["via"] == "tunnel" and "probe" not in record
    assert record["via_reason"].startswith("auto: remembered that the direct path was blocked")
    assert second.seconds < first.seconds - 2, (first.seconds, second.seconds)
    _nothing_left(no_vpn)
