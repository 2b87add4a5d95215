"""What both forwards share: carrying accepted connections to channels, one thread each."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, List, Optional, Set, Tuple, TypeVar

from sockdeploy.errors import SockdeployError
from sockdeploy.net.pump import Channel, Endpoint, Pump, close_quietly
from sockdeploy.net.threads import ThreadGroup
from sockdeploy.net.wire import WireConnection, WireLog

log = logging.getLogger("sockdeploy.net.forward")

# Opens the far end of one forwarded connection, given the address it came from.
Opener = Callable[[Tuple[str, int]], Channel]

C = TypeVar("C", bound="Carrier")

# On close, what a client already sent still goes on, whatever the drain: its channel may still be
# opening (one open at a time on a connection shared by parallel runs) and its bytes still queued here.
OPEN_WAIT = 5.0  # seconds a channel still opening is waited for
CLIENT_GRACE = 1.0  # seconds an opened connection gets to pass on its client's bytes and end of file


class Carrier:
    """Carry each accepted connection to a channel from `opener`; close them all on the way out.

    Subclasses listen (start) and stop listening (close); a Carrier is a context
    manager that starts on enter and closes on exit.
    """

    def __init__(self, opener: Opener) -> None:
        self.opener = opener
        self.port = 0
        self.connections = 0
        self.errors: List[SockdeployError] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._carriers = ThreadGroup()
        self._opening = 0  # channels being opened for accepted connections
        self._last_opened = 0.0  # when the latest of them opened (monotonic)
        self._pumps: Set[Pump] = set()  # the connections being carried, each with both its ends
        self.recorder: Optional[WireLog] = None  # set: every carried byte is kept in it (the wire record)

    def start(self: C) -> C:
        raise NotImplementedError

    def close(self, drain: float = 0) -> None:
        raise NotImplementedError

    def __enter__(self: C) -> C:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def addresses(self) -> List[str]:
        """Where clients connect, for people to read."""
        raise NotImplementedError

    def carry(self, near: Endpoint, origin: Tuple[str, int], name: str) -> None:
        """Carry one accepted connection on a thread of its own (its wire record opens here, as it is accepted)."""
        record = self.recorder.open(origin) if self.recorder is not None else None
        if not self._carriers.start(self._serve, near, origin, record, name=name):
            close_quietly(near)  # accepted while closing: nobody would carry it

    def settle(self, timeout: float = 1.0) -> None:
        """Return once every connection made so far was accepted (and so has its wire record)."""

    def _serve(self, near: Endpoint, origin: Tuple[str, int], record: Optional[WireConnection] = None) -> None:
        with self._lock:
            self._opening += 1
        try:
            far = self.opener(origin)
        except SockdeployError as exc:
            if record is not None:
                record.failed(exc.message)
            self.errors.append(exc)
            log.info("tunnel: %s", exc.message)
            close_quietly(near)
            return
        finally:
            with self._lock:
                self._opening -= 1
                self._last_opened = time.monotonic()
        carried = Pump(near, far, self._stop, tap=record)
        with self._lock:
            self.connections += 1
            self._pumps.add(carried)
        try:
            with carried:
                carried.run()
        finally:
            with self._lock:
                self._pumps.discard(carried)

    def close_carried(self, drain: float) -> None:
        """Give carried connections up to `drain` s to finish, then close them (listening has stopped).

        The drain lets a client's last bytes reach a server that should end by itself. Whatever the
        drain, a connection whose channel is still opening is waited for (up to OPEN_WAIT s), and each
        gets up to CLIENT_GRACE s to pass on what its client sent: a client that wrote and exited just
        before the close has its bytes carried (and in the wire record), not dropped.
        """
        start = time.monotonic()
        while self._carriers.busy and not self._may_stop(time.monotonic() - start, drain):
            time.sleep(0.01)
        self._stop.set()
        with self._lock:
            pumps = list(self._pumps)
        for carried in pumps:
            close_quietly(carried.near)
            close_quietly(carried.far)
        self._carriers.close(timeout=2)

    def _may_stop(self, waited: float, drain: float) -> bool:
        """Whether close_carried may stop the carried connections after WAITED s of a DRAIN s drain."""
        with self._lock:
            opening = self._opening
            clients_sending = any(not p.up_done.is_set() for p in self._pumps)
            since_open = time.monotonic() - self._last_opened
        if waited >= drain + OPEN_WAIT:
            return True
        if opening or waited < drain:
            return False
        return not clients_sending or (waited >= CLIENT_GRACE and since_open >= CLIENT_GRACE)
