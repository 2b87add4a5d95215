"""The local halves of the UDP relay, over fake channels standing in for the relay programs."""

from __future__ import annotations

import shlex
import socket
import struct

import pytest

from sockdeploy.errors import NetworkPathError
from sockdeploy.net import frames
from sockdeploy.net.udprelay import JoinedUdpRelay, UdpRelay, client_script, remote_script
from sockdeploy.net.wire import WireLog
from sockdeploy.remote.scripts import load
from tests.unit.net.fakes import FakeChannel, sockdeploy_threads


def _read_frame(sock: socket.socket) -> tuple:
    reader, got = frames.FrameReader(), []
    while not got:
        got = reader.feed(sock.recv(65536))
    return got[0]


def _udp_client() -> socket.socket:
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.bind(("127.0.0.1", 0))
    c.settimeout(10)
    return c


def test_udp_relay_frames_each_client_and_sends_replies_back_to_it():
    ours, relay_end = socket.socketpair()
    relay_end.sendall(b"R")
    before = sockdeploy_threads()
    with UdpRelay(FakeChannel(ours), 0, "login") as relay:
        a, b = _udp_client(), _udp_client()
        a.sendto(b"from a", ("127.0.0.1", relay.port))
        assert _read_frame(relay_end) == (1, b"from a")
        b.sendto(b"from b", ("127.0.0.1", relay.port))
        assert _read_frame(relay_end) == (2, b"from b")
        relay_end.sendall(frames.pack(2, b"to b") + frames.pack(1, b"to a")[:3])
        relay_end.sendall(frames.pack(1, b"to a")[3:])
        assert b.recvfrom(100)[0] == b"to b" and a.recvfrom(100)[0] == b"to a"
        assert relay.datagrams == 2
    assert sockdeploy_threads() - before == set()
    assert relay_end.recv(10) == b""  # the relay program got end of file: it ends


@pytest.mark.parametrize("hello, words", [(b"NOPYTHON\n", "needs python3 on login"), (b"", "did not start")])
def test_udp_relay_that_did_not_start_is_a_network_path_error(hello, words):
    ours, relay_end = socket.socketpair()
    relay_end.sendall(hello)
    relay_end.shutdown(socket.SHUT_WR)
    with pytest.raises(NetworkPathError) as info:
        UdpRelay(FakeChannel(ours), 0, "login").start()
    assert words in info.value.message and "--via vpn" in (info.value.hint or "")


def test_joined_relay_passes_frames_between_the_two_programs():
    client_ours, client_prog = socket.socketpair()
    server_ours, server_prog = socket.socketpair()
    client_prog.sendall(b"R" + struct.pack("!H", 40123))
    server_prog.sendall(b"R")
    before = sockdeploy_threads()
    with JoinedUdpRelay(FakeChannel(client_ours), FakeChannel(server_ours), "pi", "login") as relay:
        assert relay.port == 40123
        client_prog.sendall(frames.pack(1, b"up"))
        assert _read_frame(server_prog) == (1, b"up")
        server_prog.sendall(frames.pack(1, b"down"))
        assert _read_frame(client_prog) == (1, b"down")
    assert sockdeploy_threads() - before == set()


def test_joined_relay_keeps_each_datagram_per_client_and_never_passes_the_address_frame_on():
    client_ours, client_prog = socket.socketpair()
    server_ours, server_prog = socket.socketpair()
    client_prog.sendall(b"R" + struct.pack("!H", 40123))
    server_prog.sendall(b"R")
    log = WireLog("through the UDP relay", lambda: 1)
    relay = JoinedUdpRelay(FakeChannel(client_ours), FakeChannel(server_ours), "pi", "login")
    relay.recorder = log
    with relay:
        # the endpoint names the client first; both frames may arrive in one read
        client_prog.sendall(frames.pack(0, b"1 127.0.0.1 45678") + frames.pack(1, b"55"))
        assert _read_frame(server_prog) == (1, b"55")
        server_prog.sendall(frames.pack(1, b"got 55"))
        assert _read_frame(client_prog) == (1, b"got 55")
        client_prog.sendall(frames.pack(1, b"418"))
        assert _read_frame(server_prog) == (1, b"418")
    (conn,) = log.connections
    assert (conn.kind, conn.origin, conn.run) == ("udp", "127.0.0.1:45678", 1)
    assert conn.datagrams("sent") == [b"55", b"418"] and conn.datagrams("received") == [b"got 55"]
    assert relay.datagrams == 2


def test_joined_relay_without_python_on_the_client_host_says_so():
    client_ours, client_prog = socket.socketpair()
    server_ours, _server_prog = socket.socketpair()
    client_prog.sendall(b"NOPYTHON\n")
    with pytest.raises(NetworkPathError) as info:
        JoinedUdpRelay(FakeChannel(client_ours), FakeChannel(server_ours), "pi", "login").start()
    assert "needs python3 on pi" in info.value.message


def test_the_launch_scripts_pass_program_and_port_as_arguments():
    launcher = load("udprelay.sh")
    for script, program in ((remote_script(31000), "udprelay_server.py"), (client_script(31000), "udprelay_client.py")):
        args, _, body = script.rpartition(" 31000\n")
        assert body == launcher  # the shipped launcher, unchanged
        assert args == "set -- " + " ".join(shlex.quote(load(name)) for name in (program, "udprelay_frames.py"))
