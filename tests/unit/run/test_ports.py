import random

import pytest

from sockdeploy.errors import NetworkPathError
from sockdeploy.run.ports import choose_port, parse_busy_ports, parse_held_ports

PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:7530 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:9C40 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
"""
NETSTAT = "tcp        0      0 0.0.0.0:31522           0.0.0.0:*               LISTEN\ntcp6 0 0 :::22 :::* LISTEN\n"


def test_busy_ports_from_proc_and_netstat():
    assert parse_busy_ports(PROC_NET_TCP) == {30000, 40000}
    assert parse_busy_ports(NETSTAT) == {31522, 22}


def test_held_ports_leave_out_lingering_connections():
    assert parse_held_ports(PROC_NET_TCP) == {30000}  # 40000 is only an established connection
    assert parse_held_ports(NETSTAT) == {31522, 22}
    time_wait = "   2: 00000000:7531 0100007F:D431 06 00000000:00000000 00:00000000 00000000 0 0 3\n"
    assert parse_held_ports(time_wait) == set() and parse_busy_ports(time_wait) == {30001}


def test_when_every_port_is_busy_a_lingering_one_is_taken():
    rng = random.Random(1)
    busy = set(range(30000, 30010))
    assert choose_port(busy, (30000, 30009), set(), rng, held=busy - {30007}) == 30007
    with pytest.raises(NetworkPathError):
        choose_port(busy, (30000, 30009), set(), rng, held=busy)


def test_choose_port_avoids_busy_and_tried():
    rng = random.Random(1)
    busy = set(range(30000, 30010)) - {30004}
    assert choose_port(busy, (30000, 30009), set(), rng) == 30004
    with pytest.raises(NetworkPathError) as info:
        choose_port(busy, (30000, 30009), {30004}, rng)
    assert "--port" in info.value.hint
