"""One doctor check's result, the check names in their order, and the error class each stands for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple, Type

from sockdeploy.errors import BuildError, ConfigError, ConnectError, NetworkPathError, SockdeployError

OK, FAIL, WARN, SKIP = "ok", "fail", "warn", "skip"
RESULTS = (OK, FAIL, WARN, SKIP)

CONFIG = "config"
RESOLVE = "name resolution"
SSH_PORT = "ssh port"
HOST_KEY = "host key"
LOGIN = "login"
TOOLS = "server tools"
FREE_PORT = "free port"
FORWARDING = "forwarding"
CLIENT = "client host"
VPN = "vpn"
DIRECT = "direct reach"
ORDER: Tuple[str, ...] = (CONFIG, RESOLVE, SSH_PORT, HOST_KEY, LOGIN, TOOLS, FREE_PORT, FORWARDING, CLIENT, VPN, DIRECT)

# A failing check stands for the domain error the same problem raises during a run.
CHECK_ERRORS: Dict[str, Type[SockdeployError]] = {
    CONFIG: ConfigError, RESOLVE: ConnectError, SSH_PORT: ConnectError, HOST_KEY: ConnectError, LOGIN: ConnectError,
    TOOLS: BuildError, FREE_PORT: NetworkPathError, FORWARDING: NetworkPathError, CLIENT: ConnectError,
    VPN: NetworkPathError, DIRECT: NetworkPathError,
}
EXIT_CODES: Dict[str, int] = {name: error.exit_code for name, error in CHECK_ERRORS.items()}


@dataclass(frozen=True)
class Check:
    """One check's name, result (ok, fail, warn, skip), what it found, and how to fix a failure."""

    name: str
    result: str
    detail: str
    fix: str = ""

    @property
    def error(self) -> Optional[Type[SockdeployError]]:
        """Return the error class a failed check stands for (None unless it failed)."""
        if self.result != FAIL:
            return None
        return CHECK_ERRORS.get(self.name, SockdeployError)
