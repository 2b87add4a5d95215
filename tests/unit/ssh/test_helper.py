"""The remote helper: its program runs here as a child process behind a channel-like pipe (no SSH, no network)."""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest

from sockdeploy.errors import HelperLost, HelperUnavailable, LoginShellSilent, PayloadError, ScriptTimeout
from sockdeploy.remote.host import Upload
from sockdeploy.ssh import helper as helper_mod
from sockdeploy.ssh.helper import RemoteHelper


class PipeChannel:
    """What the helper client needs of a paramiko channel, over a local process's pipes."""

    def __init__(self, script: str, env: Optional[dict] = None) -> None:
        self.proc = subprocess.Popen(["/bin/sh", "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=env, start_new_session=True)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.out = self.proc.stdout.fileno()
        self.closed = False
        self.sent: List[bytes] = []

    def fileno(self) -> int:
        return self.out

    def recv_ready(self) -> bool:
        return bool(select.select([self.out], [], [], 0)[0])

    def recv(self, n: int) -> bytes:
        return os.read(self.out, n)

    def sendall(self, data: bytes) -> None:
        self.sent.append(data)
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def exit_status_ready(self) -> bool:
        return self.proc.poll() is not None

    def recv_exit_status(self) -> int:
        return self.proc.wait()

    def close(self) -> None:
        self.closed = True
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=10)


def start(prefix: str = "") -> RemoteHelper:
    nonce = "0123abcd4567ef89"
    chan = PipeChannel(prefix + helper_mod.launcher(nonce))
    return RemoteHelper(chan, lambda: True, nonce=nonce)


@pytest.fixture
def helper():
    a = start()
    yield a
    a.close()


def gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_runs_scripts_one_after_another_with_their_own_output_and_status(helper):
    first = helper.run("echo out; echo err >&2; exit 3", None, 10)
    assert (first.stdout, first.stderr, first.exit_status) == ("out\n", "err\n", 3)
    second = helper.run("printf %s second", None, 10)
    assert (second.stdout, second.stderr, second.exit_status) == ("second", "", 0)


def test_stdin_bytes_arrive_unchanged_and_large_output_returns_whole(helper):
    data = bytes(range(256)) * 400  # NUL bytes and every other value, 100 KiB
    res = helper.run("od -An -v -tx1 | tr -d ' \\n' | wc -c", data, 20)
    assert int(res.stdout) == 2 * len(data)
    big = helper.run("head -c 3000000 /dev/zero | tr '\\0' x", None, 20)
    assert big.stdout == "x" * 3_000_000


def pieces(total: int, piece: int, fail_after: Optional[int] = None) -> Upload:
    """An Upload of `total` bytes made `piece` bytes at a time; PayloadError once `fail_after` bytes are out."""
    def chunks() -> Iterator[bytes]:
        made = 0
        while made < total:
            if fail_after is not None and made >= fail_after:
                raise PayloadError("server.c changed while it was being uploaded")
            n = min(piece, total - made)
            yield bytes([made // piece % 251]) * n
            made += n
    return Upload(total, chunks)


def test_an_upload_arrives_whole_though_sent_in_pieces(helper):
    upload = pieces(3_000_000, 70_000)
    expected = subprocess.run(["cksum"], input=b"".join(upload.chunks()), capture_output=True).stdout.decode()
    assert helper.run("cksum", upload, 20).stdout == expected
    assert helper.run("echo next", None, 10).stdout == "next\n"  # the frames stayed in step


def test_an_upload_cut_short_runs_nothing(tmp_path):
    a = start()
    ran = tmp_path / "ran"
    with pytest.raises(PayloadError):
        a.run(f"touch {ran}; cat >/dev/null", pieces(2_000_000, 100_000, fail_after=1_000_000), 20)
    assert a.broken
    a.close()  # as the session does with a broken helper: end of file before the request was whole
    assert a._chan.proc.returncode == 0 and not ran.exists()


def test_sending_is_linear_in_the_size(helper):
    import paramiko

    class PacketChannel:
        """Paramiko's own sendall over sends of one SSH packet each, as on a real channel."""

        sendall = paramiko.Channel.sendall

        def __init__(self) -> None:
            self.got = 0

        def send(self, data: Any) -> int:
            n = min(len(data), 32768)
            self.got += n
            return n

    chan = PacketChannel()
    started = time.monotonic()
    helper_mod.send_all(chan, bytes(64 << 20), None)  # with bytes slices: 64 GB copied, minutes
    assert chan.got == 64 << 20 and time.monotonic() - started < 3


def test_scripts_create_private_files(helper):
    assert helper.run("umask", None, 10).stdout.strip() == "0077"


def test_what_the_login_shell_prints_first_is_skipped():
    a = start(prefix="echo 'Welcome to the login host'; printf 'no newline'; ")
    try:
        assert a.run("echo hello", None, 10).stdout == "hello\n"
    finally:
        a.close()


def test_a_start_up_file_reading_stdin_gets_nothing_of_the_request():
    # like a .bashrc with `read -t 1`: the request is sent only after the greeting, so nothing is swallowed
    a = start(prefix="timeout 1 head -c 1 >/dev/null; ")
    try:
        assert a.run("echo hello", None, 10).stdout == "hello\n"
    finally:
        a.close()


def test_a_start_up_file_waiting_for_input_is_named_after_the_first_answer_limit():
    nonce = "0123abcd4567ef89"
    a = RemoteHelper(PipeChannel("head -c 1 >/dev/null; " + helper_mod.launcher(nonce)), lambda: True, nonce=nonce,
                     host="login", first_answer=0.3)
    try:
        with pytest.raises(LoginShellSilent, match="the login shell on login did not answer within 0.3 s"):
            a.run("echo hello", None, 10)
        assert a.broken
    finally:
        a.close()


@pytest.mark.parametrize("already_ended", [False, True])
def test_a_host_without_python3_makes_the_helper_unavailable_before_anything_ran(tmp_path, already_ended):
    chan = PipeChannel(f"exit {helper_mod.NO_PYTHON}")
    if already_ended:  # the request then meets a closed pipe
        chan.proc.wait()
    a = RemoteHelper(chan, lambda: True)
    with pytest.raises(HelperUnavailable):
        a.run(f"touch {tmp_path}/ran", None, 10)
    assert a.broken and not (tmp_path / "ran").exists()


def test_a_background_process_holding_the_output_does_not_hold_the_answer(helper):
    started = time.monotonic()
    res = helper.run("sleep 30 & echo $!", None, 10)
    assert time.monotonic() - started < 5
    pid = int(res.stdout)
    os.kill(pid, 9)
    assert helper.run("echo still here", None, 10).stdout == "still here\n"


def test_timeout_stops_the_script_and_keeps_what_it_printed(helper):
    with pytest.raises(ScriptTimeout) as caught:
        helper.run("echo started; echo $$; exec sleep 60", None, 1.0)
    lines = caught.value.partial.stdout.split()
    assert lines[0] == "started"
    assert gone(int(lines[1]))
    assert helper.broken  # a late answer must not be taken for the next script's


def test_the_channel_ending_stops_a_running_script(tmp_path):
    a = start()
    pidfile = tmp_path / "pid"
    chan = a._chan
    chan.sendall(helper_mod.request(f"echo $$ > {pidfile}; exec sleep 60"))
    deadline = time.monotonic() + 10
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    pid = int(pidfile.read_text())
    a.close()  # end of file on the helper's stdin, as when the SSH connection ends
    assert gone(pid)
    assert chan.proc.returncode == 0


def test_the_helper_dying_mid_script_is_reported_as_lost(helper):
    with pytest.raises(HelperLost):
        helper.run("kill -KILL $PPID; sleep 1", None, 10)
    assert helper.broken


def test_switch_turns_the_helper_off(monkeypatch):
    monkeypatch.delenv(helper_mod.ENV_SWITCH, raising=False)
    assert helper_mod.enabled()
    for off in ("0", "no", "off"):
        monkeypatch.setenv(helper_mod.ENV_SWITCH, off)
        assert not helper_mod.enabled()


# -- how the session uses remote helpers (logic only: the channels are mocks) -------------

class FakeTransport:
    def __init__(self, chans: list) -> None:
        self.chans = chans
        self.opened = 0

    def is_active(self) -> bool:
        return True

    def open_channel(self, kind, *args, timeout=None, **kwargs):  # type: ignore[no-untyped-def]
        self.opened += 1
        return self.chans.pop(0)


def session_with(chans: list, mocker):  # type: ignore[no-untyped-def]
    from sockdeploy.spec.hosts import ServerConfig
    from sockdeploy.ssh.session import SshSession

    s = SshSession(ServerConfig(host="login.example"))
    s._transport = FakeTransport(chans)
    s._conn = object()
    mocker.patch.object(SshSession, "transport", new=property(lambda self: self._transport))
    return s


class ExecChannel(PipeChannel):
    """A PipeChannel whose command arrives through exec_command, as over SSH."""

    def __init__(self) -> None:  # the process starts at exec
        self.closed = False
        self.sent = []

    def exec_command(self, command: str) -> None:
        PipeChannel.__init__(self, command)


def test_session_runs_every_script_through_one_helper(mocker):
    chans = [ExecChannel()]
    s = session_with(chans, mocker)
    fallback = mocker.patch.object(type(s), "_run_on_channel")
    assert s.run("echo one").stdout == "one\n"
    assert s.run("cat", stdin=b"two").stdout == "two"
    assert s._transport.opened == 1 and not fallback.called
    s.close()


def test_session_falls_back_to_channels_for_good_when_the_host_has_no_python3(mocker):
    class NoPython(ExecChannel):
        def exec_command(self, command: str) -> None:
            PipeChannel.__init__(self, f"exit {helper_mod.NO_PYTHON}")

    s = session_with([NoPython()], mocker)
    fallback = mocker.patch.object(type(s), "_run_on_channel", return_value="ran on a channel")
    assert s.run("echo one") == "ran on a channel"
    assert s.run("echo two") == "ran on a channel"
    assert s._transport.opened == 1  # the helper was tried once, then never again
    assert [c.args[0] for c in fallback.call_args_list] == ["echo one", "echo two"]


def test_session_uses_a_channel_while_its_only_helper_is_busy(mocker):
    s = session_with([ExecChannel()], mocker)
    fallback = mocker.patch.object(type(s), "_run_on_channel", return_value="ran on a channel")
    busy = s.helpers.borrow()
    assert s.run("echo meanwhile") == "ran on a channel"
    assert busy is not None
    s.helpers.give_back(busy, s._transport)
    assert s.run("echo after").stdout == "after\n"
    assert fallback.call_count == 1
    s.close()
