/*
 * tcp-counter: TCP client that prints what the server sends (after the HSE
 * sockets lecture).
 *
 * Usage: ./client IP PORT
 *
 * Connects to the dotted IPv4 address IP on PORT, sends nothing, and copies
 * everything the server sends to standard output until the server closes
 * the connection.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROG "client"

static void usage(void)
{
    fprintf(stderr, "usage: ./client IP PORT\n");
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

int main(int argc, char *argv[])
{
    if (argc != 3)
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

    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
        die("setvbuf");

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1)
        die("socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == -1) {
        int err = errno;
        fprintf(stderr, PROG ": connect to %s:%u failed: %s\n", ip, (unsigned int)port, strerror(err));
        return 1;
    }
    say("connected to %s:%u\n", ip, (unsigned int)port);

    char buf[512];
    size_t total = 0;
    char last = '\n';
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            die("read from socket");
        }
        if (n == 0)
            break;
        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n || fflush(stdout) == EOF)
            die("write to stdout");
        total += (size_t)n;
        last = buf[n - 1];
    }
    /* Keep our own closing line apart from text that lacked a final newline. */
    if (last != '\n')
        say("\n");
    say("server closed the connection after %zu bytes\n", total);

    if (close(fd) == -1)
        die("close");
    return 0;
}
