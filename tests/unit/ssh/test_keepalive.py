"""The keepalive: one thread per connection, replies expected, a silent link closed, the thread joined by close()."""

from __future__ import annotations

import threading
import time
from typing import Any, List, Optional

from sockdeploy.ssh.keepalive import Keepalive


class FakeTransport:
    """Answers each keepalive (like sshd) unless `silent`; counts the requests sent."""

    def __init__(self, silent: bool = False) -> None:
        self.silent = silent
        self.active = True
        self.sent = 0
        self.completion_event: Optional[threading.Event] = None

    def is_active(self) -> bool:
        return self.active

    def close(self) -> None:
        self.active = False

    def _send_user_message(self, m: Any) -> None:
        self.sent += 1
        if not self.silent and self.completion_event is not None:
            self.completion_event.set()


def keepalive_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sockdeploy-keepalive"]


def wait_for(cond: Any, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_one_thread_sends_every_ping_and_close_joins_it() -> None:
    before = len(keepalive_threads())
    t = FakeTransport()
    k = Keepalive(t, "login.example", interval=0.02, timeout=1.0)
    k.start()
    assert wait_for(lambda: t.sent >= 5)
    assert len(keepalive_threads()) == before + 1  # not one thread per ping
    k.close()
    assert not k._thread.is_alive() and len(keepalive_threads()) == before
    assert t.active and k.dead_reason is None


def test_no_answer_closes_the_transport_and_says_why() -> None:
    t = FakeTransport(silent=True)
    with Keepalive(t, "login.example", interval=0.02, timeout=0.2) as k:
        assert wait_for(lambda: not t.active)
        assert k.dead_reason == "no answer to keepalives for 0.22 s"
        assert t.sent == 1


def test_another_global_request_waits_its_turn_and_one_unanswered_too_long_means_dead() -> None:
    t = FakeTransport()
    requests = threading.Lock()
    with Keepalive(t, "login.example", requests=requests, interval=0.02, timeout=0.2) as k:
        with requests:  # a port-forward request that gets no reply
            assert wait_for(lambda: not t.active)
        assert t.sent == 0 and k.dead_reason is not None


def test_close_is_prompt_while_a_reply_is_awaited() -> None:
    t = FakeTransport(silent=True)
    k = Keepalive(t, "login.example", interval=0.01, timeout=60)
    k.start()
    assert wait_for(lambda: t.sent == 1)
    started = time.monotonic()
    k.close()
    assert time.monotonic() - started < 2 and not k._thread.is_alive()
    assert t.active and k.dead_reason is None  # stopping is not a dead link


def test_the_thread_ends_by_itself_when_the_transport_closes() -> None:
    t = FakeTransport()
    k = Keepalive(t, "login.example", interval=0.02, timeout=1.0)
    k.start()
    t.close()
    assert wait_for(lambda: not k._thread.is_alive())
    k.close()
