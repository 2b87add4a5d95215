"""`sockdeploy init`'s library: key discovery and creation, the questions, hosts.yaml rendering and writing."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import pytest

from sockdeploy.errors import ConfigError, UsageError
from sockdeploy.init import wizard as setup
from sockdeploy.spec.hosts import parse_config
from sockdeploy.ssh.command import wrap_script
from sockdeploy.ssh.keyinstall import INSTALL_KEY_SCRIPT


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    """A fake HOME: the real ~/.ssh is never read or written."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return h


class Script:
    """Answers questions from a list, recording what was asked."""

    def __init__(self, answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.asked: List[Tuple[str, str]] = []

    def __call__(self, question: str, default: str, choices: Optional[Sequence[str]]) -> str:
        self.asked.append((question, default))
        return self.answers.pop(0) if self.answers else ""


def plan(**changes) -> setup.Plan:  # type: ignore[no-untyped-def]
    base = dict(host="shell.cec.wustl.edu", user="jdoe", port=None, identity=None, create_key=False,
                install_key=False, via="auto", members=())
    base.update(changes)
    return setup.Plan(**base)  # type: ignore[arg-type]


# -- keys ---------------------------------------------------------------------------------


def test_find_keys_in_openssh_order_only_under_home(home):
    ssh = home / ".ssh"
    ssh.mkdir()
    assert setup.find_keys() == []
    for name in ("id_rsa", "id_ed25519", "id_dsa", "other"):
        (ssh / name).write_text("x")
    assert setup.find_keys() == [ssh / "id_ed25519", ssh / "id_rsa"]


@pytest.mark.parametrize("with_keygen", [True, False], ids=["ssh-keygen", "cryptography"])
def test_create_key_modes_format_and_public_line(home, monkeypatch, with_keygen):
    if with_keygen and not shutil.which("ssh-keygen"):
        pytest.skip("ssh-keygen is not installed")
    if not with_keygen:
        monkeypatch.setattr(setup.shutil, "which", lambda name: None)
    key = home / ".ssh" / "id_ed25519"
    pub = setup.create_key(key, comment="me@pi (sockdeploy)")
    assert pub == home / ".ssh" / "id_ed25519.pub"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(pub.stat().st_mode) == 0o644
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    line = setup.public_key_line(key)
    assert line.startswith("ssh-ed25519 ") and line.endswith(" me@pi (sockdeploy)")
    # the private key really is the .pub's partner
    from cryptography.hazmat.primitives import serialization

    derived = serialization.load_ssh_private_key(key.read_bytes(), None).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    assert line.split()[:2] == derived.split()
    if shutil.which("ssh-keygen"):  # OpenSSH reads the file, whoever wrote it
        out = subprocess.run(["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True, check=True).stdout
        assert out.split()[:2] == line.split()[:2]


def test_create_key_never_overwrites(home):
    key = home / ".ssh" / "id_ed25519"
    key.parent.mkdir()
    key.write_text("someone's login")
    with pytest.raises(UsageError, match="already exists") as info:
        setup.create_key(key)
    assert "--identity" in (info.value.hint or "")
    assert key.read_text() == "someone's login"


def test_public_line_derived_when_pub_is_missing(home):
    key = home / "k"
    setup.create_key(key, comment="c")
    expected = setup.public_key_line(key).split()[:2]
    Path(str(key) + ".pub").unlink()
    assert setup.public_key_line(key).split()[:2] == expected


# -- questions ------------------------------------------------------------------------------


def test_every_question_in_order_with_scripted_answers(home):
    ask = Script(["example.org", "bob", "1", "yes", "tunnel", "Ada Lovelace, Alan Turing"])
    a = setup.ask_missing(setup.Answers(), ask, creating_allowed=False)
    assert [q.split("\n")[0] for q, _ in ask.asked] == [
        "Login host", "User name on example.org", "Key to log in with:",
        "Install the key on example.org now (one password login, like ssh-copy-id)?",
        "How does this machine reach the course ports (auto, direct, vpn, tunnel)?",
        "Group members' names, separated by commas (empty: none)"]
    assert ask.asked[0][1] == "shell.cec.wustl.edu"
    assert (a.host, a.user, a.identity, a.install_key, a.via, a.members) == (
        "example.org", "bob", setup.CREATE, True, "tunnel", ["Ada Lovelace", "Alan Turing"])


def test_flags_leave_nothing_to_ask(home):
    ask = Script([])
    given = setup.Answers(host="h", user="u", identity=setup.NONE, via="direct", members=[])
    a = setup.ask_missing(given, ask, creating_allowed=True)
    assert ask.asked == []
    assert a.install_key is False  # no key: nothing to install, not asked


def test_empty_answers_take_the_defaults(home, monkeypatch):
    monkeypatch.setattr(setup, "local_user", lambda: "pi")
    a = setup.ask_missing(setup.Answers(), Script([]), creating_allowed=False)
    assert (a.host, a.user, a.identity, a.install_key, a.via, a.members) == (
        "shell.cec.wustl.edu", "pi", setup.NONE, False, "auto", [])


def test_key_menu_defaults(home):
    # no key, a person at a terminal: create one and install it
    ask = Script([])
    a = setup.ask_missing(setup.Answers(host="h", user="u", via="auto", members=[]), ask, creating_allowed=True)
    assert a.identity == setup.CREATE and a.install_key is True
    # no terminal: defaults never create a key or log in
    a = setup.ask_missing(setup.Answers(host="h", user="u", via="auto", members=[]), Script([]), creating_allowed=False)
    assert a.identity == setup.NONE and a.install_key is False
    # an existing key is offered first and is the default; no new one over it
    ssh = home / ".ssh"
    ssh.mkdir()
    (ssh / "id_ed25519").write_text("x")
    ask = Script([])
    a = setup.ask_missing(setup.Answers(host="h", user="u", via="auto", members=[]), ask, creating_allowed=True)
    assert a.identity == str(ssh / "id_ed25519") and a.install_key is False
    assert "create a new key" not in ask.asked[0][0]


@pytest.mark.parametrize("answer, fragment", [("9", "no choice 9"), ("wormhole", None)])
def test_bad_menu_and_via_answers(home, answer, fragment):
    if fragment:
        with pytest.raises(UsageError, match=fragment):
            setup.ask_missing(setup.Answers(host="h", user="u"), Script([answer]), creating_allowed=False)
    else:
        with pytest.raises(UsageError, match="'wormhole' is not one of"):
            setup.ask_missing(setup.Answers(host="h", user="u", identity=setup.NONE), Script([answer]), creating_allowed=False)


def test_plan_refuses_installing_nothing_and_missing_keys(home):
    with pytest.raises(UsageError, match="--install-key needs a key"):
        setup.make_plan(setup.Answers(host="h", user="u", identity=setup.NONE, install_key=True, via="auto", members=[]))
    with pytest.raises(UsageError, match="identity file not found"):
        setup.make_plan(setup.Answers(host="h", user="u", identity=str(home / "nope"), via="auto", members=[]))
    p = setup.make_plan(setup.Answers(host="h", user="u", identity=setup.CREATE, new_key=str(home / "k"), via="auto", members=[]))
    assert p.create_key and p.identity == home / "k"


# -- hosts.yaml -------------------------------------------------------------------------------


def test_rendered_file_reads_back_as_given(home, tmp_path):
    key = home / ".ssh" / "id_ed25519"
    setup.create_key(key)
    p = plan(host="login.example.edu", user="j.doe-2", port=2222, identity=key, via="tunnel",
             members=("Ada Lovelace", "yes", "123", "O'Brien: \"Bob\" #1", "Zoë", "- dash", "~"))
    text = setup.render_hosts(p)
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
    text = setup.render_hosts(plan())
    assert "  # port: 22\n" in text and "  # identity: ~/.ssh/id_ed25519\n" in text and "# group:\n" in text
    out = tmp_path / "hosts.yaml"
    out.write_text(text)
    cfg = parse_config(out)
    assert cfg.server.port is None and cfg.server.identity is None and cfg.group == ()


def test_invalid_answers_are_refused_before_anything_is_made(home, tmp_path):
    out = tmp_path / "cfg" / "hosts.yaml"
    p = plan(user="bad user", identity=home / ".ssh" / "id_ed25519", create_key=True)
    with pytest.raises(UsageError, match="nothing was written: server.user .bad user. is not a valid login name"):
        setup.carry_out(p, out, force=False)
    assert not (home / ".ssh" / "id_ed25519").exists(), "no key is created for answers that cannot be written"
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_write_never_clobbers_without_force(tmp_path):
    out = tmp_path / "hosts.yaml"
    out.write_text("mine\n")
    with pytest.raises(UsageError, match="already exists") as info:
        setup.check_writable(out, force=False)
    assert "--force" in (info.value.hint or "")
    with pytest.raises(UsageError, match="already exists"):
        setup.write_hosts(out, "new\n", force=False)
    assert out.read_text() == "mine\n"
    setup.write_hosts(out, "new\n", force=True)
    assert out.read_text() == "new\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["hosts.yaml"], "no temporary file is left"


def test_carry_out_writes_and_loads_without_contacting_anything(home, tmp_path):
    out = tmp_path / "sub" / "hosts.yaml"
    cfg = setup.carry_out(plan(members=("Ada",), via="direct"), out, force=False)
    assert cfg.path == out and cfg.group == ("Ada",) and cfg.network.via == "direct"
    with pytest.raises(UsageError):
        setup.carry_out(plan(), out, force=False)


def test_default_output_is_the_user_config_dir(home, monkeypatch, tmp_path):
    assert setup.default_output() == home / ".config" / "sockdeploy" / "hosts.yaml"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert setup.default_output() == tmp_path / "xdg" / "sockdeploy" / "hosts.yaml"


# -- the group key in config.py -------------------------------------------------------------


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


# -- the ssh-copy-id script, run here with sh instead of over SSH ------------------------------


def _install(home: Path, line: str) -> subprocess.CompletedProcess:
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(wrap_script(INSTALL_KEY_SCRIPT), shell=True, input=line + "\n", env=env,
                          capture_output=True, text=True, cwd="/")


def test_install_script_adds_once_with_safe_modes(tmp_path):
    home = tmp_path / "remote-home"
    home.mkdir()
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1xyz me@pi ; rm -rf ~ $(reboot) `id`"
    done = _install(home, key)
    assert done.returncode == 0 and done.stdout.strip() == "added", done.stderr
    ak = home / ".ssh" / "authorized_keys"
    assert stat.S_IMODE((home / ".ssh").stat().st_mode) == 0o700
    assert stat.S_IMODE(ak.stat().st_mode) == 0o600
    assert ak.read_text() == key + "\n"
    # the same key with another comment is already there
    assert _install(home, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1xyz other").stdout.strip() == "present"
    assert ak.read_text() == key + "\n"


def test_install_script_keeps_existing_lines_and_modes(tmp_path):
    home = tmp_path / "remote-home"
    (home / ".ssh").mkdir(parents=True, mode=0o755)
    (home / ".ssh").chmod(0o755)
    ak = home / ".ssh" / "authorized_keys"
    ak.write_text("ssh-rsa AAAAold old@host")  # no final newline
    ak.chmod(0o644)
    assert _install(home, "ssh-ed25519 AAAAnew new@pi").stdout.strip() == "added"
    assert ak.read_text() == "ssh-rsa AAAAold old@host\nssh-ed25519 AAAAnew new@pi\n"
    assert stat.S_IMODE(ak.stat().st_mode) == 0o644 and stat.S_IMODE((home / ".ssh").stat().st_mode) == 0o755
    # a key whose blob is only part of another line's text is not "present"
    assert _install(home, "ssh-ed25519 AAAA other").stdout.strip() == "added"
