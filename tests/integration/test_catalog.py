"""The payload catalog: every system from the seed documents deploys across the campus lab's hosts
and proves it worked with its own expectations, through the tunnel and directly where the lab allows."""

from __future__ import annotations

import json

import pytest

from sockdeploy.spec.payload import bundled_names, resolve

pytestmark = [pytest.mark.integration, pytest.mark.campus]

STUDIO = ["ex1", "ex2", "ex3", "ex4", "ex5", "ex6"]
CATALOG = ["unix-dgram", "tcp-counter", "tcp-echo", "c-tcp-fork", "c-udp", "c-tcp-message",
           "py-tcp", "py-udp", "py-udp-upper", "py-tcp-upper"]


def test_catalog_is_complete_and_listed(cli):
    assert set(CATALOG) <= set(bundled_names())
    res = cli("payloads")
    assert res.code == 0
    lines = {line.split()[0]: line for line in res.stdout.splitlines()}
    for name in STUDIO + CATALOG:
        p = resolve(name)
        assert p.origin and p.origin in lines[name], lines.get(name)
        assert p.expect.server or p.expect.client or p.expect.runs or p.expect.count, f"{name} proves nothing"


@pytest.mark.parametrize("name", STUDIO + CATALOG)
def test_catalog_through_the_tunnel(no_vpn, on_pi, name):
    before = no_vpn.login_count()
    proc = on_pi("run", name, "--via", "tunnel", "--hosts", str(no_vpn.write_hosts("tunnel")), "--out", "runs", "--json")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["expectations"] and all(c["ok"] for c in record["expectations"]), record["expectations"]
    if record["via"] != "local":
        assert record["via"] == "tunnel" and no_vpn.login_count() - before == 1
        assert record["server"]["ip"] == no_vpn.server_ip


@pytest.mark.parametrize("name", [n for n in STUDIO + CATALOG if not resolve(n).local])
def test_catalog_direct_on_the_vpn(campus, on_pi, name):
    if not campus.vpn_is_up():
        campus.vpn_up()
    proc = on_pi("run", name, "--via", "direct", "--hosts", str(campus.write_hosts("direct")), "--out", "runs", "--json")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["via"] == "direct" and record["connect_host"] in (campus.server_ip, campus.server_name)
    assert all(c["ok"] for c in record["expectations"]), record["expectations"]


def test_vpn_down_after_catalog(campus):
    campus.vpn_down()
    assert not campus.vpn_is_up()
