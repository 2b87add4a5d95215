"""sockdeploy doctor against real sshds: the loopback lab, and the campus lab's home namespace."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List

import pytest

from sockdeploy.doctor import netchecks
from sockdeploy.doctor.check import ORDER, Check
from sockdeploy.doctor.doctor import run_doctor
from sockdeploy.doctor.report import exit_code, render_table, to_json
from tests.conftest import REPO

pytestmark = pytest.mark.integration


@pytest.fixture
def home(monkeypatch, fake_home: Path) -> Path:
    """Point HOME at an empty folder so the developer's ~/.ssh and agent are never used."""
    monkeypatch.setenv("HOME", str(fake_home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return fake_home


def by_name(checks: List[Check]) -> Dict[str, Check]:
    assert [c.name for c in checks] == list(ORDER)
    return {c.name: c for c in checks}


def copy_hosts(lab, path: Path, **changes: str) -> Path:
    text = lab.hosts_file.read_text()
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    return path


def host_fingerprint(lab) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(lab.host_key.with_suffix(".pub"))],
                         capture_output=True, text=True, check=True).stdout
    return out.split()[1]


def test_lab_is_healthy_with_one_login(clean_lab, home):
    before = clean_lab.login_count()
    start = time.monotonic()
    checks = run_doctor(str(clean_lab.hosts_file))
    took = time.monotonic() - start
    c = by_name(checks)
    assert clean_lab.login_count() - before == 1, "every remote check shares one login"
    not_vpn = {n: c[n].result for n in ORDER if n != "vpn"}
    assert set(not_vpn.values()) == {"ok"}, render_table(checks)
    # the lab's hosts.yaml says via direct: a VPN that is down is worth a note, not a failure
    assert c["vpn"].result in ("warn", "ok")
    if c["vpn"].result == "warn":
        assert "not needed: via direct" in c["vpn"].detail
    assert exit_code(checks) == 0
    assert f"127.0.0.1:{clean_lab.port} answered: SSH-2.0-OpenSSH" in c["ssh port"].detail
    assert host_fingerprint(clean_lab) in c["host key"].detail
    assert "refused while no server listened" in c["direct reach"].detail
    assert took < 15, took
    print(render_table(checks))


def test_unknown_host_key_fails_before_any_login(clean_lab, home, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    hosts = copy_hosts(clean_lab, tmp_path / "hosts.yaml",
                       **{f"known_hosts: {clean_lab.known_hosts}": f"known_hosts: {empty}"})
    before = clean_lab.login_count()
    checks = run_doctor(str(hosts))
    c = by_name(checks)
    assert c["host key"].result == "fail", render_table(checks)
    assert "unknown host key" in c["host key"].detail and host_fingerprint(clean_lab) in c["host key"].detail
    assert "--accept-new" in c["host key"].fix
    assert c["login"].result == "skip"
    assert [c[n].result for n in ("server tools", "free port", "forwarding", "direct reach")] == ["skip"] * 4
    assert clean_lab.login_count() == before, "no credential may be sent to an untrusted host"
    assert empty.read_text() == "", "doctor never stores a host key"
    assert exit_code(checks) == 3


def test_changed_host_key(clean_lab, home, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    known = tmp_path / "known_hosts"
    pub = other.with_suffix(".pub").read_text().split()
    known.write_text(f"[localhost]:{clean_lab.port} {pub[0]} {pub[1]}\n")
    hosts = copy_hosts(clean_lab, tmp_path / "hosts.yaml",
                       **{f"known_hosts: {clean_lab.known_hosts}": f"known_hosts: {known}"})
    before = clean_lab.login_count()
    c = by_name(run_doctor(str(hosts)))
    assert c["host key"].result == "fail" and "HOST KEY CHANGED" in c["host key"].detail
    assert f"{known}:1" in c["host key"].detail and "ssh-keygen -R" in c["host key"].fix
    assert clean_lab.login_count() == before


def test_wrong_identity_fails_the_login_after_the_key_check(clean_lab, home, tmp_path):
    stranger = tmp_path / "id_stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    hosts = copy_hosts(clean_lab, tmp_path / "hosts.yaml",
                       **{f"identity: {clean_lab.identity}": f"identity: {stranger}"})
    checks = run_doctor(str(hosts))
    c = by_name(checks)
    assert (c["host key"].result, c["login"].result) == ("ok", "fail")
    assert "no key was accepted" in c["login"].detail and exit_code(checks) == 3


def test_ssh_config_alias(clean_lab, home, tmp_path):
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host studio\n  HostName localhost\n  Port {clean_lab.port}\n")
    hosts = copy_hosts(clean_lab, tmp_path / "hosts.yaml", **{
        "host: localhost": "host: studio", f"  port: {clean_lab.port}\n": "", "ssh_config: none": f"ssh_config: {cfg}"})
    before = clean_lab.login_count()
    c = by_name(run_doctor(str(hosts)))
    assert c["name resolution"].result == "ok" and "localhost (HostName for studio)" in c["name resolution"].detail
    assert f"{cfg}:1 Host studio" in c["name resolution"].detail  # the block OpenSSH applied
    assert c["ssh port"].result == "ok" and c["login"].result == "ok"
    assert clean_lab.login_count() - before == 1


def test_forbidden_forwarding(home, tmp_path):
    from sockdeploy.lab.loopback import LoopbackLab

    with LoopbackLab(tmp_path / "nofwd", forwarding=False) as lab:
        checks = run_doctor(str(lab.write_hosts_file(via="tunnel", path=tmp_path / "tunnel.yaml")))
        c = by_name(checks)
        assert c["forwarding"].result == "fail" and "AllowTcpForwarding" in c["forwarding"].detail
        assert c["login"].result == "ok" and exit_code(checks) == 5
        # via direct does not need it: a warning that the tunnel would not work
        checks = run_doctor(str(lab.write_hosts_file(via="direct", path=tmp_path / "direct.yaml")))
        c = by_name(checks)
        assert c["forwarding"].result == "warn" and "AllowTcpForwarding" in c["forwarding"].detail
        assert c["direct reach"].result == "ok" and exit_code(checks) == 0
        assert lab.login_count() == 2


def test_bad_hosts_file(home, tmp_path):
    path = tmp_path / "hosts.yaml"
    path.write_text("server:\n  host: localhost\n  port: 99999\n")
    checks = run_doctor(str(path))
    c = by_name(checks)
    assert c["config"].result == "fail" and c["config"].detail.startswith(f"{path}:3: ")
    assert c["config"].fix
    assert [ch.result for ch in checks[1:]] == ["skip"] * (len(ORDER) - 1)
    assert exit_code(checks) == 2
    data = to_json(checks)
    assert data[0] == {"name": "config", "result": "fail", "detail": c["config"].detail, "fix": c["config"].fix}


# -- the SSH banner reader, on loopback sockets ---------------------------------------------


def test_banner_from_the_lab(clean_lab):
    outcome, text = netchecks.ssh_banner("127.0.0.1", clean_lab.port, 5)
    assert outcome == "banner" and text.startswith("SSH-2.0-OpenSSH")


def test_banner_refused_and_silent():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    assert netchecks.ssh_banner("127.0.0.1", port, 2)[0] == "refused"
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        start = time.monotonic()
        outcome, text = netchecks.ssh_banner("127.0.0.1", silent.getsockname()[1], 0.5)
        assert outcome == "no-banner" and "no SSH banner" in text and time.monotonic() - start < 3


def test_banner_not_ssh():
    with socket.socket() as web:
        web.bind(("127.0.0.1", 0))
        web.listen()

        def answer() -> None:
            conn, _ = web.accept()
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

        t = threading.Thread(target=answer, daemon=True)
        t.start()
        outcome, text = netchecks.ssh_banner("127.0.0.1", web.getsockname()[1], 2)
        t.join(5)
    assert outcome == "no-banner" and "not an SSH server" in text and "HTTP/1.1 400" in text


# -- the campus lab: off campus, no VPN, via auto -------------------------------------------


@pytest.mark.campus
def test_off_campus_without_vpn_auto_takes_the_tunnel(campus, fake_home, tmp_path):
    from tests.integration.labprograms import program

    if campus.vpn_is_up():
        campus.vpn_down()
    hosts = campus.write_hosts("auto", path=tmp_path / "hosts.yaml")
    env = {"HOME": str(fake_home), "PYTHONPATH": str(REPO), "PATH": os.environ["PATH"]}
    before = campus.login_count()
    start = time.monotonic()
    proc = campus.home([sys.executable, program("doctor_json.py"), str(hosts)], env=env, cwd=tmp_path, timeout=120)
    took = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    checks = [Check(**d) for d in json.loads(proc.stdout)]
    c = by_name(checks)
    assert c["direct reach"].result == "warn", render_table(checks)
    assert f"{campus.server_ip}:" in c["direct reach"].detail and "did not answer" in c["direct reach"].detail
    assert "--via tunnel" in c["direct reach"].fix and f"sudo openconnect {campus.gateway}" in c["direct reach"].fix
    assert c["forwarding"].result == "ok"
    assert c["vpn"].result == "warn" and "not needed: via auto falls back to the tunnel" in c["vpn"].detail
    assert {c[n].result for n in ORDER[:8]} == {"ok"}, render_table(checks)
    assert exit_code(checks) == 0
    assert campus.login_count() - before == 1
    assert took < 60, took
