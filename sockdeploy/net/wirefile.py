"""The preload library's wire record (SOCKDEPLOY_WIRE, written by remote/scripts/redirect.c), read back.

On the direct and VPN paths no tunnel sees the clients' bytes; the library
inside each client run appends them to a file of that run's own, one whole
line per write() (forked processes interleave whole lines):

    C ID tcp|udp LOCAL PEER TIME      a socket the program connected (UDP: sent a datagram from)
    S|R ID TIME HEX                   bytes sent / received; S+|R+ carry on the chunk before
    SX|RX ID TIME COUNT               bytes counted, not kept (past the library's caps)
    E ID TIME client closed|server closed
    F TIME                            the file reached its cap
    U TIME HEX                        a process exec()ed the program at path HEX, which cannot load the
                                      library (statically linked): what it did is not in the file

TIME is Unix time with microseconds. A line that does not read as one of
these (a truncated last line, garbage) is skipped; the rest still counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, List, Mapping, Optional, Tuple

from sockdeploy.net.wire import CAP, RECEIVED, SENT, WireConnection, WireLog

FILE_CAP = 16 * 1024 * 1024  # the library's cap on one file (redirect.c's WIRE_FILE_CAP)
DIRECTION = {"S": SENT, "R": RECEIVED}
_HEX = re.compile(r"(?:[0-9a-f]{2})+")
_ENDPOINT = re.compile(r".+:\d{1,5}|\?")


@dataclass
class Recording:
    """One client run's record file, read: its connections (in the order they were opened) and its state."""

    connections: List[WireConnection] = field(default_factory=list)
    full: bool = False  # the file reached its cap: later bytes were counted or lost
    unrecorded: List[str] = field(default_factory=list)  # programs started that the library could not follow
    skipped: int = 0  # lines that could not be read


def _time(text: str) -> Optional[float]:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


def _port(endpoint: str) -> Optional[int]:
    _, _, port = endpoint.rpartition(":")
    return int(port) if port.isdigit() else None


class _Reader:
    """Builds the connections of one file, line by line."""

    def __init__(self, run: Optional[int], port: Optional[int], cap: int) -> None:
        self.run, self.port, self.cap = run, port, cap
        self.conns: Dict[str, Tuple[WireConnection, float]] = {}  # id -> (connection, opened at)
        self.ignored: set = set()  # connections to another port than the server's
        self.rec = Recording()

    def line(self, line: str, last: bool) -> bool:
        parts = line.split(" ")
        tag = parts[0]
        if tag == "C" and len(parts) == 6:
            return self._connect(parts[1:])
        if tag == "F" and len(parts) == 2 and _time(parts[1]) is not None:
            self.rec.full = True
            return True
        if tag == "U" and len(parts) == 3 and _time(parts[1]) is not None:
            return self._unrecorded(parts[2], last)
        if len(parts) < 4:
            return False
        cid, when = parts[1], _time(parts[2])
        if when is None:
            return False
        if cid in self.ignored:
            return True
        if cid not in self.conns:
            return False
        conn, opened = self.conns[cid]
        t = round(max(0.0, when - opened), 6)
        if tag in ("S", "R", "S+", "R+") and len(parts) == 4:
            data = parts[3]
            if last and len(data) % 2:  # a line cut short as it was written
                data = data[:-1]
            if not _HEX.fullmatch(data):
                return False
            conn.add_at(DIRECTION[tag[0]], bytes.fromhex(data), t, joined=tag.endswith("+"))
            return True
        if tag in ("SX", "RX") and len(parts) == 4 and parts[3].isdigit():
            conn.count(DIRECTION[tag[0]], int(parts[3]))
            return True
        if tag == "E" and len(parts) == 5 and parts[3] in ("client", "server") and parts[4] == "closed":
            conn.events.append((f"{parts[3]} closed", t))
            return True
        return False

    def _unrecorded(self, data: str, last: bool) -> bool:
        """Note a program the library could not follow (DATA: its path as hex)."""
        if last and len(data) % 2:  # cut short as it was written: the program was still started
            data = data[:-1]
        if not _HEX.fullmatch(data):
            return False
        self.rec.unrecorded.append(bytes.fromhex(data).decode("utf-8", "replace"))
        return True

    def _connect(self, fields: List[str]) -> bool:
        cid, kind, local, peer, when = fields
        opened = _time(when)
        if kind not in ("tcp", "udp") or opened is None or not _ENDPOINT.fullmatch(local) or \
                not _ENDPOINT.fullmatch(peer) or cid in self.conns or cid in self.ignored:
            return False
        if self.port is not None and _port(peer) != self.port:
            self.ignored.add(cid)  # not the server (a name lookup, another service): not the exercise's traffic
            return True
        stamp = datetime.fromtimestamp(opened, timezone.utc).isoformat(timespec="milliseconds")
        conn = WireConnection(id=0, kind=kind, origin=local, run=self.run, opened=stamp, cap=self.cap)
        self.conns[cid] = (conn, opened)
        return True


def read_record(text: str, run: Optional[int] = None, port: Optional[int] = None, cap: int = CAP) -> Recording:
    """Read one record file's TEXT: the connections client run RUN made to the server's PORT (None: any)."""
    reader = _Reader(run, port, cap)
    lines = text.split("\n")
    for n, line in enumerate(lines):
        if not line:
            continue
        if not reader.line(line.rstrip("\r"), last=n == len(lines) - 1):
            reader.rec.skipped += 1
    conns = sorted(reader.conns.values(), key=lambda item: item[1])
    reader.rec.connections = [conn for conn, _ in conns]
    return reader.rec


def wire_log(path: str, records: Mapping[int, str], port: Optional[int] = None, cap: int = CAP) -> WireLog:
    """The run's wire record from each client run's file (RECORDS: run number -> text), numbered in order."""
    log = WireLog(path, cap=cap)
    full = False
    for run in sorted(records):
        rec = read_record(records[run], run, port, cap)
        full = full or rec.full
        log.connections.extend(rec.connections)
        if rec.unrecorded:
            log.unrecorded[run] = rec.unrecorded[0]
    for n, conn in enumerate(log.connections, 1):
        conn.id = n
    if full:
        log.path += f"; a file reached its {FILE_CAP // (1024 * 1024)} MiB cap, so later bytes were only counted"
    return log
