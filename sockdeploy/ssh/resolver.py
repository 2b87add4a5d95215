"""Resolve a host the way OpenSSH does: `ssh -G` where an ssh client exists, paramiko's parser otherwise.

`ssh -G` applies everything a user's configuration can say (Include, Match,
canonicalisation, /etc/ssh/ssh_config's defaults such as Debian's
HashKnownHosts) without contacting the host, so sockdeploy logs in with
exactly the settings `ssh HOST` would use.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from sockdeploy.errors import ConfigError

GENERATE_TIMEOUT = 10.0
STRICT_MODES = {"yes": "yes", "true": "yes", "no": "no", "false": "no", "off": "no", "ask": "ask", "accept-new": "accept-new"}
_WHERE = re.compile(r"(/[^:\s]+): line (\d+)")


@dataclass(frozen=True)
class SshOptions:
    """The settings OpenSSH would use for one host; `source` says who resolved them."""

    alias: str
    hostname: str
    port: int = 22
    user: Optional[str] = None
    identity_files: Tuple[str, ...] = ()
    identities_configured: bool = False  # IdentityFile came from a config, not OpenSSH's built-in list
    identities_only: bool = False
    identity_agent: Optional[str] = None  # a socket path, "none", or None for $SSH_AUTH_SOCK
    proxy_jump: Optional[str] = None
    user_known_hosts: Tuple[str, ...] = ()
    global_known_hosts: Tuple[str, ...] = ()
    strict_host_key_checking: str = "ask"  # yes | no | ask | accept-new
    hash_known_hosts: bool = False
    server_alive_interval: int = 0
    server_alive_count_max: int = 3
    connect_timeout: Optional[int] = None
    source: str = "ssh -G"
    extra: Dict[str, str] = field(default_factory=dict, compare=False)

    def describe(self) -> List[str]:
        """Lines for -v and doctor: every value that decides how the login goes."""
        return [
            f"{self.alias}: resolved by {self.source}",
            f"  hostname {self.hostname}  port {self.port}  user {self.user or '(local user)'}",
            f"  identityfile {' '.join(self.identity_files) or '(none)'}"
            + ("  (configured)" if self.identities_configured else "  (OpenSSH defaults)"),
            f"  identitiesonly {'yes' if self.identities_only else 'no'}"
            f"  identityagent {self.identity_agent or '$SSH_AUTH_SOCK'}",
            f"  proxyjump {self.proxy_jump or 'none'}",
            f"  userknownhostsfile {' '.join(self.user_known_hosts)}",
            f"  stricthostkeychecking {self.strict_host_key_checking}  hashknownhosts {'yes' if self.hash_known_hosts else 'no'}",
            f"  serveraliveinterval {self.server_alive_interval}  serveralivecountmax {self.server_alive_count_max}"
            f"  connecttimeout {self.connect_timeout if self.connect_timeout is not None else 'none'}",
        ]


def _passwd_home() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_dir.rstrip("/")
    except KeyError:
        return ""


def _expand(path: str, home: Path) -> str:
    """Expand ~ to HOME; ssh expands it to the passwd entry's folder, which may differ from $HOME."""
    if path.startswith("~/"):
        return str(home / path[2:])
    passwd = _passwd_home()
    if passwd and passwd != str(home).rstrip("/") and path.startswith(passwd + "/"):
        return str(home) + path[len(passwd):]
    return path


def _generate(alias: str, config: Optional[Path], user: Optional[str], port: Optional[int],
              home: Optional[Path] = None) -> Dict[str, List[str]]:
    ssh = shutil.which("ssh")
    if ssh is None:
        raise FileNotFoundError("ssh")
    argv = [ssh, "-G"]
    with tempfile.TemporaryDirectory(prefix="sockdeploy-ssh-") as scratch:
        if config is None:
            # ssh finds ~/.ssh/config through the passwd entry, not $HOME: name the files it would read
            # (the user's, then the system's, in ssh's order) so a $HOME of its own is honoured.
            config = Path(scratch) / "config"
            config.write_text(f'Include "{home or Path.home()}/.ssh/config"\nInclude /etc/ssh/ssh_config\n')
        argv += ["-F", str(config)]
        return _run_generate(argv, alias, config, user, port)


def _run_generate(argv: List[str], alias: str, config: Path, user: Optional[str], port: Optional[int]) -> Dict[str, List[str]]:
    if user:
        argv += ["-l", user]
    if port:
        argv += ["-p", str(port)]
    argv += ["--", alias]
    res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=GENERATE_TIMEOUT)
    if res.returncode != 0:
        message = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"ssh -G exited {res.returncode}"
        found = _WHERE.search(res.stderr)
        where = f"{found.group(1)}:{found.group(2)}" if found else str(config)
        raise ConfigError(f"OpenSSH cannot read the configuration for {alias!r}: {message}",
                          f"run `ssh -G {alias}` to see the problem, then fix {where}", where=where)
    values: Dict[str, List[str]] = {}
    for raw in res.stdout.splitlines():
        key, _, value = raw.partition(" ")
        values.setdefault(key.lower(), []).append(value.strip())
    return values


@lru_cache(maxsize=4)
def _default_identities(home: str) -> Tuple[str, ...]:
    """OpenSSH's built-in IdentityFile list (what -G prints when no config names one)."""
    try:
        values = _generate("sockdeploy-defaults.invalid", Path(os.devnull), None, None)
    except (FileNotFoundError, ConfigError, subprocess.TimeoutExpired):
        return ()
    return tuple(values.get("identityfile", []))


def _first(values: Dict[str, List[str]], key: str, default: str = "") -> str:
    found = values.get(key)
    return found[0] if found else default


def _optional(value: str) -> Optional[str]:
    return None if value in ("", "none") else value


def from_openssh(alias: str, config: Optional[Path] = None, *, user: Optional[str] = None,
                 port: Optional[int] = None, home: Optional[Path] = None) -> SshOptions:
    """Resolve ALIAS with `ssh -G` (CONFIG replaces ~/.ssh/config and /etc/ssh/ssh_config, as with `ssh -F`)."""
    home = home or Path.home()
    values = _generate(alias, config, user, port, home)
    identities = tuple(values.get("identityfile", []))
    timeout = _first(values, "connecttimeout", "none")
    return SshOptions(
        alias=alias, hostname=_first(values, "hostname", alias), port=int(_first(values, "port", "22")),
        user=_optional(_first(values, "user")),
        identity_files=tuple(_expand(p, home) for p in identities),
        identities_configured=identities != _default_identities(str(home)),
        identities_only=_first(values, "identitiesonly", "no") == "yes",
        identity_agent=_optional(_first(values, "identityagent")) if "identityagent" in values else None,
        proxy_jump=_optional(_first(values, "proxyjump")),
        user_known_hosts=tuple(_expand(p, home) for p in _first(values, "userknownhostsfile").split()),
        global_known_hosts=tuple(_first(values, "globalknownhostsfile").split()),
        strict_host_key_checking=STRICT_MODES.get(_first(values, "stricthostkeychecking", "ask"), "ask"),
        hash_known_hosts=_first(values, "hashknownhosts", "no") == "yes",
        server_alive_interval=int(_first(values, "serveraliveinterval", "0")),
        server_alive_count_max=int(_first(values, "serveralivecountmax", "3")),
        connect_timeout=None if timeout == "none" else int(timeout),
        source="ssh -G", extra={k: v[0] for k, v in values.items()})


def from_paramiko(alias: str, config: Optional[Path] = None, *, user: Optional[str] = None,
                  port: Optional[int] = None, home: Optional[Path] = None) -> SshOptions:
    """Resolve ALIAS with paramiko's ssh_config parser (no Include glob edge cases, no Match exec)."""
    import paramiko

    home = home or Path.home()
    path = config if config is not None else home / ".ssh" / "config"
    found: Dict[str, object] = {}
    if path != Path(os.devnull) and path.is_file():
        found = dict(paramiko.SSHConfig.from_path(str(path)).lookup(alias))
    listed = found.get("identityfile")
    identities = [str(p) for p in listed] if isinstance(listed, list) else []
    known = str(found.get("userknownhostsfile", "~/.ssh/known_hosts ~/.ssh/known_hosts2"))
    return SshOptions(
        alias=alias, hostname=str(found.get("hostname", alias)), port=int(str(port or found.get("port", 22))),
        user=user or (str(found["user"]) if "user" in found else None),
        identity_files=tuple(_expand(p, home) for p in identities), identities_configured=bool(identities),
        identities_only=str(found.get("identitiesonly", "no")).lower() == "yes",
        identity_agent=str(found["identityagent"]) if "identityagent" in found else None,
        proxy_jump=_optional(str(found.get("proxyjump", ""))),
        user_known_hosts=tuple(_expand(p, home) for p in known.split()),
        global_known_hosts=("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"),
        strict_host_key_checking=STRICT_MODES.get(str(found.get("stricthostkeychecking", "ask")).lower(), "ask"),
        hash_known_hosts=str(found.get("hashknownhosts", "no")).lower() == "yes",
        server_alive_interval=int(str(found.get("serveraliveinterval", 0))),
        server_alive_count_max=int(str(found.get("serveralivecountmax", 3))),
        connect_timeout=int(str(found["connecttimeout"])) if "connecttimeout" in found else None,
        source="paramiko (no ssh client installed)")


def resolve(alias: str, config: Optional[Path] = None, *, user: Optional[str] = None,
            port: Optional[int] = None, home: Optional[Path] = None) -> SshOptions:
    """Resolve ALIAS as `ssh` would; USER and PORT (from hosts.yaml) win over the configuration."""
    try:
        return from_openssh(alias, config, user=user, port=port, home=home)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return from_paramiko(alias, config, user=user, port=port, home=home)
