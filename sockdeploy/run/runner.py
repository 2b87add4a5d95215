"""One run of a payload: connect, upload, build, start the server, run the clients, collect, clean up."""

from __future__ import annotations

import getpass
import signal
import socket
import tempfile
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from sockdeploy.errors import (
    ConnectError,
    ExpectationsFailed,
    Interrupted,
    NetworkPathError,
    ProgramError,
    ScriptTimeout,
    ServerExited,
    ServerNotListening,
    SockdeployError,
    UsageError,
)
from sockdeploy.net import vpn
from sockdeploy.net.forward import LocalForward, RemoteForward
from sockdeploy.output import clock, timeline
from sockdeploy.output.progress import Progress
from sockdeploy.output.runfolder import ProgramLog, RunFolder, utc_iso
from sockdeploy.remote.host import LocalHost
from sockdeploy.run import netpath as paths
from sockdeploy.run import server
from sockdeploy.run.build import build
from sockdeploy.run.clients import run_client
from sockdeploy.run.exitstatus import describe_status, program_failure
from sockdeploy.run.ports import PortLease, choose_port
from sockdeploy.run.remoteclient import run_remote_client
from sockdeploy.run.watchdog import WATCHDOG_READY, WATCHDOG_SILENCE, watchdog_script
from sockdeploy.run.workspace import Workspace, create_workspace
from sockdeploy.spec.hosts import Config
from sockdeploy.spec.payload import Payload, render
from sockdeploy.ssh.session import SshSession

PORT_ATTEMPTS = 5
SERVER_EXIT_WAIT = 10.0


@dataclass
class RunOptions:
    out: Path = Path("runs")
    via: Optional[str] = None
    port: Optional[int] = None
    local: bool = False
    accept_new: bool = False
    keep_remote: bool = False
    confirm: Optional[Callable[[str], bool]] = None
    prompt: Optional[Callable[[str, bool], str]] = None
    # A connection shared by several runs (one login for `run ex5 ex6`): opened by the
    # first run that needs it, reopened if it died, and closed by its owner, not by a run.
    session: Optional[SshSession] = None
    # A batch's exact run folder (`sockdeploy batch`: <out>/<batch>/<submission>/) instead of <out>/<UTC>-<target>/.
    folder: Optional[Path] = None
    # Ports shared with parallel runs on the same server host, so no two pick the same port.
    ports: Optional[PortLease] = None


@dataclass
class RunResult:
    ok: bool
    folder: RunFolder
    record: Dict[str, Any]
    error: Optional[SockdeployError] = None


FAULT_POINT_ENV = "SOCKDEPLOY_FAULT_POINT"
# Signals that arrived while cleanup was shielded; reported once the run has ended.
held_signals: List[int] = []


def fault_point(name: str, session: Optional[SshSession] = None) -> None:
    """Pause at a named phase when the fault-injection suite asks for it (SOCKDEPLOY_FAULT_POINT).

    The pause ends early when a held signal arrives (so a Ctrl-C during a
    shielded step is seen when the step is done) or when the session dies.
    """
    import os
    import sys
    import time

    if os.environ.get(FAULT_POINT_ENV) != name:
        return
    print(f"sockdeploy: fault point {name}", file=sys.stderr, flush=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not held_signals and (session is None or session.alive):
        time.sleep(0.05)


@contextmanager
def shielded() -> Iterator[None]:
    """Hold off Ctrl-C and SIGTERM while cleanup runs, so no remote state is left half-done."""
    previous = {}

    def hold(signum: int, _frame: object) -> None:
        held_signals.append(signum)

    # Only the main thread receives signals (and may set handlers): elsewhere, e.g. the
    # worker threads of `sockdeploy batch`, there is nothing to shield.
    for sig in (signal.SIGINT, signal.SIGTERM) if _on_main_thread() else ():
        try:
            previous[sig] = signal.signal(sig, hold)
        except ValueError:  # not the main thread: nothing to shield
            pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _on_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "me"


class Run:
    """The steps of one run, with every acquired resource released on every path."""

    def __init__(self, payload: Payload, cfg: Optional[Config], opts: RunOptions, progress: Progress) -> None:
        self.payload = payload
        self.cfg = cfg
        self.opts = opts
        self.progress = progress
        self.local_mode = payload.local or opts.local
        self.client_host = LocalHost("client host")
        self.folder = RunFolder.at(opts.folder) if opts.folder is not None else RunFolder.create(opts.out, payload.name)
        # Upload from a copy kept in the run folder, so the sources recorded are exactly those that ran.
        self.payload = payload = _snapshot_sources(payload, self.folder.path / SOURCES_DIR, progress)
        self.server_log: Optional[ProgramLog] = None
        self.record: Dict[str, Any] = {
            "ok": False,
            "target": payload.name,
            "payload_dir": str(payload.source_dir),
            "description": payload.description,
            "started": utc_iso(self.folder.started),
            "started_exact": self.folder.started.isoformat(),  # orders runs begun within one second
            "finished": None,
            "via": "local" if self.local_mode else None,
            "via_reason": "both programs run on the client host" if self.local_mode else "",
            "run_dir": str(self.folder.path),
            "connect_host": None,
            "client_host": self.client_host.name,
            "server": {"host": None, "ip": None, "port": None, "exit_code": None, "command": None,
                       "stopped_by_sockdeploy": False, "remote_dir": None},
            "clients": [],
            "sources": payload.checksums(),
            "sources_dir": SOURCES_DIR if payload.files and payload.files[0].parent == self.folder.path / SOURCES_DIR else None,
            "ssh": None,
            "error": None,
        }

    # -- entry point ----------------------------------------------------------
    def execute(self) -> RunResult:
        error: Optional[SockdeployError] = None
        try:
            with ExitStack() as stack:
                if self.local_mode:
                    self._local(stack)
                else:
                    self._split(stack)
            error = self._server_verdict() or self._tunnel_verdict() or self._check_expectations()
        except KeyboardInterrupt:
            error = Interrupted("interrupted (Ctrl-C)", f"partial transcripts are in {self.folder.path}; run again when ready")
        except SockdeployError as exc:
            error = exc
        finally:
            if error is None and self.cleanup_error is not None:
                error = self.cleanup_error
            # A Ctrl-C during cleanup outranks a verdict on logs it may have cut short.
            if held_signals and _on_main_thread() and (error is None or isinstance(error, ExpectationsFailed)):
                error = _held_signal_error(held_signals[0], self.folder.path)
            if _on_main_thread():  # the signals were held for the main thread's run, not a worker's
                held_signals.clear()
            self.record["finished"] = utc_iso()
            self.record["ok"] = error is None
            self.record["error"] = error.to_dict() if error else None
            if error is not None:
                self.record["error"]["exit_code"] = error.exit_code
            with shielded():
                try:
                    self._write_timeline()
                except (OSError, ValueError) as exc:  # the logs themselves are already safe
                    self.progress.info(f"warning: no timeline ({exc})")
            self._save()
        return RunResult(ok=error is None, folder=self.folder, record=self.record, error=error)

    values: Dict[str, Any] = {}  # placeholders as the clients saw them
    server_clock: Optional[clock.ClockOffset] = None  # server clock minus ours
    _clock_thread: Optional[Any] = None
    server_values: Dict[str, Any] = {}  # as the server saw them (its own port)

    def _server_verdict(self) -> Optional[SockdeployError]:
        """Whether a server that should end by itself did, and how (its wait ran with the cleanup)."""
        proc, awaited = self._await_exit, self._awaited
        if proc is None or awaited is None or self.cleanup_error is not None:
            return None
        if not awaited:
            self.record["server"]["timed_out"] = True
            return ProgramError(f"the server was still running {SERVER_EXIT_WAIT:g} s after the last client run",
                                "the plan expects it to end by itself (e.g. after the quit code); check that logic")
        if proc.exit_code != 0:
            return program_failure("server", proc.command, proc.exit_code, "", "read server.log in the run folder")
        return None

    def _tunnel_verdict(self) -> Optional[SockdeployError]:
        """A client connection the tunnel could not carry fails the run, even if the client did not notice
        (it may only have written into a socket that was then closed)."""
        return self.tunnel_errors[0] if self.tunnel_errors and self.cleanup_error is None else None

    def _check_expectations(self) -> Optional[SockdeployError]:
        """After the server log is in: compare the logs with payload.yaml's expect section."""
        from sockdeploy.run.expectations import evaluate

        if self.cleanup_error is not None:
            return None
        server_log = self.server_log.output if self.server_log else ""
        client_logs = [log.output for log in self.folder.logs if log.filename.startswith("client-")]
        results = evaluate(self.payload.expect, server_log, client_logs, self.server_values, self.values)
        self.record["expectations"] = [r.to_dict() for r in results]
        if self.payload.checks_skipped:
            self.record["expectations_note"] = (f"{self.payload.name}'s output checks describe the bundled programs, "
                                                "so they were not applied to your sources")
        failed = [r for r in results if not r.ok]
        if failed:
            first = failed[0]
            return ExpectationsFailed(f"{len(failed)} of {len(results)} expectations failed; first: {first.name} ({first.detail})",
                                "compare the logs in the run folder with the expect section of payload.yaml")
        return None

    def _save(self) -> None:
        with shielded():
            if self.server_log is not None:
                self.folder.write_log(self.server_log)
            self.folder.write_json(self.record)
            self.folder.write_transcript(self.record, self.payload.description)

    # -- the two shapes of a run ----------------------------------------------
    def _local(self, stack: ExitStack) -> None:
        if self.cfg is not None and self.cfg.client.remote:
            # both programs on the client host, which is reached over SSH (a headless Pi)
            ws = self._open_client_host(stack)
            host = ws.host
        else:
            host = self.client_host
            with self.progress.step("prepare a private build directory"):
                ws = create_workspace(host, tempfile.gettempdir(), self.payload.files, prefix="sockdeploy-")
        stack.callback(self._finish, ws)
        self.record["server"].update(host=host.name, ip="127.0.0.1")
        with self.progress.step("build the server and the client"):
            self._build(ws, self.payload.server.build, "server", "server-build.log")
            self._build(ws, self.payload.client.build, "client", "client-build.log")
        sock = f"{ws.path}/sock"
        if len(sock.encode()) > 100:
            raise UsageError(f"the socket path {sock} is too long for AF_UNIX", "set TMPDIR to a shorter directory")
        values = {"ip": "127.0.0.1", "host": "localhost", "socket": sock, "port": None}
        self._serve_and_run_clients(ws, values, client_cwd=ws.path)

    def _split(self, stack: ExitStack) -> None:
        if self.cfg is None:
            raise UsageError("this payload needs a server host, but no hosts.yaml was loaded", "pass --hosts PATH or use --local")
        self.via = self.opts.via or self.cfg.network.via
        self.record["via"] = self.via
        shared = self.opts.session
        session = shared or SshSession(self.cfg.server, accept_new=self.opts.accept_new, confirm=self.opts.confirm,
                                       prompt=self.opts.prompt)
        self.session = session
        fault_point("connect")
        reused = session.alive
        if reused:
            self.progress.info(f"reusing the SSH connection to {session.name} (no new login)")
        else:
            with self.progress.step(f"connect to {self.cfg.server.host}"):
                session.open()
        if shared is None:
            stack.callback(session.close)
        self.record["ssh"] = {"login": session.login, "strict_kex": session.strict_kex, "reused_connection": reused}
        self.progress.detail(f"logged in as {session.login}; strict key exchange: {'yes' if session.strict_kex else 'no'}")
        ip = session.peer_ip or _resolve(session.hostname)
        self.record["server"].update(host=session.name, ip=ip)
        # the client host first: the VPN and path checks are made from it
        pi_ws = self._open_client_host(stack) if self.cfg.client.remote else None
        if self.via == "vpn":
            with self.progress.step("check the VPN"):
                self._require_vpn(ip)
        forwarding = None
        if self.via == "tunnel":
            # asked alongside the upload: one round trip less on a slow link
            from concurrent.futures import ThreadPoolExecutor

            checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sockdeploy-check")
            forwarding = checker.submit(session.check_forwarding)
            checker.shutdown(wait=False)
        fault_point("upload", self.session)
        try:
            with self.progress.step("upload the server sources"):
                ws = create_workspace(session, self.cfg.server.workdir, self.payload.files)
        finally:
            if forwarding is not None:
                forwarding.exception()  # wait: no check outlives the step that started it
        stack.callback(self._finish, ws)
        if forwarding is not None:
            with self.progress.step("check that the server host allows forwarding"):
                forwarding.result()
        self.lifeline = session.start_lifeline(watchdog_script(ws.path), ready=WATCHDOG_READY)
        self._start_clock_probe(session)
        self.record["server"]["remote_dir"] = ws.path
        if ws.cleaned:
            self.progress.info(f"removed {len(ws.cleaned)} run folder(s) that crashed earlier runs left on {session.name}")
            self.record["cleaned_stale_runs"] = ws.cleaned
        self._check_pinned_port(ws)
        if self.via in ("tunnel", "auto"):
            # Prefer a port free here too, so the tunnel can keep the server's number.
            ws.used_ports |= paths.local_busy_ports()
        if pi_ws is None:
            # here, while the watchdog starts on the server host
            with self.progress.step("build the client here"):
                local_ws = create_workspace(self.client_host, tempfile.gettempdir(), self.payload.files, prefix="sockdeploy-")
                stack.callback(self._remove_quietly, local_ws)
                self._build(local_ws, self.payload.client.build, "client", "client-build.log")
        self.lifeline.ensure()  # from here on, a dropped connection gets the run folder removed there
        fault_point("build", self.session)
        with self.progress.step(f"build the server on {session.name}"):
            self._build(ws, self.payload.server.build, "server", "server-build.log")
        if pi_ws is not None:
            local_ws = pi_ws
            with self.progress.step(f"build the client on {local_ws.host.name}"):
                self._build(local_ws, self.payload.client.build, "client", "client-build.log")
        values = {"ip": ip, "host": session.hostname, "port": None, "socket": None}
        self._stack = stack
        self._serve_and_run_clients(ws, values, client_cwd=local_ws.path)

    def _start_clock_probe(self, session: SshSession) -> None:
        """Measure the server host's clock offset while the build runs (for the timeline)."""
        import threading

        def probe() -> None:
            try:
                self.server_clock = clock.measure(session)
            except Exception:  # the timeline then says the clock could not be read
                self.server_clock = None

        self._clock_thread = threading.Thread(target=probe, name="sockdeploy-clock", daemon=True)
        self._clock_thread.start()

    def _write_timeline(self) -> None:
        """Interleave every terminal's lines on one clock: timeline.txt and transcript.md."""
        logs = [log for log in self.folder.logs if log.times]
        if not logs:
            return
        if self._clock_thread is not None:
            self._clock_thread.join(timeout=5)
        remote = any(log.remote for log in logs)
        offset = self.server_clock if remote else None
        sources = [timeline.Source(_short_label(log.filename), log.output, log.times, log.remote) for log in logs]
        entries = timeline.merge(sources, offset)
        note = timeline.clock_note(offset, self.record["server"].get("host") if remote else None)
        self.folder.write_timeline(timeline.render(entries, note))
        self.record["timeline"] = {"file": "timeline.txt", "lines": len(entries),
                                   "clock": offset.to_dict() if offset else None}

    def _open_client_host(self, stack: ExitStack) -> Workspace:
        """Log in to the client host (one login), with a private workspace and a lifeline of its own."""
        assert self.cfg is not None and self.cfg.client.ssh is not None
        pi = SshSession(self.cfg.client.ssh, accept_new=self.opts.accept_new, confirm=self.opts.confirm,
                        prompt=self.opts.prompt)
        pi.role = "client host"
        with self.progress.step(f"connect to the client host {self.cfg.client.ssh.host}"):
            pi.open()
        stack.callback(pi.close)
        self.pi = pi
        self.client_host = pi  # type: ignore[assignment]
        self.record["client_host"] = pi.name
        self.record["client_ssh"] = {"login": pi.login, "strict_kex": pi.strict_kex}
        with self.progress.step(f"upload the client sources to {pi.name}"):
            ws = create_workspace(pi, self.cfg.client.ssh.workdir, self.payload.files)
        lifeline = pi.start_lifeline(watchdog_script(ws.path), ready=WATCHDOG_READY)
        self.pi_lifeline = lifeline

        def finish() -> None:
            with shielded():
                _settle(lifeline)
                try:
                    server.finish(ws, pid=None, remove=True)
                except (SockdeployError, ScriptTimeout, OSError) as exc:
                    self.progress.info(f"warning: cleanup on {pi.name} failed ({getattr(exc, 'message', exc)}); "
                                       "its watchdog removes the folder when the connection ends")
                finally:
                    lifeline.close()

        stack.callback(finish)
        return ws

    def _require_vpn(self, ip: str) -> None:
        facts = vpn.remote_facts(self.pi, ip) if self.pi is not None else None
        checks = vpn.vpn_checks(ip, self.cfg.network.vpn_gateway if self.cfg else vpn.DEFAULT_GATEWAY, facts)
        self.record["vpn_checks"] = [c.__dict__ for c in checks]
        failed = vpn.first_failure(checks)
        if failed is not None:
            raise NetworkPathError(f"--via vpn: {failed.name}: no ({failed.detail})", failed.fix)

    def _choose_path(self, port: int, values: Dict[str, Any]) -> None:
        """Decide how the client reaches the server's port; runs before the server takes the port."""
        assert self.cfg is not None
        gateway = self.cfg.network.vpn_gateway
        found: Optional[paths.Probe] = None
        chosen = self.via
        if self.via in ("direct", "vpn", "auto"):
            with self.progress.step(f"probe {values['ip']}:{port} from here"):
                found = paths.probe_from(self.pi, values["ip"], port) if self.pi is not None else paths.probe(values["ip"], port)
            self.progress.info(found.describe())
            self.record["probe"] = {"target": f"{values['ip']}:{port}", "outcome": found.outcome}
            if found.reachable:
                chosen = "vpn" if self.via == "vpn" else "direct"
            elif self.via == "auto":
                chosen = "tunnel"
                with self.progress.step("check that the server host allows forwarding"):
                    self.session.check_forwarding()
            else:
                hint = (f"the VPN is up but does not let you reach port {port}; use --via tunnel" if self.via == "vpn"
                        else paths.blocked_hint(gateway))
                raise NetworkPathError(f"cannot reach {values['ip']}:{port} from this machine: {found.describe()}", hint)
        self.record["via"] = chosen
        self.record["via_reason"] = paths.describe_choice(self.via, chosen, found)

    def _open_tunnel(self, port: int, values: Dict[str, Any]) -> None:
        if self.pi is not None:
            return self._open_remote_tunnel(port, values)
        self._open_local_tunnel(port, values)

    def _open_remote_tunnel(self, port: int, values: Dict[str, Any]) -> None:
        """Listen on the client host's loopback; carry each connection over the login host's connection."""
        assert self.session is not None and self.pi is not None
        session = self.session
        fwd = RemoteForward(self.pi, lambda origin: session.open_forward("127.0.0.1", port, origin), port)
        with self.progress.step(f"open the tunnel on {self.pi.name}"):
            fwd.start()
        self._stack.callback(self._close_tunnel, fwd)
        self.tunnel = fwd  # type: ignore[assignment]
        values.update(ip="127.0.0.1", host="localhost", client_port=fwd.port)
        self.record["tunnel"] = {"listen": [f"127.0.0.1:{fwd.port} on {self.pi.name}"],
                                 "remote": f"127.0.0.1:{port} on {session.name}",
                                 "same_port": fwd.port == port, "connections": 0, "joined": True}
        if fwd.port != port:
            self.progress.info(f"port {port} is busy on {self.pi.name}; the tunnel listens on {fwd.port} there instead")

    def _open_local_tunnel(self, port: int, values: Dict[str, Any]) -> None:
        """Listen on loopback for the client, after the server listens and before any client runs.

        Same port number as the server when it is free here; otherwise a free one
        (it is never free when both ends are one machine, as in the loopback lab).
        """
        assert self.session is not None
        session = self.session
        fwd = LocalForward(lambda origin: session.open_forward("127.0.0.1", port, origin), ("127.0.0.1", port), port)
        with self.progress.step("open the tunnel"):
            fwd.start()
        self._stack.callback(self._close_tunnel, fwd)
        self.tunnel = fwd
        values.update(ip="127.0.0.1", host="localhost", client_port=fwd.port)
        self.record["tunnel"] = {"listen": fwd.addresses, "remote": f"127.0.0.1:{port} on {session.name}",
                                 "same_port": fwd.port == port, "connections": 0}
        if fwd.port != port:
            self.progress.info(f"port {port} is busy here; the tunnel listens on {fwd.port} instead")

    def _open_udp_relay(self, port: int, values: Dict[str, Any]) -> None:
        """UDP through the tunnel: datagrams framed over the run's SSH connection to a relay by the server."""
        from sockdeploy.net.udprelay import (
            JoinedUdpRelay,
            UdpRelay,
            client_script,
            remote_script,
        )

        assert self.session is not None
        with self.progress.step("open the UDP relay"):
            if self.pi is not None:
                relay = JoinedUdpRelay(self.pi.start_stream(client_script(port)), self.session.start_stream(remote_script(port)),
                                       self.pi.name, self.session.name)
            else:
                relay = UdpRelay(self.session.start_stream(remote_script(port)), port, self.session.name)
            relay.start()
        self._stack.callback(self._close_udp_relay, relay)
        values.update(ip="127.0.0.1", host="localhost", client_port=relay.port)
        self.record["tunnel"] = {"udp_relay": f"127.0.0.1:{relay.port} (udp)", "remote": f"127.0.0.1:{port}/udp on {self.session.name}",
                                 "same_port": relay.port == port, "datagrams": 0}

    def _close_udp_relay(self, relay: Any) -> None:
        with shielded():
            relay.close()
            self.record["tunnel"]["datagrams"] = relay.datagrams

    def _close_tunnel(self, fwd: LocalForward) -> None:
        with shielded():
            # a server that should end by itself may still be reading the last client's bytes
            fwd.close(drain=2.0 if self._await_exit is not None else 0)
            if "tunnel" in self.record:
                self.record["tunnel"]["connections"] = fwd.connections
                if fwd.errors:
                    self.tunnel_errors = list(fwd.errors)
                    self.record["tunnel"]["errors"] = [e.message for e in fwd.errors]

    # -- steps -----------------------------------------------------------------
    def _build(self, ws: Workspace, command: Optional[str], what: str, logname: str) -> None:
        if command is None and self.payload.language == "python":
            # nothing to compile, but the interpreter must be there
            command = "command -v python3 >/dev/null || { echo \"python3 is not installed on $(hostname)\"; exit 127; }"
        try:
            result = build(ws, command, what)
        except SockdeployError as exc:
            self._write_aux(logname, f"$ {command}\n{exc.output or ''}\n")
            raise
        if result is not None and result.output:
            self._write_aux(logname, f"$ {command}\n{result.output}\n")

    def _write_aux(self, name: str, text: str) -> None:
        (self.folder.path / name).write_text(text, encoding="utf-8")

    def _serve_and_run_clients(self, ws: Workspace, values: Dict[str, Any], client_cwd: str) -> None:
        proc = self._start_server(ws, values)
        if self.pi_lifeline is not None:
            self.pi_lifeline.ensure()  # no client runs on the client host unwatched
        fault_point("server-start", self.session)
        # Through a tunnel the client may use another local port than the server's.
        self.server_values = dict(values)
        values = dict(values, port=values.get("client_port") or values["port"])
        runs = self.payload.runs
        uses_host = any("{host}" in r.command for r in runs)
        self.record["connect_host"] = values["host"] if uses_host else values["ip"]
        self.values = values
        login = getattr(self.pi, "login", "") or ""
        prompt = f"{login.split('@', 1)[0] if '@' in login else _whoami()}@{self.client_host.name}"
        if self.payload.concurrent:
            self._run_clients_at_once(values, client_cwd, prompt)
        for i, run in enumerate([] if self.payload.concurrent else runs, 1):
            self._run_one_client(i, run, values, client_cwd, prompt)
            if i == 1:
                fault_point("client-runs", self.session)
        if self.payload.expect.server_exits or self.payload.server_exits:
            # awaited by the cleanup's own script, saving a round trip; judged in execute()
            self._await_exit = proc

    def _run_one_client(self, i: int, run: Any, values: Dict[str, Any], client_cwd: str, prompt: str) -> None:
        """Run client run `i` here, its output streamed to client-i.log; raise on failure."""
        runs = self.payload.runs
        command = render(run.command, values)
        timeout = run.timeout or self.payload.client_timeout
        shown = command + (f" <<< {run.stdin.strip()!r}" if run.stdin else "")
        log = ProgramLog(f"client-{i}.log", f"Client terminal ({self.client_host.name}), run {i}", prompt, command)
        if run.stdin:
            log.typed = run.stdin
        entry: Dict[str, Any] = {"run": i, "command": command, "stdin": run.stdin, "exit_code": None, "timed_out": False, "seconds": None}
        self.record["clients"].append(entry)
        with self.progress.step(f"client run {i}/{len(runs)}: {shown}"):
            try:
                if self.pi is not None:
                    outcome = run_remote_client(self.pi, client_cwd, command, self.folder.path / log.filename, log.text(),
                                                timeout, stdin=run.stdin, duration=run.duration)
                else:
                    outcome = run_client(command, client_cwd, self.folder.path / log.filename, log.text(), timeout,
                                         stdin=run.stdin, duration=run.duration)
            except BaseException:
                log.output = _read_partial(self.folder.path / log.filename, log.text())
                log.ending = "interrupted"
                self.folder.write_log(log)
                raise
            log.output = outcome.output
            log.times = outcome.times
            entry.update(exit_code=outcome.exit_code, timed_out=outcome.timed_out, seconds=round(outcome.seconds, 3),
                         stopped_after=run.duration if outcome.stopped else None)
            if outcome.timed_out:
                log.ending = f"timed out after {timeout:g} s; stopped by sockdeploy"
            elif outcome.stopped:
                log.ending = f"stopped with Ctrl-C (SIGINT) after {run.duration:g} s, as planned; exit status {outcome.exit_code}"
            else:
                log.ending = f"exit status {outcome.exit_code}"
            self.folder.write_log(log)
            if outcome.timed_out:
                raise ProgramError(f"client run {i} `{command}` did not finish within {timeout:g} s",
                                   "check that the server answers, or raise the timeout in payload.yaml",
                                   command=command, output=outcome.output)
            if outcome.exit_code != 0 and not outcome.stopped:
                self._blame_lost_connection()
                raise program_failure(f"client run {i}", command, outcome.exit_code, outcome.output,
                                              "read the client's output above; its log is in the run folder")

    def _run_clients_at_once(self, values: Dict[str, Any], client_cwd: str, prompt: str) -> None:
        """Start every client run together; report the first failure after all have ended."""
        from concurrent.futures import ThreadPoolExecutor

        runs = self.payload.runs
        self.progress.info(f"starting {len(runs)} client runs at once")
        with ThreadPoolExecutor(max_workers=len(runs)) as pool:
            futures = [pool.submit(self._run_one_client, i, run, values, client_cwd, prompt) for i, run in enumerate(runs, 1)]
        self.record["clients"].sort(key=lambda e: e["run"])
        for future in futures:
            future.result()

    def _start_server(self, ws: Workspace, values: Dict[str, Any]) -> server.ServerProcess:
        port_range = (self.cfg.network.ports if self.cfg else (30000, 40000))
        tried: set = set()
        needs_port = "{port}" in "".join(self.payload.server.commands + self.payload.client.commands)
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port: Optional[int] = None
            if needs_port:
                if self.opts.port is not None:
                    port = self._check_pinned_port(ws)
                else:
                    choose = self.opts.ports.choose if self.opts.ports is not None else choose_port
                    port = choose(ws.used_ports, port_range, tried)
                tried.add(port)
            values["port"] = port
            if not self.local_mode and port is not None:
                if self.tunnel is not None:  # a retry on another port
                    self._close_tunnel(self.tunnel)
                    self.tunnel = None
                self._choose_path(port, values)
            command = render(self.payload.server.commands[0], values)
            self.record["server"].update(port=port, command=command)
            self.server_log = ProgramLog("server.log", f"Server terminal ({ws.host.name})",
                                         f"{self._server_user(ws)}@{ws.host.name}", command)
            label = f"start the server on port {port}" if port else "start the server"
            try:
                with self.progress.step(label):
                    proc = server.start_server(ws, command, ready=self.payload.ready, port=port,
                                                socket_path=values.get("socket"))
            except ServerExited as exc:
                self.server_log.output = exc.log
                self.server_log.ending = describe_status(exc.status)
                self.record["server"]["exit_code"] = exc.status
                if port is not None and self.opts.port is None and server.looks_like_port_in_use(exc.log) and attempt < PORT_ATTEMPTS:
                    self.progress.info(f"port {port} was taken meanwhile; trying another")
                    continue
                if port is not None and server.looks_like_port_in_use(exc.log):
                    raise NetworkPathError(f"the server could not bind port {port} on {ws.host.name}: address already in use",
                                           "pick another with --port, or leave --port out", output=exc.log) from None
                raise program_failure("server", command, exc.status, exc.log,
                                              "it ended before listening; read its output above (wrong arguments?)") from None
            except ServerNotListening as exc:
                self._current = exc.proc
                other = server.listening_ports_of_group(ws, exc.proc.pid) if port else []
                if other:
                    raise ProgramError(f"the server listens on port {', '.join(map(str, other))}, not on port {port} it was given",
                                       "make the server use the port from its command line ({port} in payload.yaml)",
                                       command=command) from None
                self.record["server"]["timed_out"] = True
                raise ProgramError(f"the server did not start listening within {exc.waited:g} s",
                                   "check that it calls listen() early and prints nothing it waits on; its output is in server.log",
                                   command=command) from None
            self._current = proc
            if self.record["via"] == "tunnel" and port is not None:
                if self.payload.protocol == "udp":
                    self._open_udp_relay(port, values)
                else:
                    self._open_tunnel(port, values)
            return proc
        raise NetworkPathError("no port could be bound after several attempts", "widen network.ports or pass --port")

    def _check_pinned_port(self, ws: Workspace) -> Optional[int]:
        port = self.opts.port
        if port is not None and port in ws.used_ports:
            raise NetworkPathError(f"port {port} is already in use on {ws.host.name}",
                                   "pick another with --port, or leave --port out to let sockdeploy choose a free one")
        return port

    def _server_user(self, ws: Workspace) -> str:
        login = getattr(ws.host, "login", None)
        return login.split("@", 1)[0] if login else _whoami()

    _current: Optional[server.ServerProcess] = None
    _await_exit: Optional[server.ServerProcess] = None  # the plan expects this server to end by itself
    _awaited: Optional[bool] = None  # and whether it did, within SERVER_EXIT_WAIT
    tunnel: Optional[LocalForward] = None
    tunnel_errors: List[SockdeployError] = []  # connections the tunnel could not carry
    lifeline: Optional[Any] = None
    pi_lifeline: Optional[Any] = None
    cleanup_error: Optional[SockdeployError] = None

    def _blame_lost_connection(self) -> None:
        """If the SSH connection died, say so rather than blaming the client it broke."""
        import time

        if self.session is None:
            return
        for _ in range(10):  # the reader thread notices a reset within moments
            if not self.session.alive:
                self.session.transport  # raises ConnectError naming why
            time.sleep(0.1)
    session: Optional[SshSession] = None
    pi: Optional[SshSession] = None  # the client host over SSH (client.host in hosts.yaml); None: this machine
    via = "local"

    def _finish(self, ws: Workspace) -> None:
        """Stop the server, keep its log, remove the workspace: on every exit path."""
        remote = ws.host is not self.client_host
        remove = not (remote and self.opts.keep_remote)
        with shielded():
            if ws.host is self.session:
                _settle(self.lifeline)
            pid = self._current.pid if self._current is not None and self._current.ws is ws else None
            fault_point("log-fetch", self.session)
            awaiting = pid is not None and self._await_exit is not None and self._await_exit.ws is ws
            label = ("wait for the server to end and collect its log" if awaiting
                     else "stop the server and collect its log" if pid else "clean up")
            try:
                with self.progress.step(label):
                    collected = server.finish(ws, pid=pid, remove=remove, await_exit=SERVER_EXIT_WAIT if awaiting else 0)
            except (SockdeployError, ScriptTimeout, OSError) as exc:
                self.progress.info(f"warning: cleanup on {ws.host.name} failed ({getattr(exc, 'message', exc)}); "
                                   f"the server host's watchdog stops the server within {WATCHDOG_SILENCE} s, "
                                   "and the next run removes its folder")
                if self.server_log is not None and self.server_log.output == "":
                    self.server_log.ending = "log not fetched: the SSH connection was lost"
                if self.cleanup_error is None:
                    self.cleanup_error = ConnectError(f"the server log could not be fetched from {ws.host.name}: {getattr(exc, 'message', exc)}",
                                                      "check your network; the run folder has everything that arrived")
                return
            finally:
                # After the stop, so the log says who ended the server.
                if self.lifeline is not None and ws.host is self.session:
                    self.lifeline.close()
                    self.lifeline = None
            if awaiting and collected.awaited is not None:
                self._awaited = collected.awaited
                if collected.awaited:
                    self._await_exit.exit_code = collected.exit_code  # type: ignore[union-attr]
                    self.record["server"]["exit_code"] = collected.exit_code
            if self.server_log is not None and collected.log is not None:
                self.server_log.output = collected.log + ("\n[log truncated]\n" if collected.truncated else "")
                self.server_log.times = collected.times
                self.server_log.remote = remote
                if collected.stopped:
                    self.server_log.ending = "stopped by sockdeploy after the run"
                    self.record["server"]["stopped_by_sockdeploy"] = True
                elif collected.exit_code is not None:
                    self.server_log.ending = describe_status(collected.exit_code)
                    self.record["server"]["exit_code"] = collected.exit_code
                self.folder.write_log(self.server_log)
            if remote and not remove:
                self.progress.info(f"kept the remote run directory {ws.path} (--keep-remote)")

    def _remove_quietly(self, ws: Workspace) -> None:
        with shielded():
            try:
                server.finish(ws, pid=None, remove=True)
            except Exception:
                pass


SOURCES_DIR = "sources"


def _settle(lifeline: Optional[Any]) -> None:
    """Let a watchdog that is still starting settle in first: started while the run folder is
    being removed, it would write its pidfile into the folder and keep it from going."""
    if lifeline is not None:
        lifeline.settle()


def _snapshot_sources(payload: Payload, dest: Path, progress: Progress) -> Payload:
    """Copy the payload's sources into the run folder and return the payload reading from the copies."""
    import dataclasses
    import os

    if not payload.files:
        return payload
    try:
        dest.mkdir()
        copies = []
        for f in payload.files:
            data = f.read_bytes()
            copy = dest / f.name
            copy.write_bytes(data)
            os.chmod(copy, 0o755 if f.stat().st_mode & 0o111 else 0o644)
            copies.append(copy)
    except OSError as exc:  # the run still works from the payload folder; only the snapshot is lost
        progress.info(f"warning: could not keep a copy of the sources in the run folder ({exc})")
        return payload
    return dataclasses.replace(payload, files=tuple(copies))


def _short_label(filename: str) -> str:
    """server.log -> "server", client-2.log -> "client 2"."""
    return filename.rsplit(".", 1)[0].replace("-", " ")


def _held_signal_error(signum: int, folder: Path) -> SockdeployError:
    from sockdeploy.errors import Terminated

    cls = Terminated if signum == signal.SIGTERM else Interrupted
    what = "terminated (SIGTERM)" if signum == signal.SIGTERM else "interrupted (Ctrl-C)"
    return cls(f"{what} during cleanup; cleanup was completed first", f"the transcripts are in {folder}")


def _read_partial(path: Path, header: str) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[len(header):] if text.startswith(header) else text


def _resolve(name: str) -> str:
    try:
        return socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    except OSError as exc:
        raise ConnectError(f"cannot resolve {name}: {exc}", "check server.host in hosts.yaml") from None


def run_payload(payload: Payload, cfg: Optional[Config], opts: RunOptions, progress: Optional[Progress] = None) -> RunResult:
    """Run one payload end to end; never raises a SockdeployError (it lands in the result)."""
    return Run(payload, cfg, opts, progress or Progress(quiet=True)).execute()
