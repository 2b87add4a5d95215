from pathlib import Path

from sockdeploy.run.dryrun import plan, render_plan
from sockdeploy.spec.hosts import parse_config
from sockdeploy.spec.payload import resolve


def _cfg(tmp_path: Path, via: str = "tunnel"):
    p = tmp_path / "hosts.yaml"
    p.write_text("server:\n  host: shell.example.edu\n  user: jdoe\n  port: 2222\n"
                 f"network:\n  via: {via}\n  ports: 31000-31010\n")
    return parse_config(p)


def _text(name: str, cfg, **kw) -> str:
    payload = resolve(name)
    return render_plan(plan(payload, cfg, **kw), payload, cfg)


def test_tunnel_plan_is_what_a_student_types(tmp_path):
    text = _text("ex5", _cfg(tmp_path), port=31005)
    assert "scp -P 2222 -- client.c server.c jdoe@shell.example.edu:~/.sockdeploy/manual-ex5/" in text
    assert "ssh -t -p 2222 jdoe@shell.example.edu 'cd ~/.sockdeploy/manual-ex5 && ./server 31005'" in text
    assert "ssh -f -N -p 2222 jdoe@shell.example.edu -L 31005:localhost:31005" in text
    assert "  ./client 127.0.0.1 31005 quit" in text
    assert "gcc -Wall" in text and "nothing was contacted" in text


def test_direct_plan_looks_up_the_numeric_ip(tmp_path):
    text = _text("ex5", _cfg(tmp_path, "direct"))
    assert "getent hosts shell.example.edu" in text
    assert '  ./client "$SERVER_IP" 310' in text and "-L " not in text
    port = int(text.split("./server ")[1].split("'")[0])
    assert 31000 <= port <= 31010  # from network.ports


def test_stdin_and_duration_become_shell(tmp_path):
    text = _text("py-udp", _cfg(tmp_path, "vpn"))
    assert 'timeout -s INT 2.2 python3 client.py "$SERVER_IP"' in text
    text = _text("c-tcp-fork", _cfg(tmp_path))
    assert "printf '%s\\n' 'hello from client one' | ./client localhost " in text


def test_local_payload_and_no_config():
    text = _text("ex1", None)
    assert "ssh" not in text.replace("sockdeploy", "") and './server "$HOME/sockdeploy-manual/sock"' in text
    assert "YOU@" in _text("ex5", None)


def test_every_name_it_prints_is_quoted(tmp_path) -> None:
    """Pasting the printed lines must never run what a hostile folder, file, user or workdir name holds."""
    import os
    import subprocess

    from sockdeploy.spec.hosts import Config, ServerConfig

    evil = tmp_path / "-x $(touch PWNED)"
    evil.mkdir()
    for name in ("server.c", "client.c"):
        (evil / name).write_text("int main(void) { return 0; }\n")
    (evil / "-rf $(touch PWNED2).c").write_text("int x;\n")
    payload = resolve("ex5", str(evil))
    cfg = Config(server=ServerConfig(host="shell.example.edu", user="jdoe$(touch PWNED4)", workdir="~/$(touch PWNED3)"))
    text = render_plan(plan(payload, cfg, via="tunnel"), payload, cfg)
    commands = [line[2:] for line in text.splitlines() if line.startswith("  ") and not line.startswith("  #")]
    for command in commands:
        # `set --` only splits and expands the words: an unquoted $(...) would run, nothing else does
        subprocess.run(["sh", "-c", "set -f; set -- " + command.split(" | ")[-1].split(" && ")[0]],
                       cwd=tmp_path, env=dict(os.environ, HOME=str(tmp_path)), capture_output=True, timeout=10)
    assert not list(tmp_path.rglob("PWNED*")), text
    assert "'jdoe$(touch PWNED4)@shell.example.edu'" in text and "cp -- " in text and "~/'$(touch PWNED3)" in text


def test_nested_sources_are_copied_with_their_folders(tmp_path):
    import shutil

    from sockdeploy.discover.payload import resolve_target

    student = Path(__file__).resolve().parents[2] / "fixtures" / "student" / "makefile-src-inc"
    mine = tmp_path / "mine"
    shutil.copytree(student, mine)
    (mine / "expected.yaml").unlink()
    payload = resolve_target("ex5", str(mine))
    cfg = _cfg(tmp_path)
    text = render_plan(plan(payload, cfg, port=31005), payload, cfg)
    assert "scp -r -P 2222 -- inc makefile src jdoe@shell.example.edu:~/.sockdeploy/manual-ex5/" in text
    assert "cp -R -- inc makefile src ~/sockdeploy-manual/" in text and "make server" in text
