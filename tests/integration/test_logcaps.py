"""Log floods end to end: a server printing without end and a client printing megabytes, through the loopback lab.

The login host's disk use stays within the log caps while the run goes, the
run folder keeps each log's head and tail with the middle elided and counted,
the transcript shows heads and tails and says so, and the verdict is the one
a quiet run gets.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from sockdeploy.output.logcap import HEAD_BYTES, PIECE_BYTES, PIECE_LINES, SHOWN_HEAD, SHOWN_TAIL, elision_note
from tests.conftest import code_blocks, only_run_dir

pytestmark = pytest.mark.integration

FLOOD_MB = 8  # printed by the server before it answers the client, and on after

SERVER = r'''
import socket, sys, threading
port = int(sys.argv[1])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("", port))
srv.listen(4)
out = sys.stdout.buffer
out.write(b"listening on port %d\n" % port)
out.flush()
flooded = threading.Event()
def flood():
    n = 0
    while True:
        block = b"".join(b"server line %d of a flood that never ends\n" % (n + i) for i in range(1000))
        n += 1000
        out.write(block)
        out.flush()
        if n * 42 > FLOOD:
            flooded.set()
threading.Thread(target=flood, daemon=True).start()
while True:
    conn, _ = srv.accept()
    flooded.wait()
    conn.sendall(b"flooded\n")
    conn.close()
'''.replace("FLOOD", str(FLOOD_MB * 1024 * 1024))

CLIENT = r'''
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60) as s:
    s.recv(100)
out = sys.stdout.buffer
out.write(b"connected\n")
for n in range(0, 120000, 1000):
    out.write(b"".join(b"client line %d\n" % (n + i) for i in range(1000)))
out.write(b"done\n")
'''  # 2.1 MB: past the head and one piece

MANIFEST = """\
description: a flooding server and a chatty client
local: false
protocol: tcp
language: python
server:
  run: python3 server.py {port}
client:
  runs:
    - command: python3 client.py {ip} {port}
      timeout: 60
expect:
  server:
    - "^listening on port {port}$"
  runs:
    1: ["^connected$", "^done$"]
"""


def _bytes_under(root: Path) -> int:
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass  # removed while we looked
    return total


def test_a_flood_is_kept_within_the_caps_on_every_host(cli, tmp_path, clean_lab):
    payload = tmp_path / "flood"
    payload.mkdir()
    (payload / "server.py").write_text(SERVER)
    (payload / "client.py").write_text(CLIENT)
    (payload / "payload.yaml").write_text(MANIFEST)
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], _bytes_under(clean_lab.workdir))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        res = cli("run", str(payload), "--hosts", str(clean_lab.hosts_file), "--out", "runs", timeout=120)
    finally:
        done.set()
        sampler.join()
    # the verdict of a quiet run: the checks read the head (listening) and the tail (done)
    assert res.code == 0, res.stderr
    run_dir = only_run_dir(tmp_path / "runs")
    record = json.loads((run_dir / "run.json").read_text())
    assert record["ok"] is True and record["server"]["stopped_by_sockdeploy"]
    assert all(c["ok"] for c in record["expectations"])
    assert "server.log: the program printed more than a log keeps" in res.stderr

    # the login host: the head, two pieces and their line times, plus the sources and sockdeploy's programs
    server_elided = record["server"]["log_elided_bytes"]
    assert server_elided > FLOOD_MB * 1024 * 1024 - HEAD_BYTES - 2 * PIECE_BYTES
    assert 0 < peak[0] <= HEAD_BYTES + 2 * PIECE_BYTES + 3 * PIECE_LINES * 18 + 256 * 1024

    # the run folder: each log's head, the note, its tail; nothing else left of the pieces
    assert sorted(p.name for p in run_dir.iterdir() if p.name.endswith((".1", ".2", ".3"))) == []
    server_log = (run_dir / "server.log").read_text()
    head, note, tail = server_log.partition(f"\n{elision_note(server_elided)}\n")
    assert note and head.startswith("[") and "\nlistening on port " in head
    assert "of a flood that never ends\n" in tail and tail.endswith("\n[stopped by sockdeploy after the run]\n")
    client_elided = record["clients"][0]["log_elided_bytes"]
    client_log = (run_dir / "client-1.log").read_text()
    assert "\nclient line 0\n" in client_log and client_log.endswith("\ndone\n[exit status 0]\n")
    assert f"\n{elision_note(client_elided)}\n" in client_log
    # kept and elided add up to what the client printed (its head ends a line: 20,000 of them)
    printed = len("connected\n") + sum(len(f"client line {n}\n") for n in range(120_000)) + len("done\n")
    kept = client_log.split("\n", 1)[1][:-len("[exit status 0]\n")]
    assert len(kept) - len(elision_note(client_elided) + "\n") + client_elided == printed

    # the transcript: heads and tails, what was left out, where the rest is
    transcript = (run_dir / "transcript.md").read_text()
    assert len(transcript) < 4 * (SHOWN_HEAD + SHOWN_TAIL) + 20_000
    assert f"the {server_elided:,} bytes between them are left out" in transcript
    assert f"the {client_elided:,} bytes between them are left out" in transcript
    blocks = code_blocks(transcript)
    assert "listening on port" in blocks[0] and blocks[0].endswith("[stopped by sockdeploy after the run]")
    assert "not shown here: see server.log ...]" in blocks[0]
    assert "\nconnected\nclient line 0\n" in blocks[1] and blocks[1].endswith("done\n[exit status 0]")
    assert "not shown here: see client-1.log ...]" in blocks[1]
