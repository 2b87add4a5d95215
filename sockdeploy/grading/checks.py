"""The checks of payload.yaml's `checks:` section, judged from what a run saw (RunFacts), each with a one-line reason.

Pure logic: run/checkstep.py gathers the facts from a finished run (its
record, its logs, the wire record) and records the results.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from sockdeploy.grading.integers import Decoded, Item, anywhere, best_reading, matches, output_integers, shown_as
from sockdeploy.net.wire import SENT, WireConnection, WireLog, unrecorded_note
from sockdeploy.spec.checks import Checks


@dataclass(frozen=True)
class CheckResult:
    """One check: ok True/False, or None when it could not be judged; REACHED is False for a check
    left failing because an earlier step (a build, the server's start) never let it happen."""

    name: str
    ok: Optional[bool]
    detail: str
    reached: bool = True

    @property
    def failed(self) -> bool:
        return self.ok is False


@dataclass
class ClientFacts:
    """One client run of the plan, as the run saw it."""

    run: int
    quit: bool = False  # the run that tells the server to quit
    started: bool = False
    exit_code: Optional[int] = None
    timed_out: bool = False
    stopped: bool = False  # stopped with Ctrl-C after its planned duration: not a failure
    argv_integers: Tuple[int, ...] = ()  # numbers on its command line other than the address and port
    output: str = ""  # what it printed


@dataclass
class RunFacts:
    """What a finished run tells the checks."""

    build_failed: Optional[str] = None  # "server" or "client"
    listened: Optional[bool] = None  # None: never got that far
    listen_problem: str = ""
    port: Optional[int] = None
    written_port: Optional[int] = None  # the port written into the server, when its bind was moved
    server_output: str = ""
    server_ended: Optional[bool] = None  # True: by itself; False: still running after the runs; None: unknown
    server_exit_code: Optional[int] = None
    awaited: bool = False  # the run waited for the server to end by itself
    waited: float = 10.0
    protocol: str = "tcp"
    clients: List[ClientFacts] = field(default_factory=list)
    wire: Optional[WireLog] = None
    no_wire: str = "no wire record on the direct path"


@dataclass
class RunBytes:
    """One client run's bytes on the wire, read one way (or not at all)."""

    facts: ClientFacts
    connections: List[WireConnection]
    reading: Optional[Decoded] = None
    unrecorded: Optional[str] = None  # a program the run started that the preload library could not record

    @property
    def sent(self) -> int:
        return sum(c.totals[SENT] for c in self.connections)

    @property
    def items(self) -> Tuple[Item, ...]:
        return self.reading.items if self.reading else ()


def _incomplete(runs: Sequence[RunBytes]) -> Optional[str]:
    """Why the wire record cannot judge RUNS: the first run whose record misses a program's bytes (None: whole)."""
    rb = next((rb for rb in runs if rb.unrecorded), None)
    return unrecorded_note(rb.facts.run, rb.unrecorded) if rb is not None and rb.unrecorded else None


def _not_judged(name: str, facts: RunFacts, runs: Sequence[RunBytes]) -> Optional[CheckResult]:
    """Check NAME not judged: there is no wire record, or a client run's is incomplete; None: it can be judged."""
    if facts.wire is None:
        return CheckResult(name, None, f"not judged: {facts.no_wire}")
    why = _incomplete(runs)
    return CheckResult(name, None, f"not judged: {why}") if why else None


def _before_the_wire(name: str, facts: RunFacts, runs: Sequence[RunBytes]) -> Optional[CheckResult]:
    """Check NAME, which reads the wire, not reached (see _ended_early) or not judged (see _not_judged); None: go on."""
    early = _ended_early(facts)
    return _not_reached(name, early) if early else _not_judged(name, facts, runs)


def _numbers(text: str) -> List[int]:
    """The numbers of up to five digits standing on their own in TEXT (ports among them)."""
    return [int(n) for n in re.findall(r"(?<!\d)\d{1,5}(?!\d)", text)]


def _not_reached(name: str, why: str) -> CheckResult:
    return CheckResult(name, False, f"not reached: {why}", reached=False)


def _ended_early(facts: RunFacts) -> Optional[str]:
    """Why nothing after the build or the server's start happened, or None."""
    if facts.build_failed:
        return f"the {facts.build_failed} did not build"
    if facts.listened is False:
        return "the server never listened"
    return None


def judge_built(facts: RunFacts) -> CheckResult:
    if facts.build_failed:
        return CheckResult("built", False, f"the {facts.build_failed} did not build (see {facts.build_failed}-build.log)")
    return CheckResult("built", True, "the server and the client built")


def judge_listened(facts: RunFacts) -> CheckResult:
    if facts.build_failed:
        return _not_reached("listened", f"the {facts.build_failed} did not build")
    if facts.listened:
        where = f"on port {facts.port}" if facts.port else "(no port needed)"
        return CheckResult("listened", True, f"the server listened {where}")
    return CheckResult("listened", False, facts.listen_problem or "the server never listened")


def judge_connected(facts: RunFacts, runs: Sequence[RunBytes]) -> CheckResult:
    early = _ended_early(facts)
    if early:
        return _not_reached("connected", early)
    carried = 0
    for rb in runs:
        c, n = rb.facts, rb.facts.run
        if not c.started:
            return _not_reached("connected", f"client run {n} did not run (an earlier run failed)")
        if c.timed_out:
            return CheckResult("connected", False, f"client run {n} did not finish within its timeout")
        if facts.wire is not None and facts.protocol == "tcp":
            broken = next((x for x in rb.connections if x.error), None)
            if broken is not None:
                return CheckResult("connected", False, f"client run {n}'s connection could not be carried: {broken.error}")
            if not rb.connections and not rb.unrecorded:  # else its exit status says what it can
                return CheckResult("connected", False, f"client run {n} made no connection to the server")
        if c.exit_code != 0 and not c.stopped:
            return CheckResult("connected", False, f"client run {n} exited with status {c.exit_code}")
        carried += len(rb.connections)
    seen = "recorded" if facts.wire is not None and facts.wire.by_preload else "carried"
    counted, incomplete = "", _incomplete(runs)
    if facts.wire is not None:
        counted = f"{carried} connection{'s' * (carried != 1)} {seen}"
        counted = f" ({counted}; {incomplete})" if incomplete else f" ({counted})"
    return CheckResult("connected", True, f"{len(runs)} client run{'s' * (len(runs) != 1)} connected and exited 0{counted}")


def judge_sent(facts: RunFacts, runs: Sequence[RunBytes]) -> CheckResult:
    gate = _before_the_wire("sent", facts, runs)
    if gate is not None:
        return gate
    for rb in runs:
        if not rb.facts.started:
            return _not_reached("sent", f"client run {rb.facts.run} did not run")
        if rb.sent == 0:
            how = " connected but" if rb.connections and facts.protocol == "tcp" else ""
            return CheckResult("sent", False, f"client run {rb.facts.run}{how} sent nothing")
    total = sum(rb.sent for rb in runs)
    return CheckResult("sent", True, f"the client runs sent {total} bytes")


def quit_item(checks: Checks, runs: Sequence[RunBytes]) -> Tuple[Optional[RunBytes], Optional[int], str]:
    """Find the quit code on the wire: (the quit run, the index of its item, why not found)."""
    quitter = next((rb for rb in runs if rb.facts.quit), None)
    if quitter is None or not quitter.facts.started:
        return quitter, None, "the quit run did not run"
    name = f"the quit run (client run {quitter.facts.run})"
    items = quitter.items
    if not items:
        return quitter, None, f"{name} sent nothing" if quitter.sent == 0 else f"{name}'s bytes hold no number or word"
    if checks.quit_code is not None:
        hits = [i for i, v in enumerate(items) if isinstance(v, int) and shown_as(checks.quit_code, v)]
        if not hits:
            return quitter, None, f"{name} never sent the quit code {checks.quit_code}"
        return quitter, hits[-1], ""
    other = next((rb for rb in runs if not rb.facts.quit and rb.facts.started and rb.items), None)
    if other is None:
        return quitter, len(items) - 1, ""
    same = 0
    while same < min(len(items), len(other.items)) and items[same] == other.items[same]:
        same += 1
    if same == len(items):
        return quitter, None, f"{name} sent nothing that client run {other.facts.run} did not: no quit code"
    return quitter, len(items) - 1, ""


def judge_integers(checks: Checks, facts: RunFacts, runs: Sequence[RunBytes]) -> CheckResult:
    early = _ended_early(facts)
    if early:
        return _not_reached("integers", early)
    if facts.wire is not None:
        skipped = _not_judged("integers", facts, runs)
        if skipped is not None:
            return skipped
    printed = output_integers(facts.server_output)
    quitter, skip, _ = quit_item(checks, runs) if checks.wants("quit") else (None, None, "")
    values: List[Tuple[int, int]] = []  # (value, client run)
    note = ""
    if facts.wire is None:
        values = [(v, rb.facts.run) for rb in runs for v in rb.facts.argv_integers]
        if not values:
            return CheckResult("integers", None, f"not judged: {facts.no_wire}")
        note = f" ({facts.no_wire}: judged on the clients' arguments)"
    for rb in (runs if facts.wire is not None else ()):
        if rb.sent and rb.reading is None:
            return CheckResult("integers", False, f"client run {rb.facts.run}'s bytes are neither text numbers "
                                                  "nor 32-bit words")
        for i, v in enumerate(rb.items):
            if isinstance(v, int) and not (rb is quitter and i == skip):
                values.append((v, rb.facts.run))
    if not values:
        return _not_reached("integers", "the clients put no integer on the wire")
    found = matches([v for v, _ in values], printed)
    missing = [k for k, at in enumerate(found) if at is None]
    if missing:
        value, run = values[missing[0]]
        taken = set(found)
        unused = [p for j, p in enumerate(printed) if j not in taken]  # numbers no other value took
        where = ("appears in the server's output only out of order" if anywhere(value, unused)
                 else "never appears in the server's output")
        more = f" ({len(missing) - 1} more missing)" if len(missing) > 1 else ""
        return CheckResult("integers", False, f"integer {value} sent by client run {run} {where}{more}")
    encodings = sorted({rb.reading.encoding for rb in runs if rb.reading is not None})
    swapped = " (some printed byte-swapped)" if _any_swapped(values, printed) else ""
    return CheckResult("integers", True, f"all {len(values)} integers appear in order "
                                         f"({'/'.join(encodings) or 'arguments'}){swapped}{note}")


def _any_swapped(values: Sequence[Tuple[int, int]], printed: Sequence[int]) -> bool:
    shown = set(printed)
    return any(v not in shown and not anywhere_plain(v, shown) for v, _ in values)


def anywhere_plain(value: int, printed: set) -> bool:
    """Whether the output shows VALUE unswapped (as sent, or the same 32 bits signed)."""
    return any(p == value or (p & 0xFFFFFFFF) == (value & 0xFFFFFFFF) for p in printed if -(2 ** 31) <= p <= 0xFFFFFFFF)


def judge_quit(checks: Checks, facts: RunFacts, runs: Sequence[RunBytes]) -> CheckResult:
    gate = _before_the_wire("quit", facts, runs)
    if gate is not None:
        return gate
    quitter, index, why = quit_item(checks, runs)
    if quitter is None:
        return CheckResult("quit", None, "not judged: no client run of the plan tells the server to quit")
    if not quitter.facts.started:
        return _not_reached("quit", why or "the quit run did not run")
    if index is None:
        return CheckResult("quit", False, why)
    code = quitter.items[index]
    conn = next((c for c in reversed(quitter.connections) if c.totals[SENT]), None)
    if conn is not None and conn.error:
        return CheckResult("quit", False, f"the quit code {code} could not be carried: {conn.error}")
    last = max((c.t for c in conn.chunks if c.direction == SENT), default=None) if conn else None
    closed = conn.event_time("server closed") if conn else None
    if closed is not None and last is not None and closed < last:
        return CheckResult("quit", False, f"the server closed the quit run's connection before the quit code {code} "
                                          "was sent")
    return CheckResult("quit", True, f"the quit code {code} reached the server (client run {quitter.facts.run})")


def judge_ended(facts: RunFacts, runs: Sequence[RunBytes]) -> CheckResult:
    early = _ended_early(facts)
    if early:
        return _not_reached("ended", early)
    quitter = next((rb for rb in runs if rb.facts.quit), None)
    if quitter is not None and not quitter.facts.started:
        return _not_reached("ended", "the quit run did not run")
    after = "the quit run" if quitter is not None else "the last client run"
    if facts.server_ended is False:
        if facts.awaited:
            return CheckResult("ended", False, f"the server was still running {facts.waited:g} s after {after}")
        return CheckResult("ended", False, f"the server was still running after {after} (sockdeploy stopped it)")
    if facts.server_ended is None:
        return CheckResult("ended", None, "not judged: the server's end was not seen")
    if facts.server_exit_code not in (0, None):
        return CheckResult("ended", False, f"the server ended after {after}, with exit status {facts.server_exit_code}")
    return CheckResult("ended", True, f"the server ended by itself after {after}")


def _shows(output: str, ip: str, port: int) -> bool:
    """Whether OUTPUT shows the address IP and the port PORT (as a number of its own)."""
    return ip in output and port in _numbers(output)


def judge_addresses(facts: RunFacts, runs: Sequence[RunBytes]) -> CheckResult:
    """The server printed the port it listens on; each client run printed its own socket's address."""
    gate = _before_the_wire("addresses", facts, runs)
    if gate is not None:
        return gate
    ports = [p for p in (facts.port, facts.written_port) if p]
    printed = set(_numbers(facts.server_output))
    if ports and not printed & set(ports):
        return CheckResult("addresses", False, f"the server never printed the port it listens on ({ports[0]})")
    for rb in runs:
        for conn in rb.connections:
            ip, _, port = conn.origin.rpartition(":")
            if not _shows(rb.facts.output, ip, int(port)):
                return CheckResult("addresses", False, f"client run {rb.facts.run} never printed its socket's "
                                                       f"address {conn.origin}")
    return CheckResult("addresses", True, "the server printed its port, each client run its socket's address")


def client_bytes(facts: RunFacts, printed: Sequence[int]) -> List[RunBytes]:
    """Each client run's connections and its bytes read the way the server's output best explains."""
    out = []
    for c in facts.clients:
        conns = facts.wire.of_run(c.run) if facts.wire is not None else []
        if facts.protocol == "udp":
            parts = [d for conn in conns for d in conn.datagrams(SENT)]
        else:
            parts = [conn.data(SENT) for conn in conns]
        unrecorded = facts.wire.unrecorded.get(c.run) if facts.wire is not None else None
        out.append(RunBytes(c, conns, best_reading(parts, printed), unrecorded))
    return out


Judge = Callable[[Checks, RunFacts, List[RunBytes]], CheckResult]
JUDGES: Dict[str, Judge] = {
    "built": lambda _c, f, _r: judge_built(f),
    "listened": lambda _c, f, _r: judge_listened(f),
    "connected": lambda _c, f, r: judge_connected(f, r),
    "sent": lambda _c, f, r: judge_sent(f, r),
    "integers": judge_integers,
    "quit": judge_quit,
    "ended": lambda _c, f, r: judge_ended(f, r),
    "addresses": lambda _c, f, r: judge_addresses(f, r),
}


def evaluate(checks: Checks, facts: RunFacts) -> List[CheckResult]:
    """Judge every check CHECKS enables, in order; each result carries its one-line reason."""
    runs = client_bytes(facts, output_integers(facts.server_output))
    return [JUDGES[name](checks, facts, runs) for name in checks.enabled]


def first_failure(results: Sequence[CheckResult]) -> Optional[CheckResult]:
    """The failure a grader reads first: the first failed check that was reached, else the first failed one."""
    failed = [r for r in results if r.failed]
    return next((r for r in failed if r.reached), failed[0] if failed else None)
