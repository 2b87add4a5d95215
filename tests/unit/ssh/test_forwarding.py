"""What sshd's answers to a forward mean (mock channel openers; no network)."""

from __future__ import annotations

from typing import Any

import paramiko
import pytest

from sockdeploy.errors import ConnectError, ForwardConnectFailed, ForwardingForbidden
from sockdeploy.ssh.forwarding import check_forwarding, direct_sink, open_forward


def refusing(exc: BaseException) -> Any:
    def opener(*args: Any, **kwargs: Any) -> Any:
        raise exc
    return opener


def test_administratively_prohibited_means_forwarding_is_forbidden() -> None:
    with pytest.raises(ForwardingForbidden, match="AllowTcpForwarding no"):
        open_forward(refusing(paramiko.ChannelException(1, "prohibited")), "login", "127.0.0.1", 8080, ("127.0.0.1", 0))
    with pytest.raises(ForwardingForbidden):
        check_forwarding(refusing(paramiko.ChannelException(1, "prohibited")), "login")


def test_a_refused_connect_is_the_servers_not_the_forwards() -> None:
    with pytest.raises(ForwardConnectFailed, match="could not connect to 127.0.0.1:8080 for the tunnel: Connection refused"):
        open_forward(refusing(paramiko.ChannelException(2, "Connection refused")), "login", "127.0.0.1", 8080, ("127.0.0.1", 0))
    check_forwarding(refusing(paramiko.ChannelException(2, "Connection refused")), "login")  # allowed


def test_a_broken_connection_is_a_connect_error() -> None:
    with pytest.raises(ConnectError, match="failed while opening a tunnel channel"):
        open_forward(refusing(EOFError()), "login", "127.0.0.1", 8080, ("127.0.0.1", 0))


def test_forward_opens_ask_for_a_large_window_and_the_check_closes_its_channel(mocker: Any) -> None:
    chan = mocker.Mock()
    opener = mocker.Mock(return_value=chan)
    check_forwarding(opener, "login")
    opener.assert_called_once_with("direct-tcpip", ("127.0.0.1", 1), ("127.0.0.1", 0),
                                   window_size=4 * 1024 * 1024, max_packet_size=32768)
    chan.close.assert_called_once_with()


def test_direct_delivery_applies_only_to_sockets_on_prepared_transports(mocker: Any) -> None:
    import socket

    a, b = socket.socketpair()
    try:
        plain = mocker.Mock(transport=mocker.Mock(_sd_direct=False))
        prepared = mocker.Mock(transport=mocker.Mock(_sd_direct=True))
        assert direct_sink(plain, a) is None and direct_sink(prepared, object()) is None
        assert direct_sink(prepared, a) is not None
    finally:
        a.close()
        b.close()


def test_sshds_own_reason_for_a_refused_channel_is_kept() -> None:
    from paramiko.common import MSG_CHANNEL_OPEN_FAILURE
    from paramiko.message import Message

    from sockdeploy.ssh.forwarding import keep_open_failure_text, open_channel

    class Transport:
        saved_exception: Any = None

        def __init__(self) -> None:
            self._handler_table = {MSG_CHANNEL_OPEN_FAILURE: self._parse}

        def _parse(self, m: Any) -> None:  # paramiko's: the reason code's name only
            m.get_int()
            self.saved_exception = paramiko.ChannelException(m.get_int(), "Connect failed")

        def open_channel(self, *args: Any, **kwargs: Any) -> Any:
            m = Message()
            m.add_int(7)
            m.add_int(2)
            m.add_string("Connection refused")
            m.add_string("")
            m.rewind()
            self._handler_table[MSG_CHANNEL_OPEN_FAILURE](m)  # as the transport thread would
            raise self.saved_exception

    transport = Transport()
    keep_open_failure_text(transport)
    opener = lambda *a, **k: open_channel(transport, *a, **k)  # noqa: E731
    with pytest.raises(ForwardConnectFailed, match="for the tunnel: Connection refused$") as caught:
        open_forward(opener, "login", "127.0.0.1", 8080, ("127.0.0.1", 0))
    assert caught.value.reason == "connection refused"
