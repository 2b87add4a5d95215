"""Persistent tunnels, like `ssh -f -N -L`: a background process per local port, with state files.

The background process (TunnelKeeper, run as `python -m sockdeploy.daemons.tunnel`)
keeps its SSH connection alive and reconnects after a drop when it can do so
without asking anything (key or agent logins). It exits with the exit code of
the domain error that stopped it from starting (see base.main).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

from sockdeploy import errors
from sockdeploy.daemons.base import StateFile, StopRequest, is_daemon, main, process_start, spawn, state_home, stop
from sockdeploy.errors import NetworkPathError, SockdeployError, UsageError

if TYPE_CHECKING:
    from sockdeploy.net.forward import LocalForward, RemoteForward
    from sockdeploy.spec.hosts import Config
    from sockdeploy.ssh.session import SshSession

HEARTBEAT = 5.0
STALE_AFTER = 20.0
START_TIMEOUT = 40.0


def state_dir() -> Path:
    """Return the folder of the tunnels' state files (one per local port)."""
    d = state_home() / "tunnels"
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


def _listening(port: int) -> bool:
    """Return whether something on this machine listens on TCP `port` (from /proc/net)."""
    hexport = f":{port:04X}"
    for name in ("tcp", "tcp6"):
        try:
            for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
                f = line.split()
                if len(f) > 3 and f[1].endswith(hexport) and f[3] == "0A":  # 0A: LISTEN
                    return True
        except OSError:
            continue
    return False


@dataclass
class TunnelState:
    """One tunnel's state file and what it says."""

    path: Path
    data: Dict[str, Any]

    @property
    def port(self) -> int:
        return int(self.data["local_port"])

    @property
    def pid(self) -> int:
        return int(self.data.get("pid", 0))

    def alive(self) -> bool:
        return is_daemon(self.pid, self.data.get("pid_start"))

    def report(self) -> Dict[str, Any]:
        """Return the state with what is true now: process running, port listening, SSH alive."""
        age = time.time() - float(self.data.get("heartbeat", 0))
        return dict(self.data, running=self.alive(), listening=_listening(self.port),
                    ssh_alive=self.alive() and self.data.get("status") == "ready" and age < STALE_AFTER)


def list_tunnels() -> List[TunnelState]:
    """Return the state of every tunnel with a readable state file, by port."""
    found = []
    for p in sorted(state_dir().glob("*.json")):
        data = StateFile(p).read()
        if data is not None:
            found.append(TunnelState(p, data))
    return found


def open_tunnel(hosts_path: Path, port: int, accept_new: bool = False, local_port: Optional[int] = None) -> TunnelState:
    """Start a background tunnel 127.0.0.1:local_port -> the login host's 127.0.0.1:port; wait until it is ready.

    Raises UsageError when a tunnel already holds the port, and the error the
    tunnel process met (login, host key, forwarding...) when it could not start.
    """
    remote_port = port
    port = local_port or port
    state = StateFile(state_dir() / f"{port}.json")
    old = state.read()
    if old is not None or state.path.exists():
        old_state = TunnelState(state.path, old or {"local_port": port})
        if old_state.alive():
            raise UsageError(f"a tunnel on port {port} is already open (pid {old_state.pid})",
                             f"use it as it is, or close it first: sockdeploy tunnel close --port {port}")
        state.remove()
    args = [str(hosts_path.resolve()), str(port), str(state.path), str(remote_port)]
    proc = spawn("tunnel", args + (["--accept-new"] if accept_new else []), state.log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        data = state.read()
        if data is not None and data.get("status") == "ready":
            return TunnelState(state.path, data)
        if data is not None and data.get("status") == "failed":
            proc.wait(timeout=10)
            state.remove()
            raise _rebuild(data.get("error") or {})
        if proc.poll() is not None and not state.path.exists():
            raise NetworkPathError(f"the tunnel process exited at start: see {state.log}",
                                   "run 'sockdeploy doctor' or 'sockdeploy run' once to check the login")
        time.sleep(0.1)
    close_tunnels(port)
    raise NetworkPathError(f"the tunnel on port {port} did not come up within {START_TIMEOUT:g} s", f"see {state.log}")


def _rebuild(err: Dict[str, Any]) -> SockdeployError:
    """Turn the error a tunnel process wrote into its state file back into a domain error."""
    kinds = (errors.HostKeyError, errors.AuthError, errors.ConnectError, errors.NetworkPathError, errors.ConfigError)
    cls = next((c for c in kinds if c.kind == err.get("kind")), errors.NetworkPathError)
    if err.get("kind") in ("forwarding-forbidden", "forward-connect"):
        cls = errors.NetworkPathError
    return cls(err.get("message", "the tunnel failed"), err.get("hint"))


def close_tunnels(port: Optional[int] = None) -> List[int]:
    """Stop background tunnels (all, or the one on `port`); return the ports closed.

    Raises UsageError when `port` is given and no tunnel is open there.
    """
    closed = []
    for st in list_tunnels():
        if port is not None and st.port != port:
            continue
        if st.alive():
            stop(st.pid, wait=5.0, force=True, started=st.data.get("pid_start"))
        st.path.unlink(missing_ok=True)
        closed.append(st.port)
    if port is not None and not closed:
        raise UsageError(f"no tunnel is open on port {port}", "list them with: sockdeploy tunnel status")
    return closed


class TunnelKeeper:
    """The background side: hold the forward, heartbeat into the state file, reconnect after a drop."""

    def __init__(self, hosts: str, state: StateFile, local_port: int, remote_port: int, accept_new: bool) -> None:
        self.hosts = hosts
        self.cfg: Optional[Config] = None
        self.state_file = state
        self.local_port = local_port
        self.remote_port = remote_port
        self.accept_new = accept_new
        self.session: Optional[SshSession] = None
        self.pi: Optional[SshSession] = None  # the client host, when the tunnel listens there
        self.forward: Optional[Union[LocalForward, RemoteForward]] = None
        self.state: Dict[str, Any] = {"local_port": local_port, "remote_port": remote_port, "pid": os.getpid(),
                                      "pid_start": process_start(os.getpid()), "status": "starting", "hosts": hosts,
                                      "started": time.time(), "heartbeat": time.time(), "reconnects": 0}

    def __enter__(self) -> TunnelKeeper:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def publish(self, **changes: Any) -> None:
        """Update the state and write it out."""
        self.state.update(changes)
        self.state_file.write(self.state)

    def _open_far(self, origin: Tuple[str, int]) -> Any:
        assert self.session is not None
        return self.session.open_forward("127.0.0.1", self.remote_port, origin)

    def connect(self) -> None:
        """Log in to the login host (and the client host, if the tunnel listens there)."""
        from sockdeploy.net.forward import RemoteForward
        from sockdeploy.ssh.session import SshSession

        assert self.cfg is not None
        s = SshSession(self.cfg.server, accept_new=self.accept_new)
        s.open()
        s.check_forwarding()
        self.session = s
        self.state.update(host=s.name, login=s.login)
        if self.cfg.client.ssh is not None:
            # the tunnel listens on the Pi, joined here to the login host's connection
            pi = SshSession(self.cfg.client.ssh, accept_new=self.accept_new)
            pi.role = "client host"
            pi.open()
            self.pi = pi
            self.forward = RemoteForward(pi, self._open_far, self.local_port, exact=True).start()
            self.state.update(client_host=pi.name)

    def alive(self) -> bool:
        return self.session is not None and self.session.alive and (self.pi is None or self.pi.alive)

    def disconnect(self) -> None:
        """Close the connections; a forward that listens on the client host goes with its connection."""
        if self.pi is not None:
            if self.forward is not None:
                self.forward.close()
            self.pi.close()
            self.pi = None
        if self.session is not None:
            self.session.close()

    def start(self) -> None:
        """Connect and listen; on failure write the error for the waiting `tunnel open`, and raise it."""
        from sockdeploy.net.forward import LocalForward
        from sockdeploy.spec.hosts import load_config

        try:
            self.cfg = load_config(self.hosts)
            self.connect()
            if self.pi is None:
                self.forward = LocalForward(self._open_far, ("127.0.0.1", self.remote_port), self.local_port, exact=True)
                self.forward.start()
        except SockdeployError as exc:
            self.publish(status="failed", error=exc.to_dict())
            raise
        assert self.forward is not None
        self.publish(status="ready", listen=self.forward.addresses)

    def keep(self, stopping: StopRequest) -> None:
        """Heartbeat while the connection lives; reconnect (with backoff) when it drops, until asked to stop."""
        backoff = 1.0
        while not stopping:
            if not self.alive():
                self.publish(status="reconnecting")
                try:
                    self.disconnect()
                    self.connect()
                    self.state["reconnects"] += 1
                except SockdeployError as exc:
                    self.state["last_error"] = exc.headline()
                    stopping.wait(min(backoff, 30))
                    backoff *= 2
                continue
            backoff = 1.0
            self.publish(status="ready", heartbeat=time.time())
            stopping.wait(HEARTBEAT, until=lambda: not self.alive())

    def close(self) -> None:
        """Stop listening, log out, remove the state file."""
        if self.forward is not None:
            self.forward.close()
        self.disconnect()
        self.state_file.remove()


def serve(argv: List[str]) -> None:
    """The tunnel process: HOSTS_YAML LOCAL_PORT STATE_FILE REMOTE_PORT [--accept-new]."""
    logging.getLogger("paramiko").addHandler(logging.NullHandler())
    logging.getLogger("paramiko").propagate = False
    stopping = StopRequest().install()
    hosts, port, state_path, remote_port = argv[0], int(argv[1]), Path(argv[2]), int(argv[3])
    with TunnelKeeper(hosts, StateFile(state_path), port, remote_port, "--accept-new" in argv) as keeper:
        keeper.keep(stopping)


if __name__ == "__main__":
    main(serve)
