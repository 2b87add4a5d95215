"""Why the tunnel could not reach the server, asked of the login host while the server still runs.

The login host's sshd connects to 127.0.0.1:PORT for each tunnelled
connection. A server bound only to the host's public address refuses that,
the clients see their connection closed, and the server waits in vain for
them: the run would otherwise be reported as "still running after the last
client run". Where the server really listens is the verdict.
"""

from __future__ import annotations

import socket
import struct
from typing import List, Optional, Tuple

from sockdeploy.errors import ForwardConnectFailed, ScriptTimeout, SockdeployError
from sockdeploy.remote.host import Host
from sockdeploy.remote.program import PROCS, sh_command
from sockdeploy.run.context import RunContext
from sockdeploy.run.runtag import stdin_line
from sockdeploy.ssh.session import SshSession

# Listening on one of these, a server is reached by a connection to 127.0.0.1.
REACHED_FROM_LOOPBACK = {"0.0.0.0", "127.0.0.1", "::", "::ffff:127.0.0.1"}


def decode(hex_address: str) -> Optional[Tuple[str, int]]:
    """Return (address, port) of a /proc/net/tcp{,6} local address such as 0100007F:7530 (a little-endian host's)."""
    try:
        addr, port = hex_address.rsplit(":", 1)
        if len(addr) == 8:
            ip = socket.inet_ntop(socket.AF_INET, struct.pack("<I", int(addr, 16)))
        elif len(addr) == 32:
            words = [int(addr[i:i + 8], 16) for i in range(0, 32, 8)]
            ip = socket.inet_ntop(socket.AF_INET6, struct.pack("<4I", *words))
        else:
            return None
        return ip, int(port, 16)
    except (ValueError, OSError, struct.error):
        return None


def listening_addresses(session: Host, pgid: int, port: int, token: Optional[str]) -> List[str]:
    """Return the addresses the server listens on for TCP `port` on the session's host.

    The server's are the sockets of the processes carrying the run's `token`, daemons that left
    its process group among them; without a token, or on a host without /proc environments,
    those of process group `pgid` (server_listen_addresses.sh).
    """
    result = session.run(sh_command(PROCS, "server_listen_addresses.sh", args=[int(pgid)]),
                         stdin=stdin_line(token), timeout=20)
    addresses = set()
    for word in result.stdout.split():
        entry = decode(word)
        if entry is not None and entry[1] == port:
            addresses.add(entry[0])
    return sorted(addresses)


def explain(ctx: RunContext, session: SshSession, port: int) -> None:
    """After a tunnel connection was refused, while the server runs: if it listens where the tunnel cannot
    reach, make that the run's verdict (and do not wait for a server the clients never reached)."""
    refused = next((e for e in ctx.tunnel_errors if isinstance(e, ForwardConnectFailed)), None)
    proc = ctx.server.proc
    if refused is None or proc is None or ctx.tripwire or not session.alive:
        return
    try:
        addresses = listening_addresses(session, proc.pid, port, ctx.token)
    except (SockdeployError, ScriptTimeout, OSError):
        return  # the run's other verdicts stand
    why = refused.reason or "connection refused"
    if not addresses:  # gone: the server's own verdict (a crash, an early end) comes first, this names the rest
        gone = ForwardConnectFailed(f"the tunnel could not reach 127.0.0.1:{port} on {session.name}: {why}; nothing "
                                    "listened on that port any more (the server had ended or closed its socket)",
                                    "the server must listen until the last client run is done; read server.log")
        gone.reason = refused.reason
        ctx.tunnel_errors[ctx.tunnel_errors.index(refused)] = gone
        return
    if REACHED_FROM_LOOPBACK & set(addresses):
        return
    shown = ", ".join(f"[{a}]:{port}" if ":" in a else f"{a}:{port}" for a in addresses)
    ctx.tunnel_cause = ForwardConnectFailed(
        f"the tunnel could not reach 127.0.0.1:{port} on {session.name}: {why}; the server listens on {shown} only",
        "bind the server to all addresses (INADDR_ANY), or to 127.0.0.1 as well, so the login host's sshd reaches "
        "it for the tunnel; or run on campus or over the VPN (--via direct or --via vpn)")
    ctx.server.must_exit = False  # the clients never reached it: nothing to wait for
