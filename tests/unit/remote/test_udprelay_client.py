"""udprelay_client.py (started by udprelay.sh): the client's UDP endpoint, framing datagrams to stdout."""

from __future__ import annotations

import socket
import struct
import threading

from sockdeploy.net import frames
from sockdeploy.net.udprelay import client_script
from sockdeploy.remote.host import LocalHost
from sockdeploy.remote.program import program
from sockdeploy.remote.scripts import load
from tests.unit.remote.relayrun import frames_of, run_relay


def _free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class _Client(threading.Thread):
    """A UDP client that sends `ping` to the relay until it gets an answer (or 5 s pass)."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.answer = b""

    def run(self) -> None:
        for _ in range(150):  # 15 s: the relay may start slowly on a loaded machine
            self.sock.sendto(b"ping", ("127.0.0.1", self.port))
            try:
                self.answer = self.sock.recv(100)
                return
            except OSError:
                continue


def test_datagrams_go_out_as_frames_and_frames_come_back_as_datagrams():
    port = _free_udp_port()
    client = _Client(port)
    client.start()
    # the answer arrives after the client's first datagrams gave it an id
    result, out = run_relay(client_script(port), [frames.pack(1, b"pong"), frames.pack(9, b"nobody")], before=2.0)
    client.join(15)
    assert result.exit_status == 0, result.stderr
    assert out[:3] == b"R" + struct.pack("!H", port)
    got = frames_of(out[3:])
    # the new client's address comes first, in a frame of id 0, for the wire record
    assert got[0] == (0, b"1 127.0.0.1 %d" % client.sock.getsockname()[1])
    assert set(got[1:]) == {(1, b"ping")}
    assert client.answer == b"pong"


def test_a_busy_port_is_replaced_by_a_free_one_and_reported():
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    port = busy.getsockname()[1]
    try:
        result, out = run_relay(client_script(port), [], after=0.2)
    finally:
        busy.close()
    assert result.exit_status == 0, result.stderr
    assert out[:1] == b"R" and len(out) == 3
    assert struct.unpack("!H", out[1:])[0] not in (0, port)


def test_without_python3_the_launcher_says_nopython():
    result = LocalHost().run("PATH=/nonexistent; export PATH\n" + client_script(31000), timeout=10)
    assert result.exit_status == 97 and result.stdout == "NOPYTHON\n"


def test_a_bad_port_is_a_usage_error_on_stderr():
    script = program("udprelay.sh", load("udprelay_client.py"), load("udprelay_frames.py"), "70000")
    result = LocalHost().run(script, stdin=b"", timeout=10)
    assert result.exit_status == 2 and result.stdout == ""
    assert "udprelay_client: usage" in result.stderr
