"""The redirect's build on a host (through LocalHost), its environment, its log and the static-binary check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sockdeploy.errors import BuildError
from sockdeploy.remote.host import LocalHost
from sockdeploy.run.redirect import Redirect, Redirected, Rule, build_library, is_dynamic, read_log, source_digest


def test_the_library_is_built_once_per_source_version(tmp_path: Path) -> None:
    cache = tmp_path / "lib"
    path = build_library(LocalHost(), str(cache))
    assert path == str(cache / f"libsockdeploy-redirect-{source_digest()}.so")
    built = os.stat(path)
    assert oct(os.stat(cache).st_mode & 0o777) == "0o700"
    assert build_library(LocalHost(), str(cache)) == path
    assert os.stat(path).st_mtime_ns == built.st_mtime_ns  # reused, not rebuilt
    assert [p.name for p in cache.iterdir()] == [Path(path).name]  # no build folder left


def test_a_cache_others_can_write_is_refused(tmp_path: Path) -> None:
    cache = tmp_path / "shared"
    cache.mkdir()
    cache.chmod(0o777)
    with pytest.raises(BuildError) as err:
        build_library(LocalHost(), str(cache))
    assert "writable by others" in err.value.message and "edit the address" in (err.value.hint or "")
    assert list(cache.iterdir()) == []


def test_the_library_loads_into_a_program(tmp_path: Path) -> None:
    library = build_library(LocalHost(), str(tmp_path / "lib"))
    log = tmp_path / "redirects"
    env = dict(os.environ, **Redirect(bind=((30303, 0),)).environment(library, str(log)))
    out = subprocess.run([sys.executable, "-c", "print('loaded')"], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == "loaded\n" and "ERROR" not in out.stderr


def test_environment_holds_every_rule() -> None:
    redirect = Redirect(connect=(Rule("128.252.167.161", 30303, "127.0.0.1", 41000), Rule(None, 12000, "127.0.0.1", 41001)),
                        bind=((30303, 31999),))
    env = redirect.environment("/w/lib.so", "/w/redirects.log")
    assert env == {"LD_PRELOAD": "/w/lib.so", "SOCKDEPLOY_LOG": "/w/redirects.log",
                   "SOCKDEPLOY_CONNECT": "128.252.167.161:30303>127.0.0.1:41000,*:12000>127.0.0.1:41001",
                   "SOCKDEPLOY_BIND": "30303>31999"}
    assert "SOCKDEPLOY_BIND" not in Redirect().environment("l", "g")


def test_the_log_reads_back_as_sentences() -> None:
    entries = read_log("connect tcp 128.252.167.161:30303 127.0.0.1:41000\ngarbage\nbind udp 0.0.0.0:12000 0.0.0.0:31002\n")
    assert entries == [Redirected("connect", "tcp", "128.252.167.161:30303", "127.0.0.1:41000"),
                       Redirected("bind", "udp", "0.0.0.0:12000", "0.0.0.0:31002")]
    assert entries[0].sentence() == "the program's connect to 128.252.167.161:30303 went to 127.0.0.1:41000 (TCP)"


def test_static_programs_are_told_apart(tmp_path: Path) -> None:
    (tmp_path / "p.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-o", str(tmp_path / "dyn"), str(tmp_path / "p.c")], check=True)
    static = subprocess.run(["gcc", "-static", "-o", str(tmp_path / "static"), str(tmp_path / "p.c")], capture_output=True)
    assert is_dynamic(tmp_path / "dyn")
    assert static.returncode == 0, static.stderr  # libc6-dev ships libc.a
    assert not is_dynamic(tmp_path / "static")
    script = tmp_path / "client.py"
    script.write_text("#!/usr/bin/env python3\n")
    assert is_dynamic(script)


def test_no_gcc_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("sh", "ls", "awk", "mkdir", "id", "mktemp", "cat", "rm", "head", "tr", "mv", "printf"):
        found = shutil.which(tool)
        if found:
            (tools / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(tools))
    with pytest.raises(BuildError) as err:
        build_library(LocalHost(), str(tmp_path / "lib"))
    assert err.value.message == "cannot build the address redirect: no gcc on the host"
