"""The one error -> exit path (cli/app.py) and the one exit-code table (errors.EXIT_CODES)."""

from __future__ import annotations

from typing import Iterator, Type

import click
import pytest

from sockdeploy import errors
from sockdeploy.cli import app
from sockdeploy.cli.app import SockdeployGroup, cli
from sockdeploy.net.vpn import VpnCheck
from tests.unit.cli.support import hosts_file, make_runner, one_line_error


def _subclasses(cls: Type[errors.SockdeployError]) -> Iterator[Type[errors.SockdeployError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


ERROR_CLASSES = sorted(set(_subclasses(errors.SockdeployError)), key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_class_has_a_documented_exit_code(cls):
    assert cls.exit_code in errors.EXIT_CODES and cls.exit_code != errors.EXIT_OK
    assert errors.exit_code_for(cls("x")) == cls.exit_code


def test_the_table_holds_the_codes_the_readme_documents():
    assert errors.EXIT_CODES == {0: "ok", 1: "internal error (a fault in sockdeploy; its traceback is kept in a file)",
                                 2: "config/usage", 3: "SSH connection/authentication/host key", 4: "build",
                                 5: "network path", 6: "the programs failed or timed out", 7: "lab",
                                 130: "interrupted (Ctrl-C)", 143: "terminated (SIGTERM)",
                                 129: "hung up (SIGHUP: the terminal or SSH session closed)"}
    assert errors.exit_code_for(KeyboardInterrupt()) == 130
    assert errors.exit_code_for(RuntimeError("bug")) == errors.EXIT_UNEXPECTED == 1


def test_help_epilog_is_the_table():
    res = make_runner().invoke(cli, ["--help"])
    text = " ".join(res.stdout.split())
    assert res.exit_code == 0 and errors.exit_codes_text() in text
    for code, meaning in errors.EXIT_CODES.items():
        assert f"{code} {meaning}" in text


def _raising(error: errors.SockdeployError) -> click.Group:
    @click.group(cls=SockdeployGroup)
    def group() -> None:
        """A group."""

    @group.command()
    def fail() -> None:
        """Fail."""
        click.echo("partial output")
        raise error

    @group.group()
    def sub() -> None:
        """A subgroup."""

    @sub.command("fail")
    def sub_fail() -> None:
        """Fail one level down."""
        raise error

    return group


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_an_error_becomes_one_line_a_hint_and_its_exit_code(cls):
    group = _raising(cls("it broke", "do this instead", where="hosts.yaml:3"))
    for args in (["fail"], ["sub", "fail"]):
        res = make_runner().invoke(group, args, catch_exceptions=False)
        one_line_error(res.stderr, cls.exit_code, res.exit_code)
        assert res.stderr.splitlines()[-2] == "sockdeploy: error: hosts.yaml:3: it broke"
        assert res.stderr.splitlines()[-1] == "  hint: do this instead"
    assert make_runner().invoke(group, ["fail"]).stdout == "partial output\n"


def test_an_error_with_program_output_shows_it_first():
    err = errors.BuildError("the server did not compile", "fix the first error", command="gcc -o server server.c",
                            output="server.c:1: error: expected ';'\n")
    res = make_runner().invoke(_raising(err), ["fail"], catch_exceptions=False)
    assert res.stderr.splitlines() == ["$ gcc -o server server.c", "server.c:1: error: expected ';'",
                                       "sockdeploy: error: the server did not compile", "  hint: fix the first error"]
    assert res.exit_code == 4


def test_an_unknown_exercise_is_one_line_with_a_suggestion(invoke):
    res = invoke("run", "ex55")
    one_line_error(res.stderr, 2, res.exit_code)
    assert "did you mean 'ex5'?" in res.stderr


def test_lab_exec_without_a_lab_is_a_lab_error(invoke):
    res = invoke("lab", "exec", "--", "true")
    one_line_error(res.stderr, 7, res.exit_code)


def test_vpn_status_failure_is_a_network_path_error(invoke, tmp_path, mocker):
    hosts_file(tmp_path)
    mocker.patch("socket.getaddrinfo", side_effect=OSError("no name"))
    mocker.patch("sockdeploy.net.vpn.vpn_checks", return_value=[
        VpnCheck("openconnect running", False, "no openconnect process", "sudo openconnect danforthvpn.wustl.edu")])
    res = invoke("vpn", "status")
    one_line_error(res.stderr, 5, res.exit_code)
    assert "FAIL" in res.stdout and "openconnect running: no openconnect process" in res.stderr
    assert "hint: sudo openconnect danforthvpn.wustl.edu" in res.stderr


def test_vpn_status_ok_exits_0(invoke, tmp_path, mocker):
    hosts_file(tmp_path)
    mocker.patch("socket.getaddrinfo", side_effect=OSError("no name"))
    mocker.patch("sockdeploy.net.vpn.vpn_checks", return_value=[VpnCheck("openconnect running", True, "pid 1")])
    res = invoke("vpn", "status", "--json")
    assert res.exit_code == 0 and '"ok": true' in res.stdout and res.stderr == ""


def test_main_maps_an_interrupt_and_an_error_outside_a_command(mocker, capsys):
    mocker.patch("signal.signal")  # main() installs a SIGTERM handler; not in the test process
    mocker.patch.object(app.cli, "main", side_effect=KeyboardInterrupt)
    with pytest.raises(SystemExit) as stopped:
        app.main([])
    assert stopped.value.code == 130 and "sockdeploy: interrupted" in capsys.readouterr().err
    mocker.patch.object(app.cli, "main", side_effect=errors.Terminated("terminated (SIGTERM)", "partial transcripts are kept"))
    with pytest.raises(SystemExit) as stopped:
        app.main([])
    err = capsys.readouterr().err
    assert stopped.value.code == 143 and "sockdeploy: error: terminated (SIGTERM)" in err and "Traceback" not in err


def test_main_exits_with_the_commands_code(mocker, tmp_path, monkeypatch):
    mocker.patch("signal.signal")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        app.main(["run", "ex55"])
    assert stopped.value.code == 2


def test_completion_scripts_complete_the_whole_command_line(invoke):
    for shell in ("bash", "zsh"):
        res = invoke("completion", shell)
        assert res.exit_code == 0 and "_SOCKDEPLOY_COMPLETE" in res.stdout and res.stderr == ""


def test_completion_offers_payload_names(monkeypatch, capsys):
    monkeypatch.setenv("_SOCKDEPLOY_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", "sockdeploy run ex")
    monkeypatch.setenv("COMP_CWORD", "2")
    with pytest.raises(SystemExit):
        cli.main(args=[], prog_name="sockdeploy")
    offered = capsys.readouterr().out
    assert "plain,ex5" in offered and "plain,ex1" in offered


def test_an_unexpected_exception_is_one_line_with_the_traceback_kept(invoke, tmp_path, mocker) -> None:
    mocker.patch("sockdeploy.cli.vpn.socket.getaddrinfo", side_effect=ZeroDivisionError("boom"))
    (tmp_path / "hosts.yaml").write_text("server:\n  host: login.example\n")
    res = invoke("vpn", "status", "--hosts", "hosts.yaml")
    assert res.exit_code == 1 and "Traceback" not in res.stderr
    assert "sockdeploy: error: internal error: ZeroDivisionError: boom" in res.stderr
    kept = list((tmp_path / "state" / "sockdeploy").glob("internal-error-*.txt"))
    assert len(kept) == 1 and "ZeroDivisionError" in kept[0].read_text() and str(kept[0]) in res.stderr
