"""The way to a host as OpenSSH would take it: its resolved options, the jump hosts in front of it, each
host key checked and each login done by sockdeploy itself.

ProxyJump follows `ssh -J`: the hops of `a,b` are opened in order, b through a; the
first hop is itself reached as its own configuration says (its ProxyJump or
ProxyCommand), the later ones only through the hop before. Every hop is resolved
with the same configuration files (`ssh -G`), so a jump alias defined in an
Included file works, and checks its host key and logs in with its own settings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, List, Optional

from sockdeploy.errors import ConfigError
from sockdeploy.spec.hosts import ServerConfig
from sockdeploy.ssh.auth import Authenticator, identity_files
from sockdeploy.ssh.connection import handshake, make_connection, translated_errors
from sockdeploy.ssh.hostkeys import HostKeyPolicy, KnownHosts, known_hosts_for
from sockdeploy.ssh.resolver import SshOptions, parse_jump, resolve_server
from sockdeploy.ssh.terminal import Confirm, Prompt

MAX_DEPTH = 8  # jump hosts behind jump hosts; more means a ProxyJump that leads back to itself


@dataclass
class Opened:
    """A connection that passed its host key check (and its login, when one was asked for)."""

    conn: Any
    transport: Any
    identities: List[str]
    auth_used: Optional[str] = None  # method and key that logged in, for -v


class Route:
    """The connections that lead to one host: its jump hosts, outermost first, then the host itself."""

    def __init__(self, cfg: ServerConfig, *, accept_new: bool, confirm: Optional[Confirm],
                 prompt: Optional[Prompt]) -> None:
        """CFG is the host's hosts.yaml entry; its known_hosts, ssh_config and agent apply to the jump hosts too."""
        self.cfg = cfg
        self.accept_new = accept_new
        self.confirm = confirm
        self.prompt = prompt
        self.jumps: List[Any] = []  # open jump host connections, outermost first
        self.hops: List[SshOptions] = []  # what OpenSSH's config says for each, in the same order

    def open(self, opts: SshOptions, known_hosts: KnownHosts, login: bool = True) -> Opened:
        """Open the jump hosts, then the host OPTS describe; on failure close whatever was opened."""
        try:
            return self._connect(self.cfg, opts, known_hosts, self._gateway(opts, 0), login)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the jump host connections, innermost first (the host's own is its session's to close)."""
        jumps, self.jumps = self.jumps, []
        for conn in reversed(jumps):
            try:
                conn.close()
            except Exception:  # closing a dead connection must not mask the real error
                pass

    def _gateway(self, opts: SshOptions, depth: int) -> Any:
        """Return the open connection to the last jump host before OPTS's host, or None without ProxyJump."""
        if not opts.proxy_jump:
            return None
        if depth >= MAX_DEPTH:
            raise ConfigError(f"ProxyJump for {opts.alias} leads through more than {MAX_DEPTH} jump hosts "
                              f"(does a jump host's ProxyJump lead back to itself?)",
                              f"run `ssh -G HOST` for each jump host; exclude them from `Host *` with `Host * !{opts.alias}`")
        gateway = None
        for i, (user, host, port) in enumerate(parse_jump(opts.proxy_jump)):
            # hosts.yaml's identity is the target's; a jump host logs in as its own config says
            hop_cfg = dataclasses.replace(self.cfg, host=host, user=user, port=port, identity=None)
            hop = resolve_server(hop_cfg)
            if i == 0:
                gateway = self._gateway(hop, depth + 1)
            opened = self._connect(hop_cfg, hop, known_hosts_for(hop_cfg, hop), gateway, True)
            self.jumps.append(opened.conn)
            self.hops.append(hop)
            gateway = opened.conn
        return gateway

    def _connect(self, cfg: ServerConfig, opts: SshOptions, known_hosts: KnownHosts, gateway: Any,
                 login: bool) -> Opened:
        """Connect to one host (through GATEWAY), check its key, and log in when LOGIN."""
        policy = HostKeyPolicy(known_hosts, accept_new=self.accept_new, confirm=self.confirm,
                               strict=opts.strict_host_key_checking)
        conn = make_connection(opts, known_hosts, policy, gateway)
        identities = identity_files(cfg, opts.identity_files)
        try:
            with translated_errors(conn, known_hosts):
                transport = handshake(conn)
                opened = Opened(conn, transport, identities)
                if login:
                    auth = Authenticator(cfg, identities, self.prompt, identities_only=opts.identities_only,
                                         identity_agent=opts.identity_agent)
                    auth.login(transport, conn.user, f"{conn.user}@{conn.host}:{conn.port}")
                    opened.auth_used = auth.used
        except BaseException:
            try:
                conn.close()
            except Exception:
                pass
            raise
        return opened
