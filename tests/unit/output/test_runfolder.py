"""The run folder: logs written as they come, run.json from the record, transcript.md rendered from it."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sockdeploy.output.runfolder import ProgramLog, RunFolder, make_unique_dir, render_markdown
from sockdeploy.run.record import ErrorRecord, ExpectationRecord, RunRecord, ServerRecord


def _record(**kw) -> RunRecord:
    base = dict(target="ex5", started="2026-11-21T10:00:00Z", ok=True, via="tunnel", via_reason="port blocked",
                client_host="laptop", connect_host="127.0.0.1",
                server=ServerRecord(host="shell", ip="10.0.0.1", port=30001, command="./server 30001"))
    base.update(kw)
    return RunRecord(**base)


def _table(md: str) -> dict:
    rows = [line.strip("|").split("|") for line in md.splitlines() if line.startswith("| ") and line.count("|") == 3]
    return {k.strip(): v.strip() for k, v in rows}


def test_the_facts_table_of_a_good_run():
    md = render_markdown(_record(), [], "An echo server.")
    assert md.startswith("# ex5: sockdeploy transcript\n\nAn echo server.\n")
    facts = _table(md)
    assert facts["result"] == "ok"
    assert facts["server host"] == "shell (10.0.0.1)" and facts["port"] == "30001"
    assert facts["client host"] == "laptop" and facts["network path"] == "tunnel: port blocked"
    assert facts["client connected to"] == "127.0.0.1"
    assert "how to fix" not in facts and "## Checks" not in md
    assert "No program ran." in md


def test_a_failed_run_says_why_and_how_to_fix():
    rec = _record(ok=False, error=ErrorRecord(kind="program", message="client run 1 failed", hint="read a|b", exit_code=5),
                  server=ServerRecord(host="shell"))
    facts = _table(render_markdown(rec, []))
    assert facts["result"] == "FAILED: client run 1 failed"
    assert facts["how to fix"] == "read a/b"  # a pipe would break the table
    assert facts["server host"] == "shell" and facts["port"] == "n/a"


def test_checks_and_their_note():
    rec = _record(expectations=[ExpectationRecord("server log shows /a|b/", True, "found"),
                                ExpectationRecord("run 1 shows /x/", False, "not in client-1.log")],
                  expectations_note="ex5's checks were skipped")
    md = render_markdown(rec, [])
    assert "| server log shows /a/b/ | ok | found |" in md
    assert "| run 1 shows /x/ | FAILED | not in client-1.log |" in md
    assert "Note: ex5's checks were skipped." in md


def test_each_terminal_then_the_timeline_with_fences_longer_than_any_backticks():
    server = ProgramLog("server.log", "Server terminal (shell)", "me@shell", "./server 1", output="```\nhi\n",
                        ending="stopped by sockdeploy after the run")
    client = ProgramLog("client-1.log", "Client terminal (laptop), run 1", "me@laptop", "./client", output="ok",
                        typed="hello\n")
    md = render_markdown(_record(), [server, client], timeline="   0.000s  server | hi\n")
    assert md.index("## Server terminal (shell)") < md.index("## Client terminal (laptop), run 1") \
        < md.index("## Merged timeline")
    assert "````text\n[me@shell]$ ./server 1\n```\nhi\n[stopped by sockdeploy after the run]\n````" in md
    assert "[me@laptop]$ ./client\n[typed] hello\nok\n[exit" not in md and "[typed] hello\nok\n```" in md
    assert "No program ran." not in md


def test_the_folder_writes_logs_in_order_and_the_record_as_json(tmp_path):
    folder = RunFolder(make_unique_dir(tmp_path, "run"), datetime(2026, 11, 21, tzinfo=timezone.utc))
    client = ProgramLog("client-1.log", "Client 1", "p", "c", output="x")
    server = ProgramLog("server.log", "Server", "p", "s", output="y")
    folder.write_log(client)
    folder.write_log(server)
    assert [log.filename for log in folder.logs] == ["server.log", "client-1.log"]  # the server leads
    assert (folder.path / "client-1.log").read_text() == "[p]$ c\nx\n"
    rec = _record()
    folder.write_json(rec)
    assert json.loads((folder.path / "run.json").read_text()) == rec.to_json()
    folder.write_transcript(rec, "desc")
    assert (folder.path / "transcript.md").read_text() == render_markdown(rec, folder.logs, "desc", "")


def test_a_second_folder_in_the_same_second_gets_a_suffix(tmp_path):
    assert make_unique_dir(tmp_path, "a").name == "a"
    assert make_unique_dir(tmp_path, "a").name == "a-2"
