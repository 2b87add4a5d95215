"""Port forwarding over the connection: direct-tcpip channels (ssh -L), remote listeners (ssh -R),
and the direct delivery of forwarded data into local sockets.

Direct delivery: paramiko's transport thread puts each channel's data into a
buffer that another thread reads, a thread hand-off per message that costs
about as much as the loopback round trip itself. For a tunnel's connections,
the transport thread instead writes the data into the local socket itself when
the socket takes it at once; what it does not take waits for the connection's
own thread, and so does the channel window's acknowledgement, so a slow local
reader still throttles the sender.
"""

from __future__ import annotations

import socket
import threading
from typing import Any, Callable, Optional, Tuple

from sockdeploy.errors import ConnectError, ForwardConnectFailed, ForwardingForbidden

FORWARD_WINDOW = 4 * 1024 * 1024  # a large window keeps bulk transfers from stalling on paramiko's small default
FORWARD_PACKET = 32768
SSH_OPEN_ADMINISTRATIVELY_PROHIBITED = 1

# Opens a channel on the connection: (kind, *args, **kwargs) -> channel.
ChannelOpener = Callable[..., Any]
# Gets each connection to a remote listener, on paramiko's thread: (channel, origin).
Handler = Callable[[Any, Tuple[str, int]], None]


def open_forward(open_channel: ChannelOpener, host_label: str, host: str, port: int, origin: Tuple[str, int]) -> Any:
    """Open a direct-tcpip channel: the server host connects to host:port for us (ssh -L)."""
    import paramiko

    try:
        return open_channel("direct-tcpip", (host, port), origin, window_size=FORWARD_WINDOW, max_packet_size=FORWARD_PACKET)
    except paramiko.ChannelException as exc:
        if exc.code == SSH_OPEN_ADMINISTRATIVELY_PROHIBITED:
            raise ForwardingForbidden(
                f"the SSH server on {host_label} forbids port forwarding (sshd AllowTcpForwarding no), so no tunnel is possible",
                "use the VPN (--via vpn) or run from campus (--via direct)") from None
        # sshd's own words ("Connection refused") when install() kept them, else paramiko's ("Connect failed")
        why = getattr(exc, "sd_text", "") or exc.text
        failed = ForwardConnectFailed(f"{host_label} could not connect to {host}:{port} for the tunnel: {why}",
                                      "check that the server listens on all addresses (INADDR_ANY), "
                                      "not only its public one")
        failed.reason = why.lower()
        raise failed from None
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise ConnectError(f"the SSH connection to {host_label} failed while opening a tunnel channel: {exc}",
                           "check your network and run again") from None


def check_forwarding(open_channel: ChannelOpener, host_label: str) -> None:
    """Raise ForwardingForbidden if sshd refuses local forwards; any other answer means allowed."""
    try:
        # port 1 is never served: sshd answers before any data flows
        chan = open_forward(open_channel, host_label, "127.0.0.1", 1, ("127.0.0.1", 0))
    except ForwardConnectFailed:
        return
    chan.close()


def listen_remote(transport: Any, host_label: str, port: int, handler: Handler) -> int:
    """Have the host listen on its loopback `port` (0: any) for us, like `ssh -R`; return the port.

    `handler(channel, origin)` gets each connection, on paramiko's thread:
    it must hand the work to a thread of its own.
    """
    import paramiko

    def accepted(chan: Any, origin: Tuple[str, int], _server: Any) -> None:
        handler(chan, (str(origin[0]), int(origin[1])))

    try:
        # 127.0.0.1 exactly: with "localhost" sshd reports success when only one of
        # 127.0.0.1 and ::1 could be bound, and the client might reach something else
        return int(transport.request_port_forward("127.0.0.1", port, handler=accepted))
    except paramiko.SSHException as exc:
        raise ForwardingForbidden(f"{host_label} refused to listen on 127.0.0.1:{port} for the tunnel: {exc}",
                                  "the port may be busy there, or its sshd forbids forwarding (AllowTcpForwarding)") from None


# -- the connection's handlers: sshd's reasons kept, forwarded data delivered directly ----------

def install(transport: Any) -> None:
    """Take over the parts of paramiko's message handling that forwarding needs, on this transport only."""
    install_direct_delivery(transport)
    keep_open_failure_text(transport)


def keep_open_failure_text(transport: Any) -> None:
    """Keep sshd's reason for a refused channel ("Connection refused") for open_channel() to add to the error.

    paramiko's ChannelException carries only the reason code's name ("Connect failed").
    """
    from paramiko.common import MSG_CHANNEL_OPEN_FAILURE

    table = getattr(transport, "_handler_table", None)
    if not isinstance(table, dict) or MSG_CHANNEL_OPEN_FAILURE not in table:
        return
    original = table[MSG_CHANNEL_OPEN_FAILURE]

    def parse(m: Any) -> None:
        try:
            start = m.packet.tell()
            m.get_int()  # channel id
            m.get_int()  # reason code
            # kept before paramiko wakes the opener, which reads it (opens are one at a time per connection)
            transport._sd_open_failure = m.get_text()
            m.packet.seek(start)
        except Exception:  # not the message layout expected: paramiko's own words stay
            transport._sd_open_failure = ""
        original(m)

    table[MSG_CHANNEL_OPEN_FAILURE] = parse


def open_channel(transport: Any, kind: str, *args: Any, **kwargs: Any) -> Any:
    """transport.open_channel(), with sshd's reason for a refusal on the ChannelException (as `sd_text`).

    The caller opens one channel at a time on `transport` (see keep_open_failure_text).
    """
    import paramiko

    try:
        return transport.open_channel(kind, *args, **kwargs)
    except paramiko.ChannelException as exc:
        exc.sd_text = getattr(transport, "_sd_open_failure", "")  # type: ignore[attr-defined]  # read by open_forward
        raise



def install_direct_delivery(transport: Any) -> None:
    """Route the data of channels with a sink to it, on this transport only."""
    from paramiko.common import MSG_CHANNEL_CLOSE, MSG_CHANNEL_DATA, MSG_CHANNEL_EOF

    base = getattr(type(transport), "_channel_handler_table", None)
    if not isinstance(base, dict) or not {MSG_CHANNEL_DATA, MSG_CHANNEL_EOF, MSG_CHANNEL_CLOSE} <= set(base):
        return  # a paramiko without this table: tunnels keep the buffered path
    table = dict(base)
    on_data, on_eof, on_close = base[MSG_CHANNEL_DATA], base[MSG_CHANNEL_EOF], base[MSG_CHANNEL_CLOSE]

    def data(chan: Any, m: Any) -> None:
        sink = getattr(chan, "_sd_sink", None)
        if sink is None:
            on_data(chan, m)
            sink = getattr(chan, "_sd_sink", None)
            if sink is not None:  # attached meanwhile: it must deliver that buffer before anything newer
                sink.reclaim()
            return
        sink.feed(m.get_binary())

    def wake_after(handler: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        def handle(chan: Any, m: Any) -> None:
            handler(chan, m)
            sink = getattr(chan, "_sd_sink", None)
            if sink is not None:
                sink.wake()
        return handle

    table[MSG_CHANNEL_DATA] = data
    table[MSG_CHANNEL_EOF] = wake_after(on_eof)
    table[MSG_CHANNEL_CLOSE] = wake_after(on_close)
    transport._channel_handler_table = table  # an instance attribute: other transports are untouched
    transport._sd_direct = True


class DirectSink:
    """A forwarded channel's data, delivered into a local socket (see install_direct_delivery)."""

    def __init__(self, chan: Any, sock: socket.socket) -> None:
        self.chan, self.sock = chan, sock
        self._cv = threading.Condition()
        self._backlog = bytearray()
        self._busy = True  # the connection's thread delivers until it has emptied the channel's own buffer
        self._acks = 0  # window to grant, left by the transport thread during a key exchange
        self._failed = False
        self.backlogged = 0  # bytes the socket did not take at once (they waited for run())
        self.tap: Any = None  # notes delivered bytes and the end of file, in delivery order (the wire record)

    def feed(self, data: bytes) -> None:
        """On the transport thread: send now if the socket takes it, else leave it for run()."""
        sent = 0
        with self._cv:
            if self._busy or self._backlog or self._failed:
                self._backlog += data
                self.backlogged += len(data)
                self._cv.notify()
                return
            try:
                sent = self.sock.send(data, socket.MSG_DONTWAIT)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._failed = True
                self._cv.notify()
                return
            if sent and self.tap is not None:
                self.tap.received(data[:sent])
            if sent < len(data):
                self._backlog += data[sent:]
                self.backlogged += len(data) - sent
                self._cv.notify()
        if sent:
            self._grant(sent, on_transport_thread=True)

    def wake(self) -> None:
        with self._cv:
            self._cv.notify()

    def _grant(self, n: int, on_transport_thread: bool = False) -> None:
        """Acknowledge `n` delivered bytes: widen the sender's window when paramiko says it is time."""
        ack = self.chan._check_add_window(n)
        if ack <= 0:
            return
        if on_transport_thread and not self.chan.transport.clear_to_send.is_set():
            with self._cv:  # mid key exchange: the connection's thread may wait for it, this one may not
                self._acks += ack
                self._cv.notify()
            return
        self._send_ack(ack)

    def run(self, stop: threading.Event, chunk: int) -> None:
        """On the connection's thread: deliver what feed() could not, then pass end of file on."""
        self.chan._sd_sink = self
        try:
            while not stop.is_set():
                with self._cv:
                    # data the channel buffered itself (before the sink was attached) goes first
                    buffered = self.chan.recv_ready()
                    if not (buffered or self._backlog or self._acks or self._failed):
                        self._busy = False
                        if self.chan.eof_received or self.chan.closed:
                            self.sock.shutdown(socket.SHUT_WR)  # the peer sees end-of-file, as the studio's server expects
                            if self.tap is not None:
                                self.tap.closed("server")
                            return
                        self._cv.wait(0.5)
                        continue
                    self._busy = True
                    data, acks, failed = b"", self._acks, self._failed
                    self._acks = 0
                    if not buffered:
                        data = bytes(self._backlog)
                        self._backlog.clear()
                self._deliver(data, acks, failed, buffered, chunk)
        finally:
            self.chan._sd_sink = None

    def _deliver(self, data: bytes, acks: int, failed: bool, buffered: bool, chunk: int) -> None:
        """Outside the lock: pass on a window grant and one batch of data."""
        if failed:
            raise OSError("the local socket failed")
        if acks:
            self._send_ack(acks)
        if buffered:
            data = self.chan.recv(chunk)
            self.sock.sendall(data)  # recv acknowledges the window itself
        elif data:
            self.sock.sendall(data)
            self._grant(len(data))
        if data and self.tap is not None:
            self.tap.received(data)

    def reclaim(self) -> None:
        """On the transport thread: data went to the channel's own buffer just as the sink was attached."""
        with self._cv:
            self._busy = True  # so later data queues behind it instead of overtaking it
            self._cv.notify()

    def _send_ack(self, ack: int) -> None:
        from paramiko.common import cMSG_CHANNEL_WINDOW_ADJUST
        from paramiko.message import Message

        m = Message()
        m.add_byte(cMSG_CHANNEL_WINDOW_ADJUST)
        m.add_int(self.chan.remote_chanid)
        m.add_int(ack)
        self.chan.transport._send_user_message(m)


def direct_sink(chan: Any, sock: object) -> Optional[DirectSink]:
    """Return a DirectSink for a forwarded channel and a local socket, or None where it does not apply."""
    transport = getattr(chan, "transport", None)
    if not isinstance(sock, socket.socket) or not getattr(transport, "_sd_direct", False):
        return None
    return DirectSink(chan, sock)
