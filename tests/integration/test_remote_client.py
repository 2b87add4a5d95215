"""A headless Pi: sockdeploy on a "laptop" drives both the login host and the client host over SSH.

Two throwaway sshds on loopback play the login host and the Pi; the laptop is this process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import only_run_dir

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory):
    from sockdeploy.lab.loopback import LoopbackLab

    with LoopbackLab(tmp_path_factory.mktemp("login")) as login, \
            LoopbackLab(tmp_path_factory.mktemp("pi"), host_name="127.0.0.1") as pi:
        yield login, pi


def _hosts(path: Path, login, pi, via: str) -> Path:
    path.write_text(f"""server:
  host: {login.host_name}
  port: {login.port}
  user: {login.user}
  identity: {login.identity}
  known_hosts: {login.known_hosts}
  workdir: {login.workdir}
  ssh_config: none
  agent: false
client:
  host: {pi.user}@{pi.host_name}
  port: {pi.port}
  identity: {pi.identity}
  known_hosts: {pi.known_hosts}
  workdir: {pi.workdir}
  ssh_config: none
  agent: false
network:
  via: {via}
  ports: 30000-40000
""")
    return path


def _nothing_left(*labs) -> None:
    for lab in labs:
        assert lab.leftover_processes() == [], f"a process outlived the run on {lab.dir}"
        assert lab.leftover_dirs() == [], f"a run folder was left on {lab.dir}"


@pytest.mark.parametrize("via, target", [("tunnel", "ex5"), ("direct", "ex5"), ("tunnel", "py-udp-upper"),
                                         ("tunnel", "c-tcp-fork")])
def test_ex5_with_the_client_on_a_remote_pi(cli, tmp_path, two_hosts, via, target):
    login, pi = two_hosts
    before = (login.login_count(), pi.login_count())
    res = cli("run", target, "--hosts", str(_hosts(tmp_path / "hosts.yaml", login, pi, via)), "--out", "runs", "--json")
    assert res.code == 0, res.stderr
    record = res.json()
    assert record["via"] == via and record["client_host"] == pi.host_name
    assert all(c["ok"] for c in record["expectations"]), record["expectations"]
    # one login per host; the Pi never logged in to the login host (no credentials went to it)
    assert (login.login_count() - before[0], pi.login_count() - before[1]) == (1, 1)
    run_dir = only_run_dir(tmp_path / "runs")
    client = (run_dir / "client-1.log").read_text()
    assert client.startswith(f"[{pi.user}@{pi.host_name}]$ {'python3 client.py' if target.startswith('py-') else './client'} ")
    assert "Client terminal (127.0.0.1)" in (run_dir / "transcript.md").read_text()
    if target == "py-udp-upper":  # datagrams: the Pi's endpoint and the server's relay, joined on the laptop
        assert record["tunnel"]["udp_relay"].endswith("(udp)") and record["tunnel"]["datagrams"] > 0
        # each client run's datagrams, kept as the laptop joined the two relays, under the Pi's own address
        wire = json.loads((run_dir / "wire.json").read_text())
        assert wire["path"] == "through the UDP relay" and record["wire"]["connections"] == len(record["clients"])
        assert sorted(c["run"] for c in wire["connections"]) == [c["run"] for c in record["clients"]]
        assert all(c["origin"].startswith("127.0.0.1:") and c["bytes"]["sent"] and c["bytes"]["received"]
                   for c in wire["connections"])
    elif via == "tunnel":
        assert record["tunnel"]["joined"] is True and record["tunnel"]["connections"] == len(record["clients"])
        assert "on 127.0.0.1" in record["tunnel"]["listen"][0]
    else:
        assert record["probe"]["outcome"] == "refused"  # made on the Pi, before the server listened
    _nothing_left(login, pi)


def test_local_exercise_runs_on_the_pi(cli, tmp_path, two_hosts):
    login, pi = two_hosts
    before = login.login_count()
    res = cli("run", "ex3", "--hosts", str(_hosts(tmp_path / "hosts.yaml", login, pi, "auto")), "--out", "runs", "--json")
    assert res.code == 0, res.stderr
    record = res.json()
    assert record["via"] == "local" and all(c["ok"] for c in record["expectations"])
    run_dir = only_run_dir(tmp_path / "runs")
    assert str(pi.workdir) in (run_dir / "server.log").read_text().splitlines()[1]  # the socket path is on the Pi
    assert login.login_count() == before, "a local exercise needs no login host"
    _nothing_left(login, pi)


def test_a_client_that_hangs_on_the_pi_is_stopped(cli, tmp_path, two_hosts):
    from tests.conftest import copy_payload

    login, pi = two_hosts
    d = copy_payload("ex5", tmp_path / "hang")
    manifest = d / "payload.yaml"
    manifest.write_text(manifest.read_text().replace("client:\n", "client:\n  timeout: 2\n", 1)
                        .replace("- ./client {ip} {port} quit", "- sh -c 'echo stuck; sleep 300'"))
    res = cli("run", str(d), "--hosts", str(_hosts(tmp_path / "hosts.yaml", login, pi, "tunnel")), "--out", "runs", "--json")
    assert res.code == 6, res.stderr
    record = json.loads(res.stdout)
    assert record["clients"][1]["timed_out"] is True
    assert "stuck" in (only_run_dir(tmp_path / "runs") / "client-2.log").read_text()
    _nothing_left(login, pi)


# -- the campus lab: the Pi runs its own sshd in the home namespace ---------------------------

@pytest.fixture(scope="module")
def pi_sshd(campus, tmp_path_factory):
    """An sshd on the Pi (pi.home.lab, 10.77.1.2:22 in the home namespace), for a laptop to drive it."""
    from sockdeploy.lab.campus import HOME_NAME
    from sockdeploy.lab.loopback import LoopbackLab

    with LoopbackLab(tmp_path_factory.mktemp("pi-sshd"), listen=campus.home_ip, host_name=HOME_NAME, port=22,
                     prefix=["ip", "netns", "exec", campus.home_ns]) as pi:
        yield pi


@pytest.mark.campus
@pytest.mark.parametrize("via", ["tunnel", "vpn"])
def test_campus_ex5_with_the_client_on_a_remote_pi(campus, pi_sshd, on_pi, tmp_path, via):
    if via == "vpn" and not campus.vpn_is_up():
        campus.vpn_up()
    if via == "tunnel" and campus.vpn_is_up():
        campus.vpn_down()
    login = campus.sshd
    before = (campus.login_count(), pi_sshd.login_count())
    hosts = _hosts(tmp_path / "hosts.yaml", login, pi_sshd, via)
    proc = on_pi("run", "ex5", "--hosts", str(hosts), "--out", "runs", "--json")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["via"] == via and record["client_host"] == pi_sshd.host_name
    assert all(c["ok"] for c in record["expectations"]), record["expectations"]
    assert (campus.login_count() - before[0], pi_sshd.login_count() - before[1]) == (1, 1)
    if via == "vpn":
        assert [c["ok"] for c in record["vpn_checks"]] == [True, True, True]  # gathered on the Pi
        assert record["connect_host"] == campus.server_ip
        campus.vpn_down()
    _nothing_left(login, pi_sshd)


def test_doctor_checks_both_hosts(cli, tmp_path, two_hosts):
    login, pi = two_hosts
    hosts = _hosts(tmp_path / "hosts.yaml", login, pi, "direct")
    res = cli("doctor", "--hosts", str(hosts), "--json")
    assert res.code == 0, res.stdout + res.stderr
    checks = {c["check"] if "check" in c else c["name"]: c for c in json.loads(res.stdout)}
    detail = checks["client host"]["detail"]
    assert checks["client host"]["result"] == "ok" and f"logged in as {pi.user}" in detail
    # what OpenSSH's config resolves for the Pi, as for the server host's line
    assert f"(ssh -G for 127.0.0.1: {pi.user}@127.0.0.1:{pi.port}, " in detail, detail
    assert checks["direct reach"]["result"] == "ok"
    # a Pi whose host key is not known yet: that check fails with the host-key exit code, nothing is sent
    text = hosts.read_text().replace(f"known_hosts: {pi.known_hosts}", f"known_hosts: {tmp_path / 'empty'}")
    (tmp_path / "empty").write_text("")
    hosts.write_text(text)
    res = cli("doctor", "--hosts", str(hosts), "--json")
    assert res.code == 3
    checks = {c["check"] if "check" in c else c["name"]: c for c in json.loads(res.stdout)}
    assert checks["client host"]["result"] == "fail" and "127.0.0.1" in checks["client host"]["detail"]


def test_tunnel_open_listens_on_the_pi(cli, tmp_path, two_hosts):
    import socket
    import threading

    from sockdeploy.lab.loopback import free_loopback_port

    login, pi = two_hosts
    hosts = _hosts(tmp_path / "hosts.yaml", login, pi, "tunnel")
    echo = socket.socket()
    echo.bind(("127.0.0.1", 0))
    echo.listen(1)
    server_port = echo.getsockname()[1]

    def serve() -> None:
        conn, _ = echo.accept()
        with conn:
            conn.sendall(conn.recv(100).upper())

    threading.Thread(target=serve, daemon=True).start()
    pi_port = free_loopback_port()
    res = cli("tunnel", "open", "--hosts", str(hosts), "--port", str(server_port), "--local-port", str(pi_port))
    try:
        assert res.code == 0, res.stderr
        assert f"127.0.0.1:{pi_port} on {pi.host_name}" in res.stdout
        assert f"client on {pi.host_name}" in res.stderr  # the hint is for people: stderr
        with socket.create_connection(("127.0.0.1", pi_port), timeout=10) as c:  # the Pi's loopback is ours here
            c.sendall(b"typed by hand")
            assert c.recv(100) == b"TYPED BY HAND"
    finally:
        closed = cli("tunnel", "close", "--port", str(pi_port))
    assert closed.code == 0, closed.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", pi_port), timeout=5).close()
    echo.close()


def test_losing_the_pi_mid_run_stops_its_client(tmp_path, fake_home, two_hosts):
    """The laptop's connection to the Pi dies while a client runs there: the Pi's watchdog stops it."""
    import os
    import subprocess
    import sys
    import time

    from tests.conftest import REPO, copy_payload, kill_ssh_connections

    login, pi = two_hosts
    d = copy_payload("ex5", tmp_path / "hang")
    manifest = d / "payload.yaml"
    manifest.write_text(manifest.read_text().replace("- ./client {ip} {port} quit", "- sh -c 'echo stuck; sleep 300'"))
    hosts = _hosts(tmp_path / "hosts.yaml", login, pi, "tunnel")
    env = {"HOME": str(fake_home), "PYTHONPATH": str(REPO), "PATH": os.environ["PATH"]}
    proc = subprocess.Popen([sys.executable, "-m", "sockdeploy", "run", str(d), "--hosts", str(hosts), "--out", "runs"],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        logs = list((tmp_path / "runs").glob("*/client-2.log")) if (tmp_path / "runs").exists() else []
        if logs and "stuck" in logs[0].read_text():
            break
        time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError("the hanging client never started on the Pi")
    assert pi.leftover_processes(), "the client should be running on the Pi"
    assert kill_ssh_connections(pi) >= 1
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 3, err
    deadline = time.monotonic() + 30
    while (pi.leftover_processes() or pi.leftover_dirs()) and time.monotonic() < deadline:
        time.sleep(0.2)
    _nothing_left(login, pi)


def test_a_batch_runs_the_clients_here_even_with_a_client_host(cli, tmp_path, two_hosts):
    """A grader's batch keeps its logins bounded: no login to the Pi per submission."""
    import shutil

    from tests.conftest import PAYLOADS

    login, pi = two_hosts
    hosts = _hosts(tmp_path / "hosts.yaml", login, pi, "tunnel")
    dirs = []
    for name in ("g1", "g2", "g3"):
        dest = tmp_path / "subs" / name
        dest.mkdir(parents=True)
        for src in ("server.c", "client.c"):
            shutil.copy(PAYLOADS / "ex5" / src, dest / src)
        dirs.append(dest)
    pi_before, login_before = pi.login_count(), login.login_count()
    res = cli("batch", *map(str, dirs), "--exercise", "ex5", "-j", "3", "--hosts", str(hosts), "--out", "runs", "--json",
              timeout=120)
    assert res.code == 0, res.stderr
    summary = res.json()
    assert [s["result"] for s in summary["submissions"]] == ["passed"] * 3
    assert pi.login_count() == pi_before and login.login_count() - login_before == summary["logins"] <= 3
    assert any("client.host" in n for n in summary["notes"]) and "client.host" in res.stderr
    for s in summary["submissions"]:
        record = json.loads((Path(s["run_dir"]) / "run.json").read_text())
        assert "client_host" not in record or record["client_host"] != pi.host_name
    _nothing_left(login, pi)


@pytest.mark.parametrize("via", ["tunnel", "direct"])
def test_a_written_in_address_is_carried_on_the_pi_too(cli, tmp_path, two_hosts, via):
    from tests.integration.test_student_code import STAND_IN, student_copy

    login, pi = two_hosts
    folder = student_copy("real-host-address", tmp_path)
    hosts = _hosts(tmp_path / "hosts.yaml", login, pi, via)
    res = cli("run", "ex5", "--payload", str(folder), "--hosts", str(hosts), "--out", "runs", "--json")
    assert res.code == 0, res.stderr
    record = res.json()
    assert record["ok"] and record["client_host"] == pi.host_name
    carried = [r for r in record.get("redirects") or [] if STAND_IN in r]
    assert carried and f"carried by the {via} path" in carried[0], record.get("redirects")
    run_dir = only_run_dir(tmp_path / "runs")
    assert "Number: 1999" in (run_dir / "server.log").read_text()
    assert STAND_IN in (run_dir / "redirects.log").read_text()  # the Pi's log, fetched into the run folder
    _nothing_left(login, pi)


def test_the_pi_records_what_its_clients_put_on_the_wire_on_the_direct_path(cli, tmp_path, two_hosts):
    """No tunnel on the direct path: the preload library on the Pi keeps each run's bytes, fetched and judged."""
    from tests.integration.test_grading import GRADING

    login, pi = two_hosts
    hosts = _hosts(tmp_path / "hosts.yaml", login, pi, "direct")
    res = cli("run", "ex5", "--payload", str(GRADING / "text-pair"), "--hosts", str(hosts), "--out", "runs", "--json")
    assert res.code == 0, res.stderr
    record = res.json()
    assert record["via"] == "direct" and record["client_host"] == pi.host_name
    assert record["wire"]["path"] == f"by the preload library on {pi.host_name}" and record["wire"]["connections"] == 2
    assert [(c["check"], c["ok"]) for c in record["checks"]] == [
        (name, True) for name in ("built", "listened", "connected", "sent", "integers", "quit", "ended")]
    wire = (only_run_dir(tmp_path / "runs") / "wire.txt").read_text()
    assert "client run 2, tcp from 127.0.0.1:" in wire and "|911.|" in wire
    assert list(Path(pi.workdir).rglob(".wire-run-*")) == []  # removed with the client's workspace
    _nothing_left(login, pi)
