"""The campus firewall: course ports only from the VPN pool or campus itself, everything else to SSH/VPN."""

from __future__ import annotations

from sockdeploy.lab.addresses import CAMPUS_NET, COURSE_PORTS, VPN_POOL, VPN_SERVER_DEVICE
from sockdeploy.lab.commands import must
from sockdeploy.lab.namespaces import Namespaces
from sockdeploy.lab.programs import find_tool
from sockdeploy.lab.templates import render


def firewall_rules() -> str:
    """Return the campus firewall as iptables-restore input."""
    low, high = COURSE_PORTS
    return render("firewall.rules", vpn_device=VPN_SERVER_DEVICE, vpn_pool=VPN_POOL, campus_net=CAMPUS_NET,
                  ports=f"{low}:{high}")


def load_firewall(namespaces: Namespaces) -> None:
    """Load the rules into the campus namespace (they vanish with it)."""
    restore = find_tool("iptables-restore") or "iptables-restore"
    must(namespaces.inside(namespaces.campus, [restore]), "loading the campus firewall", input=firewall_rules())
