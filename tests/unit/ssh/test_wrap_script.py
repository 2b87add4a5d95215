import subprocess

import pytest

from sockdeploy.ssh.command import wrap_script


@pytest.mark.parametrize("login_shell", ["/bin/sh", "/bin/bash"])
def test_wrapped_script_survives_any_quoting(login_shell, tmp_path):
    script = "printf '%s|' \"$0\" 'a'\"'\"'b' \"x;y\" '$(no)' '`no`'\necho\necho 'naïve\nline'"
    out = subprocess.run([login_shell, "-c", wrap_script(script)], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "a'b|x;y|$(no)|`no`|" in out.stdout
    assert "naïve\nline" in out.stdout
