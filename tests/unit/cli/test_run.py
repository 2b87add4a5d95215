"""`sockdeploy run`: --json is the only stdout, a failed run is one error line with its exit code, --dry-run."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from sockdeploy.errors import BuildError
from tests.unit.cli.support import hosts_file, one_line_error


def _one_run(mocker, tmp_path: Path, error=None):
    result = SimpleNamespace(error=error, folder=SimpleNamespace(path=tmp_path / "runs" / "r1"))
    batch = SimpleNamespace(outcomes=[SimpleNamespace(result=result, error=error)], exit_code=error.exit_code if error else 0)
    run = mocker.patch("sockdeploy.run.targets.run_targets", return_value=batch)
    mocker.patch("sockdeploy.run.targets.records", return_value=[{"ok": error is None}])
    return run


def test_a_failed_run_prints_its_record_then_one_error_line(invoke, tmp_path, mocker):
    _one_run(mocker, tmp_path, BuildError("the client did not compile", "fix the first error above"))
    res = invoke("run", "ex1", "--json")
    assert json.loads(res.stdout) == {"ok": False}
    one_line_error(res.stderr, 4, res.exit_code)


def test_a_passed_run_names_its_folder_on_stderr(invoke, tmp_path, mocker):
    run = _one_run(mocker, tmp_path)
    res = invoke("run", "ex1", "--out", "elsewhere", "-v")
    assert res.exit_code == 0 and res.stdout == ""
    assert f"run folder: {tmp_path / 'runs' / 'r1'}" in res.stderr
    payloads, cfg, opts, progress = run.call_args.args
    assert [p.name for p in payloads] == ["ex1"] and cfg is None and opts.out == Path("elsewhere") and progress.verbose


def test_quiet_and_json_print_nothing_for_people(invoke, tmp_path, mocker):
    _one_run(mocker, tmp_path)
    res = invoke("run", "ex1", "-q")
    assert res.exit_code == 0 and res.stdout == "" and res.stderr == ""


def test_dry_run_prints_the_steps_on_stdout(invoke, tmp_path, mocker):
    run = _one_run(mocker, tmp_path)
    hosts_file(tmp_path, "  user: jdoe")
    res = invoke("run", "ex5", "--dry-run", "--hosts", "hosts.yaml", "--via", "tunnel", "--port", "31522")
    assert res.exit_code == 0 and res.stderr == "" and run.call_count == 0
    assert "ssh -f -N jdoe@lab0 -L 31522:localhost:31522" in res.stdout


def test_every_target_is_checked_before_any_runs(invoke, tmp_path, mocker):
    run = _one_run(mocker, tmp_path)
    res = invoke("run", "ex1", "ex55")
    one_line_error(res.stderr, 2, res.exit_code)
    assert run.call_count == 0
