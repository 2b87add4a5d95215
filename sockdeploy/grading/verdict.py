"""Verdicts: what became of one submission, in words, and which error class each stands for."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Type, Union

from sockdeploy.errors import (
    BuildError,
    ChecksFailed,
    ConfigError,
    ConnectError,
    ExpectationsFailed,
    Interrupted,
    NetworkPathError,
    PayloadError,
    ProgramError,
    RemoteError,
    SockdeployError,
    SubmissionsFailed,
    UsageError,
)
from sockdeploy.run.record import RunRecord

# In the order the summary counts them.
PASSED = "passed"
CHECKS_FAILED = "checks failed"
EXPECTATIONS_FAILED = "expectations failed"
BUILD_FAILED = "build failed"
TIMED_OUT = "timed out"
PROGRAM_FAILED = "program failed"
BAD_SUBMISSION = "bad submission"
NETWORK_ERROR = "network error"
CONNECTION_ERROR = "connection error"
INTERRUPTED = "interrupted"
NOT_RUN = "not run"
INTERNAL_ERROR = "internal error"
VERDICTS = (PASSED, CHECKS_FAILED, EXPECTATIONS_FAILED, BUILD_FAILED, TIMED_OUT, PROGRAM_FAILED, BAD_SUBMISSION, NETWORK_ERROR,
            CONNECTION_ERROR, INTERRUPTED, NOT_RUN, INTERNAL_ERROR)

# The error class a batch ends with when some submission got this verdict, most serious first:
# an interruption beats an SSH problem (some submissions were not graded), which beats a
# blocked network path, an internal error, and the submissions' own failures.
SEVERITY: Dict[str, Type[SockdeployError]] = {
    INTERRUPTED: Interrupted,
    NOT_RUN: Interrupted,
    CONNECTION_ERROR: ConnectError,
    NETWORK_ERROR: NetworkPathError,
    INTERNAL_ERROR: SockdeployError,
    CHECKS_FAILED: SubmissionsFailed,
    EXPECTATIONS_FAILED: SubmissionsFailed,
    BUILD_FAILED: SubmissionsFailed,
    TIMED_OUT: SubmissionsFailed,
    PROGRAM_FAILED: SubmissionsFailed,
    BAD_SUBMISSION: SubmissionsFailed,
}


def classify(error: Optional[SockdeployError], record: Union[RunRecord, Mapping[str, Any], None] = None) -> str:
    """Return the verdict for a run that ended with `error` (None: passed)."""
    if error is None:
        return PASSED
    rec = record if isinstance(record, RunRecord) else RunRecord.from_json(record or {})
    if isinstance(error, Interrupted):
        return INTERRUPTED
    if isinstance(error, ChecksFailed) or (isinstance(error, ProgramError) and any(c.ok is False for c in rec.checks or [])):
        return CHECKS_FAILED  # the programs' own failure, named by the check it failed
    if isinstance(error, ExpectationsFailed):
        return EXPECTATIONS_FAILED
    if isinstance(error, BuildError):
        return BUILD_FAILED
    if isinstance(error, ProgramError):
        if rec.server.timed_out or any(c.timed_out for c in rec.clients):
            return TIMED_OUT
        return PROGRAM_FAILED
    if isinstance(error, (PayloadError, UsageError, ConfigError)):
        return BAD_SUBMISSION
    if isinstance(error, NetworkPathError):
        return NETWORK_ERROR
    if isinstance(error, (ConnectError, RemoteError)):
        return CONNECTION_ERROR
    return INTERNAL_ERROR
