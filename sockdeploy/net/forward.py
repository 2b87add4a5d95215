"""A local forward (like `ssh -L`) carried by an existing SSH session: no second login."""

from __future__ import annotations

import errno
import logging
import select
import socket
import threading
import time
from typing import Callable, List, Optional, Set, Tuple

from sockdeploy.errors import NetworkPathError, SockdeployError

log = logging.getLogger("sockdeploy.net.forward")

CHUNK = 256 * 1024
# Opens the remote end of one forwarded connection; returns a socket-like channel.
Opener = Callable[[Tuple[str, int]], object]


def port_free_locally(port: int) -> bool:
    """Return whether both loopback addresses can bind `port` right now."""
    try:
        listeners = _bind_listeners(port)
    except OSError:
        return False
    for s in listeners:
        s.close()
    return True


def _bind_listeners(port: int) -> List[socket.socket]:
    """Bind 127.0.0.1 and (when the host has IPv6) ::1 on `port`; all or nothing."""
    made: List[socket.socket] = []
    try:
        v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        made.append(v4)
        v4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        v4.bind(("127.0.0.1", port))
        port = v4.getsockname()[1]
        if socket.has_ipv6:
            v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            v6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                v6.bind(("::1", port))
                made.append(v6)
            except OSError as exc:
                v6.close()
                # no ::1 on this host (IPv6 disabled): 127.0.0.1 alone will do
                if exc.errno not in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                    raise
    except BaseException:
        for s in made:
            s.close()
        raise
    return made


class _Carrier:
    """What both forwards share: carry each accepted connection to a channel from
    `opener`, one thread per connection, and close them all on the way out."""

    def __init__(self, opener: Opener) -> None:
        self.opener = opener
        self.port = 0
        self.connections = 0
        self.errors: List[SockdeployError] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: Set[threading.Thread] = set()
        self._open_pairs: Set[Tuple[object, object]] = set()

    def _carry(self, near: object, origin: Tuple[str, int], name: str) -> None:
        t = threading.Thread(target=self._serve, args=(near, origin), name=name, daemon=True)
        with self._lock:
            self._threads.add(t)
        t.start()

    def _serve(self, near: object, origin: Tuple[str, int]) -> None:
        try:
            try:
                far = self.opener(origin)
            except SockdeployError as exc:
                self.errors.append(exc)
                log.info("tunnel: %s", exc.message)
                _close_quietly(near)
                return
            with self._lock:
                self.connections += 1
                self._open_pairs.add((near, far))
            try:
                pump(near, far, self._stop)  # type: ignore[arg-type]
            finally:
                with self._lock:
                    self._open_pairs.discard((near, far))
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _close_carried(self, drain: float) -> None:
        """Give carried connections up to `drain` s to finish, then close them (listening has stopped).

        The drain lets a client's last bytes reach a server that should end by itself.
        """
        deadline = time.monotonic() + drain
        while time.monotonic() < deadline:
            with self._lock:
                if not self._threads:
                    break
            time.sleep(0.01)
        self._stop.set()
        self._after_stop()
        with self._lock:
            pairs = list(self._open_pairs)
            threads = list(self._threads)
        for near, far in pairs:
            _close_quietly(near)
            _close_quietly(far)
        for t in threads:
            t.join(timeout=2)

    def _after_stop(self) -> None:
        """Hook: what must end once the stop is signalled (LocalForward's accept loop)."""


class LocalForward(_Carrier):
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
        self._accept_thread: Optional[threading.Thread] = None
        self._wake: Optional[Tuple[socket.socket, socket.socket]] = None  # ends the accept loop's wait at once

    @property
    def addresses(self) -> List[str]:
        return [("[::1]" if s.family == socket.AF_INET6 else "127.0.0.1") + f":{self.port}" for s in self.listeners]

    def __enter__(self) -> LocalForward:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> LocalForward:
        """Bind the listeners now (a bind failure raises before any client runs) and start accepting."""
        try:
            self.listeners = _bind_listeners(self.wanted_port)
        except OSError as exc:
            if self.exact:
                raise NetworkPathError(f"cannot listen on 127.0.0.1:{self.wanted_port} for the tunnel: {exc.strerror}",
                                       "another program (an old `ssh -f -N -L` tunnel?) holds that port; close it, or choose another port") from None
            try:
                self.listeners = _bind_listeners(0)
            except OSError as exc2:
                raise NetworkPathError(f"cannot listen on loopback for the tunnel: {exc2.strerror}",
                                       "check that the loopback interface is up (ip link set lo up)") from None
        self.port = self.listeners[0].getsockname()[1]
        for s in self.listeners:
            s.listen(64)
            s.setblocking(False)
        self._wake = socket.socketpair()
        self._accept_thread = threading.Thread(target=self._accept_loop, name="sockdeploy-tunnel-accept", daemon=True)
        self._accept_thread.start()
        return self

    def _accept_loop(self) -> None:
        assert self._wake is not None
        waker = self._wake[0]
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([*self.listeners, waker], [], [])
            except (OSError, ValueError):
                return
            if waker in ready:
                return
            for listener in ready:
                try:
                    conn, peer = listener.accept()
                except (BlockingIOError, OSError):
                    continue
                conn.setblocking(True)
                self._carry(conn, (str(peer[0]), int(peer[1])), "sockdeploy-tunnel-conn")

    def close(self, drain: float = 0) -> None:
        """Stop listening, give carried connections up to `drain` s to finish, then close them."""
        if self._wake is not None:
            try:
                self._wake[1].send(b"x")
            except OSError:
                pass
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=2)
        for s in self.listeners:
            try:
                s.close()
            except OSError:
                pass
        self._close_carried(drain)

    def _after_stop(self) -> None:
        if self._wake is not None:
            for s in self._wake:
                s.close()
            self._wake = None


def pump(sock: socket.socket, chan, stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
    """Copy bytes both ways until both sides have sent EOF or either side fails.

    One thread per direction: a single loop blocked in sendall one way could
    starve the other way and deadlock when both peers write at once.
    """
    from sockdeploy.ssh.session import direct_sink

    up = threading.Thread(target=_copy, args=(sock.recv, chan.sendall, chan.shutdown_write, stop), daemon=True,
                          name="sockdeploy-tunnel-up")
    up.start()
    sink = direct_sink(chan, sock)
    if sink is not None:  # the SSH transport writes into the socket itself (no thread hand-off per message)
        try:
            sink.run(stop, CHUNK)
        except Exception as exc:  # OSError, EOFError, or paramiko's SSHException when the session drops
            log.debug("tunnel direction ended: %s", exc)
    else:
        _copy(chan.recv, sock.sendall, lambda: sock.shutdown(socket.SHUT_WR), stop)
    up.join()
    _close_quietly(sock)
    _close_quietly(chan)


def _copy(recv, send, send_eof, stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
    """Move data from one side to the other; pass EOF on as a half-close."""
    try:
        while not stop.is_set():
            data = recv(CHUNK)
            if not data:
                send_eof()  # the peer sees end-of-file, as the studio's server expects
                return
            send(data)
    except Exception as exc:  # OSError, EOFError, or paramiko's SSHException when the session drops
        log.debug("tunnel direction ended: %s", exc)


def _close_quietly(thing: object) -> None:
    if isinstance(thing, socket.socket):
        try:  # wakes a recv blocked in another thread, which close() alone does not
            thing.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    try:
        thing.close()  # type: ignore[attr-defined]
    except Exception:
        pass


class RemoteForward(_Carrier):
    """Listen on the client host's loopback over its own SSH connection and carry each
    connection to the server over the login host's connection.

    The two connections the run already has are joined on this machine, so the
    client host needs no login (and no credentials) of its own to the login host.
    """

    def __init__(self, listener: object, opener: Opener, wanted_port: int, *, exact: bool = False) -> None:
        super().__init__(opener)
        self.listener = listener  # an SshSession to the client host
        self.exact = exact
        self.wanted_port = wanted_port

    def start(self) -> RemoteForward:
        """Listen on the server's port number there if free, else on any port."""
        try:
            self.port = self.listener.listen_remote(self.wanted_port, self._accepted)  # type: ignore[attr-defined]
        except SockdeployError:
            if self.exact:
                raise
            self.port = self.listener.listen_remote(0, self._accepted)  # type: ignore[attr-defined]
        return self

    @property
    def addresses(self) -> List[str]:
        return [f"127.0.0.1:{self.port} on {getattr(self.listener, 'name', 'the client host')}"]

    def _accepted(self, chan: object, origin: Tuple[str, int]) -> None:
        self._carry(chan, origin, "sockdeploy-rtunnel-conn")

    def close(self, drain: float = 0) -> None:
        """Stop listening there, give carried connections up to `drain` s to finish, then close them."""
        if self.port:
            self.listener.stop_listening(self.port)  # type: ignore[attr-defined]
        self._close_carried(drain)
