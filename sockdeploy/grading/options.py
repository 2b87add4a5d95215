"""The settings of one batch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from sockdeploy.grading.rubric import Rubric
from sockdeploy.ssh.pool import SSHD_MAX_SESSIONS

CONNECTION_CAP = 4  # default most logins per server host


@dataclass
class GradingOptions:
    """How many runs at once, how many logins, where the run folders go, and how logins ask."""

    jobs: int = 4
    connections: Optional[int] = None  # per server host; default min(jobs, CONNECTION_CAP)
    out: Path = Path("runs")
    via: Optional[str] = None
    accept_new: bool = False
    confirm: Optional[Callable[[str], bool]] = None
    prompt: Optional[Callable[[str, bool], str]] = None
    max_sessions: int = SSHD_MAX_SESSIONS
    rubric: Optional[Rubric] = None  # --rubric: the points of each check; None: one per check

    @property
    def connection_cap(self) -> int:
        return max(1, self.connections if self.connections is not None else min(self.jobs, CONNECTION_CAP))
