"""workspace_sweep.sh: removes only sockdeploy's run folders whose watchdog is gone, stopping what they left running."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sockdeploy.remote import marker
from sockdeploy.remote.host import group_exists
from sockdeploy.run.workspace import RUN_MARKER, SERVER_CAP, sweep_script
from tests.unit.remote.helpers import wait_until

DEAD_PID = 2 ** 22 + 1  # above pid_max's default cap: no such process


def _folder(base: Path, name: str, *, marked: bool = True, watchdog: int = 0, server: int = 0, age: float = 0) -> Path:
    d = base / name
    d.mkdir(parents=True)
    if marked:
        (d / RUN_MARKER).touch()
        if age:
            then = time.time() - age
            os.utime(d / RUN_MARKER, (then, then))
    if watchdog:
        (d / "lifeline.pid").write_text(f"{watchdog}\n")
    if server:
        (d / "server.pid").write_text(f"{server}\n")
    return d


def test_removes_only_marked_folders_whose_watchdog_is_gone(host, start_group, tmp_path):
    server = start_group()
    crashed = _folder(tmp_path, "run-crashed", watchdog=DEAD_PID, server=server)
    alive = _folder(tmp_path, "run-alive", watchdog=os.getpid())
    foreign = _folder(tmp_path, "run-foreign", marked=False)
    fresh = _folder(tmp_path, "run-fresh")  # no watchdog yet: may be starting right now
    old = _folder(tmp_path, "run-old", age=SERVER_CAP + 120)  # no watchdog, older than any server lives
    other = _folder(tmp_path, "sockdeploy-local", watchdog=DEAD_PID)  # not a run- folder
    result = host.run(sweep_script(str(tmp_path)), timeout=30)
    assert result.exit_status == 0
    assert sorted(marker.values(result.stdout, "CLEANED")) == sorted([str(crashed), str(old)])
    assert not crashed.exists() and not old.exists()
    assert alive.is_dir() and foreign.is_dir() and fresh.is_dir() and other.is_dir()
    assert wait_until(lambda: not group_exists(server))


def test_a_missing_base_is_nothing_to_do(host, tmp_path):
    result = host.run(sweep_script(str(tmp_path / "never")), timeout=30)
    assert result.exit_status == 0 and result.stdout == ""
    assert not (tmp_path / "never").exists()


def test_a_leading_tilde_is_home(host, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    crashed = _folder(tmp_path / "work", "run-crashed", watchdog=DEAD_PID)
    result = host.run(sweep_script("~/work"), timeout=30)
    assert marker.values(result.stdout, "CLEANED") == [str(crashed)]
