"""The LD_PRELOAD redirect, built with the machine's gcc and run under real programs.

Hard-coded addresses here are in 127.0.0.0/8 (any 127.x is loopback), except
in the test marked campus, which runs inside a network namespace of its own
with nothing but loopback, so a redirect that failed could not leave it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List

import pytest

from tests.unit.remote.helpers import build_redirect

CLIENT = r'''
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void) {
    struct sockaddr_in a;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(30303);
    a.sin_addr.s_addr = inet_addr("127.77.0.9");
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return 1; }
    if (write(s, "55\n", 3) != 3) return 2;
    close(s);
    return 0;
}
'''


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_redirect(tmp_path_factory.mktemp("redirect"))


class Listener:
    """A TCP listener on 127.0.0.1 that keeps the first message of the first connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(15)
        self.port: int = self.sock.getsockname()[1]
        self.got: List[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            self.got.append(conn.recv(100))

    def received(self) -> List[bytes]:
        """Wait for the connection's message (or the timeout), then close."""
        self.thread.join(20)
        self.sock.close()
        return self.got


def run_python(library: Path, code: str, env: Dict[str, str]) -> subprocess.CompletedProcess:
    full = dict(os.environ, LD_PRELOAD=str(library), **env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=20)


def test_connect_to_a_hard_coded_address_goes_where_the_rule_says(library: Path, tmp_path: Path) -> None:
    srv = Listener()
    port = srv.port
    log = tmp_path / "redirects"
    code = "import socket\ns = socket.create_connection(('127.77.0.9', 30303), timeout=5)\ns.sendall(b'98')\ns.close()"
    res = run_python(library, code, {"SOCKDEPLOY_CONNECT": f"127.77.0.9:30303>127.0.0.1:{port}", "SOCKDEPLOY_LOG": str(log)})
    assert res.returncode == 0, res.stderr
    assert srv.received() == [b"98"]
    assert log.read_text() == f"connect tcp 127.77.0.9:30303 127.0.0.1:{port}\n"


def test_a_c_client_is_carried_too(library: Path, tmp_path: Path) -> None:
    (tmp_path / "client.c").write_text(CLIENT)
    subprocess.run(["gcc", "-o", str(tmp_path / "client"), str(tmp_path / "client.c")], check=True)
    srv = Listener()
    port = srv.port
    env = dict(os.environ, LD_PRELOAD=str(library), SOCKDEPLOY_CONNECT=f"*:30303>127.0.0.1:{port}")
    res = subprocess.run([str(tmp_path / "client")], env=env, capture_output=True, text=True, timeout=20)
    assert res.returncode == 0, res.stderr
    assert srv.received() == [b"55\n"]


def test_other_destinations_are_left_alone(library: Path, tmp_path: Path) -> None:
    srv = Listener()
    port = srv.port
    log = tmp_path / "redirects"
    code = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=5)\ns.sendall(b'x')\ns.close()"
    res = run_python(library, code, {"SOCKDEPLOY_CONNECT": "127.77.0.9:30303>127.0.0.1:1", "SOCKDEPLOY_LOG": str(log)})
    assert res.returncode == 0, res.stderr
    assert srv.received() == [b"x"]
    assert not log.exists() or log.read_text() == ""


def test_udp_sendto_is_redirected(library: Path, tmp_path: Path) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(10)
    port = udp.getsockname()[1]
    log = tmp_path / "redirects"
    code = "import socket\nu = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nu.sendto(b'dg', ('127.77.0.9', 12000))"
    res = run_python(library, code, {"SOCKDEPLOY_CONNECT": f"*:12000>127.0.0.1:{port}", "SOCKDEPLOY_LOG": str(log)})
    data, _ = udp.recvfrom(100)
    udp.close()
    assert res.returncode == 0, res.stderr
    assert data == b"dg"
    assert log.read_text() == f"sendto udp 127.77.0.9:12000 127.0.0.1:{port}\n"


def test_ipv6_loopback_is_carried_as_ipv4_mapped(library: Path) -> None:
    srv = Listener()
    port = srv.port
    code = ("import socket\ns = socket.socket(socket.AF_INET6)\ns.settimeout(5)\n"
            "s.connect(('::1', 30303))\ns.sendall(b'v6')\ns.close()")
    res = run_python(library, code, {"SOCKDEPLOY_CONNECT": f"*:30303>127.0.0.1:{port}"})
    assert res.returncode == 0, res.stderr
    assert srv.received() == [b"v6"]


def test_bind_moves_a_hard_coded_port(library: Path, tmp_path: Path) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    free = probe.getsockname()[1]
    probe.close()
    log = tmp_path / "redirects"
    code = ("import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 30303))\ns.listen()\n"
            "print(s.getsockname()[1])")
    res = run_python(library, code, {"SOCKDEPLOY_BIND": f"30303>{free}", "SOCKDEPLOY_LOG": str(log)})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(free)
    assert log.read_text() == f"bind tcp 0.0.0.0:30303 0.0.0.0:{free}\n"


def test_malformed_rules_change_nothing(library: Path) -> None:
    srv = Listener()
    port = srv.port
    code = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=5)\ns.sendall(b'ok')\ns.close()"
    res = run_python(library, code, {"SOCKDEPLOY_CONNECT": "garbage,*:>:,1.2.3.4:99999>x", "SOCKDEPLOY_BIND": "a>b"})
    assert res.returncode == 0, res.stderr
    assert srv.received() == [b"ok"]


@pytest.mark.campus
def test_a_real_hosts_address_never_leaves_an_isolated_namespace(library: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.fail("needs root and unshare (util-linux): the campus tests run as root in CI")
    script = tmp_path / "inside.py"
    script.write_text(
        "import os, socket, subprocess, sys\n"
        "srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(); port = srv.getsockname()[1]\n"
        f"env = dict(os.environ, LD_PRELOAD={str(library)!r}, SOCKDEPLOY_CONNECT='128.252.167.161:30303>127.0.0.1:%d' % port)\n"
        "code = \"import socket\\ns = socket.create_connection(('128.252.167.161', 30303), timeout=5)\\ns.sendall(b'far')\"\n"
        "res = subprocess.run([sys.executable, '-c', code], env=env)\n"
        "conn, _ = srv.accept(); print(res.returncode, conn.recv(10).decode())\n")
    res = subprocess.run(["unshare", "-n", "sh", "-c", f"ip link set lo up && {sys.executable} {script}"],
                         capture_output=True, text=True, timeout=30)
    assert res.stdout.split() == ["0", "far"], res.stderr
