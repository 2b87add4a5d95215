"""The VPN checks: each failure says what is wrong and how to fix it."""

import shlex
from pathlib import Path

from sockdeploy.net import vpn
from sockdeploy.remote.host import LocalHost


def _fake(mocker, pids, tuns, dev):
    mocker.patch.object(vpn, "openconnect_pids", return_value=pids)
    mocker.patch.object(vpn, "tun_devices_up", return_value=tuns)
    mocker.patch.object(vpn, "route_device", return_value=dev)


def test_vpn_down_says_how_to_start_it(mocker):
    _fake(mocker, [], [], "eth0")
    checks = vpn.vpn_checks("128.252.167.161", "vpn.example.edu")
    assert [c.ok for c in checks] == [False, False, False]
    first = vpn.first_failure(checks)
    assert first.name == "openconnect running"
    assert "sudo openconnect vpn.example.edu" in first.fix and "push" in first.fix and "--via tunnel" in first.fix


def test_vpn_connecting_but_no_device(mocker):
    _fake(mocker, [42], [], "eth0")
    checks = vpn.vpn_checks("128.252.167.161")
    assert checks[0].ok and not checks[1].ok
    assert "wait for it to finish logging in" in checks[1].fix


def test_vpn_up_but_route_elsewhere(mocker):
    _fake(mocker, [42], ["tun0"], "wlan0")
    checks = vpn.vpn_checks("128.252.167.161")
    assert [c.ok for c in checks] == [True, True, False]
    assert "128.252.167.161 goes via wlan0" == checks[2].detail


def test_vpn_all_good(mocker):
    _fake(mocker, [42], ["tun0"], "tun0")
    assert vpn.first_failure(vpn.vpn_checks("128.252.167.161")) is None


def test_vpn_without_a_server_address_says_where_to_set_it(mocker):
    _fake(mocker, [42], ["tun0"], None)
    route = vpn.vpn_checks(None)[2]
    assert not route.ok and route.detail == "server address unknown" and "server.host" in route.fix


class _FakeTreeHost(LocalHost):
    """This machine, with /proc and /sys/class/net replaced by folders the test fills."""

    def __init__(self, proc: Path, sysnet: Path) -> None:
        super().__init__()
        self.prefix = f"SD_PROC_DIR={shlex.quote(str(proc))}; SD_SYSNET_DIR={shlex.quote(str(sysnet))}; " \
                      "export SD_PROC_DIR SD_SYSNET_DIR\n"

    def run(self, script, **kw):  # type: ignore[no-untyped-def]
        return super().run(self.prefix + script, **kw)


def test_remote_facts_read_the_markers_of_the_facts_script(tmp_path):
    proc, sysnet = tmp_path / "proc", tmp_path / "net"
    (proc / "4242").mkdir(parents=True)
    (proc / "4242" / "comm").write_text("openconnect\n")
    (sysnet / "tun0").mkdir(parents=True)
    (sysnet / "tun0" / "tun_flags").write_text("0x1002\n")
    (sysnet / "tun0" / "flags").write_text("0x1003\n")
    facts = vpn.remote_facts(_FakeTreeHost(proc, sysnet), "127.0.0.1")
    assert facts == vpn.Facts([4242], ["tun0"], "lo")
    checks = vpn.vpn_checks("127.0.0.1", facts=facts)
    assert [c.ok for c in checks] == [True, True, False]  # the route goes via lo, not the tunnel
