"""A batch's exit code: that of its most serious verdict's error class."""

from __future__ import annotations

from pathlib import Path

from sockdeploy.errors import (
    Interrupted,
)
from sockdeploy.grading.outcome import Outcome
from sockdeploy.grading.result import exit_code
from sockdeploy.grading.submission import Submission
from sockdeploy.grading.verdict import (
    BUILD_FAILED,
    CONNECTION_ERROR,
    EXPECTATIONS_FAILED,
    NETWORK_ERROR,
    NOT_RUN,
    PASSED,
    TIMED_OUT,
)


def _o(verdict: str) -> Outcome:
    return Outcome(Submission("s", Path(".")), verdict)


def test_exit_code_is_the_most_serious_class():
    assert exit_code([_o(PASSED)] * 3) == 0
    assert exit_code([_o(PASSED), _o(BUILD_FAILED), _o(TIMED_OUT)]) == 6
    assert exit_code([_o(EXPECTATIONS_FAILED), _o(NETWORK_ERROR)]) == 5
    assert exit_code([_o(NETWORK_ERROR), _o(CONNECTION_ERROR)]) == 3
    assert exit_code([_o(PASSED)], Interrupted("x")) == 130
    assert exit_code([_o(CONNECTION_ERROR), _o(NOT_RUN)]) == 130
