"""Build a program in a run folder (the server's or the client's build command from payload.yaml)."""

from __future__ import annotations

from typing import Optional

from sockdeploy.errors import BuildError, ScriptTimeout
from sockdeploy.remote.host import CommandResult
from sockdeploy.run.workspace import Workspace, in_workspace, refuse_changed

BUILD_TIMEOUT = 180.0


def build(ws: Workspace, command: Optional[str], what: str) -> Optional[CommandResult]:
    """Run a build command in the workspace; compiler errors raise BuildError with its lines."""
    if not command:
        return None
    try:
        result = ws.host.run(in_workspace(ws, "workspace_build.sh", [command]), timeout=BUILD_TIMEOUT)
    except ScriptTimeout as exc:
        raise BuildError(f"building the {what} on {ws.host.name} took longer than {BUILD_TIMEOUT:.0f} s",
                         "check the build command in payload.yaml", command=command, output=exc.partial.output) from None
    refuse_changed(ws, result)
    if result.exit_status != 0:
        raise BuildError(
            f"building the {what} failed on the {ws.host.role} {ws.host.name} (exit status {result.exit_status})",
            "fix the compiler errors shown above and run again",
            command=command, exit_status=result.exit_status, output=result.output,
        )
    return result
