"""grading_preflight.sh run here through LocalHost: a usable base directory and the tools, or what is wrong."""

from __future__ import annotations

import shlex
from pathlib import Path

from sockdeploy.errors import RemoteError
from sockdeploy.grading.preflight import PREFLIGHT, cleaned, preflight_error, preflight_script
from sockdeploy.remote import marker
from sockdeploy.remote.host import CommandResult, LocalHost
from sockdeploy.remote.scripts import load


def run(*args: str) -> CommandResult:
    words = ["/bin/sh", "-c", load(PREFLIGHT), PREFLIGHT, *args]
    return LocalHost().run(" ".join(shlex.quote(w) for w in words), timeout=30)


def test_a_usable_host_prints_nothing_and_the_base_is_made(tmp_path):
    base = tmp_path / "deep" / "base dir"
    result = run(str(base), "sh", "cat")
    assert result.ok and result.stdout == "" and base.is_dir()


def test_missing_tools_are_named_each_on_its_own_line(tmp_path):
    result = run(str(tmp_path), "sh", "no-such-tool-sd1", "cat", "no-such-tool-sd2")
    assert result.ok
    assert marker.values(result.stdout, "MISSING") == ["no-such-tool-sd1", "no-such-tool-sd2"]
    assert marker.values(result.stdout, "ERR") == []


def test_a_leading_tilde_means_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert run("~/.sockdeploy-test").ok and (tmp_path / ".sockdeploy-test").is_dir()


def test_a_base_that_cannot_be_created_or_written_is_reported(tmp_path):
    # a file where a folder should be: no user, root included, can create or write the base
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    result = run(str(blocker / "base"), "sh")
    assert result.ok  # the lines are the answer
    errs = marker.values(result.stdout, "ERR")
    assert errs == [f"cannot create {blocker}/base", f"{blocker}/base is not writable"]


def test_the_whole_preflight_runs_and_reads_back(tmp_path):
    """The command line the grader sends: the program with its arguments, then the sweep of crashed runs."""
    script = preflight_script(str(tmp_path / "work"), ["sh", "no-such-tool-sd3"])
    result = LocalHost().run(script, timeout=30)
    err = preflight_error("lab1", result)
    assert isinstance(err, RemoteError)
    assert err.message == "lab1 lacks no-such-tool-sd3, which the submissions' server builds need"
    assert cleaned(result) == [] and (tmp_path / "work").is_dir()


def test_an_unwritable_base_stops_the_host_before_missing_tools(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = LocalHost().run(preflight_script(str(blocker / "work"), ["no-such-tool-sd4"]), timeout=30)
    err = preflight_error("lab1", result)
    assert isinstance(err, RemoteError) and err.message == f"lab1: cannot create {Path(blocker)}/work"
