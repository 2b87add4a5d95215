"""One submission's outcome: its verdict, time, run folder and error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

from sockdeploy.errors import SockdeployError
from sockdeploy.grading.submission import Submission
from sockdeploy.grading.verdict import PASSED
from sockdeploy.run.record import CheckRecord, RunRecord


@dataclass
class Outcome:
    """What became of one submission."""

    submission: Submission
    verdict: str
    seconds: float = 0.0
    folder: Optional[Path] = None
    host: Optional[str] = None
    error: Optional[SockdeployError] = None
    record: Optional[RunRecord] = None

    @property
    def passed(self) -> bool:
        return self.verdict == PASSED

    @property
    def reason(self) -> str:
        """Why it did not pass, in one line: the first failed check, else the error's message."""
        failure = first_failure_of(self.record)
        if failure is not None:
            return failure.detail
        if self.error is None:
            return ""
        # the submission's folder by its name: a full path would fill the table's reason column
        return self.error.message.replace(str(self.submission.source), self.submission.name)

    def to_dict(self) -> Dict[str, Any]:
        """Return the outcome as summary.json lists it."""
        err = self.error.to_dict() if self.error is not None else None
        if err is not None and self.error is not None:
            err["exit_code"] = self.error.exit_code
        out: Dict[str, Any] = {"submission": self.submission.name, "source": str(self.submission.source),
                               "result": self.verdict,
                               "reason": self.reason, "seconds": round(self.seconds, 2), "host": self.host,
                               "run_dir": str(self.folder) if self.folder else None, "error": err}
        checks = self.record.checks if isinstance(self.record, RunRecord) else None
        if checks is not None:
            out["checks"] = [c.to_json() for c in checks]
        return out


def first_failure_of(record: Union[RunRecord, Mapping[str, Any], None]) -> Optional[CheckRecord]:
    """The failed check a grader reads first (reached before not reached), or None."""
    rec = record if isinstance(record, RunRecord) else RunRecord.from_json(record or {})
    failed = [c for c in (rec.checks or []) if c.ok is False]
    return next((c for c in failed if c.reached), failed[0] if failed else None)


def write_error(folder: Path, err: SockdeployError) -> None:
    """Say in the submission's folder why it did not run (there is no transcript)."""
    try:
        text = f"{err.headline()}\n" + (f"hint: {err.hint}\n" if err.hint else "")
        (folder / "error.txt").write_text(text, encoding="utf-8")
    except OSError:
        pass
