#!/usr/bin/env python3
"""Log floods (issue 14): what a server that prints without end and clients printing 50 MB each cost.

Runs one `sockdeploy run` through the loopback lab (a throwaway sshd on
127.0.0.1; no root needed) with a payload of its own: a Python server that
listens and then prints numbered lines as fast as it can until it is stopped,
and client runs that each connect, then print MEGABYTES of numbered lines and
"done". It prints:

- the bytes on the login host's disk at the peak (the lab's remote workdir,
  sampled every 20 ms while the run goes: sources, server log, everything);
- the run folder's size and transcript.md's size afterwards;
- sockdeploy's peak resident memory (the maximum RSS os.wait4 reports for the
  CLI process and what it waited for; its clients are small Python processes).

    python bench/logflood.py                         # 2 client runs x 50 MB
    python bench/logflood.py --client-mb 20 --runs 1
    python bench/logflood.py --repo /path/to/other/checkout   # measure another tree's sockdeploy

Not part of the test suite (see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sockdeploy.lab.loopback import LoopbackLab  # noqa: E402

SAMPLE_EVERY = 0.02  # seconds between two looks at the login host's disk

SERVER = r'''
import socket
import sys
import threading

port = int(sys.argv[1])
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("", port))
srv.listen(8)
out = sys.stdout.buffer
out.write(b"listening on port %d\n" % port)
out.flush()


def flood():
    n = 0
    while True:  # until sockdeploy stops the server after the last client run
        block = []
        for _ in range(1000):
            n += 1
            block.append(b"server flood line %d: the quick brown fox jumps over the lazy dog\n" % n)
        out.write(b"".join(block))
        out.flush()


threading.Thread(target=flood, daemon=True).start()
while True:
    conn, _ = srv.accept()
    with conn:
        conn.sendall(conn.recv(100))
'''

CLIENT = r'''
import socket
import sys

host, port, megabytes = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
with socket.create_connection((host, port), timeout=30) as s:
    s.sendall(b"hello")
    s.recv(100)
out = sys.stdout.buffer
out.write(b"connected to %s:%d\n" % (host.encode(), port))
left, n = int(megabytes * 1024 * 1024), 0
while left > 0:
    block = []
    for _ in range(1000):
        n += 1
        block.append(b"client line %d: pack my box with five dozen liquor jugs\n" % n)
    data = b"".join(block)[:left]
    out.write(data)
    left -= len(data)
out.write(b"\ndone\n")
out.flush()
'''


def payload_yaml(runs: int, megabytes: float) -> str:
    """The manifest: the flooding server on the login host, RUNS client runs of MEGABYTES each here."""
    lines = ["description: log flood (bench/logflood.py)", "local: false", "protocol: tcp", "language: python",
             "server:", "  run: python3 server.py {port}", "client:", "  runs:"]
    for _ in range(runs):
        lines += [f"    - command: python3 client.py {{ip}} {{port}} {megabytes:g}", "      timeout: 300"]
    lines += ["expect:", "  server:", '    - "^listening on port {port}$"', "  runs:"]
    lines += [f'    {i}: ["^connected to ", "^done$"]' for i in range(1, runs + 1)]
    return "\n".join(lines) + "\n"


def write_payload(folder: Path, runs: int, megabytes: float) -> Path:
    folder.mkdir(parents=True)
    (folder / "server.py").write_text(SERVER.lstrip())
    (folder / "client.py").write_text(CLIENT.lstrip())
    (folder / "payload.yaml").write_text(payload_yaml(runs, megabytes))
    return folder


def tree_bytes(root: Path) -> int:
    """Sum of the sizes of the regular files under ROOT (files may vanish while we look)."""
    total = 0
    stack = [str(root)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total


class DiskPeak:
    """Samples a folder's size on a thread of its own and keeps the largest value seen."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="logflood-disk", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_bytes(self.root))
            self.samples += 1
            self._stop.wait(SAMPLE_EVERY)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> DiskPeak:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Result:
    exit_code: int
    ok: Optional[bool]
    seconds: float
    disk_peak: int
    disk_samples: int
    run_folder: int
    transcript: int
    peak_rss_kib: int
    largest_file: str


def run_once(lab: LoopbackLab, work: Path, repo: Path, runs: int, megabytes: float) -> Result:
    """One `sockdeploy run` of the flood payload; measure while it runs and afterwards."""
    payload = write_payload(work / "payload", runs, megabytes)
    out = work / "runs"
    home = work / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSH_", "SOCKDEPLOY_"))}
    env.update(HOME=str(home), PYTHONPATH=str(repo))
    argv = [sys.executable, "-m", "sockdeploy", "run", str(payload), "--hosts", str(lab.hosts_file), "--out", str(out)]
    start = time.monotonic()
    with DiskPeak(lab.workdir) as disk, open(work / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(argv, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - start
    folders = [p for p in out.iterdir() if p.is_dir()] if out.is_dir() else []
    folder = folders[0] if folders else None
    ok = None
    if folder is not None and (folder / "run.json").is_file():
        ok = json.loads((folder / "run.json").read_text()).get("ok")
    files = sorted(folder.iterdir(), key=lambda p: p.stat().st_size) if folder is not None else []
    largest = f"{files[-1].name} ({files[-1].stat().st_size:,} bytes)" if files else "-"
    return Result(exit_code=proc.returncode, ok=ok, seconds=seconds, disk_peak=disk.peak, disk_samples=disk.samples,
                  run_folder=tree_bytes(folder) if folder is not None else 0,
                  transcript=(folder / "transcript.md").stat().st_size if folder and (folder / "transcript.md").is_file() else 0,
                  peak_rss_kib=usage.ru_maxrss, largest_file=largest)


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:,.1f} MiB"


def report(result: Result, runs: int, megabytes: float, repo: Path) -> str:
    rows = [
        ("sockdeploy from", str(repo)),
        ("client output", f"{runs} run(s) x {megabytes:g} MB; the server floods until stopped"),
        ("exit code / run.json ok", f"{result.exit_code} / {result.ok}"),
        ("wall time", f"{result.seconds:.1f} s"),
        ("login host's disk at the peak", f"{mib(result.disk_peak)} ({result.disk_samples} samples)"),
        ("run folder", mib(result.run_folder)),
        ("transcript.md", mib(result.transcript)),
        ("largest file in the run folder", result.largest_file),
        ("sockdeploy's peak RSS", mib(result.peak_rss_kib * 1024)),
    ]
    return "\n".join(["| measure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=2, help="client runs (default 2)")
    p.add_argument("--client-mb", type=float, default=50, help="megabytes each client run prints (default 50)")
    p.add_argument("--repo", default=str(REPO), help="the checkout whose sockdeploy runs (default: this one)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (run folder, lab)")
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="sockdeploy-logflood-"))
    try:
        with LoopbackLab(work / "lab") as lab:
            result = run_once(lab, work, Path(args.repo).resolve(), args.runs, args.client_mb)
            leftovers: List[str] = lab.leftover_dirs()
        print(report(result, args.runs, args.client_mb, Path(args.repo).resolve()))
        if leftovers:
            print(f"warning: run folders left on the login host: {leftovers}", file=sys.stderr)
        if result.exit_code != 0:
            print((work / "stderr.txt").read_text(errors="replace")[-2000:], file=sys.stderr)
        return 0 if result.exit_code == 0 else 1
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
