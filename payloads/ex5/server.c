/*
 * Sockets studio, exercise 5: looping AF_INET stream server.
 *
 * Usage: ./server PORT
 *
 * Listens on PORT on every local IPv4 address and accepts connection after
 * connection, printing every unsigned integer it reads. Receiving the quit
 * code 418 shuts the server down.
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
    say("listening on port %u\n", (unsigned int)port);

    for (unsigned long k = 1;; k++) {
        int conn_fd = accept(listen_fd, NULL, NULL);
        if (conn_fd == -1) {
            /* Interrupted or aborted handshakes are not fatal: just wait again. */
            if (errno == EINTR || errno == ECONNABORTED) {
                k--;
                continue;
            }
            die("accept");
        }
        say("connection %lu accepted\n", k);
        if (serve_connection(conn_fd, k))
            break;
    }

    say("quit code %u received, shutting down\n", QUIT_CODE);
    if (close(listen_fd) == -1)
        die("close of listening socket");
    return 0;
}
