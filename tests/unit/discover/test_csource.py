"""Reading C sources: sockets, literals and argument conventions, as students write them."""

from __future__ import annotations

from pathlib import Path

from sockdeploy.discover.csource import read_c
from sockdeploy.discover.facts import ProgramFacts

SERVER_DEFINE_PORT = r'''
#include <stdio.h>
#include <sys/socket.h>
#include <netinet/in.h>
#define PORT 30303
int main(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    a.sin_family = AF_INET;
    a.sin_port = htons(PORT);
    bind(fd, (struct sockaddr *)&a, sizeof a);
    listen(fd, 5);
    int c = accept(fd, NULL, NULL);
    return c < 0;
}
'''

CLIENT_IP_QUIT = r'''
#include <string.h>
#include <arpa/inet.h>
int port_num = 33333;
int main(int argc, char *argv[]) {
    if (argc < 2) { fprintf(stderr, "usage: %s <ip> [quit]\n", argv[0]); return 1; }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    a.sin_port = htons(port_num);
    a.sin_addr.s_addr = inet_addr(argv[1]);
    connect(s, (struct sockaddr *)&a, sizeof a);
    if (argc > 2 && strcmp(argv[2], "quit") == 0) { }
    return 0;
}
'''

CLIENT_HARDCODED_QUIT_ALONE = r'''
int main(int argc, char **av) {
    int quitting = (argc == 2 && !strcmp(av[1], "quit"));
    struct sockaddr_in srv;
    srv.sin_addr.s_addr = inet_addr("128.252.167.161");
    srv.sin_port = htons(33333);
    connect(socket(AF_INET, SOCK_STREAM, 0), (struct sockaddr *)&srv, sizeof srv);
    return quitting;
}
'''

CLIENT_PORT_VIA_VARIABLE = r'''
int main(int argc, char *argv[]) {
    int port = atoi(argv[2]);
    char *host = argv[1];
    struct sockaddr_in srv;
    inet_pton(AF_INET, host, &srv.sin_addr);
    srv.sin_port = htons(port);
    int n; scanf("%d", &n);
    connect(socket(AF_INET, SOCK_STREAM, 0), (struct sockaddr *)&srv, sizeof srv);
}
'''

UNIX_SERVER = r'''
int main(int argc, char *argv[]) {
    struct sockaddr_un a;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
    bind(fd, (struct sockaddr *)&a, sizeof a); listen(fd, 1); accept(fd, 0, 0);
}
'''

UDP_SERVER = r'''
int main(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a; a.sin_port = htons(12000);
    bind(s, (struct sockaddr *)&a, sizeof a);
    char b[64]; recvfrom(s, b, sizeof b, 0, NULL, NULL);
}
'''

BROKEN = "int main( { socket(AF_INET, SOCK_STREAM, 0); connect(s, x, y) ; htons(4242"


def read(tmp_path: Path, text: str) -> ProgramFacts:
    path = tmp_path / "prog.c"
    path.write_text(text)
    return read_c(path, Path("prog.c"))


def test_a_define_d_port_and_the_server_calls(tmp_path: Path) -> None:
    facts = read(tmp_path, SERVER_DEFINE_PORT)
    assert facts.role == "server" and facts.family == "AF_INET" and facts.protocol == "tcp"
    assert facts.port_literals == [30303]
    assert facts.args == {} and facts.has_main


def test_address_from_argv_quit_word_and_a_global_port(tmp_path: Path) -> None:
    facts = read(tmp_path, CLIENT_IP_QUIT)
    assert facts.role == "client"
    assert facts.arg_meanings() == {1: "address"}
    assert (facts.quit_index, facts.quit_word, facts.quit_alone) == (2, "quit", False)
    assert facts.port_literals == [33333]
    assert facts.usage is not None and "<ip>" in facts.usage


def test_hard_coded_address_and_quit_only_as_the_sole_argument(tmp_path: Path) -> None:
    facts = read(tmp_path, CLIENT_HARDCODED_QUIT_ALONE)
    assert facts.address_literals == ["128.252.167.161"]
    assert facts.port_literals == [33333]
    assert facts.quit_index == 1 and facts.quit_word == "quit"
    assert facts.args == {}  # argv[1] carries nothing else, so quit is simply argument 1


def test_argv_followed_through_variables_and_stdin_seen(tmp_path: Path) -> None:
    facts = read(tmp_path, CLIENT_PORT_VIA_VARIABLE)
    assert facts.arg_meanings() == {1: "address", 2: "port"}
    assert facts.reads_stdin


def test_unix_socket_path_argument(tmp_path: Path) -> None:
    facts = read(tmp_path, UNIX_SERVER)
    assert facts.family == "AF_UNIX" and facts.role == "server"
    assert facts.arg_meanings() == {1: "socket"}


def test_udp_server_is_bind_and_recvfrom(tmp_path: Path) -> None:
    facts = read(tmp_path, UDP_SERVER)
    assert facts.role == "server" and facts.protocol == "udp" and facts.port_literals == [12000]


def test_code_that_does_not_compile_is_still_read(tmp_path: Path) -> None:
    facts = read(tmp_path, BROKEN)
    assert facts.family == "AF_INET" and "connect" in facts.calls
