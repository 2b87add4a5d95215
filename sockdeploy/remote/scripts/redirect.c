/*
 * sockdeploy's address redirect, loaded with LD_PRELOAD into a student's
 * program so it can keep the address and port written into its source.
 *
 *   SOCKDEPLOY_CONNECT  rules for connect()/sendto()/sendmsg():
 *                       "FROM>TO,..." with FROM = ADDR:PORT (ADDR or PORT may
 *                       be *) and TO = IPV4:PORT, e.g. "*:30303>127.0.0.1:41234"
 *   SOCKDEPLOY_BIND     rules for bind(): "PORT>PORT,...", e.g. "30303>41234"
 *   SOCKDEPLOY_LOG      a file each redirect is appended to, one line each:
 *                       "connect|sendto|bind PROTO FROM_ADDR:PORT TO_ADDR:PORT"
 *
 * Only AF_INET and AF_INET6 (IPv4-mapped and ::1) destinations are changed;
 * everything else goes to the C library untouched. Builds with:
 *   gcc -shared -fPIC -O2 -o libsockdeploy-redirect.so redirect.c -ldl
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_RULES 16

struct rule {
    int any_addr, any_port;
    struct in_addr from_addr, to_addr;
    in_port_t from_port, to_port; /* network order */
};

static struct rule connect_rules[MAX_RULES];
static int n_connect;
static struct { in_port_t from, to; } bind_rules[MAX_RULES];
static int n_bind;
static int log_fd = -1;

static int parse_endpoint(char *text, struct in_addr *addr, int *any_addr, in_port_t *port, int *any_port)
{
    char *colon = strrchr(text, ':');
    if (colon == NULL)
        return -1;
    *colon = '\0';
    if (any_addr != NULL && strcmp(text, "*") == 0)
        *any_addr = 1;
    else if (inet_pton(AF_INET, text, addr) != 1)
        return -1;
    if (any_port != NULL && strcmp(colon + 1, "*") == 0) {
        *any_port = 1;
        return 0;
    }
    long value = strtol(colon + 1, NULL, 10);
    if (value <= 0 || value > 65535)
        return -1;
    *port = htons((in_port_t)value);
    return 0;
}

static void parse_connect_rules(const char *spec)
{
    char *copy = strdup(spec), *save = NULL;
    for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item && n_connect < MAX_RULES;
         item = strtok_r(NULL, ",", &save)) {
        char *arrow = strchr(item, '>');
        struct rule r;
        memset(&r, 0, sizeof r);
        if (arrow == NULL)
            continue;
        *arrow = '\0';
        if (parse_endpoint(item, &r.from_addr, &r.any_addr, &r.from_port, &r.any_port) == 0 &&
            parse_endpoint(arrow + 1, &r.to_addr, NULL, &r.to_port, NULL) == 0)
            connect_rules[n_connect++] = r;
    }
    free(copy);
}

static void parse_bind_rules(const char *spec)
{
    char *copy = strdup(spec), *save = NULL;
    for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item && n_bind < MAX_RULES;
         item = strtok_r(NULL, ",", &save)) {
        long from = 0, to = 0;
        if (sscanf(item, "%ld>%ld", &from, &to) == 2 && from > 0 && from < 65536 && to > 0 && to < 65536) {
            bind_rules[n_bind].from = htons((in_port_t)from);
            bind_rules[n_bind].to = htons((in_port_t)to);
            n_bind++;
        }
    }
    free(copy);
}

__attribute__((constructor)) static void load_rules(void)
{
    const char *spec = getenv("SOCKDEPLOY_CONNECT");
    if (spec != NULL)
        parse_connect_rules(spec);
    spec = getenv("SOCKDEPLOY_BIND");
    if (spec != NULL)
        parse_bind_rules(spec);
    spec = getenv("SOCKDEPLOY_LOG");
    if (spec != NULL && *spec != '\0')
        log_fd = open(spec, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

static const char *protocol_of(int fd)
{
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM)
        return "udp";
    return "tcp";
}

static void note(const char *call, int fd, struct in_addr from, in_port_t from_port, struct in_addr to, in_port_t to_port)
{
    char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], line[160];
    int saved = errno;
    if (log_fd >= 0 && inet_ntop(AF_INET, &from, a, sizeof a) && inet_ntop(AF_INET, &to, b, sizeof b)) {
        int n = snprintf(line, sizeof line, "%s %s %s:%u %s:%u\n", call, protocol_of(fd), a, ntohs(from_port), b,
                         ntohs(to_port));
        if (n > 0 && (size_t)n < sizeof line && write(log_fd, line, (size_t)n) < 0) {
            /* the log is a courtesy: a full disk must not break the program */
        }
    }
    errno = saved;
}

static const struct rule *match(struct in_addr addr, in_port_t port)
{
    for (int i = 0; i < n_connect; i++) {
        const struct rule *r = &connect_rules[i];
        if ((r->any_addr || r->from_addr.s_addr == addr.s_addr) && (r->any_port || r->from_port == port))
            return r;
    }
    return NULL;
}

/* Rewrite *ADDR into STORE when a rule applies; return the address to pass on. */
static const struct sockaddr *redirect(const char *call, int fd, const struct sockaddr *addr, socklen_t len,
                                       struct sockaddr_storage *store)
{
    if (addr == NULL || n_connect == 0)
        return addr;
    if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        const struct rule *r = match(in->sin_addr, in->sin_port);
        if (r == NULL)
            return addr;
        struct sockaddr_in *out = (struct sockaddr_in *)store;
        memcpy(out, in, sizeof *out);
        out->sin_addr = r->to_addr;
        out->sin_port = r->to_port;
        note(call, fd, in->sin_addr, in->sin_port, r->to_addr, r->to_port);
        return (const struct sockaddr *)out;
    }
    if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        struct in_addr v4;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            memcpy(&v4, &in6->sin6_addr.s6_addr[12], sizeof v4);
        else if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            v4.s_addr = htonl(INADDR_LOOPBACK);
        else
            return addr;
        const struct rule *r = match(v4, in6->sin6_port);
        if (r == NULL)
            return addr;
        struct sockaddr_in6 *out = (struct sockaddr_in6 *)store;
        memcpy(out, in6, sizeof *out);
        memset(&out->sin6_addr, 0, sizeof out->sin6_addr);
        out->sin6_addr.s6_addr[10] = 0xff;
        out->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&out->sin6_addr.s6_addr[12], &r->to_addr, sizeof r->to_addr);
        out->sin6_port = r->to_port;
        note(call, fd, v4, in6->sin6_port, r->to_addr, r->to_port);
        return (const struct sockaddr *)out;
    }
    return addr;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    static int (*real)(int, const struct sockaddr *, socklen_t);
    struct sockaddr_storage store;
    if (real == NULL)
        real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
    return real(fd, redirect("connect", fd, addr, len, &store), len);
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr, socklen_t len)
{
    static ssize_t (*real)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    struct sockaddr_storage store;
    if (real == NULL)
        real = (ssize_t(*)(int, const void *, size_t, int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "sendto");
    return real(fd, buf, n, flags, redirect("sendto", fd, addr, len, &store), len);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    static ssize_t (*real)(int, const struct msghdr *, int);
    struct sockaddr_storage store;
    if (real == NULL)
        real = (ssize_t(*)(int, const struct msghdr *, int))dlsym(RTLD_NEXT, "sendmsg");
    if (msg == NULL || msg->msg_name == NULL)
        return real(fd, msg, flags);
    struct msghdr copy = *msg;
    copy.msg_name = (void *)redirect("sendto", fd, (const struct sockaddr *)msg->msg_name, msg->msg_namelen, &store);
    return real(fd, &copy, flags);
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    static int (*real)(int, const struct sockaddr *, socklen_t);
    struct sockaddr_storage store;
    if (real == NULL)
        real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
    if (addr == NULL || n_bind == 0 || len > (socklen_t)sizeof store ||
        (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
        return real(fd, addr, len);
    memcpy(&store, addr, len);
    in_port_t *port = addr->sa_family == AF_INET ? &((struct sockaddr_in *)&store)->sin_port
                                                  : &((struct sockaddr_in6 *)&store)->sin6_port;
    for (int i = 0; i < n_bind; i++) {
        if (bind_rules[i].from == *port) {
            struct in_addr any = {htonl(INADDR_ANY)};
            note("bind", fd, any, *port, any, bind_rules[i].to);
            *port = bind_rules[i].to;
            break;
        }
    }
    return real(fd, (const struct sockaddr *)&store, len);
}
