"""install_key.sh, run through LocalHost with a temporary HOME (no SSH)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from sockdeploy.remote.host import CommandResult, LocalHost
from sockdeploy.ssh.keyinstall import INSTALL_KEY_SCRIPT

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZha2VrZXlibG9iZm9ydGVzdHNvbmx5 jdoe@laptop"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    return h


def install(line: str) -> CommandResult:
    # the umask the session's command line sets for every script
    return LocalHost().run("umask 077\n" + INSTALL_KEY_SCRIPT, stdin=(line + "\n").encode(), timeout=30)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_key_is_added_once_with_private_modes(home: Path) -> None:
    res = install(KEY)
    assert (res.exit_status, res.stdout) == (0, "added\n")
    keys = home / ".ssh" / "authorized_keys"
    assert keys.read_text() == KEY + "\n"
    assert mode(home / ".ssh") == 0o700 and mode(keys) == 0o600


def test_a_second_install_is_a_no_op_even_with_another_comment(home: Path) -> None:
    assert install(KEY).stdout == "added\n"
    again = install(KEY)
    assert (again.exit_status, again.stdout) == (0, "present\n")
    other_comment = " ".join(KEY.split()[:2]) + " jdoe@desktop"
    assert install(other_comment).stdout == "present\n"
    assert (home / ".ssh" / "authorized_keys").read_text() == KEY + "\n"


def test_existing_keys_and_modes_are_kept_and_a_missing_newline_is_added(home: Path) -> None:
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o755)
    keys = ssh / "authorized_keys"
    keys.write_text("ssh-rsa AAAAB3other old@key")  # no newline at the end
    keys.chmod(0o644)
    assert install(KEY).stdout == "added\n"
    assert keys.read_text() == "ssh-rsa AAAAB3other old@key\n" + KEY + "\n"
    assert mode(ssh) == 0o755 and mode(keys) == 0o644


@pytest.mark.parametrize("line", ["", "justoneword"])
def test_a_line_that_is_not_a_public_key_fails(home: Path, line: str) -> None:
    res = install(line)
    assert res.exit_status == 1 and res.stdout == ""
    assert not (home / ".ssh").exists()


def install_unprivileged(line: str, home: Path) -> CommandResult:
    """Run the script with HOME=HOME, as nobody when we are root (root writes into read-only folders)."""
    if os.geteuid() != 0:
        return install(line)
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", "-c",
                           "umask 077\n" + INSTALL_KEY_SCRIPT], input=(line + "\n").encode(), capture_output=True,
                          env=env, timeout=30)
    return CommandResult(proc.stdout.decode(), proc.stderr.decode(), proc.returncode)


def test_a_read_only_ssh_folder_fails(home: Path) -> None:
    if os.geteuid() == 0:  # a home nobody can enter (pytest's folders are root's own, mode 0700)
        home = Path(tempfile.mkdtemp(prefix="sockdeploy-ro-"))
        home.chmod(0o755)
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o555)
    try:
        res = install_unprivileged(KEY, home)
    finally:
        ssh.chmod(0o700)
    assert res.exit_status == 1 and "added" not in res.stdout, res.stderr
    assert not (ssh / "authorized_keys").exists()
    if os.geteuid() == 0:
        shutil.rmtree(home)


def test_an_ssh_path_that_is_no_folder_fails(home: Path) -> None:
    (home / ".ssh").write_text("not a folder")
    res = install(KEY)
    assert res.exit_status == 1 and "added" not in res.stdout
    assert (home / ".ssh").read_text() == "not a folder"
