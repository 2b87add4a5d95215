"""The state of one run, created per run and handed to each step in turn."""

from __future__ import annotations

import shlex
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Protocol, Union

from sockdeploy.errors import SockdeployError
from sockdeploy.net.wire import WireLog
from sockdeploy.output.progress import Progress
from sockdeploy.output.runfolder import ProgramLog, RunFolder
from sockdeploy.remote.host import LocalHost
from sockdeploy.run.clockprobe import ClockProbe
from sockdeploy.run.ports import PortLease
from sockdeploy.run.record import RunRecord
from sockdeploy.run.runtag import new_token
from sockdeploy.run.server import ServerProcess
from sockdeploy.run.signals import HOLD, SignalHold
from sockdeploy.run.tripwire import PAUSES, Tripwire
from sockdeploy.run.watchdog import silence
from sockdeploy.spec.hosts import Config
from sockdeploy.spec.payload import Payload
from sockdeploy.ssh.session import SshSession

# Seconds a server that should end by itself gets after the last client run.
SERVER_EXIT_WAIT = 10.0
# After sockdeploy was stopped past a watchdog's window: what the watchdog did arrives with the first
# packets after the pause, well within this.
WATCHDOG_NEWS = 1.0


@dataclass
class RunOptions:
    """How the person asked for the run (command-line options and shared resources)."""

    out: Path = Path("runs")
    via: Optional[str] = None
    port: Optional[int] = None
    local: bool = False
    accept_new: bool = False
    keep_remote: bool = False
    stdin: Optional[str] = None  # fed to every client run that has no stdin of its own (--stdin)
    confirm: Optional[Callable[[str], bool]] = None
    prompt: Optional[Callable[[str, bool], str]] = None
    # A connection shared by several runs (one login for `run ex5 ex6`): opened by the
    # first run that needs it, reopened if it died, and closed by its owner, not by a run.
    session: Optional[SshSession] = None
    # A batch's exact run folder (`sockdeploy batch`: <out>/<batch>/<submission>/) instead of <out>/<UTC>-<target>/.
    folder: Optional[Path] = None
    # Ports shared with parallel runs on the same server host, so no two pick the same port.
    ports: Optional[PortLease] = None


class Watchdog(Protocol):
    """The heartbeat channel that keeps a host's watchdog program from stopping the run."""

    def ensure(self) -> None: ...

    def settle(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class ServerState:
    """The server as the run knows it: started, awaited, and its terminal log."""

    log: Optional[ProgramLog] = None
    proc: Optional[ServerProcess] = None
    must_exit: bool = False  # the plan expects the server to end by itself after the clients
    exited_in_time: Optional[bool] = None  # and whether it did, within SERVER_EXIT_WAIT
    moved_from: Optional[int] = None  # the port written into the server, when its bind() was moved to another
    library: Optional[str] = None  # the redirect library on the server host that moves it


@dataclass
class RunContext:
    """Everything one run has learned and holds; nothing per-run lives anywhere else."""

    payload: Payload
    cfg: Optional[Config]
    opts: RunOptions
    progress: Progress
    folder: RunFolder
    record: RunRecord
    stack: ExitStack = field(default_factory=ExitStack)  # tunnels and relays opened mid-run close here
    hold: SignalHold = HOLD
    local_host: LocalHost = field(default_factory=lambda: LocalHost("client host"))
    session: Optional[SshSession] = None  # the server host's connection
    pi: Optional[SshSession] = None  # the client host over SSH (client.host in hosts.yaml); None: this machine
    watchdog: Optional[Watchdog] = None  # on the server host
    client_watchdog: Optional[Watchdog] = None  # on the client host over SSH
    local_watchdog: Optional[Watchdog] = None  # on this machine, for a local run's folder (server and clients here)
    via: str = "local"
    server: ServerState = field(default_factory=ServerState)
    server_values: Dict[str, Any] = field(default_factory=dict)  # placeholders as the server saw them
    client_values: Dict[str, Any] = field(default_factory=dict)  # as the clients saw them (through a tunnel: its port)
    tunnel_errors: List[SockdeployError] = field(default_factory=list)  # connections the tunnel could not carry
    cleanup_error: Optional[SockdeployError] = None
    clock: Optional[ClockProbe] = None  # the server host's clock offset, for the timeline
    # The run's tag (run/runtag.py): every process the run starts carries it; never printed or recorded.
    token: str = field(default_factory=new_token)
    tripwire: Tripwire = field(default_factory=Tripwire)  # a lost connection, a watchdog that fired: stop now
    tunnel_cause: Optional[SockdeployError] = None  # a tunnel error that explains the run's failure (see tunnelstep)
    started_at: float = field(default_factory=time.monotonic)
    steps_ended: Optional[float] = None  # time.monotonic() when the steps ended (before cleanup)
    _checked_at: float = field(default_factory=time.monotonic)
    wire: Optional[WireLog] = None  # every byte the tunnel, the UDP relay or the preload library saw (wire.txt, checks)
    wire_missing: str = ""  # why the preload library kept no wire record (the checks' "not judged" reasons say it)

    def note(self, text: str) -> None:
        """Say `text` (what sockdeploy noticed and adapted to) and keep it for run.json and transcript.md."""
        self.progress.info(text)
        if text not in (self.record.notes or []):
            self.record.notes = (self.record.notes or []) + [text]

    def client_file_text(self, path: str, timeout: float) -> str:
        """The text of the file PATH on the client host ("" when there is none); an SSH failure raises."""
        if self.pi is None:
            try:
                return Path(path).read_text(errors="replace")
            except FileNotFoundError:
                return ""
        return self.pi.run(f"cat -- {shlex.quote(path)} 2>/dev/null; exit 0", timeout=timeout).stdout

    def checkpoint(self) -> None:
        """Before a step: raise the reason to stop, if any; after a pause past a watchdog's window
        (Ctrl-Z), first give the news of what that watchdog did a moment to arrive."""
        self.tripwire.check()
        paused = PAUSES.longest_since(self._checked_at)
        self._checked_at = time.monotonic()
        if paused >= silence() and (self.watchdog is not None or self.client_watchdog is not None):
            self.tripwire.wait(WATCHDOG_NEWS)
        self.tripwire.check()

    @property
    def local_mode(self) -> bool:
        """Whether both programs run on the client host."""
        return self.payload.local or self.opts.local

    @property
    def client_host(self) -> Union[LocalHost, SshSession]:
        """Where the clients run: the client host over SSH, or this machine."""
        return self.pi if self.pi is not None else self.local_host

    @property
    def client_host_name(self) -> str:
        """The client host's name, as the terminals show it."""
        return self.client_host.name
