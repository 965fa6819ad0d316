/* resolver.c - c-ares on the event loop. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "resolver.h"

struct stp_resolver {
	struct stp_loop *loop;
	ares_channel chan;
	struct stp_timer timer;
	bool freeing;
};

struct stp_lookup {
	stp_lookup_cb *cb;
	void *arg;       /* NULL cb = cancelled */
	bool in_start;   /* still inside stp_lookup_start() */
	bool finished;
};

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

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct stp_lookup *q = arg;

	(void)timeouts;
	if (q->cb)
		q->cb(q->arg, status, status == ARES_SUCCESS ? ai : NULL);
	if (ai)
		ares_freeaddrinfo(ai);
	if (q->in_start)
		q->finished = true;  /* stp_lookup_start() frees it */
	else
		free(q);
}

/* Returns the handle for cancelling, or NULL when cb has already run
 * (answers from /etc/hosts come at once; out of memory is ARES_ENOMEM). */
struct stp_lookup *stp_lookup_start(struct stp_resolver *r, const char *name, int family,
				    stp_lookup_cb *cb, void *arg)
{
	struct ares_addrinfo_hints hints;
	struct stp_lookup *q = calloc(1, sizeof(*q));

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
	q->in_start = false;
	if (q->finished) {
		free(q);
		return NULL;
	}
	rearm(r);
	return q;
}

void stp_lookup_cancel(struct stp_lookup *q)
{
	if (q)
		q->cb = NULL;
}
