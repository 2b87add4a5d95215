from sockdeploy.net import vpn


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
