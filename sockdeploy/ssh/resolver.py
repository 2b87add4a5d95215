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
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from sockdeploy.errors import ConfigError

if TYPE_CHECKING:
    from sockdeploy.spec.hosts import ServerConfig

GENERATE_TIMEOUT = 10.0
STRICT_MODES = {"yes": "yes", "true": "yes", "no": "no", "false": "no", "off": "no", "ask": "ask", "accept-new": "accept-new"}
# OpenSSH's built-in IdentityFile list, for the paramiko fallback (ssh -G prints it itself)
OPENSSH_IDENTITIES = ("~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ecdsa_sk", "~/.ssh/id_ed25519",
                      "~/.ssh/id_ed25519_sk", "~/.ssh/id_xmss", "~/.ssh/id_dsa")
_WHERE = re.compile(r"(/[^:\s]+): line (\d+)")
_APPLIED = re.compile(r"^debug1: (.+) line (\d+): Applying options for (.+)$")
_MATCH_CHECK = re.compile(r"^debug2: checking match for '(.*)' host ")
_MATCH_LINE = re.compile(r"^debug3: (.+) line (\d+): matched ")


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
    identity_agent: Optional[str] = None  # a socket path, "none", "$VAR", or None for $SSH_AUTH_SOCK
    proxy_jump: Optional[str] = None
    proxy_command: Optional[str] = None
    user_known_hosts: Tuple[str, ...] = ()
    global_known_hosts: Tuple[str, ...] = ()
    strict_host_key_checking: str = "ask"  # yes | no | ask | accept-new
    hash_known_hosts: bool = False
    server_alive_interval: int = 0
    server_alive_count_max: int = 3
    connect_timeout: Optional[int] = None
    source: str = "ssh -G"
    read: str = ""  # the configuration files consulted, as a person would name them
    applied: Tuple[str, ...] = ()  # the Host and Match blocks that applied: "FILE:LINE Host PATTERN"
    extra: Dict[str, str] = field(default_factory=dict, compare=False)

    def describe(self) -> List[str]:
        """Lines for -v: every value that decides how the login goes."""
        return [
            f"{self.alias}: resolved by {self.source} from {self.read or 'no configuration file'}",
            f"  blocks applied: {'; '.join(self.applied) or 'none'}",
            f"  hostname {self.hostname}  port {self.port}  user {self.user or '(local user)'}",
            f"  identityfile {' '.join(self.identity_files) or '(none)'}"
            + ("  (configured)" if self.identities_configured else "  (OpenSSH defaults)"),
            f"  identitiesonly {'yes' if self.identities_only else 'no'}"
            f"  identityagent {self.identity_agent or '$SSH_AUTH_SOCK'}",
            f"  proxyjump {self.proxy_jump or 'none'}" + (f"  proxycommand {self.proxy_command}" if self.proxy_command else ""),
            f"  userknownhostsfile {' '.join(self.user_known_hosts)}",
            f"  stricthostkeychecking {self.strict_host_key_checking}  hashknownhosts {'yes' if self.hash_known_hosts else 'no'}",
            f"  serveraliveinterval {self.server_alive_interval}  serveralivecountmax {self.server_alive_count_max}"
            f"  connecttimeout {self.connect_timeout if self.connect_timeout is not None else 'none'}",
        ]

    def summary(self) -> str:
        """One line for the doctor: where the settings came from and those that differ from OpenSSH's defaults."""
        said = [f"{self.user or '(local user)'}@{self.hostname}:{self.port}"]
        if self.identities_configured:
            said.append("identityfile " + " ".join(self.identity_files))
        if self.identities_only:
            said.append("identitiesonly yes")
        if self.identity_agent:
            said.append(f"identityagent {self.identity_agent}")
        if self.proxy_jump or self.proxy_command:
            said.append(f"proxyjump {self.proxy_jump}" if self.proxy_jump else f"proxycommand {self.proxy_command}")
        said.append(f"stricthostkeychecking {self.strict_host_key_checking}")
        said.append("userknownhostsfile " + (self.user_known_hosts[0] if self.user_known_hosts else "none")
                    + (" (hashed)" if self.hash_known_hosts else ""))
        if self.server_alive_interval:
            said.append(f"serveraliveinterval {self.server_alive_interval}x{self.server_alive_count_max}")
        if self.connect_timeout is not None:
            said.append(f"connecttimeout {self.connect_timeout}")
        blocks = f"; blocks {', '.join(self.applied)}" if self.applied else "; no Host or Match block applied"
        return f"{self.source} for {self.alias}: {', '.join(said)}{blocks}"


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
              home: Optional[Path] = None) -> Tuple[Dict[str, List[str]], Tuple[str, ...]]:
    """Run `ssh -G` for ALIAS; return its values and the blocks that applied (from its own -vvv account)."""
    ssh = shutil.which("ssh")
    if ssh is None:
        raise FileNotFoundError("ssh")
    argv = [ssh, "-G", "-vvv"]
    with tempfile.TemporaryDirectory(prefix="sockdeploy-ssh-") as scratch:
        if config is None:
            # ssh finds ~/.ssh/config through the passwd entry, not $HOME: name the files it would read
            # (the user's, then the system's, in ssh's order) so a $HOME of its own is honoured.
            config = Path(scratch) / "config"
            config.write_text(f'Include "{home or Path.home()}/.ssh/config"\nInclude /etc/ssh/ssh_config\n')
        argv += ["-F", str(config)]
        return _run_generate(argv, alias, config, user, port)


def _run_generate(argv: List[str], alias: str, config: Path, user: Optional[str],
                  port: Optional[int]) -> Tuple[Dict[str, List[str]], Tuple[str, ...]]:
    if user:
        argv += ["-l", user]
    if port:
        argv += ["-p", str(port)]
    argv += ["--", alias]
    res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=GENERATE_TIMEOUT)
    said = [line for line in res.stderr.splitlines()
            if line.strip() and not line.startswith(("debug", "OpenSSH_", "Pseudo-terminal"))]
    if res.returncode != 0:
        message = said[0] if said else f"ssh -G exited {res.returncode}"  # the problem; a summary follows it
        found = _WHERE.search("\n".join(said))
        where = f"{found.group(1)}:{found.group(2)}" if found else str(config)
        raise ConfigError(f"OpenSSH cannot read the configuration for {alias!r}: {message}",
                          f"run `ssh -G {alias}` to see the problem, then fix {where}", where=where)
    values: Dict[str, List[str]] = {}
    for raw in res.stdout.splitlines():
        key, _, value = raw.partition(" ")
        values.setdefault(key.lower(), []).append(value.strip())
    return values, _applied(res.stderr)


def _applied(debug: str) -> Tuple[str, ...]:
    """The Host and Match blocks ssh's debug account says applied, as "FILE:LINE Host PATTERN"."""
    found: List[str] = []
    criteria: Optional[str] = None
    where = ""
    for line in debug.splitlines():
        host = _APPLIED.match(line)
        check = _MATCH_CHECK.match(line)
        matched = _MATCH_LINE.match(line)
        if host:
            found.append(f"{host.group(1)}:{host.group(2)} Host {host.group(3)}")
        elif check:
            criteria, where = check.group(1), ""
        elif matched and criteria is not None:
            where = f"{matched.group(1)}:{matched.group(2)} "
        elif line.startswith("debug2: match found") and criteria is not None:
            found.append(f"{where}Match {criteria}")
            criteria = None
        elif line.startswith("debug2: match not found"):
            criteria = None
    return tuple(found)


@lru_cache(maxsize=4)
def _default_identities(home: str) -> Tuple[str, ...]:
    """OpenSSH's built-in IdentityFile list (what -G prints when no config names one)."""
    try:
        values, _ = _generate("sockdeploy-defaults.invalid", Path(os.devnull), None, None)
    except (FileNotFoundError, ConfigError, subprocess.TimeoutExpired):
        return ()
    return tuple(values.get("identityfile", []))


def _first(values: Dict[str, List[str]], key: str, default: str = "") -> str:
    found = values.get(key)
    return found[0] if found else default


def _optional(value: str) -> Optional[str]:
    return None if value in ("", "none") else value


def _agent(value: Optional[str], home: Path) -> Optional[str]:
    """IdentityAgent as sockdeploy uses it: None ($SSH_AUTH_SOCK), "none", "$VAR", or a socket path."""
    if value is None or value == "SSH_AUTH_SOCK":
        return None
    if value == "none" or value.startswith("$"):
        return value
    return _expand(value, home)


def _read(config: Optional[Path], home: Path) -> str:
    if config is None:
        return f"{home}/.ssh/config and /etc/ssh/ssh_config"
    return "no configuration file" if config == Path(os.devnull) else str(config)


def from_openssh(alias: str, config: Optional[Path] = None, *, user: Optional[str] = None,
                 port: Optional[int] = None, home: Optional[Path] = None) -> SshOptions:
    """Resolve ALIAS with `ssh -G` (CONFIG replaces ~/.ssh/config and /etc/ssh/ssh_config, as with `ssh -F`)."""
    home = home or Path.home()
    values, applied = _generate(alias, config, user, port, home)
    identities = tuple(values.get("identityfile", []))
    timeout = _first(values, "connecttimeout", "none")
    return SshOptions(
        alias=alias, hostname=_first(values, "hostname", alias), port=int(_first(values, "port", "22")),
        user=_optional(_first(values, "user")),
        identity_files=tuple(_expand(p, home) for p in identities),
        identities_configured=identities != _default_identities(str(home)),
        identities_only=_first(values, "identitiesonly", "no") == "yes",
        identity_agent=_agent(values["identityagent"][0], home) if "identityagent" in values else None,
        proxy_jump=_optional(_first(values, "proxyjump")),
        proxy_command=_optional(_first(values, "proxycommand")),
        user_known_hosts=tuple(_expand(p, home) for p in _first(values, "userknownhostsfile").split()),
        global_known_hosts=tuple(_first(values, "globalknownhostsfile").split()),
        strict_host_key_checking=STRICT_MODES.get(_first(values, "stricthostkeychecking", "ask"), "ask"),
        hash_known_hosts=_first(values, "hashknownhosts", "no") == "yes",
        server_alive_interval=int(_first(values, "serveraliveinterval", "0")),
        server_alive_count_max=int(_first(values, "serveralivecountmax", "3")),
        connect_timeout=None if timeout == "none" else int(timeout),
        source="ssh -G", read=_read(config, home), applied=applied, extra={k: v[0] for k, v in values.items()})


def from_paramiko(alias: str, config: Optional[Path] = None, *, user: Optional[str] = None,
                  port: Optional[int] = None, home: Optional[Path] = None) -> SshOptions:
    """Resolve ALIAS with paramiko's ssh_config parser (no Include glob edge cases, no Match exec)."""
    import paramiko

    home = home or Path.home()
    path = config if config is not None else home / ".ssh" / "config"
    found: Dict[str, object] = {}
    if path != Path(os.devnull) and path.is_file():
        try:
            found = dict(paramiko.SSHConfig.from_path(str(path)).lookup(alias))
        except (paramiko.ssh_exception.ConfigParseError, OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the ssh config: {exc}",
                              "fix that line, or set server.ssh_config: none in hosts.yaml to ignore the file",
                              where=str(path)) from None
    listed = found.get("identityfile")
    identities = [str(p) for p in listed] if isinstance(listed, list) else []
    known = str(found.get("userknownhostsfile", "~/.ssh/known_hosts ~/.ssh/known_hosts2"))
    return SshOptions(
        alias=alias, hostname=str(found.get("hostname", alias)), port=int(str(port or found.get("port", 22))),
        user=user or (str(found["user"]) if "user" in found else None),
        identity_files=tuple(_expand(p, home) for p in identities or OPENSSH_IDENTITIES),
        identities_configured=bool(identities),
        identities_only=str(found.get("identitiesonly", "no")).lower() == "yes",
        identity_agent=_agent(str(found["identityagent"]), home) if "identityagent" in found else None,
        proxy_jump=_optional(str(found.get("proxyjump", ""))),
        proxy_command=_optional(str(found.get("proxycommand", ""))),
        user_known_hosts=tuple(_expand(p, home) for p in known.split()),
        global_known_hosts=("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"),
        strict_host_key_checking=STRICT_MODES.get(str(found.get("stricthostkeychecking", "ask")).lower(), "ask"),
        hash_known_hosts=str(found.get("hashknownhosts", "no")).lower() == "yes",
        server_alive_interval=int(str(found.get("serveraliveinterval", 0))),
        server_alive_count_max=int(str(found.get("serveralivecountmax", 3))),
        connect_timeout=int(str(found["connecttimeout"])) if "connecttimeout" in found else None,
        source="paramiko's parser (no ssh client installed; Include and Match not evaluated as OpenSSH does)",
        read=str(path) if path != Path(os.devnull) else "no configuration file")


def resolve(alias: str, config: Optional[Path] = None, *, user: Optional[str] = None,
            port: Optional[int] = None, home: Optional[Path] = None) -> SshOptions:
    """Resolve ALIAS as `ssh` would; USER and PORT (from hosts.yaml) win over the configuration."""
    try:
        return from_openssh(alias, config, user=user, port=port, home=home)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return from_paramiko(alias, config, user=user, port=port, home=home)


def config_path(server: ServerConfig) -> Optional[Path]:
    """The file `ssh -F` would be given for SERVER: hosts.yaml's ssh_config, /dev/null for "none", else None."""
    if server.ssh_config == "none":
        return Path(os.devnull)  # OpenSSH's own defaults, no file read
    return Path(server.ssh_config) if server.ssh_config else None


def resolve_server(server: ServerConfig) -> SshOptions:
    """Resolve a hosts.yaml host (server:, client: or a jump host): the one resolver run, doctor, tunnel, batch
    and init use. hosts.yaml's user and port win; its identity and known_hosts are applied by the callers."""
    return resolve(server.host, config_path(server), user=server.user, port=server.port)


def parse_jump(spec: str) -> List[Tuple[Optional[str], str, Optional[int]]]:
    """Split a ProxyJump value into (user, host, port) hops, first hop first (`[user@]host[:port]`, ssh:// too)."""
    hops: List[Tuple[Optional[str], str, Optional[int]]] = []
    for raw in spec.split(","):
        hop = raw.strip()
        if hop.startswith("ssh://"):
            hop = hop[len("ssh://"):].rstrip("/")
        user, _, rest = hop.rpartition("@")
        port: Optional[int] = None
        if rest.startswith("["):  # [v6 address]:port
            host, _, tail = rest[1:].partition("]")
            port = int(tail[1:]) if tail.startswith(":") and tail[1:].isdigit() else None
        else:
            host, colon, tail = rest.partition(":")
            if colon and tail.isdigit():
                port = int(tail)
            elif colon:
                host = rest
        if not host:
            raise ConfigError(f"cannot read the ProxyJump value {spec!r}",
                              "write it as [user@]host[:port], hops separated by commas")
        hops.append((user or None, host, port))
    return hops
