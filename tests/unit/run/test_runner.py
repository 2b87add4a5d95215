"""The run's steps in order, and every resource released whichever step fails (collaborators mocked)."""

from __future__ import annotations

import json
import types
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional

import pytest

from sockdeploy.errors import InternalError, Interrupted, ProgramError
from sockdeploy.output.progress import Progress
from sockdeploy.run import runner
from sockdeploy.run.context import RunOptions
from sockdeploy.spec import payload as payload_mod


class Steps:
    """Stands in for every collaborator of the runner; notes each step and fails the one asked for."""

    def __init__(self, fail_at: Optional[str] = None, exc: type = ProgramError) -> None:
        self.events: List[str] = []
        self.fail_at = fail_at
        self.exc = exc

    def hit(self, name: str) -> None:
        self.events.append(name)
        if name == self.fail_at:
            raise self.exc(f"{name} failed") if self.exc is not KeyboardInterrupt else KeyboardInterrupt()

    def cm(self, name: str, value: Any = None):  # type: ignore[no-untyped-def]
        @contextmanager
        def manager(*_a: Any, **_k: Any) -> Iterator[Any]:
            self.hit(f"enter {name}")
            try:
                yield value
            finally:
                self.events.append(f"exit {name}")
        return manager


class FakeWatchdog:
    def __init__(self, steps: Steps) -> None:
        self.steps = steps

    def ensure(self) -> None:
        self.steps.hit("watchdog ensure")

    def settle(self) -> None:
        pass

    def close(self) -> None:
        pass


def _install(monkeypatch: pytest.MonkeyPatch, steps: Steps) -> None:
    session = types.SimpleNamespace(name="shell", hostname="shell.example", alive=True,
                                    start_watchdog=lambda script, **_k: (steps.hit("watchdog start"),
                                                                               FakeWatchdog(steps))[1])
    server_ws = types.SimpleNamespace(path="/tmp/run-1", host=session, used_ports=set(), cleaned=[])
    client_ws = types.SimpleNamespace(path="/tmp/sockdeploy-1", host=types.SimpleNamespace(name="laptop"), used_ports=set(),
                                      cleaned=[])

    def server_connection(ctx: Any) -> Any:
        ctx.record.server.ip = "10.0.0.1"
        return steps.cm("connection", session)()

    class Forwarding:
        def __init__(self, _session: Any, wanted: bool) -> None:
            self.wanted = wanted

        def __enter__(self) -> Any:
            return self

        def __exit__(self, *exc: Any) -> None:
            pass

        def confirm(self, _progress: Any) -> None:
            steps.hit("forwarding check")

    class Clock:
        def __init__(self, _session: Any) -> None:
            pass

        def start(self) -> Any:
            steps.hit("clock probe")
            return self

        def offset(self) -> None:
            return None

        def close(self) -> None:
            pass

    def choose_path(ctx: Any, port: int, values: Dict[str, Any]) -> None:
        steps.hit("path choice")
        ctx.record.via = "tunnel"

    def launch(ctx: Any, ws: Any, values: Dict[str, Any], before_start: Any) -> None:
        values["port"] = 30001
        before_start(30001)
        steps.hit("server launch")

    def open_tunnel(ctx: Any, port: int, values: Dict[str, Any]) -> None:
        ctx.stack.enter_context(steps.cm("tunnel")())
        values.update(ip="127.0.0.1", host="localhost", client_port=30002)

    def run_clients(ctx: Any, values: Dict[str, Any], cwd: str) -> None:
        assert values["port"] == (30002 if "client_port" in values else 30001) and ctx.server_values["port"] == 30001
        steps.hit("client runs")

    def verdict(ctx: Any) -> None:
        steps.hit("verdicts")

    monkeypatch.setattr(runner.connections, "server_connection", server_connection)
    monkeypatch.setattr(runner.connections, "ForwardingCheck", Forwarding)
    monkeypatch.setattr(runner.serverstep, "remote_workspace", steps.cm("server workspace", server_ws))
    monkeypatch.setattr(runner.serverstep, "server_workspace",
                        lambda ctx, ws: steps.cm("server workspace", ws)())
    monkeypatch.setattr(runner.serverstep, "survey_ports", lambda ctx, ws: steps.hit("survey ports"))
    monkeypatch.setattr(runner.serverstep, "launch", launch)
    monkeypatch.setattr(runner.buildstep, "local_workspace", steps.cm("client workspace", client_ws))
    monkeypatch.setattr(runner.buildstep, "build", lambda ctx, ws, cmd, what: steps.hit(f"build {what}"))
    monkeypatch.setattr(runner, "create_workspace",
                        lambda host, base, files, dirs=(), prefix="": (steps.hit("local workspace"), client_ws)[1])
    monkeypatch.setattr(runner, "ClockProbe", Clock)
    monkeypatch.setattr(runner.pathstep, "choose_path", choose_path)
    monkeypatch.setattr(runner.tunnelstep, "open_tunnel", open_tunnel)
    monkeypatch.setattr(runner.clientstep, "run_clients", run_clients)
    monkeypatch.setattr(runner.verdicts, "run_verdict", verdict)


SPLIT_ORDER = [
    "enter connection", "enter server workspace", "forwarding check", "watchdog start", "clock probe", "survey ports",
    "enter client workspace", "build client", "watchdog ensure", "build server", "path choice", "server launch",
    "enter tunnel", "client runs",
    "exit tunnel", "exit client workspace", "exit server workspace", "exit connection",
]
FAILABLE = [e for e in SPLIT_ORDER if not e.startswith("exit ")]


def _cfg(via: str = "tunnel") -> Any:
    return types.SimpleNamespace(network=types.SimpleNamespace(via=via, vpn_gateway=None, ports=(30000, 40000)),
                                 client=types.SimpleNamespace(remote=False), server=object(), path=None)


def _run(tmp_path, local: bool = False):  # type: ignore[no-untyped-def]
    payload = payload_mod.resolve("ex5")
    return runner.run_payload(payload, None if local else _cfg(), RunOptions(out=tmp_path, local=local),
                              Progress(quiet=True))


def test_the_steps_run_in_order_and_unwind_in_reverse(monkeypatch, tmp_path):
    steps = Steps()
    _install(monkeypatch, steps)
    result = _run(tmp_path)
    assert result.error is None and result.ok
    assert steps.events == SPLIT_ORDER + ["verdicts"]
    data = json.loads((result.folder.path / "run.json").read_text())
    assert data["ok"] is True and data["via"] == "tunnel" and data["connect_host"] == "127.0.0.1"
    assert data == result.record.to_json()
    assert (result.folder.path / "transcript.md").is_file()


@pytest.mark.parametrize("step", FAILABLE)
def test_a_failing_step_releases_everything_taken_before_it(monkeypatch, tmp_path, step):
    steps = Steps(fail_at=step)
    _install(monkeypatch, steps)
    result = _run(tmp_path)
    assert isinstance(result.error, ProgramError) and result.error.message == f"{step} failed"
    done = steps.events[:steps.events.index(step) + 1]
    assert done == SPLIT_ORDER[:len(done)]  # nothing after the failure ran...
    entered = [e[len("enter "):] for e in done if e.startswith("enter ") and e != step]
    exits = [e[len("exit "):] for e in steps.events[len(done):]]
    assert exits == list(reversed(entered))  # ...and everything before it was released, last first
    assert "verdicts" not in steps.events  # no verdict on a run that did not complete
    data = json.loads((result.folder.path / "run.json").read_text())
    assert data["ok"] is False and data["error"]["message"] == f"{step} failed"
    assert data["error"]["exit_code"] == ProgramError.exit_code


def test_ctrl_c_during_the_client_runs_still_cleans_up(monkeypatch, tmp_path):
    steps = Steps(fail_at="client runs", exc=KeyboardInterrupt)
    _install(monkeypatch, steps)
    result = _run(tmp_path)
    assert isinstance(result.error, Interrupted)
    assert steps.events[-4:] == ["exit tunnel", "exit client workspace", "exit server workspace", "exit connection"]


def test_a_local_run_builds_both_programs_in_one_workspace(monkeypatch, tmp_path):
    steps = Steps()
    _install(monkeypatch, steps)
    result = _run(tmp_path, local=True)
    assert result.error is None
    assert steps.events == ["local workspace", "enter server workspace", "build server", "build client",
                            "server launch", "client runs", "exit server workspace", "verdicts"]
    assert result.record.via == "local" and result.record.server.ip == "127.0.0.1"


def test_a_split_run_without_hosts_yaml_is_a_usage_error(tmp_path):
    payload = payload_mod.resolve("ex5")
    result = runner.run_payload(payload, None, RunOptions(out=tmp_path))
    assert result.error is not None and "no hosts.yaml" in result.error.message and result.error.exit_code == 2


def test_no_per_run_state_on_the_context_class():
    from sockdeploy.run.context import RunContext

    mutable = {name for name, value in vars(RunContext).items()
               if not name.startswith("__") and isinstance(value, (list, dict, set))}
    assert mutable == set()


def test_a_fault_of_sockdeploy_itself_is_an_internal_error_not_a_success(monkeypatch, tmp_path):
    steps = Steps(fail_at="client runs", exc=RuntimeError)
    _install(monkeypatch, steps)
    result = _run(tmp_path)
    assert isinstance(result.error, InternalError) and result.error.exit_code == 1
    assert result.error.message.startswith("internal error: RuntimeError")
    kept = result.folder.path / "internal-error.txt"
    assert str(kept) in (result.error.hint or "") and "Traceback" in kept.read_text()
    data = json.loads((result.folder.path / "run.json").read_text())
    assert data["ok"] is False and data["error"]["kind"] == "internal"
    assert steps.events[-1] == "exit connection"  # cleaned up like any other failure
