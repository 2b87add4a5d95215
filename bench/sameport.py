#!/usr/bin/env python3
"""Same port, many groups (issue 15): a batch of submissions that all hard-code one server port, two ways.

No root needed: it starts the built-in loopback lab (a throwaway sshd on 127.0.0.1 with its own keys) and
grades N copies (default 8) of tests/fixtures/grading/same-port-a and same-port-b, whose servers all
bind() port 31999, with `python -m sockdeploy batch DIR... --exercise ex5 --json`:

- moved binds: `-j 4`. The batch's port book gives 31999 to the first run that starts its server; the
  later runs' bind() is moved to a free port by the LD_PRELOAD redirect, and their clients' connections
  follow through their own tunnels.
- serialised: `-j 1`. Every submission has the same port on the same (only) host, so running the runs of
  one port one after another per host is running the whole batch one at a time: `-j 1`.

    python bench/sameport.py                    # 8 submissions, 1 warm-up round, 5 timed rounds
    python bench/sameport.py --reps 3 --submissions 12

Each round runs both ways, their order swapped every round. It prints, per way, the batch's wall time
(min/median/max seconds, from starting the command to its exit), the SSH logins, how many runs had their
bind moved and why, and the server phase summed over the runs (from "start the server" to "wait for the
server to end and collect its log", read from progress.log): the part one port's runs cannot share.

Every batch is checked: exit 0, every submission "passed", every server.log free of "address already in
use" and holding exactly its own group's lines (each copy's server.c prints a label of its own, e.g.
"group a03", so a client that reached another group's server would show). The script exits 1 if any
check fails in any batch, warm-up included: a time without correct verdicts is worthless.

Where `-j 1` is not a fair "serialised" baseline: it serialises the uploads and builds too, which a queue
per port would let overlap (the server-phase sum is that queue's floor); it also logs in once instead of
up to 4 times. And it is not "without the redirect": a fixture's server closes its connections first,
so 31999 stays in TIME_WAIT for 60 s after each run, and the next run's bind() is moved anyway (the
"still held by an earlier connection" count). Port 31999 is this machine's: a batch elsewhere with the
same fixtures (tests/integration/test_grading.py) running at the same time is seen as "taken", and the two
race for it. Not part of the test suite (see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sockdeploy.lab.loopback import LoopbackLab  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures" / "grading"
WAYS = {"moved binds": 4, "serialised": 1}  # way -> -j
SERVER_PHASE = ("start the server", "open the tunnel", "prepare the address redirect", "client run",
                "wait for the server to end")
STEP = re.compile(r"^\s*(?P<step>.+?): ok \((?P<seconds>\d+(?:\.\d+)?) s\)$")
MOVED = re.compile(r"port \d+, written into your server, (?P<why>.+?) on \S+; its bind\(\) to \d+ is moved")


def log(msg: str) -> None:
    """Progress on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_submissions(root: Path, count: int) -> Dict[str, str]:
    """COUNT copies of the two fixtures, alternating, each printing a label of its own; return name -> label."""
    labels: Dict[str, str] = {}
    for i in range(1, count + 1):
        group = "ab"[(i - 1) % 2]
        name, label = f"group{i:02d}", f"{group}{i:02d}"
        dest = root / name
        shutil.copytree(FIXTURES / f"same-port-{group}", dest)
        server = dest / "server.c"
        text = server.read_text()
        assert f'"group {group}' in text, "the fixture's server no longer prints 'group X ...'"
        # only the printed words change: the port, the calls and the behaviour are the fixture's
        server.write_text(text.replace(f'"group {group}', f'"group {label}'))
        labels[name] = label
    return labels


@dataclass
class Batch:
    """One timed batch and what its run folders say."""

    way: str
    wall: float
    exit_code: int
    logins: int = 0
    moved: Counter = field(default_factory=Counter)  # why -> runs whose bind was moved
    server_phase: float = 0.0
    problems: List[str] = field(default_factory=list)


def run_batch(lab: LoopbackLab, work: Path, subs: Dict[str, str], way: str, tag: str) -> Batch:
    """Grade every submission once with WAY's -j and check each verdict and server log."""
    home = work / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SSH_", "SOCKDEPLOY_", "XDG_CONFIG", "XDG_STATE", "XDG_CACHE", "XDG_DATA"))}
    env.update(HOME=str(home), PYTHONPATH=str(REPO))
    out = work / "out" / tag
    argv = [sys.executable, "-m", "sockdeploy", "batch", *(str(work / "subs" / name) for name in subs),
            "--exercise", "ex5", "-j", str(WAYS[way]), "--hosts", str(lab.hosts_file), "--out", str(out), "--json"]
    start = time.monotonic()
    with open(work / f"{tag}.stderr", "wb") as err:
        proc = subprocess.run(argv, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=err, timeout=600)
    batch = Batch(way, time.monotonic() - start, proc.returncode)
    if proc.returncode != 0:
        batch.problems.append(f"exit code {proc.returncode} (its stderr: {work / f'{tag}.stderr'}, kept with --keep)")
    try:
        summary = json.loads(proc.stdout)
    except ValueError:
        batch.problems.append("no JSON summary on stdout")
        return batch
    batch.logins = int(summary.get("logins") or 0)
    results = {s["submission"]: s for s in summary.get("submissions", [])}
    for name, label in subs.items():
        s = results.get(name)
        if s is None:
            batch.problems.append(f"{name}: missing from the summary")
            continue
        if s["result"] != "passed":
            batch.problems.append(f"{name}: {s['result']}: {s['reason']}")
        check_run_dir(Path(s["run_dir"]), name, label, batch)
    return batch


def check_run_dir(run_dir: Path, name: str, label: str, batch: Batch) -> None:
    """Read one run folder: its server log's lines, the moved bind and the server phase's steps."""
    try:
        server = (run_dir / "server.log").read_text(errors="replace")
        progress = (run_dir / "progress.log").read_text(errors="replace")
    except OSError as exc:
        batch.problems.append(f"{name}: {exc}")
        return
    if "address already in use" in server.lower():
        batch.problems.append(f"{name}: 'address already in use' in server.log")
    groups = re.findall(r"^group (\w+)", server, re.M)
    # 2 client runs x 4 integers read, "up on" and "quitting": all its own
    if groups.count(label) != 10 or set(groups) != {label}:
        batch.problems.append(f"{name}: server.log shows groups {sorted(Counter(groups).items())}, "
                              f"expected 10 lines of group {label}")
    for line in progress.splitlines():
        moved = MOVED.search(line)
        if moved:
            batch.moved[moved.group("why")] += 1
        step = STEP.match(line)
        if step and step.group("step").startswith(SERVER_PHASE):
            batch.server_phase += float(step.group("seconds"))


def measure(lab: LoopbackLab, work: Path, subs: Dict[str, str], reps: int, warmup: int) -> List[Batch]:
    """Run both ways WARMUP + REPS rounds, the order swapped every round; return every batch, warm-ups included."""
    batches: List[Batch] = []
    names = list(WAYS)
    for rnd in range(warmup + reps):
        order = names if rnd % 2 == 0 else names[::-1]
        for way in order:
            kind = "warm-up" if rnd < warmup else f"round {rnd - warmup + 1}/{reps}"
            batch = run_batch(lab, work, subs, way, f"r{rnd}-j{WAYS[way]}")
            batch.way = way if rnd >= warmup else f"warm-up: {way}"
            batches.append(batch)
            log(f"{kind}, {way} (-j {WAYS[way]}): {batch.wall:.2f} s, exit {batch.exit_code}, "
                f"{len(batch.problems)} problem(s)")
    return batches


def report(batches: List[Batch], count: int, reps: int, warmup: int) -> str:
    lines = [f"{count} submissions with port 31999 written in, `sockdeploy batch --exercise ex5`, loopback lab, "
             f"{reps} batch(es) each way after {warmup} warm-up round(s)",
             "", "| way | wall min | median | max | logins | moved binds per batch (why) | server phase, summed (median) |",
             "|---|---:|---:|---:|---:|---|---:|"]
    for way, jobs in WAYS.items():
        timed = [b for b in batches if b.way == way]
        walls = [b.wall for b in timed]
        moved: Counter = Counter()
        for b in timed:
            moved.update(b.moved)
        why = "; ".join(f"{n / len(timed):.3g} {reason.removeprefix('is ')}" for reason, n in moved.most_common())
        lines.append(f"| {way} (`-j {jobs}`) | {min(walls):.2f} s | {statistics.median(walls):.2f} s | "
                     f"{max(walls):.2f} s | {statistics.median(b.logins for b in timed):g} | "
                     f"{sum(moved.values()) / len(timed):.3g} ({why or 'none'}) | "
                     f"{statistics.median(b.server_phase for b in timed):.2f} s |")
    bad = [b for b in batches if b.problems]
    lines += ["", f"verdicts: {len(batches) - len(bad)} of {len(batches)} batches (warm-ups included) with every "
                  f"submission passed, its server log its own and no 'address already in use'"]
    return "\n".join(lines) + "\n"


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--submissions", type=int, default=8, help="copies of the two fixtures (default 8)")
    p.add_argument("--reps", type=int, default=5, help="timed batches each way (default 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1: builds the redirect "
                                                         "libraries once, as for any batch after the first)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (submissions, batch folders)")
    args = p.parse_args(argv)
    if args.submissions < 2 or args.reps < 1 or args.warmup < 0:
        p.error("--submissions needs at least 2, --reps at least 1, --warmup at least 0")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="sockdeploy-bench-sameport-"))
    try:
        subs = make_submissions(work / "subs", args.submissions)
        with LoopbackLab(work / "lab") as lab:
            log(f"lab sshd on 127.0.0.1:{lab.port}; {args.submissions} submissions in {work / 'subs'}")
            batches = measure(lab, work, subs, args.reps, args.warmup)
            leftovers = lab.leftover_dirs() + lab.leftover_processes()
        print(report(batches, args.submissions, args.reps, args.warmup), end="")
        failed = False
        for b in batches:
            for problem in b.problems:
                print(f"FAILED ({b.way}): {problem}", file=sys.stderr)
                failed = True
        if leftovers:
            print(f"FAILED: left on the login host: {leftovers}", file=sys.stderr)
            failed = True
        return 1 if failed else 0
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
