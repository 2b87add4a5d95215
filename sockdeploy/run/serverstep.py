"""The server's life in a run: launch on a free port (retrying a taken one), then stop it and collect its log."""

from __future__ import annotations

import getpass
import re
import shlex
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import Any, Callable, Dict, Iterator, Optional, Set, Tuple

from sockdeploy.errors import (
    ConnectError,
    NetworkPathError,
    PortTaken,
    ProgramError,
    ScriptTimeout,
    ServerExited,
    ServerNotListening,
    SockdeployError,
)
from sockdeploy.output.logcap import elided_line
from sockdeploy.output.runfolder import ProgramLog
from sockdeploy.run import netpath as paths
from sockdeploy.run import pathstep, runtag
from sockdeploy.run.context import SERVER_EXIT_WAIT, RunContext
from sockdeploy.run.exitstatus import describe_status, program_failure
from sockdeploy.run.faults import fault_point
from sockdeploy.run.ports import choose_port
from sockdeploy.run.server import ServerProcess, finish, looks_like_port_in_use, start_server
from sockdeploy.run.watchdog import WATCHDOG_SILENCE
from sockdeploy.run.workspace import Workspace, create_workspace
from sockdeploy.spec.payload import render
from sockdeploy.ssh.session import SshSession

PORT_ATTEMPTS = 5
DEFAULT_PORTS = (30000, 40000)

# Called with the port just chosen, before the server takes it (e.g. the network path choice).
PortHook = Callable[[int], None]


def whoami() -> str:
    """This machine's user name, for the terminals' prompts."""
    try:
        return getpass.getuser()
    except Exception:
        return "me"


def check_pinned_port(ctx: RunContext, ws: Workspace) -> Optional[int]:
    """Return --port, refusing it when it is already in use on the server host."""
    port = ctx.opts.port
    if port is not None and port in ws.used_ports:
        raise NetworkPathError(f"port {port} is already in use on {ws.host.name}",
                               "pick another with --port, or leave --port out to let sockdeploy choose a free one")
    return port


def launch(ctx: RunContext, ws: Workspace, values: Dict[str, Any], before_start: PortHook) -> ServerProcess:
    """Start the server; a port taken meanwhile is retried with another (up to PORT_ATTEMPTS)."""
    port_range = ctx.cfg.network.ports if ctx.cfg else DEFAULT_PORTS
    tried: Set[int] = set()
    needs_port = ("{port}" in "".join(ctx.payload.server.commands + ctx.payload.client.commands)
                  or ctx.payload.fixed_port is not None)
    if ctx.opts.port is not None and not needs_port:
        ctx.note(f"warning: --port {ctx.opts.port} is not used: no command of the plan has {{port}} "
                 "and no port is written into the server")
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = _pick_port(ctx, ws, port_range, tried) if needs_port else None
        values["port"] = port
        if port is not None:
            tried.add(port)
            before_start(port)
        try:
            proc = _start_once(ctx, ws, values, port)
        except PortTaken as exc:
            runtag.note(ctx, ws.host.name, exc.strays)
            _stop_attempt(ctx, ws, exc.proc.pid)
            assert port is not None  # only a port given can be taken
            ws.used_ports.add(port)
            ws.held_ports.add(port)
            if _retry_taken(ctx, ws, port, attempt):
                continue
            raise _taken_error(ctx, ws, port, exc.log) from None
        except ServerExited as exc:
            moving = ctx.payload.fixed_port is not None and ctx.server.moved_from is None
            if port is not None and moving and looks_like_port_in_use(exc.log):
                ws.used_ports.add(port)  # taken between the survey and the start: move the bind and try again
                continue
            if (port is not None and ctx.opts.port is None and ctx.payload.fixed_port is None
                    and looks_like_port_in_use(exc.log) and attempt < PORT_ATTEMPTS):
                ctx.progress.info(f"port {port} was taken meanwhile; trying another")
                continue
            raise _exit_error(exc, port, ws, ctx.record.server.command or "", ctx.payload.fixed_port) from None
        adopt(ctx, ws, values, proc, port_range)
        return proc
    raise NetworkPathError("no port could be bound after several attempts", "widen network.ports or pass --port")


def _retry_taken(ctx: RunContext, ws: Workspace, port: int, attempt: int) -> bool:
    """Whether to start again after another process was found holding `port`: moved, or another port."""
    if ctx.payload.fixed_port is not None:
        return ctx.server.moved_from is None  # the written-in port: its bind() is moved next time
    if ctx.opts.port is None and attempt < PORT_ATTEMPTS:
        ctx.progress.info(f"port {port} is taken on {ws.host.name} (by another user?); trying another")
        return True
    return False


def _taken_error(ctx: RunContext, ws: Workspace, port: int, log: str) -> NetworkPathError:
    where = f"the login host {ws.host.name}" if ws.host is ctx.session else ws.host.name
    if port == ctx.payload.fixed_port and ctx.server.moved_from is None:
        return NetworkPathError(f"port {port}, written into your server, is taken on {where} (by another user?)",
                                "change the port in your server's source (and your client's) to a free one", output=log)
    hint = ("pick another with --port, or leave --port out to let sockdeploy choose a free one"
            if ctx.opts.port is not None else "run again, or widen network.ports in hosts.yaml")
    return NetworkPathError(f"port {port} is taken on {where} (by another user?)", hint, output=log)


def _stop_attempt(ctx: RunContext, ws: Workspace, pid: int) -> None:
    """Stop a server that could not have its port (it may still run), and what it started, before the next try."""
    try:
        collected = finish(ws, pid=pid, remove=False, token=ctx.token, role="server")
    except (SockdeployError, ScriptTimeout, OSError):
        return  # the end of the run stops every process of the run (by its tag) anyway
    runtag.note(ctx, ws.host.name, collected.strays)


def adopt(ctx: RunContext, ws: Workspace, values: Dict[str, Any], proc: ServerProcess,
          port_range: Tuple[int, int]) -> None:
    """Use the port the server really listens on when it is not the one it was given (or none was given)."""
    if not proc.listens:
        return
    real, given = proc.listens[0], proc.port
    why = "written in its source" if _in_sources(ctx, real) else ("not the port it was given" if given else "")
    shown = f" ({why})" if why else ""
    sentence = (f"the server listens on port {real}{shown}, not {given}; using {real}" if given is not None
                else f"the server listens on port {real}{shown}; using {real}")
    if len(proc.listens) > 1:
        sentence += f" (it listens on {', '.join(map(str, proc.listens[1:]))} too)"
    ctx.note(sentence)
    _warn_outside(ctx, real, port_range, "port")
    proc.port = values["port"] = ctx.record.server.port = real
    ctx.record.server.port_given = given
    if ctx.session is not None and ws.host is ctx.session:
        pathstep.adopt_port(ctx, real, probed=given is not None)


def _warn_outside(ctx: RunContext, port: int, port_range: Tuple[int, int], what: str) -> None:
    """Say that `port` lies outside the course ports (warn, not refuse: the tunnel reaches any port)."""
    low, high = port_range
    if not low <= port <= high:
        ctx.note(f"warning: {what} {port} is outside the course ports {low}-{high}; off campus only the tunnel reaches it")


def _in_sources(ctx: RunContext, port: int) -> bool:
    """Whether the number `port` is written in one of the sources (a hard-coded port)."""
    pattern = re.compile(rf"(?<![\w.]){port}(?![\w.])")
    for source in ctx.payload.files:
        try:
            if source.path.stat().st_size < 1_000_000 and pattern.search(source.path.read_text(errors="replace")):
                return True
        except OSError:
            continue
    return False


def _pick_port(ctx: RunContext, ws: Workspace, port_range: Tuple[int, int], tried: Set[int]) -> int:
    if ctx.payload.fixed_port is not None:
        return fixed_port(ctx, ws, port_range)
    pinned = ctx.opts.port
    if pinned is not None:
        check_pinned_port(ctx, ws)
        return pinned
    if ctx.opts.ports is not None:
        return ctx.opts.ports.choose(ws.used_ports, port_range, tried)
    return choose_port(ws.used_ports, port_range, tried, held=ws.held_ports)


def fixed_port(ctx: RunContext, ws: Workspace, port_range: Tuple[int, int]) -> int:
    """The port written into the server: used as it is, or moved when the server host has it in use."""
    port = ctx.payload.fixed_port
    assert port is not None
    if ctx.opts.port is not None and ctx.opts.port != port:
        ctx.note(f"warning: --port {ctx.opts.port} is not used: the server's source sets port {port}")
    low, high = port_range
    if not low <= port <= high:
        if ctx.via in ("direct", "vpn"):  # the campus firewall passes the course ports only
            return move_bind(ctx, ws, port, port_range, why=f"is outside the course ports {low}-{high}, the only ones "
                                                            "the campus firewall lets through")
        _warn_outside(ctx, port, port_range, "the server's port")
    # a parallel run of the same batch on this host holds it (two groups wrote in the same port)
    sibling = ctx.opts.ports is not None and not ctx.opts.ports.claim(port)
    if port in ws.used_ports or sibling or ctx.server.moved_from is not None:
        return move_bind(ctx, ws, port, port_range, sibling)
    return port


def move_bind(ctx: RunContext, ws: Workspace, port: int, port_range: Tuple[int, int], sibling: bool = False,
              why: str = "") -> int:
    """Give the server a free port instead of the one written into it (its bind() is moved by the redirect)."""
    low, high = port_range
    busy = ws.used_ports | {port}
    free = ctx.opts.ports.choose(busy, port_range, set()) if ctx.opts.ports else choose_port(busy, port_range, set())
    why = why or ("is used by another run of this batch" if sibling else
                  "is taken" if port in ws.held_ports else "is still held by an earlier connection")
    ctx.progress.info(f"port {port}, written into your server, {why} on {ws.host.name}; "
                      f"its bind() to {port} is moved to {free} for this run")
    if ctx.server.moved_from is None:
        ctx.server.moved_from = port
    ctx.server.library = _library_on(ws, f"change the port in your server's source to a free one in {low}-{high}")
    return free


def _library_on(ws: Workspace, fix: str) -> str:
    from sockdeploy.run.redirect import CACHE_NAME, build_library

    try:
        return build_library(ws.host, str(PurePosixPath(ws.path).parent / CACHE_NAME))
    except SockdeployError as exc:
        raise NetworkPathError(f"the server's port is in use on {ws.host.name} and it cannot be moved: {exc.message}",
                               fix) from None


def _start_once(ctx: RunContext, ws: Workspace, values: Dict[str, Any], port: Optional[int]) -> ServerProcess:
    command = render(ctx.payload.server.commands[0], values)
    ctx.record.server.port = port
    ctx.record.server.command = command
    log = ProgramLog("server.log", f"Server terminal ({ws.host.name})", f"{_server_user(ws)}@{ws.host.name}", command)
    ctx.server.log = log
    label = f"start the server on port {port}" if port else "start the server"
    started = _with_moved_bind(ctx, command, port)
    try:
        with ctx.progress.step(label):
            proc = start_server(ws, started, ready=ctx.payload.ready, port=port, socket_path=values.get("socket"),
                                token=ctx.token)
    except ServerExited as exc:
        runtag.note(ctx, ws.host.name, exc.strays)
        log.output = exc.log
        log.ending = describe_status(exc.status)
        ctx.record.server.exit_code = exc.status
        raise
    except ServerNotListening as exc:
        ctx.server.proc = exc.proc
        ctx.record.server.timed_out = True
        raise ProgramError(f"the server did not start listening within {exc.waited:g} s",
                           "check that it calls listen() early and prints nothing it waits on; its output is in server.log",
                           command=command) from None
    ctx.server.proc = proc
    return proc


def _with_moved_bind(ctx: RunContext, command: str, port: Optional[int]) -> str:
    """COMMAND, preceded by the environment that moves its bind() when the written-in port is in use."""
    moved, library = ctx.server.moved_from, ctx.server.library
    if moved is None or library is None or port is None:
        return command
    sentence = f"the server's bind to port {moved} went to port {port}; carried by the redirect on the server host"
    ctx.record.redirects = [r for r in ctx.record.redirects or [] if "server's bind" not in r] + [sentence]
    env = {"LD_PRELOAD": library, "SOCKDEPLOY_BIND": f"{moved}>{port}"}
    return "env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + command


def _exit_error(exc: ServerExited, port: Optional[int], ws: Workspace, command: str,
                written: Optional[int]) -> SockdeployError:
    if port is not None and looks_like_port_in_use(exc.log) and port == written:
        return NetworkPathError(f"port {port}, written into your server, is taken on {ws.host.name} (by another user?)",
                                "change the port in your server's source (and your client's) to a free one", output=exc.log)
    if port is not None and looks_like_port_in_use(exc.log):
        return NetworkPathError(f"the server could not bind port {port} on {ws.host.name}: address already in use",
                                "pick another with --port, or leave --port out", output=exc.log)
    return program_failure("server", command, exc.status, exc.log,
                                   "it ended before listening; read its output above (wrong arguments?)")


def _server_user(ws: Workspace) -> str:
    login = getattr(ws.host, "login", None)
    return login.split("@", 1)[0] if login else whoami()


@contextmanager
def server_workspace(ctx: RunContext, ws: Workspace) -> Iterator[Workspace]:
    """Own the server's workspace: on every exit path stop the server, keep its log, remove the folder."""
    try:
        yield ws
    finally:
        with ctx.hold.shielded():
            finish_server(ctx, ws)


def finish_server(ctx: RunContext, ws: Workspace) -> None:
    """Stop (or await) the server, collect its log into the run folder, remove the workspace."""
    remote = ws.host is not ctx.client_host
    remove = not (remote and ctx.opts.keep_remote)
    watchdog = ctx.watchdog if ws.host is ctx.session else ctx.local_watchdog if ws.host is ctx.local_host else None
    if watchdog is not None:
        # Settled first: started while the folder is being removed, it would write its pidfile into it.
        watchdog.settle()
    proc = ctx.server.proc
    pid = proc.pid if proc is not None and proc.ws is ws else None
    fault_point("log-fetch", ctx.session, ctx.hold)
    awaiting = pid is not None and ctx.server.must_exit
    label = ("wait for the server to end and collect its log" if awaiting
             else "stop the server and collect its log" if pid else "clean up")
    try:
        with ctx.progress.step(label):
            collected = finish(ws, pid=pid, remove=remove, await_exit=SERVER_EXIT_WAIT if awaiting else 0,
                               token=ctx.token)
    except (SockdeployError, ScriptTimeout, OSError) as exc:
        _lost_log(ctx, ws, exc)
        return
    finally:
        if watchdog is not None:  # after the stop, so the log says who ended the server
            watchdog.close()
            if watchdog is ctx.watchdog:
                ctx.watchdog = None
            else:
                ctx.local_watchdog = None
    runtag.note(ctx, ws.host.name, collected.strays)
    if awaiting and collected.awaited is not None:
        ctx.server.exited_in_time = collected.awaited
        if collected.awaited and proc is not None:
            proc.exit_code = collected.exit_code
            ctx.record.server.exit_code = collected.exit_code
    log = ctx.server.log
    if log is not None and collected.log is not None:
        log.output = collected.log
        log.times = collected.times
        log.elided = collected.elided
        ctx.record.server.log_elided_bytes = collected.elided or None
        if collected.elided:
            ctx.progress.info(elided_line(log.filename, collected.elided))
        log.remote = remote
        if collected.stopped:
            log.ending = "stopped by sockdeploy after the run"
            ctx.record.server.stopped_by_sockdeploy = True
        elif collected.exit_code is not None:
            log.ending = describe_status(collected.exit_code)
            ctx.record.server.exit_code = collected.exit_code
        ctx.folder.write_log(log)
    if remote and not remove:
        ctx.progress.info(f"kept the remote run directory {ws.path} on {ws.host.name} (--keep-remote); later runs "
                          f"never remove it: when done, remove it there with  rm -rf -- {shlex.quote(ws.path)}")


def _lost_log(ctx: RunContext, ws: Workspace, exc: BaseException) -> None:
    why = getattr(exc, "message", exc)
    ctx.progress.info(f"warning: cleanup on {ws.host.name} failed ({why}); "
                      f"the server host's watchdog stops the server within {WATCHDOG_SILENCE} s, "
                      "and the next run removes its folder")
    if ctx.server.log is not None and ctx.server.log.output == "":
        ctx.server.log.ending = "log not fetched: the SSH connection was lost"
    if ctx.cleanup_error is None:
        ctx.cleanup_error = ConnectError(f"the server log could not be fetched from {ws.host.name}: {why}",
                                         "check your network; the run folder has everything that arrived")


@contextmanager
def remote_workspace(ctx: RunContext, session: SshSession) -> Iterator[Workspace]:
    """Upload the sources into a private folder on the server host, owned as the server's workspace."""
    assert ctx.cfg is not None
    with ctx.progress.step("upload the server sources"):
        ws = create_workspace(session, ctx.cfg.server.workdir, ctx.payload.files, ctx.payload.dirs)
    warn_shared(ctx, ws)
    with server_workspace(ctx, ws):
        yield ws


def warn_shared(ctx: RunContext, ws: Workspace) -> None:
    """Pass on what the workspace's creation warned about (a work folder other users can write)."""
    for warning in ws.warnings:
        ctx.progress.info(f"warning: on {ws.host.name}, {warning}")


def survey_ports(ctx: RunContext, ws: Workspace) -> None:
    """Note what the fresh workspace found: leftovers removed, ports busy there (and here, for a tunnel)."""
    ctx.record.server.remote_dir = ws.path
    if ws.cleaned:
        ctx.progress.info(f"removed {len(ws.cleaned)} run folder(s) that crashed earlier runs left on {ws.host.name}")
        ctx.record.cleaned_stale_runs = list(ws.cleaned)
    check_pinned_port(ctx, ws)
    if ctx.via in ("tunnel", "auto"):
        # Prefer a port free here too, so the tunnel can keep the server's number.
        ws.used_ports |= paths.local_busy_ports()
