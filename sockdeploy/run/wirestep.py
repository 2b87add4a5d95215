"""The wire record on the direct and VPN paths and in local mode: recorded by the preload library in each client run.

No tunnel sees the clients' bytes there, so the library (remote/scripts/redirect.c,
loaded by redirectstep) records them into a file of each client run's own in the
client's workspace on the client host (removed with it). After the runs the files
are read back into ctx.wire, which the checks and wire.txt read as they read the
tunnel's; each connection belongs exactly to the run whose file holds it.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, Dict, Mapping, Optional

from sockdeploy.errors import ScriptTimeout, SockdeployError
from sockdeploy.net.wire import PRELOAD
from sockdeploy.net.wirefile import wire_log
from sockdeploy.run.context import RunContext

RECORD = ".wire-run-{run}.rec"  # in the client's workspace
PATHS = ("direct", "vpn", "local")  # where nothing else records the clients' bytes
READ_TIMEOUT = 60


def wanted(ctx: RunContext, values: Mapping[str, Any]) -> bool:
    """Whether the client runs need the library to record their bytes (no tunnel or relay carries them)."""
    if ctx.wire is not None or (ctx.record.via or ctx.via) not in PATHS:
        return False
    if values.get("port") is None and any("{socket}" in run.command for run in ctx.payload.runs):
        ctx.wire_missing = "the programs talk over an AF_UNIX socket, which is not recorded"
        return False
    return True


def record_path(client_cwd: str, run: int) -> str:
    """Where client run RUN's record goes on the client host."""
    return str(PurePosixPath(client_cwd) / RECORD.format(run=run))


def environment(env: Dict[str, str], client_cwd: str, run: int) -> Dict[str, str]:
    """ENV (which loads the library) for client run RUN, recording into a file of its own."""
    return dict(env, SOCKDEPLOY_WIRE=record_path(client_cwd, run))


def collect(ctx: RunContext, client_cwd: str, values: Mapping[str, Any]) -> None:
    """Read the client runs' records back into ctx.wire; when they cannot be, ctx.wire_missing says why."""
    if ctx.tripwire.error is not None:
        ctx.wire_missing = f"the run stopped before it could be read from {ctx.client_host_name}"
        return
    texts: Dict[int, str] = {}
    try:
        for entry in ctx.record.clients:
            texts[entry.run] = ctx.client_file_text(record_path(client_cwd, entry.run), READ_TIMEOUT)
    except (SockdeployError, ScriptTimeout, OSError) as exc:
        why = exc.message if isinstance(exc, SockdeployError) else str(exc) or type(exc).__name__
        ctx.wire_missing = f"it could not be read from {ctx.client_host_name} ({why})"
        return
    port: Optional[int] = values.get("port")
    ctx.wire = wire_log(PRELOAD.format(host=ctx.client_host_name), texts, port=port)
