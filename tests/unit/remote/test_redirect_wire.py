"""The preload library's wire record (SOCKDEPLOY_WIRE), built with the machine's gcc and run under real programs.

Every program talks to a listener of the test's own on 127.0.0.1 and runs twice,
with the library and without: what it prints (each call's return value, errno,
descriptor numbers) must be the same, and the record must hold its bytes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from sockdeploy.net.wire import CAP, RECEIVED, SENT
from sockdeploy.net.wirefile import read_record
from tests.unit.remote.helpers import build_redirect

HEAD = r'''
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
static int dial(int port) {
    struct sockaddr_in a;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = inet_addr("127.0.0.1");
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); exit(9); }
    return s;
}
'''

# Every way the exercises' clients put bytes on a socket and read them back; each result is printed.
EVERY_WAY = HEAD + r'''
int main(int argc, char **argv) {
    int s = dial(atoi(argv[1])), n = 0;
    size_t want = (size_t)atoi(argv[2]);  /* not a constant: the fortified read() becomes __read_chk */
    char buf[64];
    struct iovec v[2] = {{"v4", 2}, {"\n", 1}};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = v;
    m.msg_iovlen = 2;
    printf("fd %d\n", s);
    printf("write %zd\n", write(s, "w1\n", 3));
    printf("send %zd\n", send(s, "s2\n", 3, 0));
    printf("dprintf %d\n", dprintf(s, "d%d\n", 3));
    printf("writev %zd\n", writev(s, v, 2));
    printf("sendmsg %zd\n", sendmsg(s, &m, 0));
    FILE *f = fdopen(s, "r+");
    printf("fileno %d\n", fileno(f) == s);
    printf("fprintf %d\n", fprintf(f, "f%d\nend\n", 5));
    printf("fflush %d\n", fflush(f));
    printf("fscanf %d", fscanf(f, "%d", &n));
    printf(" %d\n", n);
    printf("fflush %d\n", fflush(f));  /* with unread bytes in the buffer: the stream tries to seek back */
    printf("fgets %s", fgets(buf, sizeof buf, f) ? buf : "(null)\n");
    printf("fgets %s", fgets(buf, sizeof buf, f) ? buf : "(null)\n");
    printf("read %zd\n", read(s, buf, want));
    errno = 0;
    ssize_t bad = write(-1, "x", 1);
    printf("bad write %zd %d\n", bad, errno);
    printf("fclose %d\n", fclose(f));
    errno = 0;
    bad = write(s, "x", 1);
    printf("closed write %zd %d\n", bad, errno);
    int other = open("/dev/null", O_RDONLY);
    printf("next fd %d\n", other);
    return 0;
}
'''

# A client that forks: the child writes on the parent's connection and on one of its own.
FORKS = HEAD + r'''
int main(int argc, char **argv) {
    int port = atoi(argv[1]), s = dial(port);
    pid_t child = fork();
    if (child == 0) {
        dprintf(s, "child\n");
        int t = dial(port);
        dprintf(t, "own\n");
        close(t);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    dprintf(s, "parent\n");
    shutdown(s, SHUT_WR);
    close(s);
    return 0;
}
'''

# Bytes that are no socket's the program connected, and a socket closed behind the library's back.
NOT_SOCKETS = HEAD + r'''
int main(int argc, char **argv) {
    int closed = 0;
    for (int fd = 3; fd < 1024; fd++)  /* as a daemon does: the library's own descriptors are not the program's */
        if (close(fd) == 0)
            closed++;
    printf("closed %d\n", closed);
    int pair[2], p[2], s = dial(atoi(argv[1]));
    int f = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    printf("file %zd\n", write(f, "file\n", 5));
    close(f);
    socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
    printf("unix %zd\n", write(pair[0], "unix\n", 5));
    printf("pipe %d", pipe(p));
    printf(" %zd\n", write(p[1], "pipe\n", 5));
    printf("sock %zd\n", write(s, "sock\n", 5));
    syscall(SYS_close, s);  /* not through close(): the library cannot see it */
    f = open(argv[2], O_WRONLY | O_APPEND);
    printf("reused %d %zd\n", f == s, write(f, "reused\n", 7));
    s = dial(atoi(argv[1]));
    printf("again %zd\n", write(s, "again\n", 6));
    return 0;
}
'''


def build(folder: Path, name: str, source: str, *flags: str) -> Path:
    (folder / f"{name}.c").write_text(source)
    out = folder / name
    subprocess.run(["gcc", "-O2", *flags, "-o", str(out), str(folder / f"{name}.c")], check=True)
    return out


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # fortified as Ubuntu's gcc builds by default
    return build_redirect(tmp_path_factory.mktemp("wire"), "-D_FORTIFY_SOURCE=2")


class Server:
    """A TCP listener on 127.0.0.1: reads each connection until EOF or until it holds UNTIL, answers REPLY."""

    def __init__(self, until: Optional[bytes] = None, reply: bytes = b"", connections: int = 1) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(20)
        self.port: int = self.sock.getsockname()[1]
        self.until, self.reply = until, reply
        self.got: List[bytes] = []
        self.threads = [threading.Thread(target=self._serve, daemon=True) for _ in range(connections)]
        for t in self.threads:
            t.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        data = b""
        with conn:
            conn.settimeout(20)
            while self.until is None or self.until not in data:
                more = conn.recv(1 << 20)
                if not more:
                    break
                data += more
            conn.sendall(self.reply)
        self.got.append(data)

    def close(self) -> List[bytes]:
        for t in self.threads:
            t.join(30)
        self.sock.close()
        return self.got


def run(argv: List[str], library: Optional[Path], record: Optional[Path], env: Optional[Dict[str, str]] = None,
        ) -> subprocess.CompletedProcess:
    full = dict(os.environ, **(env or {}))
    if library is not None:
        full["LD_PRELOAD"] = str(library)
    if record is not None:
        full["SOCKDEPLOY_WIRE"] = str(record)
    return subprocess.run(argv, env=full, capture_output=True, text=True, timeout=60)


def twice(argv_of, library: Path, tmp_path: Path, **server: object) -> Tuple[str, Path]:
    """Run the program without and with the library (a server each); return its output and the record."""
    outputs = []
    record = tmp_path / "wire.rec"
    for lib in (None, library):
        srv = Server(**server)  # type: ignore[arg-type]
        res = run(argv_of(srv.port), lib, record if lib else None)
        srv.close()
        assert res.returncode == 0, res.stderr
        outputs.append(res.stdout)
    assert outputs[0] == outputs[1]  # the library changed nothing the program sees
    return outputs[1], record


def test_every_call_a_c_client_makes_is_recorded_and_sees_what_it_would(library: Path, tmp_path: Path) -> None:
    prog = build(tmp_path, "every", EVERY_WAY, "-D_FORTIFY_SOURCE=2")
    symbols = subprocess.run(["nm", "-D", str(prog)], capture_output=True, text=True).stdout
    assert "__read_chk" in symbols and "__dprintf_chk" in symbols and "fdopen" in symbols
    out, record = twice(lambda port: [str(prog), str(port), "32"], library, tmp_path, until=b"end\n",
                        reply=b"42\nline two\n")
    assert out.startswith("fd 3\nwrite 3\nsend 3\ndprintf 3\nwritev 3\nsendmsg 3\nfileno 1\nfprintf 7\nfflush 0\n")
    assert out.endswith("fscanf 1 42\nfflush 0\nfgets \nfgets line two\nread 0\nbad write -1 9\nfclose 0\n"
                        "closed write -1 9\nnext fd 3\n")
    (conn,) = read_record(record.read_text(), run=1).connections
    assert conn.data(SENT) == b"w1\ns2\nd3\nv4\nv4\nf5\nend\n"
    assert conn.data(RECEIVED) == b"42\nline two\n"
    assert conn.kind == "tcp" and conn.origin.startswith("127.0.0.1:") and conn.origin != "127.0.0.1:0"
    assert [e for e, _ in conn.events] == ["server closed", "client closed"]
    assert oct(record.stat().st_mode & 0o777) == "0o600"


def test_a_forked_child_writes_on_the_same_connection_and_opens_its_own(library: Path, tmp_path: Path) -> None:
    prog = build(tmp_path, "forks", FORKS)
    record = tmp_path / "wire.rec"
    srv = Server(connections=2)
    res = run([str(prog), str(srv.port)], library, record)
    got = srv.close()
    assert res.returncode == 0, res.stderr
    assert sorted(got) == [b"child\nparent\n", b"own\n"]
    conns = read_record(record.read_text(), run=1).connections
    assert sorted(c.data(SENT) for c in conns) == [b"child\nparent\n", b"own\n"]
    shared = next(c for c in conns if c.data(SENT).startswith(b"child"))
    assert [e for e, _ in shared.events] == ["client closed"]  # the shutdown; the close after it adds nothing


def test_files_pipes_and_unix_sockets_are_not_recorded_nor_a_reused_descriptor(library: Path, tmp_path: Path) -> None:
    prog = build(tmp_path, "plain", NOT_SOCKETS)
    out, record = twice(lambda port: [str(prog), str(port), str(tmp_path / "data")], library, tmp_path, connections=2)
    assert out == "closed 0\nfile 5\nunix 5\npipe 0 5\nsock 5\nreused 1 7\nagain 6\n"
    assert (tmp_path / "data").read_text() == "file\nreused\n"
    conns = read_record(record.read_text(), run=1).connections
    assert [c.data(SENT) for c in conns] == [b"sock\n", b"again\n"]  # still recording after the close loop


def test_udp_datagrams_both_ways_from_a_python_client(library: Path, tmp_path: Path) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(20)
    port = udp.getsockname()[1]

    def echo() -> None:
        for _ in range(2):
            data, peer = udp.recvfrom(100)
            udp.sendto(data.upper(), peer)

    t = threading.Thread(target=echo, daemon=True)
    t.start()
    record = tmp_path / "wire.rec"
    code = (f"import socket\nu = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nu.settimeout(10)\n"
            f"for d in (b'one', b'two'):\n    u.sendto(d, ('127.0.0.1', {port}))\n    print(u.recvfrom(100)[0])\n")
    res = run([sys.executable, "-c", code], library, record)
    t.join(10)
    udp.close()
    assert res.returncode == 0 and res.stdout == "b'ONE'\nb'TWO'\n", res.stderr
    (conn,) = read_record(record.read_text(), run=1, port=port).connections
    assert conn.kind == "udp" and conn.datagrams(SENT) == [b"one", b"two"] and conn.datagrams(RECEIVED) == [b"ONE", b"TWO"]
    assert conn.origin.startswith("127.0.0.1:")  # where its datagrams left from, not the wildcard it is bound to


def test_a_connection_keeps_one_mib_each_way_and_counts_the_rest(library: Path, tmp_path: Path) -> None:
    size = CAP + CAP // 2
    srv = Server()
    record = tmp_path / "wire.rec"
    code = (f"import socket\ns = socket.create_connection(('127.0.0.1', {srv.port}), timeout=20)\n"
            f"s.sendall(b'x' * {size})\ns.close()\n")
    res = run([sys.executable, "-c", code], library, record)
    assert srv.close() == [b"x" * size] and res.returncode == 0, res.stderr
    (conn,) = read_record(record.read_text(), run=1).connections
    assert conn.totals[SENT] == size and conn.kept(SENT) == CAP and conn.cut(SENT) == size - CAP
    assert record.stat().st_size < 2 * CAP + 100_000  # hex of the kept MiB, and a count for the rest


def test_the_file_stops_at_its_cap(library: Path, tmp_path: Path) -> None:
    n = 9  # 9 connections of 1 MiB each way kept: 18 MiB of hex, past the file's 16 MiB
    srv = Server(connections=n)
    record = tmp_path / "wire.rec"
    code = (f"import socket\nfor _ in range({n}):\n    s = socket.create_connection(('127.0.0.1', {srv.port}), "
            f"timeout=20)\n    s.sendall(b'y' * {CAP})\n    s.close()\n")
    res = run([sys.executable, "-c", code], library, record)
    assert len(srv.close()) == n and res.returncode == 0, res.stderr
    assert record.stat().st_size <= 17 * CAP
    rec = read_record(record.read_text(), run=1)
    assert rec.full and len(rec.connections) == n
    assert sum(c.totals[SENT] for c in rec.connections) == n * CAP  # what was not kept was counted
    assert sum(c.kept(SENT) for c in rec.connections) < n * CAP


def test_threads_record_their_own_connections_whole(library: Path, tmp_path: Path) -> None:
    srv = Server(connections=4)
    record = tmp_path / "wire.rec"
    code = ("import socket, threading\n"
            "def talk(i):\n"
            f"    s = socket.create_connection(('127.0.0.1', {srv.port}), timeout=20)\n"
            "    for k in range(200):\n        s.sendall(b'%d:%d\\n' % (i, k))\n    s.close()\n"
            "ts = [threading.Thread(target=talk, args=(i,)) for i in range(4)]\n"
            "[t.start() for t in ts]\n[t.join() for t in ts]\n")
    res = run([sys.executable, "-c", code], library, record)
    assert res.returncode == 0, res.stderr
    got = srv.close()
    conns = read_record(record.read_text(), run=1).connections
    assert sorted(c.data(SENT) for c in conns) == sorted(got) and len(got) == 4


def test_a_file_that_cannot_be_written_changes_nothing(library: Path, tmp_path: Path) -> None:
    srv = Server()
    code = (f"import socket\ns = socket.create_connection(('127.0.0.1', {srv.port}), timeout=20)\n"
            "print(s.send(b'hi'))\ns.close()\n")
    res = run([sys.executable, "-c", code], library, tmp_path / "no" / "such" / "dir" / "wire.rec")
    assert srv.close() == [b"hi"] and res.returncode == 0 and res.stdout == "2\n", res.stderr


# ---- programs the library cannot follow (a script or wrapper that exec()s a statically linked client) ----

# The client proper: connects, sends one line (built twice: statically linked and not).
SENDS = HEAD + r'''
int main(int argc, char **argv) {
    int s = dial(atoi(argv[1]));
    printf("sent %zd\n", write(s, "static\n", 7));
    close(s);
    return 0;
}
'''

# A wrapper: connects and sends a line of its own, fails to exec a missing program, then starts the client
# HOW it is told (ARGV: HOW PROGRAM PORT).
WRAPPER = HEAD + r'''
int main(int argc, char **argv) {
    char *args[] = {argv[2], argv[3], NULL}, command[600];
    int s = dial(atoi(argv[3]));
    printf("wrapper %zd\n", write(s, "wrapper\n", 8));
    close(s);
    errno = 0;
    int r = execv("/no/such/program", args);
    printf("missing %d %d\n", r, errno);
    fflush(stdout);
    if (strcmp(argv[1], "execv") == 0)
        execv(argv[2], args);
    else if (strcmp(argv[1], "execvp") == 0)
        execvp(argv[2], args);
    else if (strcmp(argv[1], "execl") == 0)
        execl(argv[2], argv[2], argv[3], (char *)NULL);
    else if (strcmp(argv[1], "system") == 0) {
        snprintf(command, sizeof command, "%s %s", argv[2], argv[3]);
        return WEXITSTATUS(system(command));
    }
    perror("exec");
    return 1;
}
'''


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """The client statically linked (in a folder of its own, for PATH) and dynamically, and the wrapper."""
    folder = tmp_path_factory.mktemp("clients")
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    (folder / "sends.c").write_text(SENDS)
    static = bin_dir / "static-client"
    made = subprocess.run(["gcc", "-static", "-O2", "-o", str(static), str(folder / "sends.c")],
                          capture_output=True, text=True)
    if made.returncode != 0:  # nothing is installed here: the machine needs libc6-dev's libc.a
        pytest.fail(f"gcc -static cannot link here (is the C library's static archive, libc.a, installed?): "
                    f"{made.stderr.strip()}")
    return {"static": static, "bin": bin_dir, "dynamic": build(folder, "dynamic-client", SENDS),
            "wrapper": build(folder, "wrapper", WRAPPER)}


@pytest.mark.parametrize("how", ["execv", "execl", "system"])
def test_a_statically_linked_program_a_wrapper_execs_is_noted(library: Path, clients: Dict[str, Path], tmp_path: Path,
                                                               how: str) -> None:
    static = clients["static"]
    out, record = twice(lambda port: [str(clients["wrapper"]), how, str(static), str(port)], library, tmp_path,
                        connections=2)
    assert out == "wrapper 8\nmissing -1 2\nsent 7\n"  # the failed exec: same result, same errno, nothing noted
    rec = read_record(record.read_text(), run=1)
    assert rec.unrecorded == [str(static)] and rec.skipped == 0
    assert [c.data(SENT) for c in rec.connections] == [b"wrapper\n"]  # the static client's bytes are not there


def test_execvp_finds_the_program_in_path_as_the_c_library_does(library: Path, clients: Dict[str, Path],
                                                                tmp_path: Path) -> None:
    path = f"{tmp_path / 'empty'}:{clients['bin']}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    srv = Server(connections=2)
    record = tmp_path / "wire.rec"
    res = run([str(clients["wrapper"]), "execvp", "static-client", str(srv.port)], library, record, {"PATH": path})
    assert len(srv.close()) == 2 and res.returncode == 0, res.stderr
    assert read_record(record.read_text(), run=1).unrecorded == [str(clients["static"])]


def test_python_spawns_a_statically_linked_program(library: Path, clients: Dict[str, Path], tmp_path: Path) -> None:
    srv = Server(connections=3)
    record = tmp_path / "wire.rec"
    code = ("import os, subprocess, sys\nprog, port = sys.argv[1], sys.argv[2]\n"
            "print(os.waitpid(os.posix_spawn(prog, [prog, port], os.environ), 0)[1])\n"
            "print(os.waitpid(os.posix_spawnp('static-client', ['static-client', port], os.environ), 0)[1])\n"
            "print(subprocess.run([prog, port]).returncode)\n")
    path = f"{clients['bin']}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    res = run([sys.executable, "-c", code, str(clients["static"]), str(srv.port)], library, record, {"PATH": path})
    assert len(srv.close()) == 3 and res.returncode == 0, res.stderr
    assert res.stdout == "sent 7\n0\nsent 7\n0\nsent 7\n0\n"
    rec = read_record(record.read_text(), run=1)
    assert rec.unrecorded == [str(clients["static"])] * 3 and rec.connections == []


def test_a_script_whose_interpreter_is_statically_linked_is_noted(library: Path, clients: Dict[str, Path],
                                                                  tmp_path: Path) -> None:
    script = tmp_path / "client.sh"
    script.write_text(f"#!{clients['static']}\n")
    script.chmod(0o755)
    record = tmp_path / "wire.rec"
    res = run(["sh", "-c", f"exec {script}"], library, record)
    assert res.returncode == 9  # started, with the script's path for a port: it could not connect
    assert read_record(record.read_text(), run=1).unrecorded == [str(clients["static"])], res.stderr


def test_a_dynamically_linked_program_or_a_script_is_not_noted(library: Path, clients: Dict[str, Path],
                                                               tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text(f"#!/bin/sh\nexec {clients['dynamic']} \"$@\"\n")
    script.chmod(0o755)
    out, record = twice(lambda port: [str(clients["wrapper"]), "execv", str(script), str(port)], library, tmp_path,
                        connections=2)
    assert out == "wrapper 8\nmissing -1 2\nsent 7\n"
    rec = read_record(record.read_text(), run=1)
    assert rec.unrecorded == [] and [c.data(SENT) for c in rec.connections] == [b"wrapper\n", b"static\n"]
