"""Build a program in a run folder (the server's or the client's build command from payload.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from sockdeploy.errors import BuildError, ScriptTimeout
from sockdeploy.run.runtag import Stray, stdin_line, stop_strays, strays, without_strays
from sockdeploy.run.workspace import Workspace, in_workspace, refuse_changed

BUILD_TIMEOUT = 180.0


@dataclass
class Built:
    """A build that succeeded: what it printed, and the processes it left running (stopped since)."""

    output: str
    strays: List[Stray] = field(default_factory=list)


def build(ws: Workspace, command: Optional[str], what: str, token: Optional[str] = None) -> Optional[Built]:
    """Run a build command in the workspace; compiler errors raise BuildError with its lines.

    With the run's `token`, the build's processes carry it, and whatever of
    them outlives the build (a background job, a daemon) is stopped.
    """
    if not command:
        return None
    try:
        # workspace_check.sh reads no stdin: the token line reaches workspace_build.sh
        result = ws.host.run(in_workspace(ws, "workspace_build.sh", [command]), stdin=stdin_line(token),
                             timeout=BUILD_TIMEOUT)
    except ScriptTimeout as exc:
        # the build's process group is gone; what left it is found by the tag
        stop_strays(ws.host, token, "build")
        raise BuildError(f"building the {what} on {ws.host.name} took longer than {BUILD_TIMEOUT:.0f} s",
                         "check the build command in payload.yaml", command=command,
                         output=without_strays(exc.partial.output)) from None
    refuse_changed(ws, result)
    output = without_strays(result.output)
    if result.exit_status != 0:
        raise BuildError(
            f"building the {what} failed on the {ws.host.role} {ws.host.name} (exit status {result.exit_status})",
            "fix the compiler errors shown above and run again",
            command=command, exit_status=result.exit_status, output=output,
        )
    return Built(output=output, strays=strays(result.stdout))
