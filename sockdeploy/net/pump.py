"""Copying bytes both ways between a local socket and an SSH channel, half-close included."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any, Callable, Optional, Protocol

from sockdeploy.net.threads import ThreadGroup
from sockdeploy.ssh.forwarding import direct_sink

log = logging.getLogger("sockdeploy.net.pump")

CHUNK = 256 * 1024


class Channel(Protocol):
    """The far side: an SSH channel (paramiko's Channel has these)."""

    def recv(self, nbytes: int) -> bytes: ...

    def sendall(self, data: bytes) -> Any: ...

    def shutdown_write(self) -> Any: ...

    def close(self) -> Any: ...


class Endpoint(Protocol):
    """The near side: a socket, or a channel used like one."""

    def recv(self, nbytes: int) -> bytes: ...

    def sendall(self, data: bytes) -> Any: ...

    def shutdown(self, how: int) -> Any: ...

    def close(self) -> Any: ...


class Pump:
    """Carry one connection: bytes both ways until both sides sent EOF or either side fails.

    The near -> far direction runs on a thread of this object and the far -> near
    direction on the caller's: a single loop blocked in sendall one way could
    starve the other way and deadlock when both peers write at once.
    """

    def __init__(self, near: Endpoint, far: Channel, stop: threading.Event) -> None:
        self.near = near
        self.far = far
        self.stop = stop
        self._threads = ThreadGroup()

    def __enter__(self) -> Pump:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self) -> None:
        """Copy until both directions ended, then close both sides."""
        self._threads.start(copy, self.near.recv, self.far.sendall, self.far.shutdown_write, self.stop,
                            name="sockdeploy-tunnel-up")
        sink = direct_sink(self.far, self.near)
        if sink is not None:  # the SSH transport writes into the socket itself (no thread hand-off per message)
            try:
                sink.run(self.stop, CHUNK)
            except Exception as exc:  # OSError, EOFError, or paramiko's SSHException when the session drops
                log.debug("tunnel direction ended: %s", exc)
        else:
            copy(self.far.recv, self.near.sendall, lambda: self.near.shutdown(socket.SHUT_WR), self.stop)
        self.close()

    def close(self) -> None:
        """Join the upstream thread, then close both sides."""
        self._threads.close(timeout=None)  # the copy ends by itself once either side ends or stop is set
        close_quietly(self.near)
        close_quietly(self.far)


def pump(near: Endpoint, far: Channel, stop: threading.Event) -> None:
    """Carry one connection on the calling thread (see Pump)."""
    with Pump(near, far, stop) as carried:
        carried.run()


def copy(recv: Callable[[int], bytes], send: Callable[[bytes], Any], send_eof: Callable[[], Any],
         stop: threading.Event) -> None:
    """Move data from one side to the other; pass EOF on as a half-close."""
    try:
        while not stop.is_set():
            data = recv(CHUNK)
            if not data:
                send_eof()  # the peer sees end-of-file, as the exercise's server expects
                return
            send(data)
    except Exception as exc:  # OSError, EOFError, or paramiko's SSHException when the session drops
        log.debug("tunnel direction ended: %s", exc)


def close_quietly(thing: Optional[object]) -> None:
    """Close a socket or channel that may be closed or broken already."""
    if isinstance(thing, socket.socket):
        try:  # wakes a recv blocked in another thread, which close() alone does not
            thing.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    try:
        thing.close()  # type: ignore[union-attr]
    except Exception:
        pass
