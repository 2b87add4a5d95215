/*
 * Sockets studio, exercise 6: looping AF_INET stream server that reports
 * addresses.
 *
 * Usage: ./server PORT
 *
 * Like exercise 5, but prints the host name and address it listens on and,
 * for each connection, the peer's address and the local address of the
 * accepted socket. Receiving the quit code 418 shuts the server down.
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

#define PROG "server"
#define BACKLOG 8
#define QUIT_CODE 418u
/* Room for "255.255.255.255:65535" plus the terminator. */
#define ADDR_TEXT_LEN (INET_ADDRSTRLEN + 6)

static void usage(void)
{
    fprintf(stderr, "usage: ./server PORT\n");
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

/* Write "A.B.C.D" into ip (INET_ADDRSTRLEN bytes) and return the port in host order. */
static unsigned int split_addr(const struct sockaddr_in *sa, char *ip)
{
    if (inet_ntop(AF_INET, &sa->sin_addr, ip, INET_ADDRSTRLEN) == NULL)
        die("inet_ntop");
    return ntohs(sa->sin_port);
}

/* Format as "A.B.C.D:PORT" into text (ADDR_TEXT_LEN bytes). */
static void format_addr(const struct sockaddr_in *sa, char *text)
{
    char ip[INET_ADDRSTRLEN];
    unsigned int port = split_addr(sa, ip);
    int n = snprintf(text, ADDR_TEXT_LEN, "%s:%u", ip, port);
    if (n < 0 || n >= ADDR_TEXT_LEN) {
        fprintf(stderr, PROG ": formatting address %s:%u failed\n", ip, port);
        exit(1);
    }
}

static void local_addr(int fd, struct sockaddr_in *sa, const char *what)
{
    socklen_t len = sizeof *sa;
    memset(sa, 0, sizeof *sa);
    if (getsockname(fd, (struct sockaddr *)sa, &len) == -1)
        die(what);
}

/*
 * Print the integers of one connection. Returns 1 if the quit code arrived.
 * A broken or garbled connection is reported but does not stop the server,
 * since other clients may still want to connect.
 */
static int serve_connection(int conn_fd, unsigned long k)
{
    FILE *in = fdopen(conn_fd, "r");
    if (in == NULL)
        die("fdopen");

    int quit = 0;
    unsigned int value;
    int n;
    while ((n = fscanf(in, "%u", &value)) == 1) {
        say("received: %u\n", value);
        if (value == QUIT_CODE) {
            quit = 1;
            break;
        }
    }

    if (!quit) {
        if (n == 0)
            fprintf(stderr, PROG ": connection %lu sent non-numeric data, closing it\n", k);
        else if (ferror(in))
            fprintf(stderr, PROG ": read from connection %lu failed: %s\n", k, strerror(errno));
        say("connection %lu closed\n", k);
    }

    if (fclose(in) == EOF)
        die("close of connection");
    return quit;
}

int main(int argc, char *argv[])
{
    if (argc != 2)
        usage();
    unsigned short port = parse_port(argv[1]);

    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
        die("setvbuf");

    /* gethostname() need not terminate a truncated name, so leave a spare byte. */
    char hostname[256];
    memset(hostname, 0, sizeof hostname);
    if (gethostname(hostname, sizeof hostname - 1) == -1)
        die("gethostname");

    int listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd == -1)
        die("socket");

    /* Lets a restarted server reuse the port while old connections sit in TIME_WAIT. */
    int on = 1;
    if (setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1)
        die("setsockopt SO_REUSEADDR");

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

    /* Report what the kernel actually bound, not what was asked for. */
    struct sockaddr_in bound;
    local_addr(listen_fd, &bound, "getsockname of listening socket");
    char bound_ip[INET_ADDRSTRLEN];
    unsigned int bound_port = split_addr(&bound, bound_ip);
    say("listening on %s (%s) port %u\n", hostname, bound_ip, bound_port);

    for (unsigned long k = 1;; k++) {
        struct sockaddr_in peer;
        socklen_t peer_len = sizeof peer;
        memset(&peer, 0, sizeof peer);
        int conn_fd = accept(listen_fd, (struct sockaddr *)&peer, &peer_len);
        if (conn_fd == -1) {
            /* Interrupted or aborted handshakes are not fatal: just wait again. */
            if (errno == EINTR || errno == ECONNABORTED) {
                k--;
                continue;
            }
            die("accept");
        }

        char peer_text[ADDR_TEXT_LEN];
        format_addr(&peer, peer_text);
        say("connection %lu accepted from %s\n", k, peer_text);

        struct sockaddr_in local;
        char local_text[ADDR_TEXT_LEN];
        local_addr(conn_fd, &local, "getsockname of accepted socket");
        format_addr(&local, local_text);
        say("connection %lu local address %s\n", k, local_text);

        if (serve_connection(conn_fd, k))
            break;
    }

    say("quit code %u received, shutting down\n", QUIT_CODE);
    if (close(listen_fd) == -1)
        die("close of listening socket");
    return 0;
}
