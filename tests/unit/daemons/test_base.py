"""daemons.base: state files, the pid check, stopping, the stop request and the exit status."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from sockdeploy.daemons.base import StateFile, StopRequest, main, pid_alive, spawn, state_home, stop
from sockdeploy.errors import LabError, UsageError
from tests.unit.daemons.fake import start_fake_daemon


@pytest.fixture(autouse=True)
def state_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def test_state_home_is_private_and_under_xdg_state_home(tmp_path):
    home = state_home()
    assert home == tmp_path / "state" / "sockdeploy" and home.is_dir()
    assert home.stat().st_mode & 0o777 == 0o700


def test_state_file_round_trip_and_unreadable_is_none(tmp_path):
    state = StateFile(tmp_path / "x.json")
    assert state.read() is None and state.log == tmp_path / "x.log"
    state.write({"pid": 1, "status": "up"})
    assert state.read() == {"pid": 1, "status": "up"}
    assert not (tmp_path / "x.tmp").exists()
    state.path.write_text("{half")
    assert state.read() is None
    state.path.write_text("[1, 2]")
    assert state.read() is None
    state.remove()
    state.remove()
    assert not state.path.exists()


def test_pid_alive_running_gone_and_zombie():
    assert pid_alive(os.getpid())
    assert not pid_alive(0) and not pid_alive(-1)
    proc = subprocess.Popen(["true"])
    deadline = time.monotonic() + 5
    while pid_alive(proc.pid) and time.monotonic() < deadline:  # exited but not reaped: a zombie
        time.sleep(0.02)
    assert not pid_alive(proc.pid)
    proc.wait()
    assert not pid_alive(proc.pid)


def test_stop_ends_a_process_with_sigterm():
    proc = start_fake_daemon()
    stop(proc.pid, wait=5, force=False)
    assert proc.wait(5) == -signal.SIGTERM


def test_stop_kills_a_process_that_ignores_sigterm_when_forced():
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(30)"
    proc = start_fake_daemon(code)
    stop(proc.pid, wait=0.3, force=True)
    assert proc.wait(5) == -signal.SIGKILL
    stop(proc.pid, wait=0.3, force=True)  # gone already: nothing to do


def test_a_pid_given_to_another_process_is_never_signalled():
    """`tunnel close` after pid reuse once killed an unrelated process."""
    from sockdeploy.daemons.base import is_daemon, process_start

    other = subprocess.Popen(["sleep", "30"])  # not a sockdeploy daemon
    daemon = start_fake_daemon()
    try:
        assert not is_daemon(other.pid, None)
        stop(other.pid, wait=0.5, force=True)
        assert other.poll() is None, "an unrelated process was signalled"
        started = process_start(daemon.pid)
        assert is_daemon(daemon.pid, started) and not is_daemon(daemon.pid, str(int(started or 0) + 1))
        stop(daemon.pid, wait=0.5, force=True, started=str(int(started or 0) + 1))  # a recycled pid: left alone
        assert daemon.poll() is None
        stop(daemon.pid, wait=5, force=True, started=started)
        assert daemon.wait(5) == -signal.SIGTERM
    finally:
        for proc in (other, daemon):
            proc.kill()
            proc.wait()


def test_spawn_runs_the_daemon_module_with_its_output_in_the_log(tmp_path):
    log = tmp_path / "d.log"
    proc = spawn("base", [], log)  # the module has no main: it imports and exits
    assert proc.wait(20) == 0
    assert log.exists()


def test_stop_request_is_set_by_sigterm_and_sigint():
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            stopping = StopRequest().install()
            assert not stopping and not stopping.wait(0.05)
            assert stopping.wait(5, until=lambda: True) is False  # `until` ends the wait early
            os.kill(os.getpid(), sig)
            assert stopping.wait(5) and bool(stopping)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@pytest.mark.parametrize("error, status", [(None, 0), (UsageError("no"), 2), (LabError("lab"), 7)])
def test_main_exits_with_the_status_of_the_domain_error(error, status):
    def serve(argv):
        if error is not None:
            raise error

    with pytest.raises(SystemExit) as info:
        main(serve)
    assert info.value.code == status
