"""`sockdeploy lab up|down|status|exec`: keep a lab running in the background between commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from sockdeploy.errors import LabError

START_TIMEOUT = 90.0


def state_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    d = Path(base) / "sockdeploy"
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d / "lab.json"


def choose_kind(wanted: str = "auto") -> tuple:
    """Return (kind, note): the campus lab when root with namespaces, else the loopback lab."""
    from sockdeploy.lab.campus import campus_available

    ok, reason = campus_available()
    if wanted == "campus" and not ok:
        raise LabError(f"the campus lab cannot start here: {reason}", "run as root on Linux, or use the loopback lab (lab up --kind loopback)")
    if wanted == "loopback" or not ok:
        note = "" if wanted == "loopback" else f"campus lab unavailable ({reason}); using the loopback lab: no firewall, no VPN"
        return "loopback", note
    return "campus", ""


def read_state() -> Optional[Dict[str, Any]]:
    path = state_file()
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return None
    pid = int(data.get("pid", 0))
    try:
        os.kill(pid, 0)
        data["running"] = True
    except (ProcessLookupError, PermissionError):
        data["running"] = False
    return data


def up(kind: str = "auto") -> Dict[str, Any]:
    current = read_state()
    if current and current.get("running"):
        raise LabError(f"a lab is already up (pid {current['pid']}, {current.get('kind')})", "use it, or take it down: sockdeploy lab down")
    state_file().unlink(missing_ok=True)
    chosen, note = choose_kind(kind)
    log = state_file().with_suffix(".log")
    with open(log, "ab") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "sockdeploy.daemons.lab", chosen], stdin=subprocess.DEVNULL,
                                stdout=fh, stderr=fh, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        data = read_state()
        if data and data.get("status") == "up":
            data["note"] = note
            return data
        if data and data.get("status") == "failed":
            state_file().unlink(missing_ok=True)
            raise LabError(data.get("error", "the lab failed to start"), f"see {log}")
        if proc.poll() is not None:
            raise LabError(f"the lab process exited at start (status {proc.returncode})", f"see {log}")
        time.sleep(0.2)
    down()
    raise LabError(f"the lab did not come up within {START_TIMEOUT:g} s", f"see {log}")


def down() -> bool:
    data = read_state()
    if not data:
        return False
    if data.get("running"):
        os.kill(int(data["pid"]), signal.SIGTERM)
        for _ in range(300):
            try:
                os.kill(int(data["pid"]), 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
    state_file().unlink(missing_ok=True)
    return True


def exec_prefix(data: Dict[str, Any]) -> List[str]:
    """The argv prefix that runs a command 'on the Pi' (the home namespace, if any)."""
    ns = data.get("home_ns")
    return ["ip", "netns", "exec", ns] if ns else []


def _keeper(kind: str) -> int:
    """The background side: start the lab, publish its state, stop it on SIGTERM."""
    stop: List[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    path = state_file()
    state: Dict[str, Any] = {"pid": os.getpid(), "kind": kind, "status": "starting"}
    try:
        if kind == "campus":
            from sockdeploy.lab.campus import CampusLab

            lab: Any = CampusLab()
            lab.start()
            hosts = lab.write_hosts("auto") if hasattr(lab, "write_hosts") else lab.hosts_file
            state.update(home_ns=lab.home_ns, campus_ns=lab.campus_ns, server=lab.server_name, server_ip=lab.server_ip,
                         gateway=lab.gateway)
        else:
            from sockdeploy.lab.loopback import LoopbackLab

            lab = LoopbackLab()
            lab.start()
            hosts = lab.hosts_file
            state.update(server=f"localhost:{lab.port}")
        state.update(status="up", hosts_file=str(hosts), dir=str(lab.dir) if hasattr(lab, "dir") else None)
    except Exception as exc:  # report any start failure to the waiting `lab up`
        state.update(status="failed", error=str(getattr(exc, "message", exc)))
        path.write_text(json.dumps(state))
        return 7
    path.write_text(json.dumps(state))
    try:
        while not stop:
            time.sleep(0.2)
    finally:
        lab.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_keeper(sys.argv[1]))
