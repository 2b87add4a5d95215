"""One script on several hosts at once, over their open sessions (Fabric's ThreadingGroup)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, List, Sequence, Union

from sockdeploy.errors import ConnectError, ScriptTimeout
from sockdeploy.remote.host import CommandResult
from sockdeploy.ssh.command import wrap_script
from sockdeploy.ssh.shellstart import new_marker, strip_before_marker

if TYPE_CHECKING:
    from sockdeploy.ssh.session import SshSession


def run_on_hosts(sessions: Sequence[SshSession], script: str, *, timeout: float = 60) -> List[Union[CommandResult, ConnectError]]:
    """Run one POSIX sh script on several open sessions at once (Fabric's ThreadingGroup); one result per session.

    Each session must be open and reach a different host; a session that fails
    gives a ConnectError in its place instead of stopping the others.
    """
    from fabric import ThreadingGroup
    from fabric.exceptions import GroupException

    conns = [s._conn for s in sessions]
    if any(c is None or not s.alive for s, c in zip(sessions, conns)) or len(set(conns)) < len(conns):
        # a closed session, or two on one host (Fabric keys its results by user@host:port): one at a time
        return [_run_one(s, script, timeout) for s in sessions]
    group = ThreadingGroup.from_connections(conns)
    marker = new_marker()  # what a login shell's start-up files print comes before it
    try:
        # an empty stdin: end of file at once, so a start-up file's `read` does not wait for the timeout
        results = group.run(wrap_script(script, marker), hide=True, warn=True, in_stream=io.StringIO(""), timeout=timeout)
    except GroupException as exc:
        results = exc.result
    out: List[Union[CommandResult, ConnectError]] = []
    for session, conn in zip(sessions, conns):
        result = results.get(conn)
        if result is None or isinstance(result, BaseException):
            out.append(ConnectError(f"running a check on {session.name} failed: {result or 'no result'}",
                                    "check your network and the host, then run again"))
        else:
            out.append(CommandResult(strip_before_marker(result.stdout, marker), result.stderr, result.exited))
    return out


def _run_one(session: SshSession, script: str, timeout: float) -> Union[CommandResult, ConnectError]:
    try:
        return session.run(script, timeout=timeout)
    except ConnectError as exc:
        return exc
    except ScriptTimeout:
        return ConnectError(f"a check on {session.name} did not finish within {timeout:g} s", "check the host's load")
