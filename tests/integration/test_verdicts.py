"""True verdicts, fast: a connection cut mid client run, a watchdog that acted while sockdeploy was stopped
(Ctrl-Z), a tunnel that cannot reach the server, and login shells that read stdin or print. Each drives the
real CLI against a lab sshd whose user's HOME (and so ~/.bashrc) is a folder of the test's.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional, Sequence

import pytest

from sockdeploy.lab.loopback import LoopbackLab
from tests.conftest import REPO, copy_payload, kill_ssh_connections

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shell_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab user's HOME on the login host: the tests write its .bashrc."""
    home = tmp_path_factory.mktemp("loginhome")
    (home / ".bashrc").write_text("")
    return home


@pytest.fixture(scope="module")
def vlab(tmp_path_factory: pytest.TempPathFactory, shell_home: Path):
    # sshd sets HOME for the session: bash then reads this folder's .bashrc, not the real one
    with LoopbackLab(tmp_path_factory.mktemp("verdictlab"), extra_sshd_config=f"SetEnv HOME={shell_home}\n") as lab:
        yield lab


def _start(lab: LoopbackLab, tmp_path: Path, home: Path, target: str, env: Optional[Dict[str, str]] = None,
           ) -> subprocess.Popen:
    full = {"HOME": str(home), "PYTHONPATH": str(REPO), "PATH": os.environ["PATH"], **(env or {})}
    err = open(tmp_path / "stderr.txt", "w")
    return subprocess.Popen([sys.executable, "-m", "sockdeploy", "run", target, "--via", "tunnel", "--hosts",
                             str(lab.hosts_file), "--out", str(tmp_path / "runs")],
                            cwd=tmp_path, env=full, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)


def _wait_for(path_glob: str, base: Path, text: str, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in base.glob(path_glob):
            if text in path.read_text(errors="replace"):
                return path
        time.sleep(0.02)
    raise AssertionError(f"never saw {text!r} in {path_glob}; stderr: {(base / 'stderr.txt').read_text()}")


def _record(tmp_path: Path) -> dict:
    (run_dir,) = list((tmp_path / "runs").iterdir())
    return json.loads((run_dir / "run.json").read_text())


def _nothing_left(lab: LoopbackLab, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while (lab.leftover_processes() or lab.leftover_dirs()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lab.leftover_processes() == [] and lab.leftover_dirs() == []


def _payload(tmp_path: Path, changes: Sequence[tuple], server_changes: Sequence[tuple] = ()) -> Path:
    d = copy_payload("ex5", tmp_path / "payload")
    for name, edits in (("payload.yaml", changes), ("server.c", server_changes)):
        text = (d / name).read_text()
        for old, new in edits:
            assert old in text
            text = text.replace(old, new)
        (d / name).write_text(text)
    return d


def test_a_connection_cut_mid_client_run_ends_the_run_within_a_second(vlab, tmp_path, fake_home):
    """sshd killed while a client runs: exit 3 naming the lost connection at once, not the client's 30 s
    timeout; the client stopped with its output kept; no later client run starts."""
    token = f"4{abs(hash(str(tmp_path))) % 10**6:06d}"
    d = _payload(tmp_path, [("- ./client {ip} {port}\n", f"- sh -c 'echo partial-before-the-cut; exec sleep {token}'\n")])
    proc = _start(vlab, tmp_path, fake_home, str(d))
    log = _wait_for("runs/*/client-1.log", tmp_path, "partial-before-the-cut")
    cut = time.monotonic()
    assert kill_ssh_connections(vlab) >= 1
    code = proc.wait(timeout=60)
    took = time.monotonic() - cut
    stderr = (tmp_path / "stderr.txt").read_text()
    assert code == 3, stderr
    assert took < 1.5, f"the lost connection took {took:.2f} s to end the run"
    assert "Traceback" not in stderr and "did not finish within" not in stderr
    record = _record(tmp_path)
    assert record["ok"] is False and record["error"]["kind"] == "connection-lost"
    assert record["error"]["message"].startswith("the SSH connection to localhost was lost (")
    text = log.read_text()
    assert "partial-before-the-cut" in text and "stopped by sockdeploy: the SSH connection" in text
    assert "partial-before-the-cut" in (log.parent / "transcript.md").read_text()
    assert not (log.parent / "client-2.log").exists(), "a client run started after the connection was lost"
    assert len(record["clients"]) == 1
    assert subprocess.run(["pgrep", "-f", f"sleep {token}"], capture_output=True).returncode == 1
    _nothing_left(vlab)  # the login host's watchdog acts on the end of its channel


def test_stopped_past_the_watchdog_window_names_the_watchdog(vlab, tmp_path, fake_home):
    """Ctrl-Z longer than the watchdog's window, then fg: the watchdog's stop is the verdict, at once."""
    env = {"SOCKDEPLOY_FAULT_POINT": "client-runs", "SOCKDEPLOY_WATCHDOG_SILENCE": "3"}
    proc = _start(vlab, tmp_path, fake_home, "ex5", env)
    _wait_for("stderr.txt", tmp_path, "fault point client-runs")
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 20
        while vlab.leftover_dirs() and time.monotonic() < deadline:  # the watchdog acts on the silence
            time.sleep(0.1)
        assert vlab.leftover_dirs() == [], "the watchdog did not act while sockdeploy was stopped"
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    resumed = time.monotonic()
    code = proc.wait(timeout=60)
    took = time.monotonic() - resumed
    stderr = (tmp_path / "stderr.txt").read_text()
    assert code == 3, stderr
    assert took < 3, f"the verdict took {took:.1f} s after the stop ended"
    record = _record(tmp_path)
    message = record["error"]["message"]
    assert record["ok"] is False and record["error"]["kind"] == "watchdog", message
    assert message.startswith("sockdeploy was stopped for ") and "the watchdog on localhost stopped the server" in message
    assert "no heartbeat for" in message and "INADDR_ANY" not in stderr
    assert not (Path(record["run_dir"]) / "client-2.log").exists(), "a client run started after the watchdog acted"
    _nothing_left(vlab)


def test_a_server_the_tunnel_cannot_reach_is_named_with_where_it_listens(vlab, tmp_path, fake_home, cli):
    """A server bound to another address only: the tunnel's refusal is the verdict, not 'still running'."""
    d = _payload(tmp_path, [], [("htonl(INADDR_ANY)", 'inet_addr("127.0.0.2")')])
    started = time.monotonic()
    res = cli("run", str(d), "--via", "tunnel", "--hosts", str(vlab.hosts_file), "--out", "runs", "--json")
    took = time.monotonic() - started
    assert res.code == 5, res.stderr
    record = res.json()
    port = record["server"]["port"]
    # sshd's own reason for the failed connect (refused, as a rule)
    assert re.fullmatch(f"the tunnel could not reach 127.0.0.1:{port} on localhost: connection [a-z ]+; "
                        f"the server listens on 127.0.0.2:{port} only", record["error"]["message"]), record["error"]
    assert "still running" not in res.stderr and "INADDR_ANY" in record["error"]["hint"]
    assert took < 10, "the run waited for a server the clients never reached"
    _nothing_left(vlab)


def test_login_shells_that_read_stdin_or_print_never_hang_a_run(vlab, shell_home, cli):
    """A .bashrc that prints and reads stdin with a time limit: the run works, its output is not the programs'.
    One that waits for input for ever: a clear error within the first-answer limit, not a hang."""
    if not pwd.getpwuid(os.getuid()).pw_shell.endswith("/bash"):  # sshd runs commands with the login shell
        pytest.skip("the login shell is not bash, which alone reads .bashrc for sshd's commands")
    bashrc = shell_home / ".bashrc"
    try:
        bashrc.write_text('echo "Welcome to the login host"\nread -t 1 line\necho "read: $line"\n')
        res = cli("run", "ex5", "--via", "tunnel", "--hosts", str(vlab.hosts_file), "--out", "runs", "--json",
                  timeout=40)
        assert res.code == 0, res.stderr
        run_dir = Path(res.json()["run_dir"])
        assert "Welcome" not in (run_dir / "server.log").read_text()
        assert "Welcome" not in (run_dir / "transcript.md").read_text()
        _nothing_left(vlab)
        bashrc.write_text('echo "Welcome to the login host"\nread line\n')
        started = time.monotonic()
        res = cli("run", "ex5", "--via", "tunnel", "--hosts", str(vlab.hosts_file), "--out", "runs2", "--json",
                  env={"SOCKDEPLOY_FIRST_ANSWER": "2"}, timeout=40)
        assert res.code == 3, res.stderr
        assert time.monotonic() - started < 15
        assert "did not answer within 2 s" in res.stderr and "a .bashrc" in res.stderr and "Traceback" not in res.stderr
        assert res.json()["error"]["kind"] == "login-shell"
    finally:
        bashrc.write_text("")
    _nothing_left(vlab)
