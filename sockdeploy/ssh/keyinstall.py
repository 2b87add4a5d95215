"""First-time setup (sockdeploy init): trust the host key, install a public key in ~/.ssh/authorized_keys like ssh-copy-id."""

from __future__ import annotations

from typing import Optional

from sockdeploy.errors import RemoteError, UsageError
from sockdeploy.remote.host import Host
from sockdeploy.remote.scripts import load
from sockdeploy.spec.hosts import ServerConfig
from sockdeploy.ssh.terminal import Confirm, Prompt

# Reads the key line from stdin; nothing is interpolated into it.
INSTALL_KEY_SCRIPT = load("install_key.sh")
TIMEOUT = 60


def key_line(public_key: str) -> str:
    """Return the one line of `public_key`; raise UsageError when it is not a public key line."""
    line = public_key.strip()
    if not line or "\n" in line or len(line.split()) < 2:
        raise UsageError(f"not a public key line: {line[:40]!r}",
                         "a public key is one line: TYPE BASE64 [COMMENT] (the .pub file)")
    return line


def install_key(host: Host, public_key: str) -> bool:
    """Append `public_key` to ~/.ssh/authorized_keys on `host` unless it is there; return whether it was added.

    ~/.ssh is created 0700 and authorized_keys 0600 when missing; existing ones
    keep their modes. The key travels on stdin, never on a command line.
    """
    line = key_line(public_key)
    result = host.run(INSTALL_KEY_SCRIPT, stdin=(line + "\n").encode(), timeout=TIMEOUT)
    status = result.stdout.strip().splitlines()[-1:] or [""]
    if result.exit_status != 0 or status[0] not in ("added", "present"):
        raise RemoteError(f"installing the key on {host.name} failed (exit status {result.exit_status}): "
                          f"{result.stderr.strip() or result.stdout.strip() or 'no output'}",
                          "check that your home directory on the host is writable and not full, then run again")
    return status[0] == "added"


def install_public_key(cfg: ServerConfig, public_key: str, *, accept_new: bool = False, confirm: Optional[Confirm] = None,
                       prompt: Optional[Prompt] = None) -> bool:
    """Log in once (password or keyboard-interactive answers relayed by `prompt`) and install the key; see install_key."""
    from sockdeploy.ssh.session import SshSession  # here: the session module imports this one

    with SshSession(cfg, accept_new=accept_new, confirm=confirm, prompt=prompt) as session:
        return install_key(session, public_key)


def trust_host_key(cfg: ServerConfig, *, accept_new: bool = False, confirm: Optional[Confirm] = None) -> None:
    """Check the host key against known_hosts and store an unknown one if allowed; send no credential."""
    from sockdeploy.ssh.session import SshSession

    session = SshSession(cfg, accept_new=accept_new, confirm=confirm, prompt=None)
    try:
        session.open(login=False)
    finally:
        session.close()
