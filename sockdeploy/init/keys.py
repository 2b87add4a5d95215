"""SSH keys for init: the ones OpenSSH would try, a new ed25519 key, a key's public line."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import List, Optional

from sockdeploy.errors import UsageError

KEY_NAMES = ("id_ed25519", "id_ecdsa", "id_rsa")  # the order OpenSSH (and sockdeploy's session) tries them


def ssh_dir() -> Path:
    """Return ~/.ssh of $HOME (tests point HOME at a fake one)."""
    return Path(os.path.expanduser("~")) / ".ssh"


def find_keys() -> List[Path]:
    """Return the private keys sockdeploy would try by default that exist, in OpenSSH's order."""
    return [p for p in (ssh_dir() / n for n in KEY_NAMES) if p.is_file()]


def default_new_key() -> Path:
    return ssh_dir() / "id_ed25519"


def key_comment() -> str:
    try:
        who = getpass.getuser()
    except Exception:  # no user name in the environment or the password database
        who = "user"
    return f"{who}@{socket.gethostname()} (sockdeploy)"


def create_key(path: Path, comment: Optional[str] = None) -> Path:
    """Create an ed25519 key without a passphrase at `path` (0600) and path.pub (0644); return the .pub path.

    ssh-keygen is used when installed, so the key is exactly what OpenSSH makes;
    otherwise `cryptography` (a paramiko dependency) writes the same format.
    Never overwrites: an existing key is someone's login.
    """
    path = Path(path).expanduser()
    pub = Path(str(path) + ".pub")
    for p in (path, pub):
        if p.exists():
            raise UsageError(f"a key already exists at {p}; not overwriting it",
                             f"use it with --identity {path} (without --create-key), or name another file with --identity")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    comment = comment or key_comment()
    keygen = shutil.which("ssh-keygen")
    if keygen:
        done = subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if done.returncode != 0:
            raise UsageError(f"ssh-keygen could not create {path}: {done.stderr.strip() or done.returncode}",
                             "check that the folder is writable, or name another file with --identity")
    else:
        _create_key_cryptography(path, pub, comment)
    os.chmod(path, 0o600)
    os.chmod(pub, 0o644)
    return pub


def _create_key_cryptography(path: Path, pub: Path, comment: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    # O_EXCL and 0600 from the start: the private key is never readable by others, not even briefly
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private)
    fd = os.open(str(pub), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(public + b" " + comment.encode() + b"\n")


def public_key_line(identity: Path) -> str:
    """Return the one-line public key of a private key file: its .pub, else derived from the key."""
    identity = Path(identity).expanduser()
    pub = Path(str(identity) + ".pub")
    if pub.is_file():
        line = pub.read_text(errors="replace").strip()
        if line and len(line.split()) >= 2 and "\n" not in line:
            return line
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_ssh_private_key(identity.read_bytes(), password=None)
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise UsageError(f"cannot read the public key of {identity}: {exc}",
                         f"write it next to the key: ssh-keygen -y -f {identity} > {pub}") from None
    return public.decode()
