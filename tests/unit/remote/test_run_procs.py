"""run_procs.sh: the shell functions the other host programs share (process groups, log wait, paths)."""

from __future__ import annotations

import shlex
import subprocess
import time

from sockdeploy.remote.scripts import load
from tests.unit.remote.helpers import wait_until

DEAD = 2 ** 22 + 1  # above pid_max's default cap: no such process


def _call(host, line: str, env_home: str = "/h"):
    return host.run(f"HOME={shlex.quote(env_home)}\n" + load("run_procs.sh") + "\n" + line, timeout=30)


def test_group_alive(host, start_group):
    pgid = start_group()
    assert _call(host, f"group_alive {pgid}").exit_status == 0
    assert _call(host, f"group_alive {DEAD}").exit_status != 0


def test_a_zombie_group_is_not_alive(host):
    # a child that ended but was not reaped yet: its group holds only a zombie
    proc = subprocess.Popen(["true"], start_new_session=True)
    try:
        assert wait_until(lambda: open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z")
        assert _call(host, f"group_alive {proc.pid}").exit_status != 0
        assert _call(host, f"pid_alive {proc.pid}").exit_status != 0
    finally:
        proc.wait()


def test_pid_alive(host, start_group):
    pid = start_group()
    assert _call(host, f"pid_alive {pid}").exit_status == 0
    assert _call(host, f"pid_alive {DEAD}").exit_status != 0


def test_await_log_returns_once_the_log_is_closed(host, tmp_path, start_group):
    writer = start_group()
    (tmp_path / "log.closed").touch()
    began = time.monotonic()
    assert _call(host, f"cd {shlex.quote(str(tmp_path))} && await_log {writer}").exit_status == 0
    assert time.monotonic() - began < 5


def test_await_log_does_not_wait_for_a_writer_that_is_gone(host, tmp_path):
    began = time.monotonic()
    _call(host, f"cd {shlex.quote(str(tmp_path))} && await_log {DEAD}")
    assert time.monotonic() - began < 5


def test_home_path(host):
    out = _call(host, 'home_path "~"; home_path "~/a b"; home_path "/x/~"; home_path "~user"', env_home="/h")
    assert out.stdout.splitlines() == ["/h", "/h/a b", "/x/~", "~user"]


def test_control_names_cover_every_file_an_upload_may_not_supply(host):
    from sockdeploy.run.workspace import HEARTBEAT, KEEP_MARKER, RUN_MARKER
    from sockdeploy.spec.sources import CONTROL_NAMES

    names = _call(host, "control_names").stdout.split()
    assert CONTROL_NAMES <= set(names) and ".sockdeploy*" in names
    # the hidden ones are never uploaded (hidden files are skipped) and match the pattern
    assert all(n.startswith(".sockdeploy") for n in (HEARTBEAT, KEEP_MARKER, RUN_MARKER))
    assert all(n in load("run_procs.sh") for n in (HEARTBEAT, KEEP_MARKER, RUN_MARKER))
