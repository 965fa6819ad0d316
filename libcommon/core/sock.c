/* sock.c - socket set-up helpers. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "proto/addr.h"
#include "core/evloop.h"
#include "core/sock.h"

int stp_set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl);
}

void stp_set_nodelay(int fd)
{
	int one = 1;

	/* a relay forwards what it has at once: Nagle would only add delay */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* An IPv4-mapped IPv6 address ([::ffff:127.0.0.1]) as the IPv4 address it
 * stands for, in *v4: an IPv6-only socket cannot bind it, and an IPv4
 * socket is what it means. Returns sa, or v4. */
static const struct sockaddr *unmap_v4(const struct sockaddr *sa, socklen_t *len,
				       struct sockaddr_in *v4)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family != AF_INET6 || *len < sizeof(*s6) ||
	    !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return sa;
	memset(v4, 0, sizeof(*v4));
	v4->sin_family = AF_INET;
	v4->sin_port = s6->sin6_port;
	memcpy(&v4->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	*len = sizeof(*v4);
	return (const struct sockaddr *)v4;
}

static int listen_sa(const struct sockaddr *sa, socklen_t len, int backlog, bool reuseport,
		     struct stp_err *e)
{
	char as[STP_ADDRSTRLEN];
	struct sockaddr_in v4;
	int one = 1, fd;

	sa = unmap_v4(sa, &len, &v4);
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return stp_err_set(e, STP_EXIT_FAIL, "listen %s: %s",
				   stp_sa_str(sa, as, sizeof(as)), strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if ((reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, sa, len) < 0 || listen(fd, backlog) < 0) {
		int err = errno;
		close(fd);
		return stp_err_set(e, STP_EXIT_FAIL, "listen %s: %s",
				   stp_sa_str(sa, as, sizeof(as)), strerror(err));
	}
	return fd;
}

int stp_listen_sa(const struct sockaddr *sa, socklen_t len, int backlog, struct stp_err *e)
{
	return listen_sa(sa, len, backlog, false, e);
}

int stp_listen_reuseport(const struct sockaddr *sa, socklen_t len, int backlog,
			 struct stp_err *e)
{
	return listen_sa(sa, len, backlog, true, e);
}

int stp_local_spec(const char *label, const char *spec, char *host, size_t hostcap,
		   uint16_t *port, struct stp_err *e)
{
	if (stp_hostport_split(spec, host, hostcap, port, -1, true, e) < 0)
		return stp_err_prefix(e, "%s", label);
	return 0;
}

/* A bound UDP socket on ai; its message names the option, as a listener's
 * failure names the address (stp_listen_sa). Returns the fd or -1 with e. */
static int bind_dgram(const char *label, const char *spec, const struct addrinfo *ai,
		      struct stp_err *e)
{
	int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		return stp_err_set(e, STP_EXIT_FAIL, "%s %s: %s", label, spec, strerror(err));
	}
	return fd;
}

int stp_listen_local(const char *label, const char *spec, int socktype,
		     struct sockaddr_storage *bound, struct stp_err *e)
{
	char host[256], portstr[8];
	uint16_t port;
	struct addrinfo hints = { .ai_socktype = socktype, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai;
	socklen_t len = sizeof(*bound);
	int fd, rc;

	if (stp_local_spec(label, spec, host, sizeof(host), &port, e) < 0)
		return -1;
	snprintf(portstr, sizeof(portstr), "%u", port);
	/* a forward is for this machine unless an address says otherwise */
	rc = getaddrinfo(host[0] ? host : "127.0.0.1", portstr, &hints, &ai);
	if (rc != 0)
		return stp_err_set(e, STP_EXIT_USAGE, "%s %s: %s", label, spec, gai_strerror(rc));
	if (socktype == SOCK_DGRAM)
		fd = bind_dgram(label, spec, ai, e);
	else
		fd = stp_listen_sa(ai->ai_addr, ai->ai_addrlen, 128, e);
	freeaddrinfo(ai);
	if (fd < 0)
		return -1;
	if (getsockname(fd, (struct sockaddr *)bound, &len) < 0) {
		int err = errno;
		close(fd);
		if (socktype == SOCK_DGRAM)
			return stp_err_set(e, STP_EXIT_FAIL, "%s %s: %s", label, spec, strerror(err));
		return stp_err_set(e, STP_EXIT_FAIL, "getsockname: %s", strerror(err));
	}
	return fd;
}

/* Probes start after secs idle, then every third of it (1..75 s, the
 * kernel's default interval at most), and 3 unanswered ones drop the
 * connection: a dead peer is noticed within about twice secs, and a NAT
 * mapping sees traffic every secs. */
int stp_set_keepalive(int fd, long secs)
{
	int on = 1, idle = (int)secs, intvl = (int)(secs / 3), cnt = 3;

	if (secs <= 0)
		return 0;
	if (secs > STP_KEEPALIVE_MAX) {
		errno = EINVAL;
		return -1;
	}
	intvl = intvl < 1 ? 1 : intvl > 75 ? 75 : intvl;
	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) < 0)
		return -1;
	return 0;
}

/* Returns the fd with the connect under way (or done), or -1 with errno. */
int stp_connect_start(const struct sockaddr *sa, socklen_t len)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	stp_set_nodelay(fd);
	if (connect(fd, sa, len) < 0 && errno != EINPROGRESS)
		return stp_close_keep_errno(fd);
	return fd;
}

int stp_connect_result(int fd)
{
	int err = 0;
	socklen_t sl = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
		return errno;
	return err;
}

/* Returns 0, or -1 with errno (ETIMEDOUT past the deadline). */
int stp_write_all(int fd, const void *buf, size_t len, uint64_t deadline_ms)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -1;
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int timeout = -1;
		if (deadline_ms && (timeout = stp_ms_left(deadline_ms)) == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (poll(&pfd, 1, timeout) < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

int stp_read_exact(int fd, void *buf, size_t n, uint64_t deadline_ms)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int rc = poll(&pfd, 1, stp_ms_left(deadline_ms));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			errno = ETIMEDOUT;
		if (rc <= 0)
			return -1;
		ssize_t k = read(fd, (char *)buf + got, n - got);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k == 0)
			errno = ECONNRESET;
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	return 0;
}

/* --- accepting at the fd limit ---------------------------------------------- */

bool stp_accept_exhausted(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void on_accept_resume(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	struct stp_accept_pause *p = arg;

	(void)t;
	stp_loop_set(l, p->fd, STP_EV_READ);
}

void stp_accept_pause_init(struct stp_accept_pause *p, struct stp_loop *l, int fd)
{
	p->l = l;
	p->fd = fd;
	p->warned = false;
	stp_timer_init(&p->timer, on_accept_resume, p);
}

bool stp_accept_pause(struct stp_accept_pause *p, int err, bool *warn)
{
	*warn = false;
	if (!stp_accept_exhausted(err))
		return false;
	stp_loop_set(p->l, p->fd, 0);
	stp_timer_start(p->l, &p->timer, STP_ACCEPT_PAUSE_MS);
	*warn = !p->warned;
	p->warned = true;
	return true;
}

void stp_accept_pause_ok(struct stp_accept_pause *p)
{
	p->warned = false;
}

void stp_accept_pause_stop(struct stp_accept_pause *p)
{
	if (p->l)
		stp_timer_stop(p->l, &p->timer);
}

int stp_close_keep_errno(int fd)
{
	int err = errno;

	close(fd);
	errno = err;
	return -1;
}
