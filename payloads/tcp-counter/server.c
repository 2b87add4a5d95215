/*
 * tcp-counter: TCP server that numbers its connections (after the HSE
 * sockets lecture).
 *
 * Usage: ./server PORT [MAXCONN]
 *
 * Listens on PORT on every local IPv4 address. Each client gets one line,
 * "Connection N!", where N counts connections from 1, and is then
 * disconnected. With MAXCONN the server stops after that many connections
 * and closes its listening socket; without it, it runs until killed.
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
#define MAXCONN_LIMIT 1000000L

static void usage(void)
{
    fprintf(stderr, "usage: ./server PORT [MAXCONN]\n");
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

/* Plain decimal in [lo, hi] only; anything else (sign, blanks, trailing junk) is a usage error. */
static long parse_number(const char *text, long lo, long hi, const char *what)
{
    long value = lo - 1;
    if (text[0] >= '0' && text[0] <= '9') {
        char *end;
        errno = 0;
        value = strtol(text, &end, 10);
        if (errno != 0 || *end != '\0')
            value = lo - 1;
    }
    if (value < lo || value > hi) {
        fprintf(stderr, PROG ": invalid %s '%s' (must be %ld-%ld)\n", what, text, lo, hi);
        usage();
    }
    return value;
}

/* write() may accept only part of the buffer, so loop until all of it is out. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int main(int argc, char *argv[])
{
    if (argc != 2 && argc != 3)
        usage();
    unsigned short port = (unsigned short)parse_number(argv[1], 1, 65535, "port");
    long maxconn = argc == 3 ? parse_number(argv[2], 1, MAXCONN_LIMIT, "MAXCONN") : 0;

    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
        die("setvbuf");
    /* A client that hangs up early must cost us an EPIPE, not the whole server. */
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
    if (maxconn > 0)
        say("listening on port %u, stopping after %ld connections\n", (unsigned int)port, maxconn);
    else
        say("listening on port %u\n", (unsigned int)port);

    long count = 0;
    while (maxconn == 0 || count < maxconn) {
        int conn_fd = accept(listen_fd, NULL, NULL);
        if (conn_fd == -1) {
            /* An interrupted call or a handshake the client gave up on: just wait again. */
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die("accept");
        }
        count++;

        char line[40];
        int len = snprintf(line, sizeof line, "Connection %ld!\n", count);
        if (len < 0 || (size_t)len >= sizeof line) {
            fprintf(stderr, PROG ": formatting the greeting for connection %ld failed\n", count);
            return 1;
        }
        /* One client's trouble is reported but does not stop the others from being served. */
        if (write_all(conn_fd, line, (size_t)len) == -1)
            fprintf(stderr, PROG ": write to connection %ld failed: %s\n", count, strerror(errno));
        else
            say("served connection %ld\n", count);
        if (close(conn_fd) == -1)
            die("close of connection");
    }

    say("served %ld connections, exiting\n", count);
    if (close(listen_fd) == -1)
        die("close of listening socket");
    return 0;
}
