"""The tripwire (why a run must stop now) and the pause watch (sockdeploy stopped with Ctrl-Z)."""

from __future__ import annotations

import threading
import time

import pytest

from sockdeploy.errors import ConnectionLost, WatchdogFired
from sockdeploy.run.tripwire import PauseWatch, Tripwire


def test_the_first_cause_wins_and_is_raised_by_check() -> None:
    wire = Tripwire()
    wire.check()
    assert not wire and wire.error is None
    first = ConnectionLost("lost")
    wire.trip(first)
    wire.trip(WatchdogFired("fired"))
    assert wire and wire.error is first
    with pytest.raises(ConnectionLost):
        wire.check()


def test_wait_wakes_when_tripped_from_another_thread() -> None:
    wire = Tripwire()
    threading.Timer(0.1, wire.trip, args=(ConnectionLost("lost"),)).start()
    began = time.monotonic()
    assert wire.wait(5) and time.monotonic() - began < 2


def test_a_cause_counts_only_if_it_came_before_the_moment() -> None:
    wire = Tripwire()
    before = time.monotonic()
    wire.trip(ConnectionLost("lost"))
    assert wire.cause_before(None) is wire.error
    assert wire.cause_before(time.monotonic()) is wire.error
    assert wire.cause_before(before) is None  # came during cleanup: the steps' own error stands


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_gap_between_ticks_is_a_pause_and_a_short_one_is_not() -> None:
    clock = Clock()
    watch = PauseWatch(clock)
    since = time.monotonic()
    clock.now += PauseWatch.TICK + 0.5  # a busy machine
    watch.check()
    assert watch.longest_since(since) == 0
    clock.now += 35 + PauseWatch.TICK  # Ctrl-Z for 35 s, then fg
    watch.check()
    assert watch.longest_since(since) == pytest.approx(35)
    assert watch.longest_since(time.monotonic() + 1) == 0  # ended before that moment


def test_the_ticker_notices_a_real_stop_of_the_process() -> None:
    import os
    import signal
    import subprocess
    import sys

    script = ("import sys, time\nsys.path.insert(0, sys.argv[1])\nfrom sockdeploy.run.tripwire import PauseWatch\n"
              "w = PauseWatch().start(); print('ticking', flush=True)\nsys.stdin.readline()\n"
              "print(round(w.longest_since(0)), flush=True)\n")
    from tests.conftest import REPO

    proc = subprocess.Popen([sys.executable, "-c", script, str(REPO)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ticking\n"
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(3)
        os.kill(proc.pid, signal.SIGCONT)
        out, _ = proc.communicate("\n", timeout=10)
        assert int(out.strip()) in (2, 3)
    finally:
        if proc.poll() is None:
            proc.kill()
