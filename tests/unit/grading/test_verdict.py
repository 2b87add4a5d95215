"""Verdicts from a run's error and record."""

from __future__ import annotations

import pytest

from sockdeploy.errors import (
    AuthError,
    BuildError,
    ExpectationsFailed,
    Interrupted,
    NetworkPathError,
    PayloadError,
    ProgramError,
    RemoteError,
)
from sockdeploy.grading.verdict import (
    BAD_SUBMISSION,
    BUILD_FAILED,
    CONNECTION_ERROR,
    EXPECTATIONS_FAILED,
    INTERRUPTED,
    NETWORK_ERROR,
    PASSED,
    PROGRAM_FAILED,
    TIMED_OUT,
    classify,
)


@pytest.mark.parametrize("error, record, verdict", [
    (None, {}, PASSED),
    (ExpectationsFailed("x"), {}, EXPECTATIONS_FAILED),
    (BuildError("x"), {}, BUILD_FAILED),
    (ProgramError("x"), {"clients": [{"timed_out": True}]}, TIMED_OUT),
    (ProgramError("x"), {"server": {"timed_out": True}, "clients": []}, TIMED_OUT),
    (ProgramError("x"), {"server": {}, "clients": [{"timed_out": False}]}, PROGRAM_FAILED),
    (PayloadError("x"), {}, BAD_SUBMISSION),
    (NetworkPathError("x"), {}, NETWORK_ERROR),
    (AuthError("x"), {}, CONNECTION_ERROR),
    (RemoteError("x"), {}, CONNECTION_ERROR),
    (Interrupted("x"), {}, INTERRUPTED),
])
def test_classify(error, record, verdict):
    assert classify(error, record) == verdict
