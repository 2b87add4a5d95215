"""The network path: check the VPN, probe the server's port, and settle how the clients reach it."""

from __future__ import annotations

import time
from typing import Any, Dict, Optional

from sockdeploy.errors import NetworkPathError
from sockdeploy.net import vpn
from sockdeploy.run import netpath as paths
from sockdeploy.run import pathmemory
from sockdeploy.run.context import RunContext
from sockdeploy.run.record import ProbeRecord, VpnCheckRecord


def require_vpn(ctx: RunContext, ip: str) -> None:
    """Fail unless the VPN is up and routes to `ip` (checked from the client host)."""
    facts = vpn.remote_facts(ctx.pi, ip) if ctx.pi is not None else None
    checks = vpn.vpn_checks(ip, ctx.cfg.network.vpn_gateway if ctx.cfg else vpn.DEFAULT_GATEWAY, facts)
    ctx.record.vpn_checks = [VpnCheckRecord(c.name, c.ok, c.detail, c.fix) for c in checks]
    failed = vpn.first_failure(checks)
    if failed is not None:
        raise NetworkPathError(f"--via vpn: {failed.name}: no ({failed.detail})", failed.fix)


def choose_path(ctx: RunContext, port: int, values: Dict[str, Any]) -> None:
    """Decide how the client reaches the server's port; runs before the server takes the port."""
    assert ctx.cfg is not None and ctx.session is not None
    found: Optional[paths.Probe] = None
    chosen = ctx.via
    remembered = _remembered(ctx, values["ip"], port) if ctx.via == "auto" and ctx.pi is None else None
    if remembered is None and ctx.via in ("direct", "vpn", "auto"):
        ip = values["ip"]
        with ctx.progress.step(f"probe {ip}:{port} from here") as shown:
            found = paths.probe_from(ctx.pi, ip, port) if ctx.pi is not None else paths.probe(ip, port)
            if not found.reachable:
                shown.set("blocked" if found.outcome == "timeout" else "unreachable", False)
        ctx.progress.info(found.describe())
        ctx.record.probe = ProbeRecord(target=f"{ip}:{port}", outcome=found.outcome)
        if ctx.via == "auto" and ctx.pi is None:
            pathmemory.remember(ip, not found.reachable)
        if found.reachable:
            chosen = "vpn" if ctx.via == "vpn" else "direct"
        elif ctx.via != "auto":
            hint = (f"the VPN is up but does not let you reach port {port}; use --via tunnel" if ctx.via == "vpn"
                    else paths.blocked_hint(ctx.cfg.network.vpn_gateway))
            raise NetworkPathError(f"cannot reach {ip}:{port} from this machine: {found.describe()}", hint)
    if chosen == "auto":  # blocked now, or remembered as blocked
        chosen = "tunnel"
        with ctx.progress.step("check that the server host allows forwarding"):
            ctx.session.check_forwarding()
    ctx.record.via = chosen
    ctx.record.via_reason = remembered or paths.describe_choice(ctx.via, chosen, found)


def _remembered(ctx: RunContext, ip: str, port: int) -> Optional[str]:
    """The reason to take the tunnel at once (this network was found blocked lately), or None."""
    when = pathmemory.remembered_blocked(ip)
    if when is None:
        return None
    minutes = max(1, round((time.time() - when) / 60))
    ctx.progress.info(f"auto: {ip}:{port} was blocked from this network {minutes} min ago; taking the tunnel "
                      f"without the 3 s probe (probed again after {pathmemory.REMEMBER_FOR / 60:g} min)")
    return f"auto: remembered that the direct path was blocked from this network {minutes} min ago -> tunnel"


def adopt_port(ctx: RunContext, port: int, probed: bool) -> None:
    """The server listens on `port`, not on the port the path was chosen for (`probed`: that one was probed).

    The tunnel and a direct or VPN path the person chose carry any port. auto
    takes the tunnel unless the probe spoke for this port too (same course
    range): probing now would land on the running server, which may serve
    just one client.
    """
    assert ctx.cfg is not None and ctx.session is not None
    if ctx.via != "auto":
        ctx.record.via = ctx.via
        ctx.record.via_reason = ctx.record.via_reason or paths.describe_choice(ctx.via, ctx.via, None)
        return
    low, high = ctx.cfg.network.ports
    if ctx.record.via == "tunnel" or (probed and ctx.record.via in ("direct", "vpn") and low <= port <= high):
        return
    with ctx.progress.step("check that the server host allows forwarding"):
        ctx.session.check_forwarding()
    ctx.record.via = "tunnel"
    ctx.record.via_reason = (f"auto: the server listens on port {port}, which no probe tried (a probe now would reach "
                             "the running server) -> tunnel")
