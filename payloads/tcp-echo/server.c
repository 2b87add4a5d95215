/*
 * tcp-echo: one-shot TCP echo server (after the HSE sockets lecture).
 *
 * Usage: ./server PORT
 *
 * Listens on PORT on every local IPv4 address, accepts a single connection,
 * reads one message, reports its size, the client's address and the text,
 * sends the same bytes back and exits. A message ends when the client
 * shuts down its sending side, at a newline, or when the buffer is full.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROG "server"
#define BACKLOG 8
#define MAX_MESSAGE 4096

static void usage(void)
{
    fprintf(stderr, "usage: ./server PORT\n");
    exit(2);
}

static void die(const char *what)
{
    int err = errno;
    fprintf(stderr, PROG ": %s failed: %s\n", what, strerror(err));
    exit(1);
}

/* Output is checked so a closed stdout is reported instead of silently lost. */
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vprintf(fmt, ap);
    va_end(ap);
    if (rc < 0 || fflush(stdout) == EOF)
        die("write to stdout");
}

/* Plain decimal 1-65535 only: strtol alone would take " 80" or "+80" and stop quietly at "80x". */
static unsigned short parse_port(const char *text)
{
    long port = 0;
    if (text[0] >= '0' && text[0] <= '9') {
        char *end;
        errno = 0;
        port = strtol(text, &end, 10);
        if (errno != 0 || *end != '\0')
            port = 0;
    }
    if (port < 1 || port > 65535) {
        fprintf(stderr, PROG ": invalid port '%s' (must be 1-65535)\n", text);
        usage();
    }
    return (unsigned short)port;
}

/* Read until end of file, a newline or a full buffer; returns the byte count. */
static size_t read_message(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            die("read from connection");
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (memchr(buf + len - (size_t)n, '\n', (size_t)n) != NULL)
            break;
    }
    return len;
}

/* write() may accept only part of the buffer, so loop until all of it is out. */
static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            die("write to connection");
        }
        buf += n;
        len -= (size_t)n;
    }
}

int main(int argc, char *argv[])
{
    if (argc != 2)
        usage();
    unsigned short port = parse_port(argv[1]);

    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
        die("setvbuf");
    /* A client that leaves before its echo should give EPIPE and a message, not a silent kill. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        die("signal");

    int listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd == -1)
        die("socket");
    int on = 1;
    if (setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1)
        die("setsockopt SO_REUSEADDR");

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) == -1) {
        int err = errno;
        fprintf(stderr, PROG ": bind to port %u failed: %s\n", (unsigned int)port, strerror(err));
        return 1;
    }
    if (listen(listen_fd, BACKLOG) == -1)
        die("listen");
    say("listening on port %u\n", (unsigned int)port);

    struct sockaddr_in peer;
    socklen_t peer_len;
    int conn_fd;
    for (;;) {
        peer_len = sizeof peer;
        conn_fd = accept(listen_fd, (struct sockaddr *)&peer, &peer_len);
        if (conn_fd != -1)
            break;
        /* An interrupted call or a handshake the client gave up on: just wait again. */
        if (errno != EINTR && errno != ECONNABORTED)
            die("accept");
    }
    /* Only one connection is served, so stop listening right away. */
    if (close(listen_fd) == -1)
        die("close of listening socket");

    char peer_ip[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, &peer.sin_addr, peer_ip, sizeof peer_ip) == NULL)
        die("inet_ntop");
    unsigned int peer_port = ntohs(peer.sin_port);

    char msg[MAX_MESSAGE];
    size_t len = read_message(conn_fd, msg, sizeof msg);
    say("received %zu bytes from %s:%u\n", len, peer_ip, peer_port);
    /* Show the text without its line ending; the echo keeps every byte. */
    size_t shown = len;
    while (shown > 0 && (msg[shown - 1] == '\n' || msg[shown - 1] == '\r'))
        shown--;
    say("message: %.*s\n", (int)shown, msg);

    write_all(conn_fd, msg, len);
    say("echoed %zu bytes, exiting\n", len);
    if (close(conn_fd) == -1)
        die("close of connection");
    return 0;
}
