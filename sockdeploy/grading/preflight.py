"""The check each server host passes before a batch uses it: base directory, build tools, crashed runs swept."""

from __future__ import annotations

import shlex
from typing import Any, List, Optional, Sequence

from sockdeploy.errors import RemoteError, SockdeployError
from sockdeploy.remote import marker
from sockdeploy.remote.scripts import load
from sockdeploy.run import server as process

PREFLIGHT = "grading_preflight.sh"


def preflight_script(workdir: str, tools: Sequence[str]) -> str:
    """Return the per-host check: the workdir can be made, the server's build tools exist, crashed runs are swept."""
    words = ["/bin/sh", "-c", load(PREFLIGHT), PREFLIGHT, workdir, *tools]
    return " ".join(shlex.quote(w) for w in words) + "\n" + process.sweep_script(workdir)


def preflight_error(host: str, result: Any) -> Optional[SockdeployError]:
    """Return why `host` cannot take part (its preflight's result says so), or None."""
    if isinstance(result, SockdeployError):
        return result
    errs = marker.values(result.stdout, "ERR")
    missing = marker.values(result.stdout, "MISSING")
    if errs:
        return RemoteError(f"{host}: {errs[0]}", "check server.workdir in hosts.yaml and free space there")
    if missing:
        return RemoteError(f"{host} lacks {', '.join(missing)}, which the submissions' server builds need",
                           "install it there, or drop the host from servers: in hosts.yaml")
    return None


def cleaned(result: Any) -> List[str]:
    """Return the leftovers of crashed runs a preflight or sweep removed (none when it failed)."""
    if isinstance(result, SockdeployError):
        return []
    return marker.values(result.stdout, "CLEANED")
