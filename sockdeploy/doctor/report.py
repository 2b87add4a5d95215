"""The doctor's report: the checks in order as they finish, and their table, JSON and exit code."""

from __future__ import annotations

from dataclasses import asdict
from typing import Callable, List, Optional, Sequence

from sockdeploy.doctor.check import FAIL, ORDER, RESULTS, SKIP, Check
from sockdeploy.errors import SockdeployError
from sockdeploy.output.table import render_table as _render

OnCheck = Callable[[Check], None]


class Report:
    """The checks so far, in ORDER; each is final when added (and shown to `on_check` then)."""

    def __init__(self, on_check: Optional[OnCheck]) -> None:
        self.checks: List[Check] = []
        self.on_check = on_check

    def add(self, name: str, result: str, detail: str, fix: str = "") -> Check:
        """Record the next check in ORDER."""
        expected = ORDER[len(self.checks)]
        assert name == expected and result in RESULTS, (name, expected, result)
        check = Check(name, result, _one_line(detail), _one_line(fix))
        self.checks.append(check)
        if self.on_check is not None:
            self.on_check(check)
        return check

    def fail(self, name: str, error: SockdeployError) -> Check:
        """Record the next check as failed with `error`'s headline and hint."""
        return self.add(name, FAIL, error.headline(), error.hint or "")

    def result(self, name: str) -> Optional[str]:
        """Return the result of check `name`, or None when it has not run yet."""
        return next((c.result for c in self.checks if c.name == name), None)

    def skip_until(self, last: str, why: str) -> None:
        """Skip every check up to and including `last`."""
        while len(self.checks) <= ORDER.index(last):
            self.add(ORDER[len(self.checks)], SKIP, why)

    def skip_rest(self, why: str) -> None:
        """Skip every check left."""
        self.skip_until(ORDER[-1], why)


def failure(checks: Sequence[Check]) -> Optional[SockdeployError]:
    """Return the error of the first failing check (of the class its check stands for), or None."""
    failed = next((c for c in checks if c.error is not None), None)
    if failed is None or failed.error is None:
        return None
    return failed.error(f"{failed.name}: {failed.detail}", failed.fix or None)


def exit_code(checks: Sequence[Check]) -> int:
    """Return 0 if nothing failed (warnings included), else the exit code of the first failing check's error."""
    error = failure(checks)
    return 0 if error is None else error.exit_code


def render_table(checks: Sequence[Check]) -> str:
    """Return the checks as a plain-text table: check, result, detail, fix."""
    rows = [[c.name, c.result.upper() if c.result == FAIL else c.result, c.detail, c.fix] for c in checks]
    return _render(rows, ["check", "result", "detail", "fix"])


def to_json(checks: Sequence[Check]) -> list:
    """Return the checks as a list of {name, result, detail, fix} dicts."""
    return [asdict(c) for c in checks]


def _one_line(text: str) -> str:
    return " ".join(text.split())
