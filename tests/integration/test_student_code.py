"""Students' own programs as they are, run with one command on the loopback lab through the tunnel.

The fixtures under tests/fixtures/student/ hold one real-world pattern each. An
address written into a client is replaced by 127.88.0.1 before the run: not
the lab's login host (so the run must carry it), and on loopback (so a
redirect that failed could not send anything off this machine).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import List, Optional

import pytest

pytestmark = pytest.mark.integration

STUDENT = Path(__file__).resolve().parents[1] / "fixtures" / "student"
STAND_IN = "127.88.0.1"
FAR_ADDRESSES = ("128.252.167.161", "192.168.0.123")

# fixture, how it is run, what its server's log must show (the data arrived), the stdin given
CASES = [
    ("port-in-range", "ex5", r"^received 50$", None),
    ("port-out-of-range", "ex5", r"^server got: \d+$", None),
    ("real-host-address", "ex5", r"^Number: 1999$", None),
    ("lan-address-python", "ex5", r"\d", None),
    ("loopback-literal", "ex5", r"^\d+$", None),
    ("warnings-only", "ex5", r"^msg 1: 100$", None),
    ("unix-and-inet", "ex5", r"^read \d+$", None),
    ("own-headers", "ex5", r"^Received: \d+$", None),
    ("binary-protocol", "ex5", r"^got 65536$", None),
    ("byteswapped-text", "ex5", r"^number 1000 \(sent as 3892510720\)$", None),
    ("stdin-client", "ex5", r"^15 \(running total 27\)$", "4 8 15"),
    ("python-tcp-args", "ex5", r"^got 11$", None),
    ("getaddrinfo-client", "ex5", r"^<- \d+$", None),
    ("makefile-src-inc", "ex5", r"^server: 9$", None),
    ("serve-forever", None, r"^connection from 127\.0\.0\.1$", None),
    ("nested-no-makefile", None, r"^client asked for 12$", None),
    ("python-udp-odd-names", None, None, "hello there"),
]

NESTED = ("makefile-src-inc", "nested-no-makefile")


def student_copy(name: str, root: Path) -> Path:
    dest = root / name
    shutil.copytree(STUDENT / name, dest)
    (dest / "expected.yaml").unlink()
    for source in list(dest.rglob("*.c")) + list(dest.rglob("*.py")):
        text = source.read_text()
        for far in FAR_ADDRESSES:
            text = text.replace(far, STAND_IN)
        source.write_text(text)
    return dest


def had_far_address(name: str) -> bool:
    return any(far in p.read_text() for p in (STUDENT / name).rglob("*") if p.suffix in (".c", ".py") for far in FAR_ADDRESSES)


@pytest.mark.parametrize("name, exercise, evidence, stdin", CASES, ids=[c[0] for c in CASES])
def test_the_programs_run_unedited(cli, tmp_path, clean_lab, name: str, exercise: Optional[str],
                                   evidence: Optional[str], stdin: Optional[str]) -> None:
    folder = student_copy(name, tmp_path)
    argv: List[str] = ["run", exercise, "--payload", str(folder)] if exercise else ["run", str(folder)]
    argv += ["--hosts", str(clean_lab.hosts_file), "--via", "tunnel", "--out", "runs", "--json"]
    if stdin:
        argv += ["--stdin", stdin]
    res = cli(*argv)
    assert res.code == 0, res.stderr
    record = res.json()
    assert record["ok"] and record["plan"] and record["tunnel"]
    if "connections" in record["tunnel"]:  # TCP; UDP goes through the relay
        assert record["tunnel"]["connections"] >= 1
    assert all(c["exit_code"] == 0 for c in record["clients"])
    run_dir = Path(record["run_dir"])
    server_log = (run_dir / "server.log").read_text()
    if evidence:
        assert re.search(evidence, server_log, re.M), server_log
    if exercise:  # the quit run ended the server by itself
        assert record["server"]["stopped_by_sockdeploy"] is False and record["server"]["exit_code"] == 0, record["server"]
    if had_far_address(name):
        assert any(STAND_IN in r for r in record.get("redirects") or []), record.get("redirects")
        assert "Addresses carried for the programs" in (run_dir / "transcript.md").read_text()
    assert "What sockdeploy chose" in (run_dir / "transcript.md").read_text()
    if name in NESTED:  # uploaded, built and kept at their paths in the folder
        assert {"src/server.c", "src/client.c"} <= set(record["sources"]) and record["sources_dir"] == "sources"
        assert all((run_dir / "sources" / source).is_file() for source in record["sources"])
        assert "src/server.c" in (run_dir / "transcript.md").read_text()
    if name == "warnings-only":  # plain gcc: the warning is shown and kept, the build does not fail
        transcript = (run_dir / "transcript.md").read_text()
        assert "warning: cast from pointer to integer" in transcript and "## Build output (server-build.log)" in transcript


def test_the_choice_is_printed_before_anything_runs(cli, tmp_path, clean_lab) -> None:
    folder = student_copy("unix-and-inet", tmp_path)
    res = cli("run", "ex5", "--payload", str(folder), "--hosts", str(clean_lab.hosts_file), "--via", "tunnel")
    assert res.code == 0, res.stderr
    first = res.stderr.index("plan: server: server2.c")
    assert first < res.stderr.index("connect to") and "also a server: server.c" in res.stderr


def test_a_hard_coded_port_taken_on_the_login_host_is_moved_and_said(cli, tmp_path, clean_lab) -> None:
    import socket

    holder = socket.socket()  # another user's program on the port the student wrote in
    holder.bind(("0.0.0.0", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    folder = student_copy("port-in-range", tmp_path)
    for name in ("server.c", "client.c"):  # the same pattern, on a port no earlier run left lingering
        (folder / name).write_text((folder / name).read_text().replace("30303", str(taken)))
    try:
        res = cli("run", "ex5", "--payload", str(folder), "--hosts", str(clean_lab.hosts_file), "--via", "tunnel",
                  "--out", "runs", "--json")
        holder.settimeout(0.5)
        with pytest.raises(socket.timeout):
            holder.accept()  # no client data went to the other program
    finally:
        holder.close()
    assert res.code == 0, res.stderr
    assert f"port {taken}, written into your server, is taken on" in res.stderr
    record = res.json()
    moved = record["server"]["port"]
    assert moved != taken and f"the server's bind to port {taken} went to port {moved}" in record["redirects"][0]
    assert any(f"127.0.0.1:{taken}" in r for r in record["redirects"][1:])  # and the client's connects followed it
    assert re.search(r"^received 50$", (Path(record["run_dir"]) / "server.log").read_text(), re.M)


def test_a_client_given_no_input_is_told_how_to_give_it(cli, tmp_path, clean_lab) -> None:
    folder = student_copy("lan-address-python", tmp_path)
    client = folder / "TCPClient.py"
    client.write_text(client.read_text() + "\nline = input()\n")  # a client that insists on a line typed
    res = cli("run", "ex5", "--payload", str(folder), "--hosts", str(clean_lab.hosts_file), "--via", "tunnel")
    assert res.code == 6, res.stderr
    assert "--stdin TEXT" in res.stderr
