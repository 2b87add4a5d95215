"""The ssh config reader: which HostName, Port and proxy apply to a host."""

from __future__ import annotations

from sockdeploy.doctor import sshconfig


def test_unbalanced_quote_in_ssh_config(tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text('Host "course\n  Port 2200\n')
    assert sshconfig.ssh_config_route(cfg, "elsewhere") == {}


def test_ssh_config_route(tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text("# comment\nHost other\n  HostName other.example\n"
                   "Host course !shell-old\n  HostName %h.cec.wustl.edu\n  Port=2222\n  ProxyJump none\n"
                   "Host *\n  HostName ignored.example\n  ProxyCommand nc %h %p\n")
    route = sshconfig.ssh_config_route(cfg, "course")
    assert route["hostname"] == ("course.cec.wustl.edu", f"{cfg}:5")
    assert route["port"][0] == "2222"
    assert "proxyjump" not in route and "proxycommand" in route, "the first value wins, and none means none"
    assert sshconfig.ssh_config_route(cfg, "elsewhere")["hostname"][0] == "ignored.example"
    assert sshconfig.ssh_config_route(None, "course") == {}
