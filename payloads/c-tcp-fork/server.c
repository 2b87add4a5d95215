/*
 * c-tcp-fork: forking TCP message server (after the network security lab
 * chapter on sockets).
 *
 * Usage: ./server PORT [MAX]
 *
 * Listens on PORT on every local IPv4 address and forks one child per
 * connection. The child reads one line, prints it and answers
 * "I got your message"; the parent goes straight back to accepting and
 * reaps finished children. With MAX the parent stops accepting after MAX
 * connections, waits until every child has been reaped, and exits.
 *
 * Reaping without races: SIGCHLD stays blocked except inside pselect(), so
 * a child that ends just before the wait still interrupts it, and the
 * parent then collects every finished child with waitpid(WNOHANG).
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROG "server"
#define BACKLOG 8
#define MAX_LIMIT 1000000L
#define MAX_MESSAGE 1024
#define REPLY "I got your message"

static void usage(void)
{
    fprintf(stderr, "usage: ./server PORT [MAX]\n");
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

/* Nothing to do here: the signal only has to interrupt pselect(). */
static void on_child(int sig)
{
    (void)sig;
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

/* Child side: one message in, one reply out. Never returns. */
static void serve_child(int conn_fd, long k)
{
    /* accept() on some systems copies O_NONBLOCK from the listening socket. */
    int flags = fcntl(conn_fd, F_GETFL);
    if (flags == -1)
        die("fcntl F_GETFL");
    if (fcntl(conn_fd, F_SETFL, flags & ~O_NONBLOCK) == -1)
        die("fcntl F_SETFL");

    char msg[MAX_MESSAGE];
    size_t len = 0;
    while (len < sizeof msg) {
        ssize_t n = read(conn_fd, msg + len, sizeof msg - len);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            die("read from connection");
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (memchr(msg + len - (size_t)n, '\n', (size_t)n) != NULL)
            break;
    }
    if (len == 0) {
        fprintf(stderr, PROG ": connection %ld closed before sending a message\n", k);
        exit(1);
    }
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        len--;
    say("Here is the message: %.*s\n", (int)len, msg);

    write_all(conn_fd, REPLY, strlen(REPLY));
    if (close(conn_fd) == -1)
        die("close of connection");
    exit(0);
}

/* Report one finished child; its exit status shows whether it served its client. */
static void report_child(pid_t pid, int status)
{
    if (WIFEXITED(status))
        say("reaped child %ld (exit status %d)\n", (long)pid, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        say("reaped child %ld (killed by signal %d)\n", (long)pid, WTERMSIG(status));
    else
        say("reaped child %ld (status 0x%x)\n", (long)pid, (unsigned int)status);
}

/* Collect every child that has already finished; returns how many. */
static long reap_finished(void)
{
    long count = 0;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            report_child(pid, status);
            count++;
            continue;
        }
        if (pid == -1 && errno == EINTR)
            continue;
        if (pid == -1 && errno != ECHILD)
            die("waitpid");
        return count;
    }
}

int main(int argc, char *argv[])
{
    if (argc != 2 && argc != 3)
        usage();
    unsigned short port = (unsigned short)parse_number(argv[1], 1, 65535, "port");
    long max = argc == 3 ? parse_number(argv[2], 1, MAX_LIMIT, "MAX") : 0;

    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
        die("setvbuf");
    /* A client that hangs up before the reply must cost a child an EPIPE, not a silent kill. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        die("signal");

    sigset_t chld, normal_mask;
    if (sigemptyset(&chld) == -1 || sigaddset(&chld, SIGCHLD) == -1)
        die("sigset");
    if (sigprocmask(SIG_BLOCK, &chld, &normal_mask) == -1)
        die("sigprocmask");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_child;
    if (sigemptyset(&sa.sa_mask) == -1)
        die("sigemptyset");
    sa.sa_flags = SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) == -1)
        die("sigaction SIGCHLD");

    int listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd == -1)
        die("socket");
    int on = 1;
    if (setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1)
        die("setsockopt SO_REUSEADDR");
    /* Non-blocking, so a connection that vanishes between pselect() and accept() cannot hang us. */
    int flags = fcntl(listen_fd, F_GETFL);
    if (flags == -1)
        die("fcntl F_GETFL");
    if (fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) == -1)
        die("fcntl F_SETFL");

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
    if (max > 0)
        say("listening on port %u, stopping after %ld connections\n", (unsigned int)port, max);
    else
        say("listening on port %u\n", (unsigned int)port);

    long accepted = 0, reaped = 0;
    while (max == 0 || accepted < max) {
        reaped += reap_finished();

        fd_set readable;
        FD_ZERO(&readable);
        FD_SET(listen_fd, &readable);
        /* SIGCHLD is let through only while we sleep here. */
        if (pselect(listen_fd + 1, &readable, NULL, NULL, NULL, &normal_mask) == -1) {
            if (errno == EINTR)
                continue;
            die("pselect");
        }

        struct sockaddr_in peer;
        socklen_t peer_len = sizeof peer;
        int conn_fd = accept(listen_fd, (struct sockaddr *)&peer, &peer_len);
        if (conn_fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            die("accept");
        }
        accepted++;
        char peer_ip[INET_ADDRSTRLEN];
        if (inet_ntop(AF_INET, &peer.sin_addr, peer_ip, sizeof peer_ip) == NULL)
            die("inet_ntop");

        pid_t pid = fork();
        if (pid == -1)
            die("fork");
        if (pid == 0) {
            if (close(listen_fd) == -1)
                die("close of listening socket");
            if (sigprocmask(SIG_SETMASK, &normal_mask, NULL) == -1)
                die("sigprocmask");
            serve_child(conn_fd, accepted);
        }
        say("connection %ld from %s:%u handed to child %ld\n", accepted, peer_ip,
            (unsigned int)ntohs(peer.sin_port), (long)pid);
        if (close(conn_fd) == -1)
            die("close of connection");
    }

    /* MAX reached: no more clients, but every child must be collected first. */
    if (close(listen_fd) == -1)
        die("close of listening socket");
    while (reaped < accepted) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid == -1) {
            if (errno == EINTR)
                continue;
            die("waitpid");
        }
        report_child(pid, status);
        reaped++;
    }
    say("served and reaped %ld connections, exiting\n", accepted);
    return 0;
}
