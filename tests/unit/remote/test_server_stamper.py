"""server_stamper.py: copies a server's output to server.log and notes when each line began in server.times."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from sockdeploy.remote.scripts import load


def _stamp(host, folder: Path, *argv: str):
    (folder / ".sockdeploy-stamp").write_text(load("server_stamper.py"))
    words = " ".join(shlex.quote(a) for a in argv)
    return host.run(f"cd {shlex.quote(str(folder))} && exec {shlex.quote(sys.executable)} -S .sockdeploy-stamp {words}",
                    timeout=30)


def test_copies_the_output_and_stamps_each_line(host, tmp_path):
    result = _stamp(host, tmp_path, "/bin/sh", "-c", "printf 'a\\nb\\n'; sleep 0.2; printf 'c'; echo err >&2")
    assert result.exit_status == 0
    assert (tmp_path / "server.log").read_text() == "a\nb\ncerr\n"
    times = [float(t) for t in (tmp_path / "server.times").read_text().split()]
    assert len(times) == 3 and times[0] <= times[1] < times[2]
    assert (tmp_path / "log.closed").exists()


def test_a_last_line_without_newline_is_stamped(host, tmp_path):
    _stamp(host, tmp_path, "printf", "x")
    assert (tmp_path / "server.log").read_text() == "x"
    assert len((tmp_path / "server.times").read_text().split()) == 1


def test_a_program_that_cannot_start_leaves_an_empty_closed_log(host, tmp_path):
    result = _stamp(host, tmp_path, str(tmp_path / "no-such-program"))
    assert result.exit_status == 0
    assert (tmp_path / "server.log").read_text() == ""
    assert (tmp_path / "log.closed").exists()


def test_it_outlives_a_term_to_its_group_and_keeps_the_last_lines(host, tmp_path):
    # the server's group is stopped with TERM: the server dies, the stamper writes what it said last
    result = _stamp(host, tmp_path, "/bin/sh", "-c", "echo last; kill -TERM 0; sleep 5")
    assert result.exit_status == 0
    assert (tmp_path / "server.log").read_text() == "last\n"
    assert (tmp_path / "log.closed").exists()
