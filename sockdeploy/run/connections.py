"""The logins of a run: the server host's connection and, when configured, the client host's."""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from types import TracebackType
from typing import Iterator, Optional, Type

from sockdeploy.errors import ConnectError, ScriptTimeout, SockdeployError, WatchdogFired
from sockdeploy.output.progress import Progress
from sockdeploy.run import runtag
from sockdeploy.run.context import RunContext, Watchdog
from sockdeploy.run.faults import fault_point
from sockdeploy.run.record import SshRecord
from sockdeploy.run.server import finish
from sockdeploy.run.serverstep import warn_shared
from sockdeploy.run.watchdog import WATCHDOG_READY, heartbeat_interval, silence, watchdog_script
from sockdeploy.run.workspace import Workspace, create_workspace
from sockdeploy.ssh.session import SshSession


@contextmanager
def server_connection(ctx: RunContext) -> Iterator[SshSession]:
    """Log in to the server host (or reuse the shared connection); close it afterwards unless shared."""
    assert ctx.cfg is not None
    shared = ctx.opts.session
    session = shared or SshSession(ctx.cfg.server, accept_new=ctx.opts.accept_new, confirm=ctx.opts.confirm,
                                   prompt=ctx.opts.prompt)
    ctx.session = session
    unsubscribe = session.on_lost(ctx.tripwire.trip)  # a lost connection stops the run at once
    try:
        fault_point("connect", hold=ctx.hold)
        reused = session.alive
        if reused:
            ctx.progress.info(f"reusing the SSH connection to {session.name} (no new login)")
        else:
            with ctx.progress.step(f"connect to {ctx.cfg.server.host}"):
                session.open()
        ctx.record.ssh = SshRecord(login=session.login, strict_kex=session.strict_kex, reused_connection=reused)
        if not reused:
            say_ssh_config(ctx.progress, session)
        ctx.progress.detail(f"logged in as {session.login} with {session.auth_used or 'an earlier login'}; "
                            f"strict key exchange: {'yes' if session.strict_kex else 'no'}")
        ctx.record.server.host = session.name
        ctx.record.server.ip = session.peer_ip or resolve(session.hostname)
        yield session
    finally:
        unsubscribe()
        if shared is None:
            session.close()


def say_ssh_config(progress: Progress, session: SshSession) -> None:
    """With -v: what OpenSSH's config said for the host and each jump host, as the login used it."""
    for hop in session.jump_hosts:
        for line in hop.describe():
            progress.detail(f"jump host {line}" if not line.startswith(" ") else line)
    if session.ssh_options is not None:
        for line in session.ssh_options.describe():
            progress.detail(line)
    whose = "hosts.yaml's known_hosts" if session.known_hosts.configured else "from the ssh config"
    progress.detail(f"  host keys checked in {session.known_hosts.path} ({whose})")


@contextmanager
def client_host_workspace(ctx: RunContext) -> Iterator[Workspace]:
    """Log in to the client host (one login), with a private workspace and a watchdog of its own."""
    assert ctx.cfg is not None and ctx.cfg.client.ssh is not None
    ssh_cfg = ctx.cfg.client.ssh
    pi = SshSession(ssh_cfg, accept_new=ctx.opts.accept_new, confirm=ctx.opts.confirm, prompt=ctx.opts.prompt)
    pi.role = "client host"
    unsubscribe = pi.on_lost(ctx.tripwire.trip)
    with ctx.progress.step(f"connect to the client host {ssh_cfg.host}"):
        pi.open()
    say_ssh_config(ctx.progress, pi)
    ctx.progress.detail(f"logged in as {pi.login} with {pi.auth_used}")
    try:
        ctx.pi = pi
        ctx.record.client_host = pi.name
        ctx.record.client_ssh = SshRecord(login=pi.login, strict_kex=pi.strict_kex)
        with ctx.progress.step(f"upload the client sources to {pi.name}"):
            ws = create_workspace(pi, ssh_cfg.workdir, ctx.payload.files, ctx.payload.dirs)
        warn_shared(ctx, ws)
        # the server runs there too when both programs run on the client host
        roles = "" if ctx.local_mode else runtag.CLIENT_SIDE
        watchdog = start_watchdog(pi, ws, ctx, "stopped the client runs", roles)
        ctx.client_watchdog = watchdog
        try:
            yield ws
        finally:
            with ctx.hold.shielded():
                watchdog.settle()
                try:
                    runtag.note(ctx, pi.name, finish(ws, pid=None, remove=True, token=ctx.token, role=roles).strays)
                except (SockdeployError, ScriptTimeout, OSError) as exc:
                    ctx.progress.info(f"warning: cleanup on {pi.name} failed ({getattr(exc, 'message', exc)}); "
                                      "its watchdog removes the folder when the connection ends")
                finally:
                    watchdog.close()
    finally:
        unsubscribe()
        pi.close()


def start_watchdog(session: SshSession, ws: Workspace, ctx: RunContext, did: str = "stopped the server",
                   roles: str = "") -> Watchdog:
    """Start the host's watchdog for `ws`: if the connection dies, it stops the server and every process of the
    run there in `roles` (all when empty), and removes the folder.

    If it acts while the connection stands (sockdeploy was stopped past its window), the run stops at once.
    """
    def fired(reason: str) -> None:
        ctx.tripwire.trip(watchdog_fired(session.name, did, reason))

    return session.start_watchdog(watchdog_script(ws.path, roles), interval=heartbeat_interval(), ready=WATCHDOG_READY,
                                  on_end=fired, first=runtag.watchdog_line(ctx.token))


def watchdog_fired(host: str, did: str, reason: str) -> WatchdogFired:
    """Return the error for a watchdog on `host` that acted on its own; `reason` is what it said (seconds of silence)."""
    heard = f" (it heard no heartbeat for {reason} s)" if reason.isdigit() else ""
    return WatchdogFired(f"the watchdog on {host} {did} and removed the run folder{heard}",
                         f"sockdeploy must keep running (no Ctrl-Z) for the whole run; the watchdog acts after "
                         f"{silence()} s without a heartbeat. Run again")


def resolve(name: str) -> str:
    """Return the IPv4 address of `name`."""
    try:
        return str(socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])
    except OSError as exc:
        raise ConnectError(f"cannot resolve {name}: {exc}", "check server.host in hosts.yaml") from None


class ForwardingCheck:
    """Ask the server host whether it allows forwarding, on a thread of its own (alongside the upload).

    The thread is joined when the `with` block ends, so no check outlives the step that started it.
    """

    def __init__(self, session: SshSession, wanted: bool) -> None:
        self._session = session
        self._error: Optional[BaseException] = None
        self._thread = (threading.Thread(target=self._check, name="sockdeploy-check", daemon=True) if wanted else None)

    def _check(self) -> None:
        try:
            self._session.check_forwarding()
        except BaseException as exc:  # handed to confirm(), on the run's own thread
            self._error = exc

    def __enter__(self) -> ForwardingCheck:
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._thread.join()

    def confirm(self, progress: Progress) -> None:
        """Raise what the check found, as a step of its own."""
        if self._thread is None:
            return
        with progress.step("check that the server host allows forwarding"):
            self.close()
            if self._error is not None:
                raise self._error
