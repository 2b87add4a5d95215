#!/usr/bin/env python3
"""The sockdeploy benchmark (issue 7): exercise 5 end to end over a WAN-like link, four ways.

Run as root from the repository (it starts its own campus lab):

    sudo /path/to/venv/bin/python bench/run.py            # 5 repetitions, writes bench/results.md
    sudo /path/to/venv/bin/python bench/run.py --reps 3 --skip-ansible

See bench/README.md for what is measured and how. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sockdeploy.lab.campus import LINK_DEVICE, SERVER_IP, CampusLab  # noqa: E402
from sockdeploy.spec.payload import bundled_dir  # noqa: E402

IP = shutil.which("ip") or "/usr/sbin/ip"
ONE_WAY_MS = 20
ALIAS = {"wan": "login", "lan": "login-lan"}  # Host entries in the bench's ssh_config  # each direction; 40 ms round trip
PROXY_PORT = 22  # the delay proxy listens on 127.0.0.1:22 inside the Pi's namespace
ANSIBLE_VENV = Path("/tmp/sockdeploy-bench-ansible")
METHODS = ("sockdeploy", "manual", "mux", "ansible", "ansible-pipelining")
LABELS = {
    "sockdeploy": "1. sockdeploy `run ex5 --via tunnel`",
    "manual": "2. manual procedure (ssh/scp per step, `ssh -f -N -L`)",
    "mux": "3. manual with ControlMaster/ControlPersist",
    "ansible": "4. Ansible playbook (ansible-core defaults)",
    "ansible-pipelining": "4b. Ansible playbook, `pipelining = True`",
}
STEP_LINE = re.compile(r"^\s+(?P<label>.+): (?P<mark>ok|failed) \((?P<secs>\d+\.\d+) s\)$")


def log(msg: str) -> None:
    """Progress on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def git_describe() -> str:
    """The commit the working tree is at, and whether it has local changes to sockdeploy/."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "sockdeploy"],
                               capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "version " + __import__("sockdeploy").__version__ + " (not a git checkout)"
    return f"commit {head}" + (" with uncommitted changes to sockdeploy/" if dirty else "")


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class RunResult:
    """One repetition of one method."""

    method: str
    wall: float
    ok: bool
    logins: int
    sessions: int
    connections: int = 0
    turns: Optional[int] = None
    after_login: Optional[float] = None
    steps: Dict[str, float] = field(default_factory=dict)
    note: str = ""


class Interrupted(Exception):
    """SIGTERM arrived."""


class Bench:
    """Owns the lab, the link emulation and every process the benchmark starts."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="sdbench-"))
        self.tmp.chmod(0o755)
        self.lab: Optional[CampusLab] = None
        self.link_mode = ""
        self.link_note = ""
        self.proxy: Optional[subprocess.Popen] = None
        self.events = self.tmp / "proxy-events.jsonl"
        self.procs: List[subprocess.Popen] = []  # background processes to stop at the end
        self.state_home = self.tmp / "state"  # XDG_STATE_HOME for sockdeploy's tunnels
        self.used_ports: set = set()
        self.login_turns: Dict[str, float] = {}
        self.ansible_reason = ""
        self.ansible_version = ""
        self.python = sys.executable

    # --- plumbing -------------------------------------------------------------------

    def home_argv(self, argv: Sequence[str], env: Optional[Dict[str, str]] = None) -> List[str]:
        """argv run on the Pi (the home namespace) with extra environment."""
        assert self.lab is not None
        pairs = [f"{k}={v}" for k, v in (env or {}).items()]
        return [IP, "netns", "exec", self.lab.home_ns, "env", *pairs, *argv]

    def home(self, argv: Sequence[str], env: Optional[Dict[str, str]] = None, timeout: float = 300,
             cwd: Optional[Path] = None) -> Tuple[float, subprocess.CompletedProcess]:
        """Run on the Pi; return (wall seconds, result)."""
        start = time.perf_counter()
        res = subprocess.run(self.home_argv(argv, env), capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL, cwd=cwd)
        return time.perf_counter() - start, res

    def free_port(self) -> int:
        while True:
            port = random.randint(30000, 39999)
            if port not in self.used_ports:
                self.used_ports.add(port)
                return port

    def sshd_log(self) -> str:
        assert self.lab is not None and self.lab.sshd is not None
        return self.lab.sshd.log_file.read_text(errors="replace")

    def counters(self) -> Tuple[int, int, int]:
        """(logins, sessions, proxy event offset) right now."""
        assert self.lab is not None
        text = self.sshd_log()
        sessions = text.count("Starting session:")
        offset = self.events.stat().st_size if self.events.exists() else 0
        return self.lab.login_count(), sessions, offset

    def proxy_connections(self, offset: int, timeout: float = 15) -> List[Dict[str, Any]]:
        """Wait until every connection opened since `offset` closed; return their close records."""
        if self.link_mode != "proxy":
            return []
        deadline = time.monotonic() + timeout
        while True:
            with open(self.events) as fh:
                fh.seek(offset)
                records = [json.loads(line) for line in fh if line.strip()]
            opened = {r["id"] for r in records if r["event"] == "open"}
            closed = [r for r in records if r["event"] == "close"]
            if opened <= {r["id"] for r in closed} or time.monotonic() > deadline:
                return [r for r in closed if r["id"] in opened]
            time.sleep(0.05)

    # --- set-up ---------------------------------------------------------------------

    def ensure_ansible(self) -> None:
        """Install ansible-core from PyPI into its own venv, or record why not."""
        if self.args.skip_ansible:
            self.ansible_reason = "skipped (--skip-ansible)"
            return
        venv = Path(self.args.ansible_venv)
        playbook = venv / "bin" / "ansible-playbook"
        if not playbook.exists():
            log(f"installing ansible-core into {venv} (pip, PyPI)")
            try:
                subprocess.run([self.python, "-m", "venv", str(venv)], check=True, capture_output=True, text=True)
                pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                                      "ansible-core"], capture_output=True, text=True, timeout=900)
            except (OSError, subprocess.SubprocessError) as exc:
                self.ansible_reason = f"not available: could not create the venv ({exc})"
                return
            if pip.returncode != 0 or not playbook.exists():
                last = (pip.stderr or pip.stdout).strip().splitlines()[-1:] or ["pip failed"]
                self.ansible_reason = f"not available: pip install ansible-core failed ({last[0][:160]})"
                return
        res = subprocess.run([str(playbook), "--version"], capture_output=True, text=True)
        m = re.search(r"core ([\d.]+)", res.stdout)
        self.ansible_version = m.group(1) if m else "?"

    def start_lab(self) -> None:
        log("starting the campus lab")
        self.lab = CampusLab(self.tmp / "lab")
        self.lab.start()
        assert self.lab.sshd is not None
        # the lab folder sits in our 0755 temp dir; sshd's user (root) works in server-home
        self.server_home = self.lab.sshd.workdir.parent
        (self.server_home / "manual").mkdir(mode=0o700, exist_ok=True)

    def setup_link(self) -> None:
        """Add ONE_WAY_MS each way: tc netem on both veth ends, else the delay proxy."""
        assert self.lab is not None
        tc = shutil.which("tc") or "/usr/sbin/tc"
        why = ""
        if not os.access(tc, os.X_OK):
            why = "tc is not installed"
        else:
            added: List[str] = []
            for run in (self.lab.campus, self.lab.home):
                res = run([tc, "qdisc", "add", "dev", LINK_DEVICE, "root", "netem", "delay", f"{ONE_WAY_MS}ms"])
                if res.returncode != 0:
                    why = (res.stderr or res.stdout).strip().splitlines()[0] if (res.stderr or res.stdout).strip() \
                        else f"tc exited {res.returncode}"
                    break
                added.append("x")
            if not why:
                self.link_mode = "netem"
                self.link_note = f"`tc qdisc add dev {LINK_DEVICE} root netem delay {ONE_WAY_MS}ms` on both veth ends"
                self.wan_addr = SERVER_IP
                return
            if added:  # campus worked, home did not: undo
                self.lab.campus([tc, "qdisc", "del", "dev", LINK_DEVICE, "root"])
        self.link_mode = "proxy"
        self.link_note = (f"tc netem is unavailable ({why}); bench/delayproxy.py on the Pi (127.0.0.1:{PROXY_PORT} -> "
                          f"{SERVER_IP}:22) delays every chunk {ONE_WAY_MS} ms each way and the connect by "
                          f"{ONE_WAY_MS} ms")
        self.wan_addr = "127.0.0.1"
        self.events.write_text("")
        self.proxy = self.lab.home_popen([self.python, str(BENCH / "delayproxy.py"), f"127.0.0.1:{PROXY_PORT}",
                                          f"{SERVER_IP}:22", str(ONE_WAY_MS), str(self.events)],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=open(self.tmp / "proxy.err", "w"), text=True)
        assert self.proxy.stdout is not None
        line = self.proxy.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"the delay proxy did not start: {(self.tmp / 'proxy.err').read_text()[-500:]}")

    def netem(self, on: bool) -> None:
        """Switch the netem delay on or off (netem mode only)."""
        if self.link_mode != "netem":
            return
        assert self.lab is not None
        tc = shutil.which("tc") or "/usr/sbin/tc"
        verb = "add" if on else "del"
        extra = ["netem", "delay", f"{ONE_WAY_MS}ms"] if on else []
        for run in (self.lab.campus, self.lab.home):
            run([tc, "qdisc", verb, "dev", LINK_DEVICE, "root", *extra])

    def write_configs(self) -> None:
        """known_hosts, ssh_config and hosts.yaml files for every method, WAN and LAN."""
        assert self.lab is not None and self.lab.sshd is not None
        sshd = self.lab.sshd
        key_type, key = sshd.host_key.with_suffix(".pub").read_text().split()[:2]
        self.known_hosts = self.tmp / "known_hosts"
        self.known_hosts.write_text(sshd.known_hosts.read_text() + f"127.0.0.1 {key_type} {key}\n")
        self.ssh_config = self.tmp / "ssh_config"
        common = (f"  Port 22\n  User {sshd.user}\n  IdentityFile {sshd.identity}\n  IdentitiesOnly yes\n"
                  f"  UserKnownHostsFile {self.known_hosts}\n  GlobalKnownHostsFile /dev/null\n"
                  "  StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 20\n")
        self.ssh_config.write_text(f"Host login\n  HostName {self.wan_addr}\n{common}\n"
                                   f"Host login-lan\n  HostName {SERVER_IP}\n{common}")
        self.ssh_config.chmod(0o600)
        self.hosts = {}
        for name, addr in (("wan", self.wan_addr), ("lan", SERVER_IP)):
            path = self.tmp / f"hosts-{name}.yaml"
            path.write_text(f"""# sockdeploy benchmark ({name})
server:
  host: {addr}
  port: 22
  user: {sshd.user}
  identity: {sshd.identity}
  known_hosts: {self.known_hosts}
  workdir: {sshd.workdir}
  ssh_config: none
  agent: false
client:
  host: local
network:
  via: tunnel
  ports: 30000-40000
""")
            self.hosts[name] = path
        # the exercise's sources and build commands, as the bundled payload has them
        import yaml

        ex5 = bundled_dir() / "ex5"
        manifest = yaml.safe_load((ex5 / "payload.yaml").read_text())
        self.server_build = manifest["server"]["build"]
        self.client_build = manifest["client"]["build"]
        self.src = self.tmp / "ex5-src"
        self.src.mkdir()
        for name in ("server.c", "client.c"):
            shutil.copy(ex5 / name, self.src / name)
        self.src.chmod(0o755)

    # --- round-trip calibration -----------------------------------------------------

    def calibrate_logins(self) -> None:
        """Measure the client turns one bare login costs, for OpenSSH and for sockdeploy (paramiko)."""
        if self.link_mode != "proxy":
            return
        openssh, paramiko_turns = [], []
        snippet = ("import sys,time; from sockdeploy.spec.hosts import load_config; "
                   "from sockdeploy.ssh.session import SshSession;"
                   "s=SshSession(load_config(sys.argv[1]).server); s.open(); time.sleep(1.0); s.close()")
        for _ in range(3):
            _, _, off = self.counters()
            proc = subprocess.Popen(self.home_argv(["ssh", "-F", str(self.ssh_config), "-N", "login"]),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.5)
            proc.terminate()
            proc.wait(timeout=10)
            openssh += [r["turns"] for r in self.proxy_connections(off)]
            _, _, off = self.counters()
            _, res = self.home([self.python, "-c", snippet, str(self.hosts["wan"])], cwd=REPO)
            if res.returncode == 0:
                paramiko_turns += [r["turns"] for r in self.proxy_connections(off)]
        self.login_turns = {"openssh": median(openssh), "paramiko": median(paramiko_turns)}
        log(f"client turns per bare login: {self.login_turns}")

    # --- the four methods -----------------------------------------------------------

    def rep_dirs(self, method: str, rep: str) -> Tuple[Path, Path]:
        work = self.tmp / "work" / f"{method}-{rep}"
        work.mkdir(parents=True)
        rdir = self.server_home / "manual" / f"{method}-{rep}"
        return work, rdir

    def script_env(self, work: Path, rdir: Path, port: int, cond: str) -> Dict[str, str]:
        return {"SSH_CONFIG": str(self.ssh_config), "HOST": ALIAS[cond], "SRC": str(self.src), "RDIR": str(rdir),
                "WORK": str(work), "PORT": str(port), "SERVER_BUILD": self.server_build,
                "CLIENT_BUILD": self.client_build, "CONTROL": str(work / "ctl"), "PATH": os.environ.get("PATH", "")}

    @staticmethod
    def outputs_ok(work: Path) -> Tuple[bool, str]:
        """Check the job was really done: both client logs and the server's log."""
        want = {"client-1.log": r"(?m)^done$", "client-2.log": r"(?m)^sent: 418 \(quit\)$",
                "server.log": r"(?m)^quit code 418 received, shutting down$"}
        for name, pattern in want.items():
            try:
                text = (work / name).read_text(errors="replace")
            except OSError:
                return False, f"{name} missing"
            if not re.search(pattern, text):
                return False, f"{name} lacks {pattern!r}"
        return True, ""

    def run_sockdeploy(self, work: Path, rdir: Path, port: int, cond: str) -> Tuple[float, bool, str, Dict[str, float]]:
        env = {"XDG_STATE_HOME": str(self.state_home), "HOME": str(self.tmp), "NO_COLOR": "1",
               "PATH": os.environ.get("PATH", "")}
        wall, res = self.home([self.python, "-m", "sockdeploy", "run", "ex5", "--via", "tunnel", "--verbose",
                               "--hosts", str(self.hosts[cond]), "--out", str(work / "runs")], env=env, cwd=REPO)
        steps: Dict[str, float] = {}
        for line in res.stderr.splitlines():
            m = STEP_LINE.match(line)
            if m:
                label = re.sub(r"\b[34]\d{4}\b", "PORT", m.group("label"))
                label = re.sub(r"\b(127\.0\.0\.1|10\.77\.\d+\.\d+)\b", "HOST", label)
                steps[label] = steps.get(label, 0.0) + float(m.group("secs"))
        runs = list((work / "runs").glob("*/run.json"))
        ok = res.returncode == 0 and bool(runs) and json.loads(runs[0].read_text()).get("ok") is True
        note = "" if ok else f"exit {res.returncode}: {res.stderr.strip()[-300:]}"
        return wall, ok, note, steps

    def run_script(self, script: str, work: Path, rdir: Path, port: int, cond: str) -> Tuple[float, bool, str, Dict[str, float]]:
        wall, res = self.home(["/bin/sh", str(BENCH / script)], env=self.script_env(work, rdir, port, cond), cwd=work)
        ok, why = self.outputs_ok(work)
        ok = ok and res.returncode == 0
        note = "" if ok else f"exit {res.returncode}: {why} {res.stderr.strip()[-300:]}"
        if (work / "ctl").exists():  # a failed mux run may leave its master: stop it
            self.home(["ssh", "-F", str(self.ssh_config), "-o", f"ControlPath={work / 'ctl'}", "-O", "exit", ALIAS[cond]])
        return wall, ok, note, {}

    def run_ansible(self, work: Path, rdir: Path, port: int, cond: str,
                    pipelining: bool) -> Tuple[float, bool, str, Dict[str, float]]:
        venv = Path(self.args.ansible_venv)
        cp_dir = Path(tempfile.mkdtemp(prefix="cp", dir="/tmp"))  # short: ControlPath must fit in sun_path
        ahome = self.tmp / "ansible-home"
        inventory = work / "inventory.ini"
        inventory.write_text(
            "[login_hosts]\n"
            f"login ansible_host={ALIAS[cond]} ansible_python_interpreter=/usr/bin/python3 "
            f"ansible_ssh_common_args='-F {self.ssh_config}'\n"
            "[pi_hosts]\n"
            f"pi ansible_connection=local ansible_python_interpreter={venv / 'bin' / 'python'}\n")
        extra = work / "vars.json"
        extra.write_text(json.dumps({"src": str(self.src), "rdir": str(rdir), "work": str(work), "port": port,
                                     "ssh_config": str(self.ssh_config), "tunnel_host": ALIAS[cond],
                                     "server_build": self.server_build,
                                     "client_build": self.client_build}))
        env = {"ANSIBLE_HOME": str(ahome), "ANSIBLE_LOCAL_TEMP": str(ahome / "tmp"),
               "ANSIBLE_REMOTE_TMP": str(self.server_home / ".ansible-tmp"),
               "ANSIBLE_SSH_CONTROL_PATH_DIR": str(cp_dir), "ANSIBLE_HOST_KEY_CHECKING": "True",
               "ANSIBLE_RETRY_FILES_ENABLED": "False", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_PIPELINING": str(pipelining),
               "ANSIBLE_DEPRECATION_WARNINGS": "False", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
               "LC_ALL": "C.UTF-8", "HOME": str(self.tmp), "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}"}
        playbook = BENCH / "ansible" / "playbook.yml"
        try:
            wall, res = self.home([str(venv / "bin" / "ansible-playbook"), "-i", str(inventory), str(playbook),
                                   "-e", f"@{extra}"], env=env, cwd=work)
        finally:
            # Ansible leaves its ControlPersist master behind (60 s): stop it, outside the timing
            for sock in cp_dir.iterdir():
                self.home(["ssh", "-F", str(self.ssh_config), "-o", f"ControlPath={sock}", "-O", "exit", "login"])
            shutil.rmtree(cp_dir, ignore_errors=True)
        ok, why = self.outputs_ok(work)
        ok = ok and res.returncode == 0
        note = "" if ok else f"exit {res.returncode}: {why} {res.stdout.strip()[-400:]}"
        return wall, ok, note, {}

    def run_once(self, method: str, rep: str, cond: str = "wan") -> RunResult:
        work, rdir = self.rep_dirs(f"{method}-{cond}", rep)
        port = self.free_port()
        logins0, sessions0, off = self.counters()
        if method == "sockdeploy":
            wall, ok, note, steps = self.run_sockdeploy(work, rdir, port, cond)
        elif method == "manual":
            wall, ok, note, steps = self.run_script("manual.sh", work, rdir, port, cond)
        elif method == "mux":
            wall, ok, note, steps = self.run_script("manual-mux.sh", work, rdir, port, cond)
        else:
            wall, ok, note, steps = self.run_ansible(work, rdir, port, cond, pipelining=method == "ansible-pipelining")
        conns = self.proxy_connections(off)
        logins1, sessions1, _ = self.counters()
        result = RunResult(method, wall, ok, logins1 - logins0, sessions1 - sessions0, len(conns), steps=steps, note=note)
        if cond == "wan" and self.link_mode == "proxy" and self.login_turns:
            result.turns = sum(r["turns"] for r in conns)
            per_login = self.login_turns["paramiko" if method == "sockdeploy" else "openssh"]
            # each SSH connection's own login turns are not "after login"; other connections
            # (none today) would count in full
            result.after_login = result.turns - per_login * min(len(conns), result.logins)
        shutil.rmtree(rdir, ignore_errors=True)
        return result

    # --- start-up and tunnel --------------------------------------------------------

    def startup(self) -> List[Tuple[str, float]]:
        """Median wall time of `sockdeploy --help/--version`, 10 runs each (plus one warm-up)."""
        out = []
        script = Path(self.python).parent / "sockdeploy"
        variants: List[Tuple[str, List[str]]] = []
        if script.exists():
            variants += [("sockdeploy --help", [str(script), "--help"]), ("sockdeploy --version", [str(script), "--version"])]
        variants += [("python -m sockdeploy --help", [self.python, "-m", "sockdeploy", "--help"]),
                     ("python -m sockdeploy --version", [self.python, "-m", "sockdeploy", "--version"])]
        for label, argv in variants:
            times = []
            for i in range(11):
                t = time.perf_counter()
                subprocess.run(argv, capture_output=True, check=True, cwd=REPO)
                if i:
                    times.append(time.perf_counter() - t)
            out.append((label, median(times)))
        return out

    def listening_in(self, pid: int, port: int) -> bool:
        """Whether something in pid's network namespace listens on TCP `port`."""
        hexport = f":{port:04X}"
        try:
            text = Path(f"/proc/{pid}/net/tcp").read_text()
        except OSError:
            return False
        return any(f[1].endswith(hexport) and f[3] == "0A" for f in (line.split() for line in text.splitlines()[1:]))

    def measure_tunnel(self, port: int) -> Dict[str, Any]:
        """Bulk transfer and small-message latency through whatever listens on 127.0.0.1:port on the Pi."""
        tp = str(BENCH / "tunnelperf.py")
        rates = []
        for _ in range(self.args.bulk_reps):
            _, res = self.home([self.python, tp, "bulk", "127.0.0.1", str(port), str(self.args.bulk_mb)], timeout=300)
            if res.returncode != 0:
                raise RuntimeError(f"bulk transfer failed: {res.stderr.strip()[-300:]}")
            rates.append(json.loads(res.stdout)["mb_per_s"])
        _, res = self.home([self.python, tp, "ping", "127.0.0.1", str(port), str(self.args.pings), "64"], timeout=300)
        if res.returncode != 0:
            raise RuntimeError(f"ping-pong failed: {res.stderr.strip()[-300:]}")
        ping = json.loads(res.stdout)
        return {"mb_per_s": median(rates), "rates": rates, "latency_ms": ping["median_ms"], "p90_ms": ping["p90_ms"]}

    def tunnels(self) -> List[Dict[str, Any]]:
        """sockdeploy `tunnel open` against `ssh -N -L`, over the WAN link and the plain LAN."""
        assert self.lab is not None
        sport = self.free_port()
        server = self.lab.campus_popen([self.python, str(BENCH / "tunnelperf.py"), "serve", "127.0.0.1", str(sport)],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.procs.append(server)
        assert server.stdout is not None
        server.stdout.readline()
        env = {"XDG_STATE_HOME": str(self.state_home), "HOME": str(self.tmp), "NO_COLOR": "1"}
        results = []
        for cond in ("wan", "lan"):
            self.netem(cond == "wan")
            alias = "login" if cond == "wan" else "login-lan"
            row: Dict[str, Any] = {"condition": cond}
            # sockdeploy tunnel open: a background daemon; `tunnel close` stops it
            _, res = self.home([self.python, "-m", "sockdeploy", "tunnel", "open", "--port", str(sport),
                                "--hosts", str(self.hosts[cond])], env=env, cwd=REPO)
            if res.returncode != 0:
                raise RuntimeError(f"sockdeploy tunnel open failed: {res.stderr.strip()[-300:]}")
            try:
                row["sockdeploy"] = self.measure_tunnel(sport)
            finally:
                self.home([self.python, "-m", "sockdeploy", "tunnel", "close", "--port", str(sport)], env=env, cwd=REPO)
            # OpenSSH: ssh -N -L in the foreground of its own process, so it is stopped by pid
            ssh = self.lab.home_popen(["ssh", "-F", str(self.ssh_config), "-N", "-o", "ExitOnForwardFailure=yes",
                                       "-L", f"{sport}:localhost:{sport}", alias],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.procs.append(ssh)
            try:
                deadline = time.monotonic() + 20
                while not self.listening_in(ssh.pid, sport):
                    if ssh.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"ssh -L did not come up: {ssh.stderr.read() if ssh.stderr else ''}")
                    time.sleep(0.05)
                row["openssh"] = self.measure_tunnel(sport)
            finally:
                ssh.terminate()
                ssh.wait(timeout=10)
            results.append(row)
        self.netem(True)
        return results

    # --- batch runs for graders -----------------------------------------------------

    def batch_scaling(self) -> List[Dict[str, Any]]:
        """`sockdeploy batch` over the WAN link: wall time for each number of submissions at each -j."""
        sizes = [int(x) for x in self.args.batch_sizes.split(",") if x]
        jobs = [int(x) for x in self.args.batch_jobs.split(",") if x]
        root = self.tmp / "submissions"
        for i in range(max(sizes, default=0)):
            dest = root / f"group{i + 1:02d}"
            dest.mkdir(parents=True, exist_ok=True)
            for name in ("server.c", "client.c"):
                shutil.copy(self.src / name, dest / name)
        root.chmod(0o755)
        env = {"XDG_STATE_HOME": str(self.state_home), "HOME": str(self.tmp), "NO_COLOR": "1",
               "PATH": os.environ.get("PATH", "")}
        rows = []
        for n in sizes:
            for j in jobs:
                if j > n and j != jobs[0]:
                    continue  # more workers than submissions measures nothing new
                dirs = [str(root / f"group{i + 1:02d}") for i in range(n)]
                out = self.tmp / "batches" / f"n{n}-j{j}"
                logins0, _, _ = self.counters()
                wall, res = self.home([self.python, "-m", "sockdeploy", "batch", *dirs, "--exercise", "ex5", "-j", str(j),
                                       "--via", "tunnel", "--hosts", str(self.hosts["wan"]), "--out", str(out), "--json"],
                                      env=env, cwd=REPO, timeout=1800)
                logins = self.counters()[0] - logins0
                try:
                    summary = json.loads(res.stdout)
                    passed = summary["counts"].get("passed", 0)
                    others = {k: v for k, v in summary["counts"].items() if k != "passed"}
                    for sub in summary["submissions"]:
                        if sub["result"] != "passed":
                            log(f"  {sub['submission']}: {sub['result']}: {(sub.get('error') or {}).get('message', '')}")
                    kept = sum(1 for s in summary["submissions"] if (Path(s["run_dir"]) / "transcript.md").is_file())
                except (ValueError, KeyError, TypeError):
                    passed = kept = 0
                    others = {f"exit {res.returncode}": n}
                row = {"n": n, "j": j, "wall": wall, "passed": passed, "kept": kept, "logins": logins,
                       "exit": res.returncode, "others": others}
                log(f"batch n={n} -j {j}: {wall:.1f} s, {passed}/{n} passed, {kept} transcripts, {logins} logins")
                rows.append(row)
        return rows

    # --- the whole thing ------------------------------------------------------------

    def run(self) -> str:
        args = self.args
        self.ensure_ansible()
        started = datetime.datetime.now(datetime.timezone.utc)
        self.start_lab()
        self.setup_link()
        log(f"link: {self.link_mode}")
        self.write_configs()
        self.calibrate_logins()
        methods = [m for m in args.methods.split(",") if m]
        if self.ansible_reason:
            methods = [m for m in methods if not m.startswith("ansible")]
        results: Dict[str, List[RunResult]] = {m: [] for m in methods}
        lan: Dict[str, List[RunResult]] = {m: [] for m in methods}
        for rep in range(-args.warmup, args.reps):
            for method in methods:
                tag = f"w{-rep}" if rep < 0 else str(rep + 1)
                r = self.run_once(method, tag)
                log(f"{method} rep {tag}: {r.wall:.2f} s ok={r.ok} logins={r.logins} sessions={r.sessions} "
                    f"conns={r.connections} turns={r.turns} after_login={r.after_login} {r.note}")
                if rep >= 0:
                    results[method].append(r)
        if args.lan_reps:
            self.netem(False)
            for rep in range(args.lan_reps):
                for method in methods:
                    r = self.run_once(method, str(rep + 1), "lan")
                    log(f"{method} LAN rep {rep + 1}: {r.wall:.2f} s ok={r.ok} logins={r.logins} {r.note} {r.steps or ''}")
                    lan[method].append(r)
            self.netem(True)
        tunnel_rows = [] if args.skip_tunnel else self.tunnels()
        batch_rows = [] if args.skip_batch else self.batch_scaling()
        startup = self.startup()
        return self.report(started, results, lan, startup, tunnel_rows, batch_rows)

    def stop(self) -> None:
        """Stop everything this benchmark started; never anything else."""
        env = {"XDG_STATE_HOME": str(self.state_home), "HOME": str(self.tmp)}
        if self.lab is not None and self.state_home.exists():
            try:
                self.home([self.python, "-m", "sockdeploy", "tunnel", "close"], env=env, cwd=REPO, timeout=30)
            except Exception as exc:  # keep tearing down
                log(f"tunnel close: {exc}")
        for proc in [*self.procs, self.proxy]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if self.lab is not None:
            log("stopping the campus lab")
            try:
                self.lab.stop()
            except Exception as exc:
                log(f"lab stop: {exc}")
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            log(f"kept {self.tmp}")

    # --- the report -----------------------------------------------------------------

    def report(self, started: datetime.datetime, results: Dict[str, List[RunResult]], lan: Dict[str, List[RunResult]],
               startup: List[Tuple[str, float]], tunnel_rows: List[Dict[str, Any]],
               batch_rows: List[Dict[str, Any]]) -> str:
        args = self.args
        lines: List[str] = []
        add = lines.append
        uname = platform.uname()
        cpu = ""
        try:
            cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                       if line.startswith("model name"))
        except (OSError, StopIteration):
            pass
        add("# sockdeploy benchmark (issue 7)")
        add("")
        add(f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}")
        add(f"- machine: {os.cpu_count()} CPUs ({cpu or uname.machine}), Linux {uname.release}, "
            f"Python {platform.python_version()}, {subprocess.run(['ssh', '-V'], capture_output=True, text=True).stderr.strip()}")
        add(f"- sockdeploy: {git_describe()}")
        add(f"- link Pi <-> login host: {2 * ONE_WAY_MS} ms round trip; {self.link_note}")
        add(f"- {args.reps} repetitions per method (after {args.warmup} warm-up round), methods interleaved; "
            "medians; every run checked (both client logs and the server's log)")
        if self.ansible_version:
            add(f"- Ansible: ansible-core {self.ansible_version} from PyPI, own venv")
        add("- produced by `sudo python bench/run.py`; see bench/README.md for the method")
        add("")
        add("## Exercise 5 end to end through a tunnel")
        add("")
        rtt = 2 * ONE_WAY_MS / 1000
        add(f"| method | median wall, {2 * ONE_WAY_MS} ms RTT (s) | min-max (s) | x sockdeploy | median wall, LAN (s) | "
            "SSH logins | sequential round trips, total | round trips after login | SSH sessions | runs ok |")
        add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        med: Dict[str, float] = {}
        for method, runs in results.items():
            good = [r for r in runs if r.ok] or runs
            if runs:
                med[method] = median([r.wall for r in good])
        base = med.get("sockdeploy")
        for method, runs in results.items():
            if not runs:
                continue
            good = [r for r in runs if r.ok] or runs
            walls = [r.wall for r in good]
            ratio = f"{med[method] / base:.2f}" if base else "-"
            after = [r.after_login for r in good if r.after_login is not None]
            after_s = f"{median(after):.0f}" if after else "n/a"
            lan_runs = [r for r in lan.get(method, []) if r.ok]
            lan_med = median([r.wall for r in lan_runs]) if lan_runs else None
            lan_s = f"{lan_med:.2f}" if lan_med is not None else "n/a"
            seq_s = f"{(med[method] - lan_med) / rtt:.0f}" if lan_med is not None else "n/a"
            add(f"| {LABELS[method]} | {med[method]:.2f} | {min(walls):.2f}-{max(walls):.2f} | {ratio} | {lan_s} | "
                f"{median([r.logins for r in good]):.0f} | {seq_s} | {after_s} | "
                f"{median([r.sessions for r in good]):.0f} | {sum(r.ok for r in runs)}/{len(runs)} |")
        if self.ansible_reason:
            add(f"| 4. Ansible playbook | {self.ansible_reason} | | | | | | |")
        failures = [r for runs in results.values() for r in runs if not r.ok]
        for r in failures[:5]:
            add(f"\nfailed: {r.method}: {r.note[:300]}")
        add("")
        add("- SSH logins: `Accepted publickey` lines in the lab sshd's log during the run.")
        add("- Sequential round trips, total: (median wall with the delay - median wall on the plain LAN) / "
            f"{2 * ONE_WAY_MS} ms, i.e. how many round trips lie on the critical path, logins included.")
        add("- Round trips after login: counted by the delay proxy: the times the Pi sent data after it had "
            "received some and had been silent for at least 0.9 round trip (it waited for an answer), summed over "
            "the run's SSH connections, minus what a bare login costs with the same client (measured the same way: "
            f"OpenSSH {self.login_turns.get('openssh', float('nan')):.0f}, sockdeploy/paramiko "
            f"{self.login_turns.get('paramiko', float('nan')):.0f} per login). Includes waiting for each remote "
            "command and each tunnel connection's channel open; waits that overlap (sockdeploy measures the clock "
            "offset while the server builds) count too.")
        add("- SSH sessions: the sshd log's `Starting session` lines (remote commands, scp/sftp transfers, "
            "Ansible module steps; tunnel channels are not sessions).")
        steps = results.get("sockdeploy", [])
        if steps and any(r.steps for r in steps):
            add("")
            add("### Where sockdeploy's time goes (`--verbose` step durations, median over the runs)")
            add("")
            add("| step | median (s) |")
            add("|---|---:|")
            labels: List[str] = []
            for r in steps:
                for k in r.steps:
                    if k not in labels:
                        labels.append(k)
            total = 0.0
            for k in labels:
                v = median([r.steps.get(k, 0.0) for r in steps])
                total += v
                add(f"| {k} | {v:.2f} |")
            add(f"| (sum of steps) | {total:.2f} |")
            add(f"| (whole command, incl. Python start-up and config) | {med.get('sockdeploy', float('nan')):.2f} |")
        add("")
        add("## Start-up (median of 10, after one warm-up)")
        add("")
        add("| command | median (s) | target < 0.15 s |")
        add("|---|---:|---|")
        for label, secs in startup:
            add(f"| `{label}` | {secs:.3f} | {'met' if secs < 0.15 else 'not met'} |")
        tun_targets: List[Tuple[str, str, bool]] = []
        if tunnel_rows:
            add("")
            add(f"## Tunnel: `sockdeploy tunnel open` against `ssh -N -L` ({args.bulk_mb:g} MB bulk upload, median of "
                f"{args.bulk_reps}; {args.pings} request/response pairs of 64 bytes, median)")
            add("")
            add("| link | tunnel | bulk (MB/s) | x OpenSSH | small-message latency (ms) | p90 (ms) | x OpenSSH |")
            add("|---|---|---:|---:|---:|---:|---:|")
            for row in tunnel_rows:
                cond = f"{2 * ONE_WAY_MS} ms RTT" if row["condition"] == "wan" else "LAN (no added delay)"
                o, s = row["openssh"], row["sockdeploy"]
                tr, lr = s["mb_per_s"] / o["mb_per_s"], s["latency_ms"] / o["latency_ms"]
                add(f"| {cond} | `ssh -N -L` | {o['mb_per_s']:.1f} | 1.00 | {o['latency_ms']:.2f} | {o['p90_ms']:.2f} | 1.00 |")
                add(f"| {cond} | `sockdeploy tunnel open` | {s['mb_per_s']:.1f} | {tr:.2f} | {s['latency_ms']:.2f} | "
                    f"{s['p90_ms']:.2f} | {lr:.2f} |")
                tun_targets.append((f"tunnel throughput >= 0.5x OpenSSH ({cond})", f"{tr:.2f}x", tr >= 0.5))
                tun_targets.append((f"tunnel latency <= 1.5x OpenSSH ({cond})", f"{lr:.2f}x", lr <= 1.5))
        if batch_rows:
            add("")
            add(f"## Batch runs: `sockdeploy batch` of exercise 5 over the {2 * ONE_WAY_MS} ms link")
            add("")
            add("Copies of the bundled ex5, one folder per group, `--via tunnel`; the default pool "
                "(at most min(-j, 4) logins, at most 3 runs per connection for sshd's MaxSessions 10).")
            add("")
            add("| submissions | -j | wall (s) | s per submission | submissions per minute | passed | other results "
                "| transcripts kept | SSH logins |")
            add("|---:|---:|---:|---:|---:|---:|---|---:|---:|")
            for r in batch_rows:
                others = ", ".join(f"{v} {k}" for k, v in r["others"].items()) or "-"
                add(f"| {r['n']} | {r['j']} | {r['wall']:.1f} | {r['wall'] / r['n']:.2f} | {60 * r['n'] / r['wall']:.0f} | "
                    f"{r['passed']}/{r['n']} | {others} | {r['kept']}/{r['n']} | {r['logins']} |")
        add("")
        add("## Targets")
        add("")
        add("| target | measured | met? |")
        add("|---|---|---|")
        targets: List[Tuple[str, str, bool]] = []
        if base:
            if "mux" in med:
                targets.append(("sockdeploy <= ControlMaster script", f"{base:.2f} s vs {med['mux']:.2f} s "
                                f"({base / med['mux']:.2f}x)", base <= med["mux"]))
            if "manual" in med:
                targets.append(("sockdeploy <= 0.5x plain manual", f"{base / med['manual']:.2f}x",
                                base <= 0.5 * med["manual"]))
            ans = [med[m] for m in ("ansible", "ansible-pipelining") if m in med]
            if ans:
                best = min(ans)
                targets.append(("sockdeploy <= 0.3x Ansible (the faster Ansible row)", f"{base / best:.2f}x",
                                base <= 0.3 * best))
        for label, secs in startup:
            if not label.startswith("python -m"):
                targets.append((f"`{label}` < 0.15 s", f"{secs:.3f} s", secs < 0.15))
        targets += tun_targets
        for name, measured, met in targets:
            add(f"| {name} | {measured} | {'met' if met else '**not met**'} |")
        return "\n".join(lines) + "\n"


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=5, help="repetitions per method (default 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {','.join(METHODS)}")
    p.add_argument("--lan-reps", type=int, default=5,
                   help="repetitions without the added delay, for the round trips on the critical path (default 5; 0 skips)")
    p.add_argument("--skip-ansible", action="store_true", help="leave out the Ansible rows")
    p.add_argument("--skip-tunnel", action="store_true", help="leave out the tunnel throughput/latency part")
    p.add_argument("--ansible-venv", default=str(ANSIBLE_VENV), help=f"venv for ansible-core (default {ANSIBLE_VENV})")
    p.add_argument("--bulk-mb", type=float, default=50, help="bulk transfer size in MB (default 50)")
    p.add_argument("--bulk-reps", type=int, default=7, help="bulk transfers per tunnel (default 7)")
    p.add_argument("--pings", type=int, default=200, help="small request/response pairs (default 200)")
    p.add_argument("--skip-batch", action="store_true", help="leave out the batch throughput part")
    p.add_argument("--batch-sizes", default="1,10,40", help="numbers of submissions for the batch part (default 1,10,40)")
    p.add_argument("--batch-jobs", default="1,4,8,16", help="-j values for the batch part (default 1,4,8,16)")
    p.add_argument("--output", default=str(BENCH / "results.md"), help="where to write the table")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, run folders)")
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench/run.py needs root: it starts the campus lab (network namespaces)", file=sys.stderr)
        return 2

    def on_term(*_: object) -> None:
        raise Interrupted()

    signal.signal(signal.SIGTERM, on_term)
    bench = Bench(args)
    try:
        table = bench.run()
    except (KeyboardInterrupt, Interrupted):
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        # a second Ctrl-C must not cut the teardown short
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            bench.stop()
        finally:
            signal.signal(signal.SIGINT, old)
    Path(args.output).write_text(table)
    print(table)
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
