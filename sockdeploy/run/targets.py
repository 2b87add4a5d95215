"""Several targets in one command: each in turn, one run folder each, one SSH login for all."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from sockdeploy.errors import Interrupted, SockdeployError
from sockdeploy.output.progress import Progress
from sockdeploy.run.runner import RunOptions, RunResult, run_payload
from sockdeploy.spec.hosts import Config
from sockdeploy.spec.payload import Payload
from sockdeploy.ssh.session import SshSession


@dataclass
class TargetOutcome:
    """What became of one target of a batch."""

    target: str
    result: Optional[RunResult] = None
    error: Optional[SockdeployError] = None  # set also when the target never started

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def folder(self) -> Optional[Path]:
        return self.result.folder.path if self.result is not None else None


@dataclass
class BatchResult:
    outcomes: List[TargetOutcome] = field(default_factory=list)
    logins: int = 0  # SSH logins made on the shared connection (0 when there was none)

    @property
    def first_error(self) -> Optional[SockdeployError]:
        return next((o.error for o in self.outcomes if o.error is not None), None)

    @property
    def exit_code(self) -> int:
        err = self.first_error
        return err.exit_code if err is not None else 0

    def folders(self) -> List[Path]:
        return [o.folder for o in self.outcomes if o.folder is not None]


def run_targets(payloads: Sequence[Payload], cfg: Optional[Config], opts: RunOptions,
                progress: Optional[Progress] = None,
                on_result: Optional[Callable[[TargetOutcome], None]] = None) -> BatchResult:
    """Run each payload in turn with the same options, sharing one SSH connection.

    A target that fails is recorded and the next one runs; Ctrl-C or SIGTERM
    ends the batch (the person asked to stop), the rest marked as not run.
    """
    progress = progress or Progress(quiet=True)
    batch = BatchResult()
    session: Optional[_CountingSession] = None
    # One run alone opens and closes its own connection, exactly as `run TARGET` always has.
    if cfg is not None and opts.session is None and sum(not (p.local or opts.local) for p in payloads) > 1:
        session = _CountingSession(cfg.server, accept_new=opts.accept_new, confirm=opts.confirm, prompt=opts.prompt)
        opts = dataclasses.replace(opts, session=session)
    try:
        for i, payload in enumerate(payloads):
            if len(payloads) > 1:
                progress.info(f"--- {i + 1}/{len(payloads)}: {payload.name} ---")
            result = run_payload(payload, cfg, opts, progress)
            outcome = TargetOutcome(payload.name, result, result.error)
            batch.outcomes.append(outcome)
            if on_result is not None:
                on_result(outcome)
            if isinstance(result.error, Interrupted):
                for rest in payloads[i + 1:]:
                    batch.outcomes.append(TargetOutcome(rest.name, None, Interrupted(
                        "not run: the batch was interrupted", f"run it with: sockdeploy run {rest.name}")))
                break
    finally:
        if session is not None:
            session.close()
            batch.logins = session.logins
    return batch


def summary_rows(batch: BatchResult) -> List[List[str]]:
    """One row per target: target, ok/failed (with the reason), run folder."""
    rows = []
    for o in batch.outcomes:
        status = "ok" if o.error is None else f"failed (exit {o.error.exit_code}): {o.error.headline()}"
        rows.append([o.target, status, str(o.folder) if o.folder else "-"])
    return rows


def records(batch: BatchResult) -> List[Dict[str, Any]]:
    """run.json's content of every target that ran, in order."""
    return [o.result.record.to_json() for o in batch.outcomes if o.result is not None]


class _CountingSession(SshSession):
    """The shared connection, counting its logins (one unless the link died between targets)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logins = 0

    def open(self, login: bool = True) -> None:
        super().open(login)
        self.logins += 1
