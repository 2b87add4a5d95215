"""Host keys: the policy for unknown keys, known_hosts lookups and storing, the changed-key error (no network)."""

from __future__ import annotations

from pathlib import Path
from typing import List

import paramiko
import pytest

from sockdeploy.errors import HostKeyError
from sockdeploy.ssh.connection import translated_errors
from sockdeploy.ssh.hostkeys import HostKeyPolicy, KnownHosts, fingerprint, known_hosts_name

NAME = "[login.example]:2222"


@pytest.fixture(scope="module")
def key() -> paramiko.PKey:
    return paramiko.ECDSAKey.generate()


@pytest.fixture
def known(tmp_path: Path) -> KnownHosts:
    return KnownHosts(str(tmp_path / "ssh" / "known_hosts"))


class Asker:
    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.asked: List[str] = []

    def __call__(self, question: str) -> bool:
        self.asked.append(question)
        return self.answer


def test_names_and_fingerprints_match_openssh(key: paramiko.PKey) -> None:
    assert known_hosts_name("login.example", 22) == "login.example"
    assert known_hosts_name("login.example", 2222) == NAME
    fp = fingerprint(key)
    assert fp.startswith("SHA256:") and not fp.endswith("=") and len(fp) == len("SHA256:") + 43


def test_a_known_key_is_paramikos_to_match_and_never_reaches_the_policy(known: KnownHosts, key: paramiko.PKey) -> None:
    known.store(NAME, key)
    client = paramiko.SSHClient()
    known.load_into(client)
    assert client.get_host_keys().lookup(NAME)[key.get_name()] == key
    assert known.find_entry(NAME) == f"{known.path}:1" and known.find_entry("other.example") is None


def test_an_unknown_key_without_a_terminal_is_refused_and_not_stored(known: KnownHosts, key: paramiko.PKey) -> None:
    policy = HostKeyPolicy(known, accept_new=False, confirm=None)
    with pytest.raises(HostKeyError) as caught:
        policy.missing_host_key(None, NAME, key)
    assert fingerprint(key) in caught.value.message and "--accept-new" in caught.value.hint
    assert not known.path.exists()


def test_an_unknown_key_with_accept_new_is_stored_privately_without_asking(known: KnownHosts, key: paramiko.PKey) -> None:
    asker = Asker(False)
    HostKeyPolicy(known, accept_new=True, confirm=asker).missing_host_key(None, NAME, key)
    assert asker.asked == []
    assert known.find_entry(NAME) is not None
    assert known.path.stat().st_mode & 0o777 == 0o600 and known.path.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("answer", [True, False])
def test_an_unknown_key_on_a_terminal_is_stored_only_when_the_person_says_yes(known: KnownHosts, key: paramiko.PKey,
                                                                               answer: bool) -> None:
    asker = Asker(answer)
    policy = HostKeyPolicy(known, accept_new=False, confirm=asker)
    if answer:
        policy.missing_host_key(None, NAME, key)
        assert known.find_entry(NAME) is not None
    else:
        with pytest.raises(HostKeyError, match="not trusted"):
            policy.missing_host_key(None, NAME, key)
        assert not known.path.exists()
    [question] = asker.asked
    assert fingerprint(key) in question and str(known.path) in question


def test_hashed_entries_are_found(known: KnownHosts, key: paramiko.PKey) -> None:
    hashed = paramiko.HostKeys.hash_host(NAME)
    known.path.parent.mkdir()
    known.path.write_text("garbage line\n" + paramiko.hostkeys.HostKeyEntry([hashed], key).to_line())
    assert known.find_entry(NAME) == f"{known.path}:2"


def test_a_changed_key_is_refused_naming_the_old_entry_and_the_fix(known: KnownHosts, key: paramiko.PKey) -> None:
    known.store(NAME, paramiko.ECDSAKey.generate())

    class Conn:
        user, host, port = "jdoe", "login.example", 2222

    with pytest.raises(HostKeyError) as caught, translated_errors(Conn(), known):
        raise paramiko.BadHostKeyException(NAME, key, paramiko.ECDSAKey.generate())
    err = caught.value
    assert "HOST KEY CHANGED" in err.message and fingerprint(key) in err.message and f"{known.path}:1" in err.message
    assert "ssh-keygen -R" in err.hint and str(known.path) in err.hint


def test_an_unreadable_known_hosts_is_a_host_key_error(known: KnownHosts) -> None:
    known.path.parent.mkdir()
    known.path.write_bytes(b"\xff\xfe not text\n")
    with pytest.raises(HostKeyError, match="cannot read known_hosts"):
        known.load_into(paramiko.SSHClient())


def test_marker_lines_are_read_as_openssh_reads_them(known: KnownHosts, key: paramiko.PKey) -> None:
    other = paramiko.ECDSAKey.generate()
    known.path.parent.mkdir(parents=True)
    known.path.write_text(
        f"@cert-authority *.example {other.get_name()} {other.get_base64()}\n"
        f"@revoked * {key.get_name()} {key.get_base64()}\n"
        f"{NAME} {key.get_name()} {key.get_base64()}\n"
        f"plain.example {other.get_name()} {other.get_base64()}\n")
    client = paramiko.SSHClient()
    known.load_into(client)  # no traceback: the markers are understood
    assert client.get_host_keys().lookup(NAME) is None  # a revoked key is never trusted, even where listed
    assert client.get_host_keys().lookup("plain.example") is not None
    assert known.notes and "@cert-authority line ignored" in known.notes[0]
    policy = HostKeyPolicy(known, accept_new=True, confirm=None)
    with pytest.raises(HostKeyError) as err:
        policy.missing_host_key(None, NAME, key)  # not even --accept-new stores it
    assert "is marked @revoked at" in err.value.message and f"{known.path}:2" in err.value.message
    assert known.path.read_text().count(key.get_base64()) == 2  # nothing was appended


def test_a_revoked_key_offered_for_a_known_host_is_named_as_revoked(known: KnownHosts, key: paramiko.PKey) -> None:
    other = paramiko.ECDSAKey.generate()
    known.path.parent.mkdir(parents=True)
    known.path.write_text(f"@revoked * {key.get_name()} {key.get_base64()}\n{NAME} {other.get_name()} {other.get_base64()}\n")
    known.load_into(paramiko.SSHClient())
    conn = type("Conn", (), {"user": "me", "host": "login.example", "port": 2222})()
    with pytest.raises(HostKeyError) as err:
        with translated_errors(conn, known):
            raise paramiko.BadHostKeyException("login.example", key, other)
    assert "marked @revoked" in err.value.message


@pytest.mark.parametrize("strict, stored", [("accept-new", True), ("no", True), ("yes", False), ("ask", False)])
def test_each_strict_host_key_checking_mode_without_a_terminal(tmp_path: Path, key: paramiko.PKey, strict: str,
                                                               stored: bool) -> None:
    known = KnownHosts(None, default=str(tmp_path / "kh"), hash_names=True)
    asker = Asker(True)
    policy = HostKeyPolicy(known, accept_new=False, confirm=asker if strict == "ask" else None, strict=strict)
    if stored:
        policy.missing_host_key(None, NAME, key)
        line = known.path.read_text()
        assert line.startswith("|1|") and NAME not in line  # HashKnownHosts: the name is hashed
        assert paramiko.HostKeys(str(known.path)).lookup(NAME) is not None
    elif strict == "yes":
        with pytest.raises(HostKeyError) as err:
            policy.missing_host_key(None, NAME, key)
        assert "StrictHostKeyChecking yes" in err.value.message and not known.path.exists()
    else:  # ask: the person decides
        policy.missing_host_key(None, NAME, key)
        assert asker.asked and known.path.exists()


def test_every_file_openssh_reads_is_looked_up_and_new_keys_go_to_the_first(tmp_path: Path, key: paramiko.PKey) -> None:
    """UserKnownHostsFile's later files and GlobalKnownHostsFile count for lookups; hosts.yaml's file stands alone."""
    from sockdeploy.spec.hosts import ServerConfig
    from sockdeploy.ssh.hostkeys import known_hosts_for
    from sockdeploy.ssh.resolver import SshOptions

    first, second, system = tmp_path / "first", tmp_path / "second", tmp_path / "system"
    second.write_text(f"{NAME} {key.get_name()} {key.get_base64()}\n")
    opts = SshOptions(alias="login", hostname="login.example", user_known_hosts=(str(first), str(second)),
                      global_known_hosts=(str(system),), hash_known_hosts=True)
    known = known_hosts_for(ServerConfig(host="login"), opts)
    assert known.path == first and known.also == (second, system) and known.hash_names
    client = paramiko.SSHClient()
    known.load_into(client)
    assert client.get_host_keys().lookup(NAME) is not None
    assert known.find_entry(NAME) == f"{second}:1"
    assert "-f " + str(second) in known.changed_key_error(NAME, paramiko.ECDSAKey.generate()).hint
    alone = known_hosts_for(ServerConfig(host="login", known_hosts=str(tmp_path / "mine")), opts)
    assert alone.path == tmp_path / "mine" and alone.also == ()
