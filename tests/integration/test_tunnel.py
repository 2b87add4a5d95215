"""The tunnel path: a local forward carried by the run's one SSH connection."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from sockdeploy.errors import ForwardingForbidden, NetworkPathError
from sockdeploy.lab.loopback import LoopbackLab
from sockdeploy.net.forward import LocalForward
from sockdeploy.run.netpath import probe
from sockdeploy.spec.hosts import parse_config
from sockdeploy.ssh.session import SshSession

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("exercise, host_arg", [("ex5", "127.0.0.1"), ("ex6", "localhost")])
def test_exercise_through_the_tunnel_with_one_login(cli, clean_lab, exercise, host_arg):
    before = clean_lab.login_count()
    res = cli("run", exercise, "--via", "tunnel", "--hosts", str(clean_lab.hosts_file), "--out", "runs", "--json")
    assert res.code == 0, res.stderr
    assert clean_lab.login_count() - before == 1
    record = res.json()
    assert record["via"] == "tunnel" and "local forward" in record["via_reason"]
    tunnel = record["tunnel"]
    assert tunnel["connections"] == 2
    assert tunnel["remote"].startswith(f"127.0.0.1:{record['server']['port']} ")
    local_port = int(tunnel["listen"][0].rsplit(":", 1)[1])
    assert tunnel["listen"][0] == f"127.0.0.1:{local_port}"
    assert record["clients"][0]["command"] == f"./client {host_arg} {local_port}"
    server = (Path(record["run_dir"]) / "server.log").read_text()
    # through the tunnel the server sees connections from its own loopback
    assert server.count("connection 2 closed") == 0 and "quit code 418 received" in server
    if exercise == "ex6":
        assert "connection 1 accepted from 127.0.0.1:" in server
    transcript = (Path(record["run_dir"]) / "transcript.md").read_text()
    assert "| network path | tunnel:" in transcript
    # the listener is gone after the run
    assert probe("127.0.0.1", local_port, timeout=1).outcome == "refused"


def test_auto_takes_direct_when_the_port_answers(cli, clean_lab):
    res = cli("run", "ex5", "--via", "auto", "--hosts", str(clean_lab.hosts_file), "--out", "runs", "--json")
    assert res.code == 0, res.stderr
    record = res.json()
    assert record["via"] == "direct"
    assert record["via_reason"].startswith("auto: 127.0.0.1:") and record["via_reason"].endswith("-> direct")
    assert record["probe"]["outcome"] == "refused"


def test_vpn_check_fails_clearly_without_openconnect(cli, clean_lab):
    res = cli("run", "ex5", "--via", "vpn", "--hosts", str(clean_lab.hosts_file), "--out", "runs")
    assert res.code == 5, res.stderr
    assert "openconnect running: no" in res.stderr
    assert "sudo openconnect danforthvpn.wustl.edu" in res.stderr and "--via tunnel" in res.stderr


@pytest.fixture
def session(clean_lab):
    cfg = parse_config(clean_lab.hosts_file)
    with SshSession(cfg.server) as s:
        yield s


class _LoopbackServer:
    """Accepts on 127.0.0.1 and serves each connection with _one() on a thread of its own."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        raise NotImplementedError


class _EchoAfterEof(_LoopbackServer):
    """Reads until EOF, then replies with what it got, uppercased."""

    seen = 0

    def _one(self, conn: socket.socket) -> None:
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        self.seen += 1
        conn.sendall(data.upper())
        conn.close()


def _exchange(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as c:
        c.sendall(payload)
        c.shutdown(socket.SHUT_WR)  # the server only answers after end-of-file
        out = b""
        while chunk := c.recv(65536):
            out += chunk
    return out


def test_forward_carries_concurrent_connections_and_half_close(session):
    echo = _EchoAfterEof()
    with LocalForward(lambda o: session.open_forward("127.0.0.1", echo.port, o), ("127.0.0.1", echo.port), 0) as fwd:
        assert [a.split(":")[0] for a in fwd.addresses][0] == "127.0.0.1"
        results = {}

        def client(i: int) -> None:
            payload = (f"client {i} ".encode() * 20000)[: 100000 + i]
            results[i] = _exchange(fwd.port, payload) == payload.upper()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert results == {i: True for i in range(12)}
        # and one after another
        for i in range(5):
            assert _exchange(fwd.port, b"seq %d" % i) == b"SEQ %d" % i
        assert fwd.connections == 17 and echo.seen == 17
        if any("::1" in a for a in fwd.addresses):
            with socket.create_connection(("::1", fwd.port), timeout=10) as c:
                c.sendall(b"six")
                c.shutdown(socket.SHUT_WR)
                assert c.recv(10) == b"SIX"
    assert probe("127.0.0.1", fwd.port, timeout=1).outcome == "refused"


def test_pinned_local_port_in_use_is_a_clear_error(session):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    fwd = LocalForward(lambda o: session.open_forward("127.0.0.1", 1, o), ("127.0.0.1", 1), port, exact=True)
    with pytest.raises(NetworkPathError) as info:
        fwd.start()
    assert f"127.0.0.1:{port}" in info.value.message and "another program" in info.value.hint
    busy.close()


def test_forwarding_forbidden_is_reported(cli, tmp_path):
    with LoopbackLab(tmp_path / "noforward", forwarding=False) as lab:
        res = cli("run", "ex5", "--via", "tunnel", "--hosts", str(lab.hosts_file), "--out", "runs")
        assert res.code == 5, res.stderr
        assert "forbids port forwarding (sshd AllowTcpForwarding no)" in res.stderr
        assert "--via vpn" in res.stderr
        assert lab.leftover_dirs() == [] and lab.leftover_processes() == []
        cfg = parse_config(lab.hosts_file)
        with SshSession(cfg.server) as s:
            with pytest.raises(ForwardingForbidden):
                s.check_forwarding()


class _Source(_LoopbackServer):
    """Sends `size` pseudo-random bytes on each connection, then closes."""

    def __init__(self, size: int) -> None:
        import random

        self.data = random.Random(7).randbytes(size)
        super().__init__()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.sendall(self.data)


def test_the_transport_delivers_into_the_socket_and_a_slow_reader_still_gets_every_byte(session):
    """Forwarded data goes straight from the SSH transport into the local socket; when the local
    reader stalls, the rest waits (throttling the sender by the channel window) and arrives intact."""
    import hashlib
    import time

    from sockdeploy.ssh import forwarding as forwarding_mod

    assert getattr(session.transport, "_sd_direct", False), "direct delivery is not installed on this connection"
    used = []
    real = forwarding_mod.DirectSink.run

    def spy(self, *a):  # type: ignore[no-untyped-def]
        used.append(self)
        return real(self, *a)

    forwarding_mod.DirectSink.run = spy
    try:
        source = _Source(24 * 1024 * 1024)  # six times the channel window
        with LocalForward(lambda o: session.open_forward("127.0.0.1", source.port, o), ("127.0.0.1", source.port), 0) as fwd:
            with socket.create_connection(("127.0.0.1", fwd.port), timeout=30) as c:
                time.sleep(1.5)  # a stalled reader: the socket buffers fill, the rest must wait
                digest, total = hashlib.sha256(), 0
                while chunk := c.recv(1 << 20):
                    digest.update(chunk)
                    total += len(chunk)
        assert total == len(source.data) and digest.digest() == hashlib.sha256(source.data).digest()
        assert len(used) == 1
        assert used[0].backlogged > 0  # the waiting path was taken, not only the direct one
    finally:
        forwarding_mod.DirectSink.run = real


def test_a_connection_the_tunnel_could_not_carry_fails_the_run_even_if_the_client_did_not_notice(cli, tmp_path, clean_lab):
    """The server stops listening after its first client; the second client only writes, so it cannot tell."""
    d = tmp_path / "oneshot"
    d.mkdir()
    (d / "server.py").write_text(
        "import socket, sys, time\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen()\nc, _ = s.accept(); print('got', c.recv(100).decode(), flush=True)\n"
        "c.close(); s.close(); time.sleep(3)\n")
    (d / "client.py").write_text(
        "import socket, sys, time\nc = socket.create_connection((sys.argv[1], int(sys.argv[2])))\n"
        "c.sendall(sys.argv[3].encode()); time.sleep(0.5); print('wrote', sys.argv[3])\n")
    (d / "payload.yaml").write_text(
        "description: a server for one client\nserver:\n  run: python3 server.py {port}\n"
        "client:\n  runs:\n    - python3 client.py {ip} {port} first\n    - python3 client.py {ip} {port} second\n"
        "  timeout: 20\n")
    res = cli("run", str(d), "--via", "tunnel", "--hosts", str(clean_lab.hosts_file), "--out", "runs", "--json")
    assert res.code == 5, res.stderr
    record = res.json()
    message = record["error"]["message"]
    assert message.startswith("the tunnel could not reach 127.0.0.1:") and "nothing listened on that port any more" in message
    assert record["clients"][1]["exit_code"] == 0  # the client itself saw nothing wrong
    assert len(record["tunnel"]["errors"]) == 1
