"""Persistent tunnels, like `ssh -f -N -L`: a background process per local port, with state files.

The background process keeps its SSH connection alive and reconnects after a
drop when it can do so without asking anything (key or agent logins).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from sockdeploy.errors import NetworkPathError, SockdeployError, UsageError

HEARTBEAT = 5.0
STALE_AFTER = 20.0
START_TIMEOUT = 40.0


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    d = Path(base) / "sockdeploy" / "tunnels"
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not a running tunnel
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _listening(port: int) -> bool:
    hexport = f":{port:04X}"
    for name in ("tcp", "tcp6"):
        try:
            for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
                f = line.split()
                if len(f) > 3 and f[1].endswith(hexport) and f[3] == "0A":
                    return True
        except OSError:
            continue
    return False


@dataclass
class TunnelState:
    path: Path
    data: Dict[str, Any]

    @property
    def port(self) -> int:
        return int(self.data["local_port"])

    @property
    def pid(self) -> int:
        return int(self.data.get("pid", 0))

    def alive(self) -> bool:
        return self.pid > 0 and _pid_alive(self.pid)

    def report(self) -> Dict[str, Any]:
        age = time.time() - float(self.data.get("heartbeat", 0))
        return dict(self.data, running=self.alive(), listening=_listening(self.port),
                    ssh_alive=self.alive() and self.data.get("status") == "ready" and age < STALE_AFTER)


def list_tunnels() -> List[TunnelState]:
    found = []
    for p in sorted(state_dir().glob("*.json")):
        try:
            found.append(TunnelState(p, json.loads(p.read_text())))
        except (OSError, ValueError):
            continue
    return found


def _write(path: Path, data: Dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def open_tunnel(hosts_path: Path, port: int, accept_new: bool = False, local_port: Optional[int] = None) -> TunnelState:
    """Start a background tunnel 127.0.0.1:local_port -> the login host's 127.0.0.1:port; wait until it is ready."""
    remote_port = port
    port = local_port or port
    path = state_dir() / f"{port}.json"
    if path.exists():
        old = TunnelState(path, json.loads(path.read_text() or "{}") if path.stat().st_size else {"local_port": port})
        if old.alive():
            raise UsageError(f"a tunnel on port {port} is already open (pid {old.pid})",
                             f"use it as it is, or close it first: sockdeploy tunnel close --port {port}")
        path.unlink()
    log = path.with_suffix(".log")
    argv = [sys.executable, "-m", "sockdeploy.daemons.tunnel", str(hosts_path.resolve()), str(port), str(path), str(remote_port)]
    if accept_new:
        argv.append("--accept-new")
    with open(log, "ab") as fh:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fh, stderr=fh, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if path.exists():
            st = TunnelState(path, json.loads(path.read_text()))
            if st.data.get("status") == "ready":
                return st
            if st.data.get("status") == "failed":
                proc.wait(timeout=10)
                path.unlink(missing_ok=True)
                err = st.data.get("error") or {}
                raise _rebuild(err)
        if proc.poll() is not None and not path.exists():
            raise NetworkPathError(f"the tunnel process exited at start: see {log}", "run 'sockdeploy doctor' or 'sockdeploy run' once to check the login")
        time.sleep(0.1)
    close_tunnels(port)
    raise NetworkPathError(f"the tunnel on port {port} did not come up within {START_TIMEOUT:g} s", f"see {log}")


def _rebuild(err: Dict[str, Any]) -> SockdeployError:
    from sockdeploy import errors

    cls = next((c for c in (errors.HostKeyError, errors.AuthError, errors.ConnectError, errors.NetworkPathError, errors.ConfigError)
                if c.kind == err.get("kind")), errors.NetworkPathError)
    if err.get("kind") in ("forwarding-forbidden", "forward-connect"):
        cls = errors.NetworkPathError
    return cls(err.get("message", "the tunnel failed"), err.get("hint"))


def close_tunnels(port: Optional[int] = None) -> List[int]:
    """Stop background tunnels (all, or the one on `port`); return the ports closed."""
    closed = []
    for st in list_tunnels():
        if port is not None and st.port != port:
            continue
        if st.alive():
            try:
                os.kill(st.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            for _ in range(50):
                if not st.alive():
                    break
                time.sleep(0.1)
            else:
                os.kill(st.pid, signal.SIGKILL)
        st.path.unlink(missing_ok=True)
        closed.append(st.port)
    if port is not None and not closed:
        raise UsageError(f"no tunnel is open on port {port}", "list them with: sockdeploy tunnel status")
    return closed


def _daemon(hosts: str, port: int, state_path: Path, accept_new: bool, remote_port: int) -> int:
    """The background side: hold the forward, heartbeat, reconnect after a drop."""
    import logging

    from sockdeploy.net.forward import LocalForward, RemoteForward
    from sockdeploy.spec.hosts import load_config
    from sockdeploy.ssh.session import SshSession

    logging.getLogger("paramiko").addHandler(logging.NullHandler())
    logging.getLogger("paramiko").propagate = False
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    state: Dict[str, Any] = {"local_port": port, "remote_port": remote_port, "pid": os.getpid(), "status": "starting",
                             "hosts": hosts, "started": time.time(), "heartbeat": time.time(), "reconnects": 0}
    holder: Dict[str, Any] = {}

    def connect() -> None:
        s = SshSession(cfg.server, accept_new=accept_new)
        s.open()
        s.check_forwarding()
        holder["session"] = s
        state.update(host=s.name, login=s.login)
        if cfg.client.ssh is not None:
            # the tunnel listens on the Pi, joined here to the login host's connection
            pi = SshSession(cfg.client.ssh, accept_new=accept_new)
            pi.role = "client host"
            pi.open()
            holder["pi"] = pi
            holder["fwd"] = RemoteForward(pi, opener, port, exact=True).start()
            state.update(client_host=pi.name)

    def opener(origin):  # type: ignore[no-untyped-def]
        return holder["session"].open_forward("127.0.0.1", remote_port, origin)

    def alive() -> bool:
        return holder["session"].alive and ("pi" not in holder or holder["pi"].alive)

    def disconnect() -> None:
        if "pi" in holder:
            holder["fwd"].close()
            holder.pop("pi").close()
        holder["session"].close()

    try:
        cfg = load_config(hosts)
        connect()
        if "pi" in holder:
            fwd = holder["fwd"]
        else:
            fwd = LocalForward(opener, ("127.0.0.1", remote_port), port, exact=True)
            fwd.start()
    except SockdeployError as exc:
        state.update(status="failed", error=exc.to_dict())
        _write(state_path, state)
        return exc.exit_code
    state.update(status="ready", listen=fwd.addresses)
    _write(state_path, state)
    backoff = 1.0
    try:
        while not stopping:
            if alive():
                backoff = 1.0
                state.update(status="ready", heartbeat=time.time())
            else:
                state.update(status="reconnecting")
                _write(state_path, state)
                try:
                    disconnect()
                    connect()
                    fwd = holder.get("fwd", fwd)
                    state["reconnects"] += 1
                    continue
                except SockdeployError as exc:
                    state["last_error"] = exc.headline()
                    time.sleep(min(backoff, 30))
                    backoff *= 2
                    continue
            _write(state_path, state)
            for _ in range(int(HEARTBEAT * 10)):
                if stopping or not alive():
                    break
                time.sleep(0.1)
    finally:
        fwd.close()
        disconnect()
        state_path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(_daemon(args[0], int(args[1]), Path(args[2]), "--accept-new" in args, int(args[3])))
