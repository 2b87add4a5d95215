"""Signal holding: Ctrl-C and SIGTERM wait while cleanup runs, then count as the run's end."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from sockdeploy.errors import Interrupted, Terminated
from sockdeploy.run.faults import FAULT_POINT_ENV, fault_point
from sockdeploy.run.signals import SignalHold


def test_a_signal_during_a_shielded_block_is_held_not_raised(tmp_path):
    hold = SignalHold()
    before = signal.getsignal(signal.SIGINT)
    with hold.shielded():
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before  # the handlers are back
    assert hold.held() == [signal.SIGINT] and hold
    err = hold.error(Path(tmp_path))
    assert isinstance(err, Interrupted) and not isinstance(err, Terminated) and str(tmp_path) in (err.hint or "")
    hold.clear()
    assert not hold and hold.held() == [] and hold.error(tmp_path) is None


def test_sigterm_is_a_termination_and_the_first_signal_counts(tmp_path):
    hold = SignalHold()
    with hold.shielded():
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
    assert hold.first() == signal.SIGTERM
    assert isinstance(hold.error(tmp_path), Terminated)


def test_two_holds_are_independent():
    a, b = SignalHold(), SignalHold()
    a.hold(signal.SIGINT)
    assert a and not b


def test_off_the_main_thread_nothing_is_shielded(mocker):
    spy = mocker.spy(signal, "signal")
    hold = SignalHold()

    def work() -> None:
        with hold.shielded():
            pass

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert spy.call_count == 0


def test_a_fault_point_pauses_only_when_named_and_ends_on_a_held_signal(monkeypatch, capsys):
    hold = SignalHold()
    fault_point("build", hold=hold)  # not asked for: returns at once
    assert capsys.readouterr().err == ""
    monkeypatch.setenv(FAULT_POINT_ENV, "build")
    hold.hold(signal.SIGINT)  # already held: the pause ends at once
    fault_point("build", hold=hold)
    assert "fault point build" in capsys.readouterr().err
