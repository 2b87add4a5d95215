/*
 * Sockets studio, exercises 1-4: AF_UNIX stream client.
 *
 * Usage: ./client SOCKETPATH [quit]
 *
 * Connects to the server listening at SOCKETPATH and sends a fixed list of
 * unsigned integers as text, one per line. With "quit" it finally sends 418,
 * the code that tells the looping server (exercises 3-4) to shut down.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define PROG "client"
#define QUIT_CODE 418u

static const unsigned int values[] = { 1, 1, 2, 3, 5, 8, 13, 21, 34, 55 };

static void usage(void)
{
    fprintf(stderr, "usage: ./client SOCKETPATH [quit]\n");
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
    if (argc != 2 && argc != 3)
        usage();
    int quit = 0;
    if (argc == 3) {
        if (strcmp(argv[2], "quit") != 0)
            usage();
        quit = 1;
    }

    const char *path = argv[1];
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (path[0] == '\0' || strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, PROG ": socket path must be 1-%zu bytes long: '%s'\n",
                sizeof addr.sun_path - 1, path);
        usage();
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);

    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
        die("setvbuf");
    /* A server that goes away mid-send should give EPIPE and a message, not a silent kill. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        die("signal");

    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd == -1)
        die("socket");

    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == -1) {
        int err = errno;
        fprintf(stderr, PROG ": connect to %s failed: %s\n", path, strerror(err));
        return 1;
    }
    say("connected to %s\n", path);

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
