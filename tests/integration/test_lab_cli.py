"""`sockdeploy lab up|status|exec|down` and `sockdeploy demo` as a user runs them."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = pytest.mark.integration


def test_lab_up_exec_down(cli, fake_home, tmp_path):
    env = {"XDG_STATE_HOME": str(fake_home / "state")}
    up = cli("lab", "up", env=env)
    assert up.code == 0, up.stderr
    try:
        status = cli("lab", "status", "--json", env=env).json()
        assert status["running"] and status["status"] == "up"
        hosts = cli("lab", "status", "--hosts-file", env=env).stdout.strip()
        again = cli("lab", "up", env=env)
        assert again.code == 7 and "already up" in again.stderr
        run = cli("lab", "exec", "--", "sockdeploy", "run", "ex5", "--via", "tunnel", "--hosts", hosts,
                  "--out", str(tmp_path / "runs"), "--json", env=env)
        assert run.code == 0, run.stderr
        assert run.json()["via"] == "tunnel"
        if status["kind"] == "campus":
            assert status["home_ns"] in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    finally:
        down = cli("lab", "down", env=env)
    assert down.code == 0 and "lab down" in down.stdout
    assert cli("lab", "status", env=env).code == 7
    if status["kind"] == "campus":
        assert status["home_ns"] not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_demo_runs_both_exercises(cli, tmp_path):
    res = cli("demo", "--out", "runs", timeout=240)
    assert res.code == 0, res.stderr
    assert res.stdout.count("| result | ok |") == 2
    assert "# ex5: sockdeploy transcript" in res.stdout and "# ex6: sockdeploy transcript" in res.stdout
    assert "quit code 418 received" in res.stdout
    assert "(one per run)" in res.stderr and ": 2 (one per run)" in res.stderr
    assert len(list((tmp_path / "runs").iterdir())) == 2
