"""The remote helpers of one connection: limit, reuse, retirement, off switch (fake helpers)."""

from __future__ import annotations

from typing import Any, List

import pytest

from sockdeploy.ssh import helper as helper_mod
from sockdeploy.ssh.helperpool import HelperPool


class FakeHelper:
    def __init__(self, owner: Any) -> None:
        self.owner = owner
        self.broken = False
        self.closed = False

    def close(self) -> None:
        self.closed = True


CONNECTION = object()


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> List[FakeHelper]:
    monkeypatch.delenv(helper_mod.ENV_SWITCH, raising=False)
    return []


def pool(started: List[FakeHelper], limit: int = 1) -> HelperPool:
    def start() -> Any:
        started.append(FakeHelper(CONNECTION))
        return started[-1]

    return HelperPool(start, limit)


def test_a_helper_given_back_is_reused_and_the_limit_holds(started: List[FakeHelper]) -> None:
    p = pool(started)
    first = p.borrow()
    assert first is started[0] and p.borrow() is None  # the only one is busy
    p.give_back(first, CONNECTION)  # type: ignore[arg-type]
    assert p.borrow() is first and len(started) == 1


def test_a_broken_helper_or_one_from_an_old_connection_is_ended_and_replaced(started: List[FakeHelper]) -> None:
    p = pool(started)
    broken = p.borrow()
    assert broken is not None
    broken.broken = True
    p.give_back(broken, CONNECTION)
    assert started[0].closed
    stale = p.borrow()
    assert stale is started[1]
    p.give_back(stale, object())  # the session reconnected meanwhile
    assert started[1].closed and p.borrow() is started[2]


def test_turned_off_or_switched_off_there_are_no_helpers(started: List[FakeHelper], monkeypatch: pytest.MonkeyPatch) -> None:
    p = pool(started)
    monkeypatch.setenv(helper_mod.ENV_SWITCH, "0")
    assert p.borrow() is None
    monkeypatch.delenv(helper_mod.ENV_SWITCH)
    p.turn_off()
    assert p.borrow() is None and started == []


def test_a_failed_start_frees_its_place(started: List[FakeHelper]) -> None:
    def fail() -> Any:
        raise OSError("no channel")

    p = HelperPool(fail, 1)
    with pytest.raises(OSError):
        p.borrow()
    p._start = lambda: FakeHelper(CONNECTION)  # type: ignore[assignment,return-value]
    assert p.borrow() is not None


def test_close_ends_the_idle_helpers(started: List[FakeHelper]) -> None:
    with pool(started, limit=2) as p:
        a, b = p.borrow(), p.borrow()
        assert a is not None and b is not None
        p.give_back(a, CONNECTION)
    assert started[0].closed and not started[1].closed  # the busy one ends when it is given back
