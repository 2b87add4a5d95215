"""workspace_check.sh: nothing is built or started in a run folder that is no longer the one sockdeploy made."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from sockdeploy.errors import RemoteError, RunDirChanged
from sockdeploy.run.build import build
from sockdeploy.run.server import finish, start_server
from sockdeploy.run.workspace import Workspace, create_workspace


def _swapped(ws: Workspace) -> None:
    """Put another private folder where the run folder was (as one who can write the work folder could)."""
    path = Path(ws.path)
    path.rename(path.with_name(path.name + "-moved"))
    path.mkdir(mode=0o700)


def _opened(ws: Workspace) -> None:
    Path(ws.path).chmod(0o755)


def _try_both(ws: Workspace) -> None:
    """Try a build and a server start; each must be refused before running anything."""
    for attempt in (lambda: build(ws, "touch built", "server"),
                    lambda: start_server(ws, "touch started", ready="delay", port=None, socket_path=None)):
        with pytest.raises(RunDirChanged) as info:
            attempt()
        assert isinstance(info.value, RemoteError) and info.value.exit_status == 96
        assert "is not the private folder sockdeploy made" in info.value.message
        assert "nothing was run in it" in info.value.message
    for d in (Path(ws.path), Path(ws.path + "-moved")):
        assert not (d / "built").exists() and not (d / "started").exists() and not (d / "server.pid").exists()
    # the cleanup neither reads a log from the folder now there nor removes it
    Path(ws.path, "server.log").write_text("planted\n")
    assert finish(ws, pid=None, remove=True).log is None and Path(ws.path, "server.log").is_file()


@pytest.mark.parametrize("change", [_swapped, _opened], ids=["swapped", "opened"])
def test_a_changed_run_folder_is_refused(host, tmp_path, change: Callable[[Workspace], None]):
    ws = create_workspace(host, str(tmp_path / "work"), [])
    assert build(ws, "touch built", "server") is not None and Path(ws.path, "built").is_file()
    os.unlink(Path(ws.path, "built"))
    change(ws)
    _try_both(ws)


def test_a_run_folder_given_to_another_user_is_refused(host, tmp_path, other_user):
    ws = create_workspace(host, str(tmp_path / "work"), [])
    os.chown(ws.path, *other_user)
    _try_both(ws)
