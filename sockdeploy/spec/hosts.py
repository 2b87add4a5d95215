"""hosts.yaml: where the server and client run and how they reach each other."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple

from sockdeploy.errors import ConfigError
from sockdeploy.spec.loader import Located, Section, load_located, typename

VIA_CHOICES = ("auto", "direct", "tunnel", "vpn")
DEFAULT_PORTS = (30000, 40000)
DEFAULT_WORKDIR = "~/.sockdeploy"
DEFAULT_CLIENT_WORKDIR = "~/.sockdeploy-client"


@dataclass(frozen=True)
class ServerConfig:
    host: str
    user: Optional[str] = None
    port: Optional[int] = None
    identity: Optional[str] = None
    known_hosts: Optional[str] = None
    workdir: str = DEFAULT_WORKDIR
    ssh_config: Optional[str] = None  # a path, "none", or None for ~/.ssh/config
    agent: bool = True


@dataclass(frozen=True)
class ClientConfig:
    host: str = "local"
    ssh: Optional[ServerConfig] = None  # the client host over SSH (a headless Pi); None: this machine

    @property
    def remote(self) -> bool:
        """Tell whether the client runs on another machine over SSH."""
        return self.ssh is not None


@dataclass(frozen=True)
class NetworkConfig:
    via: str = "auto"
    ports: Tuple[int, int] = DEFAULT_PORTS
    vpn_gateway: str = "danforthvpn.wustl.edu"


@dataclass(frozen=True)
class Config:
    server: ServerConfig
    client: ClientConfig = field(default_factory=ClientConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    path: Optional[Path] = None
    group: Tuple[str, ...] = ()  # the group members' names, for the person's own records
    # `servers:` (several server hosts, for `sockdeploy batch`); each item defaults to `server:`'s keys
    servers: Tuple[ServerConfig, ...] = ()

    @property
    def server_hosts(self) -> Tuple[ServerConfig, ...]:
        """Return the server hosts a batch spreads over: `servers:`, else just `server:`."""
        return self.servers or (self.server,)


def user_config_dir() -> Path:
    """Return ~/.config/sockdeploy, honouring $XDG_CONFIG_HOME."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "sockdeploy"


HOSTS_ENV = "SOCKDEPLOY_HOSTS"
# A line only the example hosts.yaml (the repository's, copied unchanged) holds.
EXAMPLE_SIGN = "# Copy it next to where you run sockdeploy (./hosts.yaml) or to"


def is_untouched_example(path: Path) -> bool:
    """Whether PATH is the repository's example hosts.yaml with its placeholder user still in it."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return False
    return EXAMPLE_SIGN in text and "\n  user: jdoe\n" in text


def find_hosts_file(explicit: Optional[str]) -> Path:
    """Return the hosts.yaml to use: --hosts, $SOCKDEPLOY_HOSTS, ./hosts.yaml, then the user config dir.

    The repository's example (placeholder user `jdoe`) in the current folder gives way to
    the user's own file; alone, it is refused with the way to write one.
    """
    for given, where in ((explicit, "--hosts"), (os.environ.get(HOSTS_ENV), f"${HOSTS_ENV}")):
        if given:
            p = Path(given).expanduser()
            if not p.is_file():
                raise ConfigError(f"hosts file not found: {p}", f"check the path given with {where}", where=where)
            return p
    here, mine = Path.cwd() / "hosts.yaml", user_config_dir() / "hosts.yaml"
    if here.is_file() and not (is_untouched_example(here) and mine.is_file()):
        if is_untouched_example(here):
            raise ConfigError(f"{here} is the example hosts.yaml: server.user is still the placeholder 'jdoe'",
                              "run `sockdeploy init` to write your own (or edit this file), then run again",
                              where=f"{here}")
        return here
    if mine.is_file():
        return mine
    raise ConfigError(
        f"no hosts.yaml found (looked at --hosts, ${HOSTS_ENV}, {here} and {mine})",
        "run `sockdeploy init` to write one, or pass --hosts PATH; 'sockdeploy demo' needs none",
    )


def parse_port_range(text: object) -> Tuple[int, int]:
    """Parse '30000-40000' or a single port number; raise ValueError with a reason."""
    if isinstance(text, bool):
        raise ValueError("expected a range like 30000-40000")
    if isinstance(text, int):
        lo = hi = text
    elif isinstance(text, str) and re.fullmatch(r"\s*\d+\s*(-\s*\d+\s*)?", text):
        parts = [int(p) for p in text.split("-")]
        lo, hi = parts[0], parts[-1]
    else:
        raise ValueError("expected a range like 30000-40000")
    if not (1024 <= lo <= 65535 and 1024 <= hi <= 65535):
        raise ValueError(f"ports must be between 1024 and 65535, got {lo}-{hi}")
    if lo > hi:
        raise ValueError(f"range {lo}-{hi} is backwards")
    return lo, hi


def _path_value(base: Path, value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = base / p
    return str(p)


def load_config(explicit: Optional[str] = None) -> Config:
    """Find, parse and validate hosts.yaml without contacting anything."""
    path = find_hosts_file(explicit)
    return parse_config(path)


def parse_config(path: Path) -> Config:
    """Parse and validate the hosts.yaml at `path`; every error names its FILE:LINE."""
    doc = load_located(path, ConfigError)
    if doc.data is None:
        raise ConfigError("the file is empty", "add a 'server:' section with at least 'host:'", where=f"{path}:1")
    top = Section(doc, (), ConfigError)
    top.only(["server", "servers", "client", "network", "group"])
    if "server" not in top.value:
        raise ConfigError("missing 'server' section", "add 'server:' with '  host: shell.cec.wustl.edu'", where=f"{path}:1")
    base = path.parent

    server = _parse_server(top.sub("server"), base)
    servers = _parse_servers(doc, base, server)

    client = _parse_client(top.sub("client"), base)

    n = top.sub("network")
    n.only(["via", "ports", "vpn"])
    via = n.get("via", str, "auto")
    if via not in VIA_CHOICES:
        raise n.fail("via", f"network.via {via!r} is not one of {', '.join(VIA_CHOICES)}",
                     "use auto unless you know which path you need")
    ports_raw = n.value.get("ports", f"{DEFAULT_PORTS[0]}-{DEFAULT_PORTS[1]}")
    try:
        ports = parse_port_range(ports_raw)
    except ValueError as exc:
        raise n.fail("ports", f"network.ports {ports_raw!r}: {exc}",
                     "write a range like 30000-40000 (the course's ports)") from None

    v = n.sub("vpn")
    v.only(["gateway"])
    gateway = v.get("gateway", str, "danforthvpn.wustl.edu")
    if not re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", gateway):
        raise v.fail("gateway", f"network.vpn.gateway {gateway!r} is not a host name",
                     "write the VPN server's name, e.g. danforthvpn.wustl.edu")

    group = _parse_group(doc)

    return Config(
        server=server,
        servers=servers,
        client=client,
        network=NetworkConfig(via=via, ports=ports, vpn_gateway=gateway),
        path=path,
        group=group,
    )


def _parse_client(c: Section, base: Path) -> ClientConfig:
    """`client.host: local` (this machine), or the Pi as an SSH target with the server's keys."""
    if c.value.get("host", "local") == "local":
        c.only(["host"])
        return ClientConfig()
    ssh = _parse_server(c, base, ServerConfig(host="", workdir=DEFAULT_CLIENT_WORKDIR))
    if "@" in ssh.host:
        user, _, host = ssh.host.rpartition("@")
        if not user or not host or (ssh.user and ssh.user != user):
            raise c.fail("host", f"client.host {ssh.host!r} is not user@host",
                         "write pi@raspberrypi.local, or put the user in client.user")
        ssh = dataclasses.replace(ssh, host=host, user=user)
    return ClientConfig(host=ssh.host, ssh=ssh)


def _parse_group(doc: Located) -> Tuple[str, ...]:
    """Validate the optional top-level `group: [names...]`: a list of one-line, non-empty names."""
    raw = doc.data.get("group") if isinstance(doc.data, dict) else None
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"'group' must be a list of names, got {typename(raw)} {raw!r}",
                          "write one name per line below 'group:', e.g. '  - Ada Lovelace'", where=doc.where(("group",)))
    names = []
    for i, name in enumerate(raw):
        where = doc.where(("group", i))
        if not isinstance(name, str) or isinstance(name, bool):
            raise ConfigError(f"group member {i + 1} must be a name (a string), got {name!r}",
                              "quote it, e.g. '  - \"Ada Lovelace\"'", where=where)
        if not name.strip() or any(c in name for c in "\n\r\0"):
            raise ConfigError(f"group member {i + 1} is empty or spans lines: {name!r}",
                              "write each member's name on one line", where=where)
        names.append(name.strip())
    return tuple(names)



_SERVER_KEYS = ["host", "user", "port", "identity", "known_hosts", "workdir", "ssh_config", "agent"]


def _parse_server(s: Section, base: Path, defaults: Optional[ServerConfig] = None) -> ServerConfig:
    """Validate one server mapping (`server:` or an item of `servers:`); keys it lacks come from `defaults`."""
    d = defaults or ServerConfig(host="")
    s.only(_SERVER_KEYS)
    name = s.name
    host = s.get("host", str, required=True, what="shell.cec.wustl.edu")
    if not host.strip() or any(c.isspace() for c in host) or host.startswith("-"):
        raise s.fail("host", f"{name}.host {host!r} is not a host name",
                     "write a host name, an IP address or an ssh config alias")
    user = s.get("user", str, d.user)
    if user is not None and (not re.fullmatch(r"[A-Za-z0-9._][A-Za-z0-9._-]*", user)):
        raise s.fail("user", f"{name}.user {user!r} is not a valid login name", "use your login name, e.g. jdoe")
    port = s.get("port", int, d.port)
    if port is not None and not 1 <= port <= 65535:
        raise s.fail("port", f"{name}.port {port} is out of range", "use the SSH port, usually 22")
    identity = _path_value(base, s.get("identity", str)) if "identity" in s.value else d.identity
    if identity is not None and "identity" in s.value:
        if not os.path.isfile(identity):
            raise s.fail("identity", f"identity file not found: {identity}",
                         "fix the path, or remove 'identity' to use the SSH agent and ~/.ssh")
        if not os.access(identity, os.R_OK):
            raise s.fail("identity", f"identity file is not readable: {identity}", "check its owner and permissions (chmod 600)")
    known_hosts = _path_value(base, s.get("known_hosts", str)) if "known_hosts" in s.value else d.known_hosts
    workdir = s.get("workdir", str, d.workdir)
    if not workdir.strip() or "\n" in workdir or "\0" in workdir:
        raise s.fail("workdir", f"{name}.workdir is empty or contains a newline", "use a path like ~/.sockdeploy")
    ssh_config = s.get("ssh_config", str) if "ssh_config" in s.value else d.ssh_config
    if ssh_config is not None and ssh_config != "none" and "ssh_config" in s.value:
        ssh_config = _path_value(base, ssh_config)
        if not os.path.isfile(ssh_config):  # type: ignore[arg-type]
            raise s.fail("ssh_config", f"ssh config file not found: {ssh_config}",
                         "fix the path, or write 'none' to read no ssh config")
    agent = s.get("agent", bool, d.agent)
    return ServerConfig(host=host, user=user, port=port, identity=identity, known_hosts=known_hosts,
                        workdir=workdir, ssh_config=ssh_config, agent=agent)


def _parse_servers(doc: Located, base: Path, server: ServerConfig) -> Tuple[ServerConfig, ...]:
    """Validate the optional `servers:` list: server hosts for `sockdeploy batch`, each defaulting to `server:`'s keys."""
    raw = doc.data.get("servers") if isinstance(doc.data, dict) else None
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"'servers' must be a non-empty list of server hosts, got {typename(raw)} {raw!r}",
                          "write one '- host: NAME' per server host below 'servers:' (other keys default to server:'s)",
                          where=doc.where(("servers",)))
    out = []
    seen: Dict[Tuple[str, Optional[str], Optional[int]], int] = {}
    for i in range(len(raw)):
        item = Section(doc, ("servers", i), ConfigError)
        if not item.value:
            raise ConfigError(f"servers[{i + 1}] is empty", "write '- host: NAME' (other keys default to server:'s)",
                              where=doc.where(("servers", i)))
        parsed = _parse_server(item, base, server)
        key = (parsed.host, parsed.user, parsed.port)
        if key in seen:
            raise item.fail("host", f"servers[{i + 1}] repeats servers[{seen[key] + 1}] ({parsed.host})",
                            "list each server host once")
        seen[key] = i
        out.append(parsed)
    return tuple(out)
