"""`sockdeploy batch` end to end: a grader's folder of submissions against a real sshd with OpenSSH's default limits."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from sockdeploy.lab.loopback import LoopbackLab
from tests.conftest import PAYLOADS

pytestmark = pytest.mark.integration


class DefaultLimitsLab(LoopbackLab):
    """The loopback lab with sshd's default MaxSessions (10) and MaxStartups (10:30:100), as on a real login host."""

    def sshd_config(self) -> str:
        text = super().sshd_config()
        assert "MaxSessions 64\n" in text and "MaxStartups 100:30:200\n" in text
        return text.replace("MaxSessions 64\n", "MaxSessions 10\n").replace("MaxStartups 100:30:200\n", "")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):  # overrides conftest's lab (and so clean_lab) for this module
    with DefaultLimitsLab(tmp_path_factory.mktemp("lab")) as running:
        yield running


def _submission(root: Path, name: str, edit: Optional[Dict[str, tuple]] = None) -> Path:
    edit = edit or {}
    dest = root / name
    dest.mkdir(parents=True)
    for src in ("server.c", "client.c"):
        text = (PAYLOADS / "ex5" / src).read_text()
        if src in edit:
            old, new = edit[src]
            assert old in text
            text = text.replace(old, new)
        (dest / src).write_text(text)
    return dest


def _folder_of_submissions(root: Path) -> List[Path]:
    return [
        _submission(root, "Group 1"),
        _submission(root, "group2"),
        _submission(root, "group3"),
        _submission(root, "group4"),
        _submission(root, "compile-error", {"server.c": ("int main(", "int main(void) { return x; }\nint main2(")}),
        # never honours the quit code, so it never ends by itself
        _submission(root, "server-hangs", {"server.c": ("#define QUIT_CODE 418u", "#define QUIT_CODE 419u")}),
        _submission(root, "wrong-output", {"client.c": ('say("done\\n");', 'say("finished\\n");')}),
        _submission(root, "no-client"),
    ]


def test_a_folder_of_submissions_in_parallel(cli, tmp_path, clean_lab):
    dirs = _folder_of_submissions(tmp_path / "submissions")
    (dirs[-1] / "client.c").unlink()
    before = clean_lab.login_count()
    res = cli("batch", *map(str, dirs), "--exercise", "ex5", "-j", "4", "--connections", "2",
              "--hosts", str(clean_lab.hosts_file), "--out", "runs", "--json", timeout=120)
    assert res.code == 6, res.stderr
    summary = res.json()
    results = {s["submission"]: s for s in summary["submissions"]}
    assert {name: s["result"] for name, s in results.items()} == {
        "Group_1": "passed", "group2": "passed", "group3": "passed", "group4": "passed",
        "compile-error": "build failed", "server-hangs": "timed out", "wrong-output": "expectations failed",
        "no-client": "bad submission"}
    assert summary["counts"] == {"passed": 4, "expectations failed": 1, "build failed": 1, "timed out": 1, "bad submission": 1}
    # a bounded pool: never more logins than the cap, whatever -j is
    assert summary["logins"] == clean_lab.login_count() - before <= 2
    batch = Path(summary["batch_dir"])
    assert batch.parent == (tmp_path / "runs").resolve() and re.fullmatch(r"batch-\d{8}T\d{6}Z", batch.name)
    assert json.loads((batch / "summary.json").read_text())["counts"] == summary["counts"]

    names = ["Group_1", "group2", "group3", "group4", "compile-error", "server-hangs", "wrong-output", "no-client"]
    assert list(results) == names  # the order given
    ports = {}
    for name, s in results.items():
        run_dir = Path(s["run_dir"])
        assert run_dir == batch / name
        if name == "no-client":
            assert "client.c" in (run_dir / "error.txt").read_text()
            continue
        record = json.loads((run_dir / "run.json").read_text())
        assert (run_dir / "progress.log").read_text().strip()
        assert (run_dir / "transcript.md").is_file()
        assert record["ssh"]["reused_connection"]  # a pooled connection, no login of its own
        assert sorted(record["sources"]) == ["client.c", "server.c"]
        assert record["payload_dir"] == str(dirs[names.index(name)].resolve())
        if name == "compile-error":
            assert "error" in (run_dir / "server-build.log").read_text()
            continue
        ports[name] = record["server"]["port"]
        server = (run_dir / "server.log").read_text()
        assert f"listening on port {ports[name]}" in server
        # each run talked to its own server only: exactly its own two connections
        assert len(re.findall(r"^connection \d+ accepted$", server, re.M)) == 2, server
        for i in (1, 2):
            assert (run_dir / f"client-{i}.log").is_file()
        if name == "server-hangs":
            assert record["server"]["timed_out"] and record["server"]["stopped_by_sockdeploy"]
            assert "quit code" not in server
        if name == "wrong-output":
            assert any(not e["ok"] and "done" in e["check"] for e in record["expectations"]), record["expectations"]
    # piped: one plain line per finished submission, then the table
    assert "[8/8]" in res.stderr and "\r" not in res.stderr
    assert re.search(r"^submission\s+result\s+seconds\s+reason\s+run folder$", res.stderr, re.M)


def test_three_runs_share_one_connection_under_max_sessions_10(cli, tmp_path, clean_lab):
    dirs = [_submission(tmp_path / "subs", f"g{i}") for i in range(3)]
    before = clean_lab.login_count()
    res = cli("batch", *map(str, dirs), "--exercise", "ex5", "-j", "3", "--connections", "1",
              "--hosts", str(clean_lab.hosts_file), "--out", "runs", "--json", timeout=120)
    assert res.code == 0, res.stderr
    summary = res.json()
    assert [s["result"] for s in summary["submissions"]] == ["passed"] * 3
    assert clean_lab.login_count() - before == 1 == summary["logins"]
    # all three ran at the same time on that one connection (and sshd never refused a channel: all passed)
    from datetime import datetime

    starts = [datetime.fromisoformat(json.loads((Path(s["run_dir"]) / "run.json").read_text())["started_exact"]).timestamp()
              for s in summary["submissions"]]
    assert max(starts) - min(starts) < min(s["seconds"] for s in summary["submissions"])


def test_servers_list_spreads_the_work_over_hosts(cli, tmp_path, clean_lab):
    # the lab answers as "localhost" and as "127.0.0.1": two server hosts for the batch
    hosts = tmp_path / "hosts.yaml"
    text = clean_lab.hosts_file.read_text()
    hosts.write_text(text + "servers:\n  - host: localhost\n  - host: 127.0.0.1\n")
    dirs = [_submission(tmp_path / "subs", f"g{i}") for i in range(4)]
    res = cli("batch", *map(str, dirs), "--exercise", "ex5", "-j", "4", "--hosts", str(hosts), "--out", "runs", "--json",
              timeout=120)
    assert res.code == 0, res.stderr
    summary = res.json()
    assert [s["host"] for s in summary["submissions"]] == ["localhost", "127.0.0.1", "localhost", "127.0.0.1"]
    assert [h["host"] for h in summary["hosts"]] == ["localhost", "127.0.0.1"] and all(h["ok"] for h in summary["hosts"])
    records = [json.loads((Path(s["run_dir"]) / "run.json").read_text()) for s in summary["submissions"]]
    assert [r["server"]["host"] for r in records] == ["localhost", "127.0.0.1", "localhost", "127.0.0.1"]


def test_forty_submissions_with_every_transcript_kept(cli, tmp_path, clean_lab):
    """A class-sized batch: 36 good submissions and one of each failure, -j 8 over the default pool."""
    root = tmp_path / "class"
    dirs = [_submission(root, f"group{i:02d}") for i in range(1, 37)]
    dirs += [_submission(root, "compile-error", {"server.c": ("int main(", "int main(void) { return x; }\nint main2(")}),
             _submission(root, "server-hangs", {"server.c": ("#define QUIT_CODE 418u", "#define QUIT_CODE 419u")}),
             _submission(root, "wrong-output", {"client.c": ('say("done\\n");', 'say("finished\\n");')}),
             _submission(root, "no-client")]
    (dirs[-1] / "client.c").unlink()
    before = clean_lab.login_count()
    res = cli("batch", *map(str, dirs), "--exercise", "ex5", "-j", "8", "--hosts", str(clean_lab.hosts_file),
              "--out", "runs", "--json", timeout=600)
    assert res.code == 6, res.stderr
    summary = res.json()
    assert summary["counts"] == {"passed": 36, "expectations failed": 1, "build failed": 1, "timed out": 1,
                                 "bad submission": 1}
    assert summary["logins"] == clean_lab.login_count() - before <= 4
    batch = Path(summary["batch_dir"])
    assert sorted(p.name for p in batch.iterdir() if p.is_dir()) == sorted(d.name for d in dirs)
    for s in summary["submissions"]:
        run_dir = Path(s["run_dir"])
        if s["submission"] == "no-client":
            assert (run_dir / "error.txt").is_file()
            continue
        assert (run_dir / "transcript.md").is_file() and (run_dir / "run.json").is_file()
        if s["result"] in ("passed", "expectations failed", "timed out"):
            server = (run_dir / "server.log").read_text()
            port = json.loads((run_dir / "run.json").read_text())["server"]["port"]
            assert f"listening on port {port}" in server
            # its own two client runs, nobody else's
            assert len(re.findall(r"^connection \d+ accepted$", server, re.M)) == 2, (s["submission"], server)
            assert (run_dir / "client-1.log").is_file() and (run_dir / "client-2.log").is_file()
    assert "[40/40]" in res.stderr
