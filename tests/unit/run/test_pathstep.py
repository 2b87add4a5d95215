"""pathstep.adopt_port: the path once the server turned out to listen on another port than the one probed."""

from __future__ import annotations

import types
from datetime import datetime, timezone
from typing import Any, List

import pytest

from sockdeploy.output.progress import Progress
from sockdeploy.output.runfolder import RunFolder
from sockdeploy.run import pathstep
from sockdeploy.run.context import RunContext, RunOptions
from sockdeploy.run.record import RunRecord
from sockdeploy.spec import payload as payload_mod
from sockdeploy.spec.hosts import NetworkConfig


def _ctx(tmp_path, via: str, chosen: str) -> Any:  # type: ignore[no-untyped-def]
    checks: List[str] = []
    ctx = RunContext(payload=payload_mod.resolve("ex5"), cfg=types.SimpleNamespace(network=NetworkConfig()),  # type: ignore[arg-type]
                     opts=RunOptions(), progress=Progress(quiet=True),
                     folder=RunFolder(tmp_path, datetime.now(timezone.utc)),
                     record=RunRecord(target="ex5", started="2026-11-21T10:00:00Z", via=chosen, via_reason="probed"))
    ctx.via = via
    ctx.session = types.SimpleNamespace(check_forwarding=lambda: checks.append("asked"))  # type: ignore[assignment]
    return ctx, checks


@pytest.mark.parametrize("via, chosen, port, probed, path, asked", [
    ("auto", "direct", 31234, True, "direct", False),  # the probe of the course range speaks for this port too
    ("auto", "direct", 12000, True, "tunnel", True),  # outside the range: no probe said it passes
    ("auto", "auto", 31234, False, "tunnel", True),  # nothing was probed, and a probe now would reach the server
    ("auto", "tunnel", 12000, True, "tunnel", False),
    ("direct", "direct", 12000, True, "direct", False),  # the person's choice stands (a warning says the rest)
])
def test_the_path_for_an_adopted_port(tmp_path, via, chosen, port, probed, path, asked):
    ctx, checks = _ctx(tmp_path, via, chosen)
    pathstep.adopt_port(ctx, port, probed)
    assert ctx.record.via == path and (checks == ["asked"]) == asked
    if asked:
        assert f"the server listens on port {port}, which no probe tried" in ctx.record.via_reason
