"""The run folder: per-program logs, transcript.md and run.json, written as the run goes."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

from sockdeploy.net.wire import unrecorded_note
from sockdeploy.output.logcap import contract, excerpt
from sockdeploy.run.record import RunRecord


@dataclass
class ProgramLog:
    """One terminal's worth of output: what ran, where, what it printed, how it ended."""

    filename: str
    title: str
    prompt: str  # e.g. "jdoe@shell.cec.wustl.edu"
    command: str
    output: str = ""
    ending: str = ""
    typed: str = ""  # what was fed to its stdin, shown as a person would have typed it
    times: List[float] = field(default_factory=list)  # when each output line began, on its host's clock
    remote: bool = False  # produced on the server host (its clock)
    elided: int = 0  # bytes of output the capped log left out between its head and its tail (logcap)

    def text(self) -> str:
        body = self.output if not self.output or self.output.endswith("\n") else self.output + "\n"
        end = f"[{self.ending}]\n" if self.ending else ""
        typed = "".join(f"[typed] {line}\n" for line in self.typed.splitlines())
        return f"[{self.prompt}]$ {self.command}\n{typed}{body}{end}"


def make_unique_dir(out: Path, name: str) -> Path:
    """Create `out/name`, or `name-2`, `name-3`... when taken (two runs in one second), and return it."""
    out = out.expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        path = out / (name if n == 1 else f"{name}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise OSError(f"cannot create a folder named {name} in {out}")


class RunFolder:
    """`<out>/<UTC timestamp>-<target>/`, created at the start so nothing produced is lost."""

    def __init__(self, path: Path, started: datetime) -> None:
        self.path = path
        self.started = started
        self.logs: List[ProgramLog] = []
        self.timeline: str = ""  # timeline.txt, once written

    @classmethod
    def create(cls, out: Path, target: str) -> RunFolder:
        started = datetime.now(timezone.utc)
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(target).name or "run")[:60]
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        return cls(make_unique_dir(out, f"{stamp}-{safe}"), started)

    @classmethod
    def at(cls, path: Path) -> RunFolder:
        """Use exactly `path` (made if missing), e.g. a batch's `<batch>/<submission>/`."""
        path = path.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return cls(path, datetime.now(timezone.utc))

    def write_log(self, log: ProgramLog) -> None:
        if log not in self.logs:
            self.logs.append(log)
            # The server started first, so its terminal leads the transcript.
            self.logs.sort(key=_log_order)
        _atomic_write(self.path / log.filename, log.text())

    def write_json(self, record: Union[RunRecord, Mapping[str, Any]]) -> None:
        """Write run.json (a mapping is written as it is: a record made elsewhere, e.g. a test's)."""
        data = record.to_json() if isinstance(record, RunRecord) else dict(record)
        _atomic_write(self.path / "run.json", json.dumps(data, indent=2) + "\n")

    def write_timeline(self, text: str) -> None:
        self.timeline = text
        _atomic_write(self.path / "timeline.txt", text)

    def write_transcript(self, record: RunRecord, description: str = "") -> None:
        builds = {name: (self.path / name).read_text(errors="replace") for name in BUILD_LOGS
                  if (self.path / name).is_file()}
        _atomic_write(self.path / "transcript.md",
                      render_markdown(record, self.logs, description, self.timeline, builds))


def _log_order(log: ProgramLog) -> tuple:
    number = re.search(r"(\d+)", log.filename)
    return (log.filename != "server.log", int(number.group(1)) if number else 0)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _fence(text: str) -> str:
    # A fence longer than any backtick run inside keeps pasted output intact.
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


BUILD_LOGS = ("server-build.log", "client-build.log")


def render_markdown(record: RunRecord, logs: List[ProgramLog], description: str = "", timeline: str = "",
                    builds: Optional[Dict[str, str]] = None) -> str:
    """Render transcript.md: the facts of the run, its checks, each terminal, the builds' output, the timeline."""
    target = record.target or "?"
    srv = record.server
    lines = [f"# {target}: sockdeploy transcript", ""]
    if description:
        lines += [description, ""]
    status = "ok" if record.ok else "FAILED"
    err = record.error
    rows = [
        ("result", status + (f": {err.message}" if err else "")),
        ("started", record.started),
        ("server host", f"{srv.host} ({srv.ip})" if srv.ip else (srv.host or "n/a (not reached)")),
        ("port", str(srv.port) if srv.port else "n/a"),
        ("client host", str(record.client_host or "")),
        ("network path", f"{record.via}: {record.via_reason}".rstrip(": ")),
        ("client connected to", str(record.connect_host or "n/a")),
    ]
    if err and err.hint:
        rows.append(("how to fix", err.hint))
    lines += ["| | |", "|---|---|"] + [f"| {k} | {v.replace('|', '/')} |" for k, v in rows] + [""]
    checks = record.expectations or []
    if checks:
        lines += ["## Checks", "", "| check | result | detail |", "|---|---|---|"]
        lines += [f"| {c.check.replace('|', '/')} | {'ok' if c.ok else 'FAILED'} | {c.detail.replace('|', '/')} |"
                  for c in checks]
        lines.append("")
    if record.expectations_note:
        lines += [f"Note: {record.expectations_note}.", ""]
    lines += _checks_section(record)
    if record.plan:
        lines += ["## What sockdeploy chose", ""] + [f"- {note}" for note in record.plan] + [""]
    if record.redirects:
        lines += ["## Addresses carried for the programs", ""] + [f"- {r}" for r in record.redirects] + [""]
    if record.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in record.notes] + [""]
    if record.stray_processes:
        lines += ["## Processes sockdeploy stopped", ""] + [f"- {n}" for n in record.stray_processes] + [""]
    # Each block shows at most the head and the tail of its file (logcap.excerpt), so the
    # transcript stays small whatever the programs printed; the files keep what was kept.
    for log in logs:
        lines += [f"## {log.title}", ""]
        if log.elided:
            lines += [contract(log.filename, log.elided), ""]
        lines += _block(excerpt(log.text(), log.filename))
    if not logs:
        lines += ["No program ran.", ""]
    for name, text in (builds or {}).items():  # compiler warnings stay with the transcript
        if text.strip():
            lines += [f"## Build output ({name})", ""] + _block(excerpt(text, name))
    if timeline:
        lines += ["## Merged timeline", "", "Both terminals' lines in the order they were produced.", ""]
        lines += _block(excerpt(timeline, "timeline.txt"))
    return "\n".join(lines)


def _block(text: str) -> List[str]:
    fence = _fence(text)
    return [f"{fence}text", text.rstrip("\n"), fence, ""]


CHECK_STATES = {True: "ok", False: "FAILED", None: "not judged"}


def _checks_section(record: RunRecord) -> List[str]:
    """The checks: section's verdicts (someone's own programs), and where the wire record is."""
    if not record.checks:
        return []
    lines = ["## Checks of the programs' behaviour", "", "| check | result | reason |", "|---|---|---|"]
    for c in record.checks:
        state = CHECK_STATES[c.ok] if c.reached else "not reached"
        lines.append(f"| {c.check} | {state} | {c.detail.replace('|', '/')} |")
    wire = record.wire or {}
    if wire.get("file"):
        lines += ["", f"Every byte the client runs sent and received is in {wire['file']} (hex and text) and "
                      f"{wire.get('data', 'wire.json')}."]
        lines += [f"Missing from it: {unrecorded_note(u['run'], str(u['program']))}." for u in wire.get("unrecorded") or []
                  if isinstance(u, dict) and isinstance(u.get("run"), int)]
    elif wire.get("note"):
        lines += ["", f"Note: {wire['note']}."]
    return lines + [""]


def utc_iso(dt: Optional[datetime] = None) -> str:
    return (dt or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
