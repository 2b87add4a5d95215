/*
 * c-udp: UDP acknowledging server (after the network security lab chapter
 * on sockets).
 *
 * Usage: ./server PORT [MAX]
 *
 * Binds a datagram socket to PORT on every local IPv4 address. For each
 * datagram it prints the text and the sender's address and answers the
 * sender with "ACK <text>". With MAX it exits after MAX datagrams.
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
#include <sys/types.h>
#include <unistd.h>

#define PROG "server"
#define MAX_LIMIT 1000000L
/* Largest UDP payload over IPv4, so no datagram is ever cut short. */
#define MAX_DGRAM 65507
#define ACK_PREFIX "ACK "

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

/* Print datagram bytes as text, with anything unprintable (or a quote) as \xNN. */
static void print_text(const unsigned char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int rc;
        if (buf[i] >= 0x20 && buf[i] < 0x7f && buf[i] != '"' && buf[i] != '\\')
            rc = putchar(buf[i]);
        else
            rc = printf("\\x%02x", (unsigned int)buf[i]);
        if (rc < 0)
            die("write to stdout");
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

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd == -1)
        die("socket");
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == -1) {
        int err = errno;
        fprintf(stderr, PROG ": bind to UDP port %u failed: %s\n", (unsigned int)port, strerror(err));
        return 1;
    }
    if (max > 0)
        say("waiting on UDP port %u, stopping after %ld datagrams\n", (unsigned int)port, max);
    else
        say("waiting on UDP port %u\n", (unsigned int)port);

    /* The reply is built in place: "ACK " first, the received bytes right after it. */
    static unsigned char reply[sizeof ACK_PREFIX - 1 + MAX_DGRAM];
    const size_t prefix = sizeof ACK_PREFIX - 1;
    memcpy(reply, ACK_PREFIX, prefix);
    unsigned char *data = reply + prefix;

    long count = 0;
    while (max == 0 || count < max) {
        struct sockaddr_in peer;
        socklen_t peer_len = sizeof peer;
        ssize_t n = recvfrom(fd, data, MAX_DGRAM, 0, (struct sockaddr *)&peer, &peer_len);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            die("recvfrom");
        }
        count++;

        char peer_ip[INET_ADDRSTRLEN];
        if (inet_ntop(AF_INET, &peer.sin_addr, peer_ip, sizeof peer_ip) == NULL)
            die("inet_ntop");
        unsigned int peer_port = ntohs(peer.sin_port);
        if (printf("received \"") < 0)
            die("write to stdout");
        print_text(data, (size_t)n);
        say("\" from %s:%u\n", peer_ip, peer_port);

        /* The ACK may be 4 bytes over the UDP limit for a maximal datagram: trim it. */
        size_t reply_len = prefix + (size_t)n;
        if (reply_len > MAX_DGRAM)
            reply_len = MAX_DGRAM;
        ssize_t sent = sendto(fd, reply, reply_len, 0, (struct sockaddr *)&peer, peer_len);
        if (sent == -1) {
            /* One sender that cannot be answered does not stop the server. */
            fprintf(stderr, PROG ": sendto %s:%u failed: %s\n", peer_ip, peer_port, strerror(errno));
            continue;
        }
        say("sent ACK (%zd bytes) to %s:%u\n", sent, peer_ip, peer_port);
    }

    say("handled %ld datagrams, exiting\n", count);
    if (close(fd) == -1)
        die("close");
    return 0;
}
