/* wrapagent.c - the agent behind stp-connect --wrap (wrapagent.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/stream.h"
#include "client/wrapagent.h"
#include "client/wrapdirect.h"
#include "client/wraphandoff.h"
#include "client/wrapudp.h"
#include "core/evloop.h"
#include "core/sock.h"
#include "proto/noproxy.h"
#include "proto/addr.h"
#include "proto/placeholder.h"
#include "proto/wrapdirect.h"
#include "proto/socks.h"

#define REQ_TIMEOUT_MS 10000   /* for the library's request: it sends it at once */
#define STACK_SIZE (1024 * 1024)  /* a TLS hop's handshake is the deepest */
#define ACCEPT_BATCH 64

/* The names behind placeholder numbers, shared by the agent's children
 * (MAP_SHARED|MAP_ANONYMOUS before they fork): a number is taken with an
 * atomic add and published by ready; two processes asking for one new name
 * at the same time may get two numbers, which both work. */
struct wrap_map {
	uint32_t next;
	struct {
		uint32_t ready;
		char name[256];
	} e[STP_PH_MAX + 1];
};

struct agent {
	const struct stp_clientopts *co;
	bool per_target;
	struct wrap_map *map;
	const char *token;
};

/* The number of name (adding it if new), or 0 when the table is full. */
static uint32_t map_number(struct wrap_map *m, const char *name)
{
	uint32_t n = __atomic_load_n(&m->next, __ATOMIC_ACQUIRE);

	for (uint32_t i = 1; i <= n && i <= STP_PH_MAX; i++)
		if (__atomic_load_n(&m->e[i].ready, __ATOMIC_ACQUIRE) &&
		    strcasecmp(m->e[i].name, name) == 0)
			return i;
	n = __atomic_add_fetch(&m->next, 1, __ATOMIC_ACQ_REL);
	if (n > STP_PH_MAX)
		return 0;
	snprintf(m->e[n].name, sizeof(m->e[n].name), "%s", name);
	__atomic_store_n(&m->e[n].ready, 1, __ATOMIC_RELEASE);
	return n;
}

/* The name of number n, or NULL. */
static const char *map_name(const struct wrap_map *m, uint32_t n)
{
	if (n < 1 || n > STP_PH_MAX || !__atomic_load_n(&m->e[n].ready, __ATOMIC_ACQUIRE))
		return NULL;
	return m->e[n].name;
}

/* Sends a reply: REP with an IPv4 address (NULL: 0.0.0.0) or a name. */
static int reply(int fd, uint8_t rep, const struct in_addr *a4, const char *name)
{
	uint8_t b[8 + 256] = { 5, rep, 0, 1 };
	size_t n;

	if (name) {
		size_t l = strlen(name);
		b[3] = 3;
		b[4] = (uint8_t)l;
		memcpy(b + 5, name, l);
		n = 5 + l + 2;
	} else {
		if (a4)
			memcpy(b + 4, a4, 4);
		n = 10;
	}
	b[n - 2] = b[n - 1] = 0;
	return stp_write_all(fd, b, n, stp_clock_ms() + REQ_TIMEOUT_MS);
}

/* The reply code that stands for a failure with exit code (SPEC 2.3), so
 * that the library can give the errno a direct connection would: a
 * refusal passes its own code; a proxy that cannot be reached or a
 * direct target that refuses reads as refused, a timeout as TTL expired. */
static uint8_t rep_for(int code)
{
	if (code > STP_EXIT_REPLY && code <= STP_EXIT_REPLY + 8)
		return (uint8_t)(code - STP_EXIT_REPLY);
	if (code == STP_EXIT_REACH)
		return 5;
	return 1;
}

/* Opens host:port as the chain, the route or NO_PROXY say; on the
 * program's socket given when >= 0 (client.h stp_client_open_on: -3 when
 * it cannot serve). */
static int open_target(const struct agent *ag, int given, const char *host, uint16_t port,
		       struct stp_conn *conn, struct stp_err *e)
{
	struct stp_clientopts *co = malloc(sizeof(*co));
	int r;

	if (!co)
		return stp_err_set(e, STP_EXIT_FAIL, "out of memory");
	*co = *ag->co;
	if (ag->per_target) {
		r = stp_clientopts_finish(co, host, e);
	} else {
		const char *np = getenv("NO_PROXY") ? getenv("NO_PROXY") : getenv("no_proxy");
		r = np && stp_noproxy_match(np, host) ? 1 : 0;
	}
	if (r == 1)
		r = given >= 0 ? stp_client_direct_on(&co->client, given, host, port, conn, e) :
				 stp_client_direct(&co->client, host, port, conn, e);
	else if (r == 0)
		r = given >= 0 ? stp_client_open_on(&co->client, given, host, port, conn, e) :
				 stp_client_open(&co->client, STP_CMD_CONNECT, host, port, conn, e);
	stp_clientopts_wipe(co);
	free(co);
	return r;
}

/* Reads a request: 1 with its command, address type, host (text),
 * port and the placeholder number the address is (0: none); 0 when it
 * cannot be read; -1 for an unknown address type. */
static int read_request(int fd, uint64_t deadline, uint8_t *cmd, uint8_t *atyp, char *host,
			uint16_t *port, uint32_t *ph)
{
	uint8_t b[32];

	*ph = 0;
	if (stp_read_exact(fd, b, 4, deadline) < 0 || b[0] != 5)
		return 0;
	*cmd = b[1];
	*atyp = b[3];
	if (*atyp == 1 || *atyp == 4) {
		int af = *atyp == 1 ? AF_INET : AF_INET6;
		if (stp_read_exact(fd, b, *atyp == 1 ? 6 : 18, deadline) < 0)
			return 0;
		*ph = stp_ph_number(af, b);
		inet_ntop(af, b, host, 256);
		memmove(b, b + (*atyp == 1 ? 4 : 16), 2);
	} else if (*atyp == 3) {
		if (stp_read_exact(fd, b, 1, deadline) < 0)
			return 0;
		size_t l = b[0];
		if (l == 0 || stp_read_exact(fd, (uint8_t *)host, l, deadline) < 0 ||
		    memchr(host, 0, l) || stp_read_exact(fd, b, 2, deadline) < 0)
			return 0;
		host[l] = 0;
	} else {
		return -1;
	}
	*port = (uint16_t)(b[0] << 8 | b[1]);
	return 1;
}

/* host becomes the name behind placeholder ph (when ph is one). Returns
 * 0, or -1 when no name stands behind it. */
static int unplace(const struct agent *ag, uint32_t ph, char *host, uint16_t port)
{
	if (!ph)
		return 0;
	const char *name = map_name(ag->map, ph);
	if (!name) {
		stp_log(&ag->co->log, STP_LOG_DEBUG, "wrap: %s:%u: no name stands behind "
			"this placeholder address", host, port);
		return -1;
	}
	snprintf(host, 256, "%s", name);
	return 0;
}

struct next_arg {
	const struct agent *ag;
};

/* stp_wrap_next: a further destination of a UDP socket. A placeholder
 * no name stands behind is refused, and one routed direct answered (the
 * library sends to it itself); both return 2, and the socket goes on. */
static int next_dest(void *arg, int ctl, char *host, size_t cap, uint16_t *port, int *af)
{
	const struct next_arg *na = arg;
	uint8_t cmd, atyp;
	uint32_t ph;

	if (cap < 256)   /* read_request and unplace fill up to 256 bytes */
		return -1;
	int r = read_request(ctl, stp_clock_ms() + REQ_TIMEOUT_MS, &cmd, &atyp, host, port, &ph);
	if (r <= 0 || cmd != STP_CMD_UDP)
		return r == 0 ? 0 : -1;
	*af = atyp == 4 ? AF_INET6 : AF_INET;
	if (unplace(na->ag, ph, host, *port) < 0)
		return reply(ctl, 4, NULL, NULL) < 0 ? -1 : 2;
	struct stp_err e = { 0, "" };
	int d = stp_wrap_udp_route(na->ag->co, na->ag->per_target, host, &e);
	if (d == 0)
		return 1;
	if (d < 0) {
		stp_log(&na->ag->co->log, STP_LOG_DEBUG, "wrap: %s", e.msg);
		return reply(ctl, rep_for(e.code), NULL, NULL) < 0 ? -1 : 2;
	}
	return stp_wrap_udp_direct(ctl, host, *port, *af, &na->ag->co->log) < 0 ? -1 : 2;
}

/* Waits until the library sends on ctl (no deadline: a socket may talk
 * to direct destinations only, for as long as it lives). Returns 0, or -1
 * when ctl fails. */
static int await_request(int ctl)
{
	struct pollfd p = { .fd = ctl, .events = POLLIN };

	for (;;) {
		int r = poll(&p, 1, -1);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* A UDP socket of the program: its association, through the chain for
 * its first proxied destination. Destinations routed direct before it
 * only get their answer (the library sends to them itself), and no
 * association is opened until one is proxied. */
static int serve_udp(const struct agent *ag, int fd, char *host, uint16_t port, int af)
{
	struct stp_clientopts *co;
	struct stp_err e = { 0, "" };
	struct next_arg na = { ag };
	int r;

	r = stp_wrap_udp_route(ag->co, ag->per_target, host, &e);
	if (r < 0) {
		stp_log(&ag->co->log, STP_LOG_DEBUG, "wrap: %s", e.msg);
		reply(fd, rep_for(e.code), NULL, NULL);
		return e.code ? e.code : 1;
	}
	if (r == 1) {
		if (stp_wrap_udp_direct(fd, host, port, af, &ag->co->log) < 0)
			return 1;
		/* no association until the first proxied destination */
		do {
			if (await_request(fd) < 0)
				return 0;
			r = next_dest(&na, fd, host, 256, &port, &af);
			if (r <= 0)
				return 0;
		} while (r != 1);
	}
	co = malloc(sizeof(*co));
	if (!co) {
		reply(fd, 1, NULL, NULL);
		return 1;
	}
	*co = *ag->co;
	r = ag->per_target ? stp_clientopts_finish(co, host, &e) : 0;
	if (r < 0) {
		stp_log(&co->log, STP_LOG_DEBUG, "wrap: %s", e.msg);
		reply(fd, rep_for(e.code), NULL, NULL);
		r = e.code ? e.code : 1;
	} else {
		r = stp_wrap_udp_serve(fd, &co->client, host, port, af, next_dest, &na, rep_for,
				       &ag->co->log);
	}
	stp_clientopts_wipe(co);
	free(co);
	return r;
}

/* -v: one line per connection made, as the program sees it. */
static void log_connected(const struct stp_log *lg, const char *host, uint16_t port)
{
	stp_log(lg, STP_LOG_DEBUG, "wrap: connected %s%s%s:%u", strchr(host, ':') ? "[" : "",
		host, strchr(host, ':') ? "]" : "", port);
}

/* Serves one connection of the library. *fdp is the caller's to close
 * unless it is -1 on return (handed to the relay). Returns an exit-style
 * status, for nobody but a debugger. */
static int serve(const struct agent *ag, int *fdp)
{
	int fd = *fdp;
	const struct stp_log *lg = &ag->co->log;
	uint64_t deadline = stp_clock_ms() + REQ_TIMEOUT_MS;
	uint8_t b[512];
	char host[256];
	struct stp_err e = { 0, "" };

	/* greeting: user/password (2) must be offered */
	if (stp_read_exact(fd, b, 2, deadline) < 0 || b[0] != 5 || b[1] == 0 ||
	    stp_read_exact(fd, b + 2, b[1], deadline) < 0 || !memchr(b + 2, 2, b[1]))
		return 1;
	/* RFC 1929: the password is the token. The method's answer goes out
	 * with the login's (one segment: the library sent both at once), and
	 * no Nagle delay: a small reply held for the library's delayed ACK
	 * costs 40 ms per connection */
	stp_set_nodelay(fd);
	if (stp_read_exact(fd, b, 2, deadline) < 0 || b[0] != 1 ||
	    stp_read_exact(fd, b + 2, (size_t)b[1] + 1, deadline) < 0)
		return 1;
	size_t plen = b[2 + b[1]];
	if (stp_read_exact(fd, b, plen, deadline) < 0 || plen != strlen(ag->token) ||
	    CRYPTO_memcmp(b, ag->token, plen) != 0) {
		stp_write_all(fd, "\x05\x02\x01\x01", 4, deadline);
		return 1;
	}
	if (stp_write_all(fd, "\x05\x02\x01\x00", 4, deadline) < 0)
		return 1;
	/* the request */
	uint8_t cmd, atyp;
	uint32_t ph;
	uint16_t port;
	int r = read_request(fd, deadline, &cmd, &atyp, host, &port, &ph);
	if (r <= 0) {
		if (r < 0)
			reply(fd, 8, NULL, NULL);
		return 1;
	}

	if (cmd == STP_CMD_RESOLVE) {
		struct in_addr a;
		uint32_t n = atyp == 3 ? map_number(ag->map, host) : ph;
		if (n == 0) {
			stp_log(lg, STP_LOG_WARN, "wrap: resolve %s: no placeholder address left", host);
			reply(fd, 1, NULL, NULL);
			return 1;
		}
		stp_ph_make(AF_INET, n, &a);
		return reply(fd, 0, &a, NULL) < 0 ? 1 : 0;
	}
	if (cmd == STP_CMD_RESOLVE_PTR) {
		const char *name = map_name(ag->map, ph);
		return reply(fd, name ? 0 : 4, NULL, name) < 0 || !name ? 1 : 0;
	}
	if (cmd != STP_CMD_CONNECT && cmd != STP_CMD_UDP) {
		reply(fd, 7, NULL, NULL);
		return 1;
	}
	if (unplace(ag, ph, host, port) < 0) {
		reply(fd, 4, NULL, NULL);
		return 1;
	}
	if (cmd == STP_CMD_UDP)
		return serve_udp(ag, fd, host, port, atyp == 4 ? AF_INET6 : AF_INET);

	struct stp_conn conn;
	if (open_target(ag, -1, host, port, &conn, &e) < 0) {
		/* -v: one line per failed connect, as the program sees it */
		stp_log(lg, STP_LOG_DEBUG, "wrap: %s", e.msg);
		reply(fd, rep_for(e.code), NULL, NULL);
		return e.code ? e.code : 1;
	}
	log_connected(lg, host, port);
	if (reply(fd, 0, NULL, NULL) < 0) {
		stp_conn_close(&conn);
		return 1;
	}
	/* stp_stream_run closes fd (given twice, as -L does) */
	*fdp = -1;
	if (stp_stream_run(fd, fd, &conn, &e) < 0) {
		stp_log(lg, STP_LOG_DEBUG, "wrap: %s", e.msg);
		return e.code;
	}
	return 0;
}

/* Serves one connection at the Unix door (wraphandoff.h): the program's
 * socket is connected and through the handshake here, and goes back to
 * the program by the answer alone (it never left: this is a duplicate).
 * Returns an exit-style status, as serve does. */
static int serve_door(const struct agent *ag, int cfd)
{
	const struct stp_log *lg = &ag->co->log;
	struct stp_err e = { 0, "" };
	struct stp_conn conn;
	struct stp5_msg m;
	char host[256];
	uint32_t ph = 0;
	int sock, r;

	if (stp_wrap_door_read(cfd, ag->token, stp_clock_ms() + REQ_TIMEOUT_MS, &sock, &m) <= 0)
		return 1;
	uint16_t port = m.addr.port;
	if (m.addr.atyp == STP_ATYP_IPV4 || m.addr.atyp == STP_ATYP_IPV6) {
		struct in6_addr a;   /* aligned, as an address is read */
		memcpy(&a, m.addr.u.v6, sizeof(a));
		ph = stp_ph_number(m.addr.atyp == STP_ATYP_IPV4 ? AF_INET : AF_INET6, &a);
	}
	stp_addr_host(&m.addr, host, sizeof(host));
	if (m.code != STP_CMD_CONNECT || unplace(ag, ph, host, port) < 0) {
		stp_wrap_door_reply(cfd, m.code != STP_CMD_CONNECT ? 7 : 4);
		close(sock);
		return 1;
	}
	/* O_NONBLOCK belongs to the open file, the program's: given back as
	 * it was, whatever the connect and the handshake needed */
	int fl = fcntl(sock, F_GETFL);
	r = open_target(ag, sock, host, port, &conn, &e);
	if (fl >= 0)
		fcntl(sock, F_SETFL, fl);
	if (r == 0 && conn.nearly) {
		/* cannot be (the handshake reads no further than its reply) */
		stp_err_set(&e, STP_EXIT_PROTO, "%s:%u: bytes read past the reply", host, port);
		r = -1;
	}
	if (r == 0) {
		log_connected(lg, host, port);
		conn.fd = -1;   /* sock, closed below: the program holds its own */
		stp_conn_close(&conn);
	} else if (r != -3) {
		stp_log(lg, STP_LOG_DEBUG, "wrap: %s", e.msg);
	}
	int rc = stp_wrap_door_reply(cfd, r == 0 ? 0 : r == -3 ? STP_WRAP_REP_RELAY :
							  rep_for(e.code));
	close(sock);
	return r < 0 && r != -3 ? (e.code ? e.code : 1) : rc < 0;
}

/* Connections being served; the agent ends when the watched program has
 * and this is 0 (a daemon the program left behind keeps its streams). */
static unsigned active;

struct job {
	const struct agent *ag;
	int fd;
};

static void *serve_thread(void *arg)
{
	struct job *j = arg;

	serve(j->ag, &j->fd);
	if (j->fd >= 0)
		close(j->fd);
	free(j);
	__atomic_sub_fetch(&active, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* One thread per connection: a slow proxy holds up nobody else, and no
 * fork is on the connection's path (a fork per connection copied the
 * agent's page tables and took its copy-on-write faults: ~2 ms of the
 * program's every connect). */
static void spawn(const struct agent *ag, const pthread_attr_t *attr, int cfd)
{
	struct job *j = malloc(sizeof(*j));
	pthread_t t;
	int rc;

	if (!j) {
		close(cfd);
		return;
	}
	j->ag = ag;
	j->fd = cfd;
	__atomic_add_fetch(&active, 1, __ATOMIC_ACQ_REL);
	rc = pthread_create(&t, attr, serve_thread, j);
	if (rc != 0) {
		stp_log(&ag->co->log, STP_LOG_WARN, "wrap: thread: %s", strerror(rc));
		__atomic_sub_fetch(&active, 1, __ATOMIC_RELEASE);
		close(cfd);
		free(j);
	}
}

/* The Unix door's threads: each waits in accept(2) itself, so that a
 * connect of the program wakes the thread that serves it and nothing
 * else (no poll of a main thread, no thread made per connection: each
 * cost the program's connect a wakeup). The one that takes the last idle
 * place makes another; one that finds DOOR_IDLE others waiting ends. */
#define DOOR_IDLE 4

struct door {
	const struct agent *ag;
	const pthread_attr_t *attr;
	int fd;
	unsigned idle;   /* threads waiting in accept */
};

static void door_more(struct door *d);

static void *door_thread(void *arg)
{
	struct door *d = arg;

	for (;;) {
		int cfd = accept4(d->fd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (stp_accept_exhausted(errno)) {
				usleep(100000);
				continue;
			}
			break;   /* shut down: the program has ended */
		}
		__atomic_add_fetch(&active, 1, __ATOMIC_ACQ_REL);
		if (__atomic_sub_fetch(&d->idle, 1, __ATOMIC_ACQ_REL) == 0)
			door_more(d);
		serve_door(d->ag, cfd);
		close(cfd);
		__atomic_sub_fetch(&active, 1, __ATOMIC_RELEASE);
		if (__atomic_load_n(&d->idle, __ATOMIC_ACQUIRE) >= DOOR_IDLE)
			break;
		__atomic_add_fetch(&d->idle, 1, __ATOMIC_ACQ_REL);
	}
	return NULL;
}

/* One more thread waiting at the door. */
static void door_more(struct door *d)
{
	pthread_t t;

	__atomic_add_fetch(&d->idle, 1, __ATOMIC_ACQ_REL);
	int rc = pthread_create(&t, d->attr, door_thread, d);
	if (rc != 0) {
		/* the threads there serve on; a request waits for one */
		__atomic_sub_fetch(&d->idle, 1, __ATOMIC_RELEASE);
		stp_log(&d->ag->co->log, STP_LOG_WARN, "wrap: thread: %s", strerror(rc));
	}
}

/* The program is gone: no new connections (they are refused), and the
 * agent ends with its last stream. Never returns. */
static void drain(int lfd, int door)
{
	close(lfd);
	/* wakes the door's threads from accept (a close would not) */
	if (door >= 0)
		shutdown(door, SHUT_RDWR);
	while (__atomic_load_n(&active, __ATOMIC_ACQUIRE) > 0)
		usleep(100000);
	_exit(0);
}

/* Accepts every connection queued on lfd, each to a thread of its own. */
static void accept_all(const struct agent *ag, const pthread_attr_t *attr, int lfd)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0) {
			if (stp_accept_exhausted(errno))
				usleep(100000);
			return;
		}
		spawn(ag, attr, cfd);
	}
}

/* The agent's life: accept at both doors (door -1: the TCP one only)
 * until the watched process has ended; the Unix door has its own
 * threads (door_more). Never returns. */
static void agent_run(const struct agent *ag, int lfd, int door, int pidfd, pid_t watch)
{
	pthread_attr_t attr;
	struct rlimit rl;

	signal(SIGPIPE, SIG_IGN);
	/* two descriptors per connection, all in this one process */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (pthread_attr_init(&attr) != 0 ||
	    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) != 0 ||
	    pthread_attr_setstacksize(&attr, STACK_SIZE) != 0)
		_exit(1);
	static struct door d;
	d = (struct door){ .ag = ag, .attr = &attr, .fd = door };
	if (door >= 0)
		door_more(&d);
	for (;;) {
		struct pollfd p[2] = { { .fd = lfd, .events = POLLIN },
				       { .fd = pidfd, .events = POLLIN } };
		/* without a pidfd (kernel < 5.3): look every second */
		int r = poll(p, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 1000);
		if (r < 0 && errno != EINTR)
			_exit(1);
		if (pidfd >= 0 ? p[1].revents != 0 : kill(watch, 0) < 0 && errno == ESRCH)
			drain(lfd, door);
		if (r > 0 && (p[0].revents & POLLIN))
			accept_all(ag, &attr, lfd);
	}
}

/* stdin and stdout of the agent: /dev/null, so that a reader of the
 * wrapped program's output sees its end when the program ends. */
static void quiet_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	close(fd);
}

/* Fills a->proxy when the chain lets the library speak to the proxy
 * itself (wrapagent.h). */
static void library_way(const struct stp_clientopts *co, bool per_target,
			struct stp_wrap_agent *a)
{
	const struct stp_client *c = &co->client;
	const struct stp_proxy *p = &c->hops[0];
	struct in6_addr x;

	a->proxy[0] = 0;
	if (per_target || c->nhops != 1 || p->proto != STP_PROTO_SOCKS5 || p->tls ||
	    p->gssapi || p->has_user || c->keepalive_s > 0 || co->log.level >= STP_LOG_DEBUG ||
	    (inet_pton(AF_INET, p->host, &x) != 1 && inet_pton(AF_INET6, p->host, &x) != 1))
		return;
	/* a literal fits (INET6_ADDRSTRLEN); anything longer is no address */
	int n = snprintf(a->proxy, sizeof(a->proxy), "%c,%ld,%.46s,%u",
			 p->remote_dns ? 'h' : 'l', c->timeout_ms, p->host, p->port);
	if (n < 0 || (size_t)n >= sizeof(a->proxy))
		a->proxy[0] = 0;
}

int stp_wrap_agent_start(const struct stp_clientopts *co, bool per_target, pid_t watch,
			 struct stp_wrap_agent *a, struct stp_err *e)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	unsigned char rnd[STP_WRAP_TOKEN_LEN / 2];
	struct agent ag = { .co = co, .per_target = per_target, .token = a->token };
	int lfd, pp[2];
	pid_t mid;
	char ok = 0;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return stp_err_set(e, STP_EXIT_FAIL, "--wrap: no random token");
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(a->token + 2 * i, 3, "%02x", rnd[i]);
	OPENSSL_cleanse(rnd, sizeof(rnd));
	lfd = stp_listen_sa((struct sockaddr *)&sin, sizeof(sin), 512, e);
	if (lfd < 0)
		return stp_err_prefix(e, "--wrap: agent");
	if (getsockname(lfd, (struct sockaddr *)&sin, &len) < 0) {
		close(lfd);
		return stp_err_set(e, STP_EXIT_FAIL, "--wrap: getsockname: %s", strerror(errno));
	}
	a->port = ntohs(sin.sin_port);
	library_way(co, per_target, a);
	ag.map = mmap(NULL, sizeof(struct wrap_map), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ag.map == MAP_FAILED) {
		close(lfd);
		return stp_err_set(e, STP_EXIT_FAIL, "--wrap: mmap: %s", strerror(errno));
	}
	if (pipe2(pp, O_CLOEXEC) < 0) {
		int err = errno;
		close(lfd);
		munmap(ag.map, sizeof(struct wrap_map));
		return stp_err_set(e, STP_EXIT_FAIL, "--wrap: pipe: %s", strerror(err));
	}
	/* no second door is no failure: the first serves every request */
	int door = stp_wrap_door_listen(a->port, a->door, sizeof(a->door));
	if (door < 0)
		a->door[0] = 0;
	/* a grandchild: the wrapped program must not find the agent among
	 * its children */
	mid = fork();
	if (mid == 0) {
		close(pp[0]);
		if (fork() != 0)
			_exit(0);
		int pidfd = (int)syscall(SYS_pidfd_open, watch, 0);
		if (write(pp[1], "1", 1) != 1)
			_exit(1);
		close(pp[1]);
		quiet_stdio();
		agent_run(&ag, lfd, door, pidfd, watch);
	}
	close(pp[1]);
	close(lfd);
	if (door >= 0)
		close(door);
	munmap(ag.map, sizeof(struct wrap_map));
	if (mid < 0) {
		int err = errno;
		close(pp[0]);
		return stp_err_set(e, STP_EXIT_FAIL, "--wrap: fork: %s", strerror(err));
	}
	while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
		;
	while (read(pp[0], &ok, 1) < 0 && errno == EINTR)
		;
	close(pp[0]);
	if (ok != '1')
		return stp_err_set(e, STP_EXIT_FAIL, "--wrap: the agent did not start");
	return 0;
}
