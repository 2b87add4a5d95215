/*
 * sockdeploy's address redirect and wire record, loaded with LD_PRELOAD into a
 * student's program so it can keep the address and port written into its
 * source, and so every byte it puts on the network is kept for grading.
 *
 *   SOCKDEPLOY_CONNECT  rules for connect()/sendto()/sendmsg():
 *                       "FROM>TO,..." with FROM = ADDR:PORT (ADDR or PORT may
 *                       be *) and TO = IPV4:PORT, e.g. "*:30303>127.0.0.1:41234"
 *   SOCKDEPLOY_BIND     rules for bind(): "PORT>PORT,...", e.g. "30303>41234"
 *   SOCKDEPLOY_LOG      a file each redirect is appended to, one line each:
 *                       "connect|sendto|bind PROTO FROM_ADDR:PORT TO_ADDR:PORT"
 *   SOCKDEPLOY_WIRE     a file the bytes of every AF_INET/AF_INET6 socket the
 *                       program connect()s (or sendto()s from, for UDP) are
 *                       appended to, one whole line per write() (TIME is Unix
 *                       time with microseconds, ID is unique across fork):
 *                         C ID tcp|udp LOCAL PEER TIME   the socket is followed
 *                         S|R ID TIME HEX                 bytes sent / received
 *                         S+|R+ ID TIME HEX               more of the same chunk
 *                         SX|RX ID TIME COUNT             bytes counted, not kept
 *                         E ID TIME client closed|server closed
 *                         F TIME                          the file reached its cap
 *                         U TIME HEX                      the process exec()s (or posix_spawn()s) the
 *                                                         program at path HEX, which cannot load the library
 *                                                         (statically linked), so its bytes go unrecorded
 *
 * Only AF_INET and AF_INET6 (IPv4-mapped and ::1) destinations are changed;
 * everything else goes to the C library untouched. Recording never changes
 * what the program sees (return values, errno, descriptor numbers) and gives
 * up silently (a full disk). Builds with:
 *   gcc -shared -fPIC -O2 -o libsockdeploy-redirect.so redirect.c -ldl
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
/* the fortified inline read()/recv() of the headers would clash with the definitions here */
#undef _FORTIFY_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
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

/* A file of the library's own, on a descriptor far above the program's, so that the numbers the program's
 * own descriptors get stay what they would be without the library. */
struct own_file {
    int fd;
    dev_t dev;
    ino_t ino;
};

static struct own_file log_file = {-1, 0, 0};
static struct own_file wire_file = {-1, 0, 0};
static char wire_path[1024];
static int wire_on;
static unsigned long wire_nonce;

/* The C library's function NAME, looked up once (two threads that race store the same pointer). */
#define NEXT(var, name) (*({ if ((var) == NULL) (var) = (__typeof__(var))dlsym(RTLD_NEXT, name); &(var); }))

/* Looked up at load (see resolve_exec) as well as on first use. */
static int (*next_close)(int);
static ssize_t (*next_write)(int, const void *, size_t);

static int real_close(int fd)
{
    return NEXT(next_close, "close")(fd);
}

static ssize_t real_write(int fd, const void *buf, size_t n)
{
    return NEXT(next_write, "write")(fd, buf, n);
}

/* Open PATH to append to it, on a high descriptor (KEEP_LOW: on a low one when no high one is allowed);
 * return 0 when it cannot be opened at all. */
static int open_own(struct own_file *f, const char *path, int keep_low)
{
    struct stat st;
    struct rlimit rl;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600), high = -1, floor = 1024;
    if (fd < 0)
        return 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)floor)
        floor = (int)rl.rlim_cur;
    floor -= 16;
    if (floor > 64)
        high = fcntl(fd, F_DUPFD_CLOEXEC, floor);
    if (high >= 0) {
        real_close(fd);
        fd = high;
    } else if (!keep_low) {
        real_close(fd);
        return 1;
    }
    if (fstat(fd, &st) != 0) {
        real_close(fd);
        return 1;
    }
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    __atomic_store_n(&f->fd, fd, __ATOMIC_RELEASE);
    return 1;
}

/* Whether FD is still F's file (the program may have put one of its own on that number with dup2). */
static int is_own(const struct own_file *f, int fd, struct stat *st)
{
    return fd >= 0 && fstat(fd, st) == 0 && st->st_dev == f->dev && st->st_ino == f->ino;
}

/* Whether the program's close(FD) must not reach F's descriptor: without the library it would not be open. */
static int guards(struct own_file *f, int fd)
{
    struct stat st;
    int saved = errno, own = __atomic_load_n(&f->fd, __ATOMIC_ACQUIRE), same;
    if (fd < 0 || fd != own)
        return 0;
    same = is_own(f, fd, &st);
    if (!same)
        __atomic_store_n(&f->fd, -1, __ATOMIC_RELEASE); /* the descriptor is the program's now */
    errno = saved;
    return same;
}

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

static void resolve_exec(void);

__attribute__((constructor)) static void load_rules(void)
{
    resolve_exec();
    const char *spec = getenv("SOCKDEPLOY_CONNECT");
    if (spec != NULL)
        parse_connect_rules(spec);
    spec = getenv("SOCKDEPLOY_BIND");
    if (spec != NULL)
        parse_bind_rules(spec);
    spec = getenv("SOCKDEPLOY_LOG");
    if (spec != NULL && *spec != '\0')
        open_own(&log_file, spec, 1);
    spec = getenv("SOCKDEPLOY_WIRE");
    if (spec != NULL && *spec != '\0' && strlen(spec) < sizeof wire_path) {
        struct timespec ts;
        strcpy(wire_path, spec);
        clock_gettime(CLOCK_REALTIME, &ts);
        wire_nonce = ((unsigned long)ts.tv_sec ^ (unsigned long)ts.tv_nsec) & 0xffffffUL;
        __atomic_store_n(&wire_on, open_own(&wire_file, wire_path, 0), __ATOMIC_RELEASE);
    }
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
    int log_fd = __atomic_load_n(&log_file.fd, __ATOMIC_ACQUIRE);
    if (log_fd >= 0 && inet_ntop(AF_INET, &from, a, sizeof a) && inet_ntop(AF_INET, &to, b, sizeof b)) {
        int n = snprintf(line, sizeof line, "%s %s %s:%u %s:%u\n", call, protocol_of(fd), a, ntohs(from_port), b,
                         ntohs(to_port));
        if (n > 0 && (size_t)n < sizeof line && real_write(log_fd, line, (size_t)n) < 0) {
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

/* ---- the wire record (SOCKDEPLOY_WIRE) ---- */

#define WIRE_FDS 4096                                   /* descriptors followed: 0 .. WIRE_FDS-1 */
#define WIRE_CAP (1024UL * 1024)                        /* bytes kept per direction of one connection */
#define WIRE_FILE_CAP ((off_t)16 * 1024 * 1024)         /* past this size bytes are counted, not kept */
#define WIRE_FILE_HARD (WIRE_FILE_CAP + 1024 * 1024)    /* and past this nothing more is written */
#define WIRE_LINE_DATA 2048                             /* bytes a line: each line is one short write() */
#define SENT 0
#define RECEIVED 1

/* A socket the program connected: FD's entry while it is live and still the same socket (device, inode). */
struct conn {
    int live;
    int udp;
    int client_closed, server_closed;
    dev_t dev;
    ino_t ino;
    unsigned long kept[2];
    char id[48];
};

static struct conn conns[WIRE_FDS];
static char table_lock;
static int table_broken;      /* the lock was never free (a fork while another thread held it): record no more */
static __thread int in_lock;  /* a signal handler that writes while its thread holds the lock records nothing */
static int wire_full;         /* this process wrote the "F" line */
static unsigned wire_serial;
static const char HEX[] = "0123456789abcdef";

static int lock_table(void)
{
    if (in_lock || __atomic_load_n(&table_broken, __ATOMIC_RELAXED))
        return 0;
    for (int i = 0; i < 20000; i++) {
        if (!__atomic_test_and_set(&table_lock, __ATOMIC_ACQUIRE)) {
            in_lock = 1;
            return 1;
        }
        if (i >= 100)
            sched_yield();
    }
    __atomic_store_n(&table_broken, 1, __ATOMIC_RELAXED);
    return 0;
}

static void unlock_table(void)
{
    in_lock = 0;
    __atomic_clear(&table_lock, __ATOMIC_RELEASE);
}

/* Whether FD may be a followed socket (cheap: no system call). */
static int followed(int fd)
{
    return fd >= 0 && fd < WIRE_FDS && __atomic_load_n(&wire_on, __ATOMIC_ACQUIRE) &&
           __atomic_load_n(&conns[fd].live, __ATOMIC_ACQUIRE);
}

/* Copy FD's entry into OUT when FD is still the socket it was (not closed behind the library's back and
 * its number reused); forget it otherwise. */
static int lookup(int fd, struct conn *out)
{
    struct stat st;
    int ok = fstat(fd, &st) == 0, same;
    if (!lock_table())
        return 0;
    same = ok && conns[fd].live && conns[fd].dev == st.st_dev && conns[fd].ino == st.st_ino;
    if (same)
        *out = conns[fd];
    else
        __atomic_store_n(&conns[fd].live, 0, __ATOMIC_RELEASE);
    unlock_table();
    return same;
}

static void now(char *buf, size_t size)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, size, "%lld.%06ld", (long long)ts.tv_sec, (long)(ts.tv_nsec / 1000));
}

/* Append one whole line unless the file would grow past LIMIT: 1 written, 0 no room, -1 failed. */
static int emit(const char *line, size_t n, off_t limit)
{
    struct stat st;
    int fd = __atomic_load_n(&wire_file.fd, __ATOMIC_ACQUIRE), opened = 0, rc;
    if (fd >= 0 && !is_own(&wire_file, fd, &st)) {
        __atomic_store_n(&wire_file.fd, -1, __ATOMIC_RELEASE);
        fd = -1;
    }
    if (fd < 0) { /* no descriptor of its own: open the file for this line */
        fd = open(wire_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return -1;
        opened = 1;
        if (fstat(fd, &st) != 0) {
            real_close(fd);
            return -1;
        }
    }
    if (st.st_size + (off_t)n > limit)
        rc = 0;
    else
        rc = real_write(fd, line, n) == (ssize_t)n ? 1 : -1;
    if (opened)
        real_close(fd);
    return rc;
}

static void note_full(void)
{
    char line[64], when[32];
    int n;
    if (__atomic_exchange_n(&wire_full, 1, __ATOMIC_RELAXED))
        return;
    now(when, sizeof when);
    n = snprintf(line, sizeof line, "F %s\n", when);
    if (n > 0 && (size_t)n < sizeof line)
        emit(line, (size_t)n, WIRE_FILE_HARD);
}

/* Record the TOTAL bytes that went DIR on FD, the first AVAIL of which are in IOV: kept as hex up to the
 * connection's cap and the file's, counted past them. DISCARDED: a stream's bytes never reached IOV. */
static void record(int fd, int dir, const struct iovec *iov, size_t iovcnt, size_t avail, size_t total, int discarded)
{
    struct conn c;
    char line[2 * WIRE_LINE_DATA + 96], when[32];
    size_t keep = 0, done = 0, i = 0, off = 0;
    int first = 1, saved = errno;
    if (total == 0 || !lookup(fd, &c)) {
        errno = saved;
        return;
    }
    if (discarded && !c.udp)
        avail = 0;
    if (lock_table()) {
        struct conn *e = &conns[fd];
        if (e->live && e->dev == c.dev && e->ino == c.ino) {
            size_t room = e->kept[dir] < WIRE_CAP ? WIRE_CAP - e->kept[dir] : 0;
            keep = avail < room ? avail : room;
            e->kept[dir] += keep;
        }
        unlock_table();
    }
    now(when, sizeof when);
    while (done < keep) {
        const char *tag = dir == SENT ? (first ? "S" : "S+") : (first ? "R" : "R+");
        int head = snprintf(line, sizeof line, "%s %s %s ", tag, c.id, when), rc;
        size_t n = 0, pos;
        if (head <= 0 || head >= 96)
            break;
        pos = (size_t)head;
        while (n < WIRE_LINE_DATA && done + n < keep) {
            unsigned char b;
            while (i < iovcnt && off >= iov[i].iov_len) {
                i++;
                off = 0;
            }
            if (i >= iovcnt)
                break;
            b = ((const unsigned char *)iov[i].iov_base)[off++];
            line[pos++] = HEX[b >> 4];
            line[pos++] = HEX[b & 15];
            n++;
        }
        if (n == 0)
            break;
        line[pos++] = '\n';
        rc = emit(line, pos, WIRE_FILE_CAP);
        if (rc <= 0) {
            if (rc == 0)
                note_full();
            break;
        }
        done += n;
        first = 0;
    }
    if (total > done) {
        int n = snprintf(line, sizeof line, "%s %s %s %lu\n", dir == SENT ? "SX" : "RX", c.id, when,
                         (unsigned long)(total - done));
        if (n > 0 && (size_t)n < sizeof line)
            emit(line, (size_t)n, WIRE_FILE_HARD);
    }
    errno = saved;
}

static void record_one(int fd, int dir, const void *buf, size_t avail, size_t total, int discarded)
{
    struct iovec v;
    v.iov_base = (void *)buf;
    v.iov_len = avail;
    record(fd, dir, &v, 1, avail, total, discarded);
}

static size_t iov_size(const struct iovec *iov, size_t n)
{
    size_t sum = 0;
    for (size_t i = 0; iov != NULL && i < n; i++)
        sum += iov[i].iov_len;
    return sum;
}

/* Note that the program (CLIENT) or its peer ended FD's connection; UNTRACK: FD is being closed, which ends
 * it only when no other descriptor of this process holds the socket (dup). */
static void end(int fd, int client, int untrack)
{
    struct conn c;
    char line[128], when[32];
    int emit_it = 0, shared = 0, saved = errno;
    if (!lookup(fd, &c) || !lock_table()) {
        errno = saved;
        return;
    }
    if (conns[fd].live && conns[fd].dev == c.dev && conns[fd].ino == c.ino) {
        if (untrack) {
            __atomic_store_n(&conns[fd].live, 0, __ATOMIC_RELEASE);
            for (int i = 0; i < WIRE_FDS && !shared; i++)
                shared = conns[i].live && conns[i].dev == c.dev && conns[i].ino == c.ino;
        }
        if (!shared && !(client ? c.client_closed : c.server_closed) && (client || !c.udp)) {
            emit_it = 1;
            for (int i = 0; i < WIRE_FDS; i++) {
                if (conns[i].dev == c.dev && conns[i].ino == c.ino) {
                    if (client)
                        conns[i].client_closed = 1;
                    else
                        conns[i].server_closed = 1;
                }
            }
        }
    }
    unlock_table();
    if (emit_it) {
        int n;
        now(when, sizeof when);
        n = snprintf(line, sizeof line, "E %s %s %s closed\n", c.id, when, client ? "client" : "server");
        if (n > 0 && (size_t)n < sizeof line)
            emit(line, (size_t)n, WIRE_FILE_HARD);
    }
    errno = saved;
}

/* ADDR as "IP:PORT" (an IPv4-mapped address as plain IPv4); 0 when it is no INET address. */
static int addr_text(const struct sockaddr *addr, socklen_t len, char *out, size_t size)
{
    char ip[INET6_ADDRSTRLEN];
    unsigned port;
    int n;
    if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        if (inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip) == NULL)
            return 0;
        port = ntohs(in->sin_port);
    } else if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        const void *ip6 = &in6->sin6_addr;
        int family = AF_INET6;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            ip6 = &in6->sin6_addr.s6_addr[12];
            family = AF_INET;
        }
        if (inet_ntop(family, ip6, ip, sizeof ip) == NULL)
            return 0;
        port = ntohs(in6->sin6_port);
    } else {
        return 0;
    }
    n = snprintf(out, size, "%s:%u", ip, port);
    return n > 0 && (size_t)n < size;
}

static int real_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    static int (*real)(int, const struct sockaddr *, socklen_t);
    return NEXT(real, "connect")(fd, addr, len);
}

/* An unconnected UDP socket is bound to the wildcard address; its datagrams to PEER leave from the address the
 * route to PEER gives, which a scratch socket connected there shows. LOCAL keeps its port. */
static void route_source(const struct sockaddr *peer, socklen_t len, struct sockaddr_storage *local)
{
    struct sockaddr_storage seen;
    socklen_t seen_len = sizeof seen;
    int probe, any;
    if (local->ss_family == AF_INET)
        any = ((struct sockaddr_in *)local)->sin_addr.s_addr == htonl(INADDR_ANY);
    else if (local->ss_family == AF_INET6)
        any = IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)local)->sin6_addr);
    else
        return;
    if (!any || peer->sa_family != local->ss_family || (probe = socket(peer->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
        return;
    if (real_connect(probe, peer, len) == 0 && getsockname(probe, (struct sockaddr *)&seen, &seen_len) == 0 &&
        seen.ss_family == local->ss_family) {
        if (local->ss_family == AF_INET)
            ((struct sockaddr_in *)local)->sin_addr = ((struct sockaddr_in *)&seen)->sin_addr;
        else
            ((struct sockaddr_in6 *)local)->sin6_addr = ((struct sockaddr_in6 *)&seen)->sin6_addr;
    }
    real_close(probe);
}

/* Start following FD, a socket the program connected to PEER (or, UDP, sent a datagram to). */
static void follow(int fd, const struct sockaddr *peer, socklen_t len)
{
    struct conn c;
    struct stat st;
    struct sockaddr_storage local;
    socklen_t local_len = sizeof local, type_len;
    char peer_text[80], local_text[80], line[256], when[32];
    int type = 0, n, saved = errno;
    type_len = sizeof type;
    if (!__atomic_load_n(&wire_on, __ATOMIC_ACQUIRE) || fd < 0 || fd >= WIRE_FDS || peer == NULL ||
        !addr_text(peer, len, peer_text, sizeof peer_text) ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 || (type != SOCK_STREAM && type != SOCK_DGRAM) ||
        fstat(fd, &st) != 0) {
        errno = saved;
        return;
    }
    memset(&local, 0, sizeof local);
    if (getsockname(fd, (struct sockaddr *)&local, &local_len) == 0 && type == SOCK_DGRAM)
        route_source(peer, len, &local);
    if (!addr_text((const struct sockaddr *)&local, local_len, local_text, sizeof local_text))
        strcpy(local_text, "?");
    memset(&c, 0, sizeof c);
    c.udp = type == SOCK_DGRAM;
    c.dev = st.st_dev;
    c.ino = st.st_ino;
    snprintf(c.id, sizeof c.id, "%ld.%lx.%u", (long)getpid(), wire_nonce,
             __atomic_add_fetch(&wire_serial, 1, __ATOMIC_RELAXED));
    now(when, sizeof when);
    n = snprintf(line, sizeof line, "C %s %s %s %s %s\n", c.id, c.udp ? "udp" : "tcp", local_text, peer_text, when);
    if (n > 0 && (size_t)n < sizeof line)
        emit(line, (size_t)n, WIRE_FILE_HARD); /* before its bytes can be */
    if (lock_table()) {
        __atomic_store_n(&conns[fd].live, 0, __ATOMIC_RELEASE);
        conns[fd].udp = c.udp;
        conns[fd].client_closed = conns[fd].server_closed = 0;
        conns[fd].dev = c.dev;
        conns[fd].ino = c.ino;
        conns[fd].kept[SENT] = conns[fd].kept[RECEIVED] = 0;
        memcpy(conns[fd].id, c.id, sizeof c.id);
        __atomic_store_n(&conns[fd].live, 1, __ATOMIC_RELEASE);
        unlock_table();
    }
    errno = saved;
}

/* A UDP socket that sends a datagram to an INET address is followed from its first one on. */
static void follow_datagrams(int fd, const struct sockaddr *peer, socklen_t len)
{
    struct conn c;
    int type = 0, saved = errno;
    socklen_t type_len = sizeof type;
    if (peer != NULL && (peer->sa_family == AF_INET || peer->sa_family == AF_INET6) && fd >= 0 && fd < WIRE_FDS &&
        __atomic_load_n(&wire_on, __ATOMIC_ACQUIRE) && !(followed(fd) && lookup(fd, &c)) &&
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0 && type == SOCK_DGRAM)
        follow(fd, peer, len);
    errno = saved;
}

/* FD's entry goes to TO as well (dup). */
static void copy_conn(int fd, int to)
{
    struct conn c;
    int saved = errno;
    if (to >= 0 && to < WIRE_FDS && to != fd && lookup(fd, &c) && lock_table()) {
        __atomic_store_n(&conns[to].live, 0, __ATOMIC_RELEASE);
        conns[to] = c;
        __atomic_store_n(&conns[to].live, 1, __ATOMIC_RELEASE);
        unlock_table();
    }
    errno = saved;
}

/* ---- the calls ---- */

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct sockaddr_storage store;
    const struct sockaddr *to = redirect("connect", fd, addr, len, &store);
    int r = real_connect(fd, to, len);
    if ((r == 0 || errno == EINPROGRESS) && to != NULL && __atomic_load_n(&wire_on, __ATOMIC_ACQUIRE))
        follow(fd, to, len);
    return r;
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr, socklen_t len)
{
    static ssize_t (*real)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    struct sockaddr_storage store;
    const struct sockaddr *to = redirect("sendto", fd, addr, len, &store);
    ssize_t r = NEXT(real, "sendto")(fd, buf, n, flags, to, len);
    if (r >= 0 && to != NULL)
        follow_datagrams(fd, to, len);
    if (r > 0 && followed(fd))
        record_one(fd, SENT, buf, (size_t)r, (size_t)r, 0);
    return r;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    static ssize_t (*real)(int, const struct msghdr *, int);
    struct sockaddr_storage store;
    struct msghdr copy;
    ssize_t r;
    if (msg == NULL || msg->msg_name == NULL) {
        r = NEXT(real, "sendmsg")(fd, msg, flags);
    } else {
        copy = *msg;
        copy.msg_name = (void *)redirect("sendto", fd, (const struct sockaddr *)msg->msg_name, msg->msg_namelen, &store);
        r = NEXT(real, "sendmsg")(fd, &copy, flags);
        if (r >= 0)
            follow_datagrams(fd, (const struct sockaddr *)copy.msg_name, copy.msg_namelen);
    }
    if (r > 0 && followed(fd))
        record(fd, SENT, msg->msg_iov, msg->msg_iovlen, (size_t)r, (size_t)r, 0);
    return r;
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    static ssize_t (*real)(int, const void *, size_t, int);
    ssize_t r = NEXT(real, "send")(fd, buf, n, flags);
    if (r > 0 && followed(fd))
        record_one(fd, SENT, buf, (size_t)r, (size_t)r, 0);
    return r;
}

static ssize_t wire_write(int fd, const void *buf, size_t n)
{
    ssize_t r = real_write(fd, buf, n);
    if (r > 0 && followed(fd))
        record_one(fd, SENT, buf, (size_t)r, (size_t)r, 0);
    return r;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    return wire_write(fd, buf, n);
}

ssize_t writev(int fd, const struct iovec *iov, int count)
{
    static ssize_t (*real)(int, const struct iovec *, int);
    ssize_t r = NEXT(real, "writev")(fd, iov, count);
    if (r > 0 && followed(fd))
        record(fd, SENT, iov, (size_t)count, (size_t)r, (size_t)r, 0);
    return r;
}

/* After a read-like call that asked for N bytes and got R (FLAGS: recv's). */
static void received(int fd, const void *buf, size_t n, ssize_t r, int flags)
{
    if (flags & MSG_PEEK)
        return; /* read again later */
    if (r > 0)
        record_one(fd, RECEIVED, buf, (size_t)r < n ? (size_t)r : n, (size_t)r, flags & MSG_TRUNC);
    else if (r == 0 && n > 0)
        end(fd, 0, 0);
}

static ssize_t wire_read(int fd, void *buf, size_t n)
{
    static ssize_t (*real)(int, void *, size_t);
    ssize_t r = NEXT(real, "read")(fd, buf, n);
    if (followed(fd))
        received(fd, buf, n, r, 0);
    return r;
}

ssize_t read(int fd, void *buf, size_t n)
{
    return wire_read(fd, buf, n);
}

ssize_t readv(int fd, const struct iovec *iov, int count)
{
    static ssize_t (*real)(int, const struct iovec *, int);
    ssize_t r = NEXT(real, "readv")(fd, iov, count);
    if (followed(fd)) {
        size_t n = iov_size(iov, count > 0 ? (size_t)count : 0);
        if (r > 0)
            record(fd, RECEIVED, iov, (size_t)count, (size_t)r, (size_t)r, 0);
        else if (r == 0 && n > 0)
            end(fd, 0, 0);
    }
    return r;
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    static ssize_t (*real)(int, void *, size_t, int);
    ssize_t r = NEXT(real, "recv")(fd, buf, n, flags);
    if (followed(fd))
        received(fd, buf, n, r, flags);
    return r;
}

ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr, socklen_t *len)
{
    static ssize_t (*real)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t r = NEXT(real, "recvfrom")(fd, buf, n, flags, addr, len);
    if (followed(fd))
        received(fd, buf, n, r, flags);
    return r;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    static ssize_t (*real)(int, struct msghdr *, int);
    ssize_t r = NEXT(real, "recvmsg")(fd, msg, flags);
    if (followed(fd) && msg != NULL && !(flags & MSG_PEEK)) {
        size_t n = iov_size(msg->msg_iov, msg->msg_iovlen);
        if (r > 0)
            record(fd, RECEIVED, msg->msg_iov, msg->msg_iovlen, (size_t)r < n ? (size_t)r : n, (size_t)r,
                   flags & MSG_TRUNC);
        else if (r == 0 && n > 0)
            end(fd, 0, 0);
    }
    return r;
}

/* What programs compiled with _FORTIFY_SOURCE call instead of read(), recv() and recvfrom(). */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t size);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t size, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t size, int flags, struct sockaddr *addr, socklen_t *len);

ssize_t __read_chk(int fd, void *buf, size_t n, size_t size)
{
    static ssize_t (*real)(int, void *, size_t, size_t);
    if (n > size)
        return NEXT(real, "__read_chk")(fd, buf, n, size); /* which stops the program, as it would have */
    return wire_read(fd, buf, n);
}

ssize_t __recv_chk(int fd, void *buf, size_t n, size_t size, int flags)
{
    static ssize_t (*real)(int, void *, size_t, size_t, int);
    if (n > size)
        return NEXT(real, "__recv_chk")(fd, buf, n, size, flags);
    return recv(fd, buf, n, flags);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t size, int flags, struct sockaddr *addr, socklen_t *len)
{
    static ssize_t (*real)(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *);
    if (n > size)
        return NEXT(real, "__recvfrom_chk")(fd, buf, n, size, flags, addr, len);
    return recvfrom(fd, buf, n, flags, addr, len);
}

static int wire_close(int fd)
{
    if (guards(&wire_file, fd) || guards(&log_file, fd)) {
        errno = EBADF;
        return -1;
    }
    if (followed(fd))
        end(fd, 1, 1);
    return real_close(fd);
}

int close(int fd)
{
    return wire_close(fd);
}

int shutdown(int fd, int how)
{
    static int (*real)(int, int);
    int r = NEXT(real, "shutdown")(fd, how);
    if (r == 0 && (how == SHUT_WR || how == SHUT_RDWR) && followed(fd))
        end(fd, 1, 0);
    return r;
}

int dup(int fd)
{
    static int (*real)(int);
    int r = NEXT(real, "dup")(fd);
    if (r >= 0 && followed(fd))
        copy_conn(fd, r);
    return r;
}

int dup2(int fd, int to)
{
    static int (*real)(int, int);
    int r = NEXT(real, "dup2")(fd, to);
    if (r >= 0 && followed(fd))
        copy_conn(fd, r);
    return r;
}

int dup3(int fd, int to, int flags)
{
    static int (*real)(int, int, int);
    int r = NEXT(real, "dup3")(fd, to, flags);
    if (r >= 0 && followed(fd))
        copy_conn(fd, r);
    return r;
}

/* ---- stdio on a followed socket: the C library writes and reads through calls of its own that the
 * library cannot see, so dprintf() formats here and fdopen() returns a stream whose reads and writes
 * are the recorded ones ---- */

/* Write all N bytes as the C library's streams do: stop at the first error; return how many went. */
static size_t write_all(int fd, const char *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = wire_write(fd, buf + done, n - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    return done;
}

static int print_to(int fd, const char *format, va_list ap)
{
    char small[1024], *text = small;
    va_list copy;
    int n, saved;
    va_copy(copy, ap);
    n = vsnprintf(small, sizeof small, format, copy);
    va_end(copy);
    if (n < 0)
        return -1;
    if ((size_t)n >= sizeof small && vasprintf(&text, format, ap) < 0)
        return -1;
    if (write_all(fd, text, (size_t)n) < (size_t)n)
        n = -1;
    saved = errno;
    if (text != small)
        free(text);
    errno = saved;
    return n;
}

int vdprintf(int fd, const char *format, va_list ap)
{
    static int (*real)(int, const char *, va_list);
    if (!followed(fd))
        return NEXT(real, "vdprintf")(fd, format, ap);
    return print_to(fd, format, ap);
}

int dprintf(int fd, const char *format, ...)
{
    va_list ap;
    int n;
    va_start(ap, format);
    n = vdprintf(fd, format, ap);
    va_end(ap);
    return n;
}

int __vdprintf_chk(int fd, int flag, const char *format, va_list ap);
int __dprintf_chk(int fd, int flag, const char *format, ...);

int __vdprintf_chk(int fd, int flag, const char *format, va_list ap)
{
    static int (*real)(int, int, const char *, va_list);
    if (!followed(fd))
        return NEXT(real, "__vdprintf_chk")(fd, flag, format, ap);
    return print_to(fd, format, ap);
}

int __dprintf_chk(int fd, int flag, const char *format, ...)
{
    va_list ap;
    int n;
    va_start(ap, format);
    n = __vdprintf_chk(fd, flag, format, ap);
    va_end(ap);
    return n;
}

#define STREAMS 64

/* The streams fdopen() made on followed sockets, so that fileno() still names their descriptor. */
static struct stream {
    FILE *fp;
    int *cookie; /* the descriptor; NULL: a free slot */
} streams[STREAMS];
static int n_streams;

static ssize_t stream_read(void *cookie, char *buf, size_t n)
{
    return wire_read(*(int *)cookie, buf, n);
}

static ssize_t stream_write(void *cookie, const char *buf, size_t n)
{
    return (ssize_t)write_all(*(int *)cookie, buf, n);
}

static int stream_seek(void *cookie, off64_t *offset, int whence)
{
    (void)cookie;
    (void)offset;
    (void)whence;
    errno = ESPIPE; /* as lseek() on a socket says, which the C library's streams then ignore */
    return -1;
}

static int stream_close(void *cookie)
{
    int fd = *(int *)cookie, locked = lock_table();
    for (int i = 0; locked && i < STREAMS; i++) {
        if (streams[i].cookie == cookie) {
            streams[i].cookie = NULL;
            streams[i].fp = NULL;
            __atomic_sub_fetch(&n_streams, 1, __ATOMIC_RELEASE);
        }
    }
    if (locked)
        unlock_table();
    free(cookie);
    return wire_close(fd);
}

FILE *fdopen(int fd, const char *mode)
{
    static FILE *(*real)(int, const char *);
    cookie_io_functions_t io = {stream_read, stream_write, stream_seek, stream_close};
    struct conn c;
    int *cookie, slot = -1, saved = errno;
    FILE *fp;
    if (!followed(fd) || mode == NULL || (mode[0] != 'r' && mode[0] != 'w' && mode[0] != 'a') || !lookup(fd, &c) ||
        (cookie = malloc(sizeof *cookie)) == NULL) {
        errno = saved;
        return NEXT(real, "fdopen")(fd, mode);
    }
    *cookie = fd;
    if (lock_table()) {
        for (int i = 0; i < STREAMS && slot < 0; i++) {
            if (streams[i].cookie == NULL) {
                slot = i;
                streams[i].cookie = cookie;
                streams[i].fp = NULL;
                __atomic_add_fetch(&n_streams, 1, __ATOMIC_RELEASE);
            }
        }
        unlock_table();
    }
    if (slot < 0) { /* no room to remember it: a stream the record does not see */
        free(cookie);
        errno = saved;
        return NEXT(real, "fdopen")(fd, mode);
    }
    errno = saved;
    fp = fopencookie(cookie, mode, io);
    saved = errno;
    if (lock_table()) {
        if (fp != NULL)
            streams[slot].fp = fp;
        else {
            streams[slot].cookie = NULL;
            __atomic_sub_fetch(&n_streams, 1, __ATOMIC_RELEASE);
        }
        unlock_table();
    }
    if (fp == NULL)
        free(cookie);
    errno = saved;
    return fp;
}

/* The descriptor of a stream fdopen() made here, or -1. */
static int stream_fd(FILE *fp)
{
    int fd = -1;
    if (fp == NULL || __atomic_load_n(&n_streams, __ATOMIC_ACQUIRE) == 0 || !lock_table())
        return -1;
    for (int i = 0; i < STREAMS && fd < 0; i++)
        if (streams[i].cookie != NULL && streams[i].fp == fp)
            fd = *streams[i].cookie;
    unlock_table();
    return fd;
}

int fileno(FILE *fp)
{
    static int (*real)(FILE *);
    int fd = stream_fd(fp);
    return fd >= 0 ? fd : NEXT(real, "fileno")(fp);
}

int fileno_unlocked(FILE *fp)
{
    static int (*real)(FILE *);
    int fd = stream_fd(fp);
    return fd >= 0 ? fd : NEXT(real, "fileno_unlocked")(fp);
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

/* ---- programs the library cannot follow: a client started through a script or a wrapper (`sh run.sh`,
 * `python3 wrapper.py`) that exec()s a statically linked program loses the library at that exec, and with it
 * the record of that program's bytes. Every exec and posix_spawn notes such a program in the record ("U")
 * before the C library starts it, so the run can say its record is incomplete rather than "no connection".
 * system() and popen() start /bin/sh, which takes the library and notes the programs it exec()s itself. ---- */

#define PHDRS_READ 4096                /* program headers read: a real program has a dozen or so */
#define NAME_KEPT 1024                 /* bytes of a program's path the record keeps */
#define DEFAULT_PATH "/bin:/usr/bin"   /* where the C library's execvp() looks when PATH is unset */
#define PT_INTERP_TYPE 3

typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
                        char *const[], char *const[]);

static int (*next_execve)(const char *, char *const[], char *const[]);
static int (*next_execv)(const char *, char *const[]);
static int (*next_execvp)(const char *, char *const[]);
static int (*next_execvpe)(const char *, char *const[], char *const[]);
static spawn_fn next_posix_spawn, next_posix_spawnp;

/* At load, not at the first exec: the child of a threaded program's fork must not take the dynamic linker's
 * lock (dlsym), which another thread may have held at the fork. */
static void resolve_exec(void)
{
    next_close = (__typeof__(next_close))dlsym(RTLD_NEXT, "close");
    next_write = (__typeof__(next_write))dlsym(RTLD_NEXT, "write");
    next_execve = (__typeof__(next_execve))dlsym(RTLD_NEXT, "execve");
    next_execv = (__typeof__(next_execv))dlsym(RTLD_NEXT, "execv");
    next_execvp = (__typeof__(next_execvp))dlsym(RTLD_NEXT, "execvp");
    next_execvpe = (__typeof__(next_execvpe))dlsym(RTLD_NEXT, "execvpe");
    next_posix_spawn = (spawn_fn)dlsym(RTLD_NEXT, "posix_spawn");
    next_posix_spawnp = (spawn_fn)dlsym(RTLD_NEXT, "posix_spawnp");
}

static unsigned long long elf_field(const unsigned char *p, size_t size, int little)
{
    unsigned long long value = 0;
    for (size_t i = 0; i < size; i++)
        value |= (unsigned long long)p[little ? i : size - 1 - i] << (8 * i);
    return value;
}

/* Whether the ELF program open on FD (its first N bytes in HEAD) has no program interpreter: the kernel then
 * starts it by itself and no LD_PRELOAD library is loaded into it. Anything unusual: no. */
static int elf_without_interpreter(int fd, const unsigned char *head, size_t n)
{
    unsigned char table[PHDRS_READ];
    unsigned long long type, phoff, entsize, count;
    int wide, little;
    if (n < 52 || memcmp(head, "\177ELF", 4) != 0 || (head[4] != 1 && head[4] != 2) || (head[5] != 1 && head[5] != 2))
        return 0;
    wide = head[4] == 2;
    little = head[5] == 1;
    if (wide && n < 64)
        return 0;
    type = elf_field(head + 16, 2, little);
    phoff = elf_field(head + (wide ? 32 : 28), wide ? 8 : 4, little);
    entsize = elf_field(head + (wide ? 54 : 42), 2, little);
    count = elf_field(head + (wide ? 56 : 44), 2, little);
    if ((type != 2 && type != 3) || entsize < (wide ? 56U : 32U) || count == 0 || count * entsize > sizeof table ||
        pread(fd, table, (size_t)(count * entsize), (off_t)phoff) != (ssize_t)(count * entsize))
        return 0;
    for (unsigned long long i = 0; i < count; i++)
        if (elf_field(table + i * entsize, 4, little) == PT_INTERP_TYPE)
            return 0;
    return 1;
}

/* Whether the program at PATH cannot take the library: a statically linked ELF, or a script whose interpreter
 * is one (DEPTH: scripts followed so far). NAME (SIZE bytes) gets the path of the program that cannot. */
static int unpreloadable(const char *path, int depth, char *name, size_t size)
{
    unsigned char head[256]; /* the kernel reads a script's #! line from as many */
    struct stat st;
    ssize_t n;
    int fd, found = 0;
    if (path == NULL || *path == '\0')
        return 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK); /* a FIFO must not hold the exec up */
    if (fd < 0)
        return 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111) || (n = pread(fd, head, sizeof head, 0)) <= 0) {
        real_close(fd);
        return 0;
    }
    if (n > 2 && head[0] == '#' && head[1] == '!') {
        char interp[sizeof head];
        size_t i = 2, k = 0;
        real_close(fd);
        while (i < (size_t)n && (head[i] == ' ' || head[i] == '\t'))
            i++;
        while (i < (size_t)n && head[i] != ' ' && head[i] != '\t' && head[i] != '\n' && head[i] != '\0')
            interp[k++] = (char)head[i++];
        interp[k] = '\0';
        /* a #! line cut off at the buffer's end is not followed (the file's own end is no cut) */
        return depth == 0 && k > 0 && (i < (size_t)n || (size_t)n < sizeof head) &&
               unpreloadable(interp, depth + 1, name, size);
    }
    found = elf_without_interpreter(fd, head, (size_t)n);
    real_close(fd);
    if (found) {
        strncpy(name, path, size - 1);
        name[size - 1] = '\0';
    }
    return found;
}

/* Note in the record that the program at PATH is about to start without the library, when it is one. */
static void note_exec(const char *path)
{
    char name[NAME_KEPT + 1], line[2 * NAME_KEPT + 64], when[32];
    int saved = errno, n;
    if (__atomic_load_n(&wire_on, __ATOMIC_ACQUIRE) && unpreloadable(path, 0, name, sizeof name)) {
        now(when, sizeof when);
        n = snprintf(line, sizeof line, "U %s ", when);
        if (n > 0 && (size_t)n < 64) {
            size_t pos = (size_t)n;
            for (const unsigned char *c = (const unsigned char *)name; *c != '\0'; c++) {
                line[pos++] = HEX[*c >> 4];
                line[pos++] = HEX[*c & 15];
            }
            line[pos++] = '\n';
            emit(line, pos, WIRE_FILE_HARD);
        }
    }
    errno = saved;
}

/* Where the C library's execvp() finds FILE: FILE itself when it holds a '/', else the first executable regular
 * file of that name in PATH's folders (an empty entry: the current folder), in BUF; NULL when none. */
static const char *search_path(const char *file, char *buf, size_t size)
{
    const char *dirs;
    size_t len;
    struct stat st;
    if (file == NULL || *file == '\0')
        return NULL;
    if (strchr(file, '/') != NULL)
        return file;
    dirs = getenv("PATH");
    if (dirs == NULL)
        dirs = DEFAULT_PATH;
    len = strlen(file);
    for (const char *p = dirs;; p++) {
        const char *end = strchrnul(p, ':');
        size_t dir = (size_t)(end - p), k = dir;
        if (dir + 1 + len < size) {
            memcpy(buf, p, dir);
            if (dir > 0)
                buf[k++] = '/';
            memcpy(buf + k, file, len + 1);
            if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
                return buf;
        }
        if (*end == '\0')
            return NULL;
        p = end;
    }
}

static void note_exec_p(const char *file)
{
    char buf[4096];
    int saved = errno;
    if (__atomic_load_n(&wire_on, __ATOMIC_ACQUIRE))
        note_exec(search_path(file, buf, sizeof buf));
    errno = saved;
}

int execve(const char *path, char *const argv[], char *const envp[])
{
    note_exec(path);
    return NEXT(next_execve, "execve")(path, argv, envp);
}

int execv(const char *path, char *const argv[])
{
    note_exec(path);
    return NEXT(next_execv, "execv")(path, argv);
}

int execvp(const char *file, char *const argv[])
{
    note_exec_p(file);
    return NEXT(next_execvp, "execvp")(file, argv);
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
    note_exec_p(file);
    return NEXT(next_execvpe, "execvpe")(file, argv, envp);
}

/* execl's list (ARG, then AP's arguments up to the NULL): how many there are before the NULL. */
static size_t list_length(const char *arg, va_list *ap)
{
    size_t n = 0;
    for (const char *a = arg; a != NULL; a = va_arg(*ap, const char *))
        n++;
    return n;
}

/* The list's N arguments into ARGV (room for N + 1), then its NULL; AP is left after the NULL. */
static void list_fill(const char **argv, size_t n, const char *arg, va_list *ap)
{
    argv[0] = arg;
    for (size_t i = 1; i < n; i++)
        argv[i] = va_arg(*ap, const char *);
    if (n > 0)
        (void)va_arg(*ap, const char *);
    argv[n] = NULL;
}

int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    size_t n;
    va_start(ap, arg);
    n = list_length(arg, &ap);
    va_end(ap);
    const char *argv[n + 1];
    va_start(ap, arg);
    list_fill(argv, n, arg, &ap);
    va_end(ap);
    return execv(path, (char *const *)argv);
}

int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    size_t n;
    va_start(ap, arg);
    n = list_length(arg, &ap);
    va_end(ap);
    const char *argv[n + 1];
    va_start(ap, arg);
    list_fill(argv, n, arg, &ap);
    va_end(ap);
    return execvp(file, (char *const *)argv);
}

int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    size_t n;
    char *const *envp;
    va_start(ap, arg);
    n = list_length(arg, &ap);
    va_end(ap);
    const char *argv[n + 1];
    va_start(ap, arg);
    list_fill(argv, n, arg, &ap);
    envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, (char *const *)argv, envp);
}

/* Python's subprocess and os.posix_spawn start programs this way; the C library's own exec inside is not seen. */
int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions, const posix_spawnattr_t *attr,
                char *const argv[], char *const envp[])
{
    note_exec(path);
    return NEXT(next_posix_spawn, "posix_spawn")(pid, path, actions, attr, argv, envp);
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    note_exec_p(file);
    return NEXT(next_posix_spawnp, "posix_spawnp")(pid, file, actions, attr, argv, envp);
}
