/*
 * Sockets studio, exercise 5: AF_INET stream client.
 *
 * Usage: ./client IP PORT [quit]
 *
 * Connects to the server at the dotted IPv4 address IP and port PORT and
 * sends a fixed list of unsigned integers as text, one per line. With
 * "quit" it finally sends 418, which tells the server to shut down.
 */
#define _POSIX_C_SOURCE 200809L
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* inet_aton() is BSD, not POSIX */
#endif

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
#define QUIT_CODE 418u

static const unsigned int values[] = { 1, 1, 2, 3, 5, 8, 13, 21, 34, 55 };

static void usage(void)
{
    fprintf(stderr, "usage: ./client IP PORT [quit]\n");
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

static void send_value(int fd, unsigned int value)
{
    char line[16];
    int len = snprintf(line, sizeof line, "%u\n", value);
    if (len < 0 || (size_t)len >= sizeof line) {
        fprintf(stderr, PROG ": formatting %u failed\n", value);
        exit(1);
    }
    write_all(fd, line, (size_t)len);
}

int main(int argc, char *argv[])
{
    if (argc != 3 && argc != 4)
        usage();
    int quit = 0;
    if (argc == 4) {
        if (strcmp(argv[3], "quit") != 0)
            usage();
        quit = 1;
    }

    const char *ip = argv[1];
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    if (inet_aton(ip, &addr.sin_addr) == 0) {
        fprintf(stderr, PROG ": invalid IPv4 address '%s'\n", ip);
        return 2;
    }
    unsigned short port = parse_port(argv[2]);
    addr.sin_port = htons(port);

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

    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        send_value(fd, values[i]);
        say("sent: %u\n", values[i]);
    }
    if (quit) {
        send_value(fd, QUIT_CODE);
        say("sent: %u (quit)\n", QUIT_CODE);
    }

    if (close(fd) == -1)
        die("close");
    say("done\n");
    return 0;
}
