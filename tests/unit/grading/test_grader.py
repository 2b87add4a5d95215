"""The grader with a fake runner and fake sessions: bounds, spreading, failures, stopping; the CLI over it."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path
from typing import Any, List

import pytest

from sockdeploy.errors import (
    AuthError,
    BuildError,
    ConnectError,
    Interrupted,
    NetworkPathError,
    PayloadError,
    ProgramError,
)
from sockdeploy.grading.grader import Grader
from sockdeploy.grading.options import GradingOptions
from sockdeploy.grading.outcome import Outcome
from sockdeploy.grading.progress import BatchProgress
from sockdeploy.grading.result import GradingResult
from sockdeploy.grading.submission import Submission, plan_submissions
from sockdeploy.grading.verdict import (
    TIMED_OUT,
)
from sockdeploy.output.runfolder import RunFolder
from sockdeploy.remote.host import CommandResult
from sockdeploy.run import signals as orchestrator
from sockdeploy.run.ports import PortBook
from sockdeploy.run.runner import RunResult
from sockdeploy.spec.hosts import Config, ServerConfig
from sockdeploy.ssh.pool import runs_per_connection
from tests.unit.grading.test_submission import _submissions
from tests.unit.ssh.test_pool import FakeSession


def test_port_leases_never_hand_out_one_port_twice():
    book = PortBook()
    a, b, c = book.lease(), book.lease(), book.lease()
    got = {a.choose(set(), (31000, 31001), set()), b.choose(set(), (31000, 31001), set())}
    assert got == {31000, 31001}
    with pytest.raises(NetworkPathError, match="no free port"):
        c.choose(set(), (31000, 31001), set())
    a.release()
    assert c.choose(set(), (31000, 31001), set()) in got and book.taken == got


def test_port_leases_are_safe_across_threads():
    book = PortBook()
    chosen: List[int] = []
    lock = threading.Lock()

    def take() -> None:
        lease = book.lease()
        for _ in range(25):
            port = lease.choose(set(), (30000, 30199), set())
            with lock:
                chosen.append(port)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(chosen) == 200 == len(set(chosen))


class FakeRunner:
    """Records what each run was given and how many ran at once; the verdict comes from the folder's name."""

    def __init__(self, seconds: float = 0.15) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.per_session: dict = {}
        self.most_per_session = 0
        self.calls: List[Any] = []

    def __call__(self, payload, cfg, opts, progress) -> RunResult:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            key = id(opts.session)
            self.per_session[key] = self.per_session.get(key, 0) + 1
            self.most_per_session = max(self.most_per_session, self.per_session[key])
            self.calls.append((opts.folder, opts.session, opts.ports, cfg.server.host if cfg else None))
        try:
            port = opts.ports.choose(set(), (30000, 30001 + 50), set()) if opts.ports else None
            with progress.step("build the server"):
                time.sleep(self.seconds)
            folder = RunFolder.at(opts.folder)
            name = folder.path.name
            record = {"clients": [], "server": {"port": port}}
            error = None
            if name.startswith("broken"):
                error = BuildError("gcc said no")
            elif name.startswith("hang"):
                record["server"]["timed_out"] = True
                error = ProgramError("still running")
            elif name.startswith("crash"):
                raise RuntimeError("boom")
            folder.write_json(record)
            return RunResult(ok=error is None, folder=folder, record=record, error=error)
        finally:
            with self.lock:
                self.running -= 1
                self.per_session[id(opts.session)] -= 1


def _plan(tmp_path: Path, names: List[str]) -> List[Submission]:
    return plan_submissions([str(p) for p in _submissions(tmp_path, *names)], "ex5")


def _cfg(*hosts: str) -> Config:
    servers = tuple(ServerConfig(host=h) for h in hosts)
    return Config(server=servers[0], servers=servers if len(servers) > 1 else ())


def _ok_on_hosts(missing=None):
    def run(sessions, script, timeout=60):
        return [CommandResult(f"SD-MISSING {missing}\n" if missing and s.name == "h2" else "SD-CLEANED /old/run-x\n", "", 0)
                for s in sessions]
    return run


def test_the_grader_runs_everything_in_parallel_within_the_bounds(tmp_path, mocker):
    names = ["ok1", "ok2", "broken", "hang", "ok3", "ok4", "ok5", "ok6"]
    runner = FakeRunner()
    on_hosts = mocker.Mock(side_effect=_ok_on_hosts())
    opts = GradingOptions(jobs=4, connections=2, out=tmp_path / "runs")
    stream = io.StringIO()
    grader = Grader(_plan(tmp_path, names), _cfg("h1"), opts, BatchProgress(8, stream),
                            factory=lambda cfg, gate: FakeSession(cfg, gate), runner=runner, run_on_hosts=on_hosts)
    result = grader.grade()
    assert [o.verdict for o in result.outcomes] == ["passed", "passed", "build failed", "timed out"] + ["passed"] * 4
    assert result.exit_code == 6 and result.logins == 2
    assert runner.most == 4 and runner.most_per_session <= runs_per_connection()
    folders = [c[0] for c in runner.calls]
    assert sorted(f.name for f in folders) == sorted(names) and all(f.parent == result.folder for f in folders)
    assert len({id(c[2]) for c in runner.calls}) == 8  # a port lease each, all from one book for the host
    assert all((result.folder / n / "progress.log").read_text().startswith("  build the server: ok") for n in names)
    summary = json.loads((result.folder / "summary.json").read_text())
    assert summary["counts"] == {"passed": 6, "build failed": 1, "timed out": 1} and summary["logins"] == 2
    assert summary["hosts"][0]["cleaned"] == ["/old/run-x", "/old/run-x"]  # the preflight sweep, then the final one
    assert on_hosts.call_count == 2  # preflight and final sweep: all hosts at once, each time
    assert "submission  result" in (result.folder / "summary.txt").read_text()
    lines = stream.getvalue().splitlines()
    assert "  [8/8] " in lines[-1] and not any("\r" in line for line in lines)  # piped: plain lines, no bar


def test_work_is_spread_over_hosts_and_a_failing_host_is_left_out(tmp_path):
    runner = FakeRunner(seconds=0.05)
    opts = GradingOptions(jobs=3, out=tmp_path / "runs")
    grader = Grader(_plan(tmp_path, [f"s{i}" for i in range(6)]), _cfg("h1", "h2", "h3"), opts,
                            factory=lambda cfg, gate: FakeSession(cfg, gate), runner=runner,
                            run_on_hosts=_ok_on_hosts(missing="gcc"))
    result = grader.grade()
    assert all(o.passed for o in result.outcomes)
    assert sorted(c[3] for c in runner.calls) == ["h1"] * 3 + ["h3"] * 3  # round robin over the healthy hosts
    assert [h["ok"] for h in result.hosts] == [True, False, True]
    assert "lacks gcc" in result.hosts[1]["error"]["message"]


def test_no_usable_host_is_a_connection_error_for_each_submission(tmp_path):
    opts = GradingOptions(jobs=2, out=tmp_path / "runs")
    grader = Grader(_plan(tmp_path, ["a", "b"]), _cfg("h1"), opts,
                            factory=lambda cfg, gate: FakeSession(cfg, gate, fail=AuthError("denied")),
                            runner=FakeRunner(), run_on_hosts=_ok_on_hosts())
    result = grader.grade()
    assert [o.verdict for o in result.outcomes] == ["connection error"] * 2 and result.exit_code == 3
    assert "denied" in (result.folder / "a" / "error.txt").read_text()


def test_one_broken_run_never_stops_the_others(tmp_path):
    opts = GradingOptions(jobs=2, out=tmp_path / "runs")
    subs = _plan(tmp_path, ["crash", "ok1", "ok2"])
    subs.append(Submission("bad", tmp_path, None, PayloadError("bad manifest")))
    grader = Grader(subs, _cfg("h1"), opts, factory=lambda cfg, gate: FakeSession(cfg, gate),
                            runner=FakeRunner(seconds=0.05), run_on_hosts=_ok_on_hosts())
    result = grader.grade()
    assert [o.verdict for o in result.outcomes] == ["internal error", "passed", "passed", "bad submission"]
    assert "boom" in (result.folder / "crash" / "error.txt").read_text()
    assert "bad manifest" in (result.folder / "bad" / "error.txt").read_text()
    assert result.exit_code == 1


def test_a_stopped_batch_starts_nothing_new_and_says_so(tmp_path):
    runner = FakeRunner(seconds=0.3)
    opts = GradingOptions(jobs=2, out=tmp_path / "runs")
    grader = Grader(_plan(tmp_path, [f"s{i}" for i in range(6)]), _cfg("h1"), opts,
                            factory=lambda cfg, gate: FakeSession(cfg, gate), runner=runner, run_on_hosts=_ok_on_hosts())
    threading.Timer(0.15, grader.stop, args=(Interrupted("interrupted (Ctrl-C)"),)).start()
    result = grader.grade()
    verdicts = [o.verdict for o in result.outcomes]
    assert len(runner.calls) == 2 and verdicts.count("not run") == 4
    assert result.exit_code == 130 and result.interrupted is not None


def test_shielded_is_a_no_op_off_the_main_thread(mocker):
    spy = mocker.spy(orchestrator.signal, "signal")
    errors: List[BaseException] = []

    def work() -> None:
        try:
            with orchestrator.shielded():
                pass
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert errors == [] and spy.call_count == 0


def test_checks_run_on_every_host_at_once_with_fabric(mocker):
    from fabric.exceptions import GroupException

    from sockdeploy.ssh.hostgroup import run_on_hosts
    from sockdeploy.ssh.session import SshSession

    sessions = []
    for host in ("lab1", "lab2"):
        s = SshSession(ServerConfig(host=host))
        s._conn = mocker.Mock(name=host)
        s._transport = mocker.Mock(**{"is_active.return_value": True})
        sessions.append(s)
    ok = mocker.Mock(stdout="SD-CLEANED x\n", stderr="", exited=0)
    group = mocker.Mock()
    group.run.side_effect = GroupException({sessions[0]._conn: ok, sessions[1]._conn: OSError("reset")})
    made = mocker.patch("fabric.ThreadingGroup.from_connections", return_value=group)
    results = run_on_hosts(sessions, "echo hi", timeout=9)
    made.assert_called_once_with([s._conn for s in sessions])
    script = group.run.call_args.args[0]
    assert script.startswith("/bin/sh -c ") and group.run.call_args.kwargs["timeout"] == 9
    assert results[0].stdout == "SD-CLEANED x\n" and isinstance(results[1], ConnectError)


def test_cli_prints_the_table_and_maps_the_exit_code(tmp_path, mocker):
    from sockdeploy.cli.app import cli
    from tests.unit.cli.support import make_runner

    (d,) = _submissions(tmp_path, "g1")
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text("server:\n  host: lab0\n")
    outcome = Outcome(Submission("g1", d), TIMED_OUT, 12.5, tmp_path / "b" / "g1", "lab0",
                              ProgramError("still running"))
    fake = GradingResult(folder=tmp_path / "b", outcomes=[outcome], logins=1)
    grade = mocker.patch.object(Grader, "grade", return_value=fake)
    res = make_runner().invoke(cli, ["batch", str(d), "--exercise", "ex5", "--hosts", str(hosts), "-j", "2", "--json"])
    assert res.exit_code == 6 and grade.call_count == 1
    summary = json.loads(res.stdout)  # --json: only the summary on stdout
    assert summary["submissions"][0]["result"] == "timed out" and summary["exit_code"] == 6
    assert "g1          timed out  12.5" in res.stderr and "1 timed out; 1 SSH login(s)" in res.stderr


def test_cli_refuses_a_missing_folder_before_anything(tmp_path, mocker):
    from sockdeploy.cli.app import cli
    from tests.unit.cli.support import make_runner

    grade = mocker.patch.object(Grader, "grade")
    res = make_runner().invoke(cli, ["batch", str(tmp_path / "nope"), "--exercise", "ex5"])
    assert res.exit_code == 2 and "submission folder not found" in res.stderr and "hint:" in res.stderr
    assert grade.call_count == 0
