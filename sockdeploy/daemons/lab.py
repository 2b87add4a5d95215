"""`sockdeploy lab up|down|status|exec`: keep a lab running in the background between commands.

The background side (serve, run as `python -m sockdeploy.daemons.lab KIND`) exits
with LabError's exit code when the lab cannot start (see base.main).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from sockdeploy.daemons.base import StateFile, StopRequest, is_daemon, main, process_start, spawn, state_home, stop
from sockdeploy.errors import LabError

START_TIMEOUT = 90.0
STOP_WAIT = 30.0


def state_file() -> Path:
    """Return the path of the lab's state file."""
    return state_home() / "lab.json"


def choose_kind(wanted: str = "auto") -> Tuple[str, str]:
    """Return (kind, note): the campus lab when root with namespaces, else the loopback lab."""
    from sockdeploy.lab.campus import campus_available

    ok, reason = campus_available()
    if wanted == "campus" and not ok:
        raise LabError(f"the campus lab cannot start here: {reason}",
                       "run as root on Linux, or use the loopback lab (lab up --kind loopback)")
    if wanted == "loopback" or not ok:
        note = "" if wanted == "loopback" else f"campus lab unavailable ({reason}); using the loopback lab: no firewall, no VPN"
        return "loopback", note
    return "campus", ""


def read_state() -> Optional[Dict[str, Any]]:
    """Return the lab's state with `running` (whether its keeper process lives), or None without a lab."""
    data = StateFile(state_file()).read()
    if data is None:
        return None
    data["running"] = is_daemon(int(data.get("pid", 0)), data.get("pid_start"))
    return data


def up(kind: str = "auto") -> Dict[str, Any]:
    """Start a lab keeper in the background and wait until its lab is up; return its state.

    Raises LabError when a lab is up already, or when the lab fails to start.
    """
    current = read_state()
    if current and current.get("running"):
        raise LabError(f"a lab is already up (pid {current['pid']}, {current.get('kind')})",
                       "use it, or take it down: sockdeploy lab down")
    state = StateFile(state_file())
    state.remove()
    chosen, note = choose_kind(kind)
    proc = spawn("lab", [chosen], state.log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        data = read_state()
        if data and data.get("status") == "up":
            data["note"] = note
            return data
        if data and data.get("status") == "failed":
            state.remove()
            raise LabError(data.get("error", "the lab failed to start"), f"see {state.log}")
        if proc.poll() is not None:
            raise LabError(f"the lab process exited at start (status {proc.returncode})", f"see {state.log}")
        time.sleep(0.2)
    down()
    raise LabError(f"the lab did not come up within {START_TIMEOUT:g} s", f"see {state.log}")


def down() -> bool:
    """Stop the lab keeper (it takes its lab down); return whether there was a lab."""
    data = read_state()
    if not data:
        return False
    if data.get("running"):
        stop(int(data["pid"]), wait=STOP_WAIT, force=False, started=data.get("pid_start"))
    StateFile(state_file()).remove()
    return True


def exec_prefix(data: Dict[str, Any]) -> List[str]:
    """The argv prefix that runs a command 'on the Pi' (the home namespace, if any)."""
    ns = data.get("home_ns")
    return ["ip", "netns", "exec", ns] if ns else []


def _start_lab(kind: str, state: Dict[str, Any]) -> Any:
    """Start the lab of `kind`; add what `lab status` shows to `state`; return the lab."""
    lab: Any
    if kind == "campus":
        from sockdeploy.lab.campus import CampusLab

        lab = CampusLab()
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
    return lab


def serve(argv: List[str]) -> None:
    """The lab keeper: start the lab of kind argv[0], publish its state, stop it on SIGTERM.

    Raises LabError (after publishing it for the waiting `lab up`) when the lab cannot start.
    """
    stopping = StopRequest().install()
    state_path = StateFile(state_file())
    state: Dict[str, Any] = {"pid": os.getpid(), "pid_start": process_start(os.getpid()), "kind": argv[0],
                             "status": "starting"}
    try:
        lab = _start_lab(argv[0], state)
    except Exception as exc:  # report any start failure to the waiting `lab up`
        message = str(getattr(exc, "message", exc))
        state.update(status="failed", error=message)
        state_path.write(state)
        raise LabError(message) from exc
    state_path.write(state)
    try:
        while not stopping.wait(3600):
            pass
    finally:
        lab.stop()


if __name__ == "__main__":
    main(serve)
