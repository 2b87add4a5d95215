"""server_stamper.py: copies a server's output to server.log, capped, and notes when each line began in server.times."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from sockdeploy.output.logcap import caps_arg
from sockdeploy.remote.scripts import load
from tests.unit.remote.helpers import flood_peak, line_count, numbered_lines


def _stamp(host, folder: Path, *argv: str, caps: str = ""):
    (folder / ".sockdeploy-stamp").write_text(load("server_stamper.py"))
    words = " ".join(shlex.quote(a) for a in (caps or caps_arg(), *argv))
    return host.run(f"cd {shlex.quote(str(folder))} && exec {shlex.quote(sys.executable)} -S .sockdeploy-stamp {words}",
                    timeout=30)


def _times(path: Path) -> list:
    return [float(t) for t in path.read_text().split()]


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


def test_a_long_output_keeps_the_head_and_the_last_two_pieces(host, tmp_path):
    data = numbered_lines(200)  # 1,790 bytes
    (tmp_path / "in").write_bytes(data)
    _stamp(host, tmp_path, "cat", "in", caps="100,60,1000")
    elided, newest = (int(n) for n in (tmp_path / "server.cut").read_text().split())
    assert newest == (len(data) - 100 + 59) // 60 and elided == (newest - 2) * 60
    head = (tmp_path / "server.log").read_bytes()
    pieces = [(tmp_path / f"server.log.{k}").read_bytes() for k in (newest - 1, newest)]
    assert head == data[:100] and data.endswith(b"".join(pieces)) and len(pieces[0]) == 60
    assert len(head) + elided + len(b"".join(pieces)) == len(data)
    assert not (tmp_path / f"server.log.{newest - 2}").exists() and not (tmp_path / f"server.times.{newest - 2}").exists()
    # each piece has one time per line, a line cut at its end or start included
    assert len(_times(tmp_path / "server.times")) == line_count(head)
    for k, piece in zip((newest - 1, newest), pieces):
        assert len(_times(tmp_path / f"server.times.{k}")) == line_count(piece)


def test_a_piece_also_ends_after_its_lines(host, tmp_path):
    _stamp(host, tmp_path, "printf", "a\\nb\\nc\\nd\\ne\\nf\\ng\\n", caps="1000,1000,2")
    assert (tmp_path / "server.log").read_text() == "a\nb\n"
    assert (tmp_path / "server.cut").read_text() == "4 3\n"  # the 4 bytes "c\nd\n" dropped
    assert (tmp_path / "server.log.2").read_text() == "e\nf\n" and (tmp_path / "server.log.3").read_text() == "g\n"
    assert len(_times(tmp_path / "server.times")) == 2 and len(_times(tmp_path / "server.times.3")) == 1


def test_disk_use_stays_bounded_while_a_server_prints_without_end(tmp_path):
    (tmp_path / ".sockdeploy-stamp").write_text(load("server_stamper.py"))
    peak, elided = flood_peak(tmp_path, [sys.executable, "-S", ".sockdeploy-stamp"])
    assert elided > 10 * 65536, "the flood went far past the caps"
    # three pieces of log, and their times: at most 1,000 lines of 18 bytes each
    assert peak <= 3 * 65536 + 3 * 1000 * 18 + 64
