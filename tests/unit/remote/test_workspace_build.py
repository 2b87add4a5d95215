"""workspace_build.sh: the build command runs in the run folder; failures and timeouts keep the compiler's words."""

from __future__ import annotations

import pytest

from sockdeploy.errors import BuildError
from sockdeploy.run import build as build_mod
from sockdeploy.run.build import build
from sockdeploy.run.runtag import Stray
from sockdeploy.run.workspace import Workspace
from tests.unit.remote.helpers import TOKEN, alive, daemon, pid_in, private_workspace, wait_until


def _ws(host, path) -> Workspace:
    return private_workspace(host, path)


def test_builds_in_the_folder_with_both_streams(host, tmp_path):
    result = build(_ws(host, tmp_path), "echo out; echo err >&2; pwd > where", "server")
    assert result is not None and result.strays == []
    assert "out" in result.output and "err" in result.output
    assert (tmp_path / "where").read_text().strip() == str(tmp_path)


def test_no_command_builds_nothing(host, tmp_path):
    assert build(_ws(host, tmp_path), None, "client") is None


def test_a_failing_build_is_a_build_error_with_its_output(host, tmp_path):
    with pytest.raises(BuildError) as info:
        build(_ws(host, tmp_path), "echo 'x.c:1: error: nope' >&2; exit 2", "client")
    assert info.value.exit_status == 2
    assert "x.c:1: error: nope" in (info.value.output or "")
    assert "building the client failed" in info.value.message


def test_a_missing_folder_fails_the_build(host, tmp_path):
    with pytest.raises(BuildError) as info:
        build(_ws(host, tmp_path / "gone"), "true", "server")
    assert info.value.exit_status == 93


def test_a_build_past_its_time_is_stopped(host, tmp_path, monkeypatch):
    monkeypatch.setattr(build_mod, "BUILD_TIMEOUT", 0.5)
    with pytest.raises(BuildError) as info:
        build(_ws(host, tmp_path), "echo started; sleep 30", "server")
    assert "took longer" in info.value.message


def test_a_process_the_build_leaves_running_is_stopped_and_named(host, tmp_path, pidfiles):
    pidfile = pidfiles("bg")
    result = build(_ws(host, tmp_path), f"echo compiled; {daemon(pidfile, hold_output=True)}", "server", token=TOKEN)
    left = pid_in(pidfile)
    assert result is not None and result.output == "compiled\n"  # the markers are not the build's output
    assert result.strays == [Stray(left, "build", "sleep 60")]
    assert wait_until(lambda: not alive(left))


def test_a_build_past_its_time_has_its_escaped_processes_stopped(host, tmp_path, monkeypatch, pidfiles):
    monkeypatch.setattr(build_mod, "BUILD_TIMEOUT", 1.0)
    pidfile = pidfiles("bg")
    with pytest.raises(BuildError, match="took longer"):
        build(_ws(host, tmp_path), f"{daemon(pidfile)}; sleep 30", "server", token=TOKEN)
    assert wait_until(lambda: not alive(pid_in(pidfile)))
