"""The checks judged from a run's facts: each failure named by its one-line reason."""

from __future__ import annotations

import struct
from typing import Dict, List, Optional, Sequence, Union

import pytest

from sockdeploy.grading.checks import ClientFacts, RunFacts, evaluate, first_failure
from sockdeploy.net.wire import WireLog
from sockdeploy.spec.checks import CHECK_NAMES, Checks

EX5 = Checks(enabled=tuple(n for n in CHECK_NAMES if n != "addresses"), quit_runs=(False, True))
VALUES = [1, 1, 2, 3, 5, 8, 13, 21, 34, 55]


def text(values: Sequence[int]) -> bytes:
    return "".join(f"{v}\n" for v in values).encode()


def binary(values: Sequence[int]) -> bytes:
    return b"".join(struct.pack("!I", v) for v in values)


def facts(sent: Dict[int, Union[None, bytes, List[bytes]]], server_output: str, *, ended: Optional[bool] = True,
          exit_codes: Sequence[int] = (0, 0), protocol: str = "tcp", wire: bool = True) -> RunFacts:
    """Two client runs (the second the quit run); SENT maps a run to its bytes (None: no connection at all)."""
    current: List[Optional[int]] = [None]
    log = WireLog("through the tunnel", lambda: current[0])
    clients = []
    for run in (1, 2):
        current[0] = run
        data = sent.get(run, b"")
        if data is not None:
            conn = log.open(("127.0.0.1", 40000 + run), protocol)
            for part in data if isinstance(data, list) else [data]:
                conn.sent(part)
            conn.closed("client")
            conn.closed("server")
        clients.append(ClientFacts(run, quit=run == 2, started=True, exit_code=exit_codes[run - 1]))
    return RunFacts(listened=True, port=30303, server_output=server_output, server_ended=ended, server_exit_code=0,
                    awaited=True, protocol=protocol, clients=clients, wire=log if wire else None)


def by_name(results) -> Dict[str, str]:
    return {r.name: ("ok" if r.ok else "FAILED" if r.ok is False else "skip") + ": " + r.detail for r in results}


def received(values: Sequence[int], fmt: str = "received: {}") -> str:
    return "".join(fmt.format(v) + "\n" for v in values)


def test_a_correct_text_pair_passes_every_check_whatever_it_prints():
    out = "Server up\n" + "Client connected\n" + received(VALUES, "got {} ok") + "Client connected\n" + \
        received(VALUES + [418], "got {} ok") + "bye\n"
    results = evaluate(EX5, facts({1: text(VALUES), 2: text(VALUES + [418])}, out))
    assert [r.name for r in results] == list(EX5.enabled)
    assert all(r.ok for r in results), by_name(results)
    assert "all 20 integers appear in order (text)" in by_name(results)["integers"]
    assert "quit code 418 reached the server" in by_name(results)["quit"]


def test_binary_htonl_pair_and_a_server_that_does_not_print_the_quit_code():
    out = received(VALUES) + received(VALUES) + "server quitting\n"
    results = evaluate(EX5, facts({1: binary(VALUES), 2: binary(VALUES + [418])}, out))
    assert all(r.ok for r in results), by_name(results)
    assert "(binary)" in by_name(results)["integers"]


def test_byte_swapped_text_passes():
    swapped = [int.from_bytes(struct.pack("<I", v * 1000), "big") for v in (1, 2, 3, 4)]
    out = "".join(f"number {v * 1000} (sent as {s})\n" for v, s in zip((1, 2, 3, 4), swapped)) * 2 + "server quitting\n"
    quit_swapped = int.from_bytes(struct.pack("<I", 418), "big")
    results = evaluate(EX5, facts({1: text(swapped), 2: text(swapped + [quit_swapped])}, out))
    assert all(r.ok for r in results), by_name(results)


def test_a_dropped_value_is_named_with_its_run():
    values = [5, 98, 7]
    out = received([5, 7]) + received([5, 98, 7])
    results = evaluate(EX5, facts({1: text(values), 2: text(values + [418])}, out))
    failure = first_failure(results)
    assert failure is not None and failure.name == "integers"
    assert failure.detail == "integer 98 sent by client run 1 never appears in the server's output"


def test_values_out_of_order_are_said_so():
    out = received([7, 5]) + received([5, 7])
    results = evaluate(EX5, facts({1: text([5, 7]), 2: text([5, 7, 418])}, out))
    assert "appears in the server's output only out of order" in by_name(results)["integers"]


def test_a_server_ignoring_quit_fails_on_its_end_only():
    out = received(VALUES) + received(VALUES + [418])
    results = by_name(evaluate(EX5, facts({1: text(VALUES), 2: text(VALUES + [418])}, out, ended=False)))
    assert results["quit"].startswith("ok")
    assert results["ended"] == "FAILED: the server was still running 10 s after the quit run"


def test_a_client_that_never_sends_the_quit_code():
    out = received(VALUES) * 2
    results = evaluate(EX5, facts({1: text(VALUES), 2: text(VALUES)}, out, ended=False))
    failure = first_failure(results)
    assert failure is not None and failure.name == "quit"
    assert failure.detail == "the quit run (client run 2) sent nothing that client run 1 did not: no quit code"
    # a fixed quit code is looked for as such
    fixed = Checks(enabled=EX5.enabled, quit_code=999, quit_runs=(False, True))
    results = by_name(evaluate(fixed, facts({1: text(VALUES), 2: text(VALUES + [418])}, out)))
    assert results["quit"] == "FAILED: the quit run (client run 2) never sent the quit code 999"


def test_a_client_that_sends_nothing_is_named():
    results = evaluate(EX5, facts({1: b"", 2: b""}, "waiting\n", ended=False))
    failure = first_failure(results)
    assert failure is not None and failure.name == "sent"
    assert failure.detail == "client run 1 connected but sent nothing"


def test_a_client_run_that_failed_or_never_connected():
    results = by_name(evaluate(EX5, facts({1: text(VALUES), 2: text(VALUES + [418])}, received(VALUES * 2),
                                          exit_codes=(0, 1))))
    assert results["connected"] == "FAILED: client run 2 exited with status 1"
    results = by_name(evaluate(EX5, facts({1: None, 2: None}, "", exit_codes=(0, 0))))
    assert results["connected"] == "FAILED: client run 1 made no connection to the server"


def test_a_build_failure_leaves_the_later_checks_not_reached():
    f = facts({}, "")
    f.build_failed, f.listened = "server", None
    results = evaluate(EX5, f)
    failure = first_failure(results)
    assert failure is not None and failure.detail == "the server did not build (see server-build.log)"
    assert [r.reached for r in results] == [True] + [False] * (len(results) - 1)


def test_without_a_wire_record_the_wire_checks_are_not_judged():
    out = received(VALUES * 2)
    results = evaluate(EX5, facts({1: text(VALUES), 2: text(VALUES + [418])}, out, wire=False))
    assert {r.name: r.ok for r in results}["integers"] is None
    assert "no wire record on the direct path" in by_name(results)["integers"]
    assert first_failure(results) is None


def test_udp_datagrams_are_read_one_by_one():
    out = received([11, 22]) + received([11, 22, 418])
    results = evaluate(EX5, facts({1: [b"11", b"22"], 2: [b"11", b"22", b"418"]}, out, protocol="udp"))
    assert by_name(results)["integers"].startswith("ok: all 4 integers"), by_name(results)


@pytest.mark.parametrize("cut", [False, True])
def test_the_wire_record_is_bounded_and_says_so(cut):
    log = WireLog("through the tunnel", cap=8)
    conn = log.open(("127.0.0.1", 1))
    conn.sent(b"12345")
    conn.sent(b"6789abc" if cut else b"6")
    assert conn.data("sent") == (b"12345678" if cut else b"123456")
    assert conn.cut("sent") == (4 if cut else 0) and conn.totals["sent"] == (12 if cut else 6)
    again = WireLog.from_json(log.to_json()).connections[0]
    assert again.data("sent") == conn.data("sent") and again.cut("sent") == conn.cut("sent")


def test_addresses_are_the_real_sockets_ones():
    ex6 = Checks(enabled=("addresses",), quit_runs=(False, True))
    f = facts({1: b"1\n", 2: b"1\n418\n"}, "listening on 0.0.0.0 (0.0.0.0) port 30303\n")
    for c, conn in zip(f.clients, f.wire.connections):
        c.output = f"connected to localhost (127.0.0.1:31000) from {conn.origin}\n"
    assert evaluate(ex6, f)[0].ok, evaluate(ex6, f)
    f.clients[1].output = "connected from 127.0.0.1:9\n"  # not its socket's port
    assert evaluate(ex6, f)[0].detail == "client run 2 never printed its socket's address 127.0.0.1:40002"
    f.server_output = "listening on port 31999\n"
    assert evaluate(ex6, f)[0].detail == "the server never printed the port it listens on (30303)"
    f.written_port = 31999  # its bind was moved: the port written in counts too
    assert "client run 2" in evaluate(ex6, f)[0].detail


def test_a_plan_without_a_quit_run_leaves_quit_not_judged():
    one_run = Checks(enabled=("quit", "ended"), quit_runs=(False, False))
    f = facts({1: text(VALUES), 2: text(VALUES)}, received(VALUES * 2), ended=False)
    for c in f.clients:
        c.quit = False  # as the check step marks them from quit_runs
    results = by_name(evaluate(one_run, f))
    assert results["quit"] == "skip: not judged: no client run of the plan tells the server to quit"
    assert results["ended"] == "FAILED: the server was still running 10 s after the last client run"


STATIC_NOTE = ("client run 2 started client-static, which is statically linked, so the preload library could not "
               "record it")


@pytest.mark.parametrize("recorded", [False, True])
def test_a_run_that_started_a_statically_linked_program_is_not_judged_on_the_wire(recorded):
    """Run 2's wrapper exec'd a static client: its record misses those bytes (all of them, or some)."""
    every = Checks(enabled=CHECK_NAMES, quit_runs=(False, True))
    f = facts({1: text(VALUES), 2: text(VALUES) if recorded else None}, received(VALUES * 2) + "quit\n")
    assert f.wire is not None
    f.wire.unrecorded[2] = "/tmp/ws/bin/client-static"
    results = by_name(evaluate(every, f))
    connections = "2 connections" if recorded else "1 connection"
    assert results["connected"] == (f"ok: 2 client runs connected and exited 0 ({connections} carried; "
                                    f"{STATIC_NOTE})")
    for name in ("sent", "integers", "quit", "addresses"):
        assert results[name] == f"skip: not judged: {STATIC_NOTE}"
    assert results["ended"].startswith("ok")
    assert first_failure(evaluate(every, f)) is None
    f.clients[1].exit_code = 3  # its exit status still counts
    assert by_name(evaluate(every, f))["connected"] == "FAILED: client run 2 exited with status 3"
