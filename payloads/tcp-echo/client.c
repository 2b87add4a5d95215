/*
 * tcp-echo: TCP client for the echo server (after the HSE sockets lecture).
 *
 * Usage: ./client IP PORT MESSAGE
 *
 * Connects to the dotted IPv4 address IP on PORT, sends MESSAGE, shuts
 * down its sending side so the server sees where the message ends, and
 * prints whatever comes back. Exits 1 if the echo differs from MESSAGE.
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

#define PROG "client"
#define MAX_REPLY 8192

static void usage(void)
{
    fprintf(stderr, "usage: ./client IP PORT MESSAGE\n");
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

/* write() may accept only part of the buffer, so loop until all of it is out. */
static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            die("write to socket");
        }
        buf += n;
        len -= (size_t)n;
    }
}

int main(int argc, char *argv[])
{
    if (argc != 4)
        usage();
    const char *ip = argv[1];
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1) {
        fprintf(stderr, PROG ": invalid IPv4 address '%s'\n", ip);
        usage();
    }
    unsigned short port = parse_port(argv[2]);
    addr.sin_port = htons(port);
    const char *message = argv[3];
    size_t len = strlen(message);
    if (len == 0 || len > MAX_REPLY / 2) {
        fprintf(stderr, PROG ": MESSAGE must be 1-%d bytes long\n", MAX_REPLY / 2);
        usage();
    }

    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
        die("setvbuf");
    /* A server that goes away mid-send should give EPIPE and a message, not a silent kill. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        die("signal");

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1)
        die("socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == -1) {
        int err = errno;
        fprintf(stderr, PROG ": connect to %s:%u failed: %s\n", ip, (unsigned int)port, strerror(err));
        return 1;
    }
    say("connected to %s:%u\n", ip, (unsigned int)port);

    write_all(fd, message, len);
    if (shutdown(fd, SHUT_WR) == -1)
        die("shutdown");
    say("sent %zu bytes\n", len);

    char reply[MAX_REPLY];
    size_t got = 0;
    for (;;) {
        if (got == sizeof reply) {
            fprintf(stderr, PROG ": the reply is longer than %d bytes\n", MAX_REPLY);
            return 1;
        }
        ssize_t n = read(fd, reply + got, sizeof reply - got);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            die("read from socket");
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (close(fd) == -1)
        die("close");

    say("echo: %.*s\n", (int)got, reply);
    if (got != len || memcmp(reply, message, len) != 0) {
        fprintf(stderr, PROG ": the echo (%zu bytes) differs from the message sent (%zu bytes)\n", got, len);
        return 1;
    }
    return 0;
}
