"""The link watch: a connection's death is told at once, with why; an ending the session asked for is not."""

from __future__ import annotations

import threading
from typing import List, Optional

import pytest

from sockdeploy.errors import ConnectionLost
from sockdeploy.spec.hosts import ServerConfig
from sockdeploy.ssh.linkwatch import LinkWatch, LostListeners, why_lost
from sockdeploy.ssh.session import SshSession


class ThreadTransport(threading.Thread):
    """Stands for paramiko's transport, which is a thread that ends with its connection."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.end = threading.Event()
        self.saved_exception: Optional[BaseException] = None

    def run(self) -> None:
        self.end.wait(30)

    def die(self, exc: Optional[BaseException]) -> None:
        self.saved_exception = exc
        self.end.set()


def _watch(transport: ThreadTransport, keepalive: Optional[str] = None) -> tuple:
    heard: List[ConnectionLost] = []
    told = threading.Event()

    def listener(error: ConnectionLost) -> None:
        heard.append(error)
        told.set()

    watch = LinkWatch(transport, "login.example", listener, lambda: keepalive).start()
    return watch, heard, told


def test_a_reset_is_told_at_once_with_its_reason() -> None:
    transport = ThreadTransport()
    transport.start()
    watch, heard, told = _watch(transport)
    transport.die(ConnectionResetError(104, "Connection reset by peer"))
    assert told.wait(2)
    assert heard[0].message == "the SSH connection to login.example was lost (connection reset)"
    assert heard[0].exit_code == 3 and heard[0].kind == "connection-lost" and watch.dead.is_set()


def test_the_session_closing_it_is_no_loss() -> None:
    transport = ThreadTransport()
    transport.start()
    watch, heard, told = _watch(transport)
    watch.closing()
    transport.die(EOFError())
    assert not told.wait(0.3) and heard == []


def test_the_reason_says_who_ended_it() -> None:
    class T:
        saved_exception: Optional[BaseException] = None

    t = T()
    assert why_lost(t, "no answer to keepalives for 30 s") == "no answer to keepalives for 30 s"
    assert why_lost(t) == "the host closed it"
    t.saved_exception = EOFError()
    assert why_lost(t) == "the host closed it"
    t.saved_exception = OSError(113, "No route to host")
    assert why_lost(t) == "no route to host"


def test_listeners_are_told_until_they_unsubscribe() -> None:
    listeners = LostListeners()
    heard: List[str] = []
    stop = listeners.subscribe(lambda e: heard.append("a"))
    listeners.subscribe(lambda e: heard.append("b"))
    listeners(ConnectionLost("lost"))
    stop()
    listeners(ConnectionLost("lost"))
    assert heard == ["a", "b", "b"]


def test_a_session_tells_its_subscribers_and_then_raises_the_same_loss() -> None:
    from tests.unit.ssh.test_session import FakeConn

    class Transport(ThreadTransport):
        sock = None
        completion_event = None

        def is_active(self) -> bool:
            return not self.end.is_set()

        def close(self) -> None:
            self.end.set()

    session = SshSession(ServerConfig(host="login"))
    transport = Transport()
    transport.start()
    conn = FakeConn(transport)  # type: ignore[arg-type]
    session._conn = conn
    session._connected(conn, transport, "jdoe@login:22")
    heard: List[ConnectionLost] = []
    session.on_lost(heard.append)
    transport.die(EOFError())
    watch = session._link
    assert watch is not None and watch.dead.wait(2)
    assert [e.message for e in heard] == ["the SSH connection to login was lost (the host closed it)"]
    with pytest.raises(ConnectionLost) as caught:
        session.check_forwarding()  # any use of the connection raises the loss it was told
    assert caught.value is heard[0]
    session.close()
