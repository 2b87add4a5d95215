"""One run of a payload: connect, upload, build, start the server, run the clients, collect, clean up.

run_steps() reads top to bottom; each step lives in a module named for what it handles
(connections, buildstep, serverstep, pathstep, tunnelstep, clientstep, verdicts, archive).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, Optional

from sockdeploy.errors import Interrupted, SockdeployError, UsageError, internal_error
from sockdeploy.output.progress import Progress
from sockdeploy.output.runfolder import RunFolder, utc_iso
from sockdeploy.run import (
    archive,
    buildstep,
    checkstep,
    clientstep,
    connections,
    pathstep,
    serverstep,
    tunnelstep,
    verdicts,
)
from sockdeploy.run.clockprobe import ClockProbe
from sockdeploy.run.context import RunContext, RunOptions
from sockdeploy.run.faults import fault_point
from sockdeploy.run.record import RunRecord, ServerRecord
from sockdeploy.run.sources import SOURCES_DIR, is_snapshot, snapshot_sources
from sockdeploy.run.tripwire import PAUSES
from sockdeploy.run.watchdog import LocalWatchdog
from sockdeploy.run.workspace import Workspace, create_workspace
from sockdeploy.spec.hosts import Config
from sockdeploy.spec.payload import Payload

__all__ = ["RunOptions", "RunResult", "run_payload", "run_steps"]

# AF_UNIX socket paths longer than this do not fit sockaddr_un.
SOCKET_PATH_MAX = 100


@dataclass
class RunResult:
    """How one run ended: its folder, its record (run.json) and its error, if any."""

    ok: bool
    folder: RunFolder
    record: RunRecord
    error: Optional[SockdeployError] = None


def run_payload(payload: Payload, cfg: Optional[Config], opts: RunOptions, progress: Optional[Progress] = None) -> RunResult:
    """Run one payload end to end; never raises a SockdeployError (it lands in the result)."""
    PAUSES.start()  # a Ctrl-Z past a watchdog's window is then named as such
    ctx = new_context(payload, cfg, opts, progress or Progress(quiet=True))
    error: Optional[SockdeployError] = None
    try:
        with ctx.stack:
            try:
                run_steps(ctx)
            finally:
                ctx.steps_ended = time.monotonic()  # what trips the run after this came during cleanup
        error = verdicts.run_verdict(ctx)
    except KeyboardInterrupt:
        error = Interrupted("interrupted (Ctrl-C)", f"partial transcripts are in {ctx.folder.path}; run again when ready")
    except SockdeployError as exc:
        error = exc
    except Exception as exc:  # a fault of sockdeploy's own: the run is not ok, and the traceback is kept
        error = internal_error(exc, ctx.folder.path / INTERNAL_ERROR_FILE)
    finally:
        error = verdicts.final_error(ctx, error)
        error = checkstep.judge(ctx, error)  # and the wire record is kept
        ctx.record.finished = utc_iso()
        ctx.record.ok = error is None
        ctx.record.error = verdicts.error_record(error) if error is not None else None
        archive.save(ctx)
        if ctx.clock is not None:
            ctx.clock.close()
    return RunResult(ok=error is None, folder=ctx.folder, record=ctx.record, error=error)


INTERNAL_ERROR_FILE = "internal-error.txt"


def new_context(payload: Payload, cfg: Optional[Config], opts: RunOptions, progress: Progress) -> RunContext:
    """Create the run folder and the run's state, with the sources snapshot the run will upload."""
    folder = RunFolder.at(opts.folder) if opts.folder is not None else RunFolder.create(opts.out, payload.name)
    # Upload from a copy kept in the run folder, so the sources recorded are exactly those that ran.
    payload = snapshot_sources(payload, folder.path / SOURCES_DIR, progress)
    local = payload.local or opts.local
    record = RunRecord(
        target=payload.name, payload_dir=str(payload.source_dir), description=payload.description,
        started=utc_iso(folder.started), started_exact=folder.started.isoformat(),
        via="local" if local else None, via_reason="both programs run on the client host" if local else "",
        run_dir=str(folder.path), server=ServerRecord(), sources=payload.checksums(),
        sources_dir=SOURCES_DIR if is_snapshot(payload, folder.path / SOURCES_DIR) else None)
    ctx = RunContext(payload=payload, cfg=cfg, opts=opts, progress=progress, folder=folder, record=record)
    if cfg is not None and cfg.path is not None:
        record.hosts_file = str(cfg.path)
    if payload.plan_notes:  # programs found in a folder: say what was chosen before anything runs
        record.plan = list(payload.plan_notes)
        for note in payload.plan_notes:
            progress.info(f"plan: {note}")
    record.client_host = ctx.local_host.name
    return ctx


def run_steps(ctx: RunContext) -> None:
    """The run, top to bottom; every resource is entered on ctx.stack, which releases it on every path."""
    stack, payload, cfg, progress = ctx.stack, ctx.payload, ctx.cfg, ctx.progress
    session = None
    if not ctx.local_mode:
        if cfg is None:
            raise UsageError("this payload needs a server host, but no hosts.yaml was loaded", "pass --hosts PATH or use --local")
        ctx.via = ctx.opts.via or cfg.network.via
        ctx.record.via = ctx.via
        # 1. connections: the server host, then the client host (the VPN and path checks are made from it)
        session = stack.enter_context(connections.server_connection(ctx))
    client_ws = stack.enter_context(connections.client_host_workspace(ctx)) if cfg and cfg.client.remote else None
    if ctx.via == "vpn":
        with progress.step("check the VPN"):
            pathstep.require_vpn(ctx, ctx.record.server.ip or "")
    # 2. workspaces and builds
    if session is None:  # both programs on the client host (this machine, or one reached over SSH)
        if client_ws is None:
            with progress.step("prepare a private build directory"):
                client_ws = create_workspace(ctx.local_host, buildstep.local_temp(), payload.files, payload.dirs,
                                             prefix="sockdeploy-")
            # should sockdeploy die (kill -9), the server and the folder here go with it
            ctx.local_watchdog = LocalWatchdog(client_ws.path, ctx.token)
        ws = stack.enter_context(serverstep.server_workspace(ctx, client_ws))
        ctx.record.server.host, ctx.record.server.ip = ws.host.name, "127.0.0.1"
        with progress.step("build the server and the client"):
            buildstep.build(ctx, ws, payload.server.build, "server")
            buildstep.build(ctx, ws, payload.client.build, "client")
        values = _local_values(ws)
    else:
        with connections.ForwardingCheck(session, wanted=ctx.via == "tunnel") as forwarding:
            fault_point("upload", session, ctx.hold, ctx.tripwire)
            ws = stack.enter_context(serverstep.remote_workspace(ctx, session))
        forwarding.confirm(progress)
        # 3. the watchdog: a dropped connection gets the server stopped and its folder removed there
        ctx.watchdog = connections.start_watchdog(session, ws, ctx)
        ctx.clock = ClockProbe(session).start()  # for the timeline, measured while the build runs
        serverstep.survey_ports(ctx, ws)
        if client_ws is None:  # here, while the watchdog starts on the server host
            with progress.step("build the client here"):
                client_ws = stack.enter_context(buildstep.local_workspace(ctx))
                buildstep.build(ctx, client_ws, payload.client.build, "client")
        ctx.watchdog.ensure()
        fault_point("build", session, ctx.hold, ctx.tripwire)
        ctx.checkpoint()
        with progress.step(f"build the server on {session.name}"):
            buildstep.build(ctx, ws, payload.server.build, "server")
        if ctx.pi is not None:
            with progress.step(f"build the client on {client_ws.host.name}"):
                buildstep.build(ctx, client_ws, payload.client.build, "client")
        values = {"ip": ctx.record.server.ip, "host": session.hostname, "port": None, "socket": None}

    # 4. path choice, once a port is chosen; 5. the server (port retry; its log is collected on exit)
    def choose_path(port: int) -> None:
        if session is not None:
            pathstep.choose_path(ctx, port, values)

    ctx.checkpoint()
    serverstep.launch(ctx, ws, values, before_start=choose_path)
    # 6. the tunnel or UDP relay, once the server listens
    ctx.checkpoint()
    if ctx.record.via == "tunnel" and values["port"] is not None:
        tunnelstep.open_tunnel(ctx, values["port"], values)
    if ctx.client_watchdog is not None:
        ctx.client_watchdog.ensure()  # no client runs on the client host unwatched
    fault_point("server-start", ctx.session, ctx.hold, ctx.tripwire)
    # 7. the client runs: through a tunnel they may use another local port than the server's
    ctx.server_values = dict(values)
    ctx.client_values = dict(values, port=values.get("client_port") or values["port"])
    uses_host = any("{host}" in r.command for r in payload.runs)
    ctx.record.connect_host = ctx.client_values["host"] if uses_host else ctx.client_values["ip"]
    clientstep.run_clients(ctx, ctx.client_values, client_ws.path)
    # 8. verdicts come after cleanup; a server that should end by itself is awaited by it
    ctx.server.must_exit = payload.expect.server_exits or payload.server_exits


def _local_values(ws: Workspace) -> Dict[str, Any]:
    sock = f"{ws.path}/sock"
    if len(sock.encode()) > SOCKET_PATH_MAX:
        raise UsageError(f"the socket path {sock} is too long for AF_UNIX", "set TMPDIR to a shorter directory")
    return {"ip": "127.0.0.1", "host": "localhost", "socket": sock, "port": None}
