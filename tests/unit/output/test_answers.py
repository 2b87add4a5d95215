"""answers.md / answers.html from synthetic run folders."""

from __future__ import annotations

import hashlib
import json
import re
import types
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from sockdeploy.errors import UsageError
from sockdeploy.output import answers
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
        < md.index("### Client terminal (raspberry), run 2") < md.index("### Client terminal (raspberry), run 10") \
        < md.index("### Merged timeline")


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
