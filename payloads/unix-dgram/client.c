/*
 * unix-dgram: AF_UNIX datagram sender (after the HSE sockets lecture).
 *
 * Usage: ./client SOCKETPATH MESSAGE
 *
 * Sends MESSAGE (without a terminating NUL) as one datagram to the socket
 * bound at SOCKETPATH. The sending socket stays unnamed: it needs no path
 * of its own because no answer comes back.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#define PROG "client"

static void usage(void)
{
    fprintf(stderr, "usage: ./client SOCKETPATH MESSAGE\n");
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

int main(int argc, char *argv[])
{
    if (argc != 3)
        usage();
    const char *path = argv[1];
    const char *message = argv[2];
    size_t len = strlen(message);

    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (path[0] == '\0' || strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, PROG ": socket path '%s' is empty or longer than %zu bytes\n",
                path, sizeof addr.sun_path - 1);
        usage();
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);

    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
        die("setvbuf");

    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd == -1)
        die("socket");

    ssize_t n;
    do
        n = sendto(fd, message, len, 0, (struct sockaddr *)&addr, sizeof addr);
    while (n == -1 && errno == EINTR);
    if (n == -1) {
        int err = errno;
        fprintf(stderr, PROG ": sendto %s failed: %s\n", path, strerror(err));
        return 1;
    }
    /* A datagram goes out whole or not at all, so this only guards the impossible. */
    if ((size_t)n != len) {
        fprintf(stderr, PROG ": sendto %s sent %zd of %zu bytes\n", path, n, len);
        return 1;
    }
    say("sent %zd bytes\n", n);

    if (close(fd) == -1)
        die("close");
    return 0;
}
