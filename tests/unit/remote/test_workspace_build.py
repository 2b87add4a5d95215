"""workspace_build.sh: the build command runs in the run folder; failures and timeouts keep the compiler's words."""

from __future__ import annotations

import pytest

from sockdeploy.errors import BuildError
from sockdeploy.run import build as build_mod
from sockdeploy.run.build import build
from sockdeploy.run.workspace import Workspace
from tests.unit.remote.helpers import private_workspace


def _ws(host, path) -> Workspace:
    return private_workspace(host, path)


def test_builds_in_the_folder_with_both_streams(host, tmp_path):
    result = build(_ws(host, tmp_path), "echo out; echo err >&2; pwd > where", "server")
    assert result is not None and result.ok
    assert "out" in result.stdout and "err" in result.stdout
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
