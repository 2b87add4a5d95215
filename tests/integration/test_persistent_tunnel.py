"""`sockdeploy tunnel open|status|close|print`: a background tunnel like `ssh -f -N -L`."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest

from sockdeploy.lab.loopback import free_loopback_port
from tests.conftest import process_tree

pytestmark = pytest.mark.integration


class _Upper:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                data = c.recv(1000)
                c.sendall(data.upper())


def _ask(port: int, text: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(text)
        return c.recv(1000)


def _kill_lab_sessions(lab) -> int:
    """Kill every process under the lab's sshd listener: a drop from the server side."""
    tree = process_tree(lab.proc.pid)
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(tree)


def test_open_carry_status_survive_drop_close(cli, clean_lab, fake_home):
    env = {"XDG_STATE_HOME": str(fake_home / "state")}
    upper = _Upper()
    local = free_loopback_port()
    hosts = str(clean_lab.hosts_file)
    before = clean_lab.login_count()
    res = cli("tunnel", "open", "--port", str(upper.port), "--local-port", str(local), "--hosts", hosts, env=env)
    assert res.code == 0, res.stderr
    assert f"127.0.0.1:{local}" in res.stdout
    assert clean_lab.login_count() - before == 1
    try:
        assert _ask(local, b"hello") == b"HELLO"
        again = cli("tunnel", "open", "--port", str(upper.port), "--local-port", str(local), "--hosts", hosts, env=env)
        assert again.code == 2 and "already open" in again.stderr
        status = cli("tunnel", "status", "--json", env=env).json()
        assert len(status) == 1 and status[0]["local_port"] == local
        assert status[0]["running"] and status[0]["listening"] and status[0]["ssh_alive"]

        assert _kill_lab_sessions(clean_lab) >= 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            st = cli("tunnel", "status", "--json", env=env).json()[0]
            if st["reconnects"] >= 1 and st["ssh_alive"]:
                break
            time.sleep(0.5)
        assert st["reconnects"] >= 1, st
        assert _ask(local, b"after the drop") == b"AFTER THE DROP"
        assert clean_lab.login_count() - before == 2
    finally:
        closed = cli("tunnel", "close", "--port", str(local), env=env)
    assert closed.code == 0, closed.stderr
    assert cli("tunnel", "status", env=env).stdout.strip() == "no tunnels open"
    with pytest.raises(OSError):
        _ask(local, b"x")
    assert cli("tunnel", "close", "--port", str(local), env=env).code == 2


def test_print_gives_openssh_equivalents(cli, clean_lab):
    res = cli("tunnel", "print", "--port", "31522", "--hosts", str(clean_lab.hosts_file))
    assert res.code == 0, res.stderr
    assert f"ssh -f -N -p {clean_lab.port} -L 127.0.0.1:31522:127.0.0.1:31522 {clean_lab.user}@localhost" in res.stdout
    assert "LocalForward 127.0.0.1:31522 127.0.0.1:31522" in res.stdout
    assert "HostName localhost" in res.stdout and "{" not in res.stdout.replace("%i", "")
