"""The Fabric connection behind a session: OpenSSH's resolved options, host key checking, what its failures mean."""

from __future__ import annotations

import socket
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from sockdeploy.errors import AuthError, ConnectError, HostKeyError
from sockdeploy.ssh.hostkeys import HostKeyPolicy, KnownHosts, known_hosts_name
from sockdeploy.ssh.resolver import SshOptions

CONNECT_TIMEOUT = 15
AUTH_TIMEOUT = 60


def make_connection(opts: SshOptions, known_hosts: KnownHosts, policy: HostKeyPolicy, gateway: Any = None) -> Any:
    """Return a Fabric Connection to the host OPTS describe, checking host keys with POLICY and logging in with nothing.

    Every value is OpenSSH's (`ssh -G`: HostName, User, Port, ConnectTimeout, ProxyCommand);
    Fabric gets an empty ssh config so its own parser, which ignores Include, decides nothing.
    GATEWAY is the open Connection to the last jump host (ProxyJump), or None.
    """
    import paramiko
    from fabric import Config as FabricConfig
    from fabric import Connection

    # lazy: read no Fabric/Invoke config files
    fcfg = FabricConfig(ssh_config=paramiko.SSHConfig(), lazy=True)
    # False, not None: "no gateway", where None would make Fabric look for one itself
    via = gateway if gateway is not None else (opts.proxy_command or False)
    # paramiko's own login would fall back to reading answers from stdin for
    # 2FA; sockdeploy authenticates itself, after the host key check.
    conn = Connection(opts.hostname, user=opts.user or None, port=opts.port, config=fcfg, gateway=via,
                      connect_timeout=opts.connect_timeout or CONNECT_TIMEOUT,
                      connect_kwargs={"allow_agent": False, "look_for_keys": False,
                                      "banner_timeout": CONNECT_TIMEOUT, "auth_timeout": AUTH_TIMEOUT})
    conn.original_host = opts.alias  # the name the person wrote; conn.host is where it leads
    # Fabric accepts unknown keys silently by default; replace that policy.
    conn.client.set_missing_host_key_policy(policy)
    known_hosts.load_into(conn.client)
    return conn


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
        raise ConnectError(f"connecting to {target} timed out after {conn.connect_timeout or CONNECT_TIMEOUT} s",
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
    # Fabric's own view (its open() never returned): without it a connection through this one as a
    # jump host, or a ThreadingGroup, would make Fabric log in again, and close() would leave it open
    conn.transport = transport
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
