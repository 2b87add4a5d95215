"""Capped logs: the head and the tail kept, the middle elided with a count, the disk use bounded while writing."""

from __future__ import annotations

import random

import pytest

from sockdeploy.output import logcap
from sockdeploy.output.logcap import CappedLog, contract, elision_note, excerpt, fit
from sockdeploy.output.runfolder import ProgramLog, render_markdown
from sockdeploy.run.record import RunRecord
from tests.conftest import code_blocks


@pytest.mark.parametrize("chunk, size, newlines, expected", [
    (b"abcdef", 0, 0, 4),       # the byte limit (4)
    (b"abcdef", 4, 0, 0),       # full
    (b"a\nb\nc\n", 0, 0, 4),    # after the 2nd newline, the line limit (2)
    (b"a\nb\nc\n", 0, 1, 2),    # one line left
    (b"ab", 1, 1, 2),           # the line limit counts newlines only: an unfinished line may grow
    (b"a\nbcdef", 0, 2, 0),     # no line left
])
def test_fit_stops_at_the_byte_or_the_line_limit(chunk, size, newlines, expected):
    assert fit(chunk, size, newlines, limit=4 if size < 4 else 4, max_lines=2) == expected


def _fill(path, data, head, piece, lines, seed=0):
    """Write DATA in random chunks; return the log and the largest disk use seen between writes."""
    rng = random.Random(seed)
    log = CappedLog(path, head=head, piece=piece, lines=lines)
    at, peak = 0, 0
    while at < len(data):
        step = rng.randint(1, 50)
        assert log.write(data[at:at + step], float(at))
        at += step
        peak = max(peak, sum(p.stat().st_size for p in path.parent.iterdir()))
    log.close()
    return log, peak


@pytest.mark.parametrize("seed", range(40))
def test_the_head_and_the_tail_are_kept_and_the_rest_counted(tmp_path, seed):
    rng = random.Random(seed)
    data = bytes(rng.choice(b"xy\n\n") for _ in range(rng.randint(0, 1500)))
    head, piece, lines = rng.randint(1, 100), rng.randint(1, 100), rng.randint(1, 10)
    path = tmp_path / "client-1.log"
    path.write_bytes(b"")
    log, peak = _fill(path, data, head, piece, lines, seed)
    kept = path.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["client-1.log"], "the pieces are joined and removed"
    assert peak <= head + 2 * piece
    text = kept.decode()
    assert len(log.times) == text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    if not log.elided:
        assert kept == data
        return
    front, note, back = text.partition(f"{elision_note(log.elided)}\n")
    assert note and data.endswith(back.encode())
    shown_head = data[:len(data) - log.elided - len(back)]
    assert front.encode() in (shown_head, shown_head + b"\n")  # a newline only to put the note on its own line
    assert len(shown_head) <= head and shown_head.count(b"\n") <= lines
    # the tail: the newest piece and the full one before it (full by its bytes or its lines)
    assert len(back) <= 2 * piece and back.count("\n") <= 2 * lines
    assert len(back) >= piece or back.count("\n") >= lines


def test_line_times_follow_the_lines_kept(tmp_path):
    path = tmp_path / "log"
    path.write_bytes(b"")
    log = CappedLog(path, head=4, piece=3, lines=100)
    for i, chunk in enumerate([b"h1\nh", b"2\n", b"aa\n", b"bb\n", b"c", b"c\n"]):
        log.write(chunk, float(i))
    log.close()
    # head "h1\nh" + "2\naa\n" cut: pieces "2\na", "a\nb", "b\nc", "c\n"; "2\na" and "a\nb" dropped
    assert path.read_bytes() == b"h1\nh\n" + elision_note(6).encode() + b"\nb\ncc\n"
    assert log.times == [0.0, 0.0, 3.0, 3.0, 4.0]  # h1, h(2), the note (its next line's time), (b)b, cc


def test_a_closed_log_refuses_more(tmp_path):
    path = tmp_path / "log"
    path.write_bytes(b"header\n")
    log = CappedLog(path)
    assert log.write(b"one\n", 1.0)
    log.close()
    log.close()
    assert not log.write(b"two\n", 2.0)
    assert path.read_bytes() == b"header\none\n" and log.times == [1.0]


def test_an_excerpt_shows_whole_lines_and_names_the_file():
    text = "".join(f"line {i}\n" for i in range(10_000))
    shown = excerpt(text, "client-1.log", head=100, tail=100)
    lines = shown.splitlines()
    assert lines[0] == "line 0" and lines[-1] == "line 9999"
    note = next(line for line in lines if line.startswith("[..."))
    hidden = text[len(shown.split(note)[0]):len(text) - len(shown.split(note + "\n")[1])]
    assert note == f"[... {hidden.count(chr(10)):,} more lines ({len(hidden):,} bytes) not shown here: see client-1.log ...]"
    assert len(shown) < 300 and excerpt("short\n", "x") == "short\n"


def test_an_excerpt_of_one_long_line_cuts_it():
    shown = excerpt("x" * 1000, "server.log", head=10, tail=10)
    assert shown == "x" * 10 + "\n[... 0 more lines (980 bytes) not shown here: see server.log ...]\n" + "x" * 10


def test_the_transcript_shows_head_and_tail_and_says_what_the_log_keeps():
    output = "first\n" + "".join(f"flood {i}\n" for i in range(50_000)) + elision_note(98765) + "\nlast\n"
    log = ProgramLog("client-1.log", "Client terminal (laptop), run 1", "me@laptop", "./client", output=output,
                     ending="exit status 0", elided=98765)
    md = render_markdown(RunRecord(target="ex5", started="2026-11-21T10:00:00Z", ok=True), [log])
    block = code_blocks(md)[0]
    assert block.startswith("[me@laptop]$ ./client\nfirst\nflood 0\n")
    assert block.endswith(f"{elision_note(98765)}\nlast\n[exit status 0]")
    assert "not shown here: see client-1.log ...]" in block
    assert len(output) > 500_000 and len(md) < logcap.SHOWN_HEAD + logcap.SHOWN_TAIL + 2000
    assert contract("client-1.log", 98765) in md and "98,765 bytes" in contract("client-1.log", 98765)
