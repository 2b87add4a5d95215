"""Grading: one exercise over many submissions, in parallel, over a few shared SSH connections.

Each submission (a payload folder, one per group) gets its own run folder
under `<out>/batch-<UTC>/<name>/`, its own port (a PortBook per server host)
and its own private remote directory. Runs share SSH connections as channels:
at most `connections` logins per server host, opened one at a time (sshd's
MaxStartups), each carrying at most `runs_per_connection` runs at once so its
session channels stay under sshd's MaxSessions. One submission's failure is
recorded as its verdict and never stops or touches another.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    TextIO,
    Tuple,
    Union,
)

from sockdeploy.errors import (
    BuildError,
    ConfigError,
    ConnectError,
    ExpectationsFailed,
    Interrupted,
    NetworkPathError,
    PayloadError,
    ProgramError,
    RemoteError,
    SockdeployError,
    Terminated,
    UsageError,
)
from sockdeploy.output.progress import Progress, use_color
from sockdeploy.output.runfolder import make_unique_dir
from sockdeploy.run import server as process
from sockdeploy.run.record import RunRecord
from sockdeploy.run.runner import RunOptions, RunResult, run_payload
from sockdeploy.spec import payload as payload_mod
from sockdeploy.spec.hosts import ClientConfig, Config, ServerConfig
from sockdeploy.spec.payload import Payload
from sockdeploy.ssh.session import SshSession

CONNECTION_CAP = 4  # default most logins per server host
SSHD_MAX_SESSIONS = 10  # OpenSSH's default MaxSessions: session channels per connection
# Session channels one run holds at once at most: the lifeline, one script (build,
# start, wait, fetch: a remote agent, kept for the next run when idle) and the clock
# probe or the UDP relay. Forwards (direct-tcpip) do not count against MaxSessions.
CHANNELS_PER_RUN = 3

# Verdicts, in the order the summary counts them.
PASSED = "passed"
EXPECTATIONS_FAILED = "expectations failed"
BUILD_FAILED = "build failed"
TIMED_OUT = "timed out"
PROGRAM_FAILED = "program failed"
BAD_SUBMISSION = "bad submission"
NETWORK_ERROR = "network error"
CONNECTION_ERROR = "connection error"
INTERRUPTED = "interrupted"
NOT_RUN = "not run"
INTERNAL_ERROR = "internal error"
VERDICTS = (PASSED, EXPECTATIONS_FAILED, BUILD_FAILED, TIMED_OUT, PROGRAM_FAILED, BAD_SUBMISSION, NETWORK_ERROR,
            CONNECTION_ERROR, INTERRUPTED, NOT_RUN, INTERNAL_ERROR)
# The submission's own doing: the batch worked, the programs did not (exit 6).
STUDENT_FAULTS = (EXPECTATIONS_FAILED, BUILD_FAILED, TIMED_OUT, PROGRAM_FAILED, BAD_SUBMISSION)
SUMMARY_JSON = "summary.json"
SUMMARY_TEXT = "summary.txt"
RESERVED_NAMES = {SUMMARY_JSON, SUMMARY_TEXT}


def runs_per_connection(max_sessions: int = SSHD_MAX_SESSIONS, per_run: int = CHANNELS_PER_RUN) -> int:
    """Return how many runs one connection may carry at once, one session channel kept spare."""
    return max(1, (max_sessions - 1) // per_run)


# -- the submissions ------------------------------------------------------------

@dataclass(frozen=True)
class Submission:
    """One payload folder to grade; `problem` says why it cannot run (bad manifest, missing file)."""

    name: str  # unique and safe: its run folder's name
    source: Path
    payload: Optional[Payload] = None
    problem: Optional[SockdeployError] = None

    @property
    def remote(self) -> bool:
        return self.payload is not None and not self.payload.local


def safe_names(dirs: Sequence[Path]) -> List[str]:
    """Return one folder name per submission: its folder's name, sanitised, made unique with -2, -3..."""
    names: List[str] = []
    seen = set(RESERVED_NAMES)
    for d in dirs:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", d.name).strip("._-")[:60] or "submission"
        name, n = base, 1
        while name in seen:
            n += 1
            name = f"{base}-{n}"
        seen.add(name)
        names.append(name)
    return names


def plan_submissions(dirs: Sequence[str], exercise: Optional[str]) -> List[Submission]:
    """Turn DIR arguments into submissions with their payloads; contact nothing.

    With `exercise`, each folder's sources run under that plan with its full
    expectations (grading checks the output, unlike `run --payload`); without
    it, each folder's own payload.yaml is the plan. A folder that cannot be
    planned becomes a submission with a `problem`, and the others still run;
    a folder that does not exist stops everything (a typo on the command line).
    """
    paths = [Path(d).expanduser() for d in dirs]
    for p in paths:
        if not p.is_dir():
            raise UsageError(f"submission folder not found: {p}", "pass one folder per submission, e.g. submissions/*",
                             where="DIR")
    plan: Optional[Payload] = payload_mod.resolve(exercise) if exercise else None
    out = []
    for path, name in zip(paths, safe_names(paths)):
        try:
            if exercise is not None:
                assert plan is not None
                mine = payload_mod.resolve(exercise, str(path))
                mine = dataclasses.replace(mine, expect=plan.expect, checks_skipped=False)
            elif (path / payload_mod.MANIFEST).is_file():
                mine = payload_mod.load_manifest(path / payload_mod.MANIFEST, name=name)
            else:
                raise PayloadError(f"{path} has no {payload_mod.MANIFEST}, and no --exercise was given",
                                   "pass --exercise ex5 (the plan to apply), or add a payload.yaml to the folder")
            out.append(Submission(name, path.resolve(), mine))
        except (PayloadError, UsageError, ConfigError) as exc:
            out.append(Submission(name, path.resolve(), None, exc))
    return out


# -- verdicts -------------------------------------------------------------------

def classify(error: Optional[SockdeployError], record: Union[RunRecord, Mapping[str, Any], None] = None) -> str:
    """Return the verdict for a run that ended with `error` (None: passed)."""
    if error is None:
        return PASSED
    rec = record if isinstance(record, RunRecord) else RunRecord.from_json(record or {})
    if isinstance(error, Interrupted):
        return INTERRUPTED
    if isinstance(error, ExpectationsFailed):
        return EXPECTATIONS_FAILED
    if isinstance(error, BuildError):
        return BUILD_FAILED
    if isinstance(error, ProgramError):
        if rec.server.timed_out or any(c.timed_out for c in rec.clients):
            return TIMED_OUT
        return PROGRAM_FAILED
    if isinstance(error, (PayloadError, UsageError, ConfigError)):
        return BAD_SUBMISSION
    if isinstance(error, NetworkPathError):
        return NETWORK_ERROR
    if isinstance(error, (ConnectError, RemoteError)):
        return CONNECTION_ERROR
    return INTERNAL_ERROR


@dataclass
class Outcome:
    """What became of one submission."""

    submission: Submission
    verdict: str
    seconds: float = 0.0
    folder: Optional[Path] = None
    host: Optional[str] = None
    error: Optional[SockdeployError] = None
    record: Union[RunRecord, Mapping[str, Any], None] = None

    @property
    def passed(self) -> bool:
        return self.verdict == PASSED

    def to_dict(self) -> Dict[str, Any]:
        err = self.error.to_dict() if self.error is not None else None
        if err is not None and self.error is not None:
            err["exit_code"] = self.error.exit_code
        return {"submission": self.submission.name, "source": str(self.submission.source), "result": self.verdict,
                "seconds": round(self.seconds, 2), "host": self.host, "run_dir": str(self.folder) if self.folder else None,
                "error": err}


def exit_code(outcomes: Sequence[Outcome], interrupted: Optional[Interrupted] = None) -> int:
    """Return the batch's exit code: 0 if all passed, else that of the most serious class.

    Interrupted (130/143) beats an SSH problem (3, some submissions were not
    graded), which beats a blocked network path (5), an internal error (1), and
    the submissions' own failures (6).
    """
    verdicts = {o.verdict for o in outcomes}
    if interrupted is not None:
        return interrupted.exit_code
    if verdicts & {INTERRUPTED, NOT_RUN}:
        return 130
    if CONNECTION_ERROR in verdicts:
        return ConnectError.exit_code
    if NETWORK_ERROR in verdicts:
        return NetworkPathError.exit_code
    if INTERNAL_ERROR in verdicts:
        return 1
    if verdicts - {PASSED}:
        return ProgramError.exit_code
    return 0


@dataclass
class GradingResult:
    folder: Path
    outcomes: List[Outcome]
    logins: int = 0
    hosts: List[Dict[str, Any]] = field(default_factory=list)  # per server host: preflight, cleanup
    interrupted: Optional[Interrupted] = None
    started: str = ""
    seconds: float = 0.0
    notes: List[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return exit_code(self.outcomes, self.interrupted)

    def counts(self) -> Dict[str, int]:
        found = [o.verdict for o in self.outcomes]
        return {v: found.count(v) for v in VERDICTS if v in found}

    def rows(self) -> List[List[str]]:
        """One summary row per submission: submission, result, seconds, run folder."""
        return [[o.submission.name, o.verdict, f"{o.seconds:.1f}", str(o.folder) if o.folder else "-"]
                for o in self.outcomes]

    def to_dict(self) -> Dict[str, Any]:
        return {"ok": self.exit_code == 0, "exit_code": self.exit_code, "batch_dir": str(self.folder),
                "started": self.started, "seconds": round(self.seconds, 2), "counts": self.counts(),
                "logins": self.logins, "hosts": self.hosts, "notes": self.notes,
                "interrupted": self.interrupted.to_dict() if self.interrupted else None,
                "submissions": [o.to_dict() for o in self.outcomes]}


# -- the connection pool ----------------------------------------------------------

class PooledSession(SshSession):
    """A connection shared by several runs at once: (re)opened at most once at a time, logins counted.

    Runs reopen a shared session that died; with several runs on it, only the
    first reopens, the others find it alive. Every login goes through `gate`,
    one at a time across the pool (MaxStartups; prompts never interleave).
    """

    def __init__(self, cfg: ServerConfig, gate: threading.Lock, **kwargs: Any) -> None:
        super().__init__(cfg, **kwargs)
        self._gate = gate
        self._reopen = threading.Lock()
        self.logins = 0

    def open(self, login: bool = True) -> None:
        with self._reopen:
            if self.alive:
                return
            with self._gate:
                super().open(login)
            self.logins += 1


@dataclass(eq=False)
class Connection:
    """One pooled connection and the runs it carries now."""

    session: Any
    load: int = 0


@dataclass(eq=False)
class HostSlot:
    """One server host's connections, port book and state."""

    cfg: ServerConfig
    index: int
    conns: List[Connection] = field(default_factory=list)
    opening: int = 0
    cap: int = 1
    failure: Optional[SockdeployError] = None
    ports: process.PortBook = field(default_factory=process.PortBook)
    closed: List[Any] = field(default_factory=list)  # sessions retired while the batch ran (their logins count)

    @property
    def label(self) -> str:
        return self.cfg.host


SessionFactory = Callable[[ServerConfig, threading.Lock], Any]


class ConnectionPool:
    """At most `per_host` SSH connections to each server host, each carrying up to `per_connection` runs at once.

    A run takes the least-loaded live connection of its host; a new connection
    is opened (one login at a time across the pool) only while every existing
    one is busy and the host is under its cap. A host whose first login fails
    is marked failed (no more attempts: a wrong key would fail every time); a
    later login that fails only lowers the host's cap.
    """

    def __init__(self, servers: Sequence[ServerConfig], per_host: int, per_connection: int, factory: SessionFactory) -> None:
        self.per_connection = max(1, per_connection)
        self.hosts = [HostSlot(cfg, i, cap=max(1, per_host)) for i, cfg in enumerate(servers)]
        self._factory = factory
        self._gate = threading.Lock()
        self._cond = threading.Condition()
        self._closed = False

    @property
    def logins(self) -> int:
        return sum(getattr(s, "logins", 0) for h in self.hosts for s in [c.session for c in h.conns] + h.closed)

    def healthy(self) -> List[HostSlot]:
        with self._cond:
            return [h for h in self.hosts if h.failure is None]

    def fail_host(self, slot: HostSlot, error: SockdeployError) -> None:
        """Take a host out of the batch (failed preflight); runs waiting for it get `error`."""
        with self._cond:
            slot.failure = error
            self._cond.notify_all()

    def acquire(self, slot: HostSlot, cancelled: Callable[[], Optional[SockdeployError]] = lambda: None) -> Connection:
        """Return a connection to `slot`'s host with room for one more run; wait while all are full."""
        while True:
            with self._cond:
                while True:
                    stop = cancelled()
                    if stop is not None:
                        raise stop
                    if self._closed:
                        raise Interrupted("not run: the batch was stopped", "run the batch again")
                    if slot.failure is not None:
                        raise slot.failure
                    self._retire_dead(slot)
                    room = [c for c in slot.conns if c.load < self.per_connection]
                    best = min(room, key=lambda c: c.load) if room else None
                    can_open = len(slot.conns) + slot.opening < slot.cap
                    if best is not None and (best.load == 0 or not can_open):
                        best.load += 1
                        return best
                    if can_open:
                        slot.opening += 1
                        break
                    self._cond.wait(0.5)
            conn = self._open(slot)
            if conn is not None:
                return conn

    def _open(self, slot: HostSlot) -> Optional[Connection]:
        """Open one more connection for `slot` (load 1), or None to try the existing ones again."""
        session = None
        try:
            session = self._factory(slot.cfg, self._gate)
            session.open()
        except SockdeployError as exc:
            with self._cond:
                slot.opening -= 1
                if session is not None:
                    slot.closed.append(session)
                if slot.conns or slot.opening:
                    slot.cap = max(1, len(slot.conns) + slot.opening)  # make do with the ones that work
                else:
                    slot.failure = exc
                self._cond.notify_all()
            return None
        with self._cond:
            slot.opening -= 1
            conn = Connection(session, load=1)
            slot.conns.append(conn)
            self._cond.notify_all()
            return conn

    def release(self, conn: Connection) -> None:
        with self._cond:
            conn.load -= 1
            self._cond.notify_all()

    def _retire_dead(self, slot: HostSlot) -> None:
        """Close idle connections that died, making room for a new login (called with the lock held)."""
        for conn in list(slot.conns):
            if conn.load == 0 and not conn.session.alive:
                slot.conns.remove(conn)
                slot.closed.append(conn.session)
                try:
                    conn.session.close()
                except Exception:
                    pass

    def first_sessions(self) -> List[Tuple[HostSlot, Any]]:
        """Return one live session per healthy host (for the checks that run on every host at once)."""
        with self._cond:
            return [(h, c.session) for h in self.hosts if h.failure is None
                    for c in [next((c for c in h.conns if c.session.alive), None)] if c is not None]

    def close(self) -> None:
        """Close every connection; runs still using one fail with a connection error."""
        with self._cond:
            self._closed = True
            sessions = [c.session for h in self.hosts for c in h.conns]
            self._cond.notify_all()
        for session in sessions:
            try:
                session.close()
            except Exception:
                pass


# -- progress ---------------------------------------------------------------------

class BatchProgress:
    """done/total with passed/failed counts: a bar redrawn in place on a terminal, one line per result when piped."""

    WIDTH = 24

    def __init__(self, total: int, stream: Optional[TextIO] = None, *, quiet: bool = False) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.color = use_color(self.stream)
        self.done = self.passed = self.failed = self.running = 0
        self._lock = threading.Lock()

    def info(self, message: str) -> None:
        with self._lock:
            if not self.quiet:
                self._clear()
                print(f"  {message}", file=self.stream, flush=True)
                self._draw()

    def started(self, name: str) -> None:
        with self._lock:
            self.running += 1
            self._draw()

    def finished(self, outcome: Outcome, ran: bool = True) -> None:
        with self._lock:
            if ran:
                self.running -= 1
            self.done += 1
            if outcome.passed:
                self.passed += 1
            else:
                self.failed += 1
            if self.quiet:
                return
            verdict = outcome.verdict
            if self.color:
                verdict = f"\033[{'32' if outcome.passed else '31'}m{verdict}\033[0m"
            self._clear()
            print(f"  [{self.done}/{self.total}] {outcome.submission.name}: {verdict} ({outcome.seconds:.1f} s)",
                  file=self.stream, flush=True)
            self._draw()

    def bar(self) -> str:
        filled = int(self.WIDTH * self.done / self.total) if self.total else self.WIDTH
        return (f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.done}/{self.total}  "
                f"passed {self.passed}  failed {self.failed}  running {self.running}")

    def close(self) -> None:
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\r\033[K")

    def _draw(self) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\r\033[K" + self.bar())
            self.stream.flush()


class _RunProgress(Progress):
    """A run's step lines, into its progress.log; once the batch is stopped, the next step (not cleanup) ends the run."""

    CLEANUP = ("stop the server", "clean up")

    def __init__(self, stream: TextIO, stop: Callable[[], Optional[SockdeployError]]) -> None:
        super().__init__(stream, verbose=True)
        self._stop = stop

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        stop = self._stop()
        if stop is not None and not label.startswith(self.CLEANUP):
            raise stop
        with super().step(label):
            yield


# -- the batch ----------------------------------------------------------------------

@dataclass
class GradingOptions:
    jobs: int = 4
    connections: Optional[int] = None  # per server host; default min(jobs, CONNECTION_CAP)
    out: Path = Path("runs")
    via: Optional[str] = None
    accept_new: bool = False
    confirm: Optional[Callable[[str], bool]] = None
    prompt: Optional[Callable[[str, bool], str]] = None
    max_sessions: int = SSHD_MAX_SESSIONS

    @property
    def connection_cap(self) -> int:
        return max(1, self.connections if self.connections is not None else min(self.jobs, CONNECTION_CAP))


def make_batch_dir(out: Path, now: Optional[datetime] = None) -> Path:
    """Create `<out>/batch-<UTC>/` (with -2, -3... if taken) and return it."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    try:
        return make_unique_dir(out, f"batch-{stamp}")
    except OSError as exc:
        raise UsageError(f"cannot create a batch folder in {out}: {exc}", "check --out") from None


def assign_hosts(submissions: Sequence[Submission], hosts: int) -> List[Optional[int]]:
    """Spread the remote submissions round-robin over `hosts` server hosts (None: runs here, or not at all)."""
    out: List[Optional[int]] = []
    i = 0
    for sub in submissions:
        if sub.remote and hosts:
            out.append(i % hosts)
            i += 1
        else:
            out.append(None)
    return out


def preflight_script(workdir: str, tools: Sequence[str]) -> str:
    """Return the per-host check: the workdir can be made, the server's build tools exist, crashed runs are swept."""
    checks = "".join(f"command -v {shlex.quote(t)} >/dev/null 2>&1 || echo \"{process.MARK}MISSING {t}\"\n" for t in tools)
    return (f"base={process.shell_path(workdir)}\n"
            f"mkdir -p -- \"$base\" 2>/dev/null || echo \"{process.MARK}ERR cannot create $base\"\n"
            f"[ -w \"$base\" ] || echo \"{process.MARK}ERR $base is not writable\"\n"
            f"{checks}" + process.sweep_script(workdir))


def server_tools(submissions: Sequence[Submission]) -> List[str]:
    """Return the programs the server builds start with (gcc, make...), plus python3 and setsid."""
    tools = ["setsid"]
    for sub in submissions:
        p = sub.payload
        if p is None or p.local:
            continue
        if p.language == "python":
            tools.append("python3")
        try:
            words = shlex.split(p.server.build or "")
        except ValueError:
            words = []
        if words and re.fullmatch(r"[A-Za-z0-9_.+-]+", words[0]):
            tools.append(words[0])
    return list(dict.fromkeys(tools))


def _interpret_preflight(slot: HostSlot, result: Any) -> Optional[SockdeployError]:
    if isinstance(result, SockdeployError):
        return result
    lines = result.stdout.splitlines()
    errs = [line[len(process.MARK) + 4:] for line in lines if line.startswith(f"{process.MARK}ERR ")]
    missing = [line[len(process.MARK) + 8:] for line in lines if line.startswith(f"{process.MARK}MISSING ")]
    if errs:
        return RemoteError(f"{slot.label}: {errs[0]}", "check server.workdir in hosts.yaml and free space there")
    if missing:
        return RemoteError(f"{slot.label} lacks {', '.join(missing)}, which the submissions' server builds need",
                           "install it there, or drop the host from servers: in hosts.yaml")
    return None


def _cleaned(result: Any) -> List[str]:
    if isinstance(result, SockdeployError):
        return []
    return [line[len(process.MARK) + 8:] for line in result.stdout.splitlines()
            if line.startswith(f"{process.MARK}CLEANED ")]


class Grader:
    """Runs a batch: plans hosts and connections, runs the submissions on worker threads, writes the summary."""

    def __init__(self, submissions: Sequence[Submission], cfg: Optional[Config], opts: GradingOptions,
                 progress: Optional[BatchProgress] = None, *,
                 factory: Optional[SessionFactory] = None,
                 runner: Callable[[Payload, Optional[Config], RunOptions, Progress], RunResult] = run_payload,
                 run_on_hosts: Optional[Callable[..., List[Any]]] = None) -> None:
        self.submissions = list(submissions)
        self.cfg = cfg
        self.opts = opts
        self.progress = progress or BatchProgress(len(self.submissions), quiet=True)
        self.runner = runner
        self._run_on_hosts = run_on_hosts
        self._stop: Optional[SockdeployError] = None
        self._stop_lock = threading.Lock()
        self.pool: Optional[ConnectionPool] = None
        self.client_note: Optional[str] = None
        if cfg is not None and cfg.client.remote:
            # One login to the client host per run would break the bounded pool; graders run the clients here.
            assert cfg.client.ssh is not None
            self.client_note = (f"the clients run on this machine: a batch ignores client.host ({cfg.client.ssh.host}) "
                                "so that its logins stay bounded")
            cfg = dataclasses.replace(cfg, client=ClientConfig())
            self.cfg = cfg
        if any(s.remote for s in self.submissions):
            if cfg is None:
                raise UsageError("these submissions need a server host, but no hosts.yaml was loaded", "pass --hosts PATH")
            self.pool = ConnectionPool(cfg.server_hosts, opts.connection_cap, runs_per_connection(opts.max_sessions),
                                       factory or self._session)
        self.outcomes: List[Optional[Outcome]] = [None] * len(self.submissions)
        self._started: Dict[int, float] = {}  # submissions under way: when they began

    def _session(self, server: ServerConfig, gate: threading.Lock) -> PooledSession:
        session = PooledSession(server, gate, accept_new=self.opts.accept_new, confirm=self.opts.confirm, prompt=self.opts.prompt)
        # one agent per run the connection carries at once: idle ones count as that run's script channel
        session.max_agents = runs_per_connection(self.opts.max_sessions)
        return session

    # -- stopping ------------------------------------------------------------------
    def stop(self, why: Interrupted) -> None:
        """Start no more submissions; runs under way end at their next step (after cleaning up)."""
        with self._stop_lock:
            if self._stop is None:
                self._stop = why

    def stopped(self) -> Optional[SockdeployError]:
        return self._stop

    # -- the whole batch ---------------------------------------------------------------
    def grade(self, folder: Optional[Path] = None) -> GradingResult:
        """Run every submission; return the outcomes in the order given. Ctrl-C and SIGTERM stop it gracefully."""
        started = time.monotonic()
        batch_dir = folder or make_batch_dir(self.opts.out)
        result = GradingResult(folder=batch_dir, outcomes=[], started=datetime.now(timezone.utc).isoformat())
        hosts: List[Optional[int]] = [None] * len(self.submissions)
        if self.client_note:
            self.progress.info(self.client_note)
            result.notes.append(self.client_note)
        try:
            if self.pool is not None:
                result.hosts = self._preflight()
                healthy = [h.index for h in self.pool.healthy()]
                spread = assign_hosts(self.submissions, len(healthy))
                hosts = [healthy[i] if i is not None else None for i in spread]
            self._run_all(batch_dir, hosts)
        except (KeyboardInterrupt, Interrupted) as exc:
            why = exc if isinstance(exc, Interrupted) else Interrupted("interrupted (Ctrl-C)", "run the batch again")
            self.stop(why)
            result.interrupted = why
            if self.pool is not None:
                self.pool.close()  # runs still under way fail now; the server hosts' watchdogs remove their leftovers
        finally:
            from sockdeploy.run.signals import HOLD

            # Housekeeping is short: a Ctrl-C now waits until the summary is written.
            with HOLD.shielded():
                if self._stop is not None and result.interrupted is None:
                    result.interrupted = self._stop  # type: ignore[assignment]
                self.progress.close()
                result.outcomes = [o or self._not_run(i, batch_dir) for i, o in enumerate(self.outcomes)]
                if self.pool is not None:
                    if result.interrupted is None:
                        self._sweep(result.hosts)
                    self.pool.close()
                    result.logins = self.pool.logins
                result.seconds = time.monotonic() - started
                self._write_summary(result)
            if HOLD and result.interrupted is None:
                result.interrupted = (Terminated("terminated (SIGTERM)", "the summary was written first")
                                      if HOLD.first() == signal.SIGTERM else
                                      Interrupted("interrupted (Ctrl-C)", "the summary was written first"))
            HOLD.clear()
        return result

    def _preflight(self) -> List[Dict[str, Any]]:
        """Log in to each server host (one at a time) and check them all at once; take failing hosts out."""
        assert self.pool is not None
        reports: List[Dict[str, Any]] = []
        for slot in self.pool.hosts:
            reports.append({"host": slot.label, "ok": True, "error": None, "cleaned": []})
            self.progress.info(f"connecting to {slot.label}")
            try:
                conn = self.pool.acquire(slot, self.stopped)
                self.pool.release(conn)
            except SockdeployError as exc:
                if isinstance(exc, Interrupted):
                    raise
                self.pool.fail_host(slot, exc)
        live = self.pool.first_sessions()
        # Two names for one machine (an alias and its address) share one port book.
        books: Dict[str, process.PortBook] = {}
        for slot, session in live:
            slot.ports = books.setdefault(getattr(session, "peer_ip", None) or slot.label, slot.ports)
        if live:
            script = preflight_script  # one script per host: workdirs may differ
            results = self._on_hosts([s for _, s in live], [script(h.cfg.workdir, server_tools(self.submissions)) for h, _ in live])
            for (slot, _), res in zip(live, results):
                err = _interpret_preflight(slot, res)
                reports[slot.index]["cleaned"] = _cleaned(res)
                if err is not None:
                    self.pool.fail_host(slot, err)
        for slot in self.pool.hosts:
            if slot.failure is not None:
                reports[slot.index].update(ok=False, error=slot.failure.to_dict())
                self.progress.info(f"{slot.label}: not used: {slot.failure.headline()}")
        return reports

    def _on_hosts(self, sessions: List[Any], scripts: List[str]) -> List[Any]:
        """Run each host's script on all hosts at once (Fabric's ThreadingGroup when they are one script)."""
        from sockdeploy.ssh.session import run_on_hosts

        run = self._run_on_hosts or run_on_hosts
        if len(set(scripts)) == 1:
            return run(sessions, scripts[0], timeout=60)
        return [run([s], script, timeout=60)[0] for s, script in zip(sessions, scripts)]

    def _sweep(self, reports: List[Dict[str, Any]]) -> None:
        """After the batch: on every host at once, remove what crashed runs left (normally nothing)."""
        assert self.pool is not None
        live = self.pool.first_sessions()
        if not live:
            return
        try:
            results = self._on_hosts([s for _, s in live], [process.sweep_script(h.cfg.workdir) for h, _ in live])
        except Exception as exc:  # the runs are done and recorded; this is housekeeping
            self.progress.info(f"warning: the final sweep failed ({exc})")
            return
        for (slot, _), res in zip(live, results):
            if slot.index < len(reports):
                reports[slot.index].setdefault("cleaned", []).extend(_cleaned(res))

    def _run_all(self, batch_dir: Path, hosts: List[Optional[int]]) -> None:
        """Run the submissions on `jobs` worker threads; the main thread waits, so Ctrl-C reaches it."""
        import queue

        todo: queue.Queue[int] = queue.Queue()
        for i in range(len(self.submissions)):
            todo.put(i)
        workers = [threading.Thread(target=self._worker, args=(todo, batch_dir, hosts), name=f"sockdeploy-grade-{n + 1}",
                                    daemon=True)
                   for n in range(max(1, min(self.opts.jobs, len(self.submissions))))]
        for w in workers:
            w.start()
        try:
            for w in workers:
                while w.is_alive():
                    w.join(0.2)
        except (KeyboardInterrupt, Interrupted) as exc:
            why = exc if isinstance(exc, Interrupted) else Interrupted("interrupted (Ctrl-C)", "run the batch again")
            self.stop(why)
            self.progress.info(f"{why.message}: finishing the runs under way (each cleans up after its current step); "
                               "press Ctrl-C again to abandon them")
            for w in workers:  # a second Ctrl-C or SIGTERM propagates: grade() closes the connections
                while w.is_alive():
                    w.join(0.2)

    def _worker(self, todo: Any, batch_dir: Path, hosts: List[Optional[int]]) -> None:
        import queue

        while self._stop is None:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            try:
                outcome = self._grade_one(i, batch_dir, hosts[i])
            except Exception as exc:  # never lose a submission's verdict, whatever broke
                err = exc if isinstance(exc, SockdeployError) else SockdeployError(
                    f"internal error: {exc!r}", "report this as a sockdeploy bug, with the run folder")
                outcome = Outcome(self.submissions[i], classify(err) if isinstance(exc, SockdeployError) else INTERNAL_ERROR,
                                  folder=batch_dir / self.submissions[i].name, error=err)
                _write_error(batch_dir / self.submissions[i].name, err)
                self.progress.finished(outcome, ran=i in self._started)
            self.outcomes[i] = outcome

    def _grade_one(self, i: int, batch_dir: Path, host: Optional[int]) -> Outcome:
        sub = self.submissions[i]
        folder = batch_dir / sub.name
        folder.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        if sub.problem is not None or sub.payload is None:
            err = sub.problem or PayloadError("no plan for this submission", "pass --exercise")
            _write_error(folder, err)
            outcome = Outcome(sub, BAD_SUBMISSION, 0.0, folder, None, err)
            self.progress.finished(outcome, ran=False)
            return outcome
        conn: Optional[Connection] = None
        slot: Optional[HostSlot] = None
        cfg = self.cfg
        if sub.remote:
            assert self.pool is not None
            if host is None:  # no healthy host at all
                failed = next((h.failure for h in self.pool.hosts if h.failure is not None), None)
                err = failed or ConnectError("no server host is usable", "check hosts.yaml and run sockdeploy doctor")
                _write_error(folder, err)
                outcome = Outcome(sub, classify(err), 0.0, folder, None, err)
                self.progress.finished(outcome, ran=False)
                return outcome
            slot = self.pool.hosts[host]
            try:
                conn = self.pool.acquire(slot, self.stopped)
            except SockdeployError as exc:
                _write_error(folder, exc)
                outcome = Outcome(sub, NOT_RUN if isinstance(exc, Interrupted) else classify(exc), time.monotonic() - start,
                                  folder, slot.label, exc)
                self.progress.finished(outcome, ran=False)
                return outcome
            assert cfg is not None
            cfg = dataclasses.replace(cfg, server=slot.cfg)
        lease = slot.ports.lease() if slot is not None else None
        self._started[i] = time.monotonic()
        self.progress.started(sub.name)
        try:
            with open(folder / "progress.log", "w", encoding="utf-8") as log:
                opts = RunOptions(out=batch_dir, folder=folder, via=self.opts.via, accept_new=self.opts.accept_new,
                                  confirm=self.opts.confirm, prompt=self.opts.prompt,
                                  session=conn.session if conn is not None else None, ports=lease)
                result = self.runner(sub.payload, cfg, opts, _RunProgress(log, self.stopped))
        finally:
            if lease is not None:
                lease.release()
            if conn is not None and self.pool is not None:
                self.pool.release(conn)
        outcome = Outcome(sub, classify(result.error, result.record), time.monotonic() - start, result.folder.path,
                          slot.label if slot is not None else "local", result.error, result.record)
        self.progress.finished(outcome)
        return outcome

    def _not_run(self, i: int, batch_dir: Path) -> Outcome:
        """The outcome of a submission the batch ended without: abandoned under way, or never begun."""
        sub = self.submissions[i]
        if i in self._started:
            err = Interrupted("abandoned under way: the batch was stopped", "its partial transcripts are in its run folder; "
                              "the server host's watchdog removes its remote directory")
            return Outcome(sub, INTERRUPTED, time.monotonic() - self._started[i], batch_dir / sub.name, None, err)
        err = Interrupted("not run: the batch was stopped first", "run the batch again for it")
        return Outcome(sub, NOT_RUN, 0.0, None, None, err)

    def _write_summary(self, result: GradingResult) -> None:
        try:
            (result.folder / SUMMARY_JSON).write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
            (result.folder / SUMMARY_TEXT).write_text(render_table(result.rows(), SUMMARY_HEADER) + "\n", encoding="utf-8")
        except OSError as exc:
            self.progress.info(f"warning: could not write the summary into {result.folder} ({exc})")


SUMMARY_HEADER = ["submission", "result", "seconds", "run folder"]


def render_table(rows: List[List[str]], header: List[str]) -> str:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*map(str, r)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _write_error(folder: Path, err: SockdeployError) -> None:
    """Say in the submission's folder why it did not run (there is no transcript)."""
    try:
        text = f"{err.headline()}\n" + (f"hint: {err.hint}\n" if err.hint else "")
        (folder / "error.txt").write_text(text, encoding="utf-8")
    except OSError:
        pass


def grade(submissions: Sequence[Submission], cfg: Optional[Config], opts: GradingOptions,
          progress: Optional[BatchProgress] = None) -> GradingResult:
    """Grade every submission; never raises for a submission's failure (it lands in its outcome)."""
    return Grader(submissions, cfg, opts, progress).grade()
