"""A TCP proxy that adds a fixed one-way delay in each direction (a WAN in front of sshd).

Used by the benchmark when the kernel has no `tc netem`. It listens on one address,
connects each accepted connection to the target, and delivers every chunk it reads
`delay` seconds later, in order, in both directions. Connecting waits `delay` before
the upstream connect, so the client sees the server's first bytes one full round trip
after connecting, as over a real link (the SYN/SYN-ACK exchange).

It also counts, per connection, the client's *turns*: chunks the client sent after it
had received something from the server and after being silent for at least 0.9 of
a round trip (2 x delay), i.e. the times it waited a round trip for an answer before
going on.
On close it appends one JSON line per connection to the events file.

Usage: delayproxy.py LISTEN_HOST:PORT TARGET_HOST:PORT DELAY_MS EVENTS_FILE
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Optional, Tuple

CHUNK = 256 * 1024
MAX_IN_FLIGHT = 32 * 1024 * 1024  # bytes queued per direction before reading pauses


@dataclass
class ConnStats:
    """What one proxied connection did."""

    cid: int
    opened: float = field(default_factory=time.time)
    c2s_bytes: int = 0
    s2c_bytes: int = 0
    turns: int = 0
    last_c2s: float = 0.0          # monotonic time the proxy last read client data
    s2c_delivered_since: bool = False  # server data reached the client since its last send


def _split(addr: str) -> Tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host, int(port)


class DelayProxy:
    """Accept, connect upstream, and pump both directions through a delay line."""

    def __init__(self, listen: Tuple[str, int], target: Tuple[str, int], delay: float, events: str) -> None:
        self.listen = listen
        self.target = target
        self.delay = delay
        self.events = events
        self.next_id = 0

    async def pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stats: ConnStats,
                   client_side: bool, abort: asyncio.Event) -> None:
        """Copy reader to writer, each chunk delivered `delay` after it was read."""
        queue: asyncio.Queue[Tuple[float, bytes]] = asyncio.Queue()
        in_flight = [0]
        room = asyncio.Event()
        room.set()

        async def deliver() -> None:
            try:
                await deliver_all()
            except (ConnectionError, OSError, RuntimeError):
                abort.set()  # the far side is gone: end both directions
                room.set()

        async def deliver_all() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
                if not client_side:
                    stats.s2c_delivered_since = True
                in_flight[0] -= len(data)
                if in_flight[0] < MAX_IN_FLIGHT:
                    room.set()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                if writer.can_write_eof():
                    writer.write_eof()
            except (OSError, RuntimeError):
                pass

        sender = asyncio.ensure_future(deliver())
        try:
            while not abort.is_set():
                await room.wait()
                if abort.is_set():
                    break
                data = await reader.read(CHUNK)
                now = time.monotonic()
                if not data:
                    break
                if client_side:
                    stats.c2s_bytes += len(data)
                    if stats.s2c_delivered_since and now - stats.last_c2s >= self.delay * 1.8:
                        stats.turns += 1
                    stats.s2c_delivered_since = False
                    stats.last_c2s = now
                else:
                    stats.s2c_bytes += len(data)
                in_flight[0] += len(data)
                if in_flight[0] >= MAX_IN_FLIGHT:
                    room.clear()
                queue.put_nowait((now + self.delay, data))
        except (ConnectionError, OSError):
            pass
        finally:
            queue.put_nowait((time.monotonic() + self.delay, b""))
            try:
                await sender
            except (ConnectionError, OSError):
                pass

    async def handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        """Serve one client connection."""
        self.next_id += 1
        stats = ConnStats(self.next_id)
        stats.last_c2s = time.monotonic()
        self._event({"event": "open", "id": stats.cid, "t": stats.opened})
        s_writer: Optional[asyncio.StreamWriter] = None
        try:
            _nodelay(c_writer)
            await asyncio.sleep(self.delay)  # the SYN travelling to the server
            s_reader, s_writer = await asyncio.open_connection(*self.target)
            _nodelay(s_writer)
            abort = asyncio.Event()
            pumps = [asyncio.ensure_future(self.pump(c_reader, s_writer, stats, True, abort)),
                     asyncio.ensure_future(self.pump(s_reader, c_writer, stats, False, abort))]
            waiter = asyncio.ensure_future(abort.wait())
            while not all(p.done() for p in pumps):
                await asyncio.wait([*pumps, waiter], return_when=asyncio.FIRST_COMPLETED)
                if abort.is_set():
                    for p in pumps:
                        p.cancel()
                    await asyncio.gather(*pumps, return_exceptions=True)
                    break
            waiter.cancel()
        except (ConnectionError, OSError):
            pass
        finally:
            for w in (c_writer, s_writer):
                if w is not None:
                    w.close()
            self._event({"event": "close", "id": stats.cid, "t": time.time(), "seconds": time.time() - stats.opened,
                         "c2s_bytes": stats.c2s_bytes, "s2c_bytes": stats.s2c_bytes, "turns": stats.turns})

    def _event(self, record: dict) -> None:
        with open(self.events, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    async def serve(self) -> None:
        """Listen until SIGTERM/SIGINT."""
        server = await asyncio.start_server(self.handle, *self.listen, reuse_address=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print("listening", flush=True)
        async with server:
            await stop.wait()


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def main(argv: list) -> int:
    """Parse the four arguments and run the proxy."""
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    proxy = DelayProxy(_split(argv[0]), _split(argv[1]), float(argv[2]) / 1000.0, argv[3])
    asyncio.run(proxy.serve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
