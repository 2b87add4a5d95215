"""Client runs on this machine: a real short subprocess, its log, its exit status, stdin, stop and timeout."""

from __future__ import annotations

import os
import secrets
import threading
import time
from pathlib import Path

from sockdeploy.output.logcap import CappedLog, LineTimes
from sockdeploy.run.clients import LogPump, run_client

HEADER = "$ client\n"


def _run(tmp_path: Path, command: str, **kw):
    log = tmp_path / "client.log"
    return run_client(command, str(tmp_path), log, HEADER, kw.pop("timeout", 10), **kw), log


def test_exit_status_and_output_after_the_header(tmp_path):
    outcome, log = _run(tmp_path, "echo out; echo err >&2; exit 3")
    assert outcome.exit_code == 3 and not outcome.timed_out and not outcome.stopped
    assert outcome.output == "out\nerr\n"
    assert log.read_text() == HEADER + "out\nerr\n"
    assert len(outcome.times) == 2


def test_runs_in_the_given_folder(tmp_path):
    outcome, _ = _run(tmp_path, "pwd")
    assert outcome.output.strip() == str(tmp_path)


def test_output_reaches_the_log_while_the_client_runs(tmp_path):
    log = tmp_path / "client.log"
    seen = threading.Event()

    def watch() -> None:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if log.exists() and "first" in log.read_text():
                seen.set()
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    outcome = run_client("echo first; sleep 1; echo second", str(tmp_path), log, HEADER, 10)
    watcher.join()
    assert seen.is_set() and outcome.output == "first\nsecond\n"
    assert outcome.times[1] - outcome.times[0] >= 0.8


def test_stdin_is_fed_then_closed(tmp_path):
    outcome, _ = _run(tmp_path, "cat; echo end", stdin="line 1\nline 2\n")
    assert outcome.output == "line 1\nline 2\nend\n" and outcome.exit_code == 0


def test_without_stdin_the_client_reads_nothing(tmp_path):
    outcome, _ = _run(tmp_path, "cat; echo end")
    assert outcome.output == "end\n"


def test_a_client_past_its_timeout_is_stopped_with_its_output_kept(tmp_path):
    began = time.monotonic()
    outcome, _ = _run(tmp_path, "echo started; sleep 30", timeout=0.5)
    assert time.monotonic() - began < 10
    assert outcome.timed_out and outcome.exit_code is None
    assert outcome.output == "started\n"


def test_a_client_with_a_duration_is_stopped_with_sigint(tmp_path):
    outcome, _ = _run(tmp_path, "trap 'echo interrupted; exit 0' INT; echo up; while :; do sleep 0.05; done",
                      duration=0.5)
    assert outcome.stopped and not outcome.timed_out
    assert outcome.output == "up\ninterrupted\n" and outcome.exit_code == 0


def test_line_times_count_a_last_line_without_newline():
    times = LineTimes()
    times.feed(b"a\nb", 1.0)
    times.feed(b"c\n", 2.0)
    times.feed(b"d", 3.0)
    assert times.end() == [1.0, 1.0, 3.0]


def test_the_log_pump_is_closed_by_its_owner(tmp_path):
    read_end, write_end = os.pipe()
    log = tmp_path / "log"
    log.write_bytes(b"")
    with LogPump(read_end, CappedLog(log)) as pump:
        os.write(write_end, b"x\ny")
        os.close(write_end)
    assert log.read_bytes() == b"x\ny" and len(pump.log.times) == 2


def test_what_a_client_leaves_running_is_stopped_and_named(tmp_path):
    pidfile = tmp_path / "child.pid"
    inner = f"echo $$ > {pidfile}; exec sleep 60"
    # a child in a session of its own, still holding the client's output
    command = f"(setsid sh -c '{inner}' &); echo \"$SOCKDEPLOY_RUN\"; sleep 0.2"
    began = time.monotonic()
    token = secrets.token_hex(16)  # its own: test runs side by side must not stop each other's processes
    outcome, _ = _run(tmp_path, command, token=token, role="client-3")
    child = int(pidfile.read_text())
    try:
        assert outcome.exit_code == 0 and outcome.output == f"client-3:{token}\n"
        assert [(s.pid, s.role, s.command) for s in outcome.strays] == [(child, "client-3", "sleep 60")]
        assert not os.path.exists(f"/proc/{child}") or open(f"/proc/{child}/stat").read().split(") ")[1][0] == "Z"
        assert time.monotonic() - began < 5
    finally:
        try:
            os.kill(child, 9)
        except OSError:
            pass


def test_a_run_that_must_stop_stops_the_client_at_once_with_its_output_kept(tmp_path):
    import pytest

    from sockdeploy.errors import ConnectionLost

    log = tmp_path / "client.log"
    lost = threading.Event()

    def stop() -> None:
        if lost.is_set():
            raise ConnectionLost("the SSH connection to login was lost (connection reset)")

    token = f"5{os.getpid() % 10**6:06d}"
    threading.Timer(0.5, lost.set).start()
    began = time.monotonic()
    with pytest.raises(ConnectionLost):
        run_client(f"echo before; exec sleep {token}", str(tmp_path), log, HEADER, 30, stop=stop)
    assert time.monotonic() - began < 3
    assert log.read_text() == HEADER + "before\n"
    import subprocess

    assert subprocess.run(["pgrep", "-f", f"sleep {token}"], capture_output=True).returncode == 1, "the client was left running"


def test_a_client_printing_more_than_a_log_keeps_leaves_its_head_and_tail(tmp_path):
    from sockdeploy.output.logcap import HEAD_BYTES, PIECE_BYTES, elision_note

    printed = 5_000_000
    outcome, log = _run(tmp_path, f"echo first; yes 'a line of output' | head -c {printed}; echo; echo last")
    assert outcome.exit_code == 0 and outcome.elided > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["client.log"], "the pieces are joined and removed"
    text = log.read_text()
    head, note, tail = text.partition(f"{elision_note(outcome.elided)}\n")
    assert note and head.startswith(HEADER + "first\na line of output\n") and tail.endswith("\nlast\n")
    assert len(head) - len(HEADER) <= HEAD_BYTES and len(tail) <= 2 * PIECE_BYTES
    assert len(head) - len(HEADER) + outcome.elided + len(tail) == len("first\n") + printed + len("\nlast\n")
    assert len(outcome.times) == outcome.output.count("\n")
