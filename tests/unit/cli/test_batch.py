"""`sockdeploy batch`: thin over grading.Grader; the table and human lines on stderr, --json on stdout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sockdeploy.errors import ProgramError
from sockdeploy.grading.grader import Grader
from sockdeploy.grading.outcome import Outcome
from sockdeploy.grading.result import GradingResult
from sockdeploy.grading.submission import Submission
from sockdeploy.grading.verdict import TIMED_OUT
from sockdeploy.spec.payload import bundled_dir
from tests.unit.cli.support import one_line_error


def _submission(tmp_path: Path, name: str) -> Path:
    dest = tmp_path / "subs" / name
    shutil.copytree(bundled_dir() / "ex5", dest)
    (dest / "payload.yaml").unlink()
    return dest


def test_batch_prints_the_table_on_stderr_and_the_summary_json_on_stdout(invoke, tmp_path, mocker):
    d = _submission(tmp_path, "g1")
    (tmp_path / "hosts.yaml").write_text("server:\n  host: lab0\n")
    outcome = Outcome(Submission("g1", d), TIMED_OUT, 12.5, tmp_path / "b" / "g1", "lab0",
                              ProgramError("still running"))
    fake = GradingResult(folder=tmp_path / "b", outcomes=[outcome], logins=1)
    grade = mocker.patch.object(Grader, "grade", return_value=fake)
    res = invoke("batch", str(d), "--exercise", "ex5", "--hosts", "hosts.yaml", "-j", "2", "--json")
    assert res.exit_code == 6 and grade.call_count == 1
    summary = json.loads(res.stdout)
    assert summary["submissions"][0]["result"] == "timed out" and summary["exit_code"] == 6
    assert "g1          timed out  12.5" in res.stderr and "1 timed out; 1 SSH login(s)" in res.stderr
    assert "grading 1 submission(s) with ex5 on lab0: 2 at once" in res.stderr


def test_batch_quiet_prints_no_table(invoke, tmp_path, mocker):
    d = _submission(tmp_path, "g1")
    fake = GradingResult(folder=tmp_path / "b", outcomes=[], logins=0)
    mocker.patch.object(Grader, "grade", return_value=fake)
    res = invoke("batch", str(d), "--exercise", "ex1", "-q")
    assert res.exit_code == 0 and res.stderr == "" and res.stdout == ""


def test_batch_refuses_a_missing_folder_before_anything(invoke, tmp_path, mocker):
    grade = mocker.patch.object(Grader, "grade")
    res = invoke("batch", str(tmp_path / "nope"), "--exercise", "ex5")
    one_line_error(res.stderr, 2, res.exit_code)
    assert "submission folder not found" in res.stderr and grade.call_count == 0
