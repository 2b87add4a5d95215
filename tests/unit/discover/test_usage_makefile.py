"""Usage messages and makefiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from sockdeploy.discover.makefile import find_makefile, read_makefile
from sockdeploy.discover.usage import parse_usage


@pytest.mark.parametrize("text, expected", [
    ("usage: %s <ip> <port> [quit]", {1: "address", 2: "port", 3: "quit"}),
    ("Usage: ./client SERVER_IP [quit]\\n", {1: "address", 2: "quit"}),
    ("usage: python3 client.py HOST PORT", {1: "address", 2: "port"}),
    ("usage: client hostname port", {1: "address", 2: "port"}),
    ("usage: ./server SOCKETPATH", {1: "socket"}),
    ("Usage: %s <server ip> <port> [quit]\n", {1: "address", 2: "port", 3: "quit"}),
    ("no usage here", {}),
])
def test_usage_placeholders(text: str, expected: dict) -> None:
    assert parse_usage(text) == expected


def test_makefile_targets_default_and_lower_case_name(tmp_path: Path) -> None:
    (tmp_path / "makefile").write_text(
        "CC=gcc\nCFLAGS := -Iinc\n.PHONY: all clean\nall: server client\n\n"
        "server: src/server.c src/common.c\n\t$(CC) $(CFLAGS) -o $@ $^\n"
        "client: src/client.c src/common.c\n\t$(CC) $(CFLAGS) -o $@ $^\n%.o: %.c\n\t$(CC) -c $<\nclean:\n\trm -f server client\n")
    path = find_makefile(tmp_path)
    assert path is not None and path.name == "makefile"
    facts = read_makefile(path, Path("makefile"))
    assert facts.targets == ["all", "server", "client", "clean"]
    assert facts.default == "all" and facts.target_for("server") == "server" and facts.target_for("server2") is None


def test_no_makefile(tmp_path: Path) -> None:
    assert find_makefile(tmp_path) is None
