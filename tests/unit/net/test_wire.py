"""The wire record as the forwarders keep it: bytes both ways, in order, per connection and client run."""

from __future__ import annotations

import socket
import time
from typing import List, Optional, Tuple, Type

import pytest

from sockdeploy.errors import ForwardConnectFailed
from sockdeploy.net import frames
from sockdeploy.net.forward import LocalForward
from sockdeploy.net.udprelay import UdpRelay
from sockdeploy.net.wire import WireLog
from sockdeploy.output.wireview import hex_lines, render_wire
from tests.unit.net.fakes import FakeChannel, FakeFar, read_all, upper_after_eof


def _wait_for(log: WireLog, count: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(log.connections) < count:
        time.sleep(0.005)


def test_the_tunnel_keeps_every_byte_both_ways_and_which_run_sent_it():
    run: List[Optional[int]] = [None]
    log = WireLog("through the tunnel", lambda: run[0])
    with LocalForward(FakeFar(upper_after_eof), ("127.0.0.1", 9), 0) as fwd:
        fwd.recorder = log
        log.settlers.append(fwd.settle)
        for n, payload in ((1, b"1\n1\n2\n"), (2, b"3\n418\n")):
            log.settle()  # as the client step does before each run: the last run's connection is counted first
            run[0] = n
            with socket.create_connection(("127.0.0.1", fwd.port), timeout=10) as c:
                c.sendall(payload)
                c.shutdown(socket.SHUT_WR)
                assert read_all(c) == payload.upper()
    first, second = log.connections
    assert (first.run, second.run) == (1, 2) and log.of_run(2) == [second]
    assert first.data("sent") == b"1\n1\n2\n" and second.data("received") == b"3\n418\n"
    assert first.event_time("client closed") is not None and first.event_time("server closed") is not None
    assert first.origin.startswith("127.0.0.1:") and first.kind == "tcp"


def test_a_connection_that_could_not_be_carried_is_recorded_with_why():
    def refuse(origin: Tuple[str, int]) -> FakeChannel:
        raise ForwardConnectFailed("could not connect to 127.0.0.1:9 for the tunnel")

    log = WireLog("through the tunnel")
    with LocalForward(refuse, ("127.0.0.1", 9), 0) as fwd:
        fwd.recorder = log
        with socket.create_connection(("127.0.0.1", fwd.port), timeout=10) as c:
            assert c.recv(10) == b""
        _wait_for(log, 1)
    assert [c.error for c in log.connections] == ["could not connect to 127.0.0.1:9 for the tunnel"]


def test_the_udp_relay_keeps_each_datagram_per_client_address():
    ours, relay_end = socket.socketpair()
    relay_end.sendall(b"R")
    log = WireLog("through the UDP relay", lambda: 1)
    with UdpRelay(FakeChannel(ours), 0, "login") as relay:
        relay.recorder = log
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.bind(("127.0.0.1", 0))
        client.settimeout(10)
        for datagram in (b"11", b"22"):
            client.sendto(datagram, ("127.0.0.1", relay.port))
        reader, got = frames.FrameReader(), []
        while len(got) < 2:
            got += reader.feed(relay_end.recv(65536))
        relay_end.sendall(frames.pack(1, b"ok"))
        assert client.recvfrom(10)[0] == b"ok"
        relay.settle()
        client.close()
    (conn,) = log.connections
    assert conn.kind == "udp" and conn.datagrams("sent") == [b"11", b"22"] and conn.data("received") == b"ok"
    relay_end.close()


def test_the_view_shows_hex_text_events_and_what_was_cut():
    log = WireLog("through the tunnel", lambda: 1, cap=20)
    conn = log.open(("127.0.0.1", 5000))
    conn.sent(b"hello\n" + bytes(range(1, 20)))
    conn.closed("client")
    text = render_wire(log)
    assert "== connection 1: client run 1, tcp from 127.0.0.1:5000" in text
    assert "client -> server  20 bytes" in text and "|hello..........." in text
    assert "+" in text and "client closed" in text
    assert "note: 25 bytes sent; only the first 20 are kept (5 cut at the 20-byte cap)" in text
    assert hex_lines(b"AB\x00") == ["  00000000  41 42 00" + " " * 39 + "  |AB.|"]
    assert "No connection was carried." in render_wire(WireLog("through the tunnel"))


class SlowToAccept(LocalForward):
    """A tunnel whose accept thread gets the CPU late, as on a loaded machine."""

    def _accept_loop(self, waker: socket.socket) -> None:
        time.sleep(0.3)
        super()._accept_loop(waker)


class SlowFar(FakeFar):
    """A far side whose channel takes a while to open (a busy connection shared by parallel runs)."""

    def __init__(self, delay: float) -> None:
        super().__init__(upper_after_eof)
        self.delay = delay

    def __call__(self, origin: Tuple[str, int]) -> FakeChannel:
        time.sleep(self.delay)
        return super().__call__(origin)


@pytest.mark.parametrize("forward, delay, drain", [(SlowToAccept, 0.0, 2.0), (LocalForward, 1.5, 0.2),
                                                  (LocalForward, 0.0, 0.0)],
                         ids=["still-queued", "slow-channel", "no-drain"])
def test_a_client_that_wrote_and_exited_just_before_the_close_has_its_bytes_carried(forward: Type[LocalForward],
                                                                                    delay: float, drain: float):
    # the last client run wrote and exited: its connection may still wait to be accepted, its channel may
    # open only after the drain (2 s when the server should end by itself) or there is no drain at all
    # (a server stopped after the last run); its bytes still go on, and are in the wire record
    far = SlowFar(delay)
    log = WireLog("through the tunnel", lambda: 2)
    fwd = forward(far, ("127.0.0.1", 9), 0).start()
    fwd.recorder = log
    with socket.create_connection(("127.0.0.1", fwd.port), timeout=10) as c:
        c.sendall(b"418\n")
    fwd.close(drain=drain)
    far.join()
    assert [c.data("sent") for c in log.connections] == [b"418\n"] and fwd.connections == 1
