"""workspace_sweep.sh: removes only the user's run folders that are over, and signals only what the run started.

Run folders are private (0700) folders of the user with sockdeploy's marker naming the machine the run
belongs to. A run of this machine is over when its watchdog is gone; a run of another machine of a pool
(sharing the home) only when its heartbeat is older than the server's cap plus a margin. Kept folders
(--keep-remote) are never removed.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import Optional

import pytest

from sockdeploy.remote import marker
from sockdeploy.remote.host import group_exists
from sockdeploy.remote.scripts import load
from sockdeploy.run.workspace import HEARTBEAT, KEEP_MARKER, RUN_MARKER, STALE_AFTER, sweep_script
from tests.unit.remote.helpers import wait_until

DEAD_PID = 2 ** 22 + 1  # above pid_max's default cap: no such process
OTHER_BOOT = "boot 00000000-0000-4000-8000-000000000000"


@pytest.fixture
def here(host) -> str:
    """The marker text a run folder made on this machine carries (machine_id in run_procs.sh)."""
    text = host.run(load("run_procs.sh") + "\nmachine_id", timeout=30).stdout
    assert text.startswith("host ") and "\nboot " in text
    return text


def _folder(base: Path, name: str, mark: Optional[str], *, watchdog: int = 0, server: int = 0, client: int = 0,
            age: float = 0, heartbeat: bool = False, keep: bool = False, mode: int = 0o700) -> Path:
    """A run folder as a run leaves it; `age`: seconds since marker (and heartbeat) last changed."""
    d = base / name
    d.mkdir(parents=True)
    d.chmod(mode)
    if mark is not None:
        (d / RUN_MARKER).write_text(mark)
    if heartbeat:
        (d / HEARTBEAT).touch()
    for file, pid in (("lifeline.pid", watchdog), ("server.pid", server), ("client.pid", client)):
        if pid:
            (d / file).write_text(f"{pid}\n")
    if keep:
        (d / KEEP_MARKER).touch()
    if age:
        then = time.time() - age
        for f in (RUN_MARKER, HEARTBEAT):
            if (d / f).exists():
                os.utime(d / f, (then, then))
    return d


def _sweep(host, base: Path, before: str = ""):
    result = host.run(before + sweep_script(str(base)), timeout=30)
    assert result.exit_status == 0, result.output
    return sorted(marker.values(result.stdout, "CLEANED"))


def test_removes_this_machines_runs_whose_watchdog_is_gone(host, start_group, tmp_path, here):
    crashed = _folder(tmp_path, "run-crashed", here, watchdog=DEAD_PID)
    alive = _folder(tmp_path, "run-alive", here)
    fresh = _folder(tmp_path, "run-fresh", here)  # no watchdog yet: may be starting right now
    old = _folder(tmp_path, "run-old", here, age=STALE_AFTER + 60)  # no watchdog, older than any server lives
    foreign = _folder(tmp_path, "run-foreign", None, watchdog=DEAD_PID)
    other = _folder(tmp_path, "sockdeploy-local", here, watchdog=DEAD_PID)  # not a run- folder
    # started after their folders were made, as a run's own processes are
    server, client = start_group(), start_group()
    (crashed / "server.pid").write_text(f"{server}\n")
    (crashed / "client.pid").write_text(f"{client}\n")
    (alive / "lifeline.pid").write_text(f"{start_group()}\n")
    assert _sweep(host, tmp_path) == sorted([str(crashed), str(old)])
    assert not crashed.exists() and not old.exists()
    assert alive.is_dir() and foreign.is_dir() and fresh.is_dir() and other.is_dir()
    assert wait_until(lambda: not group_exists(server) and not group_exists(client))


def test_a_planted_pid_is_never_signalled(host, start_group, tmp_path, here):
    victim = start_group()  # the user's other program, running before the folder naming it was made
    time.sleep(2.1)  # start times are whole seconds (with a second's slack)
    planted = _folder(tmp_path, "run-planted", here, watchdog=DEAD_PID, server=victim)
    zero = _folder(tmp_path, "run-zero", here, watchdog=DEAD_PID, server=0, client=1)
    (zero / "server.pid").write_text("0\n")  # kill -0 signals the sweep's own group
    own = _folder(tmp_path, "run-own", here, watchdog=DEAD_PID)
    # the sweep's own process group: the shell that runs it
    before = f"echo $$ > {shlex.quote(str(own / 'server.pid'))}\n"
    assert _sweep(host, tmp_path, before) == sorted([str(planted), str(zero), str(own)])
    assert group_exists(victim)


def test_another_users_process_is_never_signalled(host, tmp_path, here, other_user, start_as):
    crashed = _folder(tmp_path, "run-crashed", here, watchdog=DEAD_PID)
    theirs = start_as(*other_user)  # started after the folder: only its owner tells it apart
    (crashed / "server.pid").write_text(f"{theirs}\n")
    assert _sweep(host, tmp_path) == [str(crashed)]
    assert group_exists(theirs)


def test_folders_that_are_not_the_users_run_folders_are_untouched(host, tmp_path, here):
    opened = _folder(tmp_path, "run-opened", here, watchdog=DEAD_PID, mode=0o755)
    linked_marker = _folder(tmp_path, "run-linked-marker", None, watchdog=DEAD_PID)
    (tmp_path / "marker").write_text(here)
    (linked_marker / RUN_MARKER).symlink_to(tmp_path / "marker")
    elsewhere = _folder(tmp_path / "elsewhere", "run-target", here, watchdog=DEAD_PID)
    (tmp_path / "run-link").symlink_to(elsewhere)
    assert _sweep(host, tmp_path) == []
    assert opened.is_dir() and linked_marker.is_dir() and elsewhere.is_dir()


def test_folders_of_another_user_are_untouched(host, start_group, tmp_path, here, other_user):
    uid, gid = other_user
    theirs = _folder(tmp_path, "run-theirs", here, watchdog=DEAD_PID)
    their_marker = _folder(tmp_path, "run-their-marker", here, watchdog=DEAD_PID)
    victim = start_group()  # started after the folders: what a planted pid file there could name
    for d in (theirs, their_marker):
        (d / "server.pid").write_text(f"{victim}\n")
    for f in [theirs, *theirs.iterdir(), their_marker / RUN_MARKER]:
        os.chown(f, uid, gid)
    assert _sweep(host, tmp_path) == []
    assert theirs.is_dir() and their_marker.is_dir() and group_exists(victim)


def test_another_machines_run_is_removed_only_once_its_heartbeat_is_stale(host, start_group, tmp_path, here):
    there = "\n".join(OTHER_BOOT if line.startswith("boot ") else line for line in here.splitlines()) + "\n"
    elsewhere = "host another-login-host\n" + "".join(f"{line}\n" for line in here.splitlines()[1:])
    # its watchdog runs on that machine: from here its pid is simply not there
    live = _folder(tmp_path, "run-live", there, watchdog=DEAD_PID, heartbeat=True)
    live_named = _folder(tmp_path, "run-live-named", elsewhere, watchdog=DEAD_PID, heartbeat=True)
    starting = _folder(tmp_path, "run-starting", there)  # no heartbeat yet: the marker is fresh
    stale = _folder(tmp_path, "run-stale", there, watchdog=DEAD_PID, heartbeat=True, age=STALE_AFTER + 60)
    # its pid file names a process there; the same number here is one of ours, started after the folder
    ours = start_group()
    (stale / "server.pid").write_text(f"{ours}\n")
    assert _sweep(host, tmp_path) == [str(stale)]
    assert live.is_dir() and live_named.is_dir() and starting.is_dir()
    assert group_exists(ours)


def test_a_kept_folder_is_never_removed(host, tmp_path, here):
    kept = _folder(tmp_path, "run-kept", here, watchdog=DEAD_PID, heartbeat=True, keep=True, age=STALE_AFTER + 60)
    assert _sweep(host, tmp_path) == []
    assert kept.is_dir() and (kept / RUN_MARKER).is_file()


def test_a_missing_base_is_nothing_to_do(host, tmp_path):
    result = host.run(sweep_script(str(tmp_path / "never")), timeout=30)
    assert result.exit_status == 0 and result.stdout == ""
    assert not (tmp_path / "never").exists()


def test_a_leading_tilde_is_home(host, tmp_path, monkeypatch, here):
    monkeypatch.setenv("HOME", str(tmp_path))
    crashed = _folder(tmp_path / "work", "run-crashed", here, watchdog=DEAD_PID)
    result = host.run(sweep_script("~/work"), timeout=30)
    assert marker.values(result.stdout, "CLEANED") == [str(crashed)]
