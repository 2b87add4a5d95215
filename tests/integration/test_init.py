"""`sockdeploy init` end to end: the file it writes is one `sockdeploy doctor` accepts against a real sshd.

The last test (root: the lab makes a user with a password) creates a key, installs it
with one password login typed on a terminal, and proves a second login needs only the key.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator

import pytest

from sockdeploy.spec.hosts import parse_config
from tests.conftest import REPO, drive_pty, unavailable

if TYPE_CHECKING:
    from sockdeploy.lab.loopback import LoopbackLab

pytestmark = pytest.mark.integration


def _env(home: Path) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSH_", "XDG_CONFIG"))}
    env.update(HOME=str(home), PYTHONPATH=str(REPO), TERM="dumb")
    return env


def _trust_lab(lab, home: Path) -> None:
    """Put the lab's host key where a first-time user's would be: ~/.ssh/known_hosts."""
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    shutil.copy(lab.known_hosts, ssh / "known_hosts")


def _lab_flags(lab) -> list:
    return ["--host", "localhost", "--ssh-port", str(lab.port), "--user", lab.user, "--via", "direct"]


def test_flags_write_a_file_the_doctor_accepts(cli, clean_lab, fake_home, tmp_path):
    _trust_lab(clean_lab, fake_home)
    out = tmp_path / "cfg" / "hosts.yaml"
    before = clean_lab.login_count()
    res = cli("init", *_lab_flags(clean_lab), "--identity", str(clean_lab.identity), "--member", "Ada Lovelace",
              "--member", "Alan Turing", "--out", str(out), "--yes")
    assert res.code == 0, res.stderr
    assert f"wrote {out}" in res.stderr
    assert "login" in res.stdout and "FAIL" not in res.stdout, res.stdout  # the doctor's table
    assert clean_lab.login_count() - before == 1, "init's doctor logs in once"
    cfg = parse_config(out)
    assert (cfg.server.host, cfg.server.port, cfg.server.user, cfg.server.identity) == (
        "localhost", clean_lab.port, clean_lab.user, str(clean_lab.identity))
    assert cfg.network.via == "direct" and cfg.group == ("Ada Lovelace", "Alan Turing")
    assert "Traceback" not in res.stderr
    # the file stands on its own
    res = cli("doctor", "--hosts", str(out))
    assert res.code == 0, res.stdout + res.stderr


def test_scripted_answers_on_stdin(clean_lab, fake_home, tmp_path):
    _trust_lab(clean_lab, fake_home)
    out = tmp_path / "hosts.yaml"
    # host, user, key (a path typed at the menu), install it? no, via, members
    answers = f"localhost\n{clean_lab.user}\n{clean_lab.identity}\nno\ndirect\nAda Lovelace, Alan Turing\n"
    proc = subprocess.run([sys.executable, "-m", "sockdeploy", "init", "--ssh-port", str(clean_lab.port), "--out", str(out)],
                          input=answers, env=_env(fake_home), cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    for question in ("Login host [shell.cec.wustl.edu]: localhost", "User name on localhost [", "Key to log in with:",
                     "Install the key on localhost now", "(auto, direct, vpn, tunnel)? [auto]: direct", "Group members"):
        assert question in proc.stderr, proc.stderr
    cfg = parse_config(out)
    assert (cfg.server.host, cfg.server.user, cfg.server.identity, cfg.network.via, cfg.group) == (
        "localhost", clean_lab.user, str(clean_lab.identity), "direct", ("Ada Lovelace", "Alan Turing"))
    assert "FAIL" not in proc.stdout


def test_questions_on_a_terminal(clean_lab, fake_home, tmp_path):
    _trust_lab(clean_lab, fake_home)
    out = tmp_path / "hosts.yaml"
    argv = [sys.executable, "-m", "sockdeploy", "init", "--ssh-port", str(clean_lab.port), "--out", str(out)]
    replies = [("Login host [shell.cec.wustl.edu]: ", lambda: "localhost"),
               ("User name on localhost [", lambda: clean_lab.user),
               ("Number or path [1]: ", lambda: str(clean_lab.identity)),  # 1) would create a key: none exists
               ("like ssh-copy-id)? [no]: ", lambda: ""),
               ("(auto, direct, vpn, tunnel)? [auto]: ", lambda: "direct"),
               ("(empty: none) []: ", lambda: "Ada Lovelace")]
    code, screen = drive_pty(argv, _env(fake_home), tmp_path, replies)
    assert code == 0, screen
    assert "1) create a new key" in screen and "2) none" in screen
    assert "Traceback" not in screen and "FAIL" not in screen
    cfg = parse_config(out)
    assert (cfg.server.host, cfg.server.user, cfg.server.identity, cfg.network.via, cfg.group) == (
        "localhost", clean_lab.user, str(clean_lab.identity), "direct", ("Ada Lovelace",))
    assert not (fake_home / ".ssh" / "id_ed25519").exists()


def test_end_of_input_takes_the_defaults_and_creates_nothing(cli, fake_home, tmp_path):
    res = cli("init", "--out", "hosts.yaml", "--no-doctor")  # stdin is /dev/null
    assert res.code == 0, res.stderr
    cfg = parse_config(tmp_path / "hosts.yaml")
    assert cfg.server.host == "shell.cec.wustl.edu" and cfg.server.user and cfg.server.identity is None
    assert cfg.network.via == "auto" and cfg.group == ()
    assert not (fake_home / ".ssh").exists(), "no key is made without a person asking for it"


def test_refuses_to_overwrite_without_force(cli, tmp_path):
    out = tmp_path / "hosts.yaml"
    out.write_text("# mine\n")
    res = cli("init", "--user", "jdoe", "--out", str(out), "--no-doctor", "--yes")
    assert res.code == 2
    assert f"{out} already exists; not overwriting it" in res.stderr and "--force" in res.stderr
    assert out.read_text() == "# mine\n"
    res = cli("init", "--user", "jdoe", "--out", str(out), "--no-doctor", "--yes", "--force")
    assert res.code == 0, res.stderr
    assert parse_config(out).server.user == "jdoe"


def test_doctor_failure_keeps_the_file(cli, fake_home, tmp_path):
    from sockdeploy.lab.loopback import free_loopback_port

    out = tmp_path / "hosts.yaml"
    res = cli("init", "--host", "127.0.0.1", "--ssh-port", str(free_loopback_port()), "--user", "jdoe", "--via", "direct",
              "--out", str(out), "--yes")
    assert res.code == 3, res.stdout + res.stderr  # the ssh port check fails: nothing listens there
    assert "FAIL" in res.stdout and f"{out} is kept" in res.stderr
    assert parse_config(out).server.host == "127.0.0.1"


def test_accept_new_stores_the_host_key_before_the_doctor(cli, clean_lab, fake_home, tmp_path):
    out = tmp_path / "hosts.yaml"
    before = clean_lab.login_count()
    res = cli("init", *_lab_flags(clean_lab), "--identity", str(clean_lab.identity), "--out", str(out), "--yes")
    assert res.code == 3 and "unknown host key" in res.stdout, "without --accept-new the doctor refuses the unknown key"
    assert not (fake_home / ".ssh" / "known_hosts").exists()
    res = cli("init", *_lab_flags(clean_lab), "--identity", str(clean_lab.identity), "--out", str(out), "--yes",
              "--accept-new", "--force")
    assert res.code == 0, res.stdout + res.stderr
    # stored for that name (hashed when the ssh config says HashKnownHosts, as Debian's does): ssh-keygen finds it
    found = subprocess.run(["ssh-keygen", "-F", f"[localhost]:{clean_lab.port}", "-f", str(fake_home / ".ssh" / "known_hosts")],
                           capture_output=True, text=True)
    assert found.returncode == 0 and "ssh-ed25519" in found.stdout
    assert clean_lab.login_count() - before == 1, "storing the host key sends no credential; only the doctor logs in"


# -- root: a password-only login host, and ssh-copy-id ------------------------------------------


@pytest.fixture(scope="module")
def labpw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackLab]:
    from sockdeploy.lab.loopback import LoopbackLab

    if os.geteuid() != 0:
        unavailable("the password lab needs root")
    with LoopbackLab(tmp_path_factory.mktemp("labpw"), auth="password", auth_user="sdlabpw") as running:
        yield running


@pytest.mark.campus
def test_create_and_install_a_key_with_one_password_login(labpw, fake_home, tmp_path, cli, monkeypatch):
    import pwd

    out = tmp_path / "hosts.yaml"
    prompt = f"{labpw.user}@localhost's password: "
    argv = [sys.executable, "-m", "sockdeploy", "init", *_lab_flags(labpw), "--create-key", "--install-key",
            "--member", "Ada Lovelace", "--out", str(out), "--accept-new", "--yes"]
    before = labpw.login_count()
    code, screen = drive_pty(argv, _env(fake_home), tmp_path, [(prompt, lambda: labpw.password)])
    assert code == 0, screen
    assert screen.count(prompt) == 1, screen
    assert "Traceback" not in screen
    key = fake_home / ".ssh" / "id_ed25519"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    pub = Path(str(key) + ".pub").read_text().strip()
    # one password login installs the key, then the doctor logs in with the key alone
    log = labpw.log_file.read_text()
    assert log.count(f"Accepted password for {labpw.user}") == 1
    assert f"Accepted publickey for {labpw.user}" in log
    assert labpw.login_count() - before == 2
    home = Path(pwd.getpwnam(labpw.user).pw_dir)
    ak = home / ".ssh" / "authorized_keys"
    assert ak.read_text() == pub + "\n"
    assert stat.S_IMODE((home / ".ssh").stat().st_mode) == 0o700 and stat.S_IMODE(ak.stat().st_mode) == 0o600
    assert ak.stat().st_uid == pwd.getpwnam(labpw.user).pw_uid
    assert "  identity: ~/.ssh/id_ed25519\n" in out.read_text()
    monkeypatch.setenv("HOME", str(fake_home))  # the file names the key under the person's home
    cfg = parse_config(out)
    assert cfg.server.identity == str(key) and cfg.group == ("Ada Lovelace",)
    # the password is used once and kept nowhere
    for f in list(fake_home.rglob("*")) + [out]:
        if f.is_file():
            assert labpw.password not in f.read_text(errors="replace"), f
    assert labpw.password not in screen

    # a second login without any terminal: the key alone is enough
    res = cli("doctor", "--hosts", str(out))
    assert res.code == 0, res.stdout + res.stderr
    # installing again asks nothing and adds nothing
    res = cli("init", *_lab_flags(labpw), "--identity", str(key), "--install-key", "--out", str(out), "--force",
              "--no-doctor", "--yes")
    assert res.code == 0, res.stderr
    assert "already in ~/.ssh/authorized_keys" in res.stderr
    assert ak.read_text() == pub + "\n"
    assert labpw.log_file.read_text().count(f"Accepted password for {labpw.user}") == 1


@pytest.mark.campus
def test_install_without_a_terminal_names_the_method(labpw, cli, fake_home, tmp_path):
    out = tmp_path / "hosts.yaml"
    res = cli("init", *_lab_flags(labpw), "--create-key", "--install-key", "--out", str(out), "--accept-new", "--yes")
    assert res.code == 3, res.stderr
    assert "asks for password answers" in res.stderr and "no terminal" in res.stderr
    assert not out.exists(), "no file for a key that is not installed"
    assert (fake_home / ".ssh" / "id_ed25519").is_file(), "the new key stays, to install with --identity"
