"""UDP across the SSH connection: a local UDP endpoint, datagrams framed over one channel, and a
small relay next to the server on the server host that speaks UDP to it.

Frame: 2-byte client id, 2-byte length, the datagram. Each local client address
gets an id and, on the server host, a UDP socket of its own, so the server's
replies go back to the client that sent the request; datagram boundaries are kept.
"""

from __future__ import annotations

import base64
import logging
import socket
import struct
import threading
from typing import Dict, Optional, Tuple

from sockdeploy.errors import NetworkPathError

log = logging.getLogger("sockdeploy.net.udprelay")
HEADER = struct.Struct("!HH")

# What both remote ends (next to the server, and on a client host) share, in their python3:
# reading frames from stdin and writing them to stdout.
_FRAMES = r'''
import os, select, socket, struct, sys
H = struct.Struct("!HH")
pending = [b""]

def frames():
    # One read of stdin: the whole (id, datagram) frames it completes, or None at end of file.
    data = os.read(0, 65536)
    if not data:
        return None
    buf, done = pending[0] + data, []
    while len(buf) >= H.size:
        cid, n = H.unpack(buf[:H.size])
        if len(buf) < H.size + n:
            break
        done.append((cid, buf[H.size:H.size + n]))
        buf = buf[H.size + n:]
    pending[0] = buf
    return done

def send_frame(cid, d):
    frame = H.pack(cid, len(d)) + d
    while frame:
        frame = frame[os.write(1, frame):]
'''

# Runs on the server host with its python3 (standard library only).
REMOTE_RELAY = _FRAMES + r'''
port = int(sys.argv[1])
socks, owner = {}, {}
os.write(1, b"R")  # ready
while True:
    r, _, _ = select.select([0] + list(socks.values()), [], [])
    if 0 in r:
        got = frames()
        if got is None:
            break
        for cid, dgram in got:
            s = socks.get(cid)
            if s is None:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.connect(("127.0.0.1", port))
                socks[cid], owner[s.fileno()] = s, cid
            try:
                s.send(dgram)
            except OSError:
                pass
    for s in r:
        if s == 0:
            continue
        try:
            d = s.recv(65535)
        except OSError:
            continue
        send_frame(owner[s.fileno()], d)
'''


def _launch(program: str, port: int) -> str:
    """The sh script that runs a relay program with the host's python3 (or says it is missing)."""
    code = base64.b64encode(program.encode()).decode()
    return (f'command -v python3 >/dev/null 2>&1 || {{ echo "NOPYTHON"; exit 97; }}\n'
            f'exec python3 -u -c "$(printf %s {code} | base64 -d)" {int(port)}\n')


def remote_script(port: int) -> str:
    """The sh script that starts the relay next to the server (or says python3 is missing)."""
    return _launch(REMOTE_RELAY, port)


class UdpRelay:
    """The local half: a UDP socket on loopback for the client, relayed over `chan`."""

    def __init__(self, chan, local_port: int, server_host: str) -> None:  # type: ignore[no-untyped-def]
        self.chan = chan
        self.server_host = server_host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind(("127.0.0.1", local_port))
        except OSError:
            self.sock.bind(("127.0.0.1", 0))  # busy here (both ends on one machine): any free port
        self.port = self.sock.getsockname()[1]
        self.ids: Dict[Tuple[str, int], int] = {}
        self.addrs: Dict[int, Tuple[str, int]] = {}
        self.datagrams = 0
        self._stop = threading.Event()
        self._threads = []

    def start(self) -> UdpRelay:
        ready = self.chan.recv(16)
        if ready != b"R":
            self.close()
            if b"NOPYTHON" in ready:
                raise NetworkPathError(f"UDP through the tunnel needs python3 on {self.server_host}, and it has none",
                                       "use the VPN instead (--via vpn), or run on campus (--via direct)")
            raise NetworkPathError(f"the UDP relay on {self.server_host} did not start", "use the VPN instead (--via vpn)")
        for target in (self._up, self._down):
            t = threading.Thread(target=target, daemon=True, name="sockdeploy-udprelay")
            t.start()
            self._threads.append(t)
        return self

    def _up(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            cid = self.ids.get(addr)
            if cid is None:
                cid = len(self.ids) + 1
                self.ids[addr], self.addrs[cid] = cid, addr
            try:
                self.chan.sendall(HEADER.pack(cid, len(data)) + data)
                self.datagrams += 1
            except Exception as exc:  # the SSH session is gone
                log.debug("udp relay: %s", exc)
                return

    def _down(self) -> None:
        buf = b""
        while not self._stop.is_set():
            try:
                data = self.chan.recv(65536)
            except Exception:
                return
            if not data:
                return
            buf += data
            while len(buf) >= HEADER.size:
                cid, n = HEADER.unpack(buf[:HEADER.size])
                if len(buf) < HEADER.size + n:
                    break
                dgram, buf = buf[HEADER.size:HEADER.size + n], buf[HEADER.size + n:]
                addr = self.addrs.get(cid)
                if addr is not None:
                    try:
                        self.sock.sendto(dgram, addr)
                    except OSError:
                        pass

    def close(self) -> None:
        self._stop.set()
        try:
            self.chan.shutdown_write()
            self.chan.close()
        except Exception:
            pass
        self.sock.close()
        for t in self._threads:
            t.join(timeout=2)


# Runs on the client host (a Pi reached over SSH) with its python3: the client's UDP
# endpoint there, speaking the same frames, so this machine only joins two channels.
CLIENT_RELAY = _FRAMES + r'''
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    s.bind(("127.0.0.1", 0))
os.write(1, b"R" + struct.pack("!H", s.getsockname()[1]))
ids, addrs = {}, {}
while True:
    r, _, _ = select.select([0, s], [], [])
    if s in r:
        d, a = s.recvfrom(65535)
        cid = ids.get(a)
        if cid is None:
            cid = ids[a] = len(ids) + 1
            addrs[cid] = a
        send_frame(cid, d)
    if 0 in r:
        got = frames()
        if got is None:
            break
        for cid, dgram in got:
            if cid in addrs:
                try:
                    s.sendto(dgram, addrs[cid])
                except OSError:
                    pass
'''


def client_script(port: int) -> str:
    """The sh script that starts the client host's UDP endpoint (or says python3 is missing)."""
    return _launch(CLIENT_RELAY, port)


class JoinedUdpRelay:
    """UDP through the tunnel with the client on another host: its relay and the server's, joined here."""

    def __init__(self, client_chan, server_chan, client_host: str, server_host: str) -> None:  # type: ignore[no-untyped-def]
        self.client_chan, self.server_chan = client_chan, server_chan
        self.client_host, self.server_host = client_host, server_host
        self.port = 0
        self.datagrams = 0  # not counted: the frames pass through unread
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> JoinedUdpRelay:
        from sockdeploy.net.forward import pump

        hello = _read_exactly(self.client_chan, 3)
        if len(hello) != 3 or hello[:1] != b"R":
            self.close()
            where = self.client_host
            raise NetworkPathError(f"UDP through the tunnel needs python3 on {where}" if b"NO" in hello
                                   else f"the UDP endpoint on {where} did not start", "use the VPN instead (--via vpn)")
        self.port = struct.unpack("!H", hello[1:])[0]
        if self.server_chan.recv(16) != b"R":
            self.close()
            raise NetworkPathError(f"the UDP relay on {self.server_host} did not start (python3 missing?)",
                                   "use the VPN instead (--via vpn)")
        self._thread = threading.Thread(target=pump, args=(self.client_chan, self.server_chan, self._stop),
                                        daemon=True, name="sockdeploy-udprelay-join")
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        for chan in (self.client_chan, self.server_chan):
            try:
                chan.shutdown_write()
                chan.close()
            except Exception:
                pass
        if self._thread is not None:
            self._thread.join(timeout=2)


def _read_exactly(chan, n: int) -> bytes:  # type: ignore[no-untyped-def]
    data = b""
    while len(data) < n:
        chunk = chan.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data
