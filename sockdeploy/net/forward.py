"""Forwards carried by an existing SSH session (no second login): local like `ssh -L`, and remote,
listening on the client host and joined here to the login host's connection."""

from __future__ import annotations

import select
import socket
import threading
from typing import Any, List, Optional, Protocol, Tuple

from sockdeploy.errors import NetworkPathError, SockdeployError
from sockdeploy.net.carrier import Carrier, Opener
from sockdeploy.net.listeners import address, bind_loopback, wait_taken
from sockdeploy.net.pump import Endpoint
from sockdeploy.net.threads import ThreadGroup

__all__ = ["LocalForward", "Opener", "RemoteForward"]


class LocalForward(Carrier):
    """Listen on loopback and carry each connection to dest over the SSH session.

    Carries many connections, one after another and at once; passes half-close
    (EOF) through in both directions.
    """

    def __init__(self, opener: Opener, dest: Tuple[str, int], local_port: int, *, exact: bool = False) -> None:
        super().__init__(opener)
        self.dest = dest
        self.wanted_port = local_port
        self.exact = exact
        self.listeners: List[socket.socket] = []
        self._acceptor = ThreadGroup()
        self._wake: Optional[Tuple[socket.socket, socket.socket]] = None  # ends the accept loop's wait at once
        self._accepting = threading.Lock()  # held from accept() until the connection's wire record is open

    @property
    def addresses(self) -> List[str]:
        return [address(s) for s in self.listeners]

    def start(self) -> LocalForward:
        """Bind the listeners now (a bind failure raises before any client runs) and start accepting."""
        self.listeners = self._bind()
        self.port = self.listeners[0].getsockname()[1]
        for s in self.listeners:
            s.listen(64)
            s.setblocking(False)
        self._wake = socket.socketpair()
        self._acceptor.start(self._accept_loop, self._wake[0], name="sockdeploy-tunnel-accept")
        return self

    def _bind(self) -> List[socket.socket]:
        try:
            return bind_loopback(self.wanted_port)
        except OSError as exc:
            if self.exact:
                raise NetworkPathError(f"cannot listen on 127.0.0.1:{self.wanted_port} for the tunnel: {exc.strerror}",
                                       "another program (an old `ssh -f -N -L` tunnel?) holds that port; "
                                       "close it, or choose another port") from None
        try:
            return bind_loopback(0)
        except OSError as exc:
            raise NetworkPathError(f"cannot listen on loopback for the tunnel: {exc.strerror}",
                                   "check that the loopback interface is up (ip link set lo up)") from None

    def _accept_loop(self, waker: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([*self.listeners, waker], [], [])
            except (OSError, ValueError):
                return
            if waker in ready:
                return
            for listener in ready:
                with self._accepting:
                    try:
                        conn, peer = listener.accept()
                    except OSError:
                        continue
                    conn.setblocking(True)
                    self.carry(conn, (str(peer[0]), int(peer[1])), "sockdeploy-tunnel-conn")

    def settle(self, timeout: float = 1.0) -> None:
        """Return once no connection waits to be accepted (a client that already exited may have left one)."""
        wait_taken(self.listeners, self._accepting, timeout)

    def close(self, drain: float = 0) -> None:
        """Carry what waits to be accepted, stop listening, give carried connections up to `drain` s to
        finish, then close them."""
        # A client that connected, wrote and exited just now may still sit in the listen queue: closing
        # the listener would drop it with its bytes (a quit code the server then never gets).
        self.settle()
        if self._wake is not None:
            try:
                self._wake[1].send(b"x")
            except OSError:
                pass
        self._acceptor.close(timeout=2)
        if self._wake is not None:
            for s in self._wake:
                s.close()
            self._wake = None
        for s in self.listeners:
            try:
                s.close()
            except OSError:
                pass
        self.close_carried(drain)


class Listener(Protocol):
    """A session that can listen on its host's loopback for us (SshSession, like `ssh -R`)."""

    name: str

    def listen_remote(self, port: int, handler: Any) -> int: ...

    def stop_listening(self, port: int) -> None: ...


class RemoteForward(Carrier):
    """Listen on the client host's loopback over its own SSH connection and carry each
    connection to the server over the login host's connection.

    The two connections the run already has are joined on this machine, so the
    client host needs no login (and no credentials) of its own to the login host.
    """

    def __init__(self, listener: Listener, opener: Opener, wanted_port: int, *, exact: bool = False) -> None:
        super().__init__(opener)
        self.listener = listener
        self.exact = exact
        self.wanted_port = wanted_port

    def start(self) -> RemoteForward:
        """Listen on the server's port number there if free, else on any port."""
        try:
            self.port = self.listener.listen_remote(self.wanted_port, self._accepted)
        except SockdeployError:
            if self.exact:
                raise
            self.port = self.listener.listen_remote(0, self._accepted)
        return self

    @property
    def addresses(self) -> List[str]:
        return [f"127.0.0.1:{self.port} on {getattr(self.listener, 'name', 'the client host')}"]

    def _accepted(self, chan: Endpoint, origin: Tuple[str, int]) -> None:
        # on paramiko's thread: hand the connection to a thread of our own
        self.carry(chan, origin, "sockdeploy-rtunnel-conn")

    def close(self, drain: float = 0) -> None:
        """Stop listening there, give carried connections up to `drain` s to finish, then close them."""
        if self.port:
            self.listener.stop_listening(self.port)
        self.close_carried(drain)
