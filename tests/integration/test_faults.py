"""Fault injection: for each phase of a run, Ctrl-C, SIGTERM, or the SSH connection killed from the
server side; and servers and clients that misbehave. Each case checks the exit code, that partial
transcripts are kept, that no process of the run remains on the server host within 30 s, and that
the local tunnel listener is closed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sockdeploy.lab.loopback import LoopbackLab
from sockdeploy.run.netpath import probe
from tests.conftest import REPO, copy_payload, kill_ssh_connections

pytestmark = pytest.mark.integration

PHASES = ["connect", "upload", "build", "server-start", "client-runs", "log-fetch"]


@pytest.fixture(scope="module")
def fault_lab(tmp_path_factory):
    with LoopbackLab(tmp_path_factory.mktemp("faultlab")) as lab:
        yield lab


def _start(lab, tmp_path: Path, home: Path, target: str, *extra: str, fault: str = "") -> subprocess.Popen:
    env = {"HOME": str(home), "PYTHONPATH": str(REPO), "PATH": os.environ["PATH"]}
    if fault:
        env["SOCKDEPLOY_FAULT_POINT"] = fault
    err = open(tmp_path / "stderr.txt", "w")
    return subprocess.Popen([sys.executable, "-m", "sockdeploy", "run", target, "--via", "tunnel", "--hosts", str(lab.hosts_file),
                             "--out", str(tmp_path / "runs"), *extra],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)


def _wait_for(path: Path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"never saw {text!r}; stderr: {path.read_text() if path.exists() else ''}")


def _run_dir(tmp_path: Path) -> Path:
    (only,) = list((tmp_path / "runs").iterdir())
    return only


def _nothing_runs_within_30s(lab) -> None:
    deadline = time.monotonic() + 30
    while lab.leftover_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert lab.leftover_processes() == [], "a process of the run outlived it by 30 s"


def _common_checks(lab, tmp_path: Path, code: int, expected: int) -> dict:
    assert code == expected, (tmp_path / "stderr.txt").read_text()
    stderr = (tmp_path / "stderr.txt").read_text()
    assert "Traceback" not in stderr
    run_dir = _run_dir(tmp_path)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["ok"] is False and record["error"]["exit_code"] == expected
    assert (run_dir / "transcript.md").read_text().count("| result | FAILED") == 1
    _nothing_runs_within_30s(lab)
    for address in (record.get("tunnel") or {}).get("listen", []):
        host, port = address.rsplit(":", 1)
        assert probe(host.strip("[]"), int(port), timeout=1).outcome == "refused", "the tunnel listener is still open"
    return record


def _phase_specific(run_dir: Path, phase: str) -> None:
    if phase in ("client-runs", "log-fetch"):
        assert (run_dir / "client-1.log").read_text().count("sent: ") == 10, "the first client's transcript is kept"
    if phase == "log-fetch":
        assert (run_dir / "client-2.log").exists()


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("sig, expected", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_signal_in_each_phase(fault_lab, tmp_path, fake_home, phase, sig, expected):
    proc = _start(fault_lab, tmp_path, fake_home, "ex5", fault=phase)
    _wait_for(tmp_path / "stderr.txt", f"fault point {phase}")
    proc.send_signal(sig)
    code = proc.wait(timeout=90)
    record = _common_checks(fault_lab, tmp_path, code, expected)
    assert fault_lab.leftover_dirs() == [], "cleanup removes the remote run directory"
    _phase_specific(Path(record["run_dir"]), phase)
    if phase == "log-fetch":
        # cleanup finished before the interruption was reported: the server log is complete
        assert "quit code 418 received" in (Path(record["run_dir"]) / "server.log").read_text()
        assert "cleanup was completed first" in record["error"]["message"]


@pytest.mark.parametrize("phase", ["build", "client-runs"])
def test_sighup_is_handled_like_sigterm(fault_lab, tmp_path, fake_home, phase):
    """The terminal (or the SSH session to the Pi) closed: run.json and the transcripts are written, nothing is left."""
    proc = _start(fault_lab, tmp_path, fake_home, "ex5", fault=phase)
    _wait_for(tmp_path / "stderr.txt", f"fault point {phase}")
    proc.send_signal(signal.SIGHUP)
    code = proc.wait(timeout=90)
    record = _common_checks(fault_lab, tmp_path, code, 129)
    assert record["error"]["kind"] == "hangup"
    assert (Path(record["run_dir"]) / "transcript.md").is_file()
    assert fault_lab.leftover_dirs() == []
    _phase_specific(Path(record["run_dir"]), phase)


@pytest.mark.parametrize("phase", PHASES[1:])
def test_connection_killed_in_each_phase(fault_lab, tmp_path, fake_home, cli, phase):
    proc = _start(fault_lab, tmp_path, fake_home, "ex5", fault=phase)
    _wait_for(tmp_path / "stderr.txt", f"fault point {phase}")
    assert kill_ssh_connections(fault_lab) >= 1
    code = proc.wait(timeout=90)
    record = _common_checks(fault_lab, tmp_path, code, 3)
    assert "SSH connection" in record["error"]["message"] or "server log could not be fetched" in record["error"]["message"]
    _phase_specific(Path(record["run_dir"]), phase)
    # the server host's watchdog removes what the dead run left
    deadline = time.monotonic() + 30
    while fault_lab.leftover_dirs() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert fault_lab.leftover_dirs() == []


def test_later_run_cleans_what_a_crashed_run_left(fault_lab, tmp_path, fake_home, cli):
    """Both sides died (sockdeploy and its lifeline): the next run stops the old server and removes its folder."""
    from tests.conftest import process_tree

    proc = _start(fault_lab, tmp_path, fake_home, "ex5", fault="client-runs")
    _wait_for(tmp_path / "stderr.txt", "fault point client-runs")
    (run_dir,) = fault_lab.leftover_dirs()
    lifeline = int(Path(run_dir, "lifeline.pid").read_text())
    helpers = [p for p, name in process_tree(lifeline).items() if name in ("sh", "timeout", "head")]
    # the lifeline's helpers come and go every few seconds: some may be gone already
    for pid in [lifeline] + helpers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.kill()
    proc.wait()
    assert fault_lab.leftover_processes() and len(fault_lab.leftover_dirs()) == 1, "the crashed run's server is still there"
    again = cli("run", "ex5", "--via", "tunnel", "--hosts", str(fault_lab.hosts_file), "--out", "later", "--json")
    assert again.code == 0, again.stderr
    assert "removed 1 run folder(s) that crashed earlier runs left" in again.stderr
    assert len(again.json()["cleaned_stale_runs"]) == 1
    assert fault_lab.leftover_dirs() == [] and fault_lab.leftover_processes() == []


def test_a_live_run_is_never_cleaned_by_another(fault_lab, tmp_path, fake_home, cli):
    proc = _start(fault_lab, tmp_path, fake_home, "ex5", fault="client-runs")
    try:
        _wait_for(tmp_path / "stderr.txt", "fault point client-runs")
        (live,) = fault_lab.leftover_dirs()
        other = cli("run", "ex5", "--hosts", str(fault_lab.hosts_file), "--out", "other", "--json")
        assert other.code == 0, other.stderr
        assert "cleaned_stale_runs" not in other.json()
        assert fault_lab.leftover_dirs() == [live]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    assert fault_lab.leftover_dirs() == []


def _custom(tmp_path: Path, server_c: str = "", manifest_changes=()) -> Path:
    d = copy_payload("ex5", tmp_path / "payload")
    if server_c:
        (d / "server.c").write_text(server_c)
    text = (d / "payload.yaml").read_text()
    for old, new in manifest_changes:
        assert old in text
        text = text.replace(old, new)
    (d / "payload.yaml").write_text(text)
    return d


CRASHING_SERVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    if (argc != 2) return 2;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET; a.sin_port = htons((unsigned short)atoi(argv[1])); a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 8) != 0) { perror("server"); return 1; }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("listening, will crash on the first connection\n");
    int c = accept(s, NULL, NULL);
    printf("accepted %d, crashing now\n", c);
    volatile int *p = NULL;
    return *p;
}
"""


def test_server_that_crashes(fault_lab, tmp_path, fake_home):
    d = _custom(tmp_path, CRASHING_SERVER)
    code = _start(fault_lab, tmp_path, fake_home, str(d)).wait(timeout=90)
    record = _common_checks(fault_lab, tmp_path, code, 6)
    run_dir = Path(record["run_dir"])
    log = (run_dir / "server.log").read_text()
    assert "crashing now" in log and "killed by SIGSEGV" in log
    assert "SIGSEGV" in record["error"]["message"] or record["server"]["exit_code"] == 139
    assert fault_lab.leftover_dirs() == []


def test_server_that_never_exits(fault_lab, tmp_path, fake_home):
    d = _custom(tmp_path, manifest_changes=[("- ./client {ip} {port} quit", "- ./client {ip} {port}")])
    code = _start(fault_lab, tmp_path, fake_home, str(d)).wait(timeout=90)
    record = _common_checks(fault_lab, tmp_path, code, 6)
    assert "still running" in record["error"]["message"]
    assert "stopped by sockdeploy" in (Path(record["run_dir"]) / "server.log").read_text()
    assert fault_lab.leftover_dirs() == []


def test_client_that_hangs(fault_lab, tmp_path, fake_home):
    token = f"3{abs(hash(str(tmp_path))) % 10**6:06d}"
    d = _custom(tmp_path, manifest_changes=[("- ./client {ip} {port} quit", f"- sh -c 'echo stuck; sleep {token}'"),
                                             ("expect:", "  timeout: 3\nexpect:")])
    code = _start(fault_lab, tmp_path, fake_home, str(d)).wait(timeout=90)
    record = _common_checks(fault_lab, tmp_path, code, 6)
    assert "did not finish within 3 s" in record["error"]["message"]
    assert "stuck" in (Path(record["run_dir"]) / "client-2.log").read_text()
    assert record["clients"][1]["timed_out"] is True
    assert subprocess.run(["pgrep", "-f", f"sleep {token}"], capture_output=True).returncode == 1
    assert fault_lab.leftover_dirs() == []


def test_server_that_never_listens(fault_lab, tmp_path, fake_home):
    d = _custom(tmp_path, manifest_changes=[("run: ./server {port}", "run: sleep 300 {port}")])
    code = _start(fault_lab, tmp_path, fake_home, str(d)).wait(timeout=90)
    record = _common_checks(fault_lab, tmp_path, code, 6)
    assert "did not start listening within 10 s" in record["error"]["message"]
    assert not (Path(record["run_dir"]) / "client-1.log").exists(), "no client runs against a server that is not there"
    assert fault_lab.leftover_dirs() == []


def test_silent_link_is_detected_and_the_server_stopped(fault_lab, tmp_path, fake_home):
    """The link goes silent (no reset, as when the Pi loses power or Wi-Fi drops): sshd's side is frozen."""
    from tests.conftest import process_tree

    proc = _start(fault_lab, tmp_path, fake_home, "ex5", fault="client-runs")
    _wait_for(tmp_path / "stderr.txt", "fault point client-runs")
    frozen = [p for p, name in process_tree(fault_lab.proc.pid).items() if name == "sshd"]
    assert frozen
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    started = time.monotonic()
    try:
        code = proc.wait(timeout=90)
        took = time.monotonic() - started
        assert code == 3, (tmp_path / "stderr.txt").read_text()
        assert took < 45, f"the dead link took {took:.0f} s to notice"
        assert "no answer to keepalives" in (tmp_path / "stderr.txt").read_text()
        # the lifeline hears nothing either: the server host stops the server on its own
        _nothing_runs_within_30s(fault_lab)
        deadline = time.monotonic() + 30
        while fault_lab.leftover_dirs() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert fault_lab.leftover_dirs() == []
    finally:
        for pid in frozen:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    record = json.loads((_run_dir(tmp_path) / "run.json").read_text())
    assert record["error"]["exit_code"] == 3
    assert (_run_dir(tmp_path) / "client-1.log").read_text().count("sent: ") == 10
