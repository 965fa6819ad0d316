/* agentio.c - the preload library's side of the agent (wrap.h). */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto/noproxy.h"
#include "proto/placeholder.h"
#include "proto/v4mapped.h"
#include "proto/wrapdirect.h"
#include "wrap/wrap.h"

struct wrap_real wrap_real;

static struct {
	bool on;
	struct sockaddr_in agent;
	char token[65];
	long timeout_ms;
	struct sockaddr_un door;   /* the Unix door (STP_WRAP_DOOR), if any */
	socklen_t door_len;        /* 0: none */
	uid_t door_uid;            /* whose it must be */
	/* the proxy the library speaks to itself (STP_WRAP_PROXY), if any */
	struct sockaddr_in6 proxy; /* either family */
	int proxy_af;              /* 0: none */
	bool proxy_names;          /* it resolves names (socks5h) */
	long proxy_ms;             /* -w */
	char *no_proxy;            /* NO_PROXY as the agent saw it */
} cfg;

static pthread_once_t once = PTHREAD_ONCE_INIT;

#define REAL(f) (wrap_real.f = (__typeof__(wrap_real.f))dlsym(RTLD_NEXT, #f))

/* The Unix door "stp-wrap.UID.PORT" (client/wraphandoff.h), when d names
 * one. */
static void load_door(const char *d)
{
	unsigned uid, port;
	int end = 0;
	size_t n = d ? strlen(d) : 0;

	if (!n || n >= sizeof(cfg.door.sun_path) - 1 ||
	    sscanf(d, "stp-wrap.%u.%u%n", &uid, &port, &end) != 2 || (size_t)end != n)
		return;
	cfg.door.sun_family = AF_UNIX;
	memcpy(cfg.door.sun_path + 1, d, n);   /* sun_path[0] 0: abstract */
	cfg.door_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	cfg.door_uid = (uid_t)uid;
}

/* The proxy of STP_WRAP_PROXY "D,MS,ADDR,PORT" (client/wrapagent.h). */
static void load_proxy(const char *v)
{
	char host[64];
	unsigned port;
	long ms;
	char d;
	int end = 0;

	if (!v || sscanf(v, "%c,%ld,%63[^,],%u%n", &d, &ms, host, &port, &end) != 4 ||
	    v[end] || port < 1 || port > 65535 || ms <= 0 || (d != 'h' && d != 'l'))
		return;
	memset(&cfg.proxy, 0, sizeof(cfg.proxy));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&cfg.proxy;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &cfg.proxy.sin6_addr) == 1) {
		cfg.proxy.sin6_family = AF_INET6;
		cfg.proxy.sin6_port = htons((uint16_t)port);
	} else {
		return;
	}
	const char *np = getenv("NO_PROXY") ? getenv("NO_PROXY") : getenv("no_proxy");
	if (np && !(cfg.no_proxy = strdup(np)))
		return;
	cfg.proxy_names = d == 'h';
	cfg.proxy_ms = ms;
	cfg.proxy_af = cfg.proxy.sin6_family;
}

/* Reads the environment once: later changes by the program (or a cleared
 * environment for its children) do not unwrap this process. */
static void load(void)
{
	REAL(connect);
	REAL(close);
	REAL(sendto);
	REAL(sendmsg);
	REAL(sendmmsg);
	REAL(recvfrom);
	REAL(recvmsg);
	REAL(recvmmsg);
	REAL(getpeername);
	REAL(getaddrinfo);
	REAL(getnameinfo);
	REAL(gethostbyname);
	REAL(gethostbyname2);
	REAL(gethostbyname_r);
	REAL(gethostbyname2_r);
	REAL(gethostbyaddr);
	REAL(gethostbyaddr_r);

	const char *a = getenv("STP_WRAP"), *t = getenv("STP_WRAP_TOKEN");
	const char *to = getenv("STP_WRAP_TIMEOUT_MS");
	char host[32];
	const char *colon = a ? strrchr(a, ':') : NULL;
	if (!colon || !t || strlen(t) >= sizeof(cfg.token) || (size_t)(colon - a) >= sizeof(host))
		return;
	memcpy(host, a, (size_t)(colon - a));
	host[colon - a] = 0;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535 || inet_pton(AF_INET, host, &cfg.agent.sin_addr) != 1)
		return;
	cfg.agent.sin_family = AF_INET;
	cfg.agent.sin_port = htons((uint16_t)port);
	memcpy(cfg.token, t, strlen(t) + 1);
	cfg.timeout_ms = to ? strtol(to, NULL, 10) : 0;
	if (cfg.timeout_ms <= 0)
		cfg.timeout_ms = 35000;
	cfg.on = wrap_real.connect && wrap_real.close;
	load_door(getenv("STP_WRAP_DOOR"));
	load_proxy(getenv("STP_WRAP_PROXY"));
}

__attribute__((constructor)) static void wrap_init(void)
{
	pthread_once(&once, load);
}

bool wrap_on(void)
{
	pthread_once(&once, load);
	return cfg.on;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline. Returns revents, 0 on timeout,
 * -1 with errno. */
static int wait_fd(int fd, short ev, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now_ms();
		struct pollfd p = { .fd = fd, .events = ev };
		if (now >= deadline)
			return 0;
		int r = poll(&p, 1, (int)(deadline - now > 60000 ? 60000 : deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r > 0)
			return p.revents;
	}
}

/* Sends all of buf, or -1 with errno. */
static int send_all(int fd, const uint8_t *buf, size_t n, uint64_t deadline)
{
	while (n > 0) {
		ssize_t k = send(fd, buf, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(fd, POLLOUT, deadline);
			if (r <= 0)
				return errno = r == 0 ? ETIMEDOUT : errno, -1;
			continue;
		}
		if (k < 0)
			return -1;
		buf += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Reads exactly n bytes (never more: what follows is the program's), or
 * -1 with errno. */
static int recv_exact(int fd, uint8_t *buf, size_t n, uint64_t deadline)
{
	while (n > 0) {
		ssize_t k = recv(fd, buf, n, MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(fd, POLLIN, deadline);
			if (r <= 0)
				return errno = r == 0 ? ETIMEDOUT : errno, -1;
			continue;
		}
		if (k <= 0)
			return errno = k == 0 ? ECONNRESET : errno, -1;
		buf += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Connects fd to sa before deadline. Returns 0, or -1 with errno. */
static int connect_wait(int fd, const struct sockaddr *sa, socklen_t len, uint64_t deadline)
{
	if (wrap_real.connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return -1;
	int r = wait_fd(fd, POLLOUT, deadline), err = 0;
	socklen_t el = sizeof(err);
	if (r <= 0)
		return errno = r == 0 ? ETIMEDOUT : errno, -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		return -1;
	return err ? (errno = err, -1) : 0;
}

/* Connects fd (family af) to the agent. Returns 0, or -1 with errno. */
static int connect_agent(int fd, int af, uint64_t deadline)
{
	struct sockaddr_in6 s6;

	if (af != AF_INET6)
		return connect_wait(fd, (const struct sockaddr *)&cfg.agent, sizeof(cfg.agent),
				    deadline);
	/* the agent listens on 127.0.0.1: v4-mapped for an IPv6 socket */
	stp_v4_mapped(&s6, &cfg.agent.sin_addr, cfg.agent.sin_port);
	return connect_wait(fd, (const struct sockaddr *)&s6, sizeof(s6), deadline);
}

/* Greeting and RFC 1929 login with the token into b; returns its length. */
static size_t put_login(uint8_t *b)
{
	size_t n, tl = strlen(cfg.token);

	memcpy(b, "\x05\x01\x02\x01\x04wrap", 9);
	n = 9;
	b[n++] = (uint8_t)tl;
	memcpy(b + n, cfg.token, tl);
	return n + tl;
}

/* A request for the address (atyp 1 or 4) or name into b; returns its
 * length. */
static size_t put_request(uint8_t *b, uint8_t cmd, uint8_t atyp, const void *a, const char *name,
			  uint16_t port)
{
	size_t n = 0, al;

	b[n++] = 5;
	b[n++] = cmd;
	b[n++] = 0;
	b[n++] = atyp;
	if (atyp == 3) {
		al = strlen(name);
		b[n++] = (uint8_t)al;
		memcpy(b + n, name, al);
	} else {
		al = atyp == 1 ? 4 : 16;
		memcpy(b + n, a, al);
	}
	n += al;
	b[n++] = (uint8_t)(port >> 8);
	b[n++] = (uint8_t)port;
	return n;
}

/* Reads the answers: the method choice and login status first when login,
 * then the reply. Returns its code with the address (IPv4) in *a4, the
 * port in *bport, a name in namebuf, the address type (1, 4) and address
 * in *ratyp and raddr (16 bytes) where given; -1 with errno. */
static int read_reply(int fd, bool login, uint64_t deadline, uint32_t *a4, uint16_t *bport,
		      char *namebuf, size_t cap, uint8_t *ratyp, uint8_t *raddr)
{
	uint8_t b[262];

	if (login) {
		if (recv_exact(fd, b, 4, deadline) < 0)
			return -1;
		if (b[0] != 5 || b[1] != 2 || b[2] != 1 || b[3] != 0)
			return errno = EPROTO, -1;
	}
	if (recv_exact(fd, b, 4, deadline) < 0)
		return -1;
	if (b[0] != 5)
		return errno = EPROTO, -1;
	int rep = b[1];
	uint8_t rt = b[3];
	size_t l;
	if (rt == 1 || rt == 4) {
		l = rt == 1 ? 4 : 16;
		if (recv_exact(fd, b, l + 2, deadline) < 0)
			return -1;
		if (a4 && rt == 1)
			memcpy(a4, b, 4);
		if (ratyp && raddr) {
			*ratyp = rt;
			memcpy(raddr, b, l);
		}
	} else if (rt == 3) {
		if (recv_exact(fd, b, 1, deadline) < 0)
			return -1;
		l = b[0];
		if (recv_exact(fd, b + 1, l + 2, deadline) < 0)
			return -1;
		if (namebuf && cap > l) {
			memcpy(namebuf, b + 1, l);
			namebuf[l] = 0;
		}
		l++;
	} else {
		return errno = EPROTO, -1;
	}
	if (bport)
		*bport = (uint16_t)(b[l] << 8 | b[l + 1]);
	return rep;
}

int wrap_request(int fd, int af, uint8_t cmd, uint8_t atyp, const void *a, const char *name,
		 uint16_t port, uint32_t *a4, char *namebuf, size_t cap)
{
	uint64_t deadline = now_ms() + (uint64_t)cfg.timeout_ms;
	uint8_t b[400];   /* greeting 3, login 6 + token (< 65), request 7 + 255 */
	size_t n;

	if (connect_agent(fd, af, deadline) < 0)
		return -1;
	/* greeting, login and request in one go: the agent is ours, and
	 * reads them in order (one round trip instead of three) */
	n = put_login(b);
	n += put_request(b + n, cmd, atyp, a, name, port);
	if (send_all(fd, b, n, deadline) < 0)
		return -1;
	return read_reply(fd, true, deadline, a4, NULL, namebuf, cap, NULL, NULL);
}

/* A connection to the Unix door, checked to be the agent's; -1 when
 * there is none. */
static int open_door(void)
{
	struct ucred uc;
	socklen_t ul = sizeof(uc);
	int s;

	if (!cfg.door_len)
		return -1;
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	/* the token goes only to the agent's user: a name in the abstract
	 * namespace is anybody's once the agent has gone */
	if (wrap_real.connect(s, (struct sockaddr *)&cfg.door, cfg.door_len) < 0 ||
	    getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &ul) < 0 || uc.uid != cfg.door_uid) {
		wrap_real.close(s);
		return -1;
	}
	return s;
}

int wrap_handoff(int fd, uint8_t atyp, const void *a, uint16_t port)
{
	uint64_t deadline = now_ms() + (uint64_t)cfg.timeout_ms;
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	uint8_t b[96];   /* token < 65, request 6 + 16 + 2 */
	size_t tl = strlen(cfg.token);
	int s = open_door(), err;

	if (s < 0)
		return STP_WRAP_REP_RELAY;
	memcpy(b, cfg.token, tl);
	struct iovec iov = { b, tl + put_request(b + tl, 0x01, atyp, a, NULL, port) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cm.b, .msg_controllen = sizeof(cm.b) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	ssize_t k;
	do
		k = wrap_real.sendmsg(s, &mh, MSG_NOSIGNAL);
	while (k < 0 && errno == EINTR);
	if (k != (ssize_t)iov.iov_len) {
		/* not sent, so not touched: the TCP door then */
		wrap_real.close(s);
		return STP_WRAP_REP_RELAY;
	}
	k = recv_exact(s, b, 10, deadline);
	err = errno;
	wrap_real.close(s);
	if (k < 0)
		return errno = err, -1;
	return b[0] == 5 ? b[1] : (errno = EPROTO, -1);
}

/* Connects fd (family af) to the proxy of STP_WRAP_PROXY. Returns 0, 1
 * when the socket cannot reach it (its family), or -1 with errno. */
static int connect_proxy(int fd, int af, uint64_t deadline)
{
	struct sockaddr_in6 s6;
	const struct sockaddr *sa = (const struct sockaddr *)&cfg.proxy;
	socklen_t len = cfg.proxy_af == AF_INET ? sizeof(struct sockaddr_in) : sizeof(s6);

	if (af == AF_INET && cfg.proxy_af == AF_INET6)
		return 1;
	if (af == AF_INET6 && cfg.proxy_af == AF_INET) {
		int only = 0;
		socklen_t ol = sizeof(only);
		if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &only, &ol) < 0 || only)
			return 1;
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&cfg.proxy;
		stp_v4_mapped(&s6, &s4->sin_addr, s4->sin_port);
		sa = (const struct sockaddr *)&s6;
		len = sizeof(s6);
	}
	return connect_wait(fd, sa, len, deadline);
}

/* The SOCKS5 exchange with the proxy on fd, connected: no authentication,
 * then CONNECT. Returns the reply code, or -1 with errno. */
static int proxy_connect(int fd, uint8_t atyp, const void *a, const char *name, uint16_t port,
			 uint64_t deadline)
{
	uint8_t b[300];

	/* the greeting alone first: not every server reads a request sent
	 * before its answer */
	if (send_all(fd, (const uint8_t *)"\x05\x01\x00", 3, deadline) < 0 ||
	    recv_exact(fd, b, 2, deadline) < 0)
		return -1;
	if (b[0] != 5 || b[1] != 0)
		return errno = EPROTO, -1;
	size_t n = put_request(b, 0x01, name ? 3 : atyp, a, name, port);
	if (send_all(fd, b, n, deadline) < 0)
		return -1;
	return read_reply(fd, false, deadline, NULL, NULL, NULL, 0, NULL, NULL);
}

int wrap_fast_connect(int fd, int af, uint8_t atyp, const void *a, const char *name,
		      uint16_t port)
{
	char text[INET6_ADDRSTRLEN];

	if (!cfg.proxy_af || (name && !cfg.proxy_names))
		return STP_WRAP_REP_RELAY;
	if (cfg.no_proxy) {
		if (!name)
			inet_ntop(atyp == 1 ? AF_INET : AF_INET6, a, text, sizeof(text));
		if (stp_noproxy_match(cfg.no_proxy, name ? name : text))
			return STP_WRAP_REP_RELAY;   /* direct: the agent's to make */
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	/* a deadline for a blocking socket too: non-blocking meanwhile */
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	uint64_t deadline = now_ms() + (uint64_t)cfg.proxy_ms;
	int r = connect_proxy(fd, af, deadline), err;
	if (r == 0) {
		deadline = now_ms() + (uint64_t)cfg.proxy_ms;   /* -w again, as the agent */
		r = proxy_connect(fd, atyp, a, name, port, deadline);
	} else if (r < 0 && errno == EALREADY) {
		/* a connect of the program's own under way */
	} else if (r < 0) {
		r = 5;   /* the proxy cannot be reached: refused, as the agent says */
	} else {
		r = STP_WRAP_REP_RELAY;
	}
	err = errno;
	if (!(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl);
	return errno = err, r;
}

int wrap_udp_request(int fd, bool first, uint8_t atyp, const void *a, uint16_t port,
		     uint16_t *bport, uint8_t *ratyp, uint8_t *raddr)
{
	uint64_t deadline = now_ms() + (uint64_t)cfg.timeout_ms;
	uint8_t b[400];
	size_t n = 0;

	if (first) {
		if (connect_agent(fd, AF_INET, deadline) < 0)
			return -1;
		n = put_login(b);
	}
	n += put_request(b + n, 0x03, atyp, a, NULL, port);
	if (send_all(fd, b, n, deadline) < 0)
		return -1;
	*ratyp = 0;
	return read_reply(fd, first, deadline, NULL, bport, NULL, 0, ratyp, raddr);
}

int wrap_errno(int rep)
{
	switch (rep) {
	case 2: return EACCES;        /* not allowed by ruleset */
	case 3: return ENETUNREACH;
	case 4: return EHOSTUNREACH;
	case 6: return ETIMEDOUT;     /* TTL expired: the proxy's time ran out */
	case 8: return EAFNOSUPPORT;
	default: return ECONNREFUSED; /* 5, and failures without a better word */
	}
}

bool wrap_local_name(const char *name)
{
	struct in6_addr a;
	size_t n;

	if (!name || !*name || inet_pton(AF_INET, name, &a) == 1 || inet_pton(AF_INET6, name, &a) == 1)
		return true;
	n = strlen(name);
	if (n && name[n - 1] == '.')
		n--;
	if (n == 9 && strncasecmp(name, "localhost", 9) == 0)
		return true;
	return n > 10 && strncasecmp(name + n - 10, ".localhost", 10) == 0;
}

/* A fresh TCP socket for a lookup; -1 with errno. */
static int lookup_socket(void)
{
	return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

/* The names this process was given placeholders for, so that a connect
 * to one can name it without asking the agent (wrap_fast_connect); a
 * name another process of the tree looked up is the agent's to give. */
#define NAMES_KEPT 256
static struct {
	uint32_t n;
	char name[256];
} kept[NAMES_KEPT];
static pthread_mutex_t kept_mu = PTHREAD_MUTEX_INITIALIZER;

static void keep_name(uint32_t n, const char *name)
{
	pthread_mutex_lock(&kept_mu);
	kept[n % NAMES_KEPT].n = n;
	snprintf(kept[n % NAMES_KEPT].name, sizeof(kept[0].name), "%s", name);
	pthread_mutex_unlock(&kept_mu);
}

const char *wrap_kept_name(uint32_t n, char *buf, size_t cap)
{
	const char *r = NULL;

	pthread_mutex_lock(&kept_mu);
	if (n && kept[n % NAMES_KEPT].n == n && strlen(kept[n % NAMES_KEPT].name) < cap) {
		memcpy(buf, kept[n % NAMES_KEPT].name, strlen(kept[n % NAMES_KEPT].name) + 1);
		r = buf;
	}
	pthread_mutex_unlock(&kept_mu);
	return r;
}

uint32_t wrap_name_number(const char *name)
{
	uint32_t a4 = 0;
	int fd, rep, err;

	if (strlen(name) > 255)
		return errno = ENAMETOOLONG, 0;
	fd = lookup_socket();
	if (fd < 0)
		return 0;
	rep = wrap_request(fd, AF_INET, 0xF0, 3, NULL, name, 0, &a4, NULL, 0);
	err = errno;
	wrap_real.close(fd);
	if (rep != 0)
		return errno = rep < 0 ? err : EAGAIN, 0;
	uint32_t n = stp_ph_number(AF_INET, &a4);
	if (!n)
		return errno = EPROTO, 0;
	keep_name(n, name);
	return n;
}

int wrap_number_name(uint32_t n, char *buf, size_t cap)
{
	struct in_addr a;
	int fd, rep;

	stp_ph_make(AF_INET, n, &a);
	fd = lookup_socket();
	if (fd < 0)
		return -1;
	buf[0] = 0;
	rep = wrap_request(fd, AF_INET, 0xF1, 1, &a, NULL, 0, NULL, buf, cap);
	wrap_real.close(fd);
	return rep == 0 && buf[0] ? 0 : -1;
}
