"""answers.md / answers.html, the submission zip and multi-target batches, from synthetic run folders."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import types
import zipfile
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from sockdeploy.errors import Interrupted, ProgramError, SourceChanged, UsageError
from sockdeploy.output import answers, bundle
from sockdeploy.output.progress import Progress
from sockdeploy.run import targets as batch
from sockdeploy.run.runner import RunOptions, _snapshot_sources
from tests.conftest import code_blocks

SERVER_C = b"int main(void) { return 0; }\n"
CLIENT_C = b"/* client */\nint main(void) { return 1; }\n"


def make_run(base: Path, name: str, target: str, started: str, server_out: str = "listening\n",
             clients: Optional[List[str]] = None, timeline: Optional[str] = None, description: str = "",
             sources: Optional[Dict[str, bytes]] = None, snapshot: bool = True) -> Path:
    """Write a run folder the way the orchestrator does: logs starting with `[user@host]$ command`, run.json."""
    clients = ["sent: 1\n"] if clients is None else clients
    sources = {"server.c": SERVER_C, "client.c": CLIENT_C} if sources is None else sources
    d = base / name
    d.mkdir(parents=True)
    (d / "server.log").write_text(f"[jdoe@shell]$ ./server 31522\n{server_out}[exit status 0]\n")
    for i, out in enumerate(clients, 1):
        (d / f"client-{i}.log").write_text(f"[pi@raspberry]$ ./client 10.0.0.1 31522\n{out}[exit status 0]\n")
    if timeline is not None:
        (d / "timeline.txt").write_text(timeline)
    (d / "transcript.md").write_text(f"# {target}: sockdeploy transcript\n")
    payload_dir = base / f"payload-{name}"
    payload_dir.mkdir()
    for fname, data in sources.items():
        (payload_dir / fname).write_bytes(data)
        if snapshot:
            (d / "sources").mkdir(exist_ok=True)
            (d / "sources" / fname).write_bytes(data)
    record = {
        "ok": True, "target": target, "description": description, "payload_dir": str(payload_dir),
        "started": started, "finished": started, "via": "direct", "via_reason": "the probe got through",
        "run_dir": str(d), "connect_host": "10.0.0.1", "client_host": "raspberry",
        "server": {"host": "shell", "ip": "10.0.0.1", "port": 31522, "exit_code": 0, "command": "./server 31522"},
        "clients": [{"run": i, "command": "./client 10.0.0.1 31522", "stdin": None, "exit_code": 0}
                    for i in range(1, len(clients) + 1)],
        "sources": {k: hashlib.sha256(v).hexdigest() for k, v in sources.items()},
        "sources_dir": "sources" if snapshot else None, "error": None,
    }
    (d / "run.json").write_text(json.dumps(record, indent=2))
    return d


def sections(md: str) -> List[str]:
    """The numbered headings outside code blocks."""
    for block in code_blocks(md):
        md = md.replace(block, "", 1)
    return re.findall(r"^## (\d+\. .*)$", md, re.M)


# -- answers.md ----------------------------------------------------------------

def test_numbered_answers_with_the_group_first(tmp_path):
    a = make_run(tmp_path, "r1", "ex5", "2026-11-21T10:00:00Z", description="AF_INET by IP")
    b = make_run(tmp_path, "r2", "ex6", "2026-11-21T10:05:00Z")
    cfg = types.SimpleNamespace(group=("Grace Hopper", "ada lovelace"))
    names = answers.group_members(["Ada Lovelace", "Alan  Turing"], cfg)
    assert names == ["Ada Lovelace", "Alan Turing", "Grace Hopper"]  # --member first, repeats dropped
    md = answers.render_markdown(answers.collect([a, b]), names)
    assert sections(md) == ["1. Group members", "2. Exercise ex5: AF\\_INET by IP", "3. Exercise ex6"]
    first = md.split("## 2.")[0]
    assert [line[2:] for line in first.splitlines() if line.startswith("- ")] == names
    assert "- **Server** on shell (10.0.0.1): `./server 31522`" in md
    assert "- **Client run 1** on raspberry: `./client 10.0.0.1 31522`" in md


def test_no_members_still_gives_answer_1_with_what_to_do(tmp_path):
    md = answers.render_markdown(answers.collect([make_run(tmp_path, "r", "ex1", "2026-01-01T00:00:00Z")]), [])
    assert sections(md)[0] == "1. Group members"
    assert "--member NAME" in md.split("## 2.")[0]


def test_runs_are_ordered_by_start_time_not_by_argument_or_name(tmp_path):
    late = make_run(tmp_path, "a-first-by-name", "ex6", "2026-11-21T12:00:00Z")
    early = make_run(tmp_path, "z-last-by-name", "ex5", "2026-11-21T09:00:00Z")
    middle = make_run(tmp_path, "m", "ex3", "2026-11-21T10:30:00Z")
    runs = answers.collect([late, early, middle, late])  # named twice: counted once
    assert [r.target for r in runs] == ["ex5", "ex3", "ex6"]
    assert [s.split(": ")[0] for s in sections(answers.render_markdown(runs, ["A"]))[1:]] == \
        ["2. Exercise ex5", "3. Exercise ex3", "4. Exercise ex6"]


def test_runs_started_within_one_second_keep_their_order(tmp_path):
    second = make_run(tmp_path, "20261121T100000Z-a", "ex2", "2026-11-21T10:00:00Z")
    first = make_run(tmp_path, "20261121T100000Z-b", "ex1", "2026-11-21T10:00:00Z")
    for d, exact in ((second, "2026-11-21T10:00:00.900000+00:00"), (first, "2026-11-21T10:00:00.100000+00:00")):
        record = json.loads((d / "run.json").read_text())
        record["started_exact"] = exact
        (d / "run.json").write_text(json.dumps(record))
    assert [r.target for r in answers.collect([second, first])] == ["ex1", "ex2"]


def test_outputs_are_code_blocks_server_first_then_clients_in_numeric_order(tmp_path):
    outs = [f"client {i} says hi\n" for i in range(1, 12)]
    d = make_run(tmp_path, "r", "ex4", "2026-11-21T10:00:00Z", server_out="srv line\n", clients=outs,
                 timeline="   0.000s  server | srv line\n")
    md = answers.render_markdown(answers.collect([d]), ["A"])
    blocks = code_blocks(md)
    assert blocks[0] == (d / "server.log").read_text().rstrip("\n")
    assert blocks[1:12] == [(d / f"client-{i}.log").read_text().rstrip("\n") for i in range(1, 12)]
    assert blocks[12] == "   0.000s  server | srv line"  # the merged timeline comes last
    assert md.index("### Server terminal (shell)") < md.index("### Client terminal (raspberry), run 1") \
        < md.index("### Client terminal (raspberry), run 2") < md.index("### Client terminal (raspberry), run 10") < md.index("### Merged timeline")


def test_no_timeline_section_without_timeline_txt(tmp_path):
    md = answers.render_markdown(answers.collect([make_run(tmp_path, "r", "ex1", "2026-01-01T00:00:00Z")]), ["A"])
    assert "Merged timeline" not in md


def test_fences_survive_backticks_in_the_output(tmp_path):
    nasty = "```\n## 9. Not a heading\n````text\n``` \nend\n"
    d = make_run(tmp_path, "r", "ex5", "2026-11-21T10:00:00Z", server_out=nasty, clients=["`x`\n```\n"])
    md = answers.render_markdown(answers.collect([d]), ["A"])
    blocks = code_blocks(md)
    assert blocks[0] == (d / "server.log").read_text().rstrip("\n")
    assert blocks[1] == (d / "client-1.log").read_text().rstrip("\n")
    assert sections(md) == ["1. Group members", "2. Exercise ex5"]  # nothing leaked out of a block
    page = answers.render_html(md)
    assert page.count("<pre") == 2 and "<h2>9." not in page
    assert "```\n## 9. Not a heading\n````text\n``` \nend" in page


def test_html_escapes_everything_and_is_self_contained(tmp_path):
    evil = "<script>alert('x')</script>"
    d = make_run(tmp_path, "r", "ex5", "2026-11-21T10:00:00Z", server_out=f"{evil}\n& done\n",
                 description=f"desc {evil}", clients=["bell\x07 cr\r ff\f tab\tend\n"])
    md = answers.render_markdown(answers.collect([d]), [f"Mallory {evil}", "Bob **bold?** `tick`"])
    page = answers.render_html(md)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&amp; done" in page
    assert "<strong>bold?</strong>" not in page and "**bold?**" in page  # names are data, not markup
    assert "\x07" not in page and "\u2407" in page  # control characters shown, not sent raw
    assert "cr\u240d ff\u240c tab\tend" in page  # \r and \f did not split the line
    assert not re.search(r"""(src|href)=|@import|url\(|<link|<img|<iframe""", page, re.I)
    assert "@media print" in page and "pre-wrap" in page and "break-inside: avoid" in page
    assert '<h2 id="answer-1">1. Group members</h2>' in page


def test_html_renders_the_markdown_subset(tmp_path):
    page = answers.render_html("# T\n\n## 2. Ex\n\n- **Run:** x, `a<b`\n- two\n\npara one\nline two\n\n```text\n<b>\n```\n")
    assert "<h1>T</h1>" in page and '<h2 id="answer-2">2. Ex</h2>' in page
    assert "<ul>\n<li><strong>Run:</strong> x, <code>a&lt;b</code></li>\n<li>two</li>\n</ul>" in page
    assert "<p>para one line two</p>" in page
    assert '<pre class="short"><code>&lt;b&gt;</code></pre>' in page


def test_long_blocks_may_break_across_pages_short_ones_not(tmp_path):
    page = answers.render_html("```text\n" + "x\n" * 200 + "```\n\n```text\nshort\n```\n")
    assert page.count("<pre><code>") == 1 and page.count('<pre class="short">') == 1


def test_write_answers_puts_the_html_beside_the_markdown(tmp_path):
    d = make_run(tmp_path, "r", "ex1", "2026-01-01T00:00:00Z")
    md, page = answers.write_answers(answers.collect([d]), ["A"], tmp_path / "out" / "answers.md")
    assert md.read_text().startswith("# ") and page == tmp_path / "out" / "answers.html"
    assert page.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("setup, needle", [
    (lambda p: p, "no such folder"),
    (lambda p: (p.write_text("x"), p)[1], "it is a file"),
    (lambda p: (p.mkdir(), p)[1], "no run.json"),
    (lambda p: (p.mkdir(), (p / "run.json").write_text("{nope"), p)[2], "not valid JSON"),
    (lambda p: (p.mkdir(), (p / "run.json").write_text("[]"), p)[2], "not a sockdeploy run record"),
])
def test_bad_input_is_a_usage_error_naming_the_path(tmp_path, setup, needle):
    path = setup(tmp_path / "thing")
    with pytest.raises(UsageError) as info:
        answers.load_run(path)
    assert info.value.exit_code == 2 and needle in info.value.message and str(path) in info.value.message
    assert "\n" not in info.value.headline() and info.value.hint


def test_a_folder_of_run_folders_is_refused_with_a_hint(tmp_path):
    make_run(tmp_path / "runs", "20261121T100000Z-ex5", "ex5", "2026-11-21T10:00:00Z")
    with pytest.raises(UsageError) as info:
        answers.load_run(tmp_path / "runs")
    assert "20261121T100000Z-ex5" in info.value.hint


# -- the submission zip ------------------------------------------------------------

def test_bundle_holds_answers_runs_and_verified_sources(tmp_path):
    a = make_run(tmp_path, "20261121T100000Z-ex5", "ex5", "2026-11-21T10:00:00Z", timeline="t\n")
    b = make_run(tmp_path, "20261121T100500Z-ex6", "ex6", "2026-11-21T10:05:00Z", snapshot=False)
    res = bundle.write_bundle(answers.collect([b, a]), ["Ada"], tmp_path / "submission.zip")
    with zipfile.ZipFile(res.path) as zf:
        names = zf.namelist()
        assert names == sorted(names) and all(n.startswith("submission/") for n in names)
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zf.infolist())
        files = {n[len("submission/"):]: zf.read(n) for n in names}
    for run in (a, b):
        record = json.loads((run / "run.json").read_text())
        for fname, digest in record["sources"].items():
            assert hashlib.sha256(files[f"runs/{run.name}/sources/{fname}"]).hexdigest() == digest
        for log in ("server.log", "client-1.log", "run.json", "transcript.md"):
            assert files[f"runs/{run.name}/{log}"] == (run / log).read_bytes()
    assert b"## 1. Group members\n\n- Ada" in files["answers.md"] and b"<!DOCTYPE html>" in files["answers.html"]
    manifest = files["MANIFEST.sha256"].decode().splitlines()
    listed = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in manifest}
    assert set(listed) == set(files) - {"MANIFEST.sha256"}
    assert all(hashlib.sha256(files[n]).hexdigest() == h for n, h in listed.items())
    if shutil.which("sha256sum"):
        out = tmp_path / "unpacked"
        zipfile.ZipFile(res.path).extractall(out)
        check = subprocess.run(["sha256sum", "-c", "--strict", "MANIFEST.sha256"], cwd=out / "submission",
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_bundle_is_reproducible(tmp_path):
    a = make_run(tmp_path, "r1", "ex5", "2026-11-21T10:00:00Z")
    runs = answers.collect([a])
    one = bundle.write_bundle(runs, ["A"], tmp_path / "x" / "s.zip").path.read_bytes()
    two = bundle.write_bundle(runs, ["A"], tmp_path / "y" / "s.zip").path.read_bytes()
    assert one == two


@pytest.mark.parametrize("snapshot", [True, False])
def test_a_changed_source_is_refused(tmp_path, snapshot):
    d = make_run(tmp_path, "r1", "ex5", "2026-11-21T10:00:00Z", snapshot=snapshot)
    src = (d / "sources" if snapshot else Path(json.loads((d / "run.json").read_text())["payload_dir"])) / "server.c"
    src.write_bytes(SERVER_C + b"/* edited later */\n")
    with pytest.raises(SourceChanged) as info:
        bundle.write_bundle(answers.collect([d]), ["A"], tmp_path / "s.zip")
    assert info.value.exit_code == 2 and str(src) in info.value.message and "changed after the run" in info.value.message
    assert "ex5 again" in info.value.hint
    assert not (tmp_path / "s.zip").exists()


def test_a_missing_or_extra_source_is_refused(tmp_path):
    d = make_run(tmp_path, "r1", "ex5", "2026-11-21T10:00:00Z")
    (d / "sources" / "notes.c").write_text("added later")
    with pytest.raises(SourceChanged, match="not among the sources that ran"):
        bundle.verified_sources(answers.load_run(d))
    (d / "sources" / "notes.c").unlink()
    (d / "sources" / "client.c").unlink()
    with pytest.raises(SourceChanged, match="missing from"):
        bundle.verified_sources(answers.load_run(d))


def test_source_names_from_run_json_cannot_escape_the_zip_folder(tmp_path):
    d = make_run(tmp_path, "r1", "ex5", "2026-11-21T10:00:00Z")
    record = json.loads((d / "run.json").read_text())
    record["sources"] = {"../../etc/passwd": "0" * 64}
    (d / "run.json").write_text(json.dumps(record))
    with pytest.raises(UsageError, match="bad source name"):
        bundle.verified_sources(answers.load_run(d))


def test_manifest_lines_use_sha256sum_escapes():
    assert bundle.manifest_line("ab", "a b.c") == "ab  a b.c\n"
    assert bundle.manifest_line("ab", "a\\b\nc") == "\\ab  a\\\\b\\nc\n"


# -- the sources snapshot taken at run time ---------------------------------------------

def test_snapshot_copies_the_sources_and_the_run_reads_the_copies(tmp_path):
    from sockdeploy.spec import payload as payload_mod

    p = payload_mod.resolve("ex5")
    snap = _snapshot_sources(p, tmp_path / "sources", Progress(quiet=True))
    assert sorted(f.name for f in snap.files) == sorted(f.name for f in p.files)
    assert all(f.parent == tmp_path / "sources" for f in snap.files)
    assert snap.checksums() == p.checksums() and snap.source_dir == p.source_dir


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
