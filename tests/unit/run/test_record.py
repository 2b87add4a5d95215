"""run.json from typed records: the same keys and values as before, plus "schema", and back."""

from __future__ import annotations

import json

from sockdeploy.run.record import (
    SCHEMA,
    ClientRecord,
    ErrorRecord,
    ExpectationRecord,
    ProbeRecord,
    RunRecord,
    ServerRecord,
    SshRecord,
    TimelineRecord,
    TunnelRecord,
    VpnCheckRecord,
)

# The keys run.json had before the typed record (read off the orchestrator that built it as a dict).
TODAY_TOP = {"ok", "target", "payload_dir", "description", "started", "started_exact", "finished", "via", "via_reason",
             "run_dir", "connect_host", "client_host", "server", "clients", "sources", "sources_dir", "ssh", "error"}
TODAY_OPTIONAL = {"client_ssh", "cleaned_stale_runs", "vpn_checks", "probe", "tunnel", "expectations",
                  "expectations_note", "timeline"}
TODAY_SERVER = {"host", "ip", "port", "exit_code", "command", "stopped_by_sockdeploy", "remote_dir"}
TODAY_CLIENT = {"run", "command", "stdin", "exit_code", "timed_out", "seconds"}
TODAY_SSH = {"login", "strict_kex", "reused_connection"}
TODAY_CLIENT_SSH = {"login", "strict_kex"}
TODAY_ERROR = {"kind", "message", "hint", "exit_code"}
TODAY_TCP_TUNNEL = {"listen", "remote", "same_port", "connections"}
TODAY_UDP_TUNNEL = {"udp_relay", "remote", "same_port", "datagrams"}


def _full() -> RunRecord:
    return RunRecord(
        target="ex5", started="2026-11-21T10:00:00Z", started_exact="2026-11-21T10:00:00.123456+00:00", ok=False,
        payload_dir="/p/ex5", description="echo", finished="2026-11-21T10:00:09Z", via="tunnel",
        via_reason="blocked, so tunnel", run_dir="/runs/x", connect_host="127.0.0.1", client_host="laptop",
        server=ServerRecord(host="shell", ip="10.0.0.1", port=30001, exit_code=0, command="./server 30001",
                            stopped_by_sockdeploy=True, remote_dir="/tmp/run-1", timed_out=True),
        clients=[ClientRecord(run=1, command="./client", stdin="hi\n", exit_code=0, seconds=0.5, ended=True),
                 ClientRecord(run=2, command="./client", ended=True, stopped_after=2.0)],
        sources={"server.c": "ab" * 32}, sources_dir="sources",
        ssh=SshRecord(login="me@shell", strict_kex=True, reused_connection=False),
        error=ErrorRecord(kind="program", message="client run 2 failed", hint="read it", exit_code=5),
        client_ssh=SshRecord(login="pi@pi", strict_kex=False), cleaned_stale_runs=["/tmp/run-0"],
        vpn_checks=[VpnCheckRecord("VPN process", True, "pid 5")], probe=ProbeRecord("10.0.0.1:30001", "timeout"),
        tunnel=TunnelRecord(listen=["127.0.0.1:30001"], remote="127.0.0.1:30001 on shell", same_port=True, connections=2,
                            errors=["reset"]),
        expectations=[ExpectationRecord("server log shows /x/", True, "found")], expectations_note="skipped",
        timeline=TimelineRecord(file="timeline.txt", lines=12, clock={"offset_s": 0.1, "uncertainty_s": 0.01, "samples": 5}),
    )


def test_the_keys_are_todays_plus_schema():
    data = _full().to_json()
    assert set(data) == TODAY_TOP | TODAY_OPTIONAL | {"schema"}
    assert data["schema"] == SCHEMA
    assert set(data["server"]) == TODAY_SERVER | {"timed_out"}
    assert set(data["clients"][0]) == TODAY_CLIENT | {"stopped_after"}
    assert set(data["ssh"]) == TODAY_SSH and set(data["client_ssh"]) == TODAY_CLIENT_SSH
    assert set(data["error"]) == TODAY_ERROR
    assert set(data["tunnel"]) == TODAY_TCP_TUNNEL | {"errors"}
    assert set(data["probe"]) == {"target", "outcome"} and set(data["timeline"]) == {"file", "lines", "clock"}
    assert set(data["expectations"][0]) == {"check", "ok", "detail"}
    assert set(data["vpn_checks"][0]) == {"name", "ok", "detail", "fix"}


def test_a_fresh_record_writes_only_the_keys_every_run_has():
    data = RunRecord(target="ex1", started="2026-11-21T10:00:00Z").to_json()
    assert set(data) == TODAY_TOP | {"schema"}
    assert set(data["server"]) == TODAY_SERVER
    assert data["ssh"] is None and data["error"] is None and data["clients"] == []


def test_a_client_run_that_never_came_back_has_no_stopped_after():
    assert set(ClientRecord(run=1, command="./c").to_json()) == TODAY_CLIENT
    assert ClientRecord(run=1, command="./c", ended=True).to_json()["stopped_after"] is None


def test_tunnel_shapes():
    joined = TunnelRecord(listen=["127.0.0.1:5 on pi"], remote="r", same_port=True, connections=0, joined=True)
    assert set(joined.to_json()) == TODAY_TCP_TUNNEL | {"joined"}
    udp = TunnelRecord(udp_relay="127.0.0.1:5 (udp)", remote="r", same_port=False, datagrams=3)
    assert set(udp.to_json()) == TODAY_UDP_TUNNEL
    assert list(udp.to_json()) == ["udp_relay", "remote", "same_port", "datagrams"]


def test_round_trip():
    rec = _full()
    again = RunRecord.from_json(json.loads(json.dumps(rec.to_json())))
    assert again == rec
    assert again.to_json() == rec.to_json()
    bare = RunRecord(target="ex1", started="2026-11-21T10:00:00Z")
    assert RunRecord.from_json(bare.to_json()) == bare


def test_an_older_file_without_schema_reads_with_defaults():
    old = {"ok": True, "target": "ex5", "started": "2026-11-21T10:00:00Z", "server": {"host": "shell", "port": 30001},
           "clients": [{"run": 1, "command": "./c", "timed_out": True}], "sources": {"a.c": "00"}}
    rec = RunRecord.from_json(old)
    assert rec.schema == 0 and rec.ok and rec.server.host == "shell" and rec.server.port == 30001
    assert rec.clients[0].timed_out and not rec.clients[0].ended
    assert rec.description is None  # older than the description field: the reader falls back to the bundled one
    assert rec.error is None and rec.tunnel is None and rec.server.timed_out is None


def test_damaged_parts_read_as_missing():
    rec = RunRecord.from_json({"started": "x", "sources": {"a.c": 5}, "server": "?", "clients": ["?"], "error": 3})
    assert rec.sources is None and rec.server == ServerRecord() and rec.clients == [] and rec.error is None
    assert RunRecord.from_json([]).target == ""
