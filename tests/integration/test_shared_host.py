"""A shared login host: every process a run starts is found and stopped, and only the server's own socket counts.

Real CLI, real sshd on loopback. The run's tag (SOCKDEPLOY_RUN) is what finds a
daemon that left its process group; the readiness check reads the owners of
the sockets, so a program that is not the run's, holding the port, is named
for what it is.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import List, Optional

import pytest

from tests.conftest import REPO, only_run_dir

pytestmark = pytest.mark.integration

# A server that ignores the port it is given (its own is written in), leaves a daemon behind that keeps its
# output open and works from /, serves one connection, and ends.
SERVER = """\
import os, socket, sys, time
flags = sys.argv[2]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.chdir("/")
        open(os.path.join(flags, "server-daemon.pid"), "w").write(str(os.getpid()))
        time.sleep(300)
    os._exit(0)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", WRITTEN_PORT)); s.listen()
print("listening", flush=True)
c, _ = s.accept(); print("got", c.recv(100).decode(), flush=True); c.sendall(b"ok"); c.close()
"""

# A client that leaves a child in a session of its own before it ends.
CLIENT = """\
import os, socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2]))); c.sendall(b"hello"); print("reply", c.recv(100).decode())
if os.fork() == 0:
    os.setsid()
    open(os.path.join(sys.argv[3], "client-child.pid"), "w").write(str(os.getpid()))
    time.sleep(300)
"""


def _free_course_port() -> int:
    for port in range(34567, 40000):
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
                return port
            except OSError:
                continue
    raise AssertionError("no free port")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_daemons_of_server_and_client_are_stopped_and_the_servers_real_port_is_used(cli, tmp_path, clean_lab):
    flags = tmp_path / "flags"
    flags.mkdir()
    written = _free_course_port()
    d = tmp_path / "daemons"
    d.mkdir()
    (d / "server.py").write_text(SERVER.replace("WRITTEN_PORT", str(written)))
    (d / "client.py").write_text(CLIENT)
    (d / "payload.yaml").write_text(
        f"server:\n  run: python3 server.py {{port}} {flags}\n"
        f"client:\n  runs:\n    - python3 client.py {{ip}} {{port}} {flags}\n  timeout: 20\nexpect:\n  server_exits: true\n")
    began = time.monotonic()
    res = cli("run", str(d), "--hosts", str(clean_lab.hosts_file), "--via", "tunnel", "--out", "runs")
    took = time.monotonic() - began
    pids = [int((flags / name).read_text()) for name in ("server-daemon.pid", "client-child.pid")]
    try:
        assert res.code == 0, res.stderr
        record = json.loads((only_run_dir(tmp_path / "runs") / "run.json").read_text())
        # the port the server really listens on is used for the tunnel, said in one line, and kept
        given = record["server"]["port_given"]
        assert record["server"]["port"] == written != given and record["tunnel"]["remote"].startswith(f"127.0.0.1:{written} ")
        sentence = f"the server listens on port {written} (written in its source), not {given}; using {written}"
        assert record["notes"] == [sentence] and sentence in res.stderr
        assert took < 10  # found once it listened, not after the 10 s readiness wait
        # both leftovers were found by the run's tag, stopped, and named
        assert not any(_alive(pid) for pid in pids)
        strays = record["stray_processes"]
        assert len(strays) == 2, strays
        assert strays[0].startswith("your client (run 1) left a background process on ") and f"(pid {pids[1]}, " in strays[0]
        assert strays[1].startswith("your server left a background process on ") and f"(pid {pids[0]}, " in strays[1]
        assert all(s.endswith("; it was stopped") for s in strays)
        transcript = (Path(record["run_dir"]) / "transcript.md").read_text()
        assert "## Processes sockdeploy stopped" in transcript and strays[1] in transcript
        assert "got hello" in (Path(record["run_dir"]) / "server.log").read_text()
    finally:
        for pid in pids:
            try:
                os.kill(pid, 9)
            except OSError:
                pass


# -- another program holding the port ----------------------------------------------------------------

# Waits before the server starts until the test has seen the port it is given (and, the first time, has
# had another program take it).
GATE = """\
touch "$2/asked-$1"
i=0
while [ ! -e "$2/go-$1" ] && [ "$i" -lt 500 ]; do sleep 0.02; i=$((i+1)); done
"""
HOLDER = ("import socket, sys, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
          "s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(); print('held', flush=True); time.sleep(120)")
PLAIN_SERVER = """\
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen()
c, _ = s.accept(); print("got", c.recv(100).decode(), flush=True); c.sendall(b"ok"); c.close()
"""


def _as_another_user() -> List[str]:
    """Run the holder as nobody when the tests run as root (a real other user of the login host)."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() == 0 and setpriv and Path("/usr/bin/python3").exists():
        return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3"]
    return [sys.executable]


class Gatekeeper:
    """Let each server start through; before the first, have another program take the port it is given."""

    def __init__(self, flags: Path) -> None:
        self.flags = flags
        self.held: Optional[int] = None
        self.holder: Optional[subprocess.Popen] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        opened = set()
        while not self._stop.wait(0.01):
            for asked in self.flags.glob("asked-*"):
                port = int(asked.name.split("-", 1)[1])
                if port in opened:
                    continue
                if self.held is None:
                    self.held = port
                    self.holder = subprocess.Popen(_as_another_user() + ["-c", HOLDER, str(port)], stdout=subprocess.PIPE,
                                                   stdin=subprocess.DEVNULL, text=True, cwd="/")
                    assert self.holder.stdout is not None and self.holder.stdout.readline() == "held\n"
                opened.add(port)
                (self.flags / f"go-{port}").touch()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        if self.holder is not None:
            self.holder.kill()
            self.holder.wait()


@pytest.fixture
def gated(tmp_path):
    flags = tmp_path / "flags"
    flags.mkdir()
    d = tmp_path / "gated"
    d.mkdir()
    (d / "gate.sh").write_text(GATE)
    (d / "server.py").write_text(PLAIN_SERVER)
    (d / "client.py").write_text(CLIENT.split("if os.fork()")[0])
    (d / "payload.yaml").write_text(
        f"server:\n  run: sh gate.sh {{port}} {flags} && exec python3 server.py {{port}}\n"
        "client:\n  runs:\n    - python3 client.py {ip} {port}\n  timeout: 20\nexpect:\n  server_exits: true\n")
    keeper = Gatekeeper(flags)
    yield d, keeper
    keeper.close()


def test_a_port_another_program_holds_is_not_our_server(cli, tmp_path, clean_lab, gated):
    d, keeper = gated
    pinned = _free_course_port()
    res = cli("run", str(d), "--hosts", str(clean_lab.hosts_file), "--port", str(pinned), "--out", "runs")
    assert keeper.held == pinned
    assert res.code == 5, res.stderr
    assert f"port {pinned} is taken on the login host " in res.stderr and "(by another user?)" in res.stderr
    record = json.loads((only_run_dir(tmp_path / "runs") / "run.json").read_text())
    assert record["ok"] is False and record["error"]["kind"] == "network"
    assert "is taken on the login host" in record["error"]["message"]
    assert record["clients"] == []  # no client ever talked to the other program


def test_a_chosen_port_another_program_holds_is_left_for_another(cli, tmp_path, clean_lab, gated):
    d, keeper = gated
    res = cli("run", str(d), "--hosts", str(clean_lab.hosts_file), "--out", "runs")
    assert res.code == 0, res.stderr
    assert keeper.held is not None and f"port {keeper.held} is taken on " in res.stderr and "trying another" in res.stderr
    record = json.loads((only_run_dir(tmp_path / "runs") / "run.json").read_text())
    assert record["ok"] and record["server"]["port"] != keeper.held
    assert "got hello" in (Path(record["run_dir"]) / "server.log").read_text()


def test_a_local_exercise_killed_with_kill_9_leaves_nothing(tmp_path, fake_home):
    """Exercises 1-4 run the server here: this machine's watchdog stops it when sockdeploy is killed outright."""
    # short: the AF_UNIX socket path lives under it (108 bytes at most; pytest's folders can be long)
    temp = Path(tempfile.mkdtemp(prefix="sd-", dir="/tmp"))
    env = {"HOME": str(fake_home), "PYTHONPATH": str(REPO), "PATH": os.environ["PATH"], "TMPDIR": str(temp),
           "SOCKDEPLOY_FAULT_POINT": "client-runs"}  # pause after the first client run: the server still serves
    with open(tmp_path / "stderr.txt", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "sockdeploy", "run", "ex3", "--out", str(tmp_path / "runs")],
                                cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while "fault point client-runs" not in (tmp_path / "stderr.txt").read_text():
            assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / "stderr.txt").read_text()
            time.sleep(0.05)
        (folder,) = temp.glob("sockdeploy-*")
        server = int((folder / "server.pid").read_text())
        assert _alive(server)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while (folder.exists() or _alive(server)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = folder.exists()
    shutil.rmtree(temp, ignore_errors=True)
    assert not _alive(server) and not left


@pytest.mark.skipif(os.geteuid() != 0, reason="a PID namespace of its own needs root (unshare --pid)")
def test_a_run_on_another_machine_of_the_pool_is_never_cleaned_as_crashed(tmp_path, fake_home, cli):
    """Two login hosts share one home (a pool behind one name): host B cannot see host A's processes,
    so A's live run folder must not look crashed to B (it is B's by neither machine nor heartbeat)."""
    import yaml

    from sockdeploy.lab.loopback import LoopbackLab

    unshared = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"]
    with LoopbackLab(tmp_path / "a") as host_a, LoopbackLab(tmp_path / "b", prefix=unshared) as host_b:
        shared = yaml.safe_load(host_b.hosts_file.read_text())
        shared["server"]["workdir"] = str(host_a.workdir)  # B's home is A's: the same work folder
        hosts_b = tmp_path / "hosts-b.yaml"
        hosts_b.write_text(yaml.safe_dump(shared))
        env = {"HOME": str(fake_home), "PYTHONPATH": str(REPO), "PATH": os.environ["PATH"],
               "SOCKDEPLOY_FAULT_POINT": "client-runs"}
        with open(tmp_path / "a.txt", "w") as err:
            run_a = subprocess.Popen([sys.executable, "-m", "sockdeploy", "run", "ex5", "--via", "tunnel", "--hosts",
                                      str(host_a.hosts_file), "--out", str(tmp_path / "runs-a")], cwd=tmp_path, env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 60
            while "fault point client-runs" not in (tmp_path / "a.txt").read_text():
                assert time.monotonic() < deadline and run_a.poll() is None, (tmp_path / "a.txt").read_text()
                time.sleep(0.05)
            (live,) = host_a.leftover_dirs()
            on_b = cli("run", "ex5", "--via", "tunnel", "--hosts", str(hosts_b), "--out", "runs-b", "--json")
            assert on_b.code == 0, on_b.stderr
            assert "cleaned_stale_runs" not in on_b.json(), "B removed A's live run"
            assert host_a.leftover_dirs() == [live]
        finally:
            run_a.send_signal(signal.SIGINT)
            code = run_a.wait(timeout=60)
        assert code == 130 and host_a.leftover_dirs() == []
        record = json.loads(only_run_dir(tmp_path / "runs-a").joinpath("run.json").read_text())
        assert record["error"]["exit_code"] == 130  # A ended as interrupted, not with its folder gone under it
