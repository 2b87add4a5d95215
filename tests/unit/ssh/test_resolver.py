"""Resolving hosts as OpenSSH does (its own `ssh -G`), with paramiko's parser as the fallback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pytest_mock import MockerFixture

from sockdeploy.errors import ConfigError
from sockdeploy.ssh import resolver
from sockdeploy.ssh.resolver import from_openssh, from_paramiko, resolve

pytestmark = pytest.mark.skipif(shutil.which("ssh") is None, reason="needs OpenSSH's client (apt-get install openssh-client)")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".ssh").mkdir(mode=0o700)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def write_config(home: Path, text: str) -> Path:
    path = home / ".ssh" / "config"
    path.write_text(text)
    return path


def test_include_with_an_alias_and_identities_only(home: Path) -> None:
    (home / ".ssh" / "config.d").mkdir()
    (home / ".ssh" / "config.d" / "lab").write_text(
        "Host pilab\n  HostName 127.0.0.1\n  User pi\n  Port 2222\n  IdentityFile ~/.ssh/pi_key\n  IdentitiesOnly yes\n")
    cfg = write_config(home, f"Include {home}/.ssh/config.d/*\n")
    opts = resolve("pilab", cfg, home=home)
    assert (opts.hostname, opts.user, opts.port) == ("127.0.0.1", "pi", 2222)
    assert opts.identity_files == (str(home / ".ssh" / "pi_key"),)
    assert opts.identities_configured and opts.identities_only
    assert opts.source == "ssh -G"


def test_match_and_host_key_settings(home: Path) -> None:
    cfg = write_config(home, "Match host shell.example.edu\n  StrictHostKeyChecking accept-new\n  HashKnownHosts yes\n"
                             "  UserKnownHostsFile ~/kh-course\n  ServerAliveInterval 15\n  ConnectTimeout 7\n")
    opts = resolve("shell.example.edu", cfg, home=home)
    assert opts.strict_host_key_checking == "accept-new" and opts.hash_known_hosts
    assert opts.user_known_hosts == (str(home / "kh-course"),)
    assert (opts.server_alive_interval, opts.connect_timeout) == (15, 7)
    other = resolve("elsewhere.example.edu", cfg, home=home)
    assert other.strict_host_key_checking == "ask" and not other.hash_known_hosts and other.connect_timeout is None


@pytest.mark.parametrize("written, mode", [("yes", "yes"), ("no", "no"), ("ask", "ask"), ("accept-new", "accept-new")])
def test_each_strict_host_key_checking_mode(home: Path, written: str, mode: str) -> None:
    cfg = write_config(home, f"Host *\n  StrictHostKeyChecking {written}\n")
    assert resolve("h", cfg, home=home).strict_host_key_checking == mode


def test_proxyjump_through_an_alias_from_an_included_file(home: Path) -> None:
    (home / ".ssh" / "jump").write_text("Host gate\n  HostName 127.0.0.5\n")
    cfg = write_config(home, f"Include {home}/.ssh/jump\nHost inner\n  ProxyJump gate\n")
    assert resolve("inner", cfg, home=home).proxy_jump == "gate"
    assert resolve("gate", cfg, home=home).hostname == "127.0.0.5"


def test_defaults_are_not_taken_for_configured_identities(home: Path) -> None:
    cfg = write_config(home, "Host *\n  User someone\n")
    opts = resolve("h", cfg, home=home)
    assert opts.identity_files and not opts.identities_configured and not opts.identities_only


def test_hosts_yaml_user_and_port_win(home: Path) -> None:
    cfg = write_config(home, "Host h\n  User fromconfig\n  Port 2200\n")
    opts = resolve("h", cfg, user="fromyaml", port=2022, home=home)
    assert (opts.user, opts.port) == ("fromyaml", 2022)


def test_without_a_config_file_the_files_under_home_are_read(home: Path) -> None:
    write_config(home, "Host pilab\n  HostName 127.0.0.9\n  StrictHostKeyChecking yes\n")
    opts = resolve("pilab", None, home=home)
    assert opts.hostname == "127.0.0.9" and opts.strict_host_key_checking == "yes"
    assert opts.user_known_hosts[0] == str(home / ".ssh" / "known_hosts")


def test_a_broken_config_is_a_config_error_naming_the_line(home: Path) -> None:
    cfg = write_config(home, "Host h\n  HostName x\n  NoSuchOption yes\n")
    with pytest.raises(ConfigError) as err:
        from_openssh("h", cfg, home=home)
    assert err.value.where == f"{cfg}:3"
    assert "ssh -G h" in (err.value.hint or "")


def test_paramiko_fallback_when_no_ssh_client(home: Path, mocker: MockerFixture) -> None:
    cfg = write_config(home, "Host pilab\n  HostName 127.0.0.1\n  User pi\n  Port 2222\n  IdentityFile ~/.ssh/k\n"
                             "  IdentitiesOnly yes\n  StrictHostKeyChecking accept-new\n")
    mocker.patch.object(resolver.shutil, "which", return_value=None)
    opts = resolve("pilab", cfg, home=home)
    assert opts.source.startswith("paramiko")
    assert (opts.hostname, opts.user, opts.port, opts.identities_only) == ("127.0.0.1", "pi", 2222, True)
    assert opts.identity_files == (str(home / ".ssh" / "k"),)
    assert opts.strict_host_key_checking == "accept-new"


def test_both_resolvers_agree_on_a_plain_host(home: Path) -> None:
    cfg = write_config(home, "Host pilab\n  HostName 127.0.0.1\n  User pi\n  Port 2222\n  IdentityFile ~/.ssh/k\n")
    a, b = from_openssh("pilab", cfg, home=home), from_paramiko("pilab", cfg, home=home)
    assert (a.hostname, a.user, a.port, a.identity_files) == (b.hostname, b.user, b.port, b.identity_files)


def test_the_blocks_that_applied_are_named_with_their_lines(home: Path) -> None:
    (home / ".ssh" / "lab").write_text("Host pilab\n  HostName 127.0.0.1\n")
    cfg = write_config(home, f"Include {home}/.ssh/lab\nMatch host 127.0.0.1\n  Port 2200\nMatch host nowhere\n  Port 1\n"
                             "Host *\n  User someone\n")
    opts = resolve("pilab", cfg, home=home)
    assert opts.port == 2200
    assert opts.applied == (f"{home}/.ssh/lab:1 Host pilab", f"{cfg}:2 Match host 127.0.0.1", f"{cfg}:6 Host *")
    assert opts.read == str(cfg) and any("blocks applied" in line and "Host pilab" in line for line in opts.describe())
    assert "blocks " in opts.summary() and "someone@127.0.0.1:2200" in opts.summary()


def test_identity_agent_proxy_command_and_the_default_agent(home: Path) -> None:
    cfg = write_config(home, "Host a\n  IdentityAgent none\n  ProxyCommand nc %h %p\nHost b\n  IdentityAgent ~/agent.sock\n"
                             "Host c\n  IdentityAgent $COURSE_SOCK\n")
    a, b, c, d = (resolve(h, cfg, home=home) for h in "abcd")
    assert (a.identity_agent, a.proxy_command) == ("none", "nc %h %p")
    assert b.identity_agent == str(home / "agent.sock") and c.identity_agent == "$COURSE_SOCK"
    assert d.identity_agent is None and d.proxy_command is None


def test_ssh_config_none_is_openssh_with_no_file(home: Path) -> None:
    from sockdeploy.spec.hosts import ServerConfig
    from sockdeploy.ssh.resolver import resolve_server

    write_config(home, "Host pilab\n  HostName 127.0.0.9\n")
    none = resolve_server(ServerConfig(host="pilab", ssh_config="none", user="jdoe", port=2022))
    assert (none.hostname, none.user, none.port) == ("pilab", "jdoe", 2022) and not none.identities_configured
    assert none.user_known_hosts[0] == str(home / ".ssh" / "known_hosts") and none.read == "no configuration file"
    assert resolve_server(ServerConfig(host="pilab")).hostname == "127.0.0.9"


@pytest.mark.parametrize("spec, hops", [
    ("jump", [(None, "jump", None)]),
    ("me@jump:2200,other", [("me", "jump", 2200), (None, "other", None)]),
    ("ssh://u@h:33", [("u", "h", 33)]),
    ("u@[2001:db8::1]:2222", [("u", "2001:db8::1", 2222)]),
])
def test_proxyjump_values_are_split_into_hops(spec: str, hops: list) -> None:
    assert resolver.parse_jump(spec) == hops
