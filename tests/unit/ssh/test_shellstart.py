"""The first exchange on a channel: the login shell's own output skipped, nothing read past the marker,
a shell that never starts the command named after the limit."""

from __future__ import annotations

import os
from typing import List

import pytest

from sockdeploy.errors import LoginShellSilent
from sockdeploy.ssh.shellstart import _overlap, new_marker, skip_to_marker, strip_before_marker


class ChunkChannel:
    """Hands out its output in the chunk sizes asked for, recording each read."""

    def __init__(self, output: bytes, ended: bool = False) -> None:
        self.output = output
        self.reads: List[int] = []
        self.closed = False
        self.ended = ended
        self.r, self.w = os.pipe()

    def fileno(self) -> int:
        return self.r

    def recv_ready(self) -> bool:
        return bool(self.output)

    def recv(self, n: int) -> bytes:
        self.reads.append(n)
        data, self.output = self.output[:n], self.output[n:]
        return data

    def exit_status_ready(self) -> bool:
        return self.ended and not self.output

    def recv_exit_status(self) -> int:
        return 1


def test_what_the_shell_printed_is_returned_and_nothing_after_the_marker_is_read() -> None:
    marker = new_marker()
    chan = ChunkChannel(b"Welcome\nSD-START-x\n" + marker.encode() + b"\nthe command's own output")
    assert skip_to_marker(chan, marker, 5, "login") == b"Welcome\nSD-START-x\n"
    assert chan.output == b"the command's own output"


def test_a_marker_split_across_reads_is_found() -> None:
    marker = "SD-START-abcdef"
    chan = ChunkChannel(b"SD-START-ab" + b"SD-START-abcdef\nrest")
    assert skip_to_marker(chan, marker, 5, "login") == b"SD-START-ab"
    assert chan.output == b"rest"


def test_overlap_is_the_longest_end_that_begins_the_needle() -> None:
    assert _overlap(b"xxSD-ST", b"SD-START\n") == 5
    assert _overlap(b"abc", b"SD-START\n") == 0
    assert _overlap(b"SD-SSD-S", b"SD-START\n") == 4


def test_a_shell_that_never_starts_the_command_is_named() -> None:
    with pytest.raises(LoginShellSilent, match="did not answer within 0.2 s.*a .bashrc"):
        skip_to_marker(ChunkChannel(b"Welcome\n"), "SD-START-1", 0.2, "login")


def test_a_command_that_ends_before_its_marker_is_end_of_file() -> None:
    with pytest.raises(EOFError):
        skip_to_marker(ChunkChannel(b"bash: /bin/sh: not found\n", ended=True), "SD-START-1", 5, "login")


def test_strip_before_marker() -> None:
    assert strip_before_marker("motd\nM\nout\n", "M") == "out\n"
    assert strip_before_marker("out\n", "M") == "out\n"
