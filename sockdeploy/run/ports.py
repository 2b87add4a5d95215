"""Ports on the server host: which are busy, and a free one for each run (never two runs the same)."""

from __future__ import annotations

import random
import re
import threading
from typing import Optional, Set, Tuple

from sockdeploy.errors import NetworkPathError


def parse_busy_ports(text: str) -> Set[int]:
    """Read local ports from /proc/net/{tcp,udp}* (hex) or netstat (decimal) output."""
    ports: Set[int] = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 3 and re.fullmatch(r"\d+:", fields[0]) and ":" in fields[1]:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        elif fields and fields[0].startswith(("tcp", "udp")) and len(fields) > 3:
            m = re.search(r"[.:](\d+)$", fields[3])
            if m:
                ports.add(int(m.group(1)))
    return ports


# /proc/net states that hold a port against a new bind(): TCP LISTEN, and 07 (a bound TCP socket not
# listening, or an unconnected UDP socket). TIME_WAIT (06) and established connections (01) only linger.
HOLDING_STATES = ("0A", "07")


def parse_held_ports(text: str) -> Set[int]:
    """Read the ports something listens on or has bound (not those of lingering connections) from /proc/net."""
    ports: Set[int] = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 3 and re.fullmatch(r"\d+:", fields[0]) and ":" in fields[1] and fields[3] in HOLDING_STATES:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        elif fields and fields[0].startswith(("tcp", "udp")) and len(fields) > 3 and (
                fields[0].startswith("udp") or "LISTEN" in fields):
            m = re.search(r"[.:](\d+)$", fields[3])
            if m:
                ports.add(int(m.group(1)))
    return ports


def choose_port(busy: Set[int], port_range: Tuple[int, int], tried: Set[int], rng: Optional[random.Random] = None,
                held: Optional[Set[int]] = None) -> int:
    """Pick a random port in range that is neither busy nor already tried.

    When every port is busy, one that only lingering connections use (TIME_WAIT of
    earlier runs, not in HELD) is taken: a server that cannot reuse it is retried.
    """
    lo, hi = port_range
    rng = rng or random.SystemRandom()
    free = [p for p in range(lo, hi + 1) if p not in busy and p not in tried]
    if not free and held is not None:
        free = [p for p in range(lo, hi + 1) if p not in held and p not in tried]
    if not free:
        raise NetworkPathError(f"no free port in {lo}-{hi} on the server host ({len(busy & set(range(lo, hi + 1)))} busy)",
                               "widen network.ports in hosts.yaml or pass --port N")
    return rng.choice(free)


class PortBook:
    """The ports handed to parallel runs on one server host, so no two of them pick the same one.

    The host's socket tables only show ports already bound; two runs choosing at
    the same moment would both see a port as free (and one run's reachability
    probe could land on the other's server).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken: Set[int] = set()

    def lease(self) -> PortLease:
        """Return a new run's share of the book."""
        return PortLease(self)

    @property
    def taken(self) -> Set[int]:
        """Return the ports some lease holds now."""
        with self._lock:
            return set(self._taken)

    def take(self, busy: Set[int], port_range: Tuple[int, int], tried: Set[int],
             rng: Optional[random.Random]) -> int:
        """Choose a port no lease holds and mark it taken."""
        with self._lock:
            port = choose_port(busy | self._taken, port_range, tried, rng)
            self._taken.add(port)
        return port

    def claim(self, port: int) -> bool:
        """Mark `port` taken if no lease holds it (a port written into a server); return whether it was free."""
        with self._lock:
            if port in self._taken:
                return False
            self._taken.add(port)
        return True

    def give_back(self, ports: Set[int]) -> None:
        """Mark `ports` free again."""
        with self._lock:
            self._taken -= ports


class PortLease:
    """One run's ports from a PortBook, given back together when the run is over."""

    def __init__(self, book: PortBook) -> None:
        self.book = book
        self.ports: Set[int] = set()

    def choose(self, busy: Set[int], port_range: Tuple[int, int], tried: Set[int],
               rng: Optional[random.Random] = None) -> int:
        """Pick a port as choose_port does, never one another lease of the book holds."""
        port = self.book.take(busy, port_range, tried, rng)
        self.ports.add(port)
        return port

    def claim(self, port: int) -> bool:
        """Hold `port` (written into the server) for this run; False when another run of the book holds it."""
        if port in self.ports:
            return True
        if not self.book.claim(port):
            return False
        self.ports.add(port)
        return True

    def release(self) -> None:
        """Give every port of this lease back."""
        self.book.give_back(self.ports)
        self.ports.clear()
