"""The hosts.yaml a lab writes so sockdeploy can reach its server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from sockdeploy.lab.templates import render


@dataclass(frozen=True)
class HostsFile:
    """A lab server's hosts.yaml; without `identity` sockdeploy asks the person to log in."""

    host: str
    port: int
    user: str
    known_hosts: Path
    workdir: Path
    identity: Optional[Path] = None

    def render(self, via: str = "direct", vpn_gateway: Optional[str] = None) -> str:
        """Return the file's text for network path `via`, naming `vpn_gateway` when given."""
        return render("hosts.yaml", host=self.host, port=self.port, user=self.user, known_hosts=self.known_hosts,
                      workdir=self.workdir, via=via,
                      identity=f"  identity: {self.identity}\n" if self.identity else "",
                      vpn=f"  vpn:\n    gateway: {vpn_gateway}\n" if vpn_gateway else "")

    def write(self, target: Path, via: str = "direct", vpn_gateway: Optional[str] = None) -> Path:
        """Write the file to `target` and return that path."""
        target.write_text(self.render(via, vpn_gateway))
        return target
