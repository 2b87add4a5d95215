/*
 * Sockets studio, exercises 3-4: looping AF_UNIX stream server.
 *
 * Usage: ./server SOCKETPATH
 *
 * Binds a local socket at SOCKETPATH and accepts connection after
 * connection, printing every unsigned integer it reads. Receiving the
 * quit code 418 shuts the server down; the socket file is removed on exit.
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

#define PROG "server"
#define BACKLOG 8
#define QUIT_CODE 418u

/* Kept global so that every exit path, including signals, can remove the file. */
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static volatile sig_atomic_t sock_bound = 0;

static void remove_socket_file(void)
{
    if (sock_bound) {
        sock_bound = 0;
        if (unlink(sock_path) == -1)
            fprintf(stderr, PROG ": unlink %s failed: %s\n", sock_path, strerror(errno));
    }
}

static void die(const char *what)
{
    int err = errno;
    fprintf(stderr, PROG ": %s failed: %s\n", what, strerror(err));
    remove_socket_file();
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

/* A killed server would otherwise leave the path behind and block the next bind. */
static void on_signal(int sig)
{
    if (sock_bound)
        unlink(sock_path);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_signal_handlers(void)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    if (sigemptyset(&sa.sa_mask) == -1)
        die("sigemptyset");
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL) == -1)
            die("sigaction");
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
    if (argc != 2) {
        fprintf(stderr, "usage: ./server SOCKETPATH\n");
        return 2;
    }
    const char *path = argv[1];
    if (path[0] == '\0' || strlen(path) >= sizeof sock_path) {
        fprintf(stderr, PROG ": socket path must be 1-%zu bytes long: '%s'\n",
                sizeof sock_path - 1, path);
        fprintf(stderr, "usage: ./server SOCKETPATH\n");
        return 2;
    }
    memcpy(sock_path, path, strlen(path) + 1);

    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
        die("setvbuf");
    install_signal_handlers();

    int listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (listen_fd == -1)
        die("socket");

    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, sock_path, strlen(sock_path) + 1);

    if (bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) == -1) {
        int err = errno;
        fprintf(stderr, PROG ": bind to %s failed: %s\n", sock_path, strerror(err));
        return 1;
    }
    sock_bound = 1;

    if (listen(listen_fd, BACKLOG) == -1)
        die("listen");
    say("listening on %s\n", sock_path);

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
    remove_socket_file();
    return 0;
}
