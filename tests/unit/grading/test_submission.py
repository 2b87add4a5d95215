"""Planning submissions: names, plans, hosts, the tools their builds need."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import List

import pytest

from sockdeploy.errors import (
    PayloadError,
    UsageError,
)
from sockdeploy.grading.submission import Submission, assign_hosts, plan_submissions, safe_names, server_tools
from sockdeploy.spec import payload as payload_mod
from tests.conftest import PAYLOADS


def test_names_are_sanitised_unique_and_never_a_summary_file():
    dirs = [Path("a/Team 1"), Path("b/Team 1"), Path("c/../"), Path("x/summary.json"), Path("y/..hidden")]
    assert safe_names(dirs) == ["Team_1", "Team_1-2", "submission", "summary.json-2", "hidden"]


def _submissions(tmp_path: Path, *names: str) -> List[Path]:
    out = []
    for name in names:
        dest = tmp_path / "subs" / name
        shutil.copytree(PAYLOADS / "ex5", dest)
        (dest / "payload.yaml").unlink()
        out.append(dest)
    return out


def test_an_exercise_judges_the_programs_by_its_checks_not_by_the_bundled_wording(tmp_path):
    (d,) = _submissions(tmp_path, "g1")
    (sub,) = plan_submissions([str(d)], "ex5")
    assert sub.problem is None and sub.remote
    # the programs are fitted to the exercise by discovery, as `run ex5 --payload DIR` does
    assert sub.payload.source_dir == d.resolve() and sub.payload.origin == "discovered by sockdeploy"
    assert [r.command for r in sub.payload.runs] == ["./client {ip} {port}", "./client {ip} {port} quit"]
    # the bundled programs' expect: lines stay with them; the checks: section judges these
    assert sub.payload.expect.server == () and sub.payload.checks is not None
    assert sub.payload.checks.enabled == ("built", "listened", "connected", "sent", "integers", "quit", "ended")
    assert sub.payload.checks.quit_runs == (False, True)
    # a folder with its own payload.yaml keeps its plan under --exercise, judged by the same checks
    shutil.copy(PAYLOADS / "ex5" / "payload.yaml", d / "payload.yaml")
    (own,) = plan_submissions([str(d)], "ex5")
    assert own.payload.origin != "discovered by sockdeploy" and own.payload.checks == sub.payload.checks


def test_a_bad_submission_is_recorded_and_the_others_still_plan(tmp_path):
    good, no_client, own = _submissions(tmp_path, "good", "no-client", "own")
    (no_client / "client.c").unlink()
    shutil.copy(PAYLOADS / "ex5" / "payload.yaml", own / "payload.yaml")
    (own / "payload.yaml").write_text("server:\n  run: ./server {prot}\nclient:\n  runs: [./client]\n")
    subs = plan_submissions([str(good), str(no_client)], "ex5")
    assert subs[0].problem is None
    assert isinstance(subs[1].problem, PayloadError) and "no client program found" in subs[1].problem.message
    # without --exercise: each folder's own payload.yaml, and a folder without one is refused on its own
    subs = plan_submissions([str(good), str(own)], None)
    assert isinstance(subs[0].problem, PayloadError) and "no payload.yaml" in subs[0].problem.message
    assert isinstance(subs[1].problem, PayloadError) and subs[1].problem.where.endswith("payload.yaml:2")


def test_a_missing_folder_stops_everything_before_anything_runs(tmp_path):
    with pytest.raises(UsageError, match="submission folder not found"):
        plan_submissions([str(tmp_path / "nope")], "ex5")


def test_remote_submissions_are_spread_round_robin():
    remote = Submission("r", Path("."), payload_mod.resolve("ex5"))
    local = Submission("l", Path("."), payload_mod.resolve("ex1"))
    bad = Submission("b", Path("."), None, PayloadError("x"))
    assert assign_hosts([remote, local, remote, bad, remote, remote], 3) == [0, None, 1, None, 2, 0]
    assert assign_hosts([remote], 0) == [None]


def test_server_tools_name_the_build_programs():
    subs = [Submission("a", Path("."), payload_mod.resolve("ex5")),
            Submission("b", Path("."), payload_mod.resolve("py-tcp"))]
    assert server_tools(subs) == ["setsid", "gcc", "python3"]
