"""`sockdeploy batch` end to end: a grader's folder of submissions against a real sshd with OpenSSH's default limits."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Dict, Optional

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


GRADING = Path(__file__).resolve().parents[1] / "fixtures" / "grading"
# fixture: (result, the reason the summary gives); see tests/fixtures/grading/README.md
EXPECTED = {
    "ignores-quit": ("checks failed", "the server was still running 10 s after the quit run"),
    "text-pair": ("passed", ""),
    "binary-htonl": ("passed", ""),
    "swapped-text": ("passed", ""),
    "same-port-a": ("passed", ""),
    "same-port-b": ("passed", ""),
    "drops-value": ("checks failed", "integer 98 sent by client run 1 never appears in the server's output"),
    "never-sends-quit": ("checks failed", "the quit run (client run 2) sent nothing that client run 1 did not: "
                                          "no quit code"),
    "sends-nothing": ("checks failed", "client run 1 connected but sent nothing"),
    "unix-only": ("bad submission", "no AF_INET server in unix-only: found only server.c"),
    "does-not-compile": ("build failed", "the server did not build (see server-build.log)"),
}
RUBRIC = """\
checks:
  built: 1
  connected: 1
  sent: 1
  integers: 4
  quit: 1
  ended: 1
patterns:
  - name: says something per value
    log: server
    regex: '\\d'
    points: 1
"""


def test_a_class_graded_by_behaviour_not_wording(cli, tmp_path, clean_lab):
    """Every fixture at once, -j 4 over 2 pooled logins: each gets the verdict its code deserves, and the CSV."""
    (tmp_path / "rubric.yaml").write_text(RUBRIC)
    dirs = [GRADING / name for name in EXPECTED]  # the slow one (it waits out the server) first
    before = clean_lab.login_count()
    res = cli("batch", *map(str, dirs), "--exercise", "ex5", "-j", "4", "--connections", "2", "--rubric", "rubric.yaml",
              "--hosts", str(clean_lab.hosts_file), "--out", "runs", "--json", timeout=120)
    assert res.code == 6, res.stderr
    summary = res.json()
    results = {s["submission"]: s for s in summary["submissions"]}
    assert list(results) == list(EXPECTED)  # the order given
    for name, (verdict, reason) in EXPECTED.items():
        assert (results[name]["result"], results[name]["reason"][:len(reason)]) == (verdict, reason), results[name]
    assert summary["counts"] == {"passed": 5, "checks failed": 4, "build failed": 1, "bad submission": 1}
    assert summary["logins"] == clean_lab.login_count() - before <= 2  # a bounded pool whatever -j is
    batch = Path(summary["batch_dir"])
    assert batch.parent == (tmp_path / "runs").resolve() and re.fullmatch(r"batch-\d{8}T\d{6}Z", batch.name)

    # the gradebook file: points under the rubric and one comment per failed check
    with open(batch / "summary.csv", newline="") as fh:
        rows = {row["group"]: row for row in csv.DictReader(fh)}
    assert list(rows) == list(EXPECTED) and all(row["max_points"] == "10" for row in rows.values())
    assert {name: rows[name]["points"] for name in rows} == {
        "ignores-quit": "9", "text-pair": "10", "binary-htonl": "10", "swapped-text": "10", "same-port-a": "10",
        "same-port-b": "10", "drops-value": "6", "never-sends-quit": "8", "sends-nothing": "2", "unix-only": "0",
        "does-not-compile": "0"}
    assert rows["drops-value"]["comment"].startswith("integers: integer 98 sent by client run 1 never appears")
    assert rows["does-not-compile"]["comment"] == ("built: the server did not build (see server-build.log); "
                                                   "not reached: connected, sent, integers, quit, ended, "
                                                   "says something per value")
    assert rows["unix-only"]["comment"].startswith("bad submission: no AF_INET server in unix-only")

    for name, s in results.items():
        run_dir = batch / name
        assert s["run_dir"] == str(run_dir)
        if name == "unix-only":
            assert "AF_UNIX" in (run_dir / "error.txt").read_text()
            continue
        record = json.loads((run_dir / "run.json").read_text())
        assert record["ssh"]["reused_connection"] and (run_dir / "progress.log").read_text().strip()
        assert [c["check"] for c in record["checks"]][:2] == ["built", "listened"]
        if name == "does-not-compile":
            assert "error" in (run_dir / "server-build.log").read_text()
            continue
        # what each client put on the wire, next to the logs, and the checks in the transcript
        assert record["via"] == "tunnel" and record["wire"]["connections"] == 2, record["wire"]
        assert "client -> server" in (run_dir / "wire.txt").read_text() or name == "sends-nothing"
        assert "## Checks of the programs' behaviour" in (run_dir / "transcript.md").read_text()
    # the same port written into two servers graded at once: one of them was moved, neither reached the other
    moved = [name for name in ("same-port-a", "same-port-b")
             if "is used by another run of this batch" in (batch / name / "progress.log").read_text()]
    assert len(moved) == 1, moved
    for group in ("a", "b"):
        server = (batch / f"same-port-{group}" / "server.log").read_text()
        assert f"group {group} read" in server and "address already in use" not in server.lower()
        assert f"group {'b' if group == 'a' else 'a'}" not in server
    # piped: one plain line per finished submission, then a table that fits 80 columns
    assert "[11/11]" in res.stderr and "\r" not in res.stderr
    table = res.stderr[res.stderr.index("\nsummary:\n") + 10:].splitlines()
    assert table[0].split() == ["submission", "result", "points", "seconds", "reason"]


EX6 = {"ex6-own-address": ("passed", ""),
       "ex6-peer-address": ("checks failed", "client run 1 never printed its socket's address 127.0.0.1:")}


def test_ex6_addresses_are_judged_against_the_real_sockets(cli, tmp_path, clean_lab):
    """Exercise 6 on someone's own code: the client must print its own end, as the tunnel saw it connect."""
    res = cli("batch", *(str(GRADING / name) for name in EX6), "--exercise", "ex6", "-j", "2",
              "--hosts", str(clean_lab.hosts_file), "--out", "runs", "--json", timeout=120)
    assert res.code == 6, res.stderr
    summary = res.json()
    results = {s["submission"]: s for s in summary["submissions"]}
    for name, (verdict, reason) in EX6.items():
        assert (results[name]["result"], results[name]["reason"][:len(reason)]) == (verdict, reason), results[name]
    for name in EX6:
        run_dir = Path(results[name]["run_dir"])
        record = json.loads((run_dir / "run.json").read_text())
        checks = {c["check"]: c for c in record["checks"]}
        wire = json.loads((run_dir / "wire.json").read_text())
        first = next(c["origin"] for c in wire["connections"] if c["run"] == 1)
        client = (run_dir / "client-1.log").read_text()
        if name == "ex6-own-address":  # what it printed is the socket the tunnel accepted
            assert checks["addresses"]["ok"] is True and f"my end is {first}" in client
            assert f"waiting on 0.0.0.0 port {record['server']['port']}" in (run_dir / "server.log").read_text()
        else:  # it printed the tunnel's end: the reason names its own, which it never printed
            assert checks["addresses"]["detail"].endswith(f"address {first}") and first not in client
            assert all(checks[n]["ok"] for n in ("built", "listened", "connected", "sent", "integers", "quit", "ended"))


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
    # judged by behaviour: "finished" instead of "done" passes; a server that ignores the quit code does not
    assert summary["counts"] == {"passed": 37, "checks failed": 1, "build failed": 1, "bad submission": 1}, \
        [(s["submission"], s["reason"]) for s in summary["submissions"] if s["result"] != "passed"]
    assert summary["logins"] == clean_lab.login_count() - before <= 4
    batch = Path(summary["batch_dir"])
    assert sorted(p.name for p in batch.iterdir() if p.is_dir()) == sorted(d.name for d in dirs)
    for s in summary["submissions"]:
        run_dir = Path(s["run_dir"])
        if s["submission"] == "no-client":
            assert (run_dir / "error.txt").is_file()
            continue
        assert (run_dir / "transcript.md").is_file() and (run_dir / "run.json").is_file()
        if s["result"] in ("passed", "checks failed"):
            server = (run_dir / "server.log").read_text()
            port = json.loads((run_dir / "run.json").read_text())["server"]["port"]
            assert f"listening on port {port}" in server
            # its own two client runs, nobody else's
            assert len(re.findall(r"^connection \d+ accepted$", server, re.M)) == 2, (s["submission"], server)
            assert (run_dir / "client-1.log").is_file() and (run_dir / "client-2.log").is_file()
    assert "[40/40]" in res.stderr


# on the direct path the preload library in each client run records its bytes (no tunnel in between)
DIRECT = {
    "text-pair": ("passed", ""),
    "never-sends-quit": EXPECTED["never-sends-quit"],
    "sends-nothing": EXPECTED["sends-nothing"],
}


def test_the_direct_path_is_judged_from_the_preload_librarys_record(cli, tmp_path, clean_lab):
    dirs = [GRADING / name for name in DIRECT]
    res = cli("batch", *map(str, dirs), "--exercise", "ex5", "-j", "3", "--via", "direct",
              "--hosts", str(clean_lab.hosts_file), "--out", "runs", "--json", timeout=120)
    assert res.code == 6, res.stderr
    results = {s["submission"]: s for s in res.json()["submissions"]}
    for name, (verdict, reason) in DIRECT.items():
        assert (results[name]["result"], results[name]["reason"][:len(reason)]) == (verdict, reason), results[name]
        run_dir = Path(results[name]["run_dir"])
        record = json.loads((run_dir / "run.json").read_text())
        assert record["via"] == "direct" and record["wire"]["path"].startswith("by the preload library on ")
        assert record["wire"]["connections"] == 2, record["wire"]
        assert not [c for c in record["checks"] if c["detail"].startswith("not judged")], record["checks"]
        assert "== connection 2: client run 2, tcp from 127.0.0.1:" in (run_dir / "wire.txt").read_text()


def test_local_mode_is_judged_from_the_preload_librarys_record(cli, tmp_path):
    res = cli("run", "ex5", "--local", "--payload", str(GRADING / "drops-value"), "--out", "runs", "--json")
    assert res.code == 6, res.stderr
    record = res.json()
    assert record["via"] == "local" and record["wire"]["path"].startswith("by the preload library on ")
    checks = {c["check"]: c for c in record["checks"]}
    assert checks["connected"]["detail"] == "2 client runs connected and exited 0 (2 connections recorded)"
    assert checks["integers"]["detail"].startswith("integer 98 sent by client run 1 never appears"), checks


STATIC_VIA_SCRIPT = """\
description: ex5's programs, each client run a script that execs the client linked statically
server:
  build: gcc -std=c99 -D_DEFAULT_SOURCE -o server server.c
  run: ./server {port}
client:
  build: gcc -static -std=c99 -D_DEFAULT_SOURCE -o client client.c
  runs:
    - sh run.sh {ip} {port}
    - sh run.sh {ip} {port} quit
checks:
  built: true
  listened: true
  connected: true
  sent: true
  integers: true
  quit: true
  ended: true
"""


def test_a_script_that_execs_a_statically_linked_client_is_not_judged_on_the_wire(cli, tmp_path, clean_lab):
    """The preload library ends at the script's exec: the run says so instead of "made no connection"."""
    folder = tmp_path / "static-via-script"
    folder.mkdir()
    for src in ("server.c", "client.c"):
        (folder / src).write_text((PAYLOADS / "ex5" / src).read_text())
    (folder / "run.sh").write_text('exec ./client "$@"\n')
    (folder / "payload.yaml").write_text(STATIC_VIA_SCRIPT)
    res = cli("run", str(folder), "--via", "direct", "--hosts", str(clean_lab.hosts_file), "--out", "runs", "--json")
    assert res.code == 0, res.stderr
    record = res.json()
    checks = {c["check"]: (c["ok"], c["detail"]) for c in record["checks"]}
    note = "client run 1 started client, which is statically linked, so the preload library could not record it"
    assert checks["connected"] == (True, f"2 client runs connected and exited 0 (0 connections recorded; {note})")
    for name in ("sent", "integers", "quit"):
        assert checks[name] == (None, f"not judged: {note}"), checks
    assert checks["ended"][0] is True, checks
    assert record["wire"]["unrecorded"] == [{"run": 1, "program": "./client"}, {"run": 2, "program": "./client"}]
