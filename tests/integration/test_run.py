"""`sockdeploy run` end to end: real CLI, real sshd on loopback, real gcc."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import (
    PAYLOADS,
    REPO,
    copy_payload,
    kill_ssh_connections,
    only_run_dir,
)

pytestmark = pytest.mark.integration

FIB = ["1", "1", "2", "3", "5", "8", "13", "21", "34", "55"]


def received(log: str):
    return re.findall(r"^received: (\d+)$", log, re.M)


def sent(log: str):
    return re.findall(r"^sent: (\d+)", log, re.M)


@pytest.mark.parametrize("exercise, connections", [("ex1", 1), ("ex2", 1), ("ex3", 2), ("ex4", 4)])
def test_local_exercises(cli, tmp_path, exercise, connections):
    res = cli("run", exercise, "--out", "runs")
    assert res.code == 0, res.stderr
    run_dir = only_run_dir(tmp_path / "runs")
    server = (run_dir / "server.log").read_text()
    clients = [(run_dir / f"client-{i}.log").read_text() for i in range(1, connections + 1)]
    # every integer each client sent reaches the server, in order
    expected = [n for c in clients for n in sent(c)]
    assert received(server) == expected
    assert expected[:10] == FIB
    if connections > 1:
        assert len(re.findall(r"^connection \d+ accepted$", server, re.M)) == connections
        assert "quit code 418 received" in server
        assert expected[-1] == "418"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["ok"] and record["via"] == "local" and record["server"]["exit_code"] == 0
    assert not Path(record["server"]["remote_dir"] or "/nonexistent").exists()
    transcript = (run_dir / "transcript.md").read_text()
    assert transcript.index("Server terminal") < transcript.index("Client terminal")


def test_ex5_across_hosts_with_one_login(cli, tmp_path, clean_lab):
    before = clean_lab.login_count()
    res = cli("run", "ex5", "--hosts", str(clean_lab.hosts_file), "--out", "runs", "--json")
    assert res.code == 0, res.stderr
    assert clean_lab.login_count() - before == 1
    record = res.json()
    run_dir = Path(record["run_dir"])
    assert record["ok"] and record["error"] is None and record["via"] == "direct"
    assert record["connect_host"] == "127.0.0.1" == record["server"]["ip"]
    port = record["server"]["port"]
    assert 30000 <= port <= 40000
    assert [c["command"] for c in record["clients"]] == [f"./client 127.0.0.1 {port}", f"./client 127.0.0.1 {port} quit"]
    assert all(c["exit_code"] == 0 for c in record["clients"])
    assert record["server"]["exit_code"] == 0 and not record["server"]["stopped_by_sockdeploy"]
    server = (run_dir / "server.log").read_text()
    assert server.startswith(f"[{clean_lab.user}@localhost]$ ./server {port}\n")
    assert len(re.findall(r"^connection \d+ accepted$", server, re.M)) == 2
    assert received(server) == FIB + FIB + ["418"]
    assert "quit code 418 received, shutting down" in server
    c1 = (run_dir / "client-1.log").read_text()
    assert c1.startswith("[") and f"]$ ./client 127.0.0.1 {port}\n" in c1.splitlines(True)[0]
    transcript = (run_dir / "transcript.md").read_text()
    for needle in ("Server terminal (localhost)", "Client terminal", "run 2", "| result | ok |", "418"):
        assert needle in transcript


def test_ex6_addresses_match_the_real_sockets(cli, tmp_path, clean_lab):
    res = cli("run", "ex6", "--hosts", str(clean_lab.hosts_file), "--out", "runs", "--json")
    assert res.code == 0, res.stderr
    record = res.json()
    run_dir = Path(record["run_dir"])
    port = record["server"]["port"]
    assert record["clients"][0]["command"] == f"./client localhost {port}"
    server = (run_dir / "server.log").read_text()
    assert re.search(rf"^listening on \S+ \(0\.0\.0\.0\) port {port}$", server, re.M)
    for i in (1, 2):
        client = (run_dir / f"client-{i}.log").read_text()
        m = re.search(r"^connected to localhost \((127\.0\.0\.1):(\d+)\) from (127\.0\.0\.1):(\d+)$", client, re.M)
        assert m, client
        assert int(m.group(2)) == port
        # the client's own address is the peer the server accepted
        assert f"connection {i} accepted from {m.group(3)}:{m.group(4)}" in server
        assert f"connection {i} local address 127.0.0.1:{port}" in server


def test_users_own_code_with_the_exercise_plan(cli, tmp_path, clean_lab):
    mine = tmp_path / "my studio code"
    mine.mkdir()
    for name in ("server.c", "client.c"):
        shutil.copy(PAYLOADS / "ex5" / name, mine / name)
    # a marker proves it is this copy that ran
    src = (mine / "server.c").read_text().replace("listening on port", "MY SERVER listening on port")
    (mine / "server.c").write_text(src)
    (mine / "server").write_bytes(b"\x7fELF stale binary that must not be uploaded")
    res = cli("run", "ex5", "--payload", str(mine), "--hosts", str(clean_lab.hosts_file), "--out", "runs", "--json")
    assert res.code == 0, res.stderr
    record = res.json()
    assert record["payload_dir"] == str(mine.resolve())
    # ex5's checks describe the bundled programs: they must not fail a student's own code
    assert "not applied to your sources" in record["expectations_note"]
    assert "not applied to your sources" in (only_run_dir(tmp_path / "runs") / "transcript.md").read_text()
    assert sorted(record["sources"]) == ["client.c", "server.c"]
    assert "MY SERVER listening on port" in (Path(record["run_dir"]) / "server.log").read_text()


def test_custom_manifest_without_build_step(cli, tmp_path, clean_lab):
    d = tmp_path / "upper"
    d.mkdir()
    (d / "server.py").write_text(
        "import socket, sys\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen()\n"
        "for n in range(3):\n"
        "    c, a = s.accept(); data = c.recv(100); print('got', data.decode()); c.sendall(data.upper()); c.close()\n"
    )
    (d / "client.py").write_text(
        "import socket, sys\nc = socket.create_connection((sys.argv[1], int(sys.argv[2])))\n"
        "c.sendall(sys.argv[3].encode()); print('reply', c.recv(100).decode())\n"
    )
    (d / "payload.yaml").write_text(
        "description: uppercase three words\nserver:\n  run: python3 server.py {port}\n"
        "client:\n  runs:\n    - python3 client.py {ip} {port} alpha\n    - python3 client.py {ip} {port} 'two words'\n"
        "    - python3 client.py {ip} {port} gamma\n  timeout: 20\nexpect:\n  server_exits: true\n"
    )
    res = cli("run", str(d), "--hosts", str(clean_lab.hosts_file), "--out", "runs")
    assert res.code == 0, res.stderr
    run_dir = only_run_dir(tmp_path / "runs")
    assert run_dir.name.endswith("-upper")
    server = (run_dir / "server.log").read_text()
    assert "got alpha\ngot two words\ngot gamma\n" in server
    assert "reply TWO WORDS" in (run_dir / "client-2.log").read_text()


def test_compile_error_shows_compiler_lines(cli, tmp_path, clean_lab):
    d = copy_payload("ex5", tmp_path / "broken")
    src = (d / "server.c").read_text()
    (d / "server.c").write_text(src + "\nint broken(void) { return undeclared_thing; }\n")
    before = clean_lab.login_count()
    res = cli("run", str(d), "--hosts", str(clean_lab.hosts_file), "--out", "runs")
    assert res.code == 4, res.stderr
    assert re.search(r"server\.c:\d+:\d+: error: .undeclared_thing. undeclared", res.stderr)
    assert "building the server failed" in res.stderr and "hint:" in res.stderr
    assert clean_lab.login_count() - before == 1
    run_dir = only_run_dir(tmp_path / "runs")
    assert "undeclared_thing" in (run_dir / "server-build.log").read_text()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["ok"] is False and record["error"]["kind"] == "build"


def test_bad_config_contacts_nothing(cli, tmp_path, clean_lab):
    bad = tmp_path / "hosts.yaml"
    bad.write_text(clean_lab.hosts_file.read_text().replace("  agent: false\n", "  agent: false\n  pasword: hunter2\n"))
    before = clean_lab.connection_count()
    res = cli("run", "ex5", "--hosts", str(bad))
    assert res.code == 2
    lines = res.stderr.strip().splitlines()
    assert re.match(rf"sockdeploy: error: {re.escape(str(bad))}:\d+: unknown key 'server.pasword'", lines[0]), res.stderr
    assert lines[1].startswith("  hint:")
    assert "Traceback" not in res.stderr
    assert clean_lab.connection_count() == before
    assert not (tmp_path / "runs").exists()


def _fingerprint(pubkey: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(pubkey)], capture_output=True, text=True, check=True).stdout
    return out.split()[1]


def test_unknown_host_key_refused_then_accepted_with_flag(cli, tmp_path, clean_lab):
    kh = tmp_path / "known_hosts"
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(clean_lab.hosts_file.read_text().replace(str(clean_lab.known_hosts), str(kh)))
    before = clean_lab.login_count()
    res = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs")
    assert res.code == 3, res.stderr
    assert "unknown host key" in res.stderr
    assert _fingerprint(clean_lab.host_key.with_suffix(".pub")) in res.stderr
    assert "--accept-new" in res.stderr
    assert clean_lab.login_count() == before, "no credential may be sent to an unverified host"
    assert not kh.exists()
    res = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs", "--accept-new")
    assert res.code == 0, res.stderr
    assert f"[localhost]:{clean_lab.port} ssh-ed25519 " in kh.read_text()
    res = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs")
    assert res.code == 0, res.stderr


def test_changed_host_key_is_always_refused(cli, tmp_path, clean_lab):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kh = tmp_path / "known_hosts"
    other_key = " ".join(other.with_suffix(".pub").read_text().split()[:2])
    kh.write_text("# comment\n" + f"[localhost]:{clean_lab.port} " + other_key + "\n")
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(clean_lab.hosts_file.read_text().replace(str(clean_lab.known_hosts), str(kh)))
    before = clean_lab.login_count()
    for extra in ([], ["--accept-new"]):
        res = cli("run", "ex5", "--hosts", str(hosts), "--out", "runs", *extra)
        assert res.code == 3, res.stderr
        assert "HOST KEY CHANGED" in res.stderr
        assert f"{kh}:2" in res.stderr
        assert "ssh-keygen -R" in res.stderr
    assert clean_lab.login_count() == before


def _hanging_payload(tmp_path: Path) -> Path:
    """ex5 whose second client hangs; its sleep carries a token unique to this test run."""
    d = copy_payload("ex5", tmp_path / "hang")
    (d / "payload.yaml").write_text(
        (d / "payload.yaml").read_text().replace("- ./client {ip} {port} quit",
                                                 f"- sh -c 'echo waiting for ever; sleep {_token(tmp_path)}'")
    )
    return d


def _token(tmp_path: Path) -> str:
    return f"12{abs(hash(str(tmp_path))) % 10**6:06d}"


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_leaves_nothing_behind(tmp_path, fake_home, clean_lab, sig, code):
    d = _hanging_payload(tmp_path)
    env = {"HOME": str(fake_home), "PYTHONPATH": str(REPO), "PATH": "/usr/local/bin:/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-m", "sockdeploy", "run", str(d), "--hosts", str(clean_lab.hosts_file),
                             "--out", "runs"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    log = None
    while time.monotonic() < deadline:
        logs = list((tmp_path / "runs").glob("*/client-2.log")) if (tmp_path / "runs").exists() else []
        if logs and "waiting for ever" in logs[0].read_text():
            log = logs[0]
            break
        time.sleep(0.1)
    assert log is not None, "the hanging client never started"
    assert clean_lab.leftover_processes(), "the server should be running mid-run"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    run_dir = log.parent
    assert "waiting for ever" in (run_dir / "client-2.log").read_text()
    assert received((run_dir / "server.log").read_text()) == FIB, "partial server output must be kept"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["ok"] is False and record["error"]["exit_code"] == code
    still = subprocess.run(["pgrep", "-f", f"sleep {_token(tmp_path)}"], capture_output=True)
    assert still.returncode == 1, "the client must be stopped too"


def test_connection_killed_server_side_stops_the_server(tmp_path, fake_home):
    """The SSH connection dies mid-run: the server host's watchdog stops the server on its own."""
    from sockdeploy.lab.loopback import LoopbackLab

    d = _hanging_payload(tmp_path)
    (d / "payload.yaml").write_text((d / "payload.yaml").read_text().replace("expect:", "  timeout: 45\nexpect:"))
    with LoopbackLab(tmp_path / "lab") as lab:
        env = {"HOME": str(fake_home), "PYTHONPATH": str(REPO), "PATH": "/usr/local/bin:/usr/bin:/bin"}
        proc = subprocess.Popen([sys.executable, "-m", "sockdeploy", "run", str(d), "--hosts", str(lab.hosts_file),
                                 "--out", "runs"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not lab.leftover_processes():
                time.sleep(0.1)
            while time.monotonic() < deadline and not list((tmp_path / "runs").glob("*/client-2.log")):
                time.sleep(0.1)
            assert lab.leftover_processes(), "the server should be running"
            assert kill_ssh_connections(lab) >= 1
            killed_at = time.monotonic()
            while lab.leftover_processes() and time.monotonic() - killed_at < 30:
                time.sleep(0.2)
            assert lab.leftover_processes() == [], "the server outlived its SSH connection by 30 s"
            assert time.monotonic() - killed_at < 30
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        assert proc.returncode in (3, 6, 130), err
        assert "Traceback" not in err
        run_dir = only_run_dir(tmp_path / "runs")
        assert (run_dir / "client-1.log").read_text().count("sent: ") == 10
        assert json.loads((run_dir / "run.json").read_text())["ok"] is False


def _sessions(lab) -> int:
    return lab.log_file.read_text(errors="replace").count("Starting session:")


def _agent_processes() -> list:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"# sockdeploy remote agent" in cmd:
            found.append(pid)
    return found


@pytest.mark.parametrize("switch, sessions", [(None, range(1, 4)), ("0", range(5, 12))])
def test_remote_steps_share_one_agent_unless_switched_off(cli, clean_lab, switch, sessions):
    """With the agent, the run's scripts share one session (plus the watchdog and the clock probe)."""
    before, logins = _sessions(clean_lab), clean_lab.login_count()
    env = {"SOCKDEPLOY_REMOTE_AGENT": switch} if switch else {}
    res = cli("run", "ex5", "--via", "tunnel", "--hosts", str(clean_lab.hosts_file), "--out", "runs", "--json", env=env)
    assert res.code == 0, res.stderr
    record = res.json()
    assert record["expectations"] and all(c["ok"] for c in record["expectations"]), record["expectations"]
    assert _sessions(clean_lab) - before in sessions
    assert clean_lab.login_count() - logins == 1
    deadline = time.monotonic() + 5
    while _agent_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _agent_processes() == []
