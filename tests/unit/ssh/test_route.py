"""The way to a host through its jump hosts, as `ssh -J` takes it (resolution and connections are fakes)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

from sockdeploy.errors import ConfigError
from sockdeploy.spec.hosts import ServerConfig
from sockdeploy.ssh import route
from sockdeploy.ssh.resolver import SshOptions
from sockdeploy.ssh.route import Opened, Route


class FakeConn:
    def __init__(self, name: str, gateway: Any) -> None:
        self.name, self.gateway, self.closed = name, gateway, False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def world(mocker: Any) -> Dict[str, Any]:
    """CONFIG maps a host to its ProxyJump; connects are recorded as (host, through, hosts.yaml entry)."""
    seen: Dict[str, Any] = {"config": {}, "connects": [], "fail": None}

    def resolve(cfg: ServerConfig) -> SshOptions:
        return SshOptions(alias=cfg.host, hostname=cfg.host, proxy_jump=seen["config"].get(cfg.host))

    def connect(self: Route, cfg: ServerConfig, opts: SshOptions, known: Any, gateway: Optional[FakeConn],
                login: bool) -> Opened:
        if seen["fail"] == cfg.host:
            raise ConfigError("no", "no")
        seen["connects"].append((cfg.host, gateway.name if gateway else None, cfg))
        return Opened(FakeConn(cfg.host, gateway), None, [])

    mocker.patch.object(route, "resolve_server", resolve)
    mocker.patch.object(route, "known_hosts_for", lambda cfg, opts: None)
    mocker.patch.object(Route, "_connect", connect)
    return seen


def open_route(target: str, world: Dict[str, Any]) -> Route:
    r = Route(ServerConfig(host=target, identity="/course_key", known_hosts="/kh"), accept_new=False, confirm=None,
              prompt=None)
    r.open(SshOptions(alias=target, hostname=target, proxy_jump=world["config"].get(target)), None)
    return r


def test_hops_in_order_the_first_by_its_own_config_the_rest_through_the_one_before(world: Dict[str, Any]) -> None:
    world["config"].update({"target": "a,b", "a": "outer", "b": "ignored"})
    r = open_route("target", world)
    assert [(h, via) for h, via, _ in world["connects"]] == [("outer", None), ("a", "outer"), ("b", "a"), ("target", "b")]
    jump_cfg: List[ServerConfig] = [cfg for _, _, cfg in world["connects"][:3]]
    assert all(c.identity is None and c.known_hosts == "/kh" for c in jump_cfg), "hosts.yaml's identity is the target's"
    assert [o.alias for o in r.hops] == ["outer", "a", "b"]
    jumps = list(r.jumps)
    r.close()
    assert all(j.closed for j in jumps) and r.jumps == []


def test_a_jump_that_fails_closes_those_opened_before(world: Dict[str, Any]) -> None:
    world["config"].update({"target": "a,b"})
    world["fail"] = "b"
    r = Route(ServerConfig(host="target"), accept_new=False, confirm=None, prompt=None)
    with pytest.raises(ConfigError):
        r.open(SshOptions(alias="target", hostname="target", proxy_jump="a,b"), None)
    assert r.jumps == [] and world["connects"][0][0] == "a"


def test_a_proxyjump_that_leads_back_to_itself_is_a_config_error(world: Dict[str, Any]) -> None:
    world["config"].update({"target": "loop", "loop": "loop"})
    with pytest.raises(ConfigError, match="more than 8 jump hosts"):
        open_route("target", world)
    assert world["connects"] == []
