"""The one-line command that carries a script: any login shell, values intact, private files."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from sockdeploy.remote.program import with_args
from sockdeploy.ssh.command import wrap_script

TRICKY = "it's \"quoted\" $HOME `date` \\ ; | & \n second line"


@pytest.mark.parametrize("shell", ["sh", "bash", "csh", "tcsh", "fish"])
def test_the_script_runs_under_sh_whatever_the_login_shell(shell: str) -> None:
    path = shutil.which(shell)
    if path is None:
        pytest.skip(f"no {shell} here")
    script = "printf '%s|' \"$1\"; umask\n"
    out = subprocess.run([path, "-c", wrap_script(with_args(script, TRICKY))], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    value, umask = out.stdout.rsplit("|", 1)
    assert value == TRICKY and umask.strip() == "0077"


def test_the_command_is_one_line_without_the_script_text() -> None:
    command = wrap_script("echo secret-looking-value\n")
    assert "\n" not in command and "secret-looking-value" not in command and command.startswith("/bin/sh -c ")


def test_with_args_quotes_each_value() -> None:
    assert with_args("echo \"$#\"\n", "a b", "") == "set -- 'a b' ''\necho \"$#\"\n"
    out = subprocess.run(["/bin/sh", "-c", with_args('echo "$#:$1:$2"\n', "a b", "")], capture_output=True, text=True)
    assert out.stdout == "2:a b:\n"


@pytest.mark.parametrize("shell", ["sh", "csh", "fish"])
def test_a_marker_line_comes_first_whatever_the_login_shell(shell: str) -> None:
    path = shutil.which(shell)
    if path is None:
        pytest.skip(f"no {shell} here")
    out = subprocess.run([path, "-c", wrap_script("echo out\n", marker="SD-START-0123abcd")], capture_output=True,
                         text=True, timeout=30)
    assert out.stdout == "SD-START-0123abcd\nout\n", out.stderr
