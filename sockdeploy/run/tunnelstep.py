"""The tunnel that carries the clients to the server through the SSH connection: TCP forward or UDP relay.

Each is opened after the server listens and before any client runs, and closed
on every exit path by the run's stack (so its counts land in run.json).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional, Union

from sockdeploy.net.forward import LocalForward, RemoteForward
from sockdeploy.net.udprelay import JoinedUdpRelay, UdpRelay, client_script, remote_script
from sockdeploy.net.wire import WireLog
from sockdeploy.run import tunnelcause
from sockdeploy.run.context import RunContext
from sockdeploy.run.record import TunnelRecord
from sockdeploy.ssh.session import SshSession

# A server that should end by itself may still be reading the last client's bytes.
DRAIN_SECONDS = 2.0

Forward = Union[LocalForward, RemoteForward]
Relay = Union[UdpRelay, JoinedUdpRelay]


def open_tunnel(ctx: RunContext, port: int, values: Dict[str, Any]) -> None:
    """Open the tunnel or relay for the server's `port`; the clients then use `values`' client_port."""
    if ctx.payload.protocol == "udp":
        ctx.stack.enter_context(_udp_relay(ctx, port, values))
    else:
        ctx.stack.enter_context(_forward(ctx, port, values))


def wire_log(ctx: RunContext, path: str) -> WireLog:
    """The run's wire record: each connection belongs to the client run under way when it opened."""

    def current_run() -> Optional[int]:
        if ctx.payload.concurrent or not ctx.record.clients:
            return None  # runs started at once cannot be told apart by time
        return ctx.record.clients[-1].run

    ctx.wire = WireLog(path, current_run)
    return ctx.wire


def _session(ctx: RunContext) -> SshSession:
    assert ctx.session is not None
    return ctx.session


@contextmanager
def _forward(ctx: RunContext, port: int, values: Dict[str, Any]) -> Iterator[Forward]:
    """Listen where the clients run; carry each connection over the server host's connection.

    Same port number as the server when it is free there; otherwise a free one
    (it is never free when both ends are one machine, as in the loopback lab).
    """
    session = _session(ctx)
    fwd: Forward
    where = ""
    if ctx.pi is not None:
        fwd = RemoteForward(ctx.pi, lambda origin: session.open_forward("127.0.0.1", port, origin), port)
        step, where = f"open the tunnel on {ctx.pi.name}", f" on {ctx.pi.name}"
    else:
        fwd = LocalForward(lambda origin: session.open_forward("127.0.0.1", port, origin), ("127.0.0.1", port), port)
        step = "open the tunnel"
    fwd.recorder = wire_log(ctx, "through the tunnel")
    fwd.recorder.settlers.append(fwd.settle)
    with ctx.progress.step(step):
        fwd.start()
    try:
        values.update(ip="127.0.0.1", host="localhost", client_port=fwd.port)
        ctx.record.tunnel = TunnelRecord(listen=fwd.addresses if ctx.pi is None else [f"127.0.0.1:{fwd.port}{where}"],
                                         remote=f"127.0.0.1:{port} on {session.name}", same_port=fwd.port == port,
                                         connections=0, joined=True if ctx.pi is not None else None)
        if fwd.port != port:
            here = f"on {ctx.pi.name}" if ctx.pi is not None else "here"
            ctx.progress.info(f"port {port} is busy {here}; the tunnel listens on {fwd.port} {'there ' if ctx.pi else ''}instead")
        yield fwd
    finally:
        with ctx.hold.shielded():
            fwd.close(drain=DRAIN_SECONDS if ctx.server.must_exit else 0)
            if ctx.record.tunnel is not None:
                ctx.record.tunnel.connections = fwd.connections
                if fwd.errors:
                    ctx.tunnel_errors = list(fwd.errors)
                    ctx.record.tunnel.errors = [e.message for e in fwd.errors]
                    tunnelcause.explain(ctx, session, port)  # before the server is stopped


@contextmanager
def _udp_relay(ctx: RunContext, port: int, values: Dict[str, Any]) -> Iterator[Relay]:
    """UDP through the tunnel: datagrams framed over the run's SSH connection to a relay by the server."""
    session = _session(ctx)
    relay: Relay
    with ctx.progress.step("open the UDP relay"):
        if ctx.pi is not None:
            relay = JoinedUdpRelay(ctx.pi.start_stream(client_script(port)), session.start_stream(remote_script(port)),
                                   ctx.pi.name, session.name)
        else:
            relay = UdpRelay(session.start_stream(remote_script(port)), port, session.name)
        relay.recorder = wire_log(ctx, "through the UDP relay")
        relay.recorder.settlers.append(relay.settle)
        relay.start()
    try:
        values.update(ip="127.0.0.1", host="localhost", client_port=relay.port)
        ctx.record.tunnel = TunnelRecord(udp_relay=f"127.0.0.1:{relay.port} (udp)",
                                         remote=f"127.0.0.1:{port}/udp on {session.name}",
                                         same_port=relay.port == port, datagrams=0)
        yield relay
    finally:
        with ctx.hold.shielded():
            relay.close()
            if ctx.record.tunnel is not None:
                ctx.record.tunnel.datagrams = relay.datagrams
