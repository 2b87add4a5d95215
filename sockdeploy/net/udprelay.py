"""UDP across the SSH connection: a local UDP endpoint, datagrams framed over one channel, and a
small relay next to the server on the server host that speaks UDP to it.

Each local client address gets an id and, on the server host, a UDP socket of
its own, so the server's replies go back to the client that sent the request;
datagram boundaries are kept (see frames). The relay programs that run on the
hosts are remote/scripts/udprelay_{server,client}.py, started by udprelay.sh.
"""

from __future__ import annotations

import logging
import select
import socket
import struct
import threading
import time
from typing import Any, Dict, Optional, Protocol, Tuple

from sockdeploy.errors import NetworkPathError
from sockdeploy.net import frames
from sockdeploy.net.listeners import wait_taken
from sockdeploy.net.pump import Channel, Endpoint, close_quietly
from sockdeploy.net.threads import ThreadGroup
from sockdeploy.net.wire import WireConnection, WireLog
from sockdeploy.remote.program import program
from sockdeploy.remote.scripts import load

log = logging.getLogger("sockdeploy.net.udprelay")


class RelayChannel(Channel, Endpoint, Protocol):
    """A channel running a relay program: read and written by both sides of a joined relay."""


def _launch(relay: str, port: int) -> str:
    """The sh script that runs the relay program RELAY with the host's python3 (or says it is missing)."""
    return program("udprelay.sh", load(relay), load("udprelay_frames.py"), str(int(port)))


def remote_script(port: int) -> str:
    """The sh script that starts the relay next to the server (or says python3 is missing)."""
    return _launch("udprelay_server.py", port)


def client_script(port: int) -> str:
    """The sh script that starts the client host's UDP endpoint (or says python3 is missing)."""
    return _launch("udprelay_client.py", port)


class UdpRelay:
    """The local half: a UDP socket on loopback for the client, relayed over `chan`."""

    def __init__(self, chan: Channel, local_port: int, server_host: str) -> None:
        self.chan = chan
        self.server_host = server_host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind(("127.0.0.1", local_port))
        except OSError:
            self.sock.bind(("127.0.0.1", 0))  # busy here (both ends on one machine): any free port
        self.port: int = self.sock.getsockname()[1]
        self.ids: Dict[Tuple[str, int], int] = {}
        self.addrs: Dict[int, Tuple[str, int]] = {}
        self.datagrams = 0
        self.recorder: Optional[WireLog] = None  # set: every datagram is kept in it, per client address
        self._records: Dict[int, WireConnection] = {}
        self._receiving = threading.Lock()
        self._stop = threading.Event()
        self._threads = ThreadGroup()

    def __enter__(self) -> UdpRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> UdpRelay:
        """Wait for the relay's ready byte, then relay both ways on two threads."""
        ready = self.chan.recv(16)
        if ready != b"R":
            self.close()
            if b"NOPYTHON" in ready:
                raise NetworkPathError(f"UDP through the tunnel needs python3 on {self.server_host}, and it has none",
                                       "use the VPN instead (--via vpn), or run on campus (--via direct)")
            raise NetworkPathError(f"the UDP relay on {self.server_host} did not start", "use the VPN instead (--via vpn)")
        self._threads.start(self._up, name="sockdeploy-udprelay")
        self._threads.start(self._down, name="sockdeploy-udprelay")
        return self

    def _up(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                readable, _, _ = select.select([self.sock], [], [], 0.2)
            except (OSError, ValueError):
                return
            if not readable:
                continue
            with self._receiving:  # settle() waits for this: the datagram is taken and its sender known
                try:
                    data, addr = self.sock.recvfrom(frames.MAX_DATAGRAM)
                except socket.timeout:
                    continue
                except OSError:
                    return
                cid = self.ids.get(addr)
                if cid is None:
                    cid = len(self.ids) + 1
                    self.ids[addr], self.addrs[cid] = cid, addr
                    if self.recorder is not None:
                        self._records[cid] = self.recorder.open((str(addr[0]), int(addr[1])), "udp")
            if cid in self._records:
                self._records[cid].sent(data)
            self.datagrams += 1  # counted (and noted) before it goes on, as the far side may answer at once
            try:
                self.chan.sendall(frames.pack(cid, data))
            except Exception as exc:  # the SSH session is gone
                log.debug("udp relay: %s", exc)
                return

    def settle(self, timeout: float = 1.0) -> None:
        """Return once no datagram waits to be relayed (a client that already exited may have left some)."""
        wait_taken([self.sock], self._receiving, timeout)

    def _down(self) -> None:
        reader = frames.FrameReader()
        while not self._stop.is_set():
            try:
                data = self.chan.recv(65536)
            except Exception:
                return
            if not data:
                return
            for cid, datagram in reader.feed(data):
                addr = self.addrs.get(cid)
                if addr is not None:
                    try:
                        self.sock.sendto(datagram, addr)
                    except OSError:
                        continue
                    if cid in self._records:
                        self._records[cid].received(datagram)

    def close(self) -> None:
        """Relay what waits in the local socket, end the relay program (EOF on its stdin), close the local
        socket, join both threads."""
        self.settle()  # a client's last datagrams may still be queued: they go on first
        self._stop.set()
        try:
            self.chan.shutdown_write()
            self.chan.close()
        except Exception:
            pass
        self.sock.close()
        self._threads.close(timeout=2)


class JoinedUdpRelay:
    """UDP through the tunnel with the client on another host: its relay and the server's, joined here.

    The frames pass through whole, and each is noted in the wire record on the way: the client's
    endpoint names each new client address in a frame of id 0, kept here and not passed on.
    """

    def __init__(self, client_chan: Any, server_chan: Any, client_host: str, server_host: str) -> None:
        self.client_chan: RelayChannel = client_chan
        self.server_chan: RelayChannel = server_chan
        self.client_host, self.server_host = client_host, server_host
        self.port = 0
        self.datagrams = 0  # client datagrams passed on towards the server
        self.recorder: Optional[WireLog] = None  # set: every datagram is kept in it (the wire record)
        self._records: Dict[int, WireConnection] = {}
        self._last_up = 0.0  # when a frame last came from the client host (monotonic)
        self._stop = threading.Event()
        self._threads = ThreadGroup()

    def __enter__(self) -> JoinedUdpRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> JoinedUdpRelay:
        """Wait for both relays to say they are ready, then pass frames between them, one thread each way."""
        hello = read_exactly(self.client_chan, 3)
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
        self._threads.start(self._pass, self.client_chan, self.server_chan, True, name="sockdeploy-udprelay-join")
        self._threads.start(self._pass, self.server_chan, self.client_chan, False, name="sockdeploy-udprelay-join")
        return self

    def _pass(self, src: RelayChannel, dst: RelayChannel, up: bool) -> None:
        """Carry whole frames from SRC to DST until SRC ends, noting each datagram; then pass the end on."""
        reader = frames.FrameReader()
        try:
            while not self._stop.is_set():
                data = src.recv(65536)
                if not data:
                    break
                out = [self._note(cid, datagram, up) for cid, datagram in reader.feed(data)]
                if up:
                    self._last_up = time.monotonic()
                passed = b"".join(f for f in out if f)
                if passed:
                    dst.sendall(passed)
            dst.shutdown_write()
        except Exception as exc:  # either session dropped
            log.debug("joined udp relay: %s", exc)

    def _note(self, cid: int, datagram: bytes, up: bool) -> bytes:
        """Note one frame in the wire record; return the frame to pass on (none for an address frame)."""
        if up and cid == 0:
            self._named(datagram)
            return b""
        record = self._records.get(cid)
        if up:
            self.datagrams += 1
            if record is None and self.recorder is not None:  # an endpoint that names no address
                record = self._records[cid] = self.recorder.open((self.client_host, 0), "udp")
            if record is not None:
                record.sent(datagram)
        elif record is not None:
            record.received(datagram)
        return frames.pack(cid, datagram)

    def _named(self, text: bytes) -> None:
        """Open the record of the client the endpoint names ("ID IP PORT")."""
        parts = text.decode("ascii", "replace").split()
        if self.recorder is None or len(parts) != 3 or not (parts[0].isdigit() and parts[2].isdigit()):
            return
        self._records[int(parts[0])] = self.recorder.open((parts[1], int(parts[2])), "udp")

    def settle(self, timeout: float = 1.0) -> None:
        """Return once frames from the client host have paused (a client that already exited may have
        left some on the way), so the next run's datagrams are not counted for this one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and time.monotonic() - self._last_up < QUIET:
            time.sleep(0.01)

    def close(self) -> None:
        """End both relay programs and join the threads between them."""
        self.settle()
        self._stop.set()
        for chan in (self.client_chan, self.server_chan):
            try:
                chan.shutdown_write()
                chan.close()
            except Exception:
                close_quietly(chan)
        self._threads.close(timeout=2)


QUIET = 0.1  # seconds without a frame from the client host that count as settled


def read_exactly(chan: Channel, n: int) -> bytes:
    """Read `n` bytes, or fewer if the channel ends first."""
    data = b""
    while len(data) < n:
        chunk = chan.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data
