"""What `--via auto` learned about a network: a blocked direct path is remembered for a while.

Off campus, every `auto` run would otherwise wait out the 3 s direct probe
before taking the tunnel. The verdict is kept per network (the default
route to the server: its gateway, and the server's address) in the user's state folder; a
remembered "blocked" skips the probe for REMEMBER_FOR, after which a run
probes again. It is not re-probed in the background: a probe that reached the
student's server once it listens would show up in its output.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

REMEMBER_FOR = 1800.0  # seconds a "blocked" verdict is trusted
ROUTES = Path("/proc/net/route")


def memory_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sockdeploy" / "paths.json"


def route_to(server_ip: str, routes: Path = ROUTES) -> Optional[str]:
    """The gateway (or interface, for a directly attached network) this machine reaches SERVER_IP through.

    It names the network the client is on: the most specific IPv4 route that covers the server.
    """
    try:
        lines = routes.read_text().splitlines()[1:]
        target = struct.unpack("<L", socket.inet_aton(server_ip))[0]
    except (OSError, ValueError):
        return None
    best: Optional[Tuple[int, str]] = None
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        dest, gateway, mask = int(fields[1], 16), int(fields[2], 16), int(fields[7], 16)
        if target & mask == dest & mask and (best is None or bin(mask).count("1") > best[0]):
            name = socket.inet_ntoa(struct.pack("<L", gateway)) if gateway else f"dev {fields[0]}"
            best = (bin(mask).count("1"), name)
    return best[1] if best else None


def network_key(server_ip: str) -> Optional[str]:
    via = route_to(server_ip)
    return f"{via}->{server_ip}" if via else None


def _load(path: Path) -> Dict[str, Dict[str, float]]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def remembered_blocked(server_ip: str, now: Optional[float] = None) -> Optional[float]:
    """When the direct path to SERVER_IP was last found blocked from this network, if recently; else None."""
    key = network_key(server_ip)
    if key is None:
        return None
    entry = _load(memory_file()).get(key) or {}
    when = entry.get("blocked")
    if isinstance(when, (int, float)) and (now or time.time()) - when < REMEMBER_FOR:
        return float(when)
    return None


def remember(server_ip: str, blocked: bool) -> None:
    """Write what the probe found for this network (a private file, replaced atomically)."""
    key = network_key(server_ip)
    if key is None:
        return
    path = memory_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = _load(path)
        if blocked:
            data[key] = {"blocked": time.time()}
        else:
            data.pop(key, None)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(data))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError:
        pass  # a memory is a convenience: without it the next run probes again
