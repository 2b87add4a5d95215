"""Carry a client's hard-coded server address and port to where the run's path leads (LD_PRELOAD redirect)."""

from __future__ import annotations

import ipaddress
import os
import shlex
from pathlib import Path
from typing import Any, Dict, List, Optional

from sockdeploy.errors import SockdeployError
from sockdeploy.run.context import RunContext
from sockdeploy.run.redirect import Redirect, Rule, build_library, is_dynamic, read_log

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


def prepare(ctx: RunContext, values: Dict[str, Any], client_cwd: str, commands: List[str]) -> Optional[Dict[str, str]]:
    """Build the library when a redirect is needed and return the client's extra environment (None: none needed)."""
    redirect = wanted(ctx, values)
    if redirect is None:
        return None
    if ctx.pi is not None:
        ctx.progress.info("warning: the client's written-in address is not carried on a client host over SSH yet; "
                          "edit it to the one the run prints")
        return None
    for command in commands:
        program = Path(client_cwd) / shlex.split(command)[0] if command.strip() else None
        if program is not None and program.is_file() and not is_dynamic(program):
            ctx.progress.info(f"warning: {program.name} is statically linked, so its written-in address cannot be "
                              "carried; link it dynamically (no -static) or edit the address in its source")
            return None
    rule = redirect.connect[0]
    with ctx.progress.step("prepare the address redirect for the client"):
        try:
            library = build_library(ctx.local_host, cache_dir())
        except SockdeployError as exc:
            ctx.progress.info(f"warning: {exc.message}; {exc.hint}")
            return None
    ctx.progress.info(f"the client's connections to {rule.from_addr or 'any address'}:{rule.from_port or '(its port)'} "
                      f"go to {rule.to_addr}:{rule.to_port} ({ctx.record.via or 'local'})")
    return redirect.environment(library, str(ctx.folder.path / LOG_NAME))


def note(ctx: RunContext) -> None:
    """Record the redirects the library made (read from its log) in run.json and the transcript."""
    path = ctx.folder.path / LOG_NAME
    if not path.is_file():
        return
    sentences: List[str] = []
    for entry in read_log(path.read_text(errors="replace")):
        sentence = f"{entry.sentence()}; carried by the {ctx.record.via or 'local'} path"
        if sentence not in sentences:
            sentences.append(sentence)
    kept = [r for r in ctx.record.redirects or [] if "server's bind" in r]
    ctx.record.redirects = (kept + sentences) or None
