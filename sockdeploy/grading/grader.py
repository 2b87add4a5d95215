"""Grading: one exercise over many submissions, in parallel, over a few shared SSH connections.

Each submission (a payload folder, one per group) gets its own run folder
under `<out>/batch-<UTC>/<name>/`, its own port (a PortBook per server host)
and its own private remote directory. Runs share SSH connections as channels
(see sockdeploy.ssh.pool). One submission's failure is recorded as its
verdict and never stops or touches another.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from sockdeploy.errors import ConnectError, Interrupted, PayloadError, SockdeployError, Terminated, UsageError
from sockdeploy.grading.options import GradingOptions
from sockdeploy.grading.outcome import Outcome, write_error
from sockdeploy.grading.preflight import HostChecks
from sockdeploy.grading.progress import BatchProgress, RunProgress
from sockdeploy.grading.result import GradingResult, make_batch_dir
from sockdeploy.grading.submission import Submission, assign_hosts, plan_submissions, server_tools
from sockdeploy.grading.verdict import BAD_SUBMISSION, INTERNAL_ERROR, INTERRUPTED, NOT_RUN, classify
from sockdeploy.grading.workers import Workers
from sockdeploy.output.progress import Progress
from sockdeploy.run.runner import RunOptions, RunResult, run_payload
from sockdeploy.spec.hosts import ClientConfig, Config, ServerConfig
from sockdeploy.spec.payload import Payload
from sockdeploy.ssh.pool import Connection, ConnectionPool, HostSlot, PooledSession, SessionFactory, runs_per_connection

# What the CLI runs a batch with.
__all__ = ["BatchProgress", "Grader", "GradingOptions", "path_for", "plan_submissions"]

Runner = Callable[[Payload, Optional[Config], RunOptions, Progress], RunResult]


class Grader:
    """Runs a batch: plans hosts and connections, runs the submissions on worker threads, writes the summary."""

    def __init__(self, submissions: Sequence[Submission], cfg: Optional[Config], opts: GradingOptions,
                 progress: Optional[BatchProgress] = None, *,
                 factory: Optional[SessionFactory] = None,
                 runner: Runner = run_payload,
                 run_on_hosts: Optional[Callable[..., List[Any]]] = None) -> None:
        self.submissions = list(submissions)
        self.opts = opts
        self.progress = progress or BatchProgress(len(self.submissions), quiet=True)
        self.runner = runner
        self._stop: Optional[Interrupted] = None
        self._stop_lock = threading.Lock()
        self.pool: Optional[ConnectionPool] = None
        self.host_checks: Optional[HostChecks] = None
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
            self.host_checks = HostChecks(self.pool, self.progress.info, run_on_hosts)
        self.outcomes: List[Optional[Outcome]] = [None] * len(self.submissions)
        self._started: Dict[int, float] = {}  # submissions under way: when they began
        self._hosts: List[Optional[int]] = [None] * len(self.submissions)  # each submission's server host
        self._batch_dir = Path()

    def _session(self, server: ServerConfig, gate: threading.Lock) -> PooledSession:
        session = PooledSession(server, gate, accept_new=self.opts.accept_new, confirm=self.opts.confirm,
                                prompt=self.opts.prompt)
        # one remote helper per run the connection carries at once: idle ones count as that run's script channel
        session.max_agents = runs_per_connection(self.opts.max_sessions)
        return session

    # -- stopping ------------------------------------------------------------------
    def stop(self, why: Interrupted) -> None:
        """Start no more submissions; runs under way end at their next step (after cleaning up)."""
        with self._stop_lock:
            if self._stop is None:
                self._stop = why

    def stopped(self) -> Optional[SockdeployError]:
        """Return why the batch was stopped, or None while it goes on."""
        return self._stop

    # -- the whole batch ---------------------------------------------------------------
    def grade(self, folder: Optional[Path] = None) -> GradingResult:
        """Run every submission; return the outcomes in the order given. Ctrl-C and SIGTERM stop it gracefully."""
        started = time.monotonic()
        self._batch_dir = folder or make_batch_dir(self.opts.out)
        result = GradingResult(folder=self._batch_dir, outcomes=[], started=datetime.now(timezone.utc).isoformat(),
                               rubric=self.opts.rubric)
        if self.client_note:
            self.progress.info(self.client_note)
            result.notes.append(self.client_note)
        try:
            if self.pool is not None and self.host_checks is not None:
                result.hosts = self.host_checks.preflight(server_tools(self.submissions), self.stopped)
                healthy = [h.index for h in self.pool.healthy()]
                self._hosts = [healthy[i] if i is not None else None
                               for i in assign_hosts(self.submissions, len(healthy))]
            self._run_all()
        except (KeyboardInterrupt, Interrupted) as exc:
            why = _interruption(exc)
            self.stop(why)
            result.interrupted = why
            if self.pool is not None:
                self.pool.close()  # runs still under way fail now; the server hosts' watchdogs remove their leftovers
        finally:
            self._finish(result, started)
        return result

    def _finish(self, result: GradingResult, started: float) -> None:
        """Record every outcome, sweep the hosts, close the connections and write the summary."""
        from sockdeploy.run.signals import HOLD

        # Housekeeping is short: a Ctrl-C now waits until the summary is written.
        with HOLD.shielded():
            if self._stop is not None and result.interrupted is None:
                result.interrupted = self._stop
            self.progress.close()
            result.outcomes = [o or self._not_run(i) for i, o in enumerate(self.outcomes)]
            if self.pool is not None and self.host_checks is not None:
                if result.interrupted is None:
                    self.host_checks.sweep(result.hosts)
                self.pool.close()
                result.logins = self.pool.logins
            result.seconds = time.monotonic() - started
            result.write_summary(self.progress.info)
        if HOLD and result.interrupted is None:
            result.interrupted = (Terminated("terminated (SIGTERM)", "the summary was written first")
                                  if HOLD.first() == signal.SIGTERM else
                                  Interrupted("interrupted (Ctrl-C)", "the summary was written first"))
        HOLD.clear()

    # -- the submissions ------------------------------------------------------------------
    def _run_all(self) -> None:
        """Run the submissions on `jobs` worker threads; the main thread waits, so Ctrl-C reaches it."""
        count = min(self.opts.jobs, len(self.submissions))
        with Workers(count, range(len(self.submissions)), self._grade_safely, lambda: self._stop is not None) as workers:
            try:
                workers.wait()
            except (KeyboardInterrupt, Interrupted) as exc:
                why = _interruption(exc)
                self.stop(why)
                self.progress.info(f"{why.message}: finishing the runs under way (each cleans up after its current "
                                   "step); press Ctrl-C again to abandon them")
                # leaving the block joins the workers; a second Ctrl-C or SIGTERM propagates to grade()

    def _grade_safely(self, i: int) -> None:
        """Grade submission `i`; whatever breaks, it gets an outcome."""
        sub = self.submissions[i]
        try:
            outcome = self._grade_one(i)
        except Exception as exc:  # never lose a submission's verdict, whatever broke
            err = exc if isinstance(exc, SockdeployError) else SockdeployError(
                f"internal error: {exc!r}", "report this as a sockdeploy bug, with the run folder")
            verdict = classify(err) if isinstance(exc, SockdeployError) else INTERNAL_ERROR
            outcome = Outcome(sub, verdict, folder=self._batch_dir / sub.name, error=err)
            write_error(self._batch_dir / sub.name, err)
            self.progress.finished(outcome, ran=i in self._started)
        self.outcomes[i] = outcome

    def _grade_one(self, i: int) -> Outcome:
        sub = self.submissions[i]
        folder = self._batch_dir / sub.name
        folder.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        if sub.problem is not None or sub.payload is None:
            return self._refused(sub, folder, BAD_SUBMISSION,
                                 sub.problem or PayloadError("no plan for this submission", "pass --exercise"))
        if not sub.remote:
            return self._run(i, sub.payload, self.cfg, None, None, start)
        assert self.pool is not None and self.cfg is not None
        host = self._hosts[i]
        if host is None:  # no healthy host at all
            failed = next((h.failure for h in self.pool.hosts if h.failure is not None), None)
            err = failed or ConnectError("no server host is usable", "check hosts.yaml and run sockdeploy doctor")
            return self._refused(sub, folder, classify(err), err)
        slot = self.pool.hosts[host]
        try:
            conn = self.pool.acquire(slot, self.stopped)
        except SockdeployError as exc:
            verdict = NOT_RUN if isinstance(exc, Interrupted) else classify(exc)
            return self._refused(sub, folder, verdict, exc, time.monotonic() - start, slot.label)
        return self._run(i, sub.payload, dataclasses.replace(self.cfg, server=slot.cfg), slot, conn, start)

    def _refused(self, sub: Submission, folder: Path, verdict: str, err: SockdeployError, seconds: float = 0.0,
                 host: Optional[str] = None) -> Outcome:
        """Return the outcome of a submission that did not run, saying why in its folder."""
        write_error(folder, err)
        outcome = Outcome(sub, verdict, seconds, folder, host, err)
        self.progress.finished(outcome, ran=False)
        return outcome

    def _run(self, i: int, payload: Payload, cfg: Optional[Config], slot: Optional[HostSlot],
             conn: Optional[Connection], start: float) -> Outcome:
        """Run one submission (on `conn` when its server is remote) and return its outcome."""
        sub = self.submissions[i]
        folder = self._batch_dir / sub.name
        lease = slot.ports.lease() if slot is not None else None
        self._started[i] = time.monotonic()
        self.progress.started(sub.name)
        try:
            with open(folder / "progress.log", "w", encoding="utf-8") as log:
                opts = RunOptions(out=self._batch_dir, folder=folder, via=path_for(payload, self.opts.via),
                                  accept_new=self.opts.accept_new,
                                  confirm=self.opts.confirm, prompt=self.opts.prompt,
                                  session=conn.session if conn is not None else None, ports=lease)
                result = self.runner(payload, cfg, opts, RunProgress(log, self.stopped))
        finally:
            if lease is not None:
                lease.release()
            if conn is not None and self.pool is not None:
                self.pool.release(conn)
        outcome = Outcome(sub, classify(result.error, result.record), time.monotonic() - start, result.folder.path,
                          slot.label if slot is not None else "local", result.error, result.record)
        self.progress.finished(outcome)
        return outcome

    def _not_run(self, i: int) -> Outcome:
        """The outcome of a submission the batch ended without: abandoned under way, or never begun."""
        sub = self.submissions[i]
        if i in self._started:
            err = Interrupted("abandoned under way: the batch was stopped", "its partial transcripts are in its run "
                              "folder; the server host's watchdog removes its remote directory")
            return Outcome(sub, INTERRUPTED, time.monotonic() - self._started[i], self._batch_dir / sub.name, None, err)
        err = Interrupted("not run: the batch was stopped first", "run the batch again for it")
        return Outcome(sub, NOT_RUN, 0.0, None, None, err)


def path_for(payload: Payload, via: Optional[str]) -> Optional[str]:
    """The network path of one submission: --via, else the tunnel when its checks read the wire (the tunnel
    and the UDP relay keep a wire record for any client; the direct path's preload library not for a static
    one), else hosts.yaml's."""
    if via is not None or payload.local:
        return via
    return "tunnel" if payload.checks is not None and payload.checks.needs_wire else None


def _interruption(exc: BaseException) -> Interrupted:
    """Return the Interrupted a Ctrl-C (KeyboardInterrupt) or a stop request stands for."""
    return exc if isinstance(exc, Interrupted) else Interrupted("interrupted (Ctrl-C)", "run the batch again")
