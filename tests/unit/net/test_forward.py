"""The forwards over fake channels: bytes both ways, half-close, errors kept, every thread joined."""

from __future__ import annotations

import socket
import threading
from typing import Any, List, Tuple

import pytest

from sockdeploy.errors import ForwardConnectFailed, ForwardingForbidden, NetworkPathError
from sockdeploy.net.forward import LocalForward, RemoteForward
from tests.unit.net.fakes import FakeChannel, FakeFar, read_all, sockdeploy_threads, upper_after_eof


def _exchange(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(payload)
        c.shutdown(socket.SHUT_WR)  # the far server answers only after end-of-file
        return read_all(c)


def test_local_forward_carries_bytes_both_ways_and_passes_half_close():
    far = FakeFar(upper_after_eof)
    with LocalForward(far, ("127.0.0.1", 9), 0) as fwd:
        assert fwd.port > 0 and fwd.addresses[0] == f"127.0.0.1:{fwd.port}"
        big = b"abc" * 200_000
        assert _exchange(fwd.port, big) == big.upper()
        assert _exchange(fwd.port, b"second") == b"SECOND"
        assert fwd.connections == 2 and fwd.errors == []
    far.join()
    assert [origin[0] for _, origin in far.opened] == ["127.0.0.1", "127.0.0.1"]
    assert all(chan.closed for chan, _ in far.opened)


def test_local_forward_carries_connections_at_once():
    far = FakeFar(upper_after_eof)
    results = {}
    with LocalForward(far, ("127.0.0.1", 9), 0) as fwd:
        def client(i: int) -> None:
            results[i] = _exchange(fwd.port, b"client %d" % i)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    assert results == {i: b"CLIENT %d" % i for i in range(8)}


def test_the_far_side_speaking_first_and_closing_reaches_the_client():
    def greet(sock: socket.socket) -> None:
        sock.sendall(b"hello\n")
        sock.shutdown(socket.SHUT_WR)
        assert read_all(sock) == b"bye"

    far = FakeFar(greet)
    with LocalForward(far, ("127.0.0.1", 9), 0) as fwd:
        with socket.create_connection(("127.0.0.1", fwd.port), timeout=10) as c:
            assert c.recv(100) == b"hello\n"
            assert c.recv(100) == b""  # the far side's EOF arrived as EOF
            c.sendall(b"bye")  # and this direction still works (half-close)
            c.shutdown(socket.SHUT_WR)
        far.join()


def test_close_joins_every_thread_even_with_connections_open():
    def hold(sock: socket.socket) -> None:
        read_all(sock)  # never answers; ends when the forward closes its end

    far = FakeFar(hold)
    before = sockdeploy_threads()
    fwd = LocalForward(far, ("127.0.0.1", 9), 0).start()
    clients = [socket.create_connection(("127.0.0.1", fwd.port), timeout=10) for _ in range(3)]
    for c in clients:
        c.sendall(b"x")
    for _ in range(200):
        if fwd.connections == 3:
            break
        threading.Event().wait(0.01)
    assert fwd.connections == 3
    started = sorted(t.name for t in sockdeploy_threads() - before)
    assert started == ["sockdeploy-tunnel-accept"] + ["sockdeploy-tunnel-conn"] * 3 + ["sockdeploy-tunnel-up"] * 3
    fwd.close()
    assert sockdeploy_threads() - before == set()
    for c in clients:
        assert read_all(c) == b""  # closed by the forward
        c.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", fwd.port), timeout=2)


def test_a_connection_the_far_side_refuses_is_closed_and_kept_as_an_error():
    def refuse(origin: Tuple[str, int]) -> FakeChannel:
        raise ForwardConnectFailed("could not connect to 127.0.0.1:9 for the tunnel")

    with LocalForward(refuse, ("127.0.0.1", 9), 0) as fwd:
        with socket.create_connection(("127.0.0.1", fwd.port), timeout=10) as c:
            assert c.recv(10) == b""  # closed at once: nothing could carry it
    assert fwd.connections == 0 and [e.message for e in fwd.errors] == ["could not connect to 127.0.0.1:9 for the tunnel"]


def test_a_busy_port_falls_back_to_a_free_one_unless_exact():
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        with LocalForward(FakeFar(upper_after_eof), ("127.0.0.1", 9), port) as fwd:
            assert fwd.port != port
        with pytest.raises(NetworkPathError) as info:
            LocalForward(FakeFar(upper_after_eof), ("127.0.0.1", 9), port, exact=True).start()
        assert f"127.0.0.1:{port}" in info.value.message and "another program" in (info.value.hint or "")
    finally:
        busy.close()


class _FakeListener:
    """A client host's session: listen_remote hands connections to the handler, like paramiko would."""

    name = "pi"

    def __init__(self, busy: Tuple[int, ...] = ()) -> None:
        self.busy = busy
        self.handler: Any = None
        self.listening: List[int] = []
        self.stopped: List[int] = []

    def listen_remote(self, port: int, handler: Any) -> int:
        if port in self.busy:
            raise ForwardingForbidden(f"pi refused to listen on 127.0.0.1:{port} for the tunnel")
        self.handler = handler
        port = port or 40000
        self.listening.append(port)
        return port

    def stop_listening(self, port: int) -> None:
        self.stopped.append(port)

    def connect(self) -> socket.socket:
        """A client on the Pi connects: return its end."""
        mine, theirs = socket.socketpair()
        self.handler(FakeChannel(theirs), ("127.0.0.1", 5555))
        return mine


def test_remote_forward_carries_connections_from_the_client_host():
    listener, far = _FakeListener(), FakeFar(upper_after_eof)
    before = sockdeploy_threads()
    with RemoteForward(listener, far, 31000) as fwd:
        assert fwd.port == 31000 and fwd.addresses == ["127.0.0.1:31000 on pi"]
        client = listener.connect()
        client.sendall(b"from the pi")
        client.shutdown(socket.SHUT_WR)
        assert read_all(client) == b"FROM THE PI"
        client.close()
    assert listener.stopped == [31000] and fwd.connections == 1
    assert far.opened[0][1] == ("127.0.0.1", 5555)
    assert sockdeploy_threads() - before == set()


def test_remote_forward_takes_any_port_when_its_own_is_busy_unless_exact():
    with RemoteForward(_FakeListener(busy=(31000,)), FakeFar(upper_after_eof), 31000) as fwd:
        assert fwd.port == 40000
    with pytest.raises(ForwardingForbidden):
        RemoteForward(_FakeListener(busy=(31000,)), FakeFar(upper_after_eof), 31000, exact=True).start()
