"""The wire record: every byte each client run sent and received through sockdeploy's tunnel or UDP relay,
or, on the direct and VPN paths, as the preload library in the client saw it (net/wirefile.py reads that back).

One WireConnection per connection the tunnel carried (per client address for
UDP; per socket for the preload library), holding its bytes in order with their times, bounded per direction
(CAP bytes; what comes after is counted, not kept, and the record says so).
The forwarders call sent()/received() from their own threads; a lock per
connection keeps each record whole. It is what the grading checks read
(the integers a client put on the wire) and what wire.txt shows people.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

CAP = 1024 * 1024  # bytes kept per direction of one connection
PRELOAD = "by the preload library on {host}"  # the path of a record the clients' preload library made
SENT, RECEIVED = "sent", "received"  # the client's point of view: sent = client to server
DIRECTIONS = (SENT, RECEIVED)


@dataclass
class Chunk:
    """Bytes that went one way at one moment (seconds after the connection opened)."""

    direction: str
    t: float
    data: bytes


@dataclass
class WireConnection:
    """One carried connection (or one UDP client address): its bytes both ways, its events, its limits."""

    id: int
    kind: str  # "tcp" or "udp"
    origin: str  # the client's address as the forwarder saw it
    run: Optional[int]  # the client run it belongs to (None: unknown, e.g. runs started all at once)
    opened: str = ""  # UTC, ISO 8601 with milliseconds
    chunks: List[Chunk] = field(default_factory=list)
    totals: Dict[str, int] = field(default_factory=lambda: {SENT: 0, RECEIVED: 0})
    events: List[Tuple[str, float]] = field(default_factory=list)  # ("client closed" / "server closed", t)
    error: Optional[str] = None  # why the tunnel could not carry it
    cap: int = CAP
    _start: float = field(default_factory=time.monotonic, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _kept: Dict[str, int] = field(default_factory=lambda: {SENT: 0, RECEIVED: 0}, repr=False)

    def _now(self) -> float:
        return round(time.monotonic() - self._start, 6)

    def sent(self, data: bytes) -> None:
        """Note bytes the client sent (carried towards the server)."""
        self._add(SENT, data)

    def received(self, data: bytes) -> None:
        """Note bytes the server sent back (delivered to the client)."""
        self._add(RECEIVED, data)

    def _add(self, direction: str, data: bytes) -> None:
        self.add_at(direction, data, None)

    def add_at(self, direction: str, data: bytes, t: Optional[float], joined: bool = False) -> None:
        """Note bytes that went DIRECTION at T seconds after the connection opened (None: now); JOINED: more of
        the last chunk of that direction (a record read back that wrote one write() in several lines)."""
        if not data:
            return
        with self._lock:
            room = self.cap - self._kept[direction]
            self.totals[direction] += len(data)
            if room > 0:
                kept = bytes(data[:room])
                self._kept[direction] += len(kept)
                last = next((c for c in reversed(self.chunks) if c.direction == direction), None) if joined else None
                if last is not None:
                    last.data += kept
                else:
                    self.chunks.append(Chunk(direction, self._now() if t is None else t, kept))

    def count(self, direction: str, n: int) -> None:
        """Note N bytes of DIRECTION that went through but were not kept (past a recorder's own cap)."""
        if n > 0:
            with self._lock:
                self.totals[direction] += n

    def closed(self, side: str) -> None:
        """Note that SIDE ("client" or "server") ended its half of the connection."""
        with self._lock:
            self.events.append((f"{side} closed", self._now()))

    def failed(self, message: str) -> None:
        """Note why the tunnel could not carry this connection."""
        with self._lock:
            self.error = message

    def kept(self, direction: str) -> int:
        """Return how many bytes of DIRECTION the record holds."""
        return self._kept[direction]

    def cut(self, direction: str) -> int:
        """Return how many bytes of DIRECTION went past the cap (counted, not kept)."""
        return self.totals[direction] - self.kept(direction)

    def data(self, direction: str) -> bytes:
        """Return the kept bytes of DIRECTION, in order."""
        with self._lock:
            return b"".join(c.data for c in self.chunks if c.direction == direction)

    def datagrams(self, direction: str) -> List[bytes]:
        """Return the kept chunks of DIRECTION one by one (for UDP, one per datagram)."""
        with self._lock:
            return [c.data for c in self.chunks if c.direction == direction]

    def event_time(self, name: str) -> Optional[float]:
        """Return when event NAME happened first, or None."""
        return next((t for e, t in self.events if e == name), None)

    def time_of_byte(self, direction: str, offset: int) -> Optional[float]:
        """Return when byte OFFSET of DIRECTION went through (None: not kept)."""
        seen = 0
        for c in self.chunks:
            if c.direction != direction:
                continue
            seen += len(c.data)
            if offset < seen:
                return c.t
        return None

    def to_json(self) -> Dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "origin": self.origin, "run": self.run, "opened": self.opened,
                "bytes": dict(self.totals), "cut": {d: self.cut(d) for d in DIRECTIONS}, "cap": self.cap,
                "events": [{"event": e, "t": t} for e, t in self.events], "error": self.error,
                "chunks": [{"dir": c.direction, "t": c.t, "data": base64.b64encode(c.data).decode("ascii")}
                           for c in self.chunks]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> WireConnection:
        raw = d.get("bytes")
        totals: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        conn = cls(id=int(d.get("id") or 0), kind=str(d.get("kind") or "tcp"), origin=str(d.get("origin") or ""),
                   run=d["run"] if isinstance(d.get("run"), int) else None, opened=str(d.get("opened") or ""),
                   error=d.get("error") if isinstance(d.get("error"), str) else None, cap=int(d.get("cap") or CAP))
        for c in d.get("chunks") or []:
            chunk = Chunk(str(c["dir"]), float(c["t"]), base64.b64decode(c["data"]))
            conn.chunks.append(chunk)
            conn._kept[chunk.direction] = conn._kept.get(chunk.direction, 0) + len(chunk.data)
        conn.totals = {dr: int(totals.get(dr, conn.kept(dr))) for dr in DIRECTIONS}
        conn.events = [(str(e["event"]), float(e["t"])) for e in d.get("events") or []]
        return conn


def unrecorded_note(run: int, program: str) -> str:
    """Say why client run RUN's record is incomplete: it started PROGRAM, which the preload library cannot follow."""
    name = PurePosixPath(program).name or program
    return f"client run {run} started {name}, which is statically linked, so the preload library could not record it"


class WireLog:
    """Every connection one run's tunnel or relay carried (or its clients made), in the order they were opened."""

    def __init__(self, path: str, run_of: Callable[[], Optional[int]] = lambda: None, cap: int = CAP) -> None:
        self.path = path  # how the bytes were seen: "through the tunnel", "by the preload library on HOST"...
        self.run_of = run_of  # the client run under way when a connection opens
        self.cap = cap
        self.connections: List[WireConnection] = []
        # client run -> a program it started that the preload library could not follow (statically linked):
        # that run's record misses what the program did
        self.unrecorded: Dict[int, str] = {}
        self.settlers: List[Callable[[], None]] = []  # each returns once what clients sent so far has a record
        self._lock = threading.Lock()

    @property
    def by_preload(self) -> bool:
        """Whether the preload library in the clients made this record (no forwarder carried the bytes)."""
        return self.path.startswith(PRELOAD.split("{", 1)[0])

    def settle(self) -> None:
        """Before the next client run starts: let what the last one sent reach its record (it may be queued still),
        so every connection is counted for the run that made it."""
        for settle in self.settlers:
            settle()

    def open(self, origin: Tuple[str, int], kind: str = "tcp") -> WireConnection:
        """Start the record of one connection from ORIGIN."""
        with self._lock:
            conn = WireConnection(id=len(self.connections) + 1, kind=kind, origin=f"{origin[0]}:{origin[1]}",
                                  run=self.run_of(), cap=self.cap,
                                  opened=datetime.now(timezone.utc).isoformat(timespec="milliseconds"))
            self.connections.append(conn)
        return conn

    def of_run(self, run: int) -> List[WireConnection]:
        """Return the connections client run RUN made."""
        with self._lock:
            return [c for c in self.connections if c.run == run]

    def to_json(self) -> Dict[str, Any]:
        with self._lock:
            conns = list(self.connections)
        out: Dict[str, Any] = {"path": self.path, "cap": self.cap, "connections": [c.to_json() for c in conns]}
        if self.unrecorded:
            out["unrecorded"] = [{"run": run, "program": program} for run, program in sorted(self.unrecorded.items())]
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> WireLog:
        log = cls(str(d.get("path") or ""), cap=int(d.get("cap") or CAP))
        log.connections = [WireConnection.from_json(c) for c in d.get("connections") or [] if isinstance(c, Mapping)]
        log.unrecorded = {int(u["run"]): str(u["program"]) for u in d.get("unrecorded") or []
                          if isinstance(u, Mapping) and isinstance(u.get("run"), int) and u.get("program")}
        return log
