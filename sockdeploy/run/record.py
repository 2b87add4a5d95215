"""run.json as typed records: built by the run, read back by answers, transcript, bundle and grading."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

# 1: the first versioned layout; files without "schema" are older and read the same way.
SCHEMA = 1


def _opt_int(value: Any) -> Optional[int]:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _opt_str(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass
class ServerRecord:
    """Where and how the server ran."""

    host: Optional[str] = None
    ip: Optional[str] = None
    port: Optional[int] = None
    exit_code: Optional[int] = None
    command: Optional[str] = None
    stopped_by_sockdeploy: bool = False
    remote_dir: Optional[str] = None
    timed_out: Optional[bool] = None  # written only when the server ran out of time
    port_given: Optional[int] = None  # written only when the server listened elsewhere: the port it was given
    log_elided_bytes: Optional[int] = None  # written only when its log left out the middle of its output

    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"host": self.host, "ip": self.ip, "port": self.port, "exit_code": self.exit_code,
                               "command": self.command, "stopped_by_sockdeploy": self.stopped_by_sockdeploy,
                               "remote_dir": self.remote_dir}
        if self.timed_out is not None:
            out["timed_out"] = self.timed_out
        if self.port_given is not None:
            out["port_given"] = self.port_given
        if self.log_elided_bytes is not None:
            out["log_elided_bytes"] = self.log_elided_bytes
        return out

    @classmethod
    def from_json(cls, data: Any) -> ServerRecord:
        d = _mapping(data)
        return cls(host=_opt_str(d.get("host")), ip=_opt_str(d.get("ip")), port=_opt_int(d.get("port")),
                   exit_code=_opt_int(d.get("exit_code")), command=_opt_str(d.get("command")),
                   stopped_by_sockdeploy=bool(d.get("stopped_by_sockdeploy")), remote_dir=_opt_str(d.get("remote_dir")),
                   timed_out=bool(d["timed_out"]) if "timed_out" in d else None,
                   port_given=_opt_int(d.get("port_given")),
                   log_elided_bytes=_opt_int(d.get("log_elided_bytes")))


@dataclass
class ClientRecord:
    """One client run: what was typed and how it ended."""

    run: int
    command: str
    stdin: Optional[str] = None
    exit_code: Optional[int] = None
    timed_out: bool = False
    seconds: Optional[float] = None
    ended: bool = False  # the run came back (an interrupted one has no stopped_after key)
    stopped_after: Optional[float] = None
    log_elided_bytes: Optional[int] = None  # written only when its log left out the middle of its output

    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"run": self.run, "command": self.command, "stdin": self.stdin, "exit_code": self.exit_code,
                               "timed_out": self.timed_out, "seconds": self.seconds}
        if self.ended:
            out["stopped_after"] = self.stopped_after
        if self.log_elided_bytes is not None:
            out["log_elided_bytes"] = self.log_elided_bytes
        return out

    @classmethod
    def from_json(cls, data: Any) -> ClientRecord:
        d = _mapping(data)
        stopped = d.get("stopped_after")
        return cls(run=_opt_int(d.get("run")) or 0, command=str(d.get("command") or ""), stdin=_opt_str(d.get("stdin")),
                   exit_code=_opt_int(d.get("exit_code")), timed_out=bool(d.get("timed_out")),
                   seconds=float(d["seconds"]) if isinstance(d.get("seconds"), (int, float)) else None,
                   ended="stopped_after" in d, stopped_after=float(stopped) if isinstance(stopped, (int, float)) else None,
                   log_elided_bytes=_opt_int(d.get("log_elided_bytes")))


@dataclass
class TunnelRecord:
    """The tunnel (TCP forward) or UDP relay that carried the clients to the server; unset fields are not written."""

    remote: str
    same_port: bool
    listen: Optional[List[str]] = None
    udp_relay: Optional[str] = None
    connections: Optional[int] = None
    datagrams: Optional[int] = None
    joined: Optional[bool] = None  # listening on the client host, carried over the login host's connection
    errors: Optional[List[str]] = None

    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        if self.listen is not None:
            out["listen"] = list(self.listen)
        if self.udp_relay is not None:
            out["udp_relay"] = self.udp_relay
        out.update(remote=self.remote, same_port=self.same_port)
        for key in ("connections", "datagrams", "joined"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.errors is not None:
            out["errors"] = list(self.errors)
        return out

    @classmethod
    def from_json(cls, data: Any) -> TunnelRecord:
        d = _mapping(data)
        listen = d.get("listen")
        errors = d.get("errors")
        return cls(remote=str(d.get("remote") or ""), same_port=bool(d.get("same_port")),
                   listen=[str(a) for a in listen] if isinstance(listen, list) else None,
                   udp_relay=_opt_str(d.get("udp_relay")), connections=_opt_int(d.get("connections")),
                   datagrams=_opt_int(d.get("datagrams")), joined=bool(d["joined"]) if "joined" in d else None,
                   errors=[str(e) for e in errors] if isinstance(errors, list) else None)


@dataclass
class SshRecord:
    """The login to a host; `reused_connection` only for the server host's."""

    login: Optional[str] = None
    strict_kex: Optional[bool] = None
    reused_connection: Optional[bool] = None

    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"login": self.login, "strict_kex": self.strict_kex}
        if self.reused_connection is not None:
            out["reused_connection"] = self.reused_connection
        return out

    @classmethod
    def from_json(cls, data: Any) -> SshRecord:
        d = _mapping(data)
        return cls(login=_opt_str(d.get("login")), strict_kex=d.get("strict_kex"),
                   reused_connection=bool(d["reused_connection"]) if "reused_connection" in d else None)


@dataclass
class ErrorRecord:
    """Why the run failed, and the exit code it gave."""

    kind: str = ""
    message: str = ""
    hint: Optional[str] = None
    exit_code: Optional[int] = None

    def to_json(self) -> Dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "hint": self.hint, "exit_code": self.exit_code}

    @classmethod
    def from_json(cls, data: Any) -> ErrorRecord:
        d = _mapping(data)
        return cls(kind=str(d.get("kind") or ""), message=str(d.get("message") or ""), hint=_opt_str(d.get("hint")),
                   exit_code=_opt_int(d.get("exit_code")))


@dataclass
class ExpectationRecord:
    """One check of payload.yaml's expect section."""

    check: str
    ok: bool
    detail: str

    def to_json(self) -> Dict[str, Any]:
        return {"check": self.check, "ok": self.ok, "detail": self.detail}

    @classmethod
    def from_json(cls, data: Any) -> ExpectationRecord:
        d = _mapping(data)
        return cls(check=str(d.get("check") or ""), ok=bool(d.get("ok")), detail=str(d.get("detail") or ""))


@dataclass
class CheckRecord:
    """One check of payload.yaml's checks: section: ok true/false, or null when it could not be judged."""

    check: str
    ok: Optional[bool]
    detail: str
    reached: bool = True  # false: an earlier step (a build, the server's start) never let it happen

    def to_json(self) -> Dict[str, Any]:
        return {"check": self.check, "ok": self.ok, "detail": self.detail, "reached": self.reached}

    @classmethod
    def from_json(cls, data: Any) -> CheckRecord:
        d = _mapping(data)
        ok = d.get("ok")
        return cls(check=str(d.get("check") or ""), ok=ok if isinstance(ok, bool) else None,
                   detail=str(d.get("detail") or ""), reached=d.get("reached") is not False)


@dataclass
class VpnCheckRecord:
    """One of the --via vpn checks."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def to_json(self) -> Dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}

    @classmethod
    def from_json(cls, data: Any) -> VpnCheckRecord:
        d = _mapping(data)
        return cls(name=str(d.get("name") or ""), ok=bool(d.get("ok")), detail=str(d.get("detail") or ""),
                   fix=str(d.get("fix") or ""))


@dataclass
class ProbeRecord:
    """The reachability probe of the server's port from the client host."""

    target: str
    outcome: str

    def to_json(self) -> Dict[str, Any]:
        return {"target": self.target, "outcome": self.outcome}

    @classmethod
    def from_json(cls, data: Any) -> ProbeRecord:
        d = _mapping(data)
        return cls(target=str(d.get("target") or ""), outcome=str(d.get("outcome") or ""))


@dataclass
class TimelineRecord:
    """timeline.txt: how many lines, and the clock offset used to merge them."""

    file: str
    lines: int
    clock: Optional[Dict[str, Any]] = None

    def to_json(self) -> Dict[str, Any]:
        return {"file": self.file, "lines": self.lines, "clock": self.clock}

    @classmethod
    def from_json(cls, data: Any) -> TimelineRecord:
        d = _mapping(data)
        clock = d.get("clock")
        return cls(file=str(d.get("file") or "timeline.txt"), lines=_opt_int(d.get("lines")) or 0,
                   clock=dict(clock) if isinstance(clock, Mapping) else None)


# Top-level keys written only once the run got that far (absent, not null, before).
OPTIONAL_KEYS = ("client_ssh", "cleaned_stale_runs", "vpn_checks", "probe", "tunnel", "expectations",
                 "expectations_note", "checks", "wire", "timeline", "plan", "redirects", "hosts_file", "notes",
                 "stray_processes")


@dataclass
class RunRecord:
    """Everything run.json says about one run."""

    target: str
    started: str
    started_exact: str = ""  # orders runs begun within one second
    ok: bool = False
    payload_dir: Optional[str] = None
    description: Optional[str] = ""  # None: a file older than the description field
    finished: Optional[str] = None
    via: Optional[str] = None
    via_reason: str = ""
    run_dir: Optional[str] = None
    connect_host: Optional[str] = None
    client_host: Optional[str] = None
    server: ServerRecord = field(default_factory=ServerRecord)
    clients: List[ClientRecord] = field(default_factory=list)
    sources: Optional[Dict[str, str]] = field(default_factory=dict)  # None: missing or damaged in the file
    sources_dir: Optional[str] = None
    ssh: Optional[SshRecord] = None
    error: Optional[ErrorRecord] = None
    client_ssh: Optional[SshRecord] = None
    cleaned_stale_runs: Optional[List[str]] = None
    vpn_checks: Optional[List[VpnCheckRecord]] = None
    probe: Optional[ProbeRecord] = None
    tunnel: Optional[TunnelRecord] = None
    expectations: Optional[List[ExpectationRecord]] = None
    expectations_note: Optional[str] = None
    checks: Optional[List[CheckRecord]] = None  # payload.yaml's checks:, judged for someone's own programs
    wire: Optional[Dict[str, Any]] = None  # the wire record's files and counts, or why there is none
    timeline: Optional[TimelineRecord] = None
    plan: Optional[List[str]] = None  # what sockdeploy chose for programs it found in a folder, and why
    redirects: Optional[List[str]] = None  # hard-coded addresses and ports carried elsewhere, one sentence each
    hosts_file: Optional[str] = None  # the hosts.yaml the run used
    notes: Optional[List[str]] = None  # what sockdeploy noticed and adapted to (the port the server really uses...)
    stray_processes: Optional[List[str]] = None  # processes of the run left running after their part; stopped
    schema: int = SCHEMA

    def to_json(self) -> Dict[str, Any]:
        """Return run.json's content: the keys it always had, plus "schema"."""
        out: Dict[str, Any] = {
            "schema": self.schema, "ok": self.ok, "target": self.target, "payload_dir": self.payload_dir,
            "description": self.description, "started": self.started, "started_exact": self.started_exact,
            "finished": self.finished, "via": self.via, "via_reason": self.via_reason, "run_dir": self.run_dir,
            "connect_host": self.connect_host, "client_host": self.client_host, "server": self.server.to_json(),
            "clients": [c.to_json() for c in self.clients],
            "sources": dict(self.sources) if self.sources is not None else None,
            "sources_dir": self.sources_dir, "ssh": self.ssh.to_json() if self.ssh else None,
            "error": self.error.to_json() if self.error else None,
        }
        for key in OPTIONAL_KEYS:
            value = getattr(self, key)
            if value is None:
                continue
            if isinstance(value, list):
                out[key] = [v.to_json() if hasattr(v, "to_json") else v for v in value]
            else:
                out[key] = value.to_json() if hasattr(value, "to_json") else value
        return out

    @classmethod
    def from_json(cls, data: Any) -> RunRecord:
        """Read run.json's content; older files (no "schema") and missing keys get the defaults."""
        d = _mapping(data)
        started = str(d.get("started") or "")
        sources = d.get("sources")
        checksums = ({str(k): v for k, v in sources.items()} if isinstance(sources, Mapping)
                     and all(isinstance(v, str) for v in sources.values()) else None)
        return cls(
            schema=_opt_int(d.get("schema")) or 0, ok=bool(d.get("ok")), target=str(d.get("target") or ""),
            payload_dir=_opt_str(d.get("payload_dir")),
            description=str(d.get("description") or "") if "description" in d else None,
            started=started, started_exact=str(d.get("started_exact") or ""), finished=_opt_str(d.get("finished")),
            via=_opt_str(d.get("via")), via_reason=str(d.get("via_reason") or ""), run_dir=_opt_str(d.get("run_dir")),
            connect_host=_opt_str(d.get("connect_host")), client_host=_opt_str(d.get("client_host")),
            server=ServerRecord.from_json(d.get("server")),
            clients=[ClientRecord.from_json(c) for c in d.get("clients") or [] if isinstance(c, Mapping)],
            sources=checksums,
            sources_dir=_opt_str(d.get("sources_dir")),
            ssh=SshRecord.from_json(d["ssh"]) if isinstance(d.get("ssh"), Mapping) else None,
            error=ErrorRecord.from_json(d["error"]) if isinstance(d.get("error"), Mapping) else None,
            client_ssh=SshRecord.from_json(d["client_ssh"]) if isinstance(d.get("client_ssh"), Mapping) else None,
            cleaned_stale_runs=([str(p) for p in d["cleaned_stale_runs"]]
                                if isinstance(d.get("cleaned_stale_runs"), list) else None),
            vpn_checks=[VpnCheckRecord.from_json(c) for c in d["vpn_checks"]] if isinstance(d.get("vpn_checks"), list) else None,
            probe=ProbeRecord.from_json(d["probe"]) if isinstance(d.get("probe"), Mapping) else None,
            tunnel=TunnelRecord.from_json(d["tunnel"]) if isinstance(d.get("tunnel"), Mapping) else None,
            expectations=([ExpectationRecord.from_json(c) for c in d["expectations"]]
                          if isinstance(d.get("expectations"), list) else None),
            expectations_note=_opt_str(d.get("expectations_note")),
            checks=[CheckRecord.from_json(c) for c in d["checks"]] if isinstance(d.get("checks"), list) else None,
            wire=dict(d["wire"]) if isinstance(d.get("wire"), Mapping) else None,
            timeline=TimelineRecord.from_json(d["timeline"]) if isinstance(d.get("timeline"), Mapping) else None,
            plan=[str(n) for n in d["plan"]] if isinstance(d.get("plan"), list) else None,
            redirects=[str(n) for n in d["redirects"]] if isinstance(d.get("redirects"), list) else None,
            hosts_file=_opt_str(d.get("hosts_file")),
            notes=[str(n) for n in d["notes"]] if isinstance(d.get("notes"), list) else None,
            stray_processes=([str(n) for n in d["stray_processes"]]
                             if isinstance(d.get("stray_processes"), list) else None),
        )
