/*
 * unix-dgram: AF_UNIX datagram receiver (after the HSE sockets lecture).
 *
 * Usage: ./server SOCKETPATH
 *
 * Binds a datagram socket to the file system path SOCKETPATH, waits for a
 * single datagram, prints its length and its bytes in hexadecimal, removes
 * the socket file and exits. SIGINT or SIGTERM while waiting also removes
 * the socket file (exit status 1).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#define PROG "server"
/* Datagrams longer than this are cut; recvmsg() reports it with MSG_TRUNC. */
#define MAX_DGRAM 4096

static volatile sig_atomic_t stop_signal = 0;

static void on_stop(int sig)
{
    stop_signal = sig;
}

static void usage(void)
{
    fprintf(stderr, "usage: ./server SOCKETPATH\n");
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

/* Remove our socket file; used on every way out once bind() succeeded. */
static void remove_socket(const char *path)
{
    if (unlink(path) == -1) {
        int err = errno;
        fprintf(stderr, PROG ": unlink %s failed: %s\n", path, strerror(err));
        exit(1);
    }
}

/* Handlers without SA_RESTART, so a signal makes recvmsg() return EINTR. */
static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    if (sigemptyset(&sa.sa_mask) == -1)
        die("sigemptyset");
    sa.sa_flags = 0;
    if (sigaction(SIGINT, &sa, NULL) == -1)
        die("sigaction SIGINT");
    if (sigaction(SIGTERM, &sa, NULL) == -1)
        die("sigaction SIGTERM");
}

int main(int argc, char *argv[])
{
    if (argc != 2)
        usage();
    const char *path = argv[1];

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
    catch_stop_signals();

    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd == -1)
        die("socket");
    /* An existing file is left alone: it may belong to someone else. */
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == -1) {
        int err = errno;
        fprintf(stderr, PROG ": bind to %s failed: %s\n", path, strerror(err));
        return 1;
    }
    say("waiting on %s\n", path);

    unsigned char buf[MAX_DGRAM];
    struct iovec iov;
    iov.iov_base = buf;
    iov.iov_len = sizeof buf;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;

    ssize_t n;
    for (;;) {
        n = recvmsg(fd, &msg, 0);
        if (n != -1)
            break;
        if (errno != EINTR) {
            int err = errno;
            remove_socket(path);
            errno = err;
            die("recvmsg");
        }
        if (stop_signal != 0) {
            fprintf(stderr, PROG ": stopped by signal %d before any datagram arrived\n", (int)stop_signal);
            remove_socket(path);
            return 1;
        }
    }

    say("received %zd bytes:\n", n);
    for (ssize_t i = 0; i < n; i++)
        if (printf(i == 0 ? "%02x" : " %02x", (unsigned int)buf[i]) < 0)
            die("write to stdout");
    say("\n");
    if (msg.msg_flags & MSG_TRUNC)
        fprintf(stderr, PROG ": datagram was longer than %d bytes; the rest was discarded\n", MAX_DGRAM);

    remove_socket(path);
    if (close(fd) == -1)
        die("close");
    return 0;
}
