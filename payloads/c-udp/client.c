/*
 * c-udp: UDP client that waits for acknowledgements (after the network
 * security lab chapter on sockets).
 *
 * Usage: ./client IP PORT MESSAGE [COUNT]
 *
 * Sends MESSAGE as one datagram to the dotted IPv4 address IP on PORT,
 * COUNT times (default 1), and after each waits up to 2 seconds for the
 * server's acknowledgement. Exits 1 if any acknowledgement is missing.
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
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#define PROG "client"
#define COUNT_LIMIT 1000L
#define REPLY_TIMEOUT_S 2
#define MAX_DGRAM 65507

static void usage(void)
{
    fprintf(stderr, "usage: ./client IP PORT MESSAGE [COUNT]\n");
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

int main(int argc, char *argv[])
{
    if (argc != 4 && argc != 5)
        usage();
    const char *ip = argv[1];
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1) {
        fprintf(stderr, PROG ": invalid IPv4 address '%s'\n", ip);
        usage();
    }
    unsigned short port = (unsigned short)parse_number(argv[2], 1, 65535, "port");
    addr.sin_port = htons(port);
    const char *message = argv[3];
    size_t len = strlen(message);
    if (len > MAX_DGRAM - 4) {
        fprintf(stderr, PROG ": MESSAGE is longer than %d bytes\n", MAX_DGRAM - 4);
        usage();
    }
    long count = argc == 5 ? parse_number(argv[4], 1, COUNT_LIMIT, "COUNT") : 1;

    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
        die("setvbuf");

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd == -1)
        die("socket");
    /* connect() on UDP only fixes the peer: replies from elsewhere are filtered out
       and an unreachable port shows up as ECONNREFUSED instead of silence. */
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == -1) {
        int err = errno;
        fprintf(stderr, PROG ": connect to %s:%u failed: %s\n", ip, (unsigned int)port, strerror(err));
        return 1;
    }
    struct timeval tv;
    tv.tv_sec = REPLY_TIMEOUT_S;
    tv.tv_usec = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1)
        die("setsockopt SO_RCVTIMEO");

    static char reply[MAX_DGRAM + 1];
    long missing = 0;
    for (long i = 1; i <= count; i++) {
        ssize_t sent;
        do
            sent = send(fd, message, len, 0);
        while (sent == -1 && errno == EINTR);
        if (sent == -1) {
            if (errno != ECONNREFUSED)
                die("send");
            /* An earlier datagram bounced; this one may still get through, so report and go on. */
            say("no reply (port unreachable)\n");
            missing++;
            continue;
        }
        say("sent %zd bytes to %s:%u (%ld of %ld)\n", sent, ip, (unsigned int)port, i, count);

        ssize_t n;
        do
            n = recv(fd, reply, sizeof reply - 1, 0);
        while (n == -1 && errno == EINTR);
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                say("no reply\n");
            } else if (errno == ECONNREFUSED) {
                say("no reply (port unreachable)\n");
            } else {
                die("recv");
            }
            missing++;
            continue;
        }
        say("got: %.*s\n", (int)n, reply);
    }

    if (close(fd) == -1)
        die("close");
    if (missing > 0) {
        fprintf(stderr, PROG ": %ld of %ld replies missing\n", missing, count);
        return 1;
    }
    return 0;
}
