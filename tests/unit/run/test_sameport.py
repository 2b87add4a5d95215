"""Two runs of one batch whose servers have the same port written in: the second's bind is moved, never shared."""

from __future__ import annotations

import dataclasses
import types
from datetime import datetime, timezone
from typing import Any

from sockdeploy.output.progress import Progress
from sockdeploy.output.runfolder import RunFolder
from sockdeploy.run import serverstep
from sockdeploy.run.context import RunContext, RunOptions
from sockdeploy.run.ports import PortBook
from sockdeploy.run.record import RunRecord
from sockdeploy.spec import payload as payload_mod


def _ctx(tmp_path: Any, book: PortBook) -> RunContext:
    payload = dataclasses.replace(payload_mod.resolve("ex5"), fixed_port=31999)
    return RunContext(payload=payload, cfg=None, opts=RunOptions(ports=book.lease()), progress=Progress(quiet=True),
                      folder=RunFolder(tmp_path, datetime.now(timezone.utc)),
                      record=RunRecord(target="ex5", started="2026-11-21T10:00:00Z"))


def test_the_second_run_with_the_same_written_in_port_moves_its_bind(tmp_path, monkeypatch):
    monkeypatch.setattr(serverstep, "_library_on", lambda ws, fix: "/cache/redirect.so")
    ws = types.SimpleNamespace(host=types.SimpleNamespace(name="shell"), used_ports=set(), held_ports=set())
    book = PortBook()
    first, second = _ctx(tmp_path / "a", book), _ctx(tmp_path / "b", book)
    assert serverstep.fixed_port(first, ws, (30000, 40000)) == 31999 and first.server.moved_from is None
    moved = serverstep.fixed_port(second, ws, (30000, 40000))
    assert moved != 31999 and 30000 <= moved <= 40000 and second.server.moved_from == 31999
    assert second.server.library == "/cache/redirect.so"
    assert book.taken == {31999, moved}  # and no third run can be handed the moved port either
    assert first.opts.ports is not None and second.opts.ports is not None
    first.opts.ports.release()
    assert book.claim(31999)  # free again once the first run is over
    second.opts.ports.release()
    assert book.taken == {31999}
