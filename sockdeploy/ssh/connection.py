"""The Fabric connection behind a session: ssh config, host key checking, and what its failures mean."""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional, Tuple

from sockdeploy.errors import AuthError, ConfigError, ConnectError, HostKeyError
from sockdeploy.spec.hosts import ServerConfig
from sockdeploy.ssh.hostkeys import HostKeyPolicy, KnownHosts, known_hosts_name

CONNECT_TIMEOUT = 15
AUTH_TIMEOUT = 60


def read_ssh_config(cfg: ServerConfig) -> Any:
    """Return the paramiko SSHConfig to use: none, hosts.yaml's file, or ~/.ssh/config if it exists."""
    import paramiko

    if cfg.ssh_config == "none":
        return paramiko.SSHConfig()
    path = cfg.ssh_config or os.path.join(os.path.expanduser("~"), ".ssh", "config")
    try:
        return paramiko.SSHConfig.from_path(path) if os.path.isfile(path) else paramiko.SSHConfig()
    except (paramiko.ssh_exception.ConfigParseError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the ssh config: {exc}",
                          "fix that line, or set server.ssh_config: none in hosts.yaml to ignore the file", where=path) from None


def make_connection(cfg: ServerConfig, known_hosts: KnownHosts, policy: HostKeyPolicy) -> Tuple[Any, List[str]]:
    """Return a Fabric Connection that checks host keys with `policy` and logs in with nothing,
    and the identity files ssh config names for it."""
    from fabric import Config as FabricConfig
    from fabric import Connection

    # lazy: read no Fabric/Invoke config files; explicit ssh_config: no other ssh files.
    fcfg = FabricConfig(ssh_config=read_ssh_config(cfg), lazy=True)
    conn = Connection(cfg.host, user=cfg.user, port=cfg.port, config=fcfg, connect_timeout=CONNECT_TIMEOUT, connect_kwargs={})
    # ssh config's IdentityFile entries arrive through Fabric's connect_kwargs.
    from_ssh_config = conn.connect_kwargs.get("key_filename") or []
    if isinstance(from_ssh_config, str):
        from_ssh_config = [from_ssh_config]
    # paramiko's own login would fall back to reading answers from stdin for
    # 2FA; sockdeploy authenticates itself, after the host key check.
    conn.connect_kwargs = {"allow_agent": False, "look_for_keys": False,
                           "banner_timeout": CONNECT_TIMEOUT, "auth_timeout": AUTH_TIMEOUT}
    # Fabric accepts unknown keys silently by default; replace that policy.
    conn.client.set_missing_host_key_policy(policy)
    gateway = getattr(conn, "gateway", None)
    if gateway is not None and hasattr(gateway, "client"):  # ProxyJump: the jump host is checked too
        gateway.client.set_missing_host_key_policy(policy)
        known_hosts.load_into(gateway.client)
    known_hosts.load_into(conn.client)
    return conn, list(from_ssh_config)


@contextmanager
def translated_errors(conn: Any, known_hosts: KnownHosts) -> Iterator[None]:
    """Turn paramiko's and the socket's errors while connecting into sockdeploy's, with a hint each."""
    import paramiko

    target = f"{conn.user}@{conn.host}:{conn.port}"
    try:
        yield
    except (HostKeyError, AuthError):
        raise
    except paramiko.BadHostKeyException as exc:
        name = known_hosts_name(conn.host, conn.port)
        raise (known_hosts.revoked_error(name, exc.key) or known_hosts.changed_key_error(name, exc.key)) from None
    except paramiko.AuthenticationException as exc:
        raise AuthError(f"authentication to {target} failed: {exc}",
                        "check server.user and server.identity in hosts.yaml, or load your key with ssh-add") from None
    except paramiko.SSHException as exc:
        raise ConnectError(f"SSH negotiation with {target} failed: {exc}",
                           "check that the host runs an SSH server on that port") from None
    except socket.gaierror as exc:
        raise ConnectError(f"cannot resolve host name {conn.host!r}: {exc.strerror}",
                           "check server.host in hosts.yaml and your network") from None
    except (socket.timeout, TimeoutError):
        raise ConnectError(f"connecting to {target} timed out after {CONNECT_TIMEOUT} s",
                           "check that you are online and that the host and port are right") from None
    except OSError as exc:
        raise ConnectError(f"cannot connect to {target}: {exc.strerror or exc}",
                           "check server.host and server.port, and that an SSH server is running there") from None


def handshake(conn: Any) -> Any:
    """Open the TCP connection and do the key exchange and host key check; return the active transport."""
    import paramiko

    try:
        conn.open()
    except paramiko.SSHException as exc:
        # Expected: no login method was given to paramiko (see make_connection).
        if "No authentication methods available" not in str(exc):
            raise
    transport = conn.client.get_transport()
    if transport is None or not transport.is_active():
        raise ConnectError(f"the SSH connection to {conn.user}@{conn.host}:{conn.port} closed during the handshake",
                           "check the host and port")
    return transport


def tune(transport: Any) -> None:
    """Send small packets at once, as OpenSSH does."""
    if isinstance(transport.sock, socket.socket):
        # without it Nagle holds each small request (a channel open, a heartbeat)
        # until the previous one is acknowledged, 40 ms at a time
        try:
            transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


def peer_ip(transport: Any) -> Optional[str]:
    """Return the address the transport's socket is connected to, if it is a plain socket."""
    sock = getattr(transport, "sock", None)
    if isinstance(sock, socket.socket):
        try:
            return str(sock.getpeername()[0])
        except OSError:
            return None
    return None
