"""The studio's answers: numbered, group members first, both terminals' output per exercise.

Reads finished run folders (run.json plus the logs beside it) and renders
answers.md and a self-contained answers.html from the same text.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from sockdeploy.errors import UsageError
from sockdeploy.output.logcap import excerpt
from sockdeploy.run.record import RunRecord

DEFAULT_TITLE = "Sockets studio: answers"
NO_MEMBERS = ("(no group members given: pass --member NAME for each person, "
              "or list them under 'group:' in hosts.yaml)")


@dataclass
class Terminal:
    """One log of a run folder, as the student's terminal showed it."""

    title: str
    filename: str
    text: str


@dataclass
class RunInfo:
    """A finished run folder: its record and its terminals in the order they happened."""

    path: Path
    record: RunRecord
    terminals: List[Terminal] = field(default_factory=list)
    timeline: str = ""
    description: str = ""

    @property
    def target(self) -> str:
        return self.record.target or self.path.name

    @property
    def started(self) -> str:
        return self.record.started


# -- reading run folders ------------------------------------------------------

def load_run(path: Path) -> RunInfo:
    """Read one run folder; raise UsageError naming the path when it is not one."""
    path = Path(path)
    shown = str(path)
    if not path.exists():
        raise UsageError(f"{shown}: no such folder", "pass run folders such as runs/20261121T194257Z-ex5")
    if not path.is_dir():
        raise UsageError(f"{shown}: not a run folder (it is a file)", "pass the folder that holds run.json, not a file in it")
    record_path = path / "run.json"
    if not record_path.is_file():
        inside = sorted(p.name for p in path.iterdir() if p.is_dir() and (p / "run.json").is_file()) if _listable(path) else []
        hint = (f"it holds {len(inside)} run folder(s); pass those instead, e.g. {path / inside[0]}" if inside
                else "pass a folder made by 'sockdeploy run' (it holds run.json)")
        raise UsageError(f"{shown}: not a run folder (no run.json)", hint)
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{record_path}: cannot read: {exc.strerror or exc}", "check the file's permissions") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{record_path}: not valid JSON ({exc})", "the run folder is damaged; run the exercise again") from None
    if not isinstance(record, dict) or not record.get("started"):
        raise UsageError(f"{record_path}: not a sockdeploy run record (no 'started')",
                         "pass a folder made by 'sockdeploy run'")
    info = RunInfo(path=path, record=RunRecord.from_json(record))
    info.terminals = _terminals(path, info.record)
    info.timeline = _read_text(path / "timeline.txt")
    # Runs made before run.json carried a description fall back to the bundled exercise's.
    described = info.record.description
    info.description = described if described is not None else _bundled_description(info.target)
    return info


def collect(paths: Iterable[Path]) -> List[RunInfo]:
    """Load run folders and order them by when they started (a folder named twice counts once)."""
    runs: List[RunInfo] = []
    seen = set()
    for p in paths:
        info = load_run(Path(p))
        key = info.path.resolve()
        if key in seen:
            continue
        seen.add(key)
        runs.append(info)
    if not runs:
        raise UsageError("no run folders given", "pass one or more run folders, e.g. runs/*-ex5")
    runs.sort(key=lambda r: (_start_time(r.record), r.path.name))
    return runs


def _start_time(record: RunRecord) -> datetime:
    """When the run began: to the microsecond when run.json has it ('started' has whole seconds only)."""
    for stamp in (record.started_exact, record.started):
        try:
            value = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            continue
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.min.replace(tzinfo=timezone.utc)


def _listable(path: Path) -> bool:
    try:
        next(iter(path.iterdir()), None)
        return True
    except OSError:
        return False


def _read_text(path: Path) -> str:
    try:
        # newline="": a program's \r stays a \r instead of turning into a line of its own
        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            return fh.read()
    except OSError:
        return ""


def _log_number(name: str) -> int:
    m = re.search(r"(\d+)", name)
    return int(m.group(1)) if m else 0


def _terminals(path: Path, record: RunRecord) -> List[Terminal]:
    """Builds first (they ran first), then the server's terminal, then each client run in order."""
    server_host = record.server.host or "server host"
    client_host = record.client_host or "client host"
    out: List[Terminal] = []
    for name, title in (("server-build.log", f"Server build ({server_host})"),
                        ("client-build.log", f"Client build ({client_host})"),
                        ("server.log", f"Server terminal ({server_host})")):
        if (path / name).is_file():
            out.append(Terminal(title, name, _read_text(path / name)))
    clients = sorted((p for p in path.glob("client-*.log") if re.fullmatch(r"client-\d+\.log", p.name)),
                     key=lambda p: _log_number(p.name))
    for p in clients:
        n = _log_number(p.name)
        out.append(Terminal(f"Client terminal ({client_host}), run {n}", p.name, _read_text(p)))
    return out


def _bundled_description(target: str) -> str:
    """Older run.json files lack a description: take the bundled exercise's, if there is one."""
    from sockdeploy.spec import payload as payload_mod

    if "/" in target or not target:
        return ""
    manifest = payload_mod.bundled_dir() / target / payload_mod.MANIFEST
    if not manifest.is_file():
        return ""
    try:
        import yaml

        data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    except Exception:  # a description is a nicety; never fail a report over it
        return ""
    return str(data.get("description") or "") if isinstance(data, dict) else ""


# -- group members -------------------------------------------------------------

def group_members(members: Sequence[str], cfg: Any = None) -> List[str]:
    """Merge --member names with hosts.yaml's group list, keeping order and dropping repeats."""
    names: List[str] = []
    from_config = getattr(cfg, "group", None) if cfg is not None else None
    if isinstance(from_config, str):
        from_config = [from_config]
    for name in list(members) + list(from_config or []):
        name = " ".join(str(name).split())
        if name and name.casefold() not in {n.casefold() for n in names}:
            names.append(name)
    return names


# -- markdown ------------------------------------------------------------------

def fence_for(text: str) -> str:
    """Return a backtick fence longer than any backtick run in text, so the block cannot end early."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _code_block(text: str) -> List[str]:
    body = text.rstrip("\n")
    fence = fence_for(body)
    return [f"{fence}text", body, fence, ""]


def _inline_code(text: str) -> str:
    """Inline code span that survives backticks inside (CommonMark: longer delimiters, padded)."""
    text = " ".join(str(text).split("\n"))
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _plain(text: str) -> str:
    """One line of prose from data: no line breaks, markdown's own characters neutralised."""
    text = " ".join(str(text).split())
    return "".join("\\" + ch if ch in _ESCAPABLE else ch for ch in text)


def render_markdown(runs: Sequence[RunInfo], members: Sequence[str], title: str = DEFAULT_TITLE) -> str:
    """Render the answers: 1. the group; then one numbered answer per run, in the order the runs happened."""
    lines = [f"# {_plain(title)}", ""]
    lines += ["## 1. Group members", ""]
    lines += [f"- {_plain(m)}" for m in members] if members else [_plain(NO_MEMBERS)]
    lines.append("")
    for number, run in enumerate(runs, 2):
        lines += _run_section(number, run)
    return "\n".join(lines).rstrip("\n") + "\n"


def _run_section(number: int, run: RunInfo) -> List[str]:
    rec = run.record
    srv = rec.server
    heading = f"## {number}. Exercise {_plain(run.target)}"
    if run.description:
        heading += f": {_plain(run.description)}"
    lines = [heading, ""]
    result = "ok" if rec.ok else "FAILED"
    if rec.error is not None and rec.error.message:
        result += f" ({rec.error.message})"
    server_at = (srv.host or "?") + (f" ({srv.ip})" if srv.ip else "")
    facts = [
        f"- **Run:** {_plain(run.started)}, folder {_inline_code(run.path.name)}, result {_plain(result)}",
    ]
    if srv.command:
        facts.append(f"- **Server** on {_plain(server_at)}: {_inline_code(srv.command)}")
    client_host = rec.client_host or "?"
    for c in rec.clients:
        cmd = _inline_code(c.command)
        typed = f", typed {_inline_code(c.stdin.rstrip(chr(10)))}" if c.stdin else ""
        facts.append(f"- **Client run {c.run or '?'}** on {_plain(client_host)}: {cmd}{typed}")
    if rec.via:
        reason = f": {rec.via_reason}" if rec.via_reason else ""
        facts.append(f"- **Network path:** {_plain(rec.via + reason)}")
    lines += facts + [""]
    # at most the head and the tail of each file, so answers stay readable whatever a program printed
    for term in run.terminals:
        lines += [f"### {_plain(term.title)}", ""] + _code_block(excerpt(term.text, term.filename))
    if not run.terminals:
        lines += ["No program output was recorded.", ""]
    if run.timeline.strip():
        lines += ["### Merged timeline", "", "Every terminal's lines in the order they were produced.", ""]
        lines += _code_block(excerpt(run.timeline, "timeline.txt"))
    return lines


# -- HTML (only the markdown subset render_markdown emits) ----------------------

CSS = """
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111; background: #fff;
       max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 1rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; padding-top: .5rem; border-top: 1px solid #ccc; }
h3 { font-size: 1rem; margin: 1.2rem 0 .3rem; }
ul { padding-left: 1.4rem; }
code { font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; background: #f3f3f3;
       padding: 0 .2em; border-radius: 3px; overflow-wrap: anywhere; }
pre { background: #f6f8fa; border: 1px solid #ddd; border-radius: 4px; padding: .6rem .8rem;
      white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word; }
pre code { background: none; padding: 0; }
pre.short { break-inside: avoid; page-break-inside: avoid; }
h1, h2, h3 { break-after: avoid; page-break-after: avoid; }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  pre, code { font-size: 9pt; }
  pre { border-color: #999; background: none; }
  h2 { border-top: none; }
}
"""
SHORT_BLOCK_LINES = 40  # blocks up to this long are kept on one page when printed
_FENCE_OPEN = re.compile(r"^(`{3,})([^`]*)$")
# C0 controls (bar tab and newline) are invalid in HTML: show them as their visible symbols.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _esc(text: str) -> str:
    text = _CONTROLS.sub(lambda m: chr(0x2400 + ord(m.group())) if m.group() != "\x7f" else "\u2421", text)
    return html.escape(text, quote=True)


def _inline_html(text: str) -> str:
    """Code spans, **bold** and backslash escapes, scanned left to right; everything else is text."""
    out: List[str] = []
    prose: List[str] = []  # pending prose, with escaped characters marked so they never turn into markup
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPABLE:
            prose.append(_MARK + text[i + 1])
            i += 2
            continue
        if ch == "`":
            run = re.match(r"`+", text[i:]).group()  # type: ignore[union-attr]
            close = re.compile(r"(?<!`)" + run + r"(?!`)").search(text, i + len(run))
            if close:
                out.append(_bold_html("".join(prose)))
                prose.clear()
                code = text[i + len(run):close.start()]
                if code.startswith(" ") and code.endswith(" ") and code.strip():
                    code = code[1:-1]
                out.append(f"<code>{_esc(code)}</code>")
                i = close.end()
                continue
            prose.append(run)
            i += len(run)
            continue
        prose.append(ch)
        i += 1
    out.append(_bold_html("".join(prose)))
    return "".join(out)


_ESCAPABLE = "\\`*_[]<>#|&!"
_MARK, _STAR = "\ue000", "\ue001"  # private-use characters: never in markup, kept by escaping


def _bold_html(text: str) -> str:
    # An escaped star is hidden from the bold pattern, then restored as a plain star.
    escaped = _esc(text.replace(_MARK + "*", _STAR))
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return escaped.replace(_STAR, "*").replace(_MARK, "")


def render_html(markdown: str, title: str = DEFAULT_TITLE) -> str:
    """Turn answers.md into one self-contained HTML page: inline CSS, no external resources."""
    body: List[str] = []
    lines = markdown.split("\n")  # not splitlines(): output may hold \r, \f or \x1c, which are not line ends here
    i = 0
    paragraph: List[str] = []
    items: List[str] = []

    def flush() -> None:
        if paragraph:
            body.append(f"<p>{_inline_html(' '.join(paragraph))}</p>")
            paragraph.clear()
        if items:
            body.append("<ul>\n" + "\n".join(f"<li>{_inline_html(it)}</li>" for it in items) + "\n</ul>")
            items.clear()

    while i < len(lines):
        line = lines[i]
        opened = _FENCE_OPEN.match(line)
        if opened:
            flush()
            fence = opened.group(1)
            code: List[str] = []
            i += 1
            while i < len(lines) and not re.fullmatch(re.escape(fence) + r"`*\s*", lines[i]):
                code.append(lines[i])
                i += 1
            i += 1  # the closing fence (or the end of the text)
            cls = ' class="short"' if len(code) <= SHORT_BLOCK_LINES else ""
            body.append(f"<pre{cls}><code>{_esc(chr(10).join(code))}</code></pre>")
            continue
        heading = re.match(r"^(#{1,3}) (.*)$", line)
        if heading:
            flush()
            level = len(heading.group(1))
            text = heading.group(2)
            number = re.match(r"^(\d+)\. ", text)
            anchor = f' id="answer-{number.group(1)}"' if number and level == 2 else ""
            body.append(f"<h{level}{anchor}>{_inline_html(text)}</h{level}>")
        elif line.startswith("- "):
            if paragraph:
                flush()
            items.append(line[2:])
        elif not line.strip():
            flush()
        else:
            if items:
                flush()
            paragraph.append(line)
        i += 1
    flush()
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


# -- writing ---------------------------------------------------------------------

def html_path_for(md_path: Path) -> Path:
    """answers.md -> answers.html beside it."""
    return md_path.with_suffix(".html") if md_path.suffix.lower() == ".md" else md_path.with_name(md_path.name + ".html")


def write_answers(runs: Sequence[RunInfo], members: Sequence[str], md_path: Path,
                  title: str = DEFAULT_TITLE) -> Tuple[Path, Path]:
    """Write answers.md and answers.html; return both paths."""
    md = render_markdown(runs, members, title)
    page = render_html(md, title)
    html_path = html_path_for(md_path)
    try:
        md_path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(md_path, md)
        _atomic_write(html_path, page)
    except OSError as exc:
        raise UsageError(f"{md_path}: cannot write: {exc.strerror or exc}", "pass another path with -o") from None
    return md_path, html_path


def _atomic_write(path: Path, text: str) -> None:
    import os

    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def load_group_config(hosts_path: Optional[str]) -> Any:
    """Return the hosts.yaml config whose `group:` names the members: the one named, else the usual places, else None."""
    from sockdeploy.errors import ConfigError
    from sockdeploy.spec import hosts as config_mod

    if hosts_path:
        return config_mod.load_config(hosts_path)
    try:
        path = config_mod.find_hosts_file(None)
    except ConfigError:  # none anywhere: the names come from --member alone
        return None
    return config_mod.parse_config(path)
