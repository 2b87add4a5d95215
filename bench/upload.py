#!/usr/bin/env python3
"""Upload speed (issue 14): sockdeploy's upload of a payload folder against OpenSSH's scp, on the loopback lab.

No root needed: it starts the built-in lab (an sshd on 127.0.0.1 with its own keys) in a temporary folder.

    python bench/upload.py                    # 10 and 50 MB, 5 repetitions each after a warm-up
    python bench/upload.py --sizes 1,10,50 --reps 9

Prints a markdown table of medians. Rows:

- sockdeploy: `create_workspace` on a logged-in session, as a run does: a private run folder made, the
  payload folder's tar streamed into it through the remote helper, unpacked, the socket tables read back;
- sockdeploy, own channel: the same with SOCKDEPLOY_REMOTE_AGENT=0 (the script on a channel of its own);
- sockdeploy, login included: a new SshSession (key login) and then the upload, like one scp command;
- scp: `scp -q` of the same files (its own login each time, as a person types it);
- scp, mux: `scp` over an OpenSSH ControlMaster connection that is already logged in.

The payload folder holds a small server.c and a data file of random bytes (incompressible) making up the
size. "vs scp" is scp's time divided by the row's: 1.0 is as fast as scp, 0.5 half as fast; "vs mux" the
same against scp over the logged-in ControlMaster (the fair match for the first row). Not part of the
test suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sockdeploy.lab.loopback import LoopbackLab  # noqa: E402
from sockdeploy.run.workspace import create_workspace  # noqa: E402
from sockdeploy.spec.hosts import load_config  # noqa: E402
from sockdeploy.spec.sources import read_tree  # noqa: E402
from sockdeploy.ssh import helper as helper_mod  # noqa: E402
from sockdeploy.ssh.session import SshSession  # noqa: E402

MB = 1_000_000
ROWS = ("sockdeploy", "sockdeploy, own channel", "sockdeploy, login included", "scp", "scp, mux")


def log(msg: str) -> None:
    """Progress on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_payload(folder: Path, megabytes: int) -> Path:
    """A payload folder of about `megabytes` MB: server.c and one file of random bytes."""
    folder.mkdir(parents=True)
    (folder / "server.c").write_text("int main(void) { return 0; }\n")
    with open(folder / "data.bin", "wb") as fh:
        left = megabytes * MB
        while left > 0:
            n = min(left, 4 * MB)
            fh.write(os.urandom(n))
            left -= n
    return folder


class Bench:
    """The lab, the OpenSSH options that reach it, and one timing per method."""

    def __init__(self, lab: LoopbackLab, tmp: Path) -> None:
        self.lab = lab
        self.tmp = tmp
        self.cfg = load_config(str(lab.hosts_file)).server
        self.target = f"{lab.user}@{lab.host_name}"
        self.dest = tmp / "scp-dest"
        self.control = tmp / "mux.sock"
        self.ssh_opts = ["-F", "/dev/null", "-i", str(lab.identity), "-o", f"UserKnownHostsFile={lab.known_hosts}",
                         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]

    def clean(self) -> None:
        """Empty the lab's workdir and scp's destination between repetitions."""
        for folder in (Path(str(self.cfg.workdir)), self.dest):
            shutil.rmtree(folder, ignore_errors=True)
        self.dest.mkdir(mode=0o700)

    def sockdeploy(self, session: SshSession, payload: Path) -> float:
        tree = read_tree(payload)
        start = time.perf_counter()
        create_workspace(session, str(self.cfg.workdir), tree.files, tree.dirs)
        return time.perf_counter() - start

    def sockdeploy_with_login(self, payload: Path) -> float:
        tree = read_tree(payload)
        start = time.perf_counter()
        with SshSession(self.cfg) as session:
            create_workspace(session, str(self.cfg.workdir), tree.files, tree.dirs)
            return time.perf_counter() - start

    def scp(self, payload: Path, mux: bool) -> float:
        extra = ["-o", f"ControlPath={self.control}"] if mux else []
        argv = ["scp", "-q", "-r", "-P", str(self.lab.port), *self.ssh_opts, *extra, "--",
                str(payload), f"{self.target}:{self.dest}/"]
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
        return time.perf_counter() - start

    def start_mux(self) -> None:
        subprocess.run(["ssh", "-p", str(self.lab.port), *self.ssh_opts, "-o", "ControlMaster=yes",
                        "-o", f"ControlPath={self.control}", "-o", "ControlPersist=300", "-f", "-N", self.target],
                       check=True, stdin=subprocess.DEVNULL)

    def stop_mux(self) -> None:
        subprocess.run(["ssh", "-o", f"ControlPath={self.control}", "-O", "exit", self.target],
                       stdin=subprocess.DEVNULL, capture_output=True)


def measure(bench: Bench, sizes: Sequence[int], reps: int) -> Dict[int, Dict[str, List[float]]]:
    """Time every method `reps` times per size after one warm-up round, the methods interleaved."""
    results: Dict[int, Dict[str, List[float]]] = {}
    with SshSession(bench.cfg) as session:
        session.run("true")  # logged in, helper started: what a run has when it uploads
        bench.start_mux()
        try:
            for size in sizes:
                payload = make_payload(bench.tmp / f"payload-{size}", size)
                times: Dict[str, List[float]] = {row: [] for row in ROWS}
                methods: Dict[str, Callable[[Path], float]] = {
                    "sockdeploy": lambda p: bench.sockdeploy(session, p),
                    "sockdeploy, own channel": lambda p: own_channel(bench, p),
                    "sockdeploy, login included": bench.sockdeploy_with_login,
                    "scp": lambda p: bench.scp(p, mux=False),
                    "scp, mux": lambda p: bench.scp(p, mux=True),
                }
                for rep in range(reps + 1):
                    for row, method in methods.items():
                        bench.clean()
                        seconds = method(payload)
                        if rep:  # the first round warms caches and is not counted
                            times[row].append(seconds)
                log(f"{size} MB: " + ", ".join(f"{row} {statistics.median(t):.3f} s" for row, t in times.items()))
                results[size] = times
                shutil.rmtree(payload)
        finally:
            bench.stop_mux()
    return results


def own_channel(bench: Bench, payload: Path) -> float:
    """The upload with the remote helper switched off (a new session, whose login is not timed)."""
    os.environ[helper_mod.ENV_SWITCH] = "0"
    try:
        with SshSession(bench.cfg) as session:
            return bench.sockdeploy(session, payload)
    finally:
        del os.environ[helper_mod.ENV_SWITCH]


def table(results: Dict[int, Dict[str, List[float]]], reps: int) -> str:
    lines = [f"Upload of a payload folder to the loopback lab's sshd, median of {reps} "
             "(seconds; MB/s; scp's time / this; scp over ControlMaster's time / this)",
             "", "| size | " + " | ".join(ROWS) + " |", "|---|" + "---|" * len(ROWS)]
    for size, times in results.items():
        scp, mux = statistics.median(times["scp"]), statistics.median(times["scp, mux"])
        cells = []
        for row in ROWS:
            t = statistics.median(times[row])
            cells.append(f"{t:.3f} s, {size / t:.0f} MB/s, vs scp {scp / t:.2f}, vs mux {mux / t:.2f}")
        lines.append(f"| {size} MB | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10,50", help="payload sizes in MB, comma-separated (default 10,50)")
    p.add_argument("--reps", type=int, default=5, help="timed repetitions per size and method (default 5)")
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    for tool in ("scp", "ssh"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (apt-get install openssh-client)", file=sys.stderr)
            return 2
    tmp = Path(tempfile.mkdtemp(prefix="sockdeploy-bench-upload-"))
    try:
        with LoopbackLab(tmp / "lab") as lab:
            log(f"lab sshd on 127.0.0.1:{lab.port}")
            results = measure(Bench(lab, tmp), sizes, args.reps)
        print(table(results, args.reps), end="")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
