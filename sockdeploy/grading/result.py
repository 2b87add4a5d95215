"""A batch's result: every outcome, the hosts' reports, the error it ends with, the summary files."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from sockdeploy.errors import Interrupted, SockdeployError, UsageError
from sockdeploy.grading.outcome import Outcome
from sockdeploy.grading.rubric import Rubric, Score, default_rubric, score
from sockdeploy.grading.submission import SUMMARY_CSV, SUMMARY_JSON, SUMMARY_TEXT
from sockdeploy.grading.verdict import PASSED, SEVERITY, VERDICTS
from sockdeploy.output.runfolder import make_unique_dir
from sockdeploy.output.table import render_table

SUMMARY_HEADER = ["submission", "result", "seconds", "reason"]
CSV_HEADER = ["group", "points", "max_points", "result", "comment"]


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
    rubric: Optional[Rubric] = None  # --rubric; None: one point per check the submissions' exercise judges

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

    def grading_rubric(self) -> Rubric:
        """The rubric the scores use: --rubric, else one point per check the exercise judges."""
        if self.rubric is not None:
            return self.rubric
        enabled: List[str] = []
        for o in self.outcomes:
            checks = o.submission.payload.checks if o.submission.payload is not None else None
            for name in checks.enabled if checks is not None else ():
                if name not in enabled:
                    enabled.append(name)
        return default_rubric(enabled)

    def scores(self) -> List[Score]:
        """Every submission's score under the rubric, in the order given."""
        rubric = self.grading_rubric()
        return [score(rubric, o) for o in self.outcomes]

    def rows(self) -> List[List[str]]:
        """One summary row per submission: its name, result, points (with --rubric), seconds, the short reason."""
        points = [f"{_num(s.points)}/{_num(s.max)}" for s in self.scores()] if self.rubric is not None else None
        rows = []
        for i, o in enumerate(self.outcomes):
            row = [_short(o.submission.name), o.verdict, f"{o.seconds:.1f}", "" if o.passed else o.reason]
            if points is not None:
                row.insert(2, points[i])
            rows.append(row)
        return rows

    def table(self, width: Optional[int] = None) -> str:
        """Return the summary table people read (fitted to the terminal; 80 columns when piped)."""
        header = list(SUMMARY_HEADER)
        if self.rubric is not None:
            header.insert(2, "points")
        return render_table(self.rows(), header, width)

    def csv(self) -> str:
        """Return summary.csv: one row per group for a gradebook import (points, and a comment per failed check)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for o, s in zip(self.outcomes, self.scores()):
            writer.writerow([o.submission.name, _num(s.points), _num(s.max), o.verdict, s.comment()])
        return out.getvalue()

    def to_dict(self) -> Dict[str, Any]:
        """Return summary.json's content."""
        rubric = self.grading_rubric()
        submissions = [dict(o.to_dict(), score=s.to_dict()) for o, s in zip(self.outcomes, self.scores())]
        return {"ok": self.exit_code == 0, "exit_code": self.exit_code, "batch_dir": str(self.folder),
                "started": self.started, "seconds": round(self.seconds, 2), "counts": self.counts(),
                "logins": self.logins, "hosts": self.hosts, "notes": self.notes,
                "interrupted": self.interrupted.to_dict() if self.interrupted else None,
                "rubric": {"file": str(rubric.path) if rubric.path else None, "max": rubric.max_points},
                "submissions": submissions}

    def write_summary(self, warn: Callable[[str], None]) -> None:
        """Write summary.json, summary.txt and summary.csv into the batch folder; a failure is only warned about."""
        try:
            (self.folder / SUMMARY_JSON).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
            (self.folder / SUMMARY_TEXT).write_text(self.table() + "\n", encoding="utf-8")
            (self.folder / SUMMARY_CSV).write_text(self.csv(), encoding="utf-8")
        except OSError as exc:
            warn(f"warning: could not write the summary into {self.folder} ({exc})")


NAME_WIDTH = 24  # longer names are cut in the table (summary.json, summary.csv and the folder keep them whole)


def _short(name: str) -> str:
    """NAME as the table shows it: whole up to NAME_WIDTH characters, so it is never broken mid-word."""
    return name if len(name) <= NAME_WIDTH else name[:NAME_WIDTH - 1] + "\u2026"


def _num(value: float) -> str:
    """Points as a person writes them: 3, 2.5."""
    return f"{value:g}"


def make_batch_dir(out: Path, now: Optional[datetime] = None) -> Path:
    """Create `<out>/batch-<UTC>/` (with -2, -3... if taken) and return it."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    try:
        return make_unique_dir(out, f"batch-{stamp}")
    except OSError as exc:
        raise UsageError(f"cannot create a batch folder in {out}: {exc}", "check --out") from None
