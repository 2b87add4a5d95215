"""Batch and run progress: the bar on a terminal, a stopped run's next step."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, List

import pytest

from sockdeploy.errors import (
    Interrupted,
)
from sockdeploy.grading.outcome import Outcome
from sockdeploy.grading.progress import BatchProgress, RunProgress
from sockdeploy.grading.submission import Submission
from sockdeploy.grading.verdict import (
    PASSED,
)


def test_a_stopped_run_ends_at_its_next_step_but_still_cleans_up():
    stop: List[Any] = [None]
    progress = RunProgress(io.StringIO(), lambda: stop[0])
    with progress.step("build the server"):
        pass
    stop[0] = Interrupted("stopped")
    with pytest.raises(Interrupted):
        with progress.step("client run 1/2: ./client"):
            pass
    with progress.step("stop the server and collect its log"):
        pass


def test_the_bar_on_a_terminal(mocker, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    stream = io.StringIO()
    mocker.patch.object(stream, "isatty", return_value=True)
    bar = BatchProgress(2, stream)
    bar.started("a")
    bar.started("b")
    assert stream.getvalue() == ("\r\033[K[........................] 0/2  passed 0  failed 0  running 1"
                                 "\r\033[K[........................] 0/2  passed 0  failed 0  running 2")
    bar.finished(Outcome(Submission("a", Path(".")), PASSED, 1.0))
    # the bar is wiped, the result line printed, the bar redrawn below it
    assert stream.getvalue().endswith("\r\033[K  [1/2] a: passed (1.0 s)\n"
                                      "\r\033[K[############............] 1/2  passed 1  failed 0  running 1")
