"""Carry a client's hard-coded server address and port to where the run's path leads (LD_PRELOAD redirect)."""

from __future__ import annotations

import ipaddress
import os
import shlex
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Optional, Tuple

from sockdeploy.errors import SockdeployError
from sockdeploy.run.context import RunContext
from sockdeploy.run.redirect import (
    CACHE_NAME,
    HEAD_BYTES,
    Redirect,
    Rule,
    build_library,
    program_head,
    read_log,
    takes_preload,
)

LOG_NAME = "redirects.log"


def cache_dir() -> str:
    """Where this machine keeps the built library (private, per user)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "sockdeploy" / "redirect")


def _ipv4(text: Optional[str]) -> Optional[str]:
    try:
        return str(ipaddress.IPv4Address(text)) if text else None
    except ValueError:
        return None


def wanted(ctx: RunContext, values: Dict[str, Any]) -> Optional[Redirect]:
    """The redirect the client needs, or None when what it has written in already reaches the server."""
    payload = ctx.payload
    to_addr, to_port = values.get("ip"), values.get("port")
    if (payload.client_address is None and payload.client_port is None) or not to_addr or not to_port:
        return None
    from_addr, from_port = _ipv4(payload.client_address), payload.client_port
    if from_addr in (None, to_addr) and from_port in (None, to_port):
        return None
    return Redirect(connect=(Rule(from_addr, from_port, str(to_addr), int(to_port)),))


def _program_head(ctx: RunContext, client_cwd: str, program: str) -> Optional[bytes]:
    """The first bytes of PROGRAM (a command's first word), on the client host (None: not a file there)."""
    if ctx.pi is None:
        here = Path(client_cwd) / program
        return program_head(here) if here.is_file() else None
    path = shlex.quote(str(PurePosixPath(client_cwd) / program))
    result = ctx.pi.run(f"[ -f {path} ] && od -An -v -tx1 -N {HEAD_BYTES} -- {path}", timeout=20)
    if not result.ok:
        return None
    try:
        return bytes.fromhex(result.stdout.replace("\n", " "))
    except ValueError:
        return None


def _cache_and_log(ctx: RunContext, client_cwd: str) -> Tuple[str, str]:
    """Where the client host keeps the built library, and where the client's redirect log goes."""
    if ctx.pi is None:
        return cache_dir(), str(ctx.folder.path / LOG_NAME)
    folder = PurePosixPath(client_cwd)
    return str(folder.parent / CACHE_NAME), str(folder / LOG_NAME)


def prepare(ctx: RunContext, values: Dict[str, Any], client_cwd: str, commands: List[str],
            record: bool = False) -> Optional[Dict[str, str]]:
    """Build the library when a redirect is needed, or RECORD (the wire record, see wirestep), and return the
    client's extra environment (None: no library; with RECORD, ctx.wire_missing then says why)."""
    redirect = wanted(ctx, values)
    if redirect is None and not record:
        return None
    for program in dict.fromkeys(shlex.split(command)[0] for command in commands if command.strip()):
        head = _program_head(ctx, client_cwd, program)
        if head is not None and not takes_preload(head):
            if redirect is not None:
                ctx.progress.info(f"warning: {program} is statically linked, so its written-in address cannot be "
                                  "carried; link it dynamically (no -static) or edit the address in its source")
            if record:
                ctx.wire_missing = f"the client {program} is statically linked, so the preload library cannot record it"
            return None
    host = ctx.pi or ctx.local_host
    cache, log = _cache_and_log(ctx, client_cwd)
    what = "the address redirect" if redirect is not None else "the wire record"
    with ctx.progress.step(f"prepare {what} for the client on {ctx.client_host_name}") as shown:
        try:
            library = build_library(host, cache)
        except SockdeployError as exc:
            shown.set("not built", False)
            if redirect is not None:
                ctx.progress.info(f"warning: {exc.message}; {exc.hint}")
            if record:
                why = exc.message.split(": ", 1)[-1]
                ctx.wire_missing = f"the preload library could not be built on {ctx.client_host_name} ({why})"
            return None
    if redirect is None:
        return {"LD_PRELOAD": library}
    rule = redirect.connect[0]
    ctx.progress.info(f"the client's connections to {rule.from_addr or 'any address'}:{rule.from_port or '(its port)'} "
                      f"go to {rule.to_addr}:{rule.to_port} ({ctx.record.via or 'local'})")
    return redirect.environment(library, log)


def _log_text(ctx: RunContext, log: Optional[str]) -> str:
    if not log:
        return ""
    try:
        return ctx.client_file_text(log, timeout=20)
    except SockdeployError:
        return ""  # the client host is gone; the run reports that


def note(ctx: RunContext, env: Optional[Dict[str, str]]) -> None:
    """Record the redirects the library made (read from its log) in run.json and the transcript."""
    text = _log_text(ctx, (env or {}).get("SOCKDEPLOY_LOG"))
    sentences: List[str] = []
    for entry in read_log(text):
        sentence = f"{entry.sentence()}; carried by the {ctx.record.via or 'local'} path"
        if sentence not in sentences:
            sentences.append(sentence)
    if ctx.pi is not None and text:
        (ctx.folder.path / LOG_NAME).write_text(text)
    kept = [r for r in ctx.record.redirects or [] if "server's bind" in r]
    ctx.record.redirects = (kept + sentences) or None
