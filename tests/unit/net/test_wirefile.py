"""The preload library's wire record read back: connections, chunks, caps, events, and lines that do not read."""

from __future__ import annotations

from sockdeploy.net.wire import RECEIVED, SENT, WireLog
from sockdeploy.net.wirefile import read_record, wire_log
from sockdeploy.output.wireview import render_wire

T0 = 1700000000.0
RECORD = (
    "C 41.ab.1 tcp 127.0.0.1:51234 127.0.0.1:31000 1700000000.000000\n"
    "S 41.ab.1 1700000000.250000 37\n"
    "S+ 41.ab.1 1700000000.250000 0a\n"
    "S 41.ab.1 1700000000.500000 3431380a\n"
    "R 41.ab.1 1700000000.750000 6f6b0a\n"
    "E 41.ab.1 1700000001.000000 client closed\n"
    "E 41.ab.1 1700000001.100000 server closed\n"
)


def test_a_connection_reads_back_with_its_chunks_times_and_events():
    rec = read_record(RECORD, run=2, port=31000)
    (conn,) = rec.connections
    assert (conn.kind, conn.origin, conn.run) == ("tcp", "127.0.0.1:51234", 2)
    assert conn.opened == "2023-11-14T22:13:20.000+00:00"
    assert conn.data(SENT) == b"7\n418\n" and conn.data(RECEIVED) == b"ok\n"
    assert [(c.direction, c.t, c.data) for c in conn.chunks] == [
        (SENT, 0.25, b"7\n"), (SENT, 0.5, b"418\n"), (RECEIVED, 0.75, b"ok\n")]  # S+ joined the chunk before it
    assert conn.event_time("client closed") == 1.0 and conn.event_time("server closed") == 1.1
    assert not rec.full and rec.skipped == 0


def test_bytes_past_the_cap_are_counted_not_kept():
    text = ("C 7.1.1 tcp 10.0.0.2:40000 10.0.0.1:31000 1700000000.0\n"
            "S 7.1.1 1700000000.1 " + "61" * 6 + "\n"
            "SX 7.1.1 1700000000.2 1000\n")
    (conn,) = read_record(text, run=1, cap=4).connections
    assert conn.data(SENT) == b"aaaa" and conn.totals[SENT] == 1006 and conn.cut(SENT) == 1002
    assert "cut at the 4-byte cap" in render_wire(wire_log("by the preload library on pi", {1: text}, cap=4))


def test_garbage_and_a_truncated_last_line_are_skipped_and_the_rest_kept():
    text = ("\x00\x01garbage\n"
            "C 9.1.1 tcp 127.0.0.1:5 127.0.0.1:31000 1700000000.0\n"
            "S 9.1.1 notatime 3132\n"
            "S 9.1.1 1700000000.1 zz\n"
            "S 8.8.8 1700000000.1 3132\n"  # a connection never opened
            "E 9.1.1 1700000000.2 client exploded\n"
            "S 9.1.1 1700000000.3 3132\n"
            "R 9.1.1 1700000000.4 6f6")  # cut short as it was written
    rec = read_record(text, run=1)
    (conn,) = rec.connections
    assert conn.data(SENT) == b"12" and conn.data(RECEIVED) == b"o"
    assert rec.skipped == 5


def test_only_connections_to_the_server_port_count():
    text = ("C 5.1.1 udp 10.0.0.2:5353 10.0.0.53:53 1700000000.0\n"
            "S 5.1.1 1700000000.1 00\n"
            "C 5.1.2 udp 10.0.0.2:41000 10.0.0.1:31000 1700000000.2\n"
            "S 5.1.2 1700000000.3 3938\n")
    rec = read_record(text, run=1, port=31000)
    assert [c.origin for c in rec.connections] == ["10.0.0.2:41000"] and rec.skipped == 0
    assert len(read_record(text, run=1).connections) == 2  # no port known: every connection


def test_forked_children_and_runs_make_one_log_numbered_in_order():
    run1 = ("C 10.1.1 tcp 127.0.0.1:1001 127.0.0.1:31000 1700000000.5\n"
            "C 11.1.1 tcp 127.0.0.1:1002 127.0.0.1:31000 1700000000.1\n"  # a child's, opened first
            "S 10.1.1 1700000000.6 31\n"
            "S 11.1.1 1700000000.7 32\n")
    run2 = "C 12.2.1 tcp 127.0.0.1:1003 127.0.0.1:31000 1700000002.0\nS 12.2.1 1700000002.1 33\nF 1700000002.2\n"
    log = wire_log("by the preload library on pi", {2: run2, 1: run1}, port=31000)
    assert [(c.id, c.run, c.origin) for c in log.connections] == [
        (1, 1, "127.0.0.1:1002"), (2, 1, "127.0.0.1:1001"), (3, 2, "127.0.0.1:1003")]
    assert [c.data(SENT) for c in log.of_run(1)] == [b"2", b"1"]
    assert log.path.startswith("by the preload library on pi; a file reached its 16 MiB cap")


def test_an_ipv6_socket_and_an_empty_file():
    text = "C 3.1.1 tcp ::1:40000 ::1:31000 1700000000.0\nS 3.1.1 1700000000.1 3132\n"
    (conn,) = read_record(text, run=1, port=31000).connections
    assert conn.origin == "::1:40000"
    assert wire_log("x", {1: ""}).connections == []


STATIC = "/home/ada/work/client-static"
STATIC_HEX = STATIC.encode().hex()


def test_a_program_the_library_could_not_follow_marks_the_run_incomplete():
    text = ("C 4.1.1 tcp 127.0.0.1:1001 127.0.0.1:31000 1700000000.0\n"
            "S 4.1.1 1700000000.1 31\n"
            f"U 1700000000.2 {STATIC_HEX}\n"
            f"U 1700000000.3 {b'/bin/other'.hex()}\n")
    rec = read_record(text, run=1, port=31000)
    assert rec.unrecorded == [STATIC, "/bin/other"] and len(rec.connections) == 1 and rec.skipped == 0
    log = wire_log("by the preload library on pi", {1: text, 2: f"U 1700000001.0 {STATIC_HEX}\n", 3: ""}, port=31000)
    assert log.unrecorded == {1: STATIC, 2: STATIC}  # the first program of each run; run 3 is whole
    assert WireLog.from_json(log.to_json()).unrecorded == log.unrecorded
    assert ("Incomplete: client run 2 started client-static, which is statically linked, so the preload library "
            f"could not record it ({STATIC}); its bytes are not here.") in render_wire(log)


def test_an_unrecorded_line_that_does_not_read_is_skipped_and_a_cut_one_kept():
    text = ("U 1700000000.0 zz\n"
            "U notatime 2f62\n"
            "U 1700000000.0\n"
            "U 1700000000.0 2f62 extra\n"
            f"U 1700000000.1 {STATIC_HEX[:-1]}")  # the last line, cut short as it was written
    rec = read_record(text, run=1)
    assert rec.skipped == 4 and rec.unrecorded == [STATIC[:-1]]
    assert read_record("U 1700000000.0 ff2f\n").unrecorded == ["\ufffd/"]  # not UTF-8: still a program
