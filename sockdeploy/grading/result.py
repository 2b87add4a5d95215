"""A batch's result: every outcome, the hosts' reports, the error it ends with, the summary files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from sockdeploy.errors import Interrupted, SockdeployError, UsageError
from sockdeploy.grading.outcome import Outcome
from sockdeploy.grading.submission import SUMMARY_JSON, SUMMARY_TEXT
from sockdeploy.grading.verdict import PASSED, SEVERITY, VERDICTS
from sockdeploy.output.runfolder import make_unique_dir
from sockdeploy.output.table import render_table

SUMMARY_HEADER = ["submission", "result", "seconds", "reason", "run folder"]


def batch_error(outcomes: Sequence[Outcome], interrupted: Optional[Interrupted] = None) -> Optional[SockdeployError]:
    """Return the error the batch ends with (None: every submission passed), of its most serious verdict's class."""
    if interrupted is not None:
        return interrupted
    found = {o.verdict for o in outcomes}
    failed = len([o for o in outcomes if o.verdict != PASSED])
    for verdict, error_class in SEVERITY.items():
        if verdict in found:
            return error_class(f"{failed} of {len(outcomes)} submission(s) did not pass (worst: {verdict})",
                               "see summary.txt in the batch folder, and each submission's run folder")
    return None


def exit_code(outcomes: Sequence[Outcome], interrupted: Optional[Interrupted] = None) -> int:
    """Return the batch's exit code: 0 if all passed, else that of its error's class (see batch_error)."""
    error = batch_error(outcomes, interrupted)
    return 0 if error is None else error.exit_code


@dataclass
class GradingResult:
    """Everything a batch produced, in the order the submissions were given."""

    folder: Path
    outcomes: List[Outcome]
    logins: int = 0
    hosts: List[Dict[str, Any]] = field(default_factory=list)  # per server host: preflight, cleanup
    interrupted: Optional[Interrupted] = None
    started: str = ""
    seconds: float = 0.0
    notes: List[str] = field(default_factory=list)

    @property
    def error(self) -> Optional[SockdeployError]:
        return batch_error(self.outcomes, self.interrupted)

    @property
    def exit_code(self) -> int:
        return exit_code(self.outcomes, self.interrupted)

    def counts(self) -> Dict[str, int]:
        """Return how many submissions got each verdict, in VERDICTS order."""
        found = [o.verdict for o in self.outcomes]
        return {v: found.count(v) for v in VERDICTS if v in found}

    def rows(self) -> List[List[str]]:
        """One summary row per submission: submission, result, seconds, the short reason, run folder."""
        return [[o.submission.name, o.verdict, f"{o.seconds:.1f}", o.error.message if o.error else "",
                 str(o.folder) if o.folder else "-"] for o in self.outcomes]

    def table(self) -> str:
        """Return the summary table people read."""
        return render_table(self.rows(), SUMMARY_HEADER)

    def to_dict(self) -> Dict[str, Any]:
        """Return summary.json's content."""
        return {"ok": self.exit_code == 0, "exit_code": self.exit_code, "batch_dir": str(self.folder),
                "started": self.started, "seconds": round(self.seconds, 2), "counts": self.counts(),
                "logins": self.logins, "hosts": self.hosts, "notes": self.notes,
                "interrupted": self.interrupted.to_dict() if self.interrupted else None,
                "submissions": [o.to_dict() for o in self.outcomes]}

    def write_summary(self, warn: Callable[[str], None]) -> None:
        """Write summary.json and summary.txt into the batch folder; a failure is only warned about."""
        try:
            (self.folder / SUMMARY_JSON).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
            (self.folder / SUMMARY_TEXT).write_text(self.table() + "\n", encoding="utf-8")
        except OSError as exc:
            warn(f"warning: could not write the summary into {self.folder} ({exc})")


def make_batch_dir(out: Path, now: Optional[datetime] = None) -> Path:
    """Create `<out>/batch-<UTC>/` (with -2, -3... if taken) and return it."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    try:
        return make_unique_dir(out, f"batch-{stamp}")
    except OSError as exc:
        raise UsageError(f"cannot create a batch folder in {out}: {exc}", "check --out") from None
