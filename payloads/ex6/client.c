/*
 * Sockets studio, exercise 6: AF_INET stream client that resolves a host
 * name and reports addresses.
 *
 * Usage: ./client HOSTNAME PORT [quit]
 *
 * Looks HOSTNAME up with getaddrinfo(), connects to the first IPv4 address
 * that accepts, prints the peer's and its own socket address, then sends a
 * fixed list of unsigned integers as text, one per line. With "quit" it
 * finally sends 418, which tells the server to shut down.
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
#define QUIT_CODE 418u
/* Room for "255.255.255.255:65535" plus the terminator. */
#define ADDR_TEXT_LEN (INET_ADDRSTRLEN + 6)

static const unsigned int values[] = { 1, 1, 2, 3, 5, 8, 13, 21, 34, 55 };

static void usage(void)
{
    fprintf(stderr, "usage: ./client HOSTNAME PORT [quit]\n");
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

/* Format an IPv4 socket address as "A.B.C.D:PORT" into text (ADDR_TEXT_LEN bytes). */
static void format_addr(const struct sockaddr_in *sa, char *text)
{
    char ip[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof ip) == NULL)
        die("inet_ntop");
    unsigned int port = ntohs(sa->sin_port);
    int n = snprintf(text, ADDR_TEXT_LEN, "%s:%u", ip, port);
    if (n < 0 || n >= ADDR_TEXT_LEN) {
        fprintf(stderr, PROG ": formatting address %s:%u failed\n", ip, port);
        exit(1);
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

/* A name can map to several addresses; use the first one that accepts us. */
static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;

    struct addrinfo *list;
    int rc = getaddrinfo(host, port, &hints, &list);
    if (rc != 0) {
        /* EAI_SYSTEM means the real reason is in errno. */
        const char *why = rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc);
        fprintf(stderr, PROG ": getaddrinfo for %s port %s failed: %s\n", host, port, why);
        exit(1);
    }

    int fd = -1;
    for (struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        char target[ADDR_TEXT_LEN];
        format_addr((const struct sockaddr_in *)ai->ai_addr, target);

        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd == -1) {
            fprintf(stderr, PROG ": socket for %s failed: %s\n", target, strerror(errno));
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        fprintf(stderr, PROG ": connect to %s (%s) failed: %s\n", host, target, strerror(errno));
        if (close(fd) == -1)
            die("close");
        fd = -1;
    }
    freeaddrinfo(list);

    if (fd == -1) {
        fprintf(stderr, PROG ": could not connect to %s port %s\n", host, port);
        exit(1);
    }
    return fd;
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
    const char *host = argv[1];
    const char *port = argv[2];
    check_port(port);

    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
        die("setvbuf");
    /* A server that goes away mid-send should give EPIPE and a message, not a silent kill. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        die("signal");

    int fd = connect_to(host, port);

    struct sockaddr_in peer, self;
    socklen_t peer_len = sizeof peer, self_len = sizeof self;
    memset(&peer, 0, sizeof peer);
    memset(&self, 0, sizeof self);
    if (getpeername(fd, (struct sockaddr *)&peer, &peer_len) == -1)
        die("getpeername");
    if (getsockname(fd, (struct sockaddr *)&self, &self_len) == -1)
        die("getsockname");
    char peer_text[ADDR_TEXT_LEN], self_text[ADDR_TEXT_LEN];
    format_addr(&peer, peer_text);
    format_addr(&self, self_text);
    say("connected to %s (%s) from %s\n", host, peer_text, self_text);

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
