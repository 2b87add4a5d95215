"""The forwarding check that runs alongside the upload, on a thread its owner joins."""

from __future__ import annotations

import threading
import time

import pytest

from sockdeploy.errors import ForwardingForbidden
from sockdeploy.output.progress import Progress
from sockdeploy.run.connections import ForwardingCheck


class Session:
    def __init__(self, error: Exception = None, delay: float = 0.0) -> None:  # type: ignore[assignment]
        self.error, self.delay, self.calls = error, delay, 0
        self.thread = None

    def check_forwarding(self) -> None:
        self.calls += 1
        self.thread = threading.current_thread()
        time.sleep(self.delay)
        if self.error is not None:
            raise self.error


def test_the_check_runs_beside_the_block_and_is_joined_when_it_ends():
    session = Session(delay=0.2)
    with ForwardingCheck(session, wanted=True) as check:  # type: ignore[arg-type]
        started = time.monotonic()
    assert time.monotonic() - started >= 0.15  # the block waited for the check
    assert session.thread is not threading.current_thread() and not check._thread.is_alive()  # type: ignore[union-attr]
    check.confirm(Progress(quiet=True))


def test_its_failure_is_raised_by_confirm_on_the_runs_thread():
    session = Session(error=ForwardingForbidden("AllowTcpForwarding no"))
    with ForwardingCheck(session, wanted=True) as check:  # type: ignore[arg-type]
        pass
    with pytest.raises(ForwardingForbidden):
        check.confirm(Progress(quiet=True))


def test_not_wanted_asks_nothing():
    session = Session(error=ForwardingForbidden("x"))
    with ForwardingCheck(session, wanted=False) as check:  # type: ignore[arg-type]
        pass
    check.confirm(Progress(quiet=True))
    assert session.calls == 0


def test_a_watchdog_that_acted_names_its_host_and_the_silence_it_heard() -> None:
    from sockdeploy.run.connections import watchdog_fired

    err = watchdog_fired("login", "stopped the server", "20")
    assert err.kind == "watchdog" and err.exit_code == 3
    assert err.message == ("the watchdog on login stopped the server and removed the run folder "
                           "(it heard no heartbeat for 20 s)")
    assert watchdog_fired("pi", "stopped the client runs", "").message.endswith("removed the run folder")


def test_the_watchdog_window_can_be_shortened_for_the_tests(monkeypatch) -> None:
    from sockdeploy.run import watchdog

    assert (watchdog.silence(), watchdog.heartbeat_interval()) == (20, 5.0)
    assert watchdog.watchdog_script("/tmp/run-x").endswith(" /tmp/run-x 20 '' 5")
    monkeypatch.setenv(watchdog.SILENCE_ENV, "3")
    assert (watchdog.silence(), watchdog.heartbeat_interval()) == (3, 0.75)
    assert watchdog.watchdog_script("/tmp/run-x").endswith(" /tmp/run-x 3 '' 1")
