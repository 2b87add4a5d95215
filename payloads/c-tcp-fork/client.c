/*
 * c-tcp-fork: TCP client that sends one typed line (after the network
 * security lab chapter on sockets).
 *
 * Usage: ./client HOSTNAME PORT
 *
 * Looks HOSTNAME up with getaddrinfo() and connects to the first of its
 * IPv4 addresses that accepts. Then it asks for a message, reads one line
 * from standard input, sends it and prints the server's reply.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROG "client"
#define MAX_REPLY 1024

static void usage(void)
{
    fprintf(stderr, "usage: ./client HOSTNAME PORT\n");
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
static void check_port(const char *text)
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

/* A name can stand for several addresses: try them in order, keep the first that connects. */
static int connect_by_name(const char *host, const char *port)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET; /* the server listens on IPv4 */
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;

    struct addrinfo *list;
    int rc = getaddrinfo(host, port, &hints, &list);
    if (rc != 0) {
        /* EAI_SYSTEM means the real reason is in errno. */
        const char *why = rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc);
        fprintf(stderr, PROG ": getaddrinfo for %s failed: %s\n", host, why);
        exit(1);
    }

    int fd = -1;
    for (struct addrinfo *ai = list; ai != NULL && fd == -1; ai = ai->ai_next) {
        char ip[INET_ADDRSTRLEN];
        if (inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, ip, sizeof ip) == NULL)
            die("inet_ntop");
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd == -1) {
            fprintf(stderr, PROG ": socket for %s failed: %s\n", ip, strerror(errno));
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            say("connected to %s (%s) port %s\n", host, ip, port);
            break;
        }
        fprintf(stderr, PROG ": connect to %s (%s) port %s failed: %s\n", host, ip, port, strerror(errno));
        if (close(fd) == -1)
            die("close");
        fd = -1;
    }
    freeaddrinfo(list);
    if (fd == -1) {
        fprintf(stderr, PROG ": no address of %s accepted a connection on port %s\n", host, port);
        exit(1);
    }
    return fd;
}

int main(int argc, char *argv[])
{
    if (argc != 3)
        usage();
    const char *host = argv[1];
    const char *port = argv[2];
    check_port(port);

    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
        die("setvbuf");
    /* A server that goes away mid-send should give EPIPE and a message, not a silent kill. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        die("signal");

    int fd = connect_by_name(host, port);

    say("Please enter the message: ");
    char *line = NULL;
    size_t cap = 0;
    errno = 0;
    ssize_t len = getline(&line, &cap, stdin);
    if (len == -1) {
        if (ferror(stdin))
            die("read from stdin");
        fprintf(stderr, PROG ": no message: standard input ended before a line\n");
        return 1;
    }
    /* With piped input nothing echoes the line; show it so the log reads like a terminal. */
    if (!isatty(STDIN_FILENO))
        say("%s%s", line, line[len - 1] == '\n' ? "" : "\n");

    write_all(fd, line, (size_t)len);
    if (line[len - 1] != '\n')
        write_all(fd, "\n", 1);
    free(line);
    /* Nothing more will be sent; the server may also take end of file as the end of the message. */
    if (shutdown(fd, SHUT_WR) == -1)
        die("shutdown");

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
    if (got == 0) {
        fprintf(stderr, PROG ": the server closed the connection without a reply\n");
        return 1;
    }
    say("%.*s\n", (int)got, reply);
    return 0;
}
