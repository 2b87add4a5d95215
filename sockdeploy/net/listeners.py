"""Listening sockets on this machine's loopback addresses."""

from __future__ import annotations

import errno
import select
import socket
import threading
import time
from typing import List, Sequence


def bind_loopback(port: int) -> List[socket.socket]:
    """Bind 127.0.0.1 and (when the host has IPv6) ::1 on `port` (0: any free one); all or nothing."""
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


def address(listener: socket.socket) -> str:
    """Return host:port of a loopback listener as a client would write it."""
    host = "[::1]" if listener.family == socket.AF_INET6 else "127.0.0.1"
    return f"{host}:{listener.getsockname()[1]}"


def wait_taken(socks: Sequence[socket.socket], taking: threading.Lock, timeout: float = 1.0) -> None:
    """Return once nothing waits on SOCKS to be taken (accepted, received), or after TIMEOUT s.

    The taker holds TAKING from the moment it takes something until it has noted it, so what it took
    counts as taken only once noted (a client that already exited may have left a connection or a
    datagram behind, which must be counted for its run).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and socks:
        with taking:
            try:
                waiting, _, _ = select.select(list(socks), [], [], 0)
            except (OSError, ValueError):
                return
        if not waiting:
            return
        time.sleep(0.002)
