"""The watchdog channel: opening in the background, settle/ensure, heartbeats, goodbye (fake channels)."""

from __future__ import annotations

import os
import threading
import time
from typing import Any, List

import pytest

from sockdeploy.errors import ConnectError, LoginShellSilent
from sockdeploy.ssh.watchdog import Watchdog, await_line


class FakeChannel:
    """Prints `output` once it is read; records what was sent; exits when told goodbye."""

    def __init__(self, output: bytes = b"") -> None:
        self.output = output
        self.sent: List[bytes] = []
        self.closed = False
        self.write_shut = False
        self.r, self.w = os.pipe()  # something select() can wait on
        self.exited = False

    def fileno(self) -> int:
        return self.r

    def recv_ready(self) -> bool:
        return bool(self.output)

    def recv(self, n: int) -> bytes:
        data, self.output = self.output[:n], self.output[n:]
        return data

    def exit_status_ready(self) -> bool:
        return self.exited

    def recv_exit_status(self) -> int:
        return 0

    def sendall(self, data: bytes) -> None:
        self.sent.append(data)
        if data == b"q":
            self.exited = True

    def shutdown_write(self) -> None:
        self.write_shut = True

    def get_transport(self) -> Any:
        return self

    def is_active(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True
        os.close(self.r)
        os.close(self.w)


def watchdog_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sockdeploy-watchdog" and t.is_alive()]


def test_ensure_and_settle_wait_for_the_ready_line_then_heartbeats_flow_and_close_says_goodbye() -> None:
    chan = FakeChannel(b"Welcome!\nSD-WATCHING\n")
    w = Watchdog(lambda: chan, interval=0.02, ready_line=b"SD-WATCHING")
    w.ensure(timeout=5)
    w.settle(timeout=5)
    assert chan.output == b""  # the ready line was read
    deadline = time.monotonic() + 5
    while chan.sent.count(b".") < 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    w.close()
    assert chan.sent[-1] == b"q" and chan.write_shut and chan.closed
    assert not w._thread.is_alive()


def test_an_opener_failure_is_raised_by_ensure_and_settle_does_not_hang() -> None:
    def refused() -> Any:
        raise ConnectError("cannot open the watchdog channel to login: refused", "check your network and run again")

    with Watchdog(refused, interval=0.02) as w:
        w.settle(timeout=5)
        with pytest.raises(ConnectError, match="refused"):
            w.ensure(timeout=5)


def test_any_other_opener_failure_counts_as_no_watchdog() -> None:
    def broken() -> Any:
        raise RuntimeError("boom")

    with Watchdog(broken, interval=0.02) as w:
        with pytest.raises(ConnectError, match="cannot open the watchdog channel: boom"):
            w.ensure(timeout=5)


def test_ensure_gives_up_when_the_channel_does_not_open_in_time() -> None:
    release = threading.Event()

    def slow() -> Any:
        release.wait(5)
        return FakeChannel()

    w = Watchdog(slow, interval=0.02)
    with pytest.raises(ConnectError, match="did not open in time"):
        w.ensure(timeout=0.05)
    release.set()
    w.close()
    assert not w._thread.is_alive()


def test_a_script_that_never_gets_ready_does_not_keep_close_waiting() -> None:
    before = len(watchdog_threads())
    chan = FakeChannel(b"still starting\n")
    w = Watchdog(lambda: chan, interval=0.02, ready_line=b"SD-WATCHING")
    w.ensure(timeout=0.2)
    started = time.monotonic()
    w.close()
    assert time.monotonic() - started < 3 and len(watchdog_threads()) == before
    assert chan.sent == [b"q"], "no heartbeat before the script is ready (a start-up file reading stdin would eat it)"


def test_a_login_shell_that_never_starts_the_watchdog_is_named_by_ensure() -> None:
    w = Watchdog(lambda: FakeChannel(b"Welcome\n"), interval=0.02, ready_line=b"SD-WATCHING", ready_timeout=0.2,
                 host="login")
    with pytest.raises(LoginShellSilent, match="the login shell on login did not answer within 0.2 s"):
        w.ensure(timeout=5)
    w.close()


def _until(cond: Any, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_watchdog_that_acts_while_the_connection_stands_is_told_with_its_silence() -> None:
    chan = FakeChannel(b"SD-WATCHING\n")
    heard: List[str] = []
    w = Watchdog(lambda: chan, interval=0.02, ready_line=b"SD-WATCHING", on_end=heard.append)
    w.ensure(timeout=5)
    chan.output += b"SD-FIRED 20\n"
    chan.exit_status, chan.exited = 0, True
    assert _until(lambda: heard == ["20"])
    assert w.fired == "20"
    w.close()


def test_a_channel_gone_with_its_connection_is_not_a_watchdog_that_acted() -> None:
    chan = FakeChannel(b"SD-WATCHING\n")
    alive = [True]
    heard: List[str] = []
    w = Watchdog(lambda: chan, interval=0.02, ready_line=b"SD-WATCHING", on_end=heard.append, alive=lambda: alive[0])
    w.ensure(timeout=5)
    alive[0] = False
    chan.closed = True
    assert _until(lambda: not w._thread.is_alive())
    # closed by paramiko as the connection died, with no exit status: not the watchdog's doing
    chan2 = FakeChannel(b"SD-WATCHING\n")
    w2 = Watchdog(lambda: chan2, interval=0.02, ready_line=b"SD-WATCHING", on_end=heard.append)
    w2.ensure(timeout=5)
    chan2.closed = True
    assert _until(lambda: not w2._thread.is_alive())
    assert heard == [] and w.fired is None and w2.fired is None
    w.close()
    w2.close()


def test_await_line_needs_the_line_on_its_own() -> None:
    with pytest.raises(TimeoutError, match="did not get ready"):
        await_line(FakeChannel(b"xSD-WATCHING\n"), b"SD-WATCHING", 0.1)
    await_line(FakeChannel(b"motd\nSD-WATCHING\n"), b"SD-WATCHING", 1)
