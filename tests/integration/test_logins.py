"""Logins as OpenSSH does them: ssh config, agent, ProxyJump, passphrase-protected keys."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

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


# -- the OpenSSH parity matrix: each row's config given to `ssh` and to sockdeploy, same outcome --------

COURSE = "Host course\n  HostName localhost\n  Port {port}\n  User {user}\n  IdentityFile {identity}\n"
JUMP = "Host jump\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {identity}\n"
BEHIND = "Host behind\n  HostName localhost\n  Port {port}\n  User {user}\n  IdentityFile {identity}\n  ProxyJump jump\n"


@dataclass(frozen=True)
class Row:
    """~/.ssh/config (MAIN, then `Host *` with UserKnownHostsFile), ~/.ssh/config.d/course (INCLUDED), and the
    starting known_hosts: "key" (the lab's), "none", "changed" (another key), "revoked" (the lab's, also @revoked)."""

    main: str = ""
    included: str = COURSE
    known: str = "key"
    other_agent_keys: int = 0
    host: str = "course"
    logs_in: bool = True
    stores: bool = False  # a new entry (hashed: Debian's ssh_config says HashKnownHosts yes) in the known file


MATRIX = {
    "include+alias": Row(),
    "match": Row(included="Host course\n  HostName localhost\nMatch host localhost\n  Port {port}\n  User {user}\n"
                          "  IdentityFile {identity}\n"),
    "identitiesonly, agent with 7 other keys": Row(included=COURSE + "  IdentitiesOnly yes\n", other_agent_keys=7),
    "agent with 7 other keys first (MaxAuthTries)": Row(other_agent_keys=7, logs_in=False),
    "strict yes, unknown key": Row(main="Host *\n  StrictHostKeyChecking yes\n", known="none", logs_in=False),
    "strict ask, unknown key, no terminal": Row(main="Host *\n  StrictHostKeyChecking ask\n", known="none", logs_in=False),
    "strict accept-new, hashed": Row(main="Host *\n  StrictHostKeyChecking accept-new\n  HashKnownHosts yes\n",
                                     known="none", stores=True),
    "strict yes, changed key": Row(main="Host *\n  StrictHostKeyChecking yes\n", known="changed", logs_in=False),
    "strict ask, changed key": Row(main="Host *\n  StrictHostKeyChecking ask\n", known="changed", logs_in=False),
    "strict accept-new, changed key": Row(main="Host *\n  StrictHostKeyChecking accept-new\n", known="changed",
                                          logs_in=False),
    "userknownhostsfile, key in its second file": Row(
        main="Host *\n  StrictHostKeyChecking accept-new\n  UserKnownHostsFile {home}/first_known_hosts {known}\n"),
    "revoked key": Row(main="Host *\n  StrictHostKeyChecking accept-new\n", known="revoked", logs_in=False),
    "proxyjump through an included alias": Row(main=BEHIND, included=JUMP, host="behind"),
}


def _files(home: Path) -> Dict[str, str]:
    return {p.name: p.read_text() for p in sorted(home.glob("*known_hosts")) if p.is_file()}


def _entries(text: str) -> List[Tuple[bool, str]]:
    """known_hosts lines as (hashed, key): hashed names have a fresh salt each time, so only their form compares."""
    return [(line.startswith("|1|"), line.split()[-1]) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("row", list(MATRIX.values()), ids=list(MATRIX))
def test_logs_in_exactly_when_openssh_does(row, request, cli, clean_lab, fake_home, tmp_path):
    """One config, given to OpenSSH's ssh and to sockdeploy: both log in or both refuse, and keys land alike."""
    ssh = fake_home / ".ssh"
    (ssh / "config.d").mkdir(parents=True, mode=0o700)
    known = fake_home / "known_hosts"
    values = {"port": clean_lab.port, "user": clean_lab.user, "identity": clean_lab.identity, "home": fake_home,
              "known": known}
    (ssh / "config").write_text(f"Include {ssh}/config.d/*\n" + row.main.format(**values)
                                + f"Host *\n  UserKnownHostsFile {known}\n  GlobalKnownHostsFile /dev/null\n")
    (ssh / "config.d" / "course").write_text(row.included.format(**values))
    kind, lab_key = clean_lab.host_key.with_suffix(".pub").read_text().split()[:2]
    assert kind == "ssh-ed25519"  # the changed key below is of the same type, as after a reinstall
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    other_key = (tmp_path / "other.pub").read_text().split()[1]
    start = {"key": clean_lab.known_hosts.read_text(), "none": "",
             "changed": clean_lab.known_hosts.read_text().replace(lab_key, other_key),
             "revoked": f"@revoked * {kind} {lab_key}\n" + clean_lab.known_hosts.read_text()}[row.known]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSH_")}
    env["HOME"] = str(fake_home)
    if row.other_agent_keys:
        env.update(request.getfixturevalue("agent_env"))
        for i in range(row.other_agent_keys):
            key = tmp_path / f"agent{i}"
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
            subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, capture_output=True)

    # OpenSSH's own client reads the same files sockdeploy reads: ~/.ssh/config, then the system's
    both = tmp_path / "openssh_config"
    both.write_text(f"Include {ssh}/config\nInclude /etc/ssh/ssh_config\n")
    known.write_text(start)
    openssh = subprocess.run(["ssh", "-F", str(both), "-o", "BatchMode=yes", row.host, "true"], env=env,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    after_openssh = _files(fake_home)
    for path in fake_home.glob("*known_hosts"):
        path.unlink()
    known.write_text(start)

    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(f"server:\n  host: {row.host}\n  workdir: {clean_lab.workdir}\nnetwork:\n  via: tunnel\n")
    before = clean_lab.login_count()
    res = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs", "-v",
              env={k: v for k, v in env.items() if k.startswith("SSH_")})
    assert (res.code == 0) == (openssh.returncode == 0) == row.logs_in, (
        f"ssh exit {openssh.returncode}: {openssh.stderr}\nsockdeploy exit {res.code}: {res.stderr}")
    if not row.logs_in:
        assert res.code == 3 and "Traceback" not in res.stderr
        assert clean_lab.login_count() == before
    after = _files(fake_home)
    assert after.keys() == after_openssh.keys(), "known_hosts files made where OpenSSH makes them"
    for name, text in after.items():
        assert _entries(text) == _entries(after_openssh[name]), f"{name}: stored as OpenSSH stores"
    assert (after["known_hosts"] != start) == row.stores
    if row.stores:  # stored hashed, found by OpenSSH's own lookup, and trusted by the next run
        found = subprocess.run(["ssh-keygen", "-F", f"[localhost]:{clean_lab.port}", "-f", str(known)], capture_output=True)
        assert found.returncode == 0 and _entries(after["known_hosts"])[-1][0]
        again = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs2")
        assert again.code == 0 and known.read_text() == after["known_hosts"], again.stderr
    if row.host == "behind":  # one login to the jump host, one to the server; -v says what ssh -G gave each
        assert clean_lab.login_count() - before == 2
        assert "jump host jump: resolved by ssh -G" in res.stderr and "proxyjump jump" in res.stderr
    elif row.logs_in:
        assert "config.d/course:1 Host course" in res.stderr or "Match host localhost" in res.stderr
