"""The fault suite's figure: every fault case on the loopback lab, and what each one left behind.

    .venv/bin/python bench/faults.py            # all cases, about 3 minutes
    .venv/bin/python bench/faults.py --only ctrl-c-build,daemon-server
    .venv/bin/python bench/faults.py --list

For each case the script runs the real CLI against a throwaway sshd on
127.0.0.1, injects the fault (a signal at a phase, the SSH connection killed,
a misbehaving program, something planted by "another user"), and then counts,
after a settling time of at most 30 s:

- processes of the run still alive on either side (new since the case began,
  and either inside the lab's work folder or this case's temporary folder, or
  carrying the case's environment marker or a run token);
- run folders left in the lab's work folder and `sockdeploy-*` folders left in
  the case's temporary folder;
- sentinel processes (not of any run, started before the first case) that
  were touched: each must still be alive at the end of every case;
- whether the verdict is the true one: the exit code and words of the message.

It prints a markdown table and one summary line, and exits 1 when any case
left something, touched a sentinel, or gave the wrong verdict. It sends
traffic to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Set

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sockdeploy.lab.leftovers import leftover_dirs  # noqa: E402
from sockdeploy.lab.loopback import LoopbackLab  # noqa: E402

SETTLE = 30.0  # seconds a case's leftovers get to disappear (the watchdog's window)
MARK = "SOCKDEPLOY_BENCH_CASE"


@dataclass
class Case:
    """One fault: how to prepare the payload, how to hurt the run, and the verdict it deserves."""

    name: str
    exit_code: int
    words: Sequence[str]  # all must appear in run.json's error message (or stderr when there is no run.json)
    fault_point: str = ""
    inject: Optional[Callable[[Bench, subprocess.Popen], None]] = None
    payload: Optional[Callable[[Bench, Path], Path]] = None
    extra: Sequence[str] = ()


@dataclass
class Outcome:
    name: str
    exit_code: Optional[int]
    expected: int
    message: str
    verdict_ok: bool
    seconds: float
    processes: List[str] = field(default_factory=list)
    folders: List[str] = field(default_factory=list)
    touched: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict_ok and not self.processes and not self.folders and not self.touched


class Bench:
    """The lab, the sentinels, and one case at a time."""

    def __init__(self, lab: LoopbackLab, base: Path) -> None:
        self.lab = lab
        self.base = base
        self.sentinels: Dict[str, subprocess.Popen] = {}
        self.sentinel_port = 0

    # sentinels: processes of no run, which no case may touch
    def start_sentinels(self) -> None:
        quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.sentinels["sleeper beside the work folder"] = subprocess.Popen(
            ["sleep", "86400"], cwd=self.lab.workdir.parent, start_new_session=True, **quiet)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        self.sentinel_port = listener.getsockname()[1]
        listener.close()
        code = f"import socket,time;s=socket.socket();s.bind(('127.0.0.1',{self.sentinel_port}));s.listen();time.sleep(86400)"
        self.sentinels["listener of another program"] = subprocess.Popen(
            [sys.executable, "-c", code], start_new_session=True, **quiet)
        time.sleep(0.3)

    def stop_sentinels(self) -> None:
        for proc in self.sentinels.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def touched(self) -> List[str]:
        """Name the sentinels a case ended, and start them again for the next case."""
        gone = [name for name, proc in self.sentinels.items() if proc.poll() is not None]
        if gone:
            self.stop_sentinels()
            self.start_sentinels()
        return gone

    def payload_copy(self, work: Path, name: str = "ex5") -> Path:
        dest = work / "payload"
        shutil.copytree(REPO / "payloads" / name, dest)
        return dest

    def run(self, case: Case) -> Outcome:
        work = Path(tempfile.mkdtemp(prefix=f"case-{case.name}-", dir=self.base))
        tmp = work / "tmp"
        tmp.mkdir()
        home = work / "home"
        home.mkdir()
        target = str(case.payload(self, work)) if case.payload else "ex5"
        env = {"HOME": str(home), "PYTHONPATH": str(REPO), "PATH": os.environ["PATH"], "TMPDIR": str(tmp),
               MARK: case.name}
        if case.fault_point:
            env["SOCKDEPLOY_FAULT_POINT"] = case.fault_point
        before = _pids()
        started = time.monotonic()
        with open(work / "stderr.txt", "w") as err:
            proc = subprocess.Popen([sys.executable, "-m", "sockdeploy", "run", target, "--via", "tunnel", "--hosts",
                                     str(self.lab.hosts_file), "--out", str(work / "runs"), *case.extra],
                                    cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        if case.fault_point:
            _wait_for(work / "stderr.txt", f"fault point {case.fault_point}")
        if case.inject:
            case.inject(self, proc)
        try:
            code: Optional[int] = proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
        seconds = time.monotonic() - started
        message = _message(work)
        outcome = Outcome(case.name, code, case.exit_code, message,
                          code == case.exit_code and all(w.lower() in message.lower() for w in case.words), seconds)
        deadline = time.monotonic() + SETTLE
        while True:
            outcome.processes = self.leftovers(before, work, case.name)
            outcome.folders = leftover_dirs(self.lab.workdir) + [str(p) for p in tmp.glob("sockdeploy-*")]
            if (not outcome.processes and not outcome.folders) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        outcome.touched = self.touched()
        for pid in _pids_of(outcome.processes):  # the next case starts clean
            _kill(pid)
        shutil.rmtree(work, ignore_errors=True)
        return outcome

    def leftovers(self, before: Set[int], work: Path, name: str) -> List[str]:
        """New processes that belong to the case: in its folders, or carrying its marker or a run token."""
        found = []
        roots = (str(self.lab.workdir), str(work))
        for pid in sorted(_pids() - before - {os.getpid()}):
            cwd, exe, environ, cmd = _facts(pid)
            if environ is None:
                continue
            ours = (f"{MARK}={name}".encode() in environ or b"SOCKDEPLOY_RUN=" in environ
                    or any(p.startswith(roots) for p in (cwd, exe.replace(" (deleted)", ""))))
            if ours:
                found.append(f"{pid} {cmd}")
        return found


def _pids() -> Set[int]:
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}


def _pids_of(lines: List[str]) -> List[int]:
    return [int(line.split()[0]) for line in lines]


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _facts(pid: int):
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
        exe = os.readlink(f"/proc/{pid}/exe")
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "", "", None, ""
    return cwd, exe, environ, cmd


def _wait_for(path: Path, text: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"never saw {text!r} in {path}")


def _message(work: Path) -> str:
    runs = list((work / "runs").glob("*/run.json")) if (work / "runs").is_dir() else []
    if runs:
        record = json.loads(runs[0].read_text())
        error = record.get("error") or {}
        strays = record.get("stray_processes") or []
        stopped = f" [{len(strays)} escaped process(es) stopped and named]" if strays else ""
        return (error.get("message") or "(ok)") + stopped
    text = (work / "stderr.txt").read_text(errors="replace").strip().splitlines()
    errors = [line for line in text if "error" in line.lower()]
    return (errors or text or ["(no output)"])[-1]


# --- the faults ------------------------------------------------------------------------------------

def _signal(sig: int) -> Callable[[Bench, subprocess.Popen], None]:
    def inject(bench: Bench, proc: subprocess.Popen) -> None:
        proc.send_signal(sig)
    return inject


def _cut(bench: Bench, proc: subprocess.Popen) -> None:
    from tests.conftest import kill_ssh_connections

    kill_ssh_connections(bench.lab)


def _server_source(edit: Callable[[str], str]) -> Callable[[Bench, Path], Path]:
    def payload(bench: Bench, work: Path) -> Path:
        d = bench.payload_copy(work)
        (d / "server.c").write_text(edit((d / "server.c").read_text()))
        return d
    return payload


def _manifest(old: str, new: str) -> Callable[[Bench, Path], Path]:
    def payload(bench: Bench, work: Path) -> Path:
        d = bench.payload_copy(work)
        text = (d / "payload.yaml").read_text()
        (d / "payload.yaml").write_text(text.replace(old, new))
        return d
    return payload


# A server that first leaves a daemon behind (fork, setsid, fork again, chdir /): it must not survive the run.
_DAEMON = ("int main(int argc, char *argv[])\n{\n    if (fork() == 0) { setsid(); if (fork() == 0) { "
           "if (chdir(\"/\") != 0) _exit(1); for (;;) pause(); } _exit(0); }\n")


def _planted(bench: Bench, work: Path) -> Path:
    """Another program's folder that looks like a crashed run, naming a sentinel's pid."""
    folder = bench.lab.workdir / "run-planted0000"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    (folder / ".sockdeploy-run").write_text("")
    (folder / "server.pid").write_text(str(bench.sentinels["sleeper beside the work folder"].pid))
    old = time.time() - 3600
    os.utime(folder / ".sockdeploy-run", (old, old))
    return bench.payload_copy(work)


def _planted_cleanup(bench: Bench, proc: subprocess.Popen) -> None:
    proc.wait(timeout=180)
    shutil.rmtree(bench.lab.workdir / "run-planted0000", ignore_errors=True)


def _taken_port(bench: Bench, work: Path) -> Path:
    return bench.payload_copy(work)


PHASES = ["connect", "upload", "build", "server-start", "client-runs", "log-fetch"]


def cases() -> List[Case]:
    found: List[Case] = []
    for phase in PHASES:
        found.append(Case(f"ctrl-c-{phase}", 130, ["interrupted"], fault_point=phase, inject=_signal(signal.SIGINT)))
    for phase in ("build", "client-runs"):
        found.append(Case(f"sigterm-{phase}", 143, [], fault_point=phase, inject=_signal(signal.SIGTERM)))
    found.append(Case("sighup-client-runs", 129, [], fault_point="client-runs", inject=_signal(signal.SIGHUP)))
    found.append(Case("kill-9-client-runs", -9, [], fault_point="client-runs", inject=_signal(signal.SIGKILL)))
    for phase in ("upload", "client-runs"):
        found.append(Case(f"connection-cut-{phase}", 3, ["connection"], fault_point=phase, inject=_cut))
    found.append(Case("server-crashes", 6, ["SIGSEGV"], payload=_server_source(
        lambda s: s.replace('say("connection %lu accepted', '*(volatile int *)0 = 1; say("connection %lu accepted'))))
    found.append(Case("server-never-exits", 6, ["still running"],
                      payload=_manifest("- ./client {ip} {port} quit", "- ./client {ip} {port}")))
    found.append(Case("client-hangs", 6, ["did not finish"],
                      payload=_manifest("- ./client {ip} {port} quit", "- sh -c 'sleep 600'\n  timeout: 3")))
    found.append(Case("server-leaves-a-daemon", 0, [], payload=_server_source(
        lambda s: "#include <unistd.h>\n" + s.replace("int main(int argc, char *argv[])\n{\n", _DAEMON))))
    found.append(Case("planted-run-folder", 0, [], payload=_planted, inject=_planted_cleanup))
    return found


def _taken_port_case(bench: Bench) -> Case:
    # the listener's port may lie outside network.ports: --port is taken as given
    return Case("port-held-by-another-program", 5, [str(bench.sentinel_port), "in use"], payload=_taken_port,
                extra=["--port", str(bench.sentinel_port)])


def table(outcomes: List[Outcome]) -> str:
    lines = ["| case | exit (expected) | verdict | s | processes left | folders left | others touched |",
             "|---|---|---|---|---|---|---|"]
    for o in outcomes:
        verdict = ("ok: " if o.verdict_ok else "WRONG: ") + o.message.replace("|", "/")[:90]
        lines.append(f"| {o.name} | {o.exit_code} ({o.expected}) | {verdict} | {o.seconds:.1f} | "
                     f"{len(o.processes)} | {len(o.folders)} | {len(o.touched)} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="comma-separated case names")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="sockdeploy-faults-"))
    try:
        with LoopbackLab(base / "lab") as lab:
            bench = Bench(lab, base)
            bench.start_sentinels()
            chosen = cases() + [_taken_port_case(bench)]
            if args.list:
                print("\n".join(c.name for c in chosen))
                return 0
            if args.only:
                wanted = set(args.only.split(","))
                chosen = [c for c in chosen if c.name in wanted]
            outcomes = []
            try:
                for case in chosen:
                    outcome = bench.run(case)
                    print(f"{case.name}: exit {outcome.exit_code}, {outcome.seconds:.1f} s, "
                          f"{'ok' if outcome.ok else 'NOT OK'}", file=sys.stderr)
                    for line in outcome.processes + outcome.folders + outcome.touched:
                        print(f"  left/touched: {line}", file=sys.stderr)
                    outcomes.append(outcome)
            finally:
                bench.stop_sentinels()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(table(outcomes))
    good = sum(o.ok for o in outcomes)
    print(f"\n{len(outcomes)} cases: {sum(not o.processes for o in outcomes)} with 0 processes left, "
          f"{sum(not o.folders for o in outcomes)} with 0 folders left, {sum(not o.touched for o in outcomes)} touching "
          f"no one else's process, {sum(o.verdict_ok for o in outcomes)} with the true verdict; {good} fully ok")
    return 0 if good == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
