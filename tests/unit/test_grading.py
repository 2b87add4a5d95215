"""`sockdeploy batch`: planning, verdicts, the connection pool, port leases and scheduling, without a network."""

from __future__ import annotations

import io
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any, List

import pytest

from sockdeploy.errors import (
    AuthError,
    BuildError,
    ConnectError,
    ExpectationsFailed,
    Interrupted,
    NetworkPathError,
    PayloadError,
    ProgramError,
    RemoteError,
    UsageError,
)
from sockdeploy.grading import grader as grading
from sockdeploy.output.runfolder import RunFolder
from sockdeploy.remote.host import CommandResult
from sockdeploy.run import signals as orchestrator
from sockdeploy.run import server as process
from sockdeploy.run.runner import RunResult
from sockdeploy.spec.hosts import Config, ServerConfig

PAYLOADS = Path(__file__).resolve().parents[2] / "payloads"


# -- planning -----------------------------------------------------------------------

def test_names_are_sanitised_unique_and_never_a_summary_file():
    dirs = [Path("a/Team 1"), Path("b/Team 1"), Path("c/../"), Path("x/summary.json"), Path("y/..hidden")]
    assert grading.safe_names(dirs) == ["Team_1", "Team_1-2", "submission", "summary.json-2", "hidden"]


def _submissions(tmp_path: Path, *names: str) -> List[Path]:
    out = []
    for name in names:
        dest = tmp_path / "subs" / name
        shutil.copytree(PAYLOADS / "ex5", dest)
        (dest / "payload.yaml").unlink()
        out.append(dest)
    return out


def test_an_exercise_plan_keeps_its_expectations_for_grading(tmp_path):
    (d,) = _submissions(tmp_path, "g1")
    (sub,) = grading.plan_submissions([str(d)], "ex5")
    plan = grading.payload_mod.resolve("ex5")
    assert sub.problem is None and sub.remote
    # unlike `run ex5 --payload DIR`, the output checks apply: that is what grading is for
    assert sub.payload.expect == plan.expect and sub.payload.expect.server and not sub.payload.checks_skipped
    assert sub.payload.source_dir == d.resolve()


def test_a_bad_submission_is_recorded_and_the_others_still_plan(tmp_path):
    good, no_client, own = _submissions(tmp_path, "good", "no-client", "own")
    (no_client / "client.c").unlink()
    shutil.copy(PAYLOADS / "ex5" / "payload.yaml", own / "payload.yaml")
    (own / "payload.yaml").write_text("server:\n  run: ./server {prot}\nclient:\n  runs: [./client]\n")
    subs = grading.plan_submissions([str(good), str(no_client)], "ex5")
    assert subs[0].problem is None
    assert isinstance(subs[1].problem, PayloadError) and "client.c" in subs[1].problem.message
    # without --exercise: each folder's own payload.yaml, and a folder without one is refused on its own
    subs = grading.plan_submissions([str(good), str(own)], None)
    assert isinstance(subs[0].problem, PayloadError) and "no payload.yaml" in subs[0].problem.message
    assert isinstance(subs[1].problem, PayloadError) and subs[1].problem.where.endswith("payload.yaml:2")


def test_a_missing_folder_stops_everything_before_anything_runs(tmp_path):
    with pytest.raises(UsageError, match="submission folder not found"):
        grading.plan_submissions([str(tmp_path / "nope")], "ex5")


def test_remote_submissions_are_spread_round_robin():
    remote = grading.Submission("r", Path("."), grading.payload_mod.resolve("ex5"))
    local = grading.Submission("l", Path("."), grading.payload_mod.resolve("ex1"))
    bad = grading.Submission("b", Path("."), None, PayloadError("x"))
    assert grading.assign_hosts([remote, local, remote, bad, remote, remote], 3) == [0, None, 1, None, 2, 0]
    assert grading.assign_hosts([remote], 0) == [None]


def test_server_tools_name_the_build_programs():
    subs = [grading.Submission("a", Path("."), grading.payload_mod.resolve("ex5")),
            grading.Submission("b", Path("."), grading.payload_mod.resolve("py-tcp"))]
    assert grading.server_tools(subs) == ["setsid", "gcc", "python3"]


# -- verdicts and the exit code -------------------------------------------------------------

@pytest.mark.parametrize("error, record, verdict", [
    (None, {}, grading.PASSED),
    (ExpectationsFailed("x"), {}, grading.EXPECTATIONS_FAILED),
    (BuildError("x"), {}, grading.BUILD_FAILED),
    (ProgramError("x"), {"clients": [{"timed_out": True}]}, grading.TIMED_OUT),
    (ProgramError("x"), {"server": {"timed_out": True}, "clients": []}, grading.TIMED_OUT),
    (ProgramError("x"), {"server": {}, "clients": [{"timed_out": False}]}, grading.PROGRAM_FAILED),
    (PayloadError("x"), {}, grading.BAD_SUBMISSION),
    (NetworkPathError("x"), {}, grading.NETWORK_ERROR),
    (AuthError("x"), {}, grading.CONNECTION_ERROR),
    (RemoteError("x"), {}, grading.CONNECTION_ERROR),
    (Interrupted("x"), {}, grading.INTERRUPTED),
])
def test_classify(error, record, verdict):
    assert grading.classify(error, record) == verdict


def _o(verdict: str) -> grading.Outcome:
    return grading.Outcome(grading.Submission("s", Path(".")), verdict)


def test_exit_code_is_the_most_serious_class():
    assert grading.exit_code([_o(grading.PASSED)] * 3) == 0
    assert grading.exit_code([_o(grading.PASSED), _o(grading.BUILD_FAILED), _o(grading.TIMED_OUT)]) == 6
    assert grading.exit_code([_o(grading.EXPECTATIONS_FAILED), _o(grading.NETWORK_ERROR)]) == 5
    assert grading.exit_code([_o(grading.NETWORK_ERROR), _o(grading.CONNECTION_ERROR)]) == 3
    assert grading.exit_code([_o(grading.PASSED)], Interrupted("x")) == 130
    assert grading.exit_code([_o(grading.CONNECTION_ERROR), _o(grading.NOT_RUN)]) == 130


def test_runs_per_connection_stay_under_max_sessions():
    assert grading.runs_per_connection() == 3  # 3 runs x 3 session channels = 9 < MaxSessions 10
    assert grading.runs_per_connection(64) == 21
    assert grading.runs_per_connection(2) == 1
    assert grading.GradingOptions(jobs=8).connection_cap == 4
    assert grading.GradingOptions(jobs=2).connection_cap == 2
    assert grading.GradingOptions(jobs=8, connections=1).connection_cap == 1


# -- port leases ---------------------------------------------------------------------------

def test_port_leases_never_hand_out_one_port_twice():
    book = process.PortBook()
    a, b, c = book.lease(), book.lease(), book.lease()
    got = {a.choose(set(), (31000, 31001), set()), b.choose(set(), (31000, 31001), set())}
    assert got == {31000, 31001}
    with pytest.raises(NetworkPathError, match="no free port"):
        c.choose(set(), (31000, 31001), set())
    a.release()
    assert c.choose(set(), (31000, 31001), set()) in got and book.taken == got


def test_port_leases_are_safe_across_threads():
    book = process.PortBook()
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


# -- the connection pool --------------------------------------------------------------------

class FakeSession:
    """Stands in for an SshSession: counts logins and how many open at once."""

    opening = 0
    most_at_once = 0
    lock = threading.Lock()

    def __init__(self, cfg: ServerConfig, gate: threading.Lock, fail: Any = None, delay: float = 0.02) -> None:
        self.cfg, self.gate, self.fail, self.delay = cfg, gate, fail, delay
        self.alive = False
        self.logins = 0
        self.closed = False
        self.name = cfg.host

    def open(self) -> None:
        with self.gate:
            with FakeSession.lock:
                FakeSession.opening += 1
                FakeSession.most_at_once = max(FakeSession.most_at_once, FakeSession.opening)
            time.sleep(self.delay)
            with FakeSession.lock:
                FakeSession.opening -= 1
            if self.fail is not None:
                raise self.fail
            self.alive = True
            self.logins += 1

    def close(self) -> None:
        self.alive = False
        self.closed = True


@pytest.fixture(autouse=True)
def _reset_fake():
    FakeSession.opening = FakeSession.most_at_once = 0


def _pool(hosts=("h1",), per_host=2, per_connection=3, factory=None):
    servers = [ServerConfig(host=h) for h in hosts]
    return grading.ConnectionPool(servers, per_host, per_connection, factory or (lambda cfg, gate: FakeSession(cfg, gate)))


def test_the_pool_spreads_runs_over_its_cap_then_shares_channels():
    pool = _pool(per_host=2, per_connection=3)
    slot = pool.hosts[0]
    conns = [pool.acquire(slot) for _ in range(4)]
    assert len(slot.conns) == 2 and pool.logins == 2
    assert sorted(c.load for c in slot.conns) == [2, 2]
    assert all(c in slot.conns for c in conns)


def test_a_full_pool_waits_for_a_run_to_finish(mocker):
    pool = _pool(per_host=1, per_connection=2)
    slot = pool.hosts[0]
    first = pool.acquire(slot)
    pool.acquire(slot)
    got: List[Any] = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire(slot)))
    waiter.start()
    time.sleep(0.3)
    assert got == [] and first.load == 2  # never a third run on a connection that carries two
    pool.release(first)
    waiter.join(2)
    assert got == [first] and first.load == 2 and pool.logins == 1


def test_logins_happen_one_at_a_time(mocker):
    pool = _pool(per_host=4, per_connection=1)
    slot = pool.hosts[0]
    threads = [threading.Thread(target=pool.acquire, args=(slot,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert pool.logins == 4 and FakeSession.most_at_once == 1


def test_a_host_whose_first_login_fails_is_not_tried_again(mocker):
    factory = mocker.Mock(side_effect=lambda cfg, gate: FakeSession(cfg, gate, fail=AuthError("denied")))
    pool = _pool(factory=factory)
    for _ in range(3):
        with pytest.raises(AuthError, match="denied"):
            pool.acquire(pool.hosts[0])
    assert factory.call_count == 1 and pool.healthy() == []


def test_a_later_login_failure_only_lowers_the_cap(mocker):
    made: List[FakeSession] = []

    def factory(cfg, gate):
        s = FakeSession(cfg, gate, fail=ConnectError("MaxStartups") if made else None)
        made.append(s)
        return s

    pool = _pool(per_host=3, per_connection=3, factory=factory)
    slot = pool.hosts[0]
    a = pool.acquire(slot)
    b = pool.acquire(slot)  # the second login fails: the run shares the first connection
    assert a is b and a.load == 2 and slot.cap == 1 and slot.failure is None and len(made) == 2


def test_a_dead_idle_connection_is_replaced():
    pool = _pool(per_host=1)
    slot = pool.hosts[0]
    conn = pool.acquire(slot)
    pool.release(conn)
    conn.session.alive = False
    again = pool.acquire(slot)
    assert again is not conn and conn.session.closed and pool.logins == 2


def test_acquire_gives_up_when_the_batch_is_stopped():
    pool = _pool(per_host=1, per_connection=1)
    slot = pool.hosts[0]
    pool.acquire(slot)
    stop = Interrupted("stopped")
    with pytest.raises(Interrupted):
        pool.acquire(slot, lambda: stop)


# -- the grader, with a fake runner ------------------------------------------------------------

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


def _plan(tmp_path: Path, names: List[str]) -> List[grading.Submission]:
    return grading.plan_submissions([str(p) for p in _submissions(tmp_path, *names)], "ex5")


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
    opts = grading.GradingOptions(jobs=4, connections=2, out=tmp_path / "runs")
    stream = io.StringIO()
    grader = grading.Grader(_plan(tmp_path, names), _cfg("h1"), opts, grading.BatchProgress(8, stream),
                            factory=lambda cfg, gate: FakeSession(cfg, gate), runner=runner, run_on_hosts=on_hosts)
    result = grader.grade()
    assert [o.verdict for o in result.outcomes] == ["passed", "passed", "build failed", "timed out"] + ["passed"] * 4
    assert result.exit_code == 6 and result.logins == 2
    assert runner.most == 4 and runner.most_per_session <= grading.runs_per_connection()
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
    opts = grading.GradingOptions(jobs=3, out=tmp_path / "runs")
    grader = grading.Grader(_plan(tmp_path, [f"s{i}" for i in range(6)]), _cfg("h1", "h2", "h3"), opts,
                            factory=lambda cfg, gate: FakeSession(cfg, gate), runner=runner,
                            run_on_hosts=_ok_on_hosts(missing="gcc"))
    result = grader.grade()
    assert all(o.passed for o in result.outcomes)
    assert sorted(c[3] for c in runner.calls) == ["h1"] * 3 + ["h3"] * 3  # round robin over the healthy hosts
    assert [h["ok"] for h in result.hosts] == [True, False, True]
    assert "lacks gcc" in result.hosts[1]["error"]["message"]


def test_no_usable_host_is_a_connection_error_for_each_submission(tmp_path):
    opts = grading.GradingOptions(jobs=2, out=tmp_path / "runs")
    grader = grading.Grader(_plan(tmp_path, ["a", "b"]), _cfg("h1"), opts,
                            factory=lambda cfg, gate: FakeSession(cfg, gate, fail=AuthError("denied")),
                            runner=FakeRunner(), run_on_hosts=_ok_on_hosts())
    result = grader.grade()
    assert [o.verdict for o in result.outcomes] == ["connection error"] * 2 and result.exit_code == 3
    assert "denied" in (result.folder / "a" / "error.txt").read_text()


def test_one_broken_run_never_stops_the_others(tmp_path):
    opts = grading.GradingOptions(jobs=2, out=tmp_path / "runs")
    subs = _plan(tmp_path, ["crash", "ok1", "ok2"])
    subs.append(grading.Submission("bad", tmp_path, None, PayloadError("bad manifest")))
    grader = grading.Grader(subs, _cfg("h1"), opts, factory=lambda cfg, gate: FakeSession(cfg, gate),
                            runner=FakeRunner(seconds=0.05), run_on_hosts=_ok_on_hosts())
    result = grader.grade()
    assert [o.verdict for o in result.outcomes] == ["internal error", "passed", "passed", "bad submission"]
    assert "boom" in (result.folder / "crash" / "error.txt").read_text()
    assert "bad manifest" in (result.folder / "bad" / "error.txt").read_text()
    assert result.exit_code == 1


def test_a_stopped_batch_starts_nothing_new_and_says_so(tmp_path):
    runner = FakeRunner(seconds=0.3)
    opts = grading.GradingOptions(jobs=2, out=tmp_path / "runs")
    grader = grading.Grader(_plan(tmp_path, [f"s{i}" for i in range(6)]), _cfg("h1"), opts,
                            factory=lambda cfg, gate: FakeSession(cfg, gate), runner=runner, run_on_hosts=_ok_on_hosts())
    threading.Timer(0.15, grader.stop, args=(Interrupted("interrupted (Ctrl-C)"),)).start()
    result = grader.grade()
    verdicts = [o.verdict for o in result.outcomes]
    assert len(runner.calls) == 2 and verdicts.count("not run") == 4
    assert result.exit_code == 130 and result.interrupted is not None


def test_a_stopped_run_ends_at_its_next_step_but_still_cleans_up():
    stop: List[Any] = [None]
    progress = grading._RunProgress(io.StringIO(), lambda: stop[0])
    with progress.step("build the server"):
        pass
    stop[0] = Interrupted("stopped")
    with pytest.raises(Interrupted):
        with progress.step("client run 1/2: ./client"):
            pass
    with progress.step("stop the server and collect its log"):
        pass


def test_the_bar_on_a_terminal(mocker, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    stream = io.StringIO()
    mocker.patch.object(stream, "isatty", return_value=True)
    bar = grading.BatchProgress(2, stream)
    bar.started("a")
    bar.started("b")
    assert stream.getvalue() == ("\r\033[K[........................] 0/2  passed 0  failed 0  running 1"
                                 "\r\033[K[........................] 0/2  passed 0  failed 0  running 2")
    bar.finished(grading.Outcome(grading.Submission("a", Path(".")), grading.PASSED, 1.0))
    # the bar is wiped, the result line printed, the bar redrawn below it
    assert stream.getvalue().endswith("\r\033[K  [1/2] a: passed (1.0 s)\n"
                                      "\r\033[K[############............] 1/2  passed 1  failed 0  running 1")


# -- a worker thread never touches the signal handlers ------------------------------------------

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


# -- Fabric's ThreadingGroup runs the per-host checks --------------------------------------------

def test_checks_run_on_every_host_at_once_with_fabric(mocker):
    from fabric.exceptions import GroupException

    from sockdeploy.ssh import session as session_mod

    sessions = []
    for host in ("lab1", "lab2"):
        s = session_mod.SshSession(ServerConfig(host=host))
        s._conn = mocker.Mock(name=host)
        s._transport = mocker.Mock(**{"is_active.return_value": True})
        sessions.append(s)
    ok = mocker.Mock(stdout="SD-CLEANED x\n", stderr="", exited=0)
    group = mocker.Mock()
    group.run.side_effect = GroupException({sessions[0]._conn: ok, sessions[1]._conn: OSError("reset")})
    made = mocker.patch("fabric.ThreadingGroup.from_connections", return_value=group)
    results = session_mod.run_on_hosts(sessions, "echo hi", timeout=9)
    made.assert_called_once_with([s._conn for s in sessions])
    script = group.run.call_args.args[0]
    assert script.startswith("/bin/sh -c ") and group.run.call_args.kwargs["timeout"] == 9
    assert results[0].stdout == "SD-CLEANED x\n" and isinstance(results[1], ConnectError)


# -- the command line: thin over the library ------------------------------------------------------

def test_cli_prints_the_table_and_maps_the_exit_code(tmp_path, mocker):
    from click.testing import CliRunner

    from sockdeploy.cli.app import cli

    (d,) = _submissions(tmp_path, "g1")
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text("server:\n  host: lab0\n")
    outcome = grading.Outcome(grading.Submission("g1", d), grading.TIMED_OUT, 12.5, tmp_path / "b" / "g1", "lab0",
                              ProgramError("still running"))
    fake = grading.GradingResult(folder=tmp_path / "b", outcomes=[outcome], logins=1)
    grade = mocker.patch.object(grading.Grader, "grade", return_value=fake)
    res = CliRunner().invoke(cli, ["batch", str(d), "--exercise", "ex5", "--hosts", str(hosts), "-j", "2", "--json"])
    assert res.exit_code == 6 and grade.call_count == 1
    summary = json.loads(res.stdout)  # --json: only the summary on stdout
    assert summary["submissions"][0]["result"] == "timed out" and summary["exit_code"] == 6
    assert "g1          timed out  12.5" in res.stderr and "1 timed out; 1 SSH login(s)" in res.stderr


def test_cli_refuses_a_missing_folder_before_anything(tmp_path, mocker):
    from click.testing import CliRunner

    from sockdeploy.cli.app import cli

    grade = mocker.patch.object(grading.Grader, "grade")
    res = CliRunner().invoke(cli, ["batch", str(tmp_path / "nope"), "--exercise", "ex5"])
    assert res.exit_code == 2 and "submission folder not found" in res.stderr and "hint:" in res.stderr
    assert grade.call_count == 0
