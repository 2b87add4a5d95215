"""A batch's exit code: that of its most serious verdict's error class."""

from __future__ import annotations

from pathlib import Path

from sockdeploy.errors import ConnectError, Interrupted, NetworkPathError, ProgramError, SockdeployError, SubmissionsFailed
from sockdeploy.grading.outcome import Outcome
from sockdeploy.grading.result import batch_error, exit_code
from sockdeploy.grading.submission import Submission
from sockdeploy.grading.verdict import (
    BAD_SUBMISSION,
    BUILD_FAILED,
    CONNECTION_ERROR,
    EXPECTATIONS_FAILED,
    INTERNAL_ERROR,
    NETWORK_ERROR,
    NOT_RUN,
    PASSED,
    SEVERITY,
    TIMED_OUT,
    VERDICTS,
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


def test_the_batch_error_is_of_the_most_serious_verdicts_class():
    assert batch_error([_o(PASSED)]) is None
    err = batch_error([_o(PASSED), _o(BUILD_FAILED), _o(TIMED_OUT)])
    assert isinstance(err, SubmissionsFailed) and isinstance(err, ProgramError) and "2 of 3" in err.message
    assert type(batch_error([_o(EXPECTATIONS_FAILED), _o(NETWORK_ERROR)])) is NetworkPathError
    assert type(batch_error([_o(NETWORK_ERROR), _o(CONNECTION_ERROR)])) is ConnectError
    assert type(batch_error([_o(CONNECTION_ERROR), _o(NOT_RUN)])) is Interrupted
    assert type(batch_error([_o(INTERNAL_ERROR), _o(BAD_SUBMISSION)])) is SockdeployError
    stop = Interrupted("x")
    assert batch_error([_o(PASSED)], stop) is stop


def test_every_verdict_but_passed_maps_to_an_error_class():
    assert set(SEVERITY) == set(VERDICTS) - {PASSED}
