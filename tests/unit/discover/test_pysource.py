"""Reading Python sources with ast."""

from __future__ import annotations

from pathlib import Path

from sockdeploy.discover.facts import ProgramFacts
from sockdeploy.discover.pysource import read_python

LAN_CLIENT = '''
from socket import *
serverName = '192.168.0.123'
serverPort = 12000
clientSocket = socket(AF_INET, SOCK_STREAM)
clientSocket.connect((serverName, serverPort))
sentence = input('Input lowercase sentence:')
'''

UDP_SERVER = '''
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", 12000))
while True:
    data, addr = s.recvfrom(2048)
    s.sendto(data.upper(), addr)
'''

ARGV_CLIENT = '''
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
with socket.create_connection((host, port)) as s:
    if len(sys.argv) > 3 and sys.argv[3] == "quit":
        s.sendall(b"418\\n")
'''


def read(tmp_path: Path, text: str) -> ProgramFacts:
    path = tmp_path / "prog.py"
    path.write_text(text)
    return read_python(path, Path("prog.py"))


def test_hard_coded_lan_address_and_port_and_input(tmp_path: Path) -> None:
    facts = read(tmp_path, LAN_CLIENT)
    assert facts.role == "client" and facts.protocol == "tcp"
    assert facts.address_literals == ["192.168.0.123"] and facts.port_literals == [12000]
    assert facts.reads_stdin and facts.args == {}


def test_udp_server(tmp_path: Path) -> None:
    facts = read(tmp_path, UDP_SERVER)
    assert facts.role == "server" and facts.protocol == "udp" and facts.port_literals == [12000]


def test_argv_through_tuple_assignment_and_quit(tmp_path: Path) -> None:
    facts = read(tmp_path, ARGV_CLIENT)
    assert facts.role == "client"
    assert facts.arg_meanings() == {1: "address", 2: "port"}
    assert (facts.quit_index, facts.quit_word) == (3, "quit")


def test_python_2_source_gives_no_facts_instead_of_failing(tmp_path: Path) -> None:
    facts = read(tmp_path, 'print "hello"\n')
    assert facts.role is None
