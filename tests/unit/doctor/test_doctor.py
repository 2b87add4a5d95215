"""sockdeploy doctor without any network: the session, DNS, banner, VPN and probe are fakes."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from sockdeploy.doctor import check, doctor, hostchecks, netchecks
from sockdeploy.doctor.check import ORDER, Check
from sockdeploy.doctor.doctor import run_doctor
from sockdeploy.doctor.report import exit_code, to_json
from sockdeploy.errors import AuthError, ConnectError, ForwardingForbidden, HostKeyError
from sockdeploy.net.vpn import VpnCheck
from sockdeploy.remote.host import CommandResult
from sockdeploy.run.netpath import Probe

GATEWAY = "vpn.example.edu"


ALL_TOOLS = {t: f"/usr/bin/{t}" for t in hostchecks.TOOLS_WANTED}


TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def tools_output(tools: Dict[str, Optional[str]], busy: List[int] = (), gcc: str = "gcc (Debian 12.2.0) 12.2.0") -> str:
    lines = [f"SD-HAVE {t} {p}" if p else f"SD-MISSING {t}" for t, p in tools.items()]
    if tools.get("gcc"):
        lines.append(f"SD-GCC {gcc}")
    lines.append("SD-PORTS")
    lines.append(TCP_HEADER.rstrip("\n"))
    lines += [f"   {i}: 00000000:{p:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 {i}"
              for i, p in enumerate(busy)]
    return "\n".join(lines) + "\n"


class FakeKey:
    def get_name(self) -> str:
        return "ssh-ed25519"

    def asbytes(self) -> bytes:
        return b"fake host key"


class FakeTransport:
    def get_remote_server_key(self) -> FakeKey:
        return FakeKey()


class FakeSession:
    """Stands in for SshSession; records what doctor asked of it."""

    instances: List[FakeSession] = []
    open_error: Optional[Exception] = None
    forwarding_error: Optional[Exception] = None
    output = tools_output(ALL_TOOLS)

    def __init__(self, cfg, *, accept_new: bool = False, confirm=None, prompt=None,  # type: ignore[no-untyped-def]
                 options=None) -> None:
        self.cfg, self.accept_new, self.confirm, self.prompt, self.options = cfg, accept_new, confirm, prompt, options
        self.auth_used: Optional[str] = "publickey (id_ed25519, ssh-ed25519 SHA256:x)"
        self.jump_hosts: List[object] = []
        self.opened = self.closed = 0
        self.scripts: List[str] = []
        self.forward_checks = 0
        self.peer_ip: Optional[str] = None
        self.hostname = cfg.host
        self.login = f"jdoe@{cfg.host}:22"
        self.strict_kex = True
        FakeSession.instances.append(self)

    def open(self) -> None:
        self.opened += 1
        if self.open_error is not None:
            raise self.open_error
        self.peer_ip = "192.0.2.10"

    @property
    def transport(self) -> FakeTransport:
        return FakeTransport()

    def run(self, script: str, *, stdin: Optional[bytes] = None, timeout: Optional[float] = None) -> CommandResult:
        self.scripts.append(script)
        return CommandResult(self.output, "", 0)

    def check_forwarding(self) -> None:
        self.forward_checks += 1
        if self.forwarding_error is not None:
            raise self.forwarding_error

    def close(self) -> None:
        self.closed += 1


def vpn_down(ip: Optional[str], gateway: str, facts: object = None) -> List[VpnCheck]:
    fix = f"start the VPN: sudo openconnect {gateway}"
    return [VpnCheck("openconnect running", False, "no openconnect process", fix),
            VpnCheck("VPN device up", False, "no tun device is up", fix),
            VpnCheck("route to the server via VPN", False, f"{ip} goes via eth0", fix)]


def vpn_up(ip: Optional[str], gateway: str, facts: object = None) -> List[VpnCheck]:
    return [VpnCheck("openconnect running", True, "pid 42"), VpnCheck("VPN device up", True, "tun0"),
            VpnCheck("route to the server via VPN", True, f"{ip} goes via tun0")]


@pytest.fixture
def world(mocker, tmp_path, monkeypatch):
    """Fakes for everything doctor touches outside this process; returns the mocks to steer."""
    monkeypatch.setenv("HOME", str(tmp_path))
    FakeSession.instances = []
    mocker.patch.object(FakeSession, "open_error", None)
    mocker.patch.object(FakeSession, "forwarding_error", None)
    mocker.patch.object(FakeSession, "output", tools_output(ALL_TOOLS))
    mocker.patch.object(doctor, "SshSession", FakeSession)
    mocks = {
        "getaddrinfo": mocker.patch.object(netchecks.socket, "getaddrinfo", return_value=[
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.10", 22))]),
        "banner": mocker.patch.object(netchecks, "ssh_banner", return_value=("banner", "SSH-2.0-OpenSSH_9.2")),
        "vpn": mocker.patch.object(netchecks.vpn, "vpn_checks", side_effect=vpn_down),
        "probe": mocker.patch.object(netchecks.paths, "probe", side_effect=lambda ip, port: Probe(ip, port, "refused")),
    }
    return mocks


def hosts(tmp_path: Path, via: str = "auto", ports: str = "30000-40000", extra: str = "") -> str:
    path = tmp_path / "hosts.yaml"
    path.write_text(f"server:\n  host: shell.example.edu\n  user: jdoe\n  ssh_config: none\n{extra}"
                    f"network:\n  via: {via}\n  ports: {ports}\n  vpn:\n    gateway: {GATEWAY}\n")
    return str(path)


def results(checks: List[Check]) -> Dict[str, str]:
    assert [c.name for c in checks] == list(ORDER)
    return {c.name: c.result for c in checks}


def by_name(checks: List[Check]) -> Dict[str, Check]:
    return {c.name: c for c in checks}


def test_every_check_in_order_with_one_login(world, tmp_path):
    seen: List[str] = []
    checks = run_doctor(hosts(tmp_path, "direct"), on_check=lambda c: seen.append(c.name))
    assert seen == list(ORDER)
    assert results(checks) == {**{n: "ok" for n in ORDER}, "vpn": "warn"}
    assert exit_code(checks) == 0
    [session] = FakeSession.instances
    assert session.opened == 1 and session.closed == 1 and len(session.scripts) == 1
    assert (session.accept_new, session.confirm) == (False, None), "doctor must never trust a key by itself"
    c = by_name(checks)
    assert "SSH-2.0-OpenSSH_9.2" in c["ssh port"].detail
    assert c["host key"].detail.startswith("known: ssh-ed25519 SHA256:")
    assert "gcc (Debian 12.2.0) 12.2.0" in c["server tools"].detail
    assert "not needed: via direct" in c["vpn"].detail
    world["probe"].assert_called_once()
    ip, port = world["probe"].call_args.args
    assert ip == "192.0.2.10" and 30000 <= port <= 40000 and str(port) in c["free port"].detail


def test_vpn_up_is_ok(world, tmp_path):
    world["vpn"].side_effect = vpn_up
    checks = run_doctor(hosts(tmp_path, "vpn"))
    assert results(checks)["vpn"] == "ok" and exit_code(checks) == 0
    world["vpn"].assert_called_once_with("192.0.2.10", GATEWAY, None)  # None: this machine's own facts


def test_the_prompt_reaches_the_session(world, tmp_path):
    def ask(text: str, echo: bool) -> str:
        return ""

    run_doctor(hosts(tmp_path), prompt=ask)
    assert FakeSession.instances[0].prompt is ask


def test_bad_config_skips_everything_else(world, tmp_path):
    path = tmp_path / "hosts.yaml"
    path.write_text("server:\n  host: shell.example.edu\nnetwork:\n  via: sideways\n")
    checks = run_doctor(str(path))
    assert results(checks) == {"config": "fail", **{n: "skip" for n in ORDER[1:]}}
    assert f"{path}:4" in checks[0].detail and "sideways" in checks[0].detail
    assert checks[0].fix == "use auto unless you know which path you need"
    assert exit_code(checks) == 2
    assert FakeSession.instances == [] and not world["getaddrinfo"].called


def test_missing_hosts_file(world, tmp_path):
    checks = run_doctor(str(tmp_path / "nope.yaml"))
    assert checks[0].result == "fail" and "hosts file not found" in checks[0].detail
    assert exit_code(checks) == 2


def test_name_that_does_not_resolve(world, tmp_path):
    world["getaddrinfo"].side_effect = socket.gaierror(-2, "Name or service not known")
    checks = run_doctor(hosts(tmp_path))
    r = results(checks)
    assert r["name resolution"] == "fail" and "Name or service not known" in checks[1].detail
    # the client host (this machine here) does not depend on the server's name
    assert all(r[n] == "skip" for n in ORDER[2:] if n != "client host") and r["client host"] == "ok", r
    assert exit_code(checks) == 3
    assert FakeSession.instances[0].opened == 0, "no login attempt without a reachable SSH port"


def test_ssh_port_timeout_skips_the_ssh_checks_but_not_the_vpn(world, tmp_path):
    world["banner"].return_value = ("timeout", "did not answer within 5 s")
    checks = run_doctor(hosts(tmp_path))
    r = results(checks)
    assert r["ssh port"] == "fail" and "192.0.2.10:22 did not answer" in checks[2].detail
    assert [r[n] for n in ORDER[3:8]] == ["skip"] * 5
    assert r["vpn"] == "warn" and r["direct reach"] == "skip"
    assert exit_code(checks) == 3
    assert FakeSession.instances[0].opened == 0


def test_every_address_is_tried_like_ssh_does(world, tmp_path):
    world["getaddrinfo"].return_value = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::1", 22, 0, 0)),
                                         (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.10", 22))]
    world["banner"].side_effect = [("refused", "refused the connection"), ("banner", "SSH-2.0-x")]
    checks = run_doctor(hosts(tmp_path))
    assert results(checks)["ssh port"] == "ok" and "192.0.2.10:22" in checks[2].detail
    assert [c.args[0] for c in world["banner"].call_args_list] == ["2001:db8::1", "192.0.2.10"]


def test_unknown_host_key_sends_no_credential(world, tmp_path, mocker):
    mocker.patch.object(FakeSession, "open_error", HostKeyError(
        "unknown host key for [localhost]:2222: ssh-ed25519 key SHA256:abc", "check this fingerprint"))
    checks = run_doctor(hosts(tmp_path))
    r = results(checks)
    c = by_name(checks)
    assert r["host key"] == "fail" and "SHA256:abc" in c["host key"].detail and c["host key"].fix == "check this fingerprint"
    assert r["login"] == "skip" and "no credential was sent" in c["login"].detail
    assert [r[n] for n in ("server tools", "free port", "forwarding", "direct reach")] == ["skip"] * 4
    assert r["vpn"] == "warn"
    assert exit_code(checks) == 3
    assert FakeSession.instances[0].scripts == [] and FakeSession.instances[0].closed == 1


def test_login_failure_means_the_key_was_fine(world, tmp_path, mocker):
    mocker.patch.object(FakeSession, "open_error", AuthError("authentication failed", "check server.user"))
    checks = run_doctor(hosts(tmp_path))
    r = results(checks)
    assert r["host key"] == "ok" and r["login"] == "fail" and by_name(checks)["login"].fix == "check server.user"
    assert [r[n] for n in ("server tools", "free port", "forwarding", "direct reach")] == ["skip"] * 4
    assert exit_code(checks) == 3


def test_connection_error_lands_on_the_host_key_check(world, tmp_path, mocker):
    mocker.patch.object(FakeSession, "open_error", ConnectError("SSH negotiation failed", "check the port"))
    checks = run_doctor(hosts(tmp_path))
    assert results(checks)["host key"] == "fail" and "SSH negotiation failed" in checks[3].detail
    assert results(checks)["login"] == "skip" and exit_code(checks) == 3


needs_ssh = pytest.mark.skipif(shutil.which("ssh") is None, reason="needs OpenSSH's client (ssh -G)")


@needs_ssh
def test_a_bad_ssh_config_is_reported_not_raised(world, tmp_path):
    """OpenSSH cannot read it: the config check fails (exit 2, as a run), naming the file and line."""
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host course\n  HostName x\n  NoSuchOption yes\n")
    path = tmp_path / "hosts.yaml"
    path.write_text(f"server:\n  host: course\n  ssh_config: {cfg}\n")
    checks = run_doctor(str(path))
    c = by_name(checks)["config"]
    assert c.result == "fail" and "nosuchoption" in c.detail.lower() and f"{cfg}:3" in c.fix
    assert results(checks)["login"] == "skip" and not FakeSession.instances and exit_code(checks) == 2


def test_missing_tools_fail_with_exit_4(world, tmp_path, mocker):
    tools = {**ALL_TOOLS, "gcc": None, "cc": None, "setsid": None, "stdbuf": None}
    mocker.patch.object(FakeSession, "output", tools_output(tools))
    checks = run_doctor(hosts(tmp_path))
    c = by_name(checks)["server tools"]
    assert c.result == "fail" and "missing: gcc, setsid" in c.detail and "no stdbuf" in c.detail
    assert "install gcc, setsid" in c.fix
    assert results(checks)["free port"] == "ok", "a missing compiler does not hide the other findings"
    assert exit_code(checks) == 4


def test_cc_without_gcc_is_a_warning(world, tmp_path, mocker):
    mocker.patch.object(FakeSession, "output", tools_output({**ALL_TOOLS, "gcc": None}))
    checks = run_doctor(hosts(tmp_path))
    c = by_name(checks)["server tools"]
    assert c.result == "warn" and "/usr/bin/cc" in c.detail and "gcc" in c.fix
    assert exit_code(checks) == 0


def test_optional_tools_are_notes(world, tmp_path, mocker):
    mocker.patch.object(FakeSession, "output", tools_output({**ALL_TOOLS, "python3": None, "stdbuf": None}))
    c = by_name(run_doctor(hosts(tmp_path)))["server tools"]
    assert c.result == "ok" and "no python3" in c.detail and "no stdbuf" in c.detail


def test_script_that_cannot_run(world, tmp_path, mocker):
    mocker.patch.object(FakeSession, "run", lambda self, script, **kw: CommandResult("", "sh: base64: not found", 0))
    checks = run_doctor(hosts(tmp_path))
    r = results(checks)
    assert r["server tools"] == "fail" and "base64: not found" in checks[5].detail
    assert r["free port"] == "skip" and r["forwarding"] == "ok" and r["direct reach"] == "skip"


def test_no_free_port(world, tmp_path, mocker):
    mocker.patch.object(FakeSession, "output", tools_output(ALL_TOOLS, busy=[31000, 31001]))
    checks = run_doctor(hosts(tmp_path, ports="31000-31001"))
    r = results(checks)
    assert r["free port"] == "fail" and "no free port in 31000-31001" in checks[6].detail
    assert r["direct reach"] == "skip" and exit_code(checks) == 5


def test_busy_ports_are_avoided(world, tmp_path, mocker):
    mocker.patch.object(FakeSession, "output", tools_output(ALL_TOOLS, busy=[31000, 31002]))
    c = by_name(run_doctor(hosts(tmp_path, ports="31000-31002")))["free port"]
    assert c.result == "ok" and c.detail.startswith("31001 is free (2 of 3 ports")


def test_lost_connection_during_the_remote_checks(world, tmp_path, mocker):
    def lost(self, script, **kw):  # type: ignore[no-untyped-def]
        raise ConnectError("the SSH connection to shell.example.edu was lost", "run again")

    mocker.patch.object(FakeSession, "run", lost)
    r = results(run_doctor(hosts(tmp_path)))
    assert r["server tools"] == "fail" and r["free port"] == "skip" and r["forwarding"] == "skip"


FORBIDDEN = ForwardingForbidden("the SSH server forbids port forwarding (sshd AllowTcpForwarding no)", "use the VPN")


@pytest.mark.parametrize("via,expected", [("tunnel", "fail"), ("direct", "warn"), ("vpn", "warn"), ("auto", "warn")])
def test_forbidden_forwarding(world, tmp_path, mocker, via, expected):
    mocker.patch.object(FakeSession, "forwarding_error", FORBIDDEN)
    world["vpn"].side_effect = vpn_up
    checks = run_doctor(hosts(tmp_path, via))
    c = by_name(checks)["forwarding"]
    assert c.result == expected and "AllowTcpForwarding" in c.detail
    assert exit_code(checks) == (5 if expected == "fail" else 0)


@pytest.mark.parametrize("via,expected", [("auto", "warn"), ("tunnel", "warn"), ("direct", "fail"), ("vpn", "fail")])
def test_firewalled_course_ports(world, tmp_path, via, expected):
    world["probe"].side_effect = lambda ip, port: Probe(ip, port, "timeout")
    checks = run_doctor(hosts(tmp_path, via))
    c = by_name(checks)["direct reach"]
    assert c.result == expected and "did not answer" in c.detail
    if via in ("auto", "direct"):
        assert "--via tunnel" in c.fix and f"sudo openconnect {GATEWAY}" in c.fix
    assert exit_code(checks) == (5 if expected == "fail" else 0)


def test_auto_without_tunnel_or_direct_path_fails(world, tmp_path, mocker):
    mocker.patch.object(FakeSession, "forwarding_error", FORBIDDEN)
    world["probe"].side_effect = lambda ip, port: Probe(ip, port, "timeout")
    checks = run_doctor(hosts(tmp_path, "auto"))
    r = results(checks)
    assert r["forwarding"] == "warn" and r["direct reach"] == "fail"
    assert f"sudo openconnect {GATEWAY}" in checks[-1].fix and exit_code(checks) == 5


@pytest.mark.parametrize("via,needless", [("auto", "via auto falls back to the tunnel"),
                                          ("tunnel", "via tunnel goes through SSH"),
                                          ("direct", "via direct reaches the course ports without it")])
def test_vpn_down_is_only_a_warning_when_not_needed(world, tmp_path, via, needless):
    checks = run_doctor(hosts(tmp_path, via))
    c = by_name(checks)["vpn"]
    assert c.result == "warn" and f"not needed: {needless}" in c.detail and c.detail.startswith("no: openconnect running")
    assert exit_code(checks) == 0


def test_vpn_down_fails_via_vpn(world, tmp_path):
    checks = run_doctor(hosts(tmp_path, "vpn"))
    c = by_name(checks)["vpn"]
    assert c.result == "fail" and f"sudo openconnect {GATEWAY}" in c.fix and exit_code(checks) == 5


@needs_ssh
def test_ssh_config_hostname_and_port_are_what_is_checked(world, tmp_path):
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host course\n  HostName shell.real.example\n  Port 2222\n")
    path = tmp_path / "hosts.yaml"
    path.write_text(f"server:\n  host: course\n  ssh_config: {cfg}\n")
    checks = run_doctor(str(path))
    assert world["getaddrinfo"].call_args.args[:2] == ("shell.real.example", 2222)
    assert "shell.real.example (HostName for course) -> 192.0.2.10" in checks[1].detail
    assert f"{cfg}:1 Host course" in checks[1].detail, "the block that applied is named"
    assert world["banner"].call_args.args[:2] == ("192.0.2.10", 2222)
    assert FakeSession.instances[0].options.hostname == "shell.real.example", "the login uses the same resolution"


@needs_ssh
def test_match_is_evaluated_as_openssh_does(world, tmp_path):
    """The doctor's old reader skipped Match blocks; OpenSSH (and the run) apply them."""
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host course\n  HostName shell.real.example\nMatch host shell.real.example\n  Port 2222\n")
    path = tmp_path / "hosts.yaml"
    path.write_text(f"server:\n  host: course\n  ssh_config: {cfg}\n")
    checks = run_doctor(str(path))
    assert world["getaddrinfo"].call_args.args[:2] == ("shell.real.example", 2222)
    assert "Match host shell.real.example" in checks[1].detail


def test_a_proxy_skips_the_local_name_and_port_checks(world, tmp_path):
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host course\n  ProxyJump gate.example\n")
    path = tmp_path / "hosts.yaml"
    path.write_text(f"server:\n  host: course\n  ssh_config: {cfg}\n")
    checks = run_doctor(str(path))
    r = results(checks)
    assert r["name resolution"] == "skip" and r["ssh port"] == "skip" and "gate.example" in checks[1].detail
    assert r["login"] == "ok" and not world["banner"].called


def test_details_are_one_line(world, tmp_path, mocker):
    mocker.patch.object(FakeSession, "open_error", AuthError("line one\nline two", "fix\n  this"))
    c = by_name(run_doctor(hosts(tmp_path)))["login"]
    assert (c.detail, c.fix) == ("line one line two", "fix this")


def test_to_json_shape(world, tmp_path):
    data = to_json(run_doctor(hosts(tmp_path)))
    assert json.loads(json.dumps(data)) == data
    assert [d["name"] for d in data] == list(ORDER)
    assert all(set(d) == {"name", "result", "detail", "fix"} for d in data)
    assert {d["result"] for d in data} <= set(check.RESULTS)
