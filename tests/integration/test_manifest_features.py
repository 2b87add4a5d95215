"""Manifest features for the payload catalog: stdin, duration, concurrency, UDP (relay and direct),
expectations, and --local for any payload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

TCP_SERVER = """\
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8)
for _ in range(int(sys.argv[2])):
    c, a = s.accept()
    line = c.makefile().readline().strip()
    print(f"Here is the message: {line}", flush=True)
    c.sendall(b"I got your message\\n"); c.close()
"""
TCP_CLIENT = """\
import socket, sys
line = input("Please enter the message: ")
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
c.sendall(line.encode() + b"\\n"); print(c.makefile().readline().strip())
"""
BARRIER_SERVER = """\
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8)
conns = [s.accept()[0] for _ in range(3)]
print("all 3 clients connected at once", flush=True)
for i, c in enumerate(conns, 1):
    c.sendall(b"you are %d of 3\\n" % i); c.close()
"""
BARRIER_CLIENT = """\
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
print(c.makefile().readline().strip())
"""
TICKER = """\
import socket, sys, time
n = 0
try:
    while True:
        n += 1; print(f"tick {n}", flush=True); time.sleep(0.2)
except KeyboardInterrupt:
    print(f"stopped after {n} ticks", flush=True)
"""
UDP_SERVER = """\
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", int(sys.argv[1])))
for _ in range(int(sys.argv[2])):
    d, a = s.recvfrom(65535); print(f"received {d.decode()!r} from {a[0]}:{a[1]}", flush=True); s.sendto(d.upper(), a)
"""
UDP_CLIENT = """\
import socket, sys
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(5)
for w in sys.argv[3:]:
    c.sendto(w.encode(), (sys.argv[1], int(sys.argv[2]))); print("reply", c.recvfrom(65535)[0].decode())
"""


def _payload(tmp_path: Path, name: str, files: dict, manifest: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    for fname, text in files.items():
        (d / fname).write_text(text)
    (d / "payload.yaml").write_text(manifest)
    return d


def _run(cli, lab, d: Path, *extra: str):
    res = cli("run", str(d), "--hosts", str(lab.hosts_file), "--out", "runs", "--json", *extra)
    record = json.loads(res.stdout) if res.stdout.strip() else None
    return res, record


def test_stdin_and_expectations(cli, clean_lab, tmp_path):
    d = _payload(tmp_path, "msg", {"server.py": TCP_SERVER, "client.py": TCP_CLIENT}, """\
language: python
server:
  run: python3 server.py {port} 2
client:
  runs:
    - command: python3 client.py {ip} {port}
      stdin: "hello there\\n"
    - command: python3 client.py {ip} {port}
      stdin: "second line\\n"
      timeout: 10
expect:
  server_exits: true
  server: ["Here is the message: hello there", "Here is the message: second line"]
  client: ["I got your message"]
  runs: {2: ["I got your message$"]}
  count: {"I got your message": 2}
""")
    res, record = _run(cli, clean_lab, d)
    assert res.code == 0, res.stderr
    assert [c["ok"] for c in record["expectations"]] == [True] * 5
    run_dir = Path(record["run_dir"])
    assert "[typed] hello there" in (run_dir / "client-1.log").read_text()
    transcript = (run_dir / "transcript.md").read_text()
    assert "## Checks" in transcript and "| server log shows /Here is the message: hello there/ | ok |" in transcript


def test_failed_expectation_exits_6_and_says_which(cli, clean_lab, tmp_path):
    d = _payload(tmp_path, "wrong", {"server.py": TCP_SERVER, "client.py": TCP_CLIENT}, """\
language: python
server:
  run: python3 server.py {port} 1
client:
  runs:
    - command: python3 client.py {ip} {port}
      stdin: "hello\\n"
expect:
  server_exits: true
  server: ["Here is the message: goodbye"]
  count: {"I got your message": 1}
""")
    res, record = _run(cli, clean_lab, d)
    assert res.code == 6, res.stderr
    assert "1 of 2 expectations failed; first: server log shows /Here is the message: goodbye/" in res.stderr
    transcript = (Path(record["run_dir"]) / "transcript.md").read_text()
    assert "| server log shows /Here is the message: goodbye/ | FAILED | not in server.log |" in transcript


def test_duration_stops_a_client_that_runs_until_stopped(cli, clean_lab, tmp_path):
    d = _payload(tmp_path, "ticker", {"server.py": TCP_SERVER, "ticker.py": TICKER}, """\
language: python
server:
  run: python3 server.py {port} 1
client:
  runs:
    - command: python3 ticker.py
      duration: 1.5
expect:
  server_exits: false
  runs: {1: ["stopped after \\\\d+ ticks"]}
  count: {"tick \\\\d+": 5}
""")
    res, record = _run(cli, clean_lab, d)
    assert res.code == 0, res.stderr
    assert record["clients"][0]["stopped_after"] == 1.5
    log = (Path(record["run_dir"]) / "client-1.log").read_text()
    assert "stopped after" in log and "stopped with Ctrl-C (SIGINT) after 1.5 s, as planned" in log
    assert record["server"]["stopped_by_sockdeploy"] is True


def test_concurrent_client_runs(cli, clean_lab, tmp_path):
    d = _payload(tmp_path, "barrier", {"server.py": BARRIER_SERVER, "client.py": BARRIER_CLIENT}, """\
language: python
server:
  run: python3 server.py {port}
client:
  concurrent: true
  timeout: 15
  runs:
    - python3 client.py {ip} {port}
    - python3 client.py {ip} {port}
    - python3 client.py {ip} {port}
expect:
  server_exits: true
  server: ["all 3 clients connected at once"]
  count: {"you are \\\\d of 3": 3}
""")
    res, record = _run(cli, clean_lab, d)
    assert res.code == 0, res.stderr
    assert [c["run"] for c in record["clients"]] == [1, 2, 3]


UDP_MANIFEST = """\
protocol: udp
language: python
server:
  run: python3 server.py {port} 4
client:
  runs:
    - python3 client.py {ip} {port} alpha beta
    - python3 client.py {ip} {port} gamma delta
expect:
  server_exits: true
  server: ["received 'alpha'", "received 'delta'"]
  runs: {2: ["reply DELTA"]}
  count: {"reply [A-Z]+": 4}
"""


@pytest.mark.parametrize("via", ["tunnel", "direct"])
def test_udp_payload(cli, clean_lab, tmp_path, via):
    d = _payload(tmp_path, "udp", {"server.py": UDP_SERVER, "client.py": UDP_CLIENT}, UDP_MANIFEST)
    before = clean_lab.login_count()
    res, record = _run(cli, clean_lab, d, "--via", via)
    assert res.code == 0, res.stderr
    assert clean_lab.login_count() - before == 1
    assert all(c["ok"] for c in record["expectations"])
    if via == "tunnel":
        assert record["tunnel"]["datagrams"] == 4 and "udp" in record["tunnel"]["remote"]
        # the relay keeps each client's replies apart: both clients got their own words back
        assert "reply ALPHA" in (Path(record["run_dir"]) / "client-1.log").read_text()
        assert "reply GAMMA" in (Path(record["run_dir"]) / "client-2.log").read_text()


@pytest.mark.parametrize("target", ["ex5", "udp"])
def test_local_runs_any_payload_on_one_host(cli, tmp_path, target):
    if target == "udp":
        target = str(_payload(tmp_path, "udp", {"server.py": UDP_SERVER, "client.py": UDP_CLIENT}, UDP_MANIFEST))
    res = cli("run", target, "--local", "--out", "runs", "--json")
    assert res.code == 0, res.stderr
    record = res.json()
    assert record["via"] == "local" and record["connect_host"] == "127.0.0.1"
    assert record["ssh"] is None
