"""Why the tunnel could not reach the server: where the server listens, from /proc/net/tcp's addresses."""

from __future__ import annotations

import shlex
import types
from datetime import datetime, timezone
from typing import List, Tuple

from sockdeploy.errors import ForwardConnectFailed
from sockdeploy.output.progress import Progress
from sockdeploy.output.runfolder import RunFolder
from sockdeploy.remote import scripts
from sockdeploy.remote.host import CommandResult
from sockdeploy.run import tunnelcause
from sockdeploy.run.context import RunContext, RunOptions
from sockdeploy.run.record import RunRecord
from sockdeploy.run.signals import SignalHold
from sockdeploy.spec import payload as payload_mod


def test_proc_net_addresses_are_decoded() -> None:
    assert tunnelcause.decode("0100007F:7530") == ("127.0.0.1", 30000)
    assert tunnelcause.decode("0500000A:7531") == ("10.0.0.5", 30001)
    assert tunnelcause.decode("00000000000000000000000000000000:7530") == ("::", 30000)
    assert tunnelcause.decode("00000000000000000000000001000000:0016") == ("::1", 22)
    assert tunnelcause.decode("nonsense") is None


class Session:
    name = "login"
    alive = True

    def __init__(self, listing: str) -> None:
        self.listing = listing
        self.calls: List[Tuple[str, object]] = []

    def run(self, script: str, *, stdin=None, timeout=None) -> CommandResult:  # type: ignore[no-untyped-def]
        self.calls.append((script, stdin))
        return CommandResult(self.listing, "", 0)


def _ctx(tmp_path) -> RunContext:  # type: ignore[no-untyped-def]
    ctx = RunContext(payload=payload_mod.resolve("ex5"), cfg=None, opts=RunOptions(), progress=Progress(quiet=True),
                     folder=RunFolder(tmp_path, datetime.now(timezone.utc)),
                     record=RunRecord(target="ex5", started="2026-11-21T10:00:00Z"), hold=SignalHold())
    refused = ForwardConnectFailed("login could not connect to 127.0.0.1:30000 for the tunnel: Connection refused")
    refused.reason = "connection refused"
    ctx.tunnel_errors = [refused]
    ctx.server.proc = types.SimpleNamespace(pid=4242)  # type: ignore[assignment]
    ctx.server.must_exit = True
    return ctx


def test_a_server_listening_only_where_the_tunnel_cannot_reach_is_the_cause(tmp_path) -> None:
    ctx = _ctx(tmp_path)
    tunnelcause.explain(ctx, Session("0500000A:7530\n0100007F:9C40\n"), 30000)  # type: ignore[arg-type]
    assert ctx.tunnel_cause is not None and ctx.tunnel_cause.exit_code == 5
    assert ctx.tunnel_cause.message == ("the tunnel could not reach 127.0.0.1:30000 on login: connection refused; "
                                        "the server listens on 10.0.0.5:30000 only")
    assert not ctx.server.must_exit  # nothing to wait for


def test_a_server_the_tunnel_can_reach_or_that_is_gone_is_not_the_tunnels_fault(tmp_path) -> None:
    for listing in ("00000000:7530\n", "00000000000000000000000000000000:7530\n", ""):
        ctx = _ctx(tmp_path)
        tunnelcause.explain(ctx, Session(listing), 30000)  # type: ignore[arg-type]
        assert ctx.tunnel_cause is None and ctx.server.must_exit


def test_a_server_no_longer_listening_is_named_in_the_tunnels_error(tmp_path) -> None:
    ctx = _ctx(tmp_path)
    tunnelcause.explain(ctx, Session(""), 30000)  # type: ignore[arg-type]
    assert ctx.tunnel_cause is None  # its own verdict (a crash, an early end) comes first
    assert ctx.tunnel_errors[0].message == (
        "the tunnel could not reach 127.0.0.1:30000 on login: connection refused; nothing listened on that port "
        "any more (the server had ended or closed its socket)")


def test_the_server_is_found_by_the_runs_token_on_stdin_never_the_command_line(tmp_path) -> None:
    ctx = _ctx(tmp_path)
    session = Session("0500000A:7530\n")
    tunnelcause.explain(ctx, session, 30000)  # type: ignore[arg-type]
    [(script, stdin)] = session.calls
    assert stdin == f"{ctx.token}\n".encode() and ctx.token not in script
    # after run_procs.sh (tagged_pids), with the server's group for the fallback as its argument
    shell, flag, text, name, pgid = shlex.split(script)
    assert text == scripts.load("run_procs.sh") + "\n" + scripts.load("server_listen_addresses.sh")
    assert (name, pgid) == ("server_listen_addresses.sh", "4242")
