"""server_logcap.sh: without python3, the server's output kept within the caps, as the stamper keeps it."""

from __future__ import annotations

import shlex
from pathlib import Path

from sockdeploy.remote.scripts import load
from tests.unit.remote.helpers import capped_reference, flood_peak, numbered_lines
from tests.unit.remote.test_log_join import _join


def _cap(host, folder: Path, caps: str, *argv: str):
    (folder / ".sockdeploy-cap").write_text(load("server_logcap.sh"))
    words = " ".join(shlex.quote(a) for a in argv)
    return host.run(f"cd {shlex.quote(str(folder))} && exec /bin/sh .sockdeploy-cap {caps} {words}", timeout=60)


def test_short_output_is_copied_as_it_is(host, tmp_path):
    assert _cap(host, tmp_path, "1000,1000,5", "/bin/sh", "-c", "echo one; echo two >&2").ok
    assert (tmp_path / "server.log").read_text() == "one\ntwo\n" and not (tmp_path / "server.cut").exists()
    assert (tmp_path / "log.closed").exists()


def test_it_keeps_what_the_stamper_keeps_of_a_long_output(host, tmp_path):
    data = numbered_lines(30_000, width=40)  # about 900 KB: 60 ms-ish of dd runs per piece
    (tmp_path / "in").write_bytes(data)
    caps = "70000,65536,1000000"  # no line limit here: without python3 nothing counts lines
    assert _cap(host, tmp_path, caps, "cat", "in").ok
    log, times, elided = _join(host, tmp_path)
    expected, _, expected_elided = capped_reference(data, caps, tmp_path)
    assert (log.encode(), elided) == (expected, expected_elided) and elided > 0 and times == []


def test_disk_use_stays_bounded_while_a_server_prints_without_end(tmp_path):
    (tmp_path / ".sockdeploy-cap").write_text(load("server_logcap.sh"))
    peak, elided = flood_peak(tmp_path, ["/bin/sh", ".sockdeploy-cap"])
    assert elided > 4 * 65536, "the flood went far past the caps"
    assert peak <= 3 * 65536 + 64  # the head, two pieces, the count


def test_a_term_to_its_group_stops_the_server_not_the_copy(host, tmp_path):
    server = "trap 'echo its last words; exit 0' TERM; echo up; kill -TERM 0; sleep 5"
    assert _cap(host, tmp_path, "1000,1000,5", "/bin/sh", "-c", server).ok
    assert (tmp_path / "server.log").read_text() == "up\nits last words\n"
    assert (tmp_path / "log.closed").exists()
