"""SSH connection pooling: a few shared logins per server host, each carrying several runs at once.

At most `per_host` logins per server host, opened one at a time across the
pool (sshd's MaxStartups; password and 2FA prompts never interleave), each
carrying at most `per_connection` runs at once so its session channels stay
under sshd's MaxSessions.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Sequence, Tuple

from sockdeploy.errors import Interrupted, SockdeployError
from sockdeploy.run import server as process
from sockdeploy.spec.hosts import ServerConfig
from sockdeploy.ssh.session import SshSession

SSHD_MAX_SESSIONS = 10  # OpenSSH's default MaxSessions: session channels per connection
# Session channels one run holds at once at most: the watchdog, one script (build,
# start, wait, fetch: a remote helper, kept for the next run when idle) and the clock
# probe or the UDP relay. Forwards (direct-tcpip) do not count against MaxSessions.
CHANNELS_PER_RUN = 3


def runs_per_connection(max_sessions: int = SSHD_MAX_SESSIONS, per_run: int = CHANNELS_PER_RUN) -> int:
    """Return how many runs one connection may carry at once, one session channel kept spare."""
    return max(1, (max_sessions - 1) // per_run)


class PooledSession(SshSession):
    """A connection shared by several runs at once: (re)opened at most once at a time, logins counted.

    Runs reopen a shared session that died; with several runs on it, only the
    first reopens, the others find it alive. Every login goes through `gate`,
    one at a time across the pool (MaxStartups; prompts never interleave).
    """

    def __init__(self, cfg: ServerConfig, gate: threading.Lock, **kwargs: Any) -> None:
        super().__init__(cfg, **kwargs)
        self._gate = gate
        self._reopen = threading.Lock()
        self.logins = 0

    def open(self, login: bool = True) -> None:
        """Log in unless the session is alive; count the login."""
        with self._reopen:
            if self.alive:
                return
            with self._gate:
                super().open(login)
            self.logins += 1


@dataclass(eq=False)
class Connection:
    """One pooled connection and the runs it carries now."""

    session: Any
    load: int = 0


@dataclass(eq=False)
class HostSlot:
    """One server host's connections, port book and state."""

    cfg: ServerConfig
    index: int
    conns: List[Connection] = field(default_factory=list)
    opening: int = 0
    cap: int = 1
    failure: Optional[SockdeployError] = None
    ports: process.PortBook = field(default_factory=process.PortBook)
    closed: List[Any] = field(default_factory=list)  # sessions retired while the pool ran (their logins count)

    @property
    def label(self) -> str:
        return self.cfg.host


SessionFactory = Callable[[ServerConfig, threading.Lock], Any]
Cancelled = Callable[[], Optional[SockdeployError]]


def _never() -> Optional[SockdeployError]:
    return None


class ConnectionPool:
    """At most `per_host` SSH connections to each server host, each carrying up to `per_connection` runs at once.

    A run takes the least-loaded live connection of its host; a new connection
    is opened (one login at a time across the pool) only while every existing
    one is busy and the host is under its cap. A host whose first login fails
    is marked failed (no more attempts: a wrong key would fail every time); a
    later login that fails only lowers the host's cap.
    """

    def __init__(self, servers: Sequence[ServerConfig], per_host: int, per_connection: int,
                 factory: SessionFactory) -> None:
        self.per_connection = max(1, per_connection)
        self.hosts = [HostSlot(cfg, i, cap=max(1, per_host)) for i, cfg in enumerate(servers)]
        self._factory = factory
        self._gate = threading.Lock()
        self._cond = threading.Condition()
        self._closed = False

    def __enter__(self) -> ConnectionPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def logins(self) -> int:
        """Return how many logins the pool made, retired connections included."""
        return sum(getattr(s, "logins", 0) for h in self.hosts for s in [c.session for c in h.conns] + h.closed)

    def healthy(self) -> List[HostSlot]:
        """Return the hosts not taken out of the pool."""
        with self._cond:
            return [h for h in self.hosts if h.failure is None]

    def fail_host(self, slot: HostSlot, error: SockdeployError) -> None:
        """Take a host out of the pool (e.g. a failed preflight); runs waiting for it get `error`."""
        with self._cond:
            slot.failure = error
            self._cond.notify_all()

    def acquire(self, slot: HostSlot, cancelled: Cancelled = _never) -> Connection:
        """Return a connection to `slot`'s host with room for one more run; wait while all are full."""
        while True:
            with self._cond:
                best = self._wait_for_room(slot, cancelled)
                if best is not None:
                    best.load += 1
                    return best
                slot.opening += 1
            conn = self._open(slot)
            if conn is not None:
                return conn

    def _wait_for_room(self, slot: HostSlot, cancelled: Cancelled) -> Optional[Connection]:
        """Return a connection to share, or None when a new one may be opened (called with the lock held)."""
        while True:
            stop = cancelled()
            if stop is not None:
                raise stop
            if self._closed:
                raise Interrupted("not run: the batch was stopped", "run the batch again")
            if slot.failure is not None:
                raise slot.failure
            self._retire_dead(slot)
            room = [c for c in slot.conns if c.load < self.per_connection]
            best = min(room, key=lambda c: c.load) if room else None
            can_open = len(slot.conns) + slot.opening < slot.cap
            # an idle connection is used as is; a busy one is shared only when no new login is allowed
            if best is not None and (best.load == 0 or not can_open):
                return best
            if can_open:
                return None
            self._cond.wait(0.5)

    def _open(self, slot: HostSlot) -> Optional[Connection]:
        """Open one more connection for `slot` (load 1), or None to try the existing ones again."""
        session = None
        try:
            session = self._factory(slot.cfg, self._gate)
            session.open()
        except SockdeployError as exc:
            with self._cond:
                slot.opening -= 1
                if session is not None:
                    slot.closed.append(session)
                if slot.conns or slot.opening:
                    slot.cap = max(1, len(slot.conns) + slot.opening)  # make do with the ones that work
                else:
                    slot.failure = exc
                self._cond.notify_all()
            return None
        with self._cond:
            slot.opening -= 1
            conn = Connection(session, load=1)
            slot.conns.append(conn)
            self._cond.notify_all()
            return conn

    def release(self, conn: Connection) -> None:
        """Give back the room one run held on `conn`."""
        with self._cond:
            conn.load -= 1
            self._cond.notify_all()

    def _retire_dead(self, slot: HostSlot) -> None:
        """Close idle connections that died, making room for a new login (called with the lock held)."""
        for conn in list(slot.conns):
            if conn.load == 0 and not conn.session.alive:
                slot.conns.remove(conn)
                slot.closed.append(conn.session)
                _close_quietly(conn.session)

    def first_sessions(self) -> List[Tuple[HostSlot, Any]]:
        """Return one live session per healthy host (for the checks that run on every host at once)."""
        with self._cond:
            return [(h, c.session) for h in self.hosts if h.failure is None
                    for c in [next((c for c in h.conns if c.session.alive), None)] if c is not None]

    def close(self) -> None:
        """Close every connection; runs still using one fail with a connection error."""
        with self._cond:
            self._closed = True
            sessions = [c.session for h in self.hosts for c in h.conns]
            self._cond.notify_all()
        for session in sessions:
            _close_quietly(session)


def _close_quietly(session: Any) -> None:
    try:
        session.close()
    except Exception:  # closing a broken connection may fail; it is going away either way
        pass
