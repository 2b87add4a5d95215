"""helper.py and helper_launch.sh (the remote helper's program and launcher), run through LocalHost (no SSH).

The interactive cases (cancel, end of file mid-script, login shell noise) run
the same program behind a pipe in tests/unit/ssh/test_helper.py.
"""

from __future__ import annotations

import shlex
import struct
from pathlib import Path
from typing import List, Tuple

from sockdeploy.remote.host import LocalHost
from sockdeploy.remote.program import with_args
from sockdeploy.remote.scripts import load
from sockdeploy.ssh.helper import launcher, request

NONCE = "feedc0de12345678"


def responses(raw: bytes) -> List[Tuple[int, bytes, bytes]]:
    """Split the helper's output after its greeting into (status, stdout, stderr) answers."""
    greeting = f"\n{NONCE}\n".encode()
    assert raw.startswith(greeting)
    body, found = raw[len(greeting):], []
    while body:
        status, nout, nerr = struct.unpack(">iII", body[:12])
        found.append((status, body[12:12 + nout], body[12 + nout:12 + nout + nerr]))
        body = body[12 + nout + nerr:]
    return found


def serve(stdin: bytes, tmp_path: Path, answered: int = 0) -> Tuple[int, bytes]:
    """Run the launcher with `stdin` as the channel's data; return its exit status and raw output.

    End of file stops a running script, so with `answered` requests the channel
    stays open until a last request (whose own answer is dropped) has run.
    """
    done = tmp_path / "done"
    if answered:
        stdin += request(f"touch {shlex.quote(str(done))}")
    hold = "while [ ! -e \"$1\" ]; do sleep 0.05; done; sleep 0.2" if answered else ":"
    # the answers are binary: they come back hex-encoded, the helper's exit status on stderr
    script = with_args("{ cat; " + hold + "; } | { (\n" + launcher(NONCE) + ')\necho "$?" >&2; } | od -An -v -tx1', str(done))
    res = LocalHost().run(script, stdin=stdin, timeout=30)
    return int(res.stderr.split()[-1]), bytes.fromhex(res.stdout.replace(" ", "").replace("\n", ""))


def test_requests_get_their_answers_in_order_and_end_of_file_ends_the_helper(tmp_path: Path) -> None:
    status, raw = serve(request("echo out; echo err >&2; exit 3") + request("cat", b"stdin bytes"), tmp_path, answered=2)
    assert status == 0
    assert responses(raw)[:2] == [(3, b"out\n", b"err\n"), (0, b"stdin bytes", b"")]


def test_a_script_that_cannot_run_answers_with_its_status(tmp_path: Path) -> None:
    _, raw = serve(request("no-such-command-sockdeploy"), tmp_path, answered=1)
    (status, out, err) = responses(raw)[0]
    assert status == 127 and out == b"" and b"not found" in err


def test_a_truncated_request_ends_the_helper_without_an_answer(tmp_path: Path) -> None:
    status, raw = serve(request("echo never")[:-3], tmp_path)
    assert status == 0 and responses(raw) == []


def test_the_launcher_passes_program_and_nonce_as_arguments_unchanged() -> None:
    res = LocalHost().run(launcher(NONCE).replace(load("helper_launch.sh"), "printf '%s\\n' \"$2\"; printf %s \"$1\" | cksum"),
                          timeout=10)
    expected = LocalHost().run("cksum", stdin=load("helper.py").encode(), timeout=10).stdout
    assert res.stdout.splitlines() == [NONCE, expected.strip()]
