"""The checks that run on every server host at once: the preflight before a batch, the sweep after it.

The preflight logs in to each host (one at a time), then on all of them at
once checks that the base directory can be made and written, that the
submissions' build tools exist, and removes what crashed runs left. A host
that fails is taken out of the pool; the others carry the batch.
"""

from __future__ import annotations

import shlex
from typing import Any, Callable, Dict, List, Optional, Sequence

from sockdeploy.errors import Interrupted, RemoteError, SockdeployError
from sockdeploy.remote import marker
from sockdeploy.remote.scripts import load
from sockdeploy.run import server as process
from sockdeploy.ssh.pool import Cancelled, ConnectionPool

PREFLIGHT = "grading_preflight.sh"
HOST_TIMEOUT = 60

RunOnHosts = Callable[..., List[Any]]


def preflight_script(workdir: str, tools: Sequence[str]) -> str:
    """Return the per-host check: the workdir can be made, the server's build tools exist, crashed runs are swept."""
    words = ["/bin/sh", "-c", load(PREFLIGHT), PREFLIGHT, workdir, *tools]
    return " ".join(shlex.quote(w) for w in words) + "\n" + process.sweep_script(workdir)


def preflight_error(host: str, result: Any) -> Optional[SockdeployError]:
    """Return why `host` cannot take part (its preflight's result says so), or None."""
    if isinstance(result, SockdeployError):
        return result
    errs = marker.values(result.stdout, "ERR")
    missing = marker.values(result.stdout, "MISSING")
    if errs:
        return RemoteError(f"{host}: {errs[0]}", "check server.workdir in hosts.yaml and free space there")
    if missing:
        return RemoteError(f"{host} lacks {', '.join(missing)}, which the submissions' server builds need",
                           "install it there, or drop the host from servers: in hosts.yaml")
    return None


def cleaned(result: Any) -> List[str]:
    """Return the leftovers of crashed runs a preflight or sweep removed (none when it failed)."""
    if isinstance(result, SockdeployError):
        return []
    return marker.values(result.stdout, "CLEANED")


class HostChecks:
    """Runs the preflight and the sweep over the pool's hosts; `info` tells people what happens."""

    def __init__(self, pool: ConnectionPool, info: Callable[[str], None],
                 run_on_hosts: Optional[RunOnHosts] = None) -> None:
        self.pool = pool
        self.info = info
        self._run_on_hosts = run_on_hosts

    def preflight(self, tools: Sequence[str], stopped: Cancelled) -> List[Dict[str, Any]]:
        """Log in to each server host (one at a time) and check them all at once; take failing hosts out."""
        reports: List[Dict[str, Any]] = []
        for slot in self.pool.hosts:
            reports.append({"host": slot.label, "ok": True, "error": None, "cleaned": []})
            self.info(f"connecting to {slot.label}")
            try:
                self.pool.release(self.pool.acquire(slot, stopped))
            except Interrupted:
                raise
            except SockdeployError as exc:
                self.pool.fail_host(slot, exc)
        live = self.pool.first_sessions()
        # Two names for one machine (an alias and its address) share one port book.
        books: Dict[str, process.PortBook] = {}
        for slot, session in live:
            slot.ports = books.setdefault(getattr(session, "peer_ip", None) or slot.label, slot.ports)
        if live:
            # one script per host: workdirs may differ
            results = self._on_hosts([s for _, s in live], [preflight_script(h.cfg.workdir, tools) for h, _ in live])
            for (slot, _), res in zip(live, results):
                reports[slot.index]["cleaned"] = cleaned(res)
                err = preflight_error(slot.label, res)
                if err is not None:
                    self.pool.fail_host(slot, err)
        for slot in self.pool.hosts:
            if slot.failure is not None:
                reports[slot.index].update(ok=False, error=slot.failure.to_dict())
                self.info(f"{slot.label}: not used: {slot.failure.headline()}")
        return reports

    def sweep(self, reports: List[Dict[str, Any]]) -> None:
        """After the batch: on every host at once, remove what crashed runs left (normally nothing)."""
        live = self.pool.first_sessions()
        if not live:
            return
        try:
            results = self._on_hosts([s for _, s in live], [process.sweep_script(h.cfg.workdir) for h, _ in live])
        except Exception as exc:  # the runs are done and recorded; this is housekeeping
            self.info(f"warning: the final sweep failed ({exc})")
            return
        for (slot, _), res in zip(live, results):
            if slot.index < len(reports):
                reports[slot.index].setdefault("cleaned", []).extend(cleaned(res))

    def _on_hosts(self, sessions: List[Any], scripts: List[str]) -> List[Any]:
        """Run each host's script on all hosts at once (Fabric's ThreadingGroup when they are one script)."""
        from sockdeploy.ssh.hostgroup import run_on_hosts

        run = self._run_on_hosts or run_on_hosts
        if len(set(scripts)) == 1:
            return run(sessions, scripts[0], timeout=HOST_TIMEOUT)
        return [run([s], script, timeout=HOST_TIMEOUT)[0] for s, script in zip(sessions, scripts)]
