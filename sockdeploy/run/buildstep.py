"""The builds of a run, each logged to the run folder, and the private build directory on this machine."""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from typing import Iterator, Optional

from sockdeploy.errors import SockdeployError
from sockdeploy.run.build import build as build_in
from sockdeploy.run.context import RunContext
from sockdeploy.run.server import finish
from sockdeploy.run.workspace import Workspace, create_workspace

# Nothing to compile for Python, but the interpreter must be there.
PYTHON_PRESENT = "command -v python3 >/dev/null || { echo \"python3 is not installed on $(hostname)\"; exit 127; }"


def build(ctx: RunContext, ws: Workspace, command: Optional[str], what: str) -> None:
    """Build `what` ("server" or "client") in `ws`; its output goes to <what>-build.log."""
    if command is None and ctx.payload.language == "python":
        command = PYTHON_PRESENT
    logname = f"{what}-build.log"
    try:
        result = build_in(ws, command, what)
    except SockdeployError as exc:
        write_build_log(ctx, logname, f"$ {command}\n{exc.output or ''}\n")
        raise
    if result is not None and result.output:
        write_build_log(ctx, logname, f"$ {command}\n{result.output}\n")


def write_build_log(ctx: RunContext, name: str, text: str) -> None:
    (ctx.folder.path / name).write_text(text, encoding="utf-8")


@contextmanager
def local_workspace(ctx: RunContext) -> Iterator[Workspace]:
    """A private build directory on this machine, removed afterwards."""
    ws = create_workspace(ctx.local_host, local_temp(), ctx.payload.files, ctx.payload.dirs, prefix="sockdeploy-")
    try:
        yield ws
    finally:
        with ctx.hold.shielded():
            try:
                finish(ws, pid=None, remove=True)
            except Exception:  # a temporary folder left behind is harmless
                pass


def local_temp() -> str:
    """Where private build directories go on this machine."""
    return tempfile.gettempdir()
