"""watchdog.sh: stops the run's server and client groups and removes the run folder when the run is gone."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

from sockdeploy.remote.host import group_exists
from sockdeploy.remote.program import PROCS, sh_command
from sockdeploy.run.watchdog import WATCHDOG_READY, LocalWatchdog, watchdog_script
from sockdeploy.run.workspace import HEARTBEAT
from tests.unit.remote.helpers import TOKEN, alive, daemon, pid_in, wait_until


def _run_dir(tmp_path: Path, server: int, client: int = 0) -> Path:
    run = tmp_path / "run-x"
    run.mkdir()
    (run / "server.pid").write_text(f"{server}\n")
    if client:
        (run / "client.pid").write_text(f"{client}\n")
    return run


def test_end_of_file_stops_server_and_client_and_removes_the_folder(host, start_group, tmp_path):
    server, client = start_group(), start_group()
    run = _run_dir(tmp_path, server, client)
    result = host.run(watchdog_script(str(run)), stdin=b"..", timeout=30)
    assert WATCHDOG_READY.decode() in result.stdout.splitlines()
    assert "SD-FIRED 0" in result.stdout.splitlines()  # said before acting: on end of file, not on silence
    assert not run.exists()
    assert wait_until(lambda: not group_exists(server) and not group_exists(client))


def test_graceful_close_leaves_everything(host, start_group, tmp_path):
    server = start_group()
    run = _run_dir(tmp_path, server)
    result = host.run(watchdog_script(str(run)), stdin=b"..q", timeout=30)
    assert result.exit_status == 0 and "SD-FIRED" not in result.stdout
    assert run.is_dir() and group_exists(server)
    # the pid file marks the run as alive for later sweeps
    assert (run / "lifeline.pid").read_text().strip().isdigit()


def test_it_refreshes_the_heartbeat_other_machines_go_by(host, start_group, tmp_path):
    run = _run_dir(tmp_path, start_group())
    (run / HEARTBEAT).touch()
    os.utime(run / HEARTBEAT, (time.time() - 3600, time.time() - 3600))
    began = time.time()
    assert host.run(watchdog_script(str(run)), stdin=b"...q", timeout=30).exit_status == 0
    assert (run / HEARTBEAT).stat().st_mtime >= began - 1


def test_silence_stops_the_server(start_group, tmp_path):
    server = start_group()
    run = _run_dir(tmp_path, server)
    # 2 s of silence heard in 1 s slices instead of the real 20 in 5, with stdin open and nothing on it
    command = sh_command(PROCS, "watchdog.sh", args=[str(run), 2, "", 1])
    began = time.monotonic()
    proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            start_new_session=True)
    try:
        assert proc.wait(timeout=30) == 0  # with stdin still open: silence, not end of file
        assert proc.stdout is not None
        out = proc.stdout.read()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
    assert 1.8 <= time.monotonic() - began < 10
    assert b"SD-FIRED 2\n" in out  # the seconds without a heartbeat: a run stopped with Ctrl-Z reports them
    assert not run.exists()
    assert wait_until(lambda: not group_exists(server))


def test_a_missing_run_folder_ends_it_at_once(host, tmp_path):
    result = host.run(watchdog_script(str(tmp_path / "gone")), stdin=b".", timeout=30)
    assert result.exit_status == 93
    assert WATCHDOG_READY.decode() not in result.stdout


def test_it_replaces_the_calling_shell(host, tmp_path):
    run = _run_dir(tmp_path, 0)
    (run / "server.pid").unlink()
    # the same pid and so the same parent: the watchdog watches the process that started the channel's shell
    result = host.run(f"cd {shlex.quote(str(run))} && echo $$ > outer.pid && " + watchdog_script(str(run)),
                      stdin=b"q", timeout=30)
    assert result.exit_status == 0
    assert (run / "outer.pid").read_text() == (run / "lifeline.pid").read_text()


def _tagged_daemon(pidfile, role: str) -> int:
    env = dict(os.environ, SOCKDEPLOY_RUN=f"{role}:{TOKEN}")
    subprocess.run(["/bin/sh", "-c", daemon(pidfile)], env=env, check=True)
    return pid_in(pidfile)


def test_with_the_token_it_stops_what_left_the_groups_too(host, tmp_path, pidfiles):
    run = tmp_path / "run-x"
    run.mkdir()
    server, client = _tagged_daemon(pidfiles("server"), "server"), _tagged_daemon(pidfiles("client"), "client-1")
    result = host.run(watchdog_script(str(run), "build|client-[0-9]+"), stdin=b".t" + TOKEN.encode() + b"\n..",
                      timeout=30)
    assert WATCHDOG_READY.decode() in result.stdout.splitlines() and not run.exists()
    # only the roles of its host: the client host's watchdog leaves a server alone (the lab runs both on one machine)
    assert wait_until(lambda: not alive(client)) and alive(server)
    run.mkdir()
    host.run(watchdog_script(str(run)), stdin=b"t" + TOKEN.encode() + b"\n", timeout=30)
    assert wait_until(lambda: not alive(server))


def test_this_machines_watchdog_acts_when_sockdeploy_is_gone(tmp_path, pidfiles):
    run = tmp_path / "sockdeploy-x"
    run.mkdir()
    server = _tagged_daemon(pidfiles("server"), "server")
    watchdog = LocalWatchdog(str(run), TOKEN)
    watchdog.settle()
    assert (run / "lifeline.pid").is_file()
    # as when sockdeploy dies (kill -9): its end of the pipe closes without a goodbye
    assert watchdog._proc.stdin is not None
    watchdog._proc.stdin.close()
    assert watchdog._proc.wait(timeout=30) == 0
    assert not run.exists() and wait_until(lambda: not alive(server))


def test_this_machines_watchdog_closed_leaves_everything(tmp_path, pidfiles):
    run = tmp_path / "sockdeploy-x"
    run.mkdir()
    server = _tagged_daemon(pidfiles("server"), "server")
    with LocalWatchdog(str(run), TOKEN) as watchdog:
        watchdog.settle()
    assert run.is_dir() and alive(server)
