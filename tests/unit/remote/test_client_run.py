"""client_run.sh: the client runs in a session of its own; its pid and exit status come as markers on stderr."""

from __future__ import annotations

import time
from pathlib import Path

from sockdeploy.remote import marker
from sockdeploy.run.remoteclient import client_command
from tests.unit.remote.helpers import TOKEN, alive, daemon, pid_in


def test_runs_with_stdin_and_reports_pid_and_status(host, tmp_path):
    result = host.run(client_command(str(tmp_path), "cat; echo err >&2; pwd; exit 4", True), stdin=b"hello\n", timeout=30)
    assert result.stdout == f"hello\nerr\n{tmp_path}\n"
    pid = marker.first(result.stderr, "PID")
    assert pid is not None and pid.isdigit()
    assert marker.first(result.stderr, "EXIT") == "4"
    assert not (Path(tmp_path) / "client.pid").exists()  # only there while the client runs


def test_without_stdin_the_client_reads_end_of_file(host, tmp_path):
    result = host.run(client_command(str(tmp_path), "cat; echo done", False), stdin=b"not for the client", timeout=30)
    assert result.stdout == "done\n"
    assert marker.first(result.stderr, "EXIT") == "0"


def test_the_client_has_a_process_group_of_its_own(host, tmp_path):
    result = host.run(client_command(str(tmp_path), "ps -o pgid= -p $$", False), timeout=30)
    assert result.stdout.strip() == marker.first(result.stderr, "PID")


def test_a_missing_folder_runs_nothing(host, tmp_path):
    result = host.run(client_command(str(tmp_path / "gone"), "echo ran", False), timeout=30)
    assert result.exit_status == 93 and "ran" not in result.stdout
    assert marker.first(result.stderr, "PID") is None


def test_with_a_role_the_token_comes_first_and_what_the_client_leaves_is_stopped(host, tmp_path, pidfiles):
    pidfile = pidfiles("child")
    command = f"{daemon(pidfile, hold_output=True)}; cat; echo \"$SOCKDEPLOY_RUN\""
    began = time.monotonic()
    result = host.run(client_command(str(tmp_path), command, True, role="client-2"), stdin=f"{TOKEN}\nhello\n".encode(),
                      timeout=30)
    left = pid_in(pidfile)
    assert result.stdout == f"hello\nclient-2:{TOKEN}\n"  # the token line is not the client's input
    assert marker.values(result.stderr, "STRAY") == [f"{left} client-2 sleep 60 "]
    assert marker.first(result.stderr, "EXIT") == "0" and not alive(left)
    assert time.monotonic() - began < 10  # the child holding the output did not keep the run waiting
