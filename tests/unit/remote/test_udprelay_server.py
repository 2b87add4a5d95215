"""udprelay_server.py (started by udprelay.sh): datagrams from frames on stdin to a real UDP server, replies back."""

from __future__ import annotations

import socket
import threading

from sockdeploy.net import frames
from sockdeploy.net.udprelay import remote_script
from sockdeploy.remote.host import LocalHost
from sockdeploy.remote.program import program
from sockdeploy.remote.scripts import load
from tests.unit.remote.relayrun import frames_of, run_relay


class _UpperServer:
    """A UDP server on 127.0.0.1 that answers each datagram uppercased."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.peers: list = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(65535)
            except OSError:
                return
            self.peers.append(peer)
            self.sock.sendto(data.upper(), peer)

    def close(self) -> None:
        self.sock.close()


def test_datagrams_reach_the_server_and_replies_come_back_to_their_client():
    server = _UpperServer()
    try:
        stdin = frames.pack(1, b"alpha") + frames.pack(2, b"beta") + frames.pack(1, b"gamma")
        result, out = run_relay(remote_script(server.port), [stdin])
    finally:
        server.close()
    assert result.exit_status == 0, result.stderr
    assert out[:1] == b"R"
    got = frames_of(out[1:])
    assert sorted(got) == [(1, b"ALPHA"), (1, b"GAMMA"), (2, b"BETA")]
    # each client id has a UDP socket of its own there
    assert len(set(server.peers)) == 2


def test_a_frame_split_across_reads_is_one_datagram():
    server = _UpperServer()
    frame = frames.pack(7, b"split")
    try:
        result, out = run_relay(remote_script(server.port), [frame[:3], frame[3:]])
    finally:
        server.close()
    assert result.exit_status == 0, result.stderr
    assert frames_of(out[1:]) == [(7, b"SPLIT")]


def test_with_nothing_listening_the_relay_stays_up_and_says_nothing():
    free = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    result, out = run_relay(remote_script(port), [frames.pack(1, b"one") + frames.pack(1, b"two")])
    assert result.exit_status == 0, result.stderr
    assert out == b"R"


def test_without_python3_the_launcher_says_nopython():
    result = LocalHost().run("PATH=/nonexistent; export PATH\n" + remote_script(31000), timeout=10)
    assert result.exit_status == 97 and result.stdout == "NOPYTHON\n"


def test_a_bad_port_is_a_usage_error_on_stderr():
    script = program("udprelay.sh", load("udprelay_server.py"), load("udprelay_frames.py"), "notaport")
    result = LocalHost().run(script, stdin=b"", timeout=10)
    assert result.exit_status == 2 and result.stdout == ""
    assert "udprelay_server: usage" in result.stderr
