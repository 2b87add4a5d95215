"""One submission's outcome: its verdict, time, run folder and error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from sockdeploy.errors import SockdeployError
from sockdeploy.grading.submission import Submission
from sockdeploy.grading.verdict import PASSED
from sockdeploy.run.record import RunRecord


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

    def to_dict(self) -> Dict[str, Any]:
        """Return the outcome as summary.json lists it."""
        err = self.error.to_dict() if self.error is not None else None
        if err is not None and self.error is not None:
            err["exit_code"] = self.error.exit_code
        return {"submission": self.submission.name, "source": str(self.submission.source), "result": self.verdict,
                "seconds": round(self.seconds, 2), "host": self.host,
                "run_dir": str(self.folder) if self.folder else None, "error": err}


def write_error(folder: Path, err: SockdeployError) -> None:
    """Say in the submission's folder why it did not run (there is no transcript)."""
    try:
        text = f"{err.headline()}\n" + (f"hint: {err.hint}\n" if err.hint else "")
        (folder / "error.txt").write_text(text, encoding="utf-8")
    except OSError:
        pass
