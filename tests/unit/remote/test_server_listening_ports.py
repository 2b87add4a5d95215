"""server_listening_ports.sh (through tunnelcause): the TCP addresses a process group listens on, and only those."""

from __future__ import annotations

import subprocess
import sys

from sockdeploy.run.tunnelcause import listening_addresses
from tests.unit.remote.helpers import wait_until

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
        assert wait_until(lambda: listening_addresses(host, proc.pid, listening) == ["127.0.0.1"])
        assert listening_addresses(host, proc.pid, bound) == [] and listening_addresses(host, proc.pid, udp) == []
    finally:
        proc.kill()
        proc.wait()


def test_a_group_that_is_gone_listens_on_nothing(host, tmp_path):
    assert listening_addresses(host, 2 ** 22 + 1, 22) == []
