"""Stand-ins for SSH channels: one end of a socket pair, the other end served by a test thread."""

from __future__ import annotations

import socket
import threading
from typing import Callable, List, Set, Tuple


class FakeChannel:
    """The channel half paramiko would give: recv, sendall, shutdown_write, shutdown, close."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.closed = False

    def recv(self, n: int) -> bytes:
        return self.sock.recv(n)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def shutdown_write(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def shutdown(self, how: int) -> None:
        self.sock.shutdown(how)

    def close(self) -> None:
        """Close; like paramiko's, this wakes a recv waiting on another thread."""
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def read_all(sock: socket.socket) -> bytes:
    """Read until end of file."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


class FakeFar:
    """Open fake channels whose far end runs `serve(sock)` on a thread; keeps what it opened."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self.serve = serve
        self.opened: List[Tuple[FakeChannel, Tuple[str, int]]] = []
        self.threads: List[threading.Thread] = []

    def __call__(self, origin: Tuple[str, int]) -> FakeChannel:
        near, far = socket.socketpair()
        chan = FakeChannel(near)
        self.opened.append((chan, origin))
        t = threading.Thread(target=self._serve, args=(far,), daemon=True)
        self.threads.append(t)
        t.start()
        return chan

    def _serve(self, sock: socket.socket) -> None:
        with sock:
            try:
                self.serve(sock)
            except OSError:
                pass

    def join(self) -> None:
        for t in self.threads:
            t.join(5)


def upper_after_eof(sock: socket.socket) -> None:
    """A server that reads until EOF, then answers with what it got, uppercased."""
    sock.sendall(read_all(sock).upper())


def sockdeploy_threads() -> Set[threading.Thread]:
    """The live threads sockdeploy started."""
    return {t for t in threading.enumerate() if t.name.startswith("sockdeploy-")}
