"""`sockdeploy report` and `bundle`: --out (old -o/--output), the human lines on stderr, --json on stdout."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

OK_RUN = SimpleNamespace(path=Path("run1"), record=SimpleNamespace(ok=True, error=None))
FAILED_RUN = SimpleNamespace(path=Path("run2"), record=SimpleNamespace(ok=False, error=SimpleNamespace(
    exit_code=6, message="client run 1 exited with status 3")))


@pytest.fixture
def answers(mocker):
    mocker.patch("sockdeploy.output.answers.collect", return_value=[OK_RUN])
    return mocker.patch("sockdeploy.output.answers.write_answers",
                        side_effect=lambda runs, names, path, title: (path, path.with_suffix(".html")))


@pytest.fixture
def zipper(mocker):
    def write(runs, names, path, title):
        return SimpleNamespace(path=path, runs=runs, entries=["submission/MANIFEST.sha256", "submission/answers.md"])

    mocker.patch("sockdeploy.output.answers.collect", return_value=[OK_RUN])
    return mocker.patch("sockdeploy.output.bundle.write_bundle", side_effect=write)


@pytest.mark.parametrize("spelling", ["--out", "-o", "--output"])
def test_report_out_and_its_old_spellings(invoke, answers, spelling):
    res = invoke("report", "run1", spelling, "studio/answers.md", "--member", "Ada")
    assert res.exit_code == 0, res.stderr
    assert answers.call_args.args[2] == Path("studio/answers.md")


def test_report_writes_answers_md_by_default_and_says_so_on_stderr(invoke, answers):
    res = invoke("report", "run1", "--member", "Ada")
    assert answers.call_args.args[2] == Path("answers.md")
    assert res.stdout == "" and "answers: answers.md" in res.stderr and "answers.html" in res.stderr


def test_report_json_is_the_only_stdout(invoke, answers):
    res = invoke("report", "run1", "--member", "Ada", "--json")
    assert json.loads(res.stdout) == {"markdown": "answers.md", "html": "answers.html"}
    assert "answers: answers.md" in res.stderr


def test_report_without_members_notes_it(invoke, answers):
    res = invoke("report", "run1")
    assert res.exit_code == 0 and "answer 1 lists no group members" in res.stderr


def test_out_given_twice_under_two_spellings_is_refused(invoke, answers):
    res = invoke("report", "run1", "--out", "a.md", "-o", "b.md")
    assert res.exit_code == 2 and "give --out once" in res.stderr and answers.call_count == 0


@pytest.mark.parametrize("spelling", ["--out", "-o", "--output"])
def test_bundle_out_and_its_old_spellings(invoke, zipper, spelling):
    res = invoke("bundle", "run1", spelling, "sub.zip", "--member", "Ada")
    assert res.exit_code == 0, res.stderr
    assert zipper.call_args.args[2] == Path("sub.zip")
    assert res.stdout == "" and "submission: sub.zip (1 run(s), 2 files)" in res.stderr


def test_bundle_json(invoke, zipper):
    res = invoke("bundle", "run1", "--member", "Ada", "--json")
    record = json.loads(res.stdout)
    assert record == {"zip": "submission.zip", "runs": 1, "entries": ["submission/MANIFEST.sha256", "submission/answers.md"]}


@pytest.mark.parametrize("command", ["report", "bundle"])
def test_a_failed_run_is_refused_unless_asked_for(invoke, answers, zipper, mocker, command):
    mocker.patch("sockdeploy.output.answers.collect", return_value=[OK_RUN, FAILED_RUN])
    res = invoke(command, "run1", "run2")
    assert res.exit_code == 2
    assert "run2: this run failed (exit 6: client run 1 exited with status 3)" in res.stderr
    assert "--include-failed" in res.stderr and not answers.called and not zipper.called
    res = invoke(command, "run1", "run2", "--include-failed")
    assert res.exit_code == 0, res.stderr
