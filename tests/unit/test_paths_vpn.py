
from sockdeploy.run.netpath import Probe, describe_choice


def test_probe_meaning():
    assert Probe("1.2.3.4", 31000, "refused").reachable
    assert Probe("1.2.3.4", 31000, "connected").reachable
    assert not Probe("1.2.3.4", 31000, "timeout").reachable
    assert not Probe("1.2.3.4", 31000, "unreachable", "No route to host").reachable
    assert "firewall" in Probe("1.2.3.4", 31000, "timeout").describe()


def test_choice_reasons():
    p = Probe("10.0.0.1", 31000, "timeout")
    assert describe_choice("auto", "tunnel", p).startswith("auto: 10.0.0.1:31000 did not answer")
    assert describe_choice("auto", "tunnel", p).endswith("-> tunnel")
    assert "local forward" in describe_choice("tunnel", "tunnel", None)
