"""How many runs one connection carries, and the default login cap."""

from __future__ import annotations

from sockdeploy.grading.options import GradingOptions
from sockdeploy.ssh.pool import runs_per_connection


def test_runs_per_connection_stay_under_max_sessions():
    assert runs_per_connection() == 3  # 3 runs x 3 session channels = 9 < MaxSessions 10
    assert runs_per_connection(64) == 21
    assert runs_per_connection(2) == 1
    assert GradingOptions(jobs=8).connection_cap == 4
    assert GradingOptions(jobs=2).connection_cap == 2
    assert GradingOptions(jobs=8, connections=1).connection_cap == 1
