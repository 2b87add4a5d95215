"""What the doctor's checks learned so far and share: the server's addresses, a free port, the client host."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from sockdeploy.doctor.report import Report
from sockdeploy.spec.hosts import Config
from sockdeploy.ssh.session import SshSession
from sockdeploy.ssh.terminal import Prompt


@dataclass
class Findings:
    """The config, the report being written, and the facts later checks build on."""

    cfg: Config
    report: Report
    prompt: Optional[Prompt] = None
    addresses: List[str] = field(default_factory=list)  # the server's, from name resolution
    server_ip: Optional[str] = None
    free_port: Optional[int] = None  # on the server host, for the direct reach probe
    client: Optional[SshSession] = None  # the client host's open session, when it is reached over SSH

    @property
    def via(self) -> str:
        return self.cfg.network.via

    @property
    def gateway(self) -> str:
        return self.cfg.network.vpn_gateway
