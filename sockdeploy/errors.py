"""Domain errors, each carrying its exit code, and the one map of exit codes (EXIT_CODES, exit_code_for).

Library code raises these; only the CLI turns them into exit codes.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional

if TYPE_CHECKING:  # only for annotations: errors.py imports nothing of sockdeploy at run time
    from sockdeploy.remote.host import CommandResult
    from sockdeploy.run.runtag import Stray
    from sockdeploy.run.server import ServerProcess


class SockdeployError(Exception):
    """Base of every error a user can cause or meet; carries a hint and context."""

    exit_code = 1
    kind = "error"

    def __init__(
        self,
        message: str,
        hint: Optional[str] = None,
        *,
        where: Optional[str] = None,
        command: Optional[str] = None,
        exit_status: Optional[int] = None,
        output: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.where = where
        self.command = command
        self.exit_status = exit_status
        self.output = output

    def headline(self) -> str:
        """Return the one-line 'what and where' of this error."""
        return f"{self.where}: {self.message}" if self.where else self.message

    def to_dict(self) -> Dict[str, Any]:
        """Return the error as run.json records it: kind, message, hint."""
        return {"kind": self.kind, "message": self.headline(), "hint": self.hint}


class ConfigError(SockdeployError):
    exit_code = 2
    kind = "config"


class UsageError(SockdeployError):
    exit_code = 2
    kind = "usage"


class PayloadError(SockdeployError):
    exit_code = 2
    kind = "payload"


class ConnectError(SockdeployError):
    exit_code = 3
    kind = "ssh"


class HostKeyError(ConnectError):
    kind = "host-key"


class ConnectionLost(ConnectError):
    """An SSH connection of the run died (reset, closed by the host, or silent past the keepalives)."""

    kind = "connection-lost"


class WatchdogFired(ConnectError):
    """A host's watchdog heard no heartbeat (sockdeploy was stopped or hung) and stopped the run there."""

    kind = "watchdog"


class LoginShellSilent(ConnectError):
    """The login shell did not start the command in time (a start-up file that waits for input)."""

    kind = "login-shell"


class AuthError(ConnectError):
    kind = "auth"


class BuildError(SockdeployError):
    exit_code = 4
    kind = "build"


class NetworkPathError(SockdeployError):
    exit_code = 5
    kind = "network"


class ProgramError(SockdeployError):
    exit_code = 6
    kind = "program"


class ExpectationsFailed(ProgramError):
    """The programs ran, but their logs lack what payload.yaml's expect section asks for."""
    kind = "expectations"


class ChecksFailed(ExpectationsFailed):
    """The programs ran, but a check of payload.yaml's checks: section failed (a student's own programs)."""
    kind = "checks"


class RemoteError(SockdeployError):
    """A remote housekeeping command failed (disk full, unwritable workdir...)."""

    exit_code = 3
    kind = "remote"


class RunDirChanged(RemoteError):
    """A run folder is no longer the private folder sockdeploy made (its owner, mode or inode changed)."""

    kind = "run-dir-changed"


class UnsafeWorkdir(ConfigError):
    """The work folder can be written by other users, who could swap a run folder made in it."""

    kind = "unsafe-workdir"


class Interrupted(SockdeployError):
    exit_code = 130
    kind = "interrupted"


class Terminated(Interrupted):
    exit_code = 143
    kind = "terminated"


class HangUp(Interrupted):
    """SIGHUP: the terminal, or the SSH session to the Pi, was closed mid-run."""

    exit_code = 129
    kind = "hangup"


class LabError(SockdeployError):
    exit_code = 7
    kind = "lab"


class InternalError(SockdeployError):
    """A fault in sockdeploy itself; its traceback is kept in a file the message names."""

    exit_code = 1
    kind = "internal"


class SourceChanged(UsageError):
    """A source that ran differs from the checksum its run.json recorded; it cannot be submitted as run."""

    kind = "source-changed"


class ForwardingForbidden(ConnectError):
    """The SSH server refuses port forwarding (AllowTcpForwarding no)."""

    kind = "forwarding-forbidden"
    exit_code = 5


class ForwardConnectFailed(ConnectError):
    """The login host could not connect to the forward's destination."""

    kind = "forward-connect"
    exit_code = 5
    reason = ""  # sshd's words for why ("connection refused"), when it gave them


# Internal signals between library layers. Their catchers turn them into the
# domain errors above; none reaches the CLI.

class ScriptTimeout(Exception):
    """A script ran longer than its timeout (the caller maps it to a domain error)."""

    def __init__(self, partial: CommandResult) -> None:
        super().__init__("timed out")
        self.partial = partial


class HelperUnavailable(Exception):
    """The remote helper could not start (no python3); nothing was run."""


class HelperLost(Exception):
    """The remote helper's channel ended while a script ran; whether it finished is unknown."""


class ServerExited(Exception):
    """The server ended before it listened (`strays`: the processes it left running, since stopped)."""

    def __init__(self, status: Optional[int], log: str, strays: Optional[List[Stray]] = None) -> None:
        super().__init__(f"server exited with status {status}")
        self.status, self.log, self.strays = status, log, list(strays or [])


class PortTaken(Exception):
    """Another process (not the run's) holds the server's port, and the server does not listen on it."""

    def __init__(self, proc: ServerProcess, running: bool, status: Optional[int], log: str,
                 strays: Optional[List[Stray]] = None) -> None:
        super().__init__("port taken")
        self.proc, self.running, self.status, self.log = proc, running, status, log
        self.strays = list(strays or [])


class ServerNotListening(Exception):
    """The server did not listen within the wait."""

    def __init__(self, proc: ServerProcess, waited: float) -> None:
        super().__init__("server not listening")
        self.proc, self.waited = proc, waited


# -- grading (batch): what a whole batch ends with ------------------------------------

class SubmissionsFailed(ProgramError):
    """The batch ran, but some submissions did not pass (their builds, programs or expectations)."""

    kind = "submissions"


# -- exit codes (cli area): the one map the CLI and its --help epilog use --------------------------

EXIT_OK = 0
EXIT_UNEXPECTED = 1

#: Every exit code sockdeploy uses and what it means; `exit_code_for` picks one for an error.
EXIT_CODES: Dict[int, str] = {
    EXIT_OK: "ok",
    EXIT_UNEXPECTED: "internal error (a fault in sockdeploy; its traceback is kept in a file)",
    ConfigError.exit_code: "config/usage",
    ConnectError.exit_code: "SSH connection/authentication/host key",
    BuildError.exit_code: "build",
    NetworkPathError.exit_code: "network path",
    ProgramError.exit_code: "the programs failed or timed out",
    LabError.exit_code: "lab",
    Interrupted.exit_code: "interrupted (Ctrl-C)",
    Terminated.exit_code: "terminated (SIGTERM)",
    HangUp.exit_code: "hung up (SIGHUP: the terminal or SSH session closed)",
}


def exit_code_for(error: BaseException) -> int:
    """Return the exit code the CLI ends with for `error`."""
    if isinstance(error, SockdeployError):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return Interrupted.exit_code
    return EXIT_UNEXPECTED


def exit_codes_text() -> str:
    """Return EXIT_CODES as one sentence, for --help and the README."""
    return "Exit codes: " + ", ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()) + "."


def internal_error(exc: BaseException, path: Path) -> InternalError:
    """Keep EXC's traceback in PATH and return the one-line error that names it."""
    try:
        path.write_text("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)), encoding="utf-8")
        where = str(path)
    except OSError:
        where = "(it could not be written)"
    return InternalError(f"internal error: {type(exc).__name__}: {exc}",
                         f"this is a fault in sockdeploy, not in your programs; please report it with {where}")
