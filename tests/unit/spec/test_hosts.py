from pathlib import Path

import pytest

from sockdeploy.errors import ConfigError
from sockdeploy.spec.hosts import (
    ServerConfig,
    find_hosts_file,
    parse_config,
    parse_port_range,
)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "hosts.yaml"
    p.write_text(text)
    return p


def test_minimal_config_gets_defaults(tmp_path):
    cfg = parse_config(write(tmp_path, "server:\n  host: shell.cec.wustl.edu\n"))
    assert cfg.server.host == "shell.cec.wustl.edu"
    assert cfg.server.workdir == "~/.sockdeploy"
    assert cfg.network.via == "auto"
    assert cfg.network.ports == (30000, 40000)
    assert cfg.client.host == "local"


def test_the_shipped_example_is_valid():
    cfg = parse_config(Path(__file__).resolve().parents[3] / "hosts.yaml")
    assert cfg.server.host == "shell.cec.wustl.edu"
    assert cfg.server.user == "jdoe"


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("server:\n  host: a\n  hots: b\n", 3, "unknown key 'server.hots'"),
        ("server:\n  host: a\nnetwork:\n  via: wormhole\n", 4, "network.via 'wormhole'"),
        ("server:\n  host: a\n  port: twenty\n", 3, "'port' must be a whole number"),
        ("server:\n  host: a\n  port: 70000\n", 3, "out of range"),
        ("server:\n  host: a\nnetwork:\n  ports: 40000-30000\n", 4, "backwards"),
        ("server:\n  host: a\nnetwork:\n  ports: 80-90\n", 4, "between 1024 and 65535"),
        ("server:\n  host: [a, b]\n", 2, "'host' must be a string"),
        ("server:\n  host: a\n  agent: 3\n", 3, "true or false"),
        ("server:\n  host: a\n   user: b\n", 3, "YAML syntax error"),
        ("client:\n  host: local\n", 1, "missing 'server' section"),
        ("server:\n  user: a\n", 1, "missing required key 'server.host'"),
        ("server:\n  host: a\n  identity: /nonexistent/key\n", 3, "identity file not found"),
        ("server:\n  host: a\nextra: 1\n", 3, "unknown key 'extra'"),
        ("server:\n  host: a\n  host: b\n", 3, "duplicate key"),
        ("server:\n  host: a\nservers: lab1\n", 3, "'servers' must be a non-empty list"),
        ("server:\n  host: a\nservers: []\n", 3, "'servers' must be a non-empty list"),
        ("server:\n  host: a\nservers:\n  - host: b\n  - hots: c\n", 5, "unknown key 'servers[2].hots'"),
        ("server:\n  host: a\nservers:\n  - host: b\n    port: 99999\n", 5, "servers[1].port 99999 is out of range"),
        ("server:\n  host: a\nservers:\n  - host: b\n  - host: b\n", 5, "servers[2] repeats servers[1]"),
        ("server:\n  host: a\nservers:\n  - user: x\n", 4, "missing required key 'servers[1].host'"),
        ("server:\n  host: a\nservers:\n  - lab1\n", 4, "'servers[1]' must be a mapping"),
    ],
)
def test_bad_config_names_file_line_and_hint(tmp_path, text, line, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        parse_config(path)
    err = info.value
    assert fragment in err.message
    assert err.headline().startswith(f"{path}:{line}:"), err.headline()
    assert err.hint
    assert err.exit_code == 2


def test_servers_inherit_from_server(tmp_path):
    cfg = parse_config(write(tmp_path, "server:\n  host: lab0\n  user: ta\n  workdir: ~/grading\n"
                                       "servers:\n  - host: lab1\n  - host: lab2\n    user: other\n    port: 2222\n"))
    assert [(s.host, s.user, s.port, s.workdir) for s in cfg.server_hosts] == [
        ("lab1", "ta", None, "~/grading"), ("lab2", "other", 2222, "~/grading")]
    assert parse_config(write(tmp_path, "server:\n  host: a\n")).server_hosts == (ServerConfig(host="a"),)


def test_unknown_key_suggests_the_closest(tmp_path):
    with pytest.raises(ConfigError) as info:
        parse_config(write(tmp_path, "server:\n  host: a\n  knwon_hosts: x\n"))
    assert "known_hosts" in info.value.hint


def test_relative_paths_resolve_next_to_the_file(tmp_path):
    (tmp_path / "id").write_text("key")
    cfg = parse_config(write(tmp_path, "server:\n  host: a\n  identity: id\n  known_hosts: kh\n"))
    assert cfg.server.identity == str(tmp_path / "id")
    assert cfg.server.known_hosts == str(tmp_path / "kh")


def test_lookup_order(tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    xdg = tmp_path / "xdg"
    (xdg / "sockdeploy").mkdir(parents=True)
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    with pytest.raises(ConfigError) as info:
        find_hosts_file(None)
    assert "no hosts.yaml found" in info.value.message
    (xdg / "sockdeploy" / "hosts.yaml").write_text("server: {host: a}\n")
    assert find_hosts_file(None) == xdg / "sockdeploy" / "hosts.yaml"
    (cwd / "hosts.yaml").write_text("server: {host: b}\n")
    assert find_hosts_file(None) == cwd / "hosts.yaml"
    explicit = tmp_path / "other.yaml"
    explicit.write_text("server: {host: c}\n")
    assert find_hosts_file(str(explicit)) == explicit
    with pytest.raises(ConfigError):
        find_hosts_file(str(tmp_path / "missing.yaml"))


def test_the_environment_comes_after_hosts_and_before_the_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hosts.yaml").write_text("server: {host: here}\n")
    env_file = tmp_path / "env.yaml"
    env_file.write_text("server: {host: env}\n")
    monkeypatch.setenv("SOCKDEPLOY_HOSTS", str(env_file))
    assert find_hosts_file(None) == env_file
    assert find_hosts_file(str(tmp_path / "hosts.yaml")) == tmp_path / "hosts.yaml"
    monkeypatch.setenv("SOCKDEPLOY_HOSTS", str(tmp_path / "gone.yaml"))
    with pytest.raises(ConfigError) as info:
        find_hosts_file(None)
    assert info.value.where == "$SOCKDEPLOY_HOSTS"


def test_the_repositorys_example_gives_way_to_the_users_own_file(tmp_path, monkeypatch):
    repo_example = Path(__file__).resolve().parents[3] / "hosts.yaml"
    cwd, xdg = tmp_path / "clone", tmp_path / "xdg"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    monkeypatch.delenv("SOCKDEPLOY_HOSTS", raising=False)
    (cwd / "hosts.yaml").write_text(repo_example.read_text())
    with pytest.raises(ConfigError) as info:
        find_hosts_file(None)
    assert "example hosts.yaml" in info.value.message and "sockdeploy init" in (info.value.hint or "")
    (xdg / "sockdeploy").mkdir(parents=True)
    (xdg / "sockdeploy" / "hosts.yaml").write_text("server: {host: mine}\n")
    assert find_hosts_file(None) == xdg / "sockdeploy" / "hosts.yaml"
    (cwd / "hosts.yaml").write_text(repo_example.read_text().replace("user: jdoe", "user: ada"))
    assert find_hosts_file(None) == cwd / "hosts.yaml"  # edited: it is the user's now


@pytest.mark.parametrize("text, expected",
                         [("30000-40000", (30000, 40000)), (31522, (31522, 31522)), (" 2000 - 2001 ", (2000, 2001))])
def test_port_ranges(text, expected):
    assert parse_port_range(text) == expected


@pytest.mark.parametrize("text", ["a-b", "30000-", True, "1-2", "40000-30000", [1, 2]])
def test_bad_port_ranges(text):
    with pytest.raises(ValueError):
        parse_port_range(text)


def test_a_billion_laughs_file_is_refused_before_it_expands(tmp_path) -> None:
    from sockdeploy.spec.hosts import load_config

    rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefg", "bcdefgh"):
        rows.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    path = tmp_path / "hosts.yaml"
    path.write_text("\n".join(rows) + "\nserver: {host: x}\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert err.value.message == "more than 32 YAML aliases (*name)" and err.value.where == f"{path}:5"
