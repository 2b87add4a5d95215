import subprocess
from pathlib import Path

import pytest

from sockdeploy.errors import PayloadError, UsageError
from sockdeploy.spec.payload import (
    bundled_names,
    load_manifest,
    placeholders_in,
    render,
    resolve,
)
from sockdeploy.spec.sources import list_sources

GOOD = """\
description: test
server:
  build: gcc -o server server.c
  run: ./server {port}
client:
  build: gcc -o client client.c
  runs:
    - ./client {ip} {port}
    - ./client {ip} {port} quit
expect:
  server_exits: true
"""


def make(tmp_path: Path, manifest: str, files=("server.c", "client.c")) -> Path:
    d = tmp_path / "p"
    d.mkdir(exist_ok=True)
    (d / "payload.yaml").write_text(manifest)
    for f in files:
        (d / f).write_text("int main(void){return 0;}\n")
    return d


def test_good_manifest(tmp_path):
    p = load_manifest(make(tmp_path, GOOD) / "payload.yaml")
    assert p.server.commands == ("./server {port}",)
    assert p.client.commands[1] == "./client {ip} {port} quit"
    assert p.ready == "tcp" and p.server_exits and not p.local
    assert sorted(f.name for f in p.files) == ["client.c", "server.c"]
    assert set(p.checksums()) == {"client.c", "server.c"}


def test_every_bundled_exercise_loads():
    names = bundled_names()
    for n in ("ex1", "ex2", "ex3", "ex4", "ex5", "ex6"):
        assert n in names
        p = resolve(n)
        assert p.local == (n in ("ex1", "ex2", "ex3", "ex4"))
        assert p.server_exits


@pytest.mark.parametrize(
    "old, new, line, fragment",
    [
        ("./server {port}", "./server {prot}", 4, "unknown placeholder {prot}"),
        ("  runs:\n", "  runz:\n", 7, "unknown key 'client.runz'"),
        ("  server_exits: true", "  server_exits: maybe", 11, "true or false"),
        ("  run: ./server {port}\n", "", 2, "missing required key 'server.run'"),
    ],
)
def test_bad_manifest(tmp_path, old, new, line, fragment):
    d = make(tmp_path, GOOD.replace(old, new))
    with pytest.raises(PayloadError) as info:
        load_manifest(d / "payload.yaml")
    assert fragment in info.value.message
    assert info.value.headline().startswith(f"{d / 'payload.yaml'}:{line}:"), info.value.headline()
    assert info.value.hint


def test_unknown_placeholder_suggests_closest(tmp_path):
    d = make(tmp_path, GOOD.replace("{ip}", "{ipp}", 1))
    with pytest.raises(PayloadError) as info:
        load_manifest(d / "payload.yaml")
    assert "{ip}" in info.value.hint


def test_missing_source_is_named(tmp_path):
    d = make(tmp_path, GOOD, files=("server.c",))
    with pytest.raises(PayloadError) as info:
        load_manifest(d / "payload.yaml")
    assert "client.c" in info.value.message and "client.build" in info.value.message


def test_socket_needs_local(tmp_path):
    d = make(tmp_path, GOOD.replace("./server {port}", "./server {socket}"))
    with pytest.raises(PayloadError) as info:
        load_manifest(d / "payload.yaml")
    assert "local: true" in info.value.hint


def test_shell_variables_are_not_placeholders():
    assert placeholders_in("echo ${HOME} {port} $HOME {ip}") == ["port", "ip"]


@pytest.mark.parametrize("value", ["a b", "x;rm -rf /", "$(touch pwned)", "`id`", "it's", "new\nline", "naïve"])
def test_render_quotes_every_value(tmp_path, value):
    command = render("printf '%s' {host}", {"host": value})
    out = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout == value
    assert not (tmp_path / "pwned").exists()


def test_stale_binaries_and_hidden_files_are_not_sources(tmp_path):
    d = make(tmp_path, GOOD)
    (d / "server").write_bytes(b"\x7fELF\x02\x01")
    (d / ".git").mkdir()
    (d / ".hidden").write_text("x")
    assert [p.name for p in list_sources(d)] == ["client.c", "server.c"]


def test_user_code_with_exercise_plan(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "server.c").write_text("x")
    (mine / "client.c").write_text("y")
    p = resolve("ex5", str(mine))
    assert p.source_dir == mine.resolve()
    assert p.client.commands == resolve("ex5").client.commands


def test_user_code_missing_file(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "server.c").write_text("x")
    with pytest.raises(PayloadError, match="client.c"):
        resolve("ex5", str(mine))


def test_unknown_target_suggests(tmp_path):
    with pytest.raises(UsageError) as info:
        resolve("ex7")
    assert "did you mean" in info.value.hint
    with pytest.raises(UsageError):
        resolve("ex5", str(tmp_path / "nope"))


@pytest.mark.parametrize("name", ["server.pid", "client.pid", "lifeline.pid", "server.log", "server.cut", "server.log.2",
                                  "server.times.17"])
def test_a_file_named_like_sockdeploys_own_is_never_uploaded(tmp_path, name) -> None:
    (tmp_path / "server.c").write_text("int main(void) { return 0; }\n")
    (tmp_path / name).write_text("0\n")  # with 0 in server.pid, the watchdog once killed itself
    with pytest.raises(PayloadError) as err:
        list_sources(tmp_path)
    assert err.value.message == (f"{tmp_path / name}: sockdeploy keeps a file of this name in the run folder, "
                                 "so it cannot be uploaded")


def test_a_glob_in_a_build_command_is_accepted(tmp_path) -> None:
    d = make(tmp_path, GOOD.replace("gcc -o server server.c", "gcc -o server *.c"), files=("server.c", "client.c"))
    assert load_manifest(d / "payload.yaml").server.build == "gcc -o server *.c"
    d = make(tmp_path, GOOD.replace("gcc -o server server.c", "gcc -o server src/*.c"), files=("server.c", "client.c"))
    with pytest.raises(PayloadError, match=r"src/\*\.c \(named in server.build\) matches no file uploaded"):
        load_manifest(d / "payload.yaml")


def test_my_symlinked_server_c_is_named_as_a_symlink_not_as_missing(tmp_path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (tmp_path / "real-server.c").write_text("x")
    (mine / "server.c").symlink_to(tmp_path / "real-server.c")
    (mine / "client.c").write_text("y")
    with pytest.raises(PayloadError) as err:
        resolve("ex5", str(mine))
    assert err.value.message.startswith("server.c is a symlink; symlinks are not uploaded")
    assert "missing" not in err.value.message and "readlink -f server.c" in (err.value.hint or "")
