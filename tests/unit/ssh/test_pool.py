"""The SSH connection pool, with fake sessions: caps, sharing, one login at a time, failures."""

from __future__ import annotations

import threading
import time
from typing import Any, List

import pytest

from sockdeploy.errors import (
    AuthError,
    ConnectError,
    Interrupted,
)
from sockdeploy.spec.hosts import ServerConfig
from sockdeploy.ssh.pool import ConnectionPool


class FakeSession:
    """Stands in for an SshSession: counts logins and how many open at once."""

    opening = 0
    most_at_once = 0
    lock = threading.Lock()

    def __init__(self, cfg: ServerConfig, gate: threading.Lock, fail: Any = None, delay: float = 0.02) -> None:
        self.cfg, self.gate, self.fail, self.delay = cfg, gate, fail, delay
        self.alive = False
        self.logins = 0
        self.closed = False
        self.name = cfg.host

    def open(self) -> None:
        with self.gate:
            with FakeSession.lock:
                FakeSession.opening += 1
                FakeSession.most_at_once = max(FakeSession.most_at_once, FakeSession.opening)
            time.sleep(self.delay)
            with FakeSession.lock:
                FakeSession.opening -= 1
            if self.fail is not None:
                raise self.fail
            self.alive = True
            self.logins += 1

    def close(self) -> None:
        self.alive = False
        self.closed = True


@pytest.fixture(autouse=True)
def _reset_fake():
    FakeSession.opening = FakeSession.most_at_once = 0


def _pool(hosts=("h1",), per_host=2, per_connection=3, factory=None):
    servers = [ServerConfig(host=h) for h in hosts]
    return ConnectionPool(servers, per_host, per_connection, factory or (lambda cfg, gate: FakeSession(cfg, gate)))


def test_the_pool_spreads_runs_over_its_cap_then_shares_channels():
    pool = _pool(per_host=2, per_connection=3)
    slot = pool.hosts[0]
    conns = [pool.acquire(slot) for _ in range(4)]
    assert len(slot.conns) == 2 and pool.logins == 2
    assert sorted(c.load for c in slot.conns) == [2, 2]
    assert all(c in slot.conns for c in conns)


def test_a_full_pool_waits_for_a_run_to_finish(mocker):
    pool = _pool(per_host=1, per_connection=2)
    slot = pool.hosts[0]
    first = pool.acquire(slot)
    pool.acquire(slot)
    got: List[Any] = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire(slot)))
    waiter.start()
    time.sleep(0.3)
    assert got == [] and first.load == 2  # never a third run on a connection that carries two
    pool.release(first)
    waiter.join(2)
    assert got == [first] and first.load == 2 and pool.logins == 1


def test_logins_happen_one_at_a_time(mocker):
    pool = _pool(per_host=4, per_connection=1)
    slot = pool.hosts[0]
    threads = [threading.Thread(target=pool.acquire, args=(slot,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert pool.logins == 4 and FakeSession.most_at_once == 1


def test_a_host_whose_first_login_fails_is_not_tried_again(mocker):
    factory = mocker.Mock(side_effect=lambda cfg, gate: FakeSession(cfg, gate, fail=AuthError("denied")))
    pool = _pool(factory=factory)
    for _ in range(3):
        with pytest.raises(AuthError, match="denied"):
            pool.acquire(pool.hosts[0])
    assert factory.call_count == 1 and pool.healthy() == []


def test_a_later_login_failure_only_lowers_the_cap(mocker):
    made: List[FakeSession] = []

    def factory(cfg, gate):
        s = FakeSession(cfg, gate, fail=ConnectError("MaxStartups") if made else None)
        made.append(s)
        return s

    pool = _pool(per_host=3, per_connection=3, factory=factory)
    slot = pool.hosts[0]
    a = pool.acquire(slot)
    b = pool.acquire(slot)  # the second login fails: the run shares the first connection
    assert a is b and a.load == 2 and slot.cap == 1 and slot.failure is None and len(made) == 2


def test_a_dead_idle_connection_is_replaced():
    pool = _pool(per_host=1)
    slot = pool.hosts[0]
    conn = pool.acquire(slot)
    pool.release(conn)
    conn.session.alive = False
    again = pool.acquire(slot)
    assert again is not conn and conn.session.closed and pool.logins == 2


def test_acquire_gives_up_when_the_batch_is_stopped():
    pool = _pool(per_host=1, per_connection=1)
    slot = pool.hosts[0]
    pool.acquire(slot)
    stop = Interrupted("stopped")
    with pytest.raises(Interrupted):
        pool.acquire(slot, lambda: stop)
