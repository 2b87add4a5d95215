"""Shared fixtures. Integration tests drive the real CLI against a real sshd on loopback.

Every CLI call gets HOME pointed at a fresh directory, so no test reads the
developer's ~/.ssh.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import pytest

REPO = Path(__file__).resolve().parent.parent
PAYLOADS = REPO / "payloads"


def _sshd_available() -> bool:
    from sockdeploy.errors import LabError
    from sockdeploy.lab.loopback import find_sshd

    try:
        find_sshd()
        return True
    except LabError:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    if _sshd_available():
        return
    if os.environ.get("SOCKDEPLOY_REQUIRE_LAB"):
        raise pytest.UsageError("SOCKDEPLOY_REQUIRE_LAB is set but sshd is missing: install openssh-server")
    skip = pytest.mark.skip(reason="OpenSSH sshd is not installed (apt-get install openssh-server)")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)


@pytest.fixture
def fake_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def cli(tmp_path: Path, fake_home: Path):
    """Run `python -m sockdeploy ARGS` in tmp_path with HOME=fake_home."""

    def call(*args: str, timeout: float = 180, env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None) -> CliResult:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SSH_", "XDG_CONFIG", "SOCKDEPLOY_HOSTS"))}
        full_env.update(HOME=str(fake_home), PYTHONPATH=str(REPO), COLUMNS="200")  # tables: whole cells
        full_env.update(env or {})
        proc = subprocess.run([sys.executable, "-m", "sockdeploy", *args], cwd=cwd or tmp_path, env=full_env,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return call


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    from sockdeploy.lab.loopback import LoopbackLab

    with LoopbackLab(tmp_path_factory.mktemp("lab")) as running:
        yield running


@pytest.fixture
def clean_lab(lab):
    """The lab, checked after the test: no process and no run directory left on the server host."""
    yield lab
    assert lab.leftover_processes() == [], "a server process outlived its run"
    assert lab.leftover_dirs() == [], "a remote run directory was left behind"


def only_run_dir(out: Path) -> Path:
    dirs = [p for p in out.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def code_blocks(md: str) -> List[str]:
    """Contents of the fenced blocks, parsed as CommonMark does: a block ends at a fence at least as long."""
    blocks, lines, i = [], md.split("\n"), 0
    while i < len(lines):
        m = re.match(r"^(`{3,})[^`]*$", lines[i])
        if not m:
            i += 1
            continue
        fence, body = m.group(1), []
        i += 1
        while i < len(lines) and not re.fullmatch(re.escape(fence) + "`*", lines[i]):
            body.append(lines[i])
            i += 1
        blocks.append("\n".join(body))
        i += 1
    return blocks


def copy_payload(name: str, dest: Path) -> Path:
    shutil.copytree(PAYLOADS / name, dest)
    return dest


def process_tree(root: int) -> Dict[int, str]:
    """Return {pid: name} for every descendant of `root`."""
    parents, names = {}, {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = open(f"/proc/{pid}/stat").read()
            except OSError:
                continue
            parents[int(pid)] = int(stat.rsplit(")", 1)[1].split()[1])
            names[int(pid)] = stat[stat.index("(") + 1:stat.rindex(")")]
    tree, frontier = set(), {root}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - tree
        tree |= frontier
    return {p: names[p] for p in tree}


def kill_ssh_connections(lab) -> int:
    """Kill the sshd processes serving the lab's connections: the link dies from the server side.

    Their children (the lifeline, the server) are left alone, as when a real connection drops.
    """
    import signal as _signal

    victims = [p for p, name in process_tree(lab.proc.pid).items() if name == "sshd"]
    for pid in victims:
        try:
            os.kill(pid, _signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(victims)


# -- the campus lab (root): a Pi namespace behind a firewall, a login host, a VPN gateway --------

@pytest.fixture(scope="session")
def campus(tmp_path_factory):
    from sockdeploy.lab.campus import CampusLab, campus_available

    ok, reason = campus_available()
    if not ok:
        unavailable(f"the campus lab is unavailable: {reason}")
    with CampusLab(tmp_path_factory.mktemp("campus")) as lab:
        yield lab


@pytest.fixture
def on_pi(campus, tmp_path, fake_home):
    """Run the real CLI inside the home namespace, with HOME pointed at an empty folder."""

    def call(*args: str, timeout: float = 120):
        env = {"HOME": str(fake_home), "PYTHONPATH": str(REPO), "PATH": os.environ["PATH"],
               "XDG_STATE_HOME": str(fake_home / "state")}
        start = time.monotonic()
        proc = campus.home([sys.executable, "-m", "sockdeploy", *args], env=env, cwd=tmp_path, timeout=timeout)
        proc.seconds = time.monotonic() - start
        return proc

    return call


@pytest.fixture
def no_vpn(campus):
    if campus.vpn_is_up():
        campus.vpn_down()
    yield campus


@pytest.fixture
def with_vpn(campus):
    if not campus.vpn_is_up():
        campus.vpn_up()
    yield campus
    campus.vpn_down()




# -- driving a program through a pseudo-terminal, as a person at a keyboard -------------------

Reply = Callable[[], str]


def unavailable(reason: str) -> None:
    """Skip, or fail when the labs are required (CI sets SOCKDEPLOY_REQUIRE_LAB)."""
    if os.environ.get("SOCKDEPLOY_REQUIRE_LAB"):
        pytest.fail(f"SOCKDEPLOY_REQUIRE_LAB is set but {reason}")
    pytest.skip(reason)


def drive_pty(argv: Sequence[str], env: Dict[str, str], cwd: Path, replies: List[Tuple[str, Reply]],
              timeout: float = 120) -> Tuple[int, str]:
    """Run argv on a pseudo-terminal, answering each prompt in turn; return (exit code, everything it showed).

    A reply is computed only when its prompt shows, so a TOTP code is fresh when sent.
    A process still running at the deadline is killed and reported as -9.
    """
    pid, fd = pty.fork()
    if pid == 0:  # child: the terminal is its stdin, stdout, stderr and /dev/tty
        try:
            os.chdir(cwd)
            os.execve(argv[0], list(argv), env)
        finally:
            os._exit(127)
    seen = ""
    waiting = list(replies)
    searched_from = 0  # each prompt must appear after the previous answer
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk.decode(errors="replace")
            if waiting and waiting[0][0] in seen[searched_from:]:
                _, reply = waiting.pop(0)
                searched_from = len(seen)
                os.write(fd, reply().encode() + b"\n")
        else:
            os.kill(pid, signal.SIGKILL)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), seen


