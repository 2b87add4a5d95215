"""hosts.yaml as init writes it: rendering, validation, never clobbering; the group key it reads back."""

from __future__ import annotations

import stat

import pytest

from sockdeploy.errors import ConfigError, UsageError
from sockdeploy.init import hostsfile, keys, wizard
from sockdeploy.spec.hosts import parse_config
from tests.unit.init.helpers import plan


def test_rendered_file_reads_back_as_given(home, tmp_path):
    key = home / ".ssh" / "id_ed25519"
    keys.create_key(key)
    p = plan(host="login.example.edu", user="j.doe-2", port=2222, identity=key, via="tunnel",
             members=("Ada Lovelace", "yes", "123", "O'Brien: \"Bob\" #1", "Zoë", "- dash", "~"))
    text = hostsfile.render_hosts(p)
    assert "identity: ~/.ssh/id_ed25519\n" in text  # home-relative, as a person writes it
    assert text.startswith("# sockdeploy hosts file, written by `sockdeploy init`")
    out = tmp_path / "hosts.yaml"
    out.write_text(text)
    cfg = parse_config(out)
    assert (cfg.server.host, cfg.server.user, cfg.server.port, cfg.server.identity) == (
        "login.example.edu", "j.doe-2", 2222, str(key))
    assert cfg.network.via == "tunnel" and cfg.network.ports == (30000, 40000)
    assert cfg.group == p.members


def test_rendered_defaults_leave_optional_keys_commented(tmp_path):
    text = hostsfile.render_hosts(plan())
    assert "  # port: 22\n" in text and "  # identity: ~/.ssh/id_ed25519\n" in text and "# group:\n" in text
    out = tmp_path / "hosts.yaml"
    out.write_text(text)
    cfg = parse_config(out)
    assert cfg.server.port is None and cfg.server.identity is None and cfg.group == ()


def test_invalid_answers_are_refused_before_anything_is_made(home, tmp_path):
    out = tmp_path / "cfg" / "hosts.yaml"
    p = plan(user="bad user", identity=home / ".ssh" / "id_ed25519", create_key=True)
    with pytest.raises(UsageError, match="nothing was written: server.user .bad user. is not a valid login name"):
        wizard.carry_out(p, out, force=False)
    assert not (home / ".ssh" / "id_ed25519").exists(), "no key is created for answers that cannot be written"
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_write_never_clobbers_without_force(tmp_path):
    out = tmp_path / "hosts.yaml"
    out.write_text("mine\n")
    with pytest.raises(UsageError, match="already exists") as info:
        hostsfile.check_writable(out, force=False)
    assert "--force" in (info.value.hint or "")
    with pytest.raises(UsageError, match="already exists"):
        hostsfile.write_hosts(out, "new\n", force=False)
    assert out.read_text() == "mine\n"
    hostsfile.write_hosts(out, "new\n", force=True)
    assert out.read_text() == "new\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["hosts.yaml"], "no temporary file is left"


def test_default_output_is_the_user_config_dir(home, monkeypatch, tmp_path):
    assert hostsfile.default_output() == home / ".config" / "sockdeploy" / "hosts.yaml"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert hostsfile.default_output() == tmp_path / "xdg" / "sockdeploy" / "hosts.yaml"


@pytest.mark.parametrize("text, line, fragment", [
    ("server:\n  host: a\ngroup: Ada\n", 3, "'group' must be a list of names, got a string"),
    ("server:\n  host: a\ngroup:\n  - Ada\n  - 42\n", 5, "group member 2 must be a name"),
    ("server:\n  host: a\ngroup:\n  - Ada\n  - \"\"\n", 5, "group member 2 is empty"),
    ("server:\n  host: a\ngroup:\n  - [a, b]\n", 4, "group member 1 must be a name"),
    ("server:\n  host: a\ngroup:\n  - true\n", 4, "group member 1 must be a name"),
    ("server:\n  host: a\ngruop:\n  - Ada\n", 3, "unknown key 'gruop'"),
])
def test_bad_group_names_file_line_and_hint(tmp_path, text, line, fragment):
    path = tmp_path / "hosts.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        parse_config(path)
    assert fragment in info.value.message
    assert info.value.headline().startswith(f"{path}:{line}:"), info.value.headline()
    assert info.value.hint and info.value.exit_code == 2


def test_group_is_optional_and_exposed(tmp_path):
    path = tmp_path / "hosts.yaml"
    path.write_text("server:\n  host: a\ngroup:\n  - Ada Lovelace\n  - ' Alan '\n")
    assert parse_config(path).group == ("Ada Lovelace", "Alan")
    path.write_text("server:\n  host: a\ngroup: []\n")
    assert parse_config(path).group == ()
