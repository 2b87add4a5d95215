"""Several targets in one command: one run each, one SSH login for all."""

from __future__ import annotations

import types

import pytest

from sockdeploy.errors import Interrupted, ProgramError
from sockdeploy.run import targets as batch
from sockdeploy.run.runner import RunOptions

# -- several targets in one command ------------------------------------------------------

def _fake_payload(name: str, local: bool = False):
    return types.SimpleNamespace(name=name, local=local)


def test_batch_goes_on_after_a_failure_and_stops_on_ctrl_c(monkeypatch, tmp_path):
    errors = {"ex2": ProgramError("client failed"), "ex3": NetworkPathError_("blocked"), "ex4": Interrupted("Ctrl-C")}
    seen_sessions = []

    def fake_run(payload, cfg, opts, progress):
        seen_sessions.append(opts.session)
        folder = types.SimpleNamespace(path=tmp_path / payload.name)
        return types.SimpleNamespace(ok=payload.name not in errors, folder=folder, record={"target": payload.name},
                                     error=errors.get(payload.name))

    class FakeSession:
        instances = []

        def __init__(self, *a, **kw):
            self.closed = False
            self.logins = 1
            FakeSession.instances.append(self)

        def close(self):
            self.closed = True

    monkeypatch.setattr(batch, "run_payload", fake_run)
    monkeypatch.setattr(batch, "_CountingSession", FakeSession)
    cfg = types.SimpleNamespace(server=object())
    reported = []
    result = batch.run_targets([_fake_payload(n) for n in ("ex1", "ex2", "ex3", "ex4", "ex5")], cfg, RunOptions(),
                               on_result=lambda o: reported.append(o.target))
    assert [o.target for o in result.outcomes] == ["ex1", "ex2", "ex3", "ex4", "ex5"]
    assert [o.ok for o in result.outcomes] == [True, False, False, False, False]
    assert result.outcomes[4].result is None and "not run" in result.outcomes[4].error.message
    assert reported == ["ex1", "ex2", "ex3", "ex4"]  # ex5 never ran
    assert result.exit_code == 6  # the first failure's, not the last one's
    assert len(FakeSession.instances) == 1 and FakeSession.instances[0].closed
    assert all(s is FakeSession.instances[0] for s in seen_sessions)  # one connection for every target
    rows = batch.summary_rows(result)
    assert rows[0] == ["ex1", "ok", str(tmp_path / "ex1")] and rows[1][1].startswith("failed (exit 6)")


def test_batch_of_local_targets_opens_no_connection(monkeypatch, tmp_path):
    monkeypatch.setattr(batch, "run_payload", lambda p, c, o, pr: types.SimpleNamespace(
        ok=True, folder=types.SimpleNamespace(path=tmp_path), record={}, error=None, session=o.session))
    monkeypatch.setattr(batch, "_CountingSession", lambda *a, **k: pytest.fail("no session for local targets"))
    result = batch.run_targets([_fake_payload("ex1", local=True)], types.SimpleNamespace(server=object()), RunOptions())
    assert result.exit_code == 0 and result.logins == 0


def test_one_remote_target_keeps_its_own_connection(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(batch, "run_payload", lambda p, c, o, pr: seen.append(o.session) or types.SimpleNamespace(
        ok=True, folder=types.SimpleNamespace(path=tmp_path), record={}, error=None))
    monkeypatch.setattr(batch, "_CountingSession", lambda *a, **k: pytest.fail("one target needs no shared connection"))
    batch.run_targets([_fake_payload("ex5"), _fake_payload("ex1", local=True)], types.SimpleNamespace(server=object()),
                      RunOptions())
    assert seen == [None, None]


def NetworkPathError_(message: str):
    from sockdeploy.errors import NetworkPathError

    return NetworkPathError(message)
