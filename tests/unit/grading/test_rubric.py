"""The rubric, the scores, summary.csv and the 80-column table."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import List, Optional

import pytest

from sockdeploy.errors import BuildError, ChecksFailed, ConfigError, PayloadError, ProgramError
from sockdeploy.grading.outcome import Outcome
from sockdeploy.grading.result import GradingResult
from sockdeploy.grading.rubric import default_rubric, load_rubric, require_judged, score
from sockdeploy.grading.submission import Submission
from sockdeploy.grading.verdict import BAD_SUBMISSION, BUILD_FAILED, CHECKS_FAILED, PASSED, classify
from sockdeploy.run.record import CheckRecord, RunRecord

ALL = ["built", "listened", "connected", "sent", "integers", "quit", "ended"]


def checks(failed: Optional[str] = None, detail: str = "", *, from_build: bool = False) -> List[CheckRecord]:
    out = []
    for name in ALL:
        if from_build and name != "built":
            out.append(CheckRecord(name, False, "not reached: the server did not build", reached=False))
        elif name == failed:
            out.append(CheckRecord(name, False, detail))
        else:
            out.append(CheckRecord(name, True, "fine"))
    return out


def outcome(tmp_path: Path, name: str, verdict: str, records: Optional[List[CheckRecord]] = None,
            error=None, server_log: str = "") -> Outcome:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "server.log").write_text(f"[me@host]$ ./server\n{server_log}[exit status 0]\n")
    (folder / "client-1.log").write_text("[me@pi]$ ./client 127.0.0.1 quit\nsent\n[exit status 0]\n")
    record = RunRecord(target="ex5", started="", checks=records)
    return Outcome(Submission(name, tmp_path / "subs" / name), verdict, 2.0, folder, "lab", error, record)


RUBRIC = """\
checks:
  integers: 4
  quit: 1
  ended: 1
patterns:
  - name: announces connections
    log: server
    regex: "^client \\\\d+ connected$"
    points: 0.5
    count: 2
"""


def test_a_rubric_scores_checks_and_patterns(tmp_path):
    (tmp_path / "rubric.yaml").write_text(RUBRIC)
    rubric = load_rubric(tmp_path / "rubric.yaml")
    assert rubric.max_points == 6.5
    good = outcome(tmp_path, "good", PASSED, checks(), server_log="client 1 connected\nclient 2 connected\n")
    s = score(rubric, good)
    assert (s.points, s.max, s.comment()) == (6.5, 6.5, "")
    bad = outcome(tmp_path, "bad", CHECKS_FAILED, checks("integers", "integer 98 sent by client run 1 never appears"),
                  server_log="client 1 connected\n")
    s = score(rubric, bad)
    assert s.points == 2.0
    assert s.comment() == ("integers: integer 98 sent by client run 1 never appears; "
                           "announces connections: 1 match, 2 needed")


def test_checks_that_were_never_reached_are_one_comment(tmp_path):
    build = outcome(tmp_path, "b", BUILD_FAILED, checks(from_build=True), BuildError("building the server failed"))
    build.record.checks[0] = CheckRecord("built", False, "the server did not build (see server-build.log)")
    s = score(default_rubric(ALL), build)
    assert s.points == 0 and s.max == 7
    assert s.comment() == ("built: the server did not build (see server-build.log); "
                           "not reached: listened, connected, sent, integers, quit, ended")
    refused = Outcome(Submission("u", tmp_path / "subs" / "u"), BAD_SUBMISSION,
                      error=PayloadError(f"no AF_INET server in {tmp_path / 'subs' / 'u'}: found only server.c"))
    s = score(default_rubric(ALL), refused)
    assert (s.points, s.comment()) == (0, "bad submission: no AF_INET server in u: found only server.c")


@pytest.mark.parametrize("text, line, fragment", [
    ("checks:\n  integer: 2\n", 2, "did you mean 'integers'"),
    ("checks:\n  quit: -1\n", 2, "number of points"),
    ("patterns:\n  - regex: '('\n    points: 1\n", 2, "bad regular expression"),
    ("patterns:\n  - regex: x\n    log: stderr\n    points: 1\n", 3, "server, client or any"),
    ("patterns:\n  - regex: x\n", 2, "missing required key 'patterns[1].points'"),
    ("checks: {}\n", 1, "gives no points"),
])
def test_rubric_mistakes_name_their_line(tmp_path, text, line, fragment):
    path = tmp_path / "rubric.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_rubric(path)
    assert fragment in info.value.message + " " + (info.value.hint or "")
    assert info.value.headline().startswith(f"{path}:{line}:"), info.value.headline()


def test_a_check_the_exercise_does_not_judge_is_refused_at_its_line(tmp_path):
    path = tmp_path / "rubric.yaml"
    path.write_text("checks:\n  integers: 1\n  addresses: 2\n")
    with pytest.raises(ConfigError) as info:
        require_judged(load_rubric(path), ALL, "ex5")
    assert info.value.headline().startswith(f"{path}:3:") and "'addresses'" in info.value.message


def test_summary_csv_and_a_table_that_fits_80_columns(tmp_path):
    long_reason = "integer 98 sent by client run 1 never appears in the server's output (3 more missing)"
    outcomes = [outcome(tmp_path, "a-group-with-a-rather-long-name", PASSED, checks()),
                outcome(tmp_path, "g2", CHECKS_FAILED, checks("integers", long_reason), ChecksFailed("x")),
                outcome(tmp_path, "g3", BAD_SUBMISSION, None, PayloadError("no client program found"))]
    (tmp_path / "r.yaml").write_text("checks:\n  integers: 3\n  quit: 1\n")
    result = GradingResult(folder=tmp_path, outcomes=outcomes, rubric=load_rubric(tmp_path / "r.yaml"))
    rows = list(csv.reader(io.StringIO(result.csv())))
    assert rows == [["group", "points", "max_points", "result", "comment"],
                    ["a-group-with-a-rather-long-name", "4", "4", "passed", ""],
                    ["g2", "1", "4", "checks failed", f"integers: {long_reason}"],
                    ["g3", "0", "4", "bad submission", "bad submission: no client program found"]]
    table = result.table(width=80)
    assert all(len(line) <= 80 for line in table.splitlines()), table
    assert table.splitlines()[0].split() == ["submission", "result", "points", "seconds", "reason"]
    words = set(long_reason.split()) | {"passed", "checks", "failed", "bad", "submission", "no", "client", "program",
                                        "found", "4/4", "1/4", "0/4", "2.0", "g2", "g3", "a-group-with-a-rather-l\u2026"}
    for line in table.splitlines()[2:]:  # every word whole: wrapped at word boundaries only, a long name cut
        assert all(w in words for w in line.split()), line
    assert result.to_dict()["submissions"][1]["score"]["points"] == 1
    assert result.to_dict()["rubric"]["max"] == 4


def test_without_a_rubric_each_check_is_worth_a_point(tmp_path):
    ok = outcome(tmp_path, "g1", PASSED, checks())
    result = GradingResult(folder=tmp_path, outcomes=[ok])
    # its payload (none here) judges no checks: passing is the one point
    assert result.grading_rubric().checks == (("passed", 1.0),) and result.scores()[0].points == 1
    assert default_rubric(ALL).max_points == 7 and score(default_rubric(ALL), ok).points == 7


def test_a_program_failure_with_a_failed_check_is_named_by_the_check():
    record = RunRecord(target="ex5", started="", checks=checks("ended", "the server was still running 10 s after "
                                                                        "the quit run"))
    assert classify(ProgramError("the server was still running"), record) == CHECKS_FAILED
    assert classify(ChecksFailed("check quit failed"), RunRecord(target="ex5", started="")) == CHECKS_FAILED
    assert classify(BuildError("building the server failed"), record) == BUILD_FAILED
