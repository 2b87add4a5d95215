"""Logins as OpenSSH does them: ssh config, agent, ProxyJump, passphrase-protected keys."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, drive_pty

pytestmark = pytest.mark.integration


def _hosts(lab, path: Path, **changes: str) -> Path:
    text = lab.hosts_file.read_text()
    for old, new in changes.items():
        text = text.replace(old, new)
    path.write_text(text)
    return path


def _drop_line(text: str, prefix: str) -> str:
    return "".join(line for line in text.splitlines(True) if not line.strip().startswith(prefix))


def test_ssh_config_alias_supplies_hostname_user_port_identity(cli, clean_lab, fake_home, tmp_path):
    ssh = fake_home / ".ssh"
    ssh.mkdir(mode=0o700)
    (ssh / "config").write_text(
        f"Host studio\n  HostName localhost\n  Port {clean_lab.port}\n  User {clean_lab.user}\n"
        f"  IdentityFile {clean_lab.identity}\n")
    text = clean_lab.hosts_file.read_text()
    for key in ("  port:", "  user:", "  identity:", "  ssh_config:"):
        text = _drop_line(text, key.strip())
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(text.replace("host: localhost", "host: studio"))
    before = clean_lab.login_count()
    res = cli("run", "ex6", "--hosts", str(hosts), "--out", "runs", "--json")
    assert res.code == 0, res.stderr
    record = res.json()
    # {host} is the real name from HostName, which the client can resolve; the alias is not
    assert record["clients"][0]["command"].startswith("./client localhost ")
    assert clean_lab.login_count() - before == 1


@pytest.fixture
def agent_env(tmp_path):
    """A real ssh-agent of the test's own; yields the environment that points at it."""
    agent_sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(agent_sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if agent_sock.exists():
                break
            time.sleep(0.1)
        yield {"SSH_AUTH_SOCK": str(agent_sock)}
    finally:
        agent.terminate()
        agent.wait()


def test_agent_login(cli, clean_lab, tmp_path, agent_env):
    env = agent_env
    subprocess.run(["ssh-add", str(clean_lab.identity)], env=dict(os.environ, **env), check=True, capture_output=True)
    text = _drop_line(clean_lab.hosts_file.read_text(), "identity:").replace("agent: false", "agent: true")
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(text)
    res = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs", env=env)
    assert res.code == 0, res.stderr
    # without the agent the same file cannot log in
    res = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs")
    assert res.code == 3 and "no key was accepted" in res.stderr


def test_proxyjump_checks_the_jump_hosts_key_too(cli, clean_lab, fake_home, tmp_path):
    ssh = fake_home / ".ssh"
    ssh.mkdir(mode=0o700)
    (ssh / "config").write_text(
        f"Host jump\n  HostName 127.0.0.1\n  Port {clean_lab.port}\n  User {clean_lab.user}\n"
        f"  IdentityFile {clean_lab.identity}\n"
        f"Host behind\n  HostName localhost\n  ProxyJump jump\n")
    text = _drop_line(clean_lab.hosts_file.read_text(), "ssh_config:")
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(text.replace("host: localhost", "host: behind"))
    before = clean_lab.login_count()
    res = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs", "--json")
    assert res.code == 0, res.stderr
    assert clean_lab.login_count() - before == 2, "one login to the jump host, one to the server"
    # a jump host whose key is unknown is refused like any other
    kh = tmp_path / "kh"
    kh.write_text("".join(line for line in clean_lab.known_hosts.read_text().splitlines(True)
                          if not line.startswith("[127.0.0.1]")))
    hosts.write_text(hosts.read_text().replace(str(clean_lab.known_hosts), str(kh)))
    before = clean_lab.login_count()
    res = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs")
    assert res.code == 3, res.stderr
    assert "unknown host key for [127.0.0.1]" in res.stderr
    assert clean_lab.login_count() == before


@pytest.fixture
def locked_key(clean_lab, tmp_path):
    key = tmp_path / "locked_key"
    shutil.copy(clean_lab.identity, key)
    os.chmod(key, 0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", "open sesame", "-f", str(key)], check=True)
    return key


def test_passphrase_key_without_terminal_is_a_clear_error(cli, clean_lab, locked_key, tmp_path):
    hosts = _hosts(clean_lab, tmp_path / "hosts.yaml", **{str(clean_lab.identity): str(locked_key)})
    res = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs")
    assert res.code == 3
    assert "needs its passphrase; no terminal to ask" in res.stderr and "ssh-add" in res.stderr
    assert "Traceback" not in res.stderr


def test_passphrase_asked_once_on_a_terminal(clean_lab, locked_key, tmp_path, fake_home):
    hosts = _hosts(clean_lab, tmp_path / "hosts.yaml", **{str(clean_lab.identity): str(locked_key)})
    env = {"HOME": str(fake_home), "PYTHONPATH": str(REPO), "PATH": os.environ["PATH"], "TERM": "dumb"}
    code, screen = drive_pty([sys.executable, "-m", "sockdeploy", "run", "ex5", "--hosts", str(hosts), "--out", "runs"],
                             env, tmp_path, [(f"Enter passphrase for key '{locked_key}': ", lambda: "open sesame")])
    assert code == 0, screen
    assert screen.count("Enter passphrase") == 1
    assert "open sesame" not in screen
    for f in (tmp_path / "runs").rglob("*"):
        if f.is_file():
            assert "open sesame" not in f.read_text(errors="replace")


@pytest.mark.parametrize("answer, expected", [("yes", 0), ("no", 3)])
def test_unknown_host_key_is_asked_about_on_a_terminal(clean_lab, tmp_path, fake_home, answer, expected):
    kh = tmp_path / "known_hosts"
    hosts = _hosts(clean_lab, tmp_path / "hosts.yaml", **{str(clean_lab.known_hosts): str(kh)})
    env = {"HOME": str(fake_home), "PYTHONPATH": str(REPO), "PATH": os.environ["PATH"], "TERM": "dumb"}
    before = clean_lab.login_count()
    code, screen = drive_pty([sys.executable, "-m", "sockdeploy", "run", "ex5", "--hosts", str(hosts), "--out", "runs"],
                             env, tmp_path, [("[yes/no] ", lambda: answer)])
    assert code == expected, screen
    fp = subprocess.run(["ssh-keygen", "-lf", str(clean_lab.host_key.with_suffix(".pub"))],
                        capture_output=True, text=True).stdout.split()[1]
    assert "can't be established" in screen and fp in screen
    if answer == "yes":
        assert f"[localhost]:{clean_lab.port} ssh-ed25519" in kh.read_text()
        assert clean_lab.login_count() - before == 1
    else:
        assert not kh.exists() and clean_lab.login_count() == before


def test_known_hosts_markers_as_openssh_reads_them(cli, tmp_path, clean_lab):
    """@cert-authority lines are skipped; a key marked @revoked is refused, even with --accept-new."""
    pub = " ".join(clean_lab.host_key.with_suffix(".pub").read_text().split()[:2])
    kh = tmp_path / "kh"
    kh.write_text(f"@cert-authority *.example {pub}\n" + clean_lab.known_hosts.read_text())
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(clean_lab.hosts_file.read_text().replace(str(clean_lab.known_hosts), str(kh)))
    ok = cli("run", "ex5", "--hosts", str(hosts), "--via", "tunnel", "--out", "runs")
    assert ok.code == 0, ok.stderr
    kh.write_text(f"@revoked * {pub}\n" + clean_lab.known_hosts.read_text())
    before = clean_lab.login_count()
    refused = cli("run", "ex5", "--hosts", str(hosts), "--via", "tunnel", "--out", "runs2", "--accept-new", "--json")
    assert refused.code == 3, refused.stderr
    assert "is marked @revoked at" in refused.stderr and "Traceback" not in refused.stderr
    assert refused.json()["ok"] is False
    assert clean_lab.login_count() == before


def test_a_crowded_agent_does_not_use_up_max_auth_tries(cli, clean_lab, tmp_path, agent_env):
    """Seven other keys in the agent: OpenSSH with IdentityFile+IdentitiesOnly logs in, and so does sockdeploy."""
    env = agent_env
    for i in range(7):
        key = tmp_path / f"other{i}"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        subprocess.run(["ssh-add", "-q", str(key)], env=dict(os.environ, **env), check=True, capture_output=True)
    # what OpenSSH does with the same keys: the agent's seven first would hit MaxAuthTries 6 ...
    base = ["ssh", "-F", "/dev/null", "-p", str(clean_lab.port), "-o", f"UserKnownHostsFile={clean_lab.known_hosts}",
            "-o", "BatchMode=yes", "-l", clean_lab.user]
    crowded = subprocess.run(base + ["-i", str(clean_lab.identity), "localhost", "true"],
                             env=dict(os.environ, **env), capture_output=True, text=True, timeout=30)
    only = subprocess.run(base + ["-o", "IdentitiesOnly=yes", "-i", str(clean_lab.identity), "localhost", "true"],
                          env=dict(os.environ, **env), capture_output=True, text=True, timeout=30)
    assert only.returncode == 0, only.stderr
    # ... sockdeploy offers the key hosts.yaml names first, then the agent's: it logs in either way
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(clean_lab.hosts_file.read_text().replace("agent: false", "agent: true"))
    res = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs", "-v", env=env)
    assert res.code == 0, res.stderr + f"\n(ssh without IdentitiesOnly: exit {crowded.returncode})"
    assert f"with publickey ({clean_lab.identity}, ssh-ed25519 SHA256:" in res.stderr


@pytest.mark.parametrize("mode", ["accept-new", "yes"])
def test_host_keys_as_the_users_ssh_config_says(cli, clean_lab, fake_home, tmp_path, mode):
    """StrictHostKeyChecking, UserKnownHostsFile and HashKnownHosts from ~/.ssh/config, compared with OpenSSH's ssh."""
    ssh = fake_home / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    kh = fake_home / "course_known_hosts"
    (ssh / "config").write_text(f"Host localhost\n  StrictHostKeyChecking {mode}\n  UserKnownHostsFile {kh}\n"
                                "  HashKnownHosts yes\n")
    text = _drop_line(_drop_line(clean_lab.hosts_file.read_text(), "ssh_config:"), "known_hosts:")
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(text)
    # OpenSSH's own client with the same config and no terminal: accept-new stores, yes refuses
    openssh = subprocess.run(["ssh", "-F", str(ssh / "config"), "-o", "BatchMode=yes", "-i", str(clean_lab.identity),
                              "-p", str(clean_lab.port), "-l", clean_lab.user, "localhost", "true"],
                             capture_output=True, text=True, timeout=30, env=dict(os.environ, HOME=str(fake_home)))
    stored_by_ssh = kh.read_text() if kh.exists() else ""
    kh.unlink(missing_ok=True)
    res = cli("run", "ex5", "--hosts", str(hosts), "--via", "tunnel", "--out", "runs")
    if mode == "accept-new":
        assert openssh.returncode == 0 and stored_by_ssh.startswith("|1|"), openssh.stderr
        assert res.code == 0, res.stderr
        stored = kh.read_text()
        assert stored.startswith("|1|") and "localhost" not in stored  # hashed, in the file the config names
        found = subprocess.run(["ssh-keygen", "-F", f"[localhost]:{clean_lab.port}", "-f", str(kh)], capture_output=True)
        assert found.returncode == 0
        again = cli("run", "ex5", "--hosts", str(hosts), "--via", "tunnel", "--out", "runs2")
        assert again.code == 0 and kh.read_text() == stored, again.stderr  # trusted, not stored twice
    else:
        assert openssh.returncode != 0 and "Host key verification failed" in openssh.stderr
        assert res.code == 3 and "StrictHostKeyChecking yes" in res.stderr, res.stderr
        assert not kh.exists()
