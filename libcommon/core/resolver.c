/* resolver.c - c-ares on the event loop. */
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/resolver.h"

struct stp_resolver {
	struct stp_loop *loop;
	ares_channel chan;
	struct stp_timer timer;
	bool freeing;
	uint64_t lookups;    /* started, for stp-serve's metrics */
};

struct stp_lookup {
	stp_lookup_cb *cb;   /* one of the three is set; all NULL = cancelled */
	stp_name_cb *ncb;
	stp_raw_cb *rcb;
	void *arg;
	bool in_start;   /* still inside the *_start() call */
	bool finished;
};

static struct stp_lookup *started(struct stp_resolver *r, struct stp_lookup *q);

static void rearm(struct stp_resolver *r)
{
	struct timeval tv, *tvp = ares_timeout(r->chan, NULL, &tv);

	if (!tvp) {
		stp_timer_stop(r->loop, &r->timer);
		return;
	}
	stp_timer_start(r->loop, &r->timer, (uint64_t)tvp->tv_sec * 1000u +
			(uint64_t)(tvp->tv_usec + 999) / 1000u);
}

static void on_fd(struct stp_loop *l, int fd, unsigned ev, void *arg)
{
	struct stp_resolver *r = arg;

	(void)l;
	ares_process_fd(r->chan, (ev & STP_EV_READ) ? fd : ARES_SOCKET_BAD,
			(ev & STP_EV_WRITE) ? fd : ARES_SOCKET_BAD);
	rearm(r);
}

static void on_timer(struct stp_loop *l, struct stp_timer *t, void *arg)
{
	struct stp_resolver *r = arg;

	(void)l;
	(void)t;
	ares_process_fd(r->chan, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm(r);
}

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct stp_resolver *r = data;
	unsigned mask = (readable ? STP_EV_READ : 0) | (writable ? STP_EV_WRITE : 0);

	if (r->freeing)
		return;
	if (!mask)
		stp_loop_unwatch(r->loop, fd);
	else
		stp_loop_watch(r->loop, fd, mask, on_fd, r);
}

/* Returns the resolver, or NULL with e filled. */
struct stp_resolver *stp_resolver_new(struct stp_loop *l, const char *servers,
				      struct stp_err *e)
{
	struct ares_options o;
	struct stp_resolver *r;
	int st;

	st = ares_library_init(ARES_LIB_INIT_ALL);
	if (st != ARES_SUCCESS) {
		stp_err_set(e, STP_EXIT_FAIL, "resolver: %s", ares_strerror(st));
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		stp_err_set(e, STP_EXIT_FAIL, "resolver: out of memory");
		return NULL;
	}
	r->loop = l;
	stp_timer_init(&r->timer, on_timer, r);
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = on_sock_state;
	o.sock_state_cb_data = r;
	o.timeout = 2000;
	o.tries = 2;
	st = ares_init_options(&r->chan, &o,
			       ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (st != ARES_SUCCESS) {
		stp_err_set(e, STP_EXIT_FAIL, "resolver: %s", ares_strerror(st));
		free(r);
		return NULL;
	}
	if (servers && *servers) {
		st = ares_set_servers_ports_csv(r->chan, servers);
		if (st != ARES_SUCCESS) {
			stp_err_set(e, STP_EXIT_USAGE, "--resolver '%s': %s", servers,
				    ares_strerror(st));
			stp_resolver_free(r);
			return NULL;
		}
	}
	return r;
}

void stp_resolver_free(struct stp_resolver *r)
{
	if (!r)
		return;
	stp_timer_stop(r->loop, &r->timer);
	/* destroying the channel runs every pending callback with
	 * ARES_EDESTRUCTION; their sockets are closed, not unwatched: */
	ares_destroy(r->chan);
	r->freeing = true;
	free(r);
	ares_library_cleanup();
}

/* The callback has run: the lookup's memory goes now, or, inside a
 * *_start() call, when that returns. */
static void lookup_done(struct stp_lookup *q)
{
	if (q->in_start)
		q->finished = true;
	else
		free(q);
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct stp_lookup *q = arg;

	(void)timeouts;
	if (q->cb)
		q->cb(q->arg, status, status == ARES_SUCCESS ? ai : NULL);
	if (ai)
		ares_freeaddrinfo(ai);
	lookup_done(q);
}

/* Returns the handle for cancelling, or NULL when cb has already run
 * (answers from /etc/hosts come at once; out of memory is ARES_ENOMEM). */
struct stp_lookup *stp_lookup_start(struct stp_resolver *r, const char *name, int family,
				    stp_lookup_cb *cb, void *arg)
{
	struct ares_addrinfo_hints hints;
	struct stp_lookup *q = calloc(1, sizeof(*q));

	r->lookups++;
	if (!q) {
		cb(arg, ARES_ENOMEM, NULL);
		return NULL;
	}
	q->cb = cb;
	q->arg = arg;
	q->in_start = true;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	ares_getaddrinfo(r->chan, name, NULL, &hints, on_addrinfo, q);
	return started(r, q);
}

void stp_lookup_cancel(struct stp_lookup *q)
{
	if (q) {
		q->cb = NULL;
		q->ncb = NULL;
		q->rcb = NULL;
	}
}

/* After the c-ares call of a *_start(): NULL when the callback already ran
 * (the lookup is freed), else the handle. */
static struct stp_lookup *started(struct stp_resolver *r, struct stp_lookup *q)
{
	q->in_start = false;
	if (q->finished) {
		free(q);
		return NULL;
	}
	rearm(r);
	return q;
}

static void on_host(void *arg, int status, int timeouts, struct hostent *h)
{
	struct stp_lookup *q = arg;

	(void)timeouts;
	if (q->ncb)
		q->ncb(q->arg, status == ARES_SUCCESS && (!h || !h->h_name) ? ARES_ENODATA : status,
		       status == ARES_SUCCESS && h ? h->h_name : NULL);
	lookup_done(q);
}

struct stp_lookup *stp_ptr_start(struct stp_resolver *r, const struct sockaddr *sa,
				 stp_name_cb *cb, void *arg)
{
	struct stp_lookup *q;
	const void *a;
	int alen;

	r->lookups++;
	if (sa->sa_family == AF_INET) {
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		alen = 4;
	} else if (sa->sa_family == AF_INET6) {
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		alen = 16;
	} else {
		cb(arg, ARES_ENOTIMP, NULL);
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		cb(arg, ARES_ENOMEM, NULL);
		return NULL;
	}
	q->ncb = cb;
	q->arg = arg;
	q->in_start = true;
	ares_gethostbyaddr(r->chan, a, alen, sa->sa_family, on_host, q);
	return started(r, q);
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct stp_lookup *q = arg;
	bool ok = status == ARES_SUCCESS && abuf && alen > 0;

	(void)timeouts;
	if (q->rcb)
		q->rcb(q->arg, ok ? ARES_SUCCESS : status == ARES_SUCCESS ? ARES_EBADRESP : status,
		       ok ? abuf : NULL, ok ? (size_t)alen : 0);
	lookup_done(q);
}

struct stp_lookup *stp_raw_start(struct stp_resolver *r, const uint8_t *qb, size_t qlen,
				 stp_raw_cb *cb, void *arg)
{
	struct stp_lookup *q;

	r->lookups++;
	if (qlen > 65535) {
		cb(arg, ARES_EBADQUERY, NULL, 0);
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		cb(arg, ARES_ENOMEM, NULL, 0);
		return NULL;
	}
	q->rcb = cb;
	q->arg = arg;
	q->in_start = true;
	ares_send(r->chan, qb, (int)qlen, on_answer, q);
	return started(r, q);
}

uint64_t stp_resolver_lookups(const struct stp_resolver *r)
{
	return r ? r->lookups : 0;
}

int stp_resolver_first_server(const struct stp_resolver *r, struct sockaddr_storage *sa)
{
	struct ares_addr_port_node *list = NULL;
	int ret = -1;

	if (!r || ares_get_servers_ports(r->chan, &list) != ARES_SUCCESS || !list)
		goto out;
	/* a port of 0 means the default, 53 */
	uint16_t port = (uint16_t)(list->tcp_port ? list->tcp_port
				   : list->udp_port ? list->udp_port : 53);
	memset(sa, 0, sizeof(*sa));
	if (list->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)sa;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		memcpy(&in->sin_addr, &list->addr.addr4, sizeof(in->sin_addr));
		ret = 0;
	} else if (list->family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		memcpy(&in6->sin6_addr, &list->addr.addr6, sizeof(in6->sin6_addr));
		ret = 0;
	}
out:
	ares_free_data(list);
	return ret;
}
