"""What the user's ssh config says about reaching a host: HostName, Port, ProxyJump, ProxyCommand.

The file the session would read (server.ssh_config, or ~/.ssh/config unless
it is "none") is scanned for those keys in matching `Host` blocks, first
value wins as in ssh. `Match` and `Include` are not evaluated (paramiko does
not follow Include either).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

from sockdeploy.spec.hosts import ServerConfig

ROUTE_KEYS = ("hostname", "port", "proxyjump", "proxycommand")


def ssh_config_file(server: ServerConfig) -> Optional[Path]:
    """Return the ssh config the session would read, if there is one."""
    if server.ssh_config == "none":
        return None
    path = Path(server.ssh_config or os.path.join(os.path.expanduser("~"), ".ssh", "config"))
    return path if path.is_file() else None


def ssh_config_route(path: Optional[Path], host: str) -> Dict[str, Tuple[str, str]]:
    """Return {key: (value, "FILE:LINE")} for hostname/port/proxyjump/proxycommand set for `host`."""
    found: Dict[str, Tuple[str, str]] = {}
    if path is None:
        return found
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return found
    applies = True  # lines before the first Host apply to every host
    for no, raw in enumerate(lines, 1):
        m = re.match(r"\s*([A-Za-z]+)\s*(?:=\s*|\s+)(.*?)\s*$", raw)
        if not m or raw.lstrip().startswith("#"):
            continue
        key, value = m.group(1).lower(), m.group(2)
        if key == "host":
            applies = _host_matches(host, _patterns(value))
        elif key == "match":
            applies = False  # not evaluated; see the module docstring
        elif applies and key in ROUTE_KEYS and key not in found:
            found[key] = (value.strip('"').replace("%h", host), f"{path}:{no}")
    # "none" still counts as set (first value wins), but means no proxy
    return {k: v for k, v in found.items() if not (k.startswith("proxy") and v[0].lower() == "none")}


def _patterns(value: str) -> Sequence[str]:
    try:
        return shlex.split(value, comments=True)
    except ValueError:  # an unbalanced quote: ssh would refuse the file; read it plainly
        return value.split()


def _host_matches(host: str, patterns: Sequence[str]) -> bool:
    host = host.lower()
    matched = False
    for pat in patterns:
        negated = pat.startswith("!")
        if fnmatch.fnmatchcase(host, pat.lstrip("!").lower()):
            if negated:
                return False  # ssh: a matching negation rules the whole line out
            matched = True
    return matched
