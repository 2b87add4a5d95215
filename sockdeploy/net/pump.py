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


class Tap(Protocol):
    """Where a carried connection's bytes are noted as they pass (a WireConnection of the wire record)."""

    def sent(self, data: bytes) -> None: ...

    def received(self, data: bytes) -> None: ...

    def closed(self, side: str) -> None: ...


class Pump:
    """Carry one connection: bytes both ways until both sides sent EOF or either side fails.

    The near -> far direction runs on a thread of this object and the far -> near
    direction on the caller's: a single loop blocked in sendall one way could
    starve the other way and deadlock when both peers write at once.
    """

    def __init__(self, near: Endpoint, far: Channel, stop: threading.Event, tap: Optional[Tap] = None) -> None:
        self.near = near
        self.far = far
        self.stop = stop
        self.tap = tap  # notes every byte carried, each after it went on
        self.up_done = threading.Event()  # set once the client's direction ended (its EOF passed on, or it failed)
        self._threads = ThreadGroup()

    def __enter__(self) -> Pump:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self) -> None:
        """Copy until both directions ended, then close both sides."""
        tap = self.tap
        up: Callable[[bytes], Any] = self.far.sendall
        down: Callable[[bytes], Any] = self.near.sendall
        up_eof: Callable[[], Any] = self.far.shutdown_write
        down_eof: Callable[[], Any] = lambda: self.near.shutdown(socket.SHUT_WR)  # noqa: E731
        if tap is not None:
            # what the client sent is noted as it arrives (before the server can answer it), what came back
            # once the client has it
            up, up_eof = _noting_first(up, tap.sent), _then(up_eof, lambda: tap.closed("client"))
            down, down_eof = _noting(down, tap.received), _then(down_eof, lambda: tap.closed("server"))
        self._threads.start(self._up, up, up_eof, name="sockdeploy-tunnel-up")
        sink = direct_sink(self.far, self.near)
        if sink is not None:  # the SSH transport writes into the socket itself (no thread hand-off per message)
            sink.tap = tap
            try:
                sink.run(self.stop, CHUNK)
            except Exception as exc:  # OSError, EOFError, or paramiko's SSHException when the session drops
                log.debug("tunnel direction ended: %s", exc)
        else:
            copy(self.far.recv, down, down_eof, self.stop)
        self.close()

    def _up(self, send: Callable[[bytes], Any], send_eof: Callable[[], Any]) -> None:
        try:
            copy(self.near.recv, send, send_eof, self.stop)
        finally:
            self.up_done.set()

    def close(self) -> None:
        """Join the upstream thread, then close both sides."""
        self._threads.close(timeout=None)  # the copy ends by itself once either side ends or stop is set
        close_quietly(self.near)
        close_quietly(self.far)


def _noting(send: Callable[[bytes], Any], note: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """SEND, then NOTE what was sent (only bytes that went on are noted)."""
    def sent(data: bytes) -> None:
        send(data)
        note(data)
    return sent


def _noting_first(send: Callable[[bytes], Any], note: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """NOTE what is about to be sent, then SEND it."""
    def sending(data: bytes) -> None:
        note(data)
        send(data)
    return sending


def _then(first: Callable[[], Any], after: Callable[[], None]) -> Callable[[], None]:
    def both() -> None:
        first()
        after()
    return both


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
