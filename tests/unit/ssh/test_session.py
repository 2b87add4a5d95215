"""The session's own logic around a connection (fakes for the transport; no network)."""

from __future__ import annotations

import re
import threading
from typing import Any, List, Optional

import pytest

from sockdeploy.errors import ConnectError
from sockdeploy.spec.hosts import ServerConfig
from sockdeploy.ssh.session import SshSession


class FakeTransport:
    sock = None

    def __init__(self) -> None:
        self.active = True
        self.completion_event: Optional[threading.Event] = None
        self.forwards: List[Any] = []

    def is_active(self) -> bool:
        return self.active

    def close(self) -> None:
        self.active = False

    def _send_user_message(self, m: Any) -> None:
        if self.completion_event is not None:
            self.completion_event.set()

    def request_port_forward(self, address: str, port: int, handler: Any = None) -> int:
        self.forwards.append((address, port))
        return port or 40000


class FakeConn:
    user, host, port, original_host = "jdoe", "login.internal", 22, "login"

    def __init__(self, transport: FakeTransport) -> None:
        self.transport_ = transport

    def close(self) -> None:
        self.transport_.close()


def keepalive_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sockdeploy-keepalive" and t.is_alive()]


def connected(session: SshSession) -> FakeTransport:
    transport = FakeTransport()
    conn = FakeConn(transport)
    session._conn = conn
    session._connected(conn, transport, "jdoe@login.internal:22")
    return transport


def test_a_connection_gets_one_keepalive_thread_and_close_joins_it() -> None:
    before = len(keepalive_threads())
    s = SshSession(ServerConfig(host="login"))
    connected(s)
    assert len(keepalive_threads()) == before + 1
    assert (s.name, s.hostname, s.login, s.strict_kex) == ("login", "login.internal", "jdoe@login.internal:22", False)
    s.close()
    assert len(keepalive_threads()) == before
    assert not s.alive


def test_a_reopen_retires_the_old_keepalive() -> None:
    before = len(keepalive_threads())
    s = SshSession(ServerConfig(host="login"))
    first = connected(s)
    first.close()  # the link died
    connected(s)
    assert len(keepalive_threads()) == before + 1
    s.close()
    assert len(keepalive_threads()) == before


def test_a_lost_connection_names_the_keepalive_verdict() -> None:
    s = SshSession(ServerConfig(host="login"))
    assert s.dead_reason is None
    with pytest.raises(ConnectError, match="was lost"):
        s.transport  # noqa: B018 - the property raises
    connected(s)
    assert s._keepalive is not None
    s._keepalive.dead_reason = "no answer to keepalives for 30 s"
    s._transport.close()
    with pytest.raises(ConnectError) as caught:
        s.transport  # noqa: B018
    assert caught.value.message == "the SSH connection to login was lost (no answer to keepalives for 30 s)"
    s.close()


def test_remote_listeners_wait_for_the_keepalives_global_request() -> None:
    s = SshSession(ServerConfig(host="login"))
    transport = connected(s)
    got: List[int] = []
    with s._global_requests:
        t = threading.Thread(target=lambda: got.append(s.listen_remote(0, lambda chan, origin: None)))
        t.start()
        t.join(0.2)
        assert got == [] and transport.forwards == []
    t.join(5)
    assert got == [40000] and transport.forwards == [("127.0.0.1", 0)]
    s.close()


def test_max_agents_sets_the_helper_limit() -> None:
    s = SshSession(ServerConfig(host="login"))
    assert s.max_agents == 1
    s.max_agents = 3
    assert s.helpers.limit == 3


def test_server_alive_settings_set_the_keepalive_as_openssh_would_drop_the_link() -> None:
    from sockdeploy.ssh.resolver import SshOptions
    from sockdeploy.ssh.session import keepalive_timing

    assert keepalive_timing(None) == {} and keepalive_timing(SshOptions(alias="h", hostname="h")) == {}
    # OpenSSH: dead after CountMax unanswered keepalives, one every Interval s
    assert keepalive_timing(SshOptions(alias="h", hostname="h", server_alive_interval=5, server_alive_count_max=2)) == {
        "interval": 5.0, "timeout": 10.0}


def test_an_upload_cut_by_the_far_end_is_a_lost_connection_not_a_bare_eoferror(monkeypatch) -> None:
    from sockdeploy.ssh import helper as helper_mod

    class DeadChannel:
        """A channel whose connection closed under a write: paramiko raises a bare EOFError, on close too."""

        started = b""  # the command's start marker: the login shell ran it

        def exec_command(self, command: str) -> None:
            self.started = re.search(r"SD-START-[0-9a-f]+", command).group().encode() + b"\n"  # type: ignore[union-attr]

        def recv_ready(self) -> bool:
            return bool(self.started)

        def recv(self, n: int) -> bytes:
            data, self.started = self.started[:n], self.started[n:]
            return data

        def settimeout(self, t: Any) -> None:
            pass

        def sendall(self, data: Any) -> None:
            raise EOFError()

        def close(self) -> None:
            raise EOFError()

    monkeypatch.setenv(helper_mod.ENV_SWITCH, "0")
    s = SshSession(ServerConfig(host="login"))
    transport = FakeTransport()
    s._transport = transport
    monkeypatch.setattr(s, "_open", lambda t, *a, **k: DeadChannel())
    with pytest.raises(ConnectError) as err:
        s.run("cat > /dev/null", stdin=b"x" * 100)
    assert err.value.message == "the SSH connection to login was lost (closed by the other end)"
