"""The login order: ssh-agent keys, identity files, then keyboard-interactive or password answers (mocks only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import paramiko
import pytest

from sockdeploy.errors import AuthError
from sockdeploy.spec.hosts import ServerConfig
from sockdeploy.ssh import auth
from sockdeploy.ssh.auth import Authenticator, identity_files


class FakeKey:
    def __init__(self, label: str) -> None:
        self.label = label

    def get_name(self) -> str:
        return "ssh-ed25519"

    def asbytes(self) -> bytes:
        return self.label.encode()


class FakeTransport:
    """Accepts what `accept` names; records every method tried, in order."""

    def __init__(self, accept: Sequence[str], methods: Sequence[str] = ("publickey", "keyboard-interactive"),
                 second_factor: bool = False, max_tries: int = 6) -> None:
        self.max_tries = max_tries  # sshd's MaxAuthTries: it hangs up after this many failures
        self.accept = set(accept)
        self.methods = list(methods)
        self.second_factor = second_factor
        self.tried: List[str] = []
        self.done = False

    def is_authenticated(self) -> bool:
        return self.done

    def is_active(self) -> bool:
        return len(self.tried) < self.max_tries or self.done

    def auth_publickey(self, user: str, key: FakeKey) -> List[str]:
        if not self.is_active():
            raise paramiko.SSHException("No existing session")
        self.tried.append(key.label)
        if "publickey" not in self.methods:
            raise paramiko.BadAuthenticationType("no", self.methods)
        if key.label not in self.accept:
            raise paramiko.AuthenticationException("denied")
        if self.second_factor:
            return ["keyboard-interactive"]
        self.done = True
        return []

    def auth_none(self, user: str) -> List[str]:
        self.tried.append("none")
        raise paramiko.BadAuthenticationType("no", self.methods)

    def auth_interactive(self, user: str, handler: Any) -> List[str]:
        answers = handler("Duo", "Two factors", [("Code: ", False)])
        self.tried.append(f"keyboard-interactive {answers}")
        if answers != ["123456"]:
            raise paramiko.AuthenticationException("wrong")
        self.done = True
        return []

    def auth_password(self, user: str, password: str) -> List[str]:
        self.tried.append(f"password {password}")
        self.done = password == "secret"
        return []


class Person:
    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.prompts: List[Tuple[str, bool]] = []

    def __call__(self, text: str, echo: bool) -> str:
        self.prompts.append((text, echo))
        return self.answers.pop(0)


def authenticator(mocker: Any, keys: Sequence[str], prompt: Optional[Person] = None) -> Authenticator:
    a = Authenticator(ServerConfig(host="login.example"), [], prompt)
    mocker.patch.object(Authenticator, "keys", lambda self: iter([(FakeKey(k), k) for k in keys]))
    return a


def test_keys_are_offered_in_order_until_one_is_accepted(mocker: Any) -> None:
    t = FakeTransport(accept=["id_rsa"])
    authenticator(mocker, ["agent key 1", "id_ed25519", "id_rsa", "id_ecdsa"]).login(t, "jdoe", "jdoe@login.example:22")
    assert t.tried == ["agent key 1", "id_ed25519", "id_rsa"]


def test_a_second_factor_after_a_key_is_relayed_to_the_person(mocker: Any, capsys: Any) -> None:
    t = FakeTransport(accept=["id_ed25519"], second_factor=True)
    person = Person("123456")
    authenticator(mocker, ["id_ed25519"], person).login(t, "jdoe", "target")
    assert t.tried == ["id_ed25519", "keyboard-interactive ['123456']"]
    assert person.prompts == [("Code: ", False)] and "Duo\nTwo factors" in capsys.readouterr().err


def test_without_keys_the_server_is_asked_and_a_password_follows(mocker: Any) -> None:
    t = FakeTransport(accept=[], methods=["password"])
    person = Person("secret")
    authenticator(mocker, [], person).login(t, "jdoe", "target")
    assert t.tried == ["none", "password secret"]
    assert person.prompts == [("jdoe@login.example's password: ", False)]


def test_a_server_refusing_keys_stops_the_key_offers(mocker: Any) -> None:
    t = FakeTransport(accept=[], methods=["keyboard-interactive"])
    authenticator(mocker, ["id_ed25519", "id_rsa"], Person("123456")).login(t, "jdoe", "target")
    assert t.tried == ["id_ed25519", "keyboard-interactive ['123456']"]


def test_answers_without_a_terminal_fail_without_asking(mocker: Any) -> None:
    t = FakeTransport(accept=[], methods=["publickey", "keyboard-interactive"])
    with pytest.raises(AuthError, match="no terminal"):
        authenticator(mocker, ["id_rsa"]).login(t, "jdoe", "target")


def test_when_nothing_is_left_the_error_names_what_was_tried(mocker: Any) -> None:
    t = FakeTransport(accept=[], methods=["publickey"])
    a = authenticator(mocker, ["agent key 1", "id_rsa"])
    a.skipped.append("/home/jdoe/.ssh/id_ecdsa (wrong passphrase)")
    with pytest.raises(AuthError) as caught:
        a.login(t, "jdoe", "jdoe@login.example:22")
    msg = caught.value.message
    assert "tried: agent key 1, id_rsa" in msg and "skipped: /home/jdoe/.ssh/id_ecdsa (wrong passphrase)" in msg
    assert "the server accepts: publickey" in msg


def test_wrong_answers_are_an_auth_error(mocker: Any) -> None:
    t = FakeTransport(accept=[], methods=["keyboard-interactive"])
    with pytest.raises(AuthError, match="did not accept the answers"):
        authenticator(mocker, [], Person("000000")).login(t, "jdoe", "target")


def test_agent_keys_come_before_identity_files_and_an_encrypted_key_asks_its_passphrase(mocker: Any, tmp_path: Path,
                                                                                       monkeypatch: Any) -> None:
    plain, locked = tmp_path / "id_plain", tmp_path / "id_locked"
    paramiko.ECDSAKey.generate().write_private_key_file(str(plain))
    paramiko.ECDSAKey.generate().write_private_key_file(str(locked), password="pw")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/nonexistent")
    agent_key = FakeKey("from the agent")
    mocker.patch("paramiko.Agent", return_value=mocker.Mock(**{"get_keys.return_value": [agent_key]}))
    person = Person("pw")
    a = Authenticator(ServerConfig(host="h", agent=True), [str(plain), str(locked)], person)
    found = list(a.keys())
    assert [label for _, label in found] == ["agent key 1", str(plain), str(locked)]
    assert found[0][0] is agent_key and person.prompts == [(f"Enter passphrase for key '{locked}': ", False)]


def test_an_encrypted_key_without_a_terminal_is_skipped_with_the_reason(tmp_path: Path) -> None:
    locked = tmp_path / "id_locked"
    paramiko.ECDSAKey.generate().write_private_key_file(str(locked), password="pw")
    a = Authenticator(ServerConfig(host="h", agent=False), [str(locked)], None)
    assert list(a.keys()) == []
    assert a.skipped == [f"{locked} (needs its passphrase; no terminal to ask)"]


def test_identity_files_hosts_yaml_alone_else_openssh_list(tmp_path: Path, monkeypatch: Any) -> None:
    """ssh -G's IdentityFile list (the config's, or OpenSSH's defaults) in its order, files that exist."""
    monkeypatch.setenv("HOME", str(tmp_path))
    ssh = tmp_path / ".ssh"
    ssh.mkdir()
    for name in ("id_rsa", "id_ed25519", "custom"):
        (ssh / name).write_text("x")
    assert identity_files(ServerConfig(host="h"), ["~/.ssh/custom", "~/.ssh/missing", str(ssh / "id_rsa")]) == [
        str(ssh / "custom"), str(ssh / "id_rsa")]
    assert identity_files(ServerConfig(host="h", identity=str(ssh / "id_rsa")), ["~/.ssh/custom"]) == [str(ssh / "id_rsa")]


def fake_files(self: Authenticator, paths: Sequence[str], agent: Any, offered: Any) -> Any:
    for p in paths:
        if p.encode() not in offered:
            offered.add(p.encode())
            yield FakeKey(p), p


def test_the_configured_identity_comes_before_a_crowded_agent(tmp_path: Path, mocker: Any) -> None:
    """Seven agent keys would use up MaxAuthTries; the key hosts.yaml names is offered first."""
    cfg = ServerConfig(host="login.example", identity=str(tmp_path / "course_key"))
    a = Authenticator(cfg, [str(tmp_path / "id_rsa"), cfg.identity], None)
    mocker.patch.object(Authenticator, "_files", fake_files)
    mocker.patch.dict("os.environ", {"SSH_AUTH_SOCK": "/agent"})
    mocker.patch("paramiko.Agent", return_value=mocker.Mock(get_keys=lambda: [FakeKey(f"a{i}") for i in range(7)]))
    labels = [label for _, label in a.keys()]
    assert labels[0] == cfg.identity and labels[1:8] == [f"agent key {i}" for i in range(1, 8)]
    only = Authenticator(cfg, [str(tmp_path / "id_rsa"), cfg.identity], None, identities_only=True)
    assert [label for _, label in only.keys()] == [cfg.identity, str(tmp_path / "id_rsa")]  # no agent keys


def test_an_identity_file_the_agent_holds_is_offered_as_the_agents_key_first(tmp_path: Path, mocker: Any,
                                                                             monkeypatch: Any) -> None:
    """As OpenSSH: config keys found in the agent first (no passphrase asked), then other agent keys, then files;
    with IdentitiesOnly the agent still signs for the configured key, and offers nothing else."""
    plain, course = tmp_path / "id_plain", tmp_path / "course"
    key = paramiko.ECDSAKey.generate()
    key.write_private_key_file(str(course), password="pw")
    course.with_suffix(".pub").write_text(f"{key.get_name()} {key.get_base64()} course\n")
    paramiko.ECDSAKey.generate().write_private_key_file(str(plain))
    stranger = FakeKey("stranger")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/agent")
    mocker.patch("paramiko.Agent", return_value=mocker.Mock(get_keys=lambda: [stranger, key]))
    person = Person()
    cfg = ServerConfig(host="h")
    labels = [label for _, label in Authenticator(cfg, [str(plain), str(course)], person).keys()]
    assert labels == [f"{course} (from the agent)", "agent key 1", str(plain)] and person.prompts == []
    only = Authenticator(cfg, [str(plain), str(course)], person, identities_only=True)
    assert [label for _, label in only.keys()] == [f"{course} (from the agent)", str(plain)]


def test_identity_agent_picks_the_socket(monkeypatch: Any) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", "/env.sock")
    monkeypatch.setenv("COURSE_AGENT", "/course.sock")
    on, off = ServerConfig(host="h"), ServerConfig(host="h", agent=False)
    assert auth.agent_socket(on, None) == "/env.sock"
    assert auth.agent_socket(on, "/other.sock") == "/other.sock"
    assert auth.agent_socket(on, "$COURSE_AGENT") == "/course.sock"
    assert auth.agent_socket(on, "none") is None and auth.agent_socket(off, "/other.sock") is None


def test_an_agent_at_another_socket_is_asked_for_its_keys(tmp_path: Path) -> None:
    """IdentityAgent: a real ssh-agent on a socket of its own, not $SSH_AUTH_SOCK's."""
    import os
    import shutil
    import subprocess
    import time

    if shutil.which("ssh-agent") is None:
        pytest.skip("needs ssh-agent")
    sock, keyfile = tmp_path / "agent.sock", tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keyfile)], check=True)
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if sock.exists():
                break
            time.sleep(0.05)
        subprocess.run(["ssh-add", "-q", str(keyfile)], env=dict(os.environ, SSH_AUTH_SOCK=str(sock)), check=True,
                       capture_output=True)
        a = Authenticator(ServerConfig(host="h"), [], None, identity_agent=str(sock))
        found = list(a.keys())
        assert [label for _, label in found] == ["agent key 1"]
        assert found[0][0].get_base64() == keyfile.with_suffix(".pub").read_text().split()[1]
        a.close()
    finally:
        agent.terminate()
        agent.wait()


def test_a_server_that_hangs_up_after_too_many_keys_is_named_with_the_fix(mocker: Any) -> None:
    t = FakeTransport(accept=["the right one"], max_tries=3)
    with pytest.raises(AuthError) as err:
        authenticator(mocker, ["agent key 1", "agent key 2", "agent key 3", "the right one"]).login(t, "jdoe", "target")
    assert "ended the login after 3 keys were offered" in err.value.message
    assert "IdentitiesOnly yes" in (err.value.hint or "")


def test_the_login_says_which_key_and_method_won(mocker: Any) -> None:
    t = FakeTransport(accept=["id_ed25519"], second_factor=True)
    a = authenticator(mocker, ["id_ed25519"], Person("123456"))
    a.login(t, "jdoe", "target")
    assert a.used is not None and a.used.startswith("publickey (id_ed25519, ssh-ed25519 SHA256:")
    assert a.used.endswith(" + keyboard-interactive")


def test_a_private_key_others_can_read_is_refused_like_openssh(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("not read at all\n")
    key.chmod(0o644)
    a = Authenticator(ServerConfig(host="login.example"), [str(key)], None)
    assert list(a.keys()) == []
    assert a.skipped == [f"{key} (permissions 0644 are too open, so OpenSSH refuses it too: chmod 600 {key})"]
