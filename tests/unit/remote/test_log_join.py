"""log_join.sh: a capped log's kept pieces joined into one log, with one line time per line."""

from __future__ import annotations

import random
import shlex
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

from sockdeploy.output.logcap import elision_note
from sockdeploy.remote.scripts import load
from tests.unit.remote.helpers import capped_reference, line_count


def _call(host, folder: Path, function: str) -> str:
    text = load("log_join.sh") + '\ncd "$1" || exit 1\n"$2" server\n'
    result = host.run(f"/bin/sh -c {shlex.quote(text)} join {shlex.quote(str(folder))} {function}", timeout=30)
    assert result.exit_status == 0, result.stderr
    return result.stdout


def _join(host, folder: Path) -> Tuple[str, List[str], int]:
    return (_call(host, folder, "kept_log"), _call(host, folder, "kept_times").split(),
            int(_call(host, folder, "elided_bytes")))


def _write(folder: Path, name: str, text: str, times: List[float]) -> None:
    (folder / f"server.log{name}").write_text(text)
    (folder / f"server.times{name}").write_text("".join(f"{t}\n" for t in times))


def test_a_log_within_its_head_is_printed_as_it_is(host, tmp_path):
    _write(tmp_path, "", "one\ntwo", [1.0, 2.0])
    assert _join(host, tmp_path) == ("one\ntwo", ["1.0", "2.0"], 0)


def test_pieces_that_follow_on_are_joined_and_a_cut_line_keeps_one_time(host, tmp_path):
    _write(tmp_path, "", "ab", [1.0])
    _write(tmp_path, ".1", "c\nd", [1.0, 2.0])
    _write(tmp_path, ".2", "e\n", [2.0])
    (tmp_path / "server.cut").write_text("0 2\n")
    assert _join(host, tmp_path) == ("abc\nde\n", ["1.0", "2.0"], 0)


def test_dropped_pieces_leave_a_note_on_a_line_of_its_own(host, tmp_path):
    _write(tmp_path, "", "h1\nh2", [1.0, 2.0])
    _write(tmp_path, ".3", "old\n", [3.0])  # dropped: the count says so; a killed copy may leave it
    _write(tmp_path, ".4", "t1\nt", [4.0, 5.0])
    _write(tmp_path, ".5", "2\nt3", [5.0, 6.0])
    (tmp_path / "server.cut").write_text("120 5\n")
    log, times, elided = _join(host, tmp_path)
    assert log == f"h1\nh2\n{elision_note(120)}\nt1\nt2\nt3" and elided == 120
    assert times == ["1.0", "2.0", "4.0", "4.0", "5.0", "6.0"]


def test_a_copy_killed_as_it_began_a_piece_joins_what_exists(host, tmp_path):
    _write(tmp_path, "", "h\n", [1.0])
    _write(tmp_path, ".6", "t\n", [2.0])
    (tmp_path / "server.cut").write_text("77 7\n")  # piece 7 was never created
    log, times, elided = _join(host, tmp_path)
    assert log == f"h\n{elision_note(77)}\nt\n" and times == ["1.0", "2.0", "2.0"] and elided == 77


def test_without_line_times_only_the_log_is_joined(host, tmp_path):
    (tmp_path / "server.log").write_text("h")
    (tmp_path / "server.log.2").write_text("x")
    (tmp_path / "server.log.3").write_text("y")
    (tmp_path / "server.cut").write_text("5 3\n")
    assert _join(host, tmp_path) == (f"h\n{elision_note(5)}\nxy", [], 5)


@pytest.mark.parametrize("seed", range(6))
def test_the_stamper_and_sockdeploys_client_logs_keep_the_same(host, tmp_path, seed):
    """The same output under the same caps: the same kept log, the same number of line times."""
    rng = random.Random(seed)
    data = bytes(rng.choice(b"ab\n\n") for _ in range(rng.randint(200, 3000)))
    caps = f"{rng.randint(1, 300)},{rng.randint(1, 300)},{rng.randint(1, 12)}"
    (tmp_path / "in").write_bytes(data)
    (tmp_path / ".stamp").write_text(load("server_stamper.py"))
    assert host.run(f"cd {shlex.quote(str(tmp_path))} && {shlex.quote(sys.executable)} -S .stamp {caps} cat in",
                    timeout=30).ok
    log, times, elided = _join(host, tmp_path)
    expected_log, expected_times, expected_elided = capped_reference(data, caps, tmp_path)
    assert (log.encode(), len(times), elided) == (expected_log, expected_times, expected_elided)
    assert len(times) == line_count(log.encode())
