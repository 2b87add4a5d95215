"""init's keys: discovery in OpenSSH's order, creation, public lines; the key install script run with sh."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from sockdeploy.errors import UsageError
from sockdeploy.init import keys
from sockdeploy.ssh.command import wrap_script
from sockdeploy.ssh.keyinstall import INSTALL_KEY_SCRIPT


def test_find_keys_in_openssh_order_only_under_home(home):
    ssh = home / ".ssh"
    ssh.mkdir()
    assert keys.find_keys() == []
    for name in ("id_rsa", "id_ed25519", "id_dsa", "other"):
        (ssh / name).write_text("x")
    assert keys.find_keys() == [ssh / "id_ed25519", ssh / "id_rsa"]


@pytest.mark.parametrize("with_keygen", [True, False], ids=["ssh-keygen", "cryptography"])
def test_create_key_modes_format_and_public_line(home, monkeypatch, with_keygen):
    if with_keygen and not shutil.which("ssh-keygen"):
        pytest.skip("ssh-keygen is not installed")
    if not with_keygen:
        monkeypatch.setattr(keys.shutil, "which", lambda name: None)
    key = home / ".ssh" / "id_ed25519"
    pub = keys.create_key(key, comment="me@pi (sockdeploy)")
    assert pub == home / ".ssh" / "id_ed25519.pub"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(pub.stat().st_mode) == 0o644
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    line = keys.public_key_line(key)
    assert line.startswith("ssh-ed25519 ") and line.endswith(" me@pi (sockdeploy)")
    # the private key really is the .pub's partner
    from cryptography.hazmat.primitives import serialization

    derived = serialization.load_ssh_private_key(key.read_bytes(), None).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    assert line.split()[:2] == derived.split()
    if shutil.which("ssh-keygen"):  # OpenSSH reads the file, whoever wrote it
        out = subprocess.run(["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True, check=True).stdout
        assert out.split()[:2] == line.split()[:2]


def test_create_key_never_overwrites(home):
    key = home / ".ssh" / "id_ed25519"
    key.parent.mkdir()
    key.write_text("someone's login")
    with pytest.raises(UsageError, match="already exists") as info:
        keys.create_key(key)
    assert "--identity" in (info.value.hint or "")
    assert key.read_text() == "someone's login"


def test_public_line_derived_when_pub_is_missing(home):
    key = home / "k"
    keys.create_key(key, comment="c")
    expected = keys.public_key_line(key).split()[:2]
    Path(str(key) + ".pub").unlink()
    assert keys.public_key_line(key).split()[:2] == expected


def _install(home: Path, line: str) -> subprocess.CompletedProcess:
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(wrap_script(INSTALL_KEY_SCRIPT), shell=True, input=line + "\n", env=env,
                          capture_output=True, text=True, cwd="/")


def test_install_script_adds_once_with_safe_modes(tmp_path):
    home = tmp_path / "remote-home"
    home.mkdir()
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1xyz me@pi ; rm -rf ~ $(reboot) `id`"
    done = _install(home, key)
    assert done.returncode == 0 and done.stdout.strip() == "added", done.stderr
    ak = home / ".ssh" / "authorized_keys"
    assert stat.S_IMODE((home / ".ssh").stat().st_mode) == 0o700
    assert stat.S_IMODE(ak.stat().st_mode) == 0o600
    assert ak.read_text() == key + "\n"
    # the same key with another comment is already there
    assert _install(home, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1xyz other").stdout.strip() == "present"
    assert ak.read_text() == key + "\n"


def test_install_script_keeps_existing_lines_and_modes(tmp_path):
    home = tmp_path / "remote-home"
    (home / ".ssh").mkdir(parents=True, mode=0o755)
    (home / ".ssh").chmod(0o755)
    ak = home / ".ssh" / "authorized_keys"
    ak.write_text("ssh-rsa AAAAold old@host")  # no final newline
    ak.chmod(0o644)
    assert _install(home, "ssh-ed25519 AAAAnew new@pi").stdout.strip() == "added"
    assert ak.read_text() == "ssh-rsa AAAAold old@host\nssh-ed25519 AAAAnew new@pi\n"
    assert stat.S_IMODE(ak.stat().st_mode) == 0o644 and stat.S_IMODE((home / ".ssh").stat().st_mode) == 0o755
    # a key whose blob is only part of another line's text is not "present"
    assert _install(home, "ssh-ed25519 AAAA other").stdout.strip() == "added"
