"""The SSH session: one authenticated connection that carries every remote step.

The connection's parts live next door: resolver (OpenSSH's config, `ssh -G`),
route (jump hosts), connection (Fabric, errors), hostkeys, auth, keepalive,
helper/helperpool (the remote script runner), channel, forwarding, watchdog,
keyinstall, terminal. Only the ssh package touches paramiko and fabric.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from sockdeploy.errors import ConnectError, ConnectionLost, HelperLost, HelperUnavailable
from sockdeploy.remote.host import CommandResult, Stdin
from sockdeploy.spec.hosts import ServerConfig
from sockdeploy.ssh import channel, forwarding
from sockdeploy.ssh.command import wrap_script
from sockdeploy.ssh.connection import CONNECT_TIMEOUT, peer_ip, tune
from sockdeploy.ssh.helper import RemoteHelper, launcher, lost_error
from sockdeploy.ssh.helperpool import HelperPool
from sockdeploy.ssh.hostkeys import KnownHosts, known_hosts_for
from sockdeploy.ssh.keepalive import Keepalive
from sockdeploy.ssh.keyinstall import install_key
from sockdeploy.ssh.linkwatch import LinkWatch, Listener, LostListeners, connection_lost
from sockdeploy.ssh.resolver import SshOptions, resolve_server
from sockdeploy.ssh.route import Route
from sockdeploy.ssh.terminal import Confirm, Prompt
from sockdeploy.ssh.watchdog import OnEnd, Watchdog

log = logging.getLogger("sockdeploy.ssh.session")

WATCHDOG_INTERVAL = 5.0


def keepalive_timing(opts: Optional[SshOptions]) -> Dict[str, float]:
    """Keepalive's interval and timeout from ServerAliveInterval/CountMax when the config sets them.

    OpenSSH drops the link after CountMax unanswered keepalives sent every Interval s; without
    the setting (OpenSSH then sends none) sockdeploy keeps its own, since a run must notice a dead link.
    """
    if opts is None or opts.server_alive_interval <= 0:
        return {}
    interval = float(opts.server_alive_interval)
    return {"interval": interval, "timeout": interval * max(opts.server_alive_count_max, 1)}


class SshSession:
    """One SSH connection to the server host (a Host for running scripts)."""

    role = "server host"

    def __init__(self, cfg: ServerConfig, *, accept_new: bool = False, confirm: Optional[Confirm] = None,
                 prompt: Optional[Prompt] = None, options: Optional[SshOptions] = None) -> None:
        """`confirm` and `prompt` talk to the person at a terminal; None means there is none.

        `options` is the host's resolved OpenSSH config when the caller has it already (the doctor).
        """
        self.cfg = cfg
        self._options = options
        self.accept_new = accept_new
        self.confirm = confirm
        self.prompt = prompt
        self.name = cfg.host
        self.hostname = cfg.host
        self.login = cfg.host
        self.peer_ip: Optional[str] = None
        self.strict_kex: Optional[bool] = None
        self.identities: List[str] = []
        self.known_hosts = KnownHosts(cfg.known_hosts)
        self.helpers = HelperPool(self._start_helper)
        self._conn: Any = None
        self._route: Optional[Route] = None
        self._transport: Any = None
        self._keepalive: Optional[Keepalive] = None
        self._link: Optional[LinkWatch] = None
        self._lost = LostListeners()  # told at once when the connection dies (see on_lost)
        self._open_lock = threading.Lock()  # see _open
        self.auth_used: Optional[str] = None  # how the last login succeeded (method, key fingerprint), for -v
        self.ssh_options: Optional[SshOptions] = None  # what OpenSSH's config says for this host (ssh -G)
        self._global_requests = threading.Lock()  # see Keepalive

    # -- lifetime -----------------------------------------------------------
    def __enter__(self) -> SshSession:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, login: bool = True) -> None:
        """Connect and authenticate once, as the user's OpenSSH config says (`ssh -G`, hosts.yaml's values winning);
        each host key (jump hosts' too) is checked before any credential is sent.

        `login=False` stops after the host key check (nothing is sent to the host): `sockdeploy init`
        uses it to learn and store the key before the doctor.
        """
        if self._route is not None:  # a reopen: the old way there has ended
            self._route.close()
        opts = self.ssh_options = self._options or resolve_server(self.cfg)
        self.known_hosts = known_hosts_for(self.cfg, opts)
        self._route = Route(self.cfg, accept_new=self.accept_new, confirm=self.confirm, prompt=self.prompt)
        try:
            opened = self._route.open(opts, self.known_hosts, login)
        except BaseException:
            self.close()
            raise
        self._conn, self.identities, self.auth_used = opened.conn, opened.identities, opened.auth_used
        conn = opened.conn
        self._connected(conn, opened.transport, f"{conn.user}@{conn.host}:{conn.port}")

    @property
    def jump_hosts(self) -> List[SshOptions]:
        """What OpenSSH's config says for each jump host the connection went through, outermost first."""
        return list(self._route.hops) if self._route is not None else []

    def _connected(self, conn: Any, transport: Any, target: str) -> None:
        """Take the new transport into use: tuning, direct delivery, keepalive, what callers read."""
        self._transport = transport
        tune(transport)
        # Fabric's own view (its connect() never returned, see handshake): without it Fabric would
        # log in again for a ThreadingGroup, and conn.close() would leave the connection open.
        conn.transport = transport
        forwarding.install(transport)
        if self._keepalive is not None:  # a reopen: the old link's keepalive has ended
            self._keepalive.close()
        keepalive = self._keepalive = Keepalive(transport, self.cfg.host, requests=self._global_requests,
                                                **keepalive_timing(self.ssh_options))
        keepalive.start()
        if self._link is not None:  # a reopen: the old link has ended
            self._link.close()
        self._link = LinkWatch(transport, self.cfg.host, self._lost, lambda: keepalive.dead_reason).start()
        self.strict_kex = bool(getattr(transport, "agreed_on_strict_kex", False))
        log.info("connected to %s; strict key exchange (Terrapin fix): %s", target, "yes" if self.strict_kex else "no")
        self.name = conn.original_host
        self.hostname = conn.host  # after ssh-config HostName: a name the client can resolve
        self.login = target
        self.peer_ip = peer_ip(transport)

    def close(self) -> None:
        """End the helpers, the connection and its keepalive thread."""
        if self._link is not None:
            self._link.closing()  # this ending is asked for, not a loss
        self.helpers.close()
        conn, self._conn, self._transport = self._conn, None, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a dead connection must not mask the real error
                pass
        if self._route is not None:
            self._route.close()  # the jump hosts, after the connection that ran through them
        if self._keepalive is not None:
            self._keepalive.close()  # after the transport closed: its thread then ends at once
        if self._link is not None:
            self._link.close()  # likewise

    @property
    def dead_reason(self) -> Optional[str]:
        """Why the keepalive declared the link dead, if it did."""
        return self._keepalive.dead_reason if self._keepalive is not None else None

    def on_lost(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` (on a thread of its own) the moment the connection dies; return the unsubscriber."""
        return self._lost.subscribe(listener)

    def lost_error(self) -> ConnectionLost:
        """Return the error naming why the connection died (or that it is closed)."""
        if self._link is not None and self._link.error is not None:
            return self._link.error
        return connection_lost(self.cfg.host, self.dead_reason or "it is closed")

    @property
    def transport(self) -> Any:
        """Return the live paramiko transport; raise ConnectionLost naming why when it is gone."""
        if self._transport is None or not self._transport.is_active():
            raise self.lost_error()
        return self._transport

    def _raise_if_lost(self) -> None:
        """Raise the ConnectError naming why the connection died, if it did."""
        self.transport  # noqa: B018 - the property raises it

    def _failed(self, exc: BaseException) -> ConnectError:
        if isinstance(exc, EOFError) and not str(exc):  # paramiko's word for a socket that closed under a write
            return connection_lost(self.cfg.host, "closed by the other end")
        return ConnectError(f"the SSH connection to {self.cfg.host} failed: {exc}", "check your network and run again")

    @property
    def alive(self) -> bool:
        return self._transport is not None and self._transport.is_active()

    @property
    def max_agents(self) -> int:
        """How many remote helpers may run scripts at once (the name predates "remote helper")."""
        return self.helpers.limit

    @max_agents.setter
    def max_agents(self, limit: int) -> None:
        self.helpers.limit = limit

    def _open(self, transport: Any, kind: str = "session", *args: Any, **kwargs: Any) -> Any:
        """Open a channel, one at a time per connection.

        Paramiko keeps a refused open's reason in one slot per connection; two
        opens at once (parallel runs) could take each other's reason and report
        "Unable to open channel." instead.
        """
        with self._open_lock:
            return forwarding.open_channel(transport, kind, *args, timeout=CONNECT_TIMEOUT, **kwargs)

    def _exec(self, transport: Any, script: str, what: str, *, marked: bool = True) -> Any:
        """Open a session channel on `transport` and start `script` on it; ConnectError if that fails.

        `marked`: return once the script runs, what the login shell printed skipped (see shellstart).
        """
        import paramiko

        try:
            chan = self._open(transport)
            if marked:
                channel.start(chan, script, self.name)
            else:
                chan.exec_command(wrap_script(script))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectError(f"cannot open {what} to {self.cfg.host}: {exc}", "check your network and run again") from None
        return chan

    # -- forwarding -------------------------------------------------------------
    def open_forward(self, host: str, port: int, origin: Tuple[str, int] = ("127.0.0.1", 0)) -> Any:
        """Open a direct-tcpip channel: the server host connects to host:port for us (ssh -L)."""
        transport = self.transport
        return forwarding.open_forward(lambda *a, **k: self._open(transport, *a, **k), self.cfg.host, host, port, origin)

    def check_forwarding(self) -> None:
        """Raise ForwardingForbidden if sshd refuses local forwards; any other answer means allowed."""
        transport = self.transport
        forwarding.check_forwarding(lambda *a, **k: self._open(transport, *a, **k), self.cfg.host)

    def listen_remote(self, port: int, handler: Callable[[Any, Tuple[str, int]], None]) -> int:
        """Have the host listen on its loopback `port` (0: any) for us, like `ssh -R`; return the port.

        `handler(channel, origin)` gets each connection, on paramiko's thread:
        it must hand the work to a thread of its own.
        """
        transport = self.transport
        with self._global_requests:
            return forwarding.listen_remote(transport, self.cfg.host, port, handler)

    def stop_listening(self, port: int) -> None:
        """Undo listen_remote; quietly, since the connection may be gone already."""
        try:
            transport = self.transport
            with self._global_requests:
                transport.cancel_port_forward("127.0.0.1", port)
        except Exception:
            pass

    # -- channels of their own -----------------------------------------------------
    def start_stream(self, script: str) -> Any:
        """Run `script` on its own channel and hand back the channel (stdin/stdout as a byte stream)."""
        return self._exec(self.transport, script, "a channel")

    def start_watchdog(self, script: str, interval: float = WATCHDOG_INTERVAL, ready: Optional[bytes] = None,
                       on_end: Optional[OnEnd] = None, first: bytes = b"") -> Watchdog:
        """Run `script` on a channel kept open with heartbeats; closing or losing it ends the script.

        The channel opens in the background (off the critical path); Watchdog.ensure()
        waits for it and, with `ready`, until the script has printed that line. `on_end`
        hears that the script ended on its own while the connection stood (it fired).
        `first` goes to the script once it runs, before the first heartbeat (the run's token).
        """
        transport = self.transport
        return Watchdog(lambda: self._exec(transport, script, "the watchdog channel", marked=False), interval, ready,
                        on_end=on_end, alive=transport.is_active, host=self.name, first=first)

    start_lifeline = start_watchdog  # the runner's name for it until it says watchdog too

    # -- running things -------------------------------------------------------
    def run(self, script: str, *, stdin: Stdin = None, timeout: Optional[float] = None) -> CommandResult:
        """Run a POSIX sh script on the server host over this connection.

        Through an idle remote helper when there is one (one round trip), else on a channel of its own.
        """
        helper = self.helpers.borrow()
        if helper is not None:
            try:
                return helper.run("umask 077\n" + script, stdin, timeout)
            except HelperUnavailable:
                self.helpers.turn_off()  # nothing ran; this host gets channels from now on
                log.info("no python3 on %s: each script runs on its own channel", self.name)
            except HelperLost:
                self._raise_if_lost()
                raise lost_error(self.name) from None
            except (OSError, EOFError) as exc:
                self._raise_if_lost()
                raise self._failed(exc) from None
            finally:
                self.helpers.give_back(helper, self._transport)
        return self._run_on_channel(script, stdin=stdin, timeout=timeout)

    def _start_helper(self) -> RemoteHelper:
        """Open a channel and start a remote helper on it."""
        import paramiko

        transport = self.transport
        try:
            chan = self._open(transport)
            helper = RemoteHelper(chan, transport.is_active, owner=transport, host=self.name)
            chan.exec_command(wrap_script(launcher(helper.nonce)))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectError(f"cannot open a channel to {self.cfg.host}: {exc}",
                               "the SSH connection may have dropped; run again") from None
        return helper

    def _run_on_channel(self, script: str, *, stdin: Stdin = None, timeout: Optional[float] = None) -> CommandResult:
        import paramiko

        transport = self.transport
        try:
            chan = self._open(transport)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectError(f"cannot open a channel to {self.cfg.host}: {exc}",
                               "the SSH connection may have dropped; run again") from None

        def check_alive() -> None:
            if not transport.is_active():
                self._raise_if_lost()

        try:
            return channel.collect(chan, script, stdin, timeout, check_alive, self.name)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self._raise_if_lost()  # "was lost", when it was, rather than the bare EOFError
            raise self._failed(exc) from None
        finally:
            try:
                chan.close()
            except (paramiko.SSHException, EOFError, OSError):
                pass  # a channel of a dead connection: closing it must not hide why the step failed

    # -- first-time setup ------------------------------------------------------
    def install_key(self, public_key: str) -> bool:
        """Append `public_key` to ~/.ssh/authorized_keys on the host unless it is there; return whether it was added."""
        return install_key(self, public_key)
