"""Several targets in one command, `report` and `bundle`: real CLI, real sshd on loopback, real gcc."""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import List

import pytest

from tests.conftest import code_blocks, copy_payload

pytestmark = pytest.mark.integration


def run_dirs(out: Path) -> List[Path]:
    return sorted((p for p in out.iterdir() if p.is_dir()),
                  key=lambda p: json.loads((p / "run.json").read_text())["started_exact"])



def answer(md: str, number: int) -> str:
    """The text of numbered answer `number` (up to the next numbered heading)."""
    parts = re.split(r"^## (?=\d+\. )", md, flags=re.M)
    return next(p for p in parts if p.startswith(f"{number}. "))


def one_line_error(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert lines[-2].startswith("sockdeploy: error: ") and lines[-1].startswith("  hint: "), stderr


def test_two_targets_one_login_then_answers_and_a_checked_bundle(cli, tmp_path, clean_lab):
    before = clean_lab.login_count()
    res = cli("run", "ex5", "ex6", "--hosts", str(clean_lab.hosts_file), "--out", "runs",
              "--member", "Ada Lovelace", "--member", "Eve <script>alert(1)</script>")
    assert res.code == 0, res.stderr
    assert clean_lab.login_count() - before == 1  # one connection carried both runs
    ex5, ex6 = run_dirs(tmp_path / "runs")
    assert ex5.name.endswith("-ex5") and ex6.name.endswith("-ex6")
    for d in (ex5, ex6):
        assert re.search(rf"^{d.name[-3:]}\s+ok\s+{re.escape(str(d))}$", res.stderr, re.M), res.stderr
    assert [json.loads((d / "run.json").read_text())["ssh"]["reused_connection"] for d in (ex5, ex6)] == [False, True]

    # answers.md for the batch, in --out: numbered, names first, each terminal's log verbatim
    mds = sorted((tmp_path / "runs").glob("answers-*.md"))
    assert len(mds) == 1 and f"answers: {mds[0]}" in res.stderr
    md = mds[0].read_text()
    assert re.findall(r"^## (\d+)\. (?:Group members|Exercise (ex\d))", md, re.M) == [("1", ""), ("2", "ex5"), ("3", "ex6")]
    assert "- Ada Lovelace\n" in answer(md, 1)
    for number, d in ((2, ex5), (3, ex6)):
        record = json.loads((d / "run.json").read_text())
        section = answer(md, number)
        logs = ["server.log"] + [f"client-{c['run']}.log" for c in record["clients"]]
        assert code_blocks(section)[:len(logs)] == [(d / name).read_text().rstrip("\n") for name in logs]
        assert f"`{record['server']['command']}`" in section and record["server"]["host"] in section
        assert all(f"`{c['command']}`" in section for c in record["clients"])
        if (d / "timeline.txt").exists():
            assert code_blocks(section)[len(logs)] == (d / "timeline.txt").read_text().rstrip("\n")
    page = mds[0].with_suffix(".html").read_text()
    assert "<script>" not in page and "Eve &lt;script&gt;alert(1)&lt;/script&gt;" in page
    for line in (ex6 / "server.log").read_text().splitlines():
        assert html.escape(line) in page

    # report: the same answers from the run folders, wherever they are written
    rep = cli("report", str(ex6), str(ex5), "--member", "Ada Lovelace", "-o", "studio/answers.md")
    assert rep.code == 0, rep.stderr
    report_md = (tmp_path / "studio" / "answers.md").read_text()
    assert answer(report_md, 2).startswith("2. Exercise ex5") and (tmp_path / "studio" / "answers.html").is_file()

    # bundle: the exact sources that ran, checked against run.json, and a manifest sha256sum accepts
    res = cli("bundle", str(ex5), str(ex6), "--member", "Ada Lovelace", "-o", "submission.zip")
    assert res.code == 0, res.stderr
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(tmp_path / "submission.zip") as zf:
        assert zf.namelist() == sorted(zf.namelist())
        zf.extractall(unpacked)
    top = unpacked / "submission"
    for d in (ex5, ex6):
        record = json.loads((d / "run.json").read_text())
        shipped = top / "runs" / d.name / "sources"
        assert sorted(p.name for p in shipped.iterdir()) == sorted(record["sources"])
        for name, digest in record["sources"].items():
            assert hashlib.sha256((shipped / name).read_bytes()).hexdigest() == digest
            assert (shipped / name).read_bytes() == (Path(record["payload_dir"]) / name).read_bytes()
        assert (top / "runs" / d.name / "server.log").read_text() == (d / "server.log").read_text()
    if shutil.which("sha256sum"):
        check = subprocess.run(["sha256sum", "-c", "--strict", "MANIFEST.sha256"], cwd=top, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr

    # a source edited after the run is refused, and no zip is written
    src = ex5 / "sources" / "server.c"
    src.write_text(src.read_text() + "\n/* improved after the run */\n")
    res = cli("bundle", str(ex5), str(ex6), "-o", "tampered.zip")
    assert res.code == 2
    one_line_error(res.stderr)
    assert str(src) in res.stderr and "changed after the run" in res.stderr
    assert not (tmp_path / "tampered.zip").exists()


def test_report_on_a_folder_that_is_not_a_run(cli, tmp_path):
    (tmp_path / "notes").mkdir()
    res = cli("report", str(tmp_path / "notes"))
    assert res.code == 2
    one_line_error(res.stderr)
    assert f"{tmp_path / 'notes'}: not a run folder (no run.json)" in res.stderr
    res = cli("bundle", str(tmp_path / "missing"))
    assert res.code == 2 and "no such folder" in res.stderr
    one_line_error(res.stderr)


def test_local_targets_need_no_hosts_and_keep_their_sources(cli, tmp_path):
    res = cli("run", "ex1", "ex2", "--local", "--out", "runs")
    assert res.code == 0, res.stderr
    dirs = run_dirs(tmp_path / "runs")
    assert [d.name[-3:] for d in dirs] == ["ex1", "ex2"]
    for d in dirs:
        record = json.loads((d / "run.json").read_text())
        assert record["ok"] and record["sources_dir"] == "sources"
        copies = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (d / "sources").iterdir()}
        assert copies == record["sources"]
    md = next((tmp_path / "runs").glob("answers-*.md")).read_text()
    assert "## 2. Exercise ex1" in md and "## 3. Exercise ex2" in md


def test_a_failing_target_does_not_stop_the_next(cli, tmp_path):
    bad = copy_payload("ex1", tmp_path / "broken")
    (bad / "client.c").write_text((bad / "client.c").read_text().replace("return 0;", "return 3;"))
    res = cli("run", str(bad), "ex2", "--local", "--out", "runs")
    assert res.code == 6, res.stderr  # the first failure's exit code
    broken, ex2 = run_dirs(tmp_path / "runs")
    assert json.loads((broken / "run.json").read_text())["ok"] is False
    assert json.loads((ex2 / "run.json").read_text())["ok"] is True
    assert re.search(r"^broken\s+failed \(exit 6\)", res.stderr, re.M) and re.search(r"^ex2\s+ok\s", res.stderr, re.M)
    md = next((tmp_path / "runs").glob("answers-*.md")).read_text()
    assert "result FAILED" in answer(md, 2) and "result ok" in answer(md, 3)
    # handing in: a failed run is refused by name, unless asked for
    for command in ("report", "bundle"):
        refused = cli(command, str(broken), str(ex2), "--out", f"{command}.out")
        assert refused.code == 2 and f"{broken}: this run failed (exit 6" in refused.stderr, refused.stderr
        assert "--include-failed" in refused.stderr and not (tmp_path / f"{command}.out").exists()
        taken = cli(command, str(broken), str(ex2), "--out", f"{command}.out", "--include-failed")
        assert taken.code == 0, taken.stderr


def test_group_members_from_hosts_yaml(cli, tmp_path):
    from sockdeploy.spec.hosts import Config

    if "group" not in getattr(Config, "__dataclass_fields__", {}):
        pytest.skip("hosts.yaml has no group: list in this version of config.py")
    res = cli("run", "ex1", "--local", "--out", "runs", "-q")
    assert res.code == 0, res.stderr
    (tmp_path / "hosts.yaml").write_text("server:\n  host: shell.example.edu\ngroup:\n  - Grace Hopper\n  - Ada Lovelace\n")
    res = cli("report", str(run_dirs(tmp_path / "runs")[0]), "--member", "Alan Turing")
    assert res.code == 0, res.stderr
    md = (tmp_path / "answers.md").read_text()
    assert answer(md, 1).split("\n\n", 1)[1].strip().splitlines() == ["- Alan Turing", "- Grace Hopper", "- Ada Lovelace"]
