"""server_listening_ports.sh: the TCP ports a process group listens on, and only those."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sockdeploy.run.server import listening_ports_of_group
from tests.unit.remote.helpers import private_workspace, wait_until

SOCKETS = """
import socket, sys, time
listening = socket.socket(); listening.bind(("127.0.0.1", 0)); listening.listen(1)
bound = socket.socket(); bound.bind(("127.0.0.1", 0))
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 0))
print(listening.getsockname()[1], bound.getsockname()[1], udp.getsockname()[1], flush=True)
time.sleep(60)
"""


def test_lists_exactly_the_listening_ports(host, tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", SOCKETS], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        listening, bound, udp = (int(p) for p in proc.stdout.readline().split())
        ws = private_workspace(host, tmp_path)
        assert wait_until(lambda: listening_ports_of_group(ws, proc.pid) == [listening])
        assert bound not in listening_ports_of_group(ws, proc.pid) and udp not in listening_ports_of_group(ws, proc.pid)
    finally:
        proc.kill()
        proc.wait()


def test_a_group_that_is_gone_listens_on_nothing(host, tmp_path):
    ws = private_workspace(host, Path(tmp_path))
    assert listening_ports_of_group(ws, 2 ** 22 + 1) == []
